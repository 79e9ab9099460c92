-- This device's own deletes whose tombstones it dropped when the server
-- collected them: if the server is later restored from a backup taken
-- before a delete, the device pushes the delete again, as it pushes every
-- other own write. A few dozen bytes per delete; kept, since a restore can
-- come at any time.
CREATE TABLE own_deletes (
  tbl       TEXT NOT NULL,
  record_id TEXT NOT NULL,
  vv        BLOB NOT NULL,
  tomb      BLOB NOT NULL,
  PRIMARY KEY (tbl, record_id)
) WITHOUT ROWID;
