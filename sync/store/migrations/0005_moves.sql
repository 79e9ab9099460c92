-- A program record moved to another village: a device scoped to the old
-- village is told to drop it (it would never be sent the record again).
CREATE TABLE moves (
  seq          INTEGER PRIMARY KEY NOT NULL,
  tbl          TEXT NOT NULL,
  record_id    TEXT NOT NULL,
  from_village TEXT NOT NULL
);
