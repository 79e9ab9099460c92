-- Hand-carried sync (issue 15): the server's NaCl box key pair, made at
-- the database's first start (or an older database's next one) and kept
-- here so a backup holds it and a restored server still opens the files
-- its devices made for it. One row.
CREATE TABLE box_keys (
  id      INTEGER PRIMARY KEY CHECK (id = 1),
  public  BLOB NOT NULL,
  private BLOB NOT NULL
);
-- Each device's box public key, sent at enrollment or at its next sync:
-- what the server opens its push files and seals its pull files with.
ALTER TABLE replicas ADD COLUMN box_public_key BLOB;
-- Who carried the write of each side of a conflict to the server in a
-- file (issue 15), "user (device)"; NULL for a write its device synced.
ALTER TABLE conflicts ADD COLUMN winner_carried_by TEXT;
ALTER TABLE conflicts ADD COLUMN loser_carried_by TEXT;
