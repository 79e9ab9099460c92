-- Device bookkeeping. The program tables come from package schema.
CREATE TABLE meta (
  key   TEXT PRIMARY KEY NOT NULL,
  value NOT NULL
) WITHOUT ROWID;

-- Writes the server refused, kept with its reason so nothing typed on the
-- device is lost; the record itself goes back to the server's state.
CREATE TABLE rejected (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  tbl         TEXT NOT NULL,
  record_id   TEXT NOT NULL,
  counter     INTEGER NOT NULL,
  code        TEXT NOT NULL,
  message     TEXT NOT NULL,
  change      TEXT NOT NULL,
  rejected_ms INTEGER NOT NULL
);
