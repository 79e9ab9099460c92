-- Server bookkeeping. The program tables come from package schema.
CREATE TABLE meta (
  key   TEXT PRIMARY KEY NOT NULL,
  value INTEGER NOT NULL
) WITHOUT ROWID;

-- Replica numbers are never reused (AUTOINCREMENT): a reused number would
-- make two devices' writes share dots. Replica 1 is the server itself.
CREATE TABLE replicas (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  name         TEXT NOT NULL,
  created_ms   INTEGER NOT NULL,
  last_seen_ms INTEGER,
  last_cursor  INTEGER NOT NULL DEFAULT 0
);
INSERT INTO replicas (id, name, created_ms) VALUES (1, 'server', 0);

-- Every value that lost a concurrent write, with what beat it. Values are
-- stored with their schema type so they come back exactly.
CREATE TABLE conflicts (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  tbl            TEXT NOT NULL,
  record_id      TEXT NOT NULL,
  field          TEXT NOT NULL,
  kind           TEXT NOT NULL,
  winner_type    INTEGER NOT NULL,
  winner_value,
  winner_replica INTEGER NOT NULL,
  winner_counter INTEGER NOT NULL,
  winner_hlc     INTEGER NOT NULL,
  loser_type     INTEGER NOT NULL,
  loser_value,
  loser_replica  INTEGER NOT NULL,
  loser_counter  INTEGER NOT NULL,
  loser_hlc      INTEGER NOT NULL,
  server_vv      BLOB NOT NULL,
  incoming_vv    BLOB NOT NULL,
  detected_ms    INTEGER NOT NULL
);
CREATE INDEX conflicts_record ON conflicts (tbl, record_id);

-- The outcome of the latest push of each record by each replica, so that a
-- push replayed after a lost response gets the answer it got the first time.
CREATE TABLE receipts (
  replica   INTEGER NOT NULL,
  tbl       TEXT NOT NULL,
  record_id TEXT NOT NULL,
  counter   INTEGER NOT NULL,
  outcome   INTEGER NOT NULL,
  PRIMARY KEY (replica, tbl, record_id)
) WITHOUT ROWID;
