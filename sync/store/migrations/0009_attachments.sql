-- The attachment lane (sync/DESIGN.md, Attachments): photos that records
-- name by digest, stored in this database so a backup (VACUUM INTO) holds
-- them and one transaction stores a photo whole or not at all.
--
-- A stored attachment, checked: its bytes and its thumbnail last in the
-- row, so reading the other columns does not read them. unreferenced_ms is
-- when the last live record naming it stopped naming it (NULL while one
-- does); the collection deletes it a keep-deletes window later.
CREATE TABLE attachments (
  digest          TEXT PRIMARY KEY,
  size            INTEGER NOT NULL,
  media_type      TEXT NOT NULL,
  width           INTEGER NOT NULL,
  height          INTEGER NOT NULL,
  uploader        INTEGER NOT NULL,
  stored_ms       INTEGER NOT NULL,
  unreferenced_ms INTEGER,
  thumb           BLOB NOT NULL,
  data            BLOB NOT NULL
);
CREATE INDEX attachments_uploader ON attachments (uploader);
-- An upload in progress of one device (replica): received bytes so far,
-- in chunk rows keyed by where they start. Two devices uploading the same
-- photo each have their own; the first to finish stores it.
CREATE TABLE attachment_uploads (
  digest     TEXT NOT NULL,
  replica    INTEGER NOT NULL,
  size       INTEGER NOT NULL,
  received   INTEGER NOT NULL,
  touched_ms INTEGER NOT NULL,
  PRIMARY KEY (digest, replica)
) WITHOUT ROWID;
CREATE INDEX attachment_uploads_replica ON attachment_uploads (replica);
CREATE TABLE attachment_chunks (
  digest  TEXT NOT NULL,
  replica INTEGER NOT NULL,
  start   INTEGER NOT NULL,
  data    BLOB NOT NULL,
  PRIMARY KEY (digest, replica, start)
);
-- Which live records name which digest, and their village (NULL for a
-- table scoped to none): kept with every write of a record, so an upload
-- and a fetch are allowed by what the caller's villages' records name.
CREATE TABLE attachment_refs (
  digest    TEXT NOT NULL,
  tbl       TEXT NOT NULL,
  record_id TEXT NOT NULL,
  village   TEXT,
  PRIMARY KEY (digest, tbl, record_id)
) WITHOUT ROWID;
CREATE INDEX attachment_refs_record ON attachment_refs (tbl, record_id);
