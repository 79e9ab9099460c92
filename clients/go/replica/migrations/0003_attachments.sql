-- Photos the device holds (sync/DESIGN.md, Attachments, On the device):
-- those written here until the server has them (and after, as the only
-- copy the volunteer sees offline), and those fetched for records of the
-- device's villages, cached. bytes is NULL while only the thumbnail is
-- here; a fetch in progress keeps its ranges in _attachment_parts so a cut
-- link resumes where it stopped, and appending to one BLOB would rewrite it
-- for every range.
CREATE TABLE _attachments (
  digest     TEXT PRIMARY KEY,
  media_type TEXT NOT NULL DEFAULT '',
  size       INTEGER NOT NULL DEFAULT 0,
  width      INTEGER NOT NULL DEFAULT 0,
  height     INTEGER NOT NULL DEFAULT 0,
  bytes      BLOB,
  thumb      BLOB,
  here       INTEGER NOT NULL,           -- 1: written on this device, 0: fetched
  uploaded   INTEGER NOT NULL DEFAULT 0, -- the server has it whole
  refused    TEXT NOT NULL DEFAULT ''    -- why the server last refused its upload
);

CREATE TABLE _attachment_parts (
  digest TEXT NOT NULL,
  off    INTEGER NOT NULL,
  data   BLOB NOT NULL,
  PRIMARY KEY (digest, off)
);
