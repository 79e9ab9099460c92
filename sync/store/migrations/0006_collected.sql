-- What a collected delete leaves behind: the tombstone's version and dot,
-- without the row. A device that was away may push a state the delete had
-- already seen (a write whose acknowledgement it lost); merged against
-- this, it stays deleted instead of coming back. An entry goes once every
-- enrolled device, active or not, has pulled past it.
CREATE TABLE collected (
  tbl       TEXT NOT NULL,
  record_id TEXT NOT NULL,
  vv        BLOB NOT NULL,
  tomb      BLOB NOT NULL,
  seq       INTEGER NOT NULL,
  PRIMARY KEY (tbl, record_id)
) WITHOUT ROWID;
CREATE INDEX collected_seq ON collected (seq);
