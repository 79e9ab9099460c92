-- Who may sync what. Tokens and enrollment codes are stored only as
-- SHA-256 hashes: they are long random secrets, so a plain hash is enough
-- and a stolen database yields no usable credential.
CREATE TABLE users (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  name       TEXT NOT NULL UNIQUE,
  role       TEXT NOT NULL CHECK (role IN ('volunteer', 'staff', 'coordinator', 'admin')),
  created_ms INTEGER NOT NULL
);

-- The villages a volunteer serves (other roles see every village).
CREATE TABLE user_villages (
  user_id INTEGER NOT NULL REFERENCES users (id),
  village TEXT NOT NULL,
  PRIMARY KEY (user_id, village)
) WITHOUT ROWID;

CREATE TABLE enrollment_codes (
  code_hash  BLOB PRIMARY KEY NOT NULL,
  user_id    INTEGER NOT NULL REFERENCES users (id),
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,
  used_ms    INTEGER,
  used_by    INTEGER
) WITHOUT ROWID;

-- A device is a replica enrolled for a user. Replicas registered before
-- enrollment existed have no token and must enroll again.
ALTER TABLE replicas ADD COLUMN user_id INTEGER REFERENCES users (id);
ALTER TABLE replicas ADD COLUMN token_hash BLOB;
ALTER TABLE replicas ADD COLUMN revoked_ms INTEGER;
CREATE UNIQUE INDEX replicas_token ON replicas (token_hash) WHERE token_hash IS NOT NULL;

-- Who changed what, when: one row per change applied, merged or refused,
-- and per staff resolution.
CREATE TABLE audit (
  id        INTEGER PRIMARY KEY AUTOINCREMENT,
  tbl       TEXT NOT NULL,
  record_id TEXT NOT NULL,
  replica   INTEGER NOT NULL,
  user_id   INTEGER,
  outcome   TEXT NOT NULL,
  detail    TEXT NOT NULL DEFAULT '',
  at_ms     INTEGER NOT NULL
);
CREATE INDEX audit_record ON audit (tbl, record_id);

-- Changes the server refused, kept for staff with the reason (the device
-- keeps its copy too): nothing a volunteer typed is lost.
CREATE TABLE held_changes (
  id        INTEGER PRIMARY KEY AUTOINCREMENT,
  replica   INTEGER NOT NULL,
  tbl       TEXT NOT NULL,
  record_id TEXT NOT NULL,
  code      TEXT NOT NULL,
  message   TEXT NOT NULL,
  change    TEXT NOT NULL,
  at_ms     INTEGER NOT NULL
);
