-- A flag entry (double_loan, duplicate_session) stands for a set of records,
-- not a pair: 18 copies of one class are one entry for staff, not 125. Its
-- members are the records flagged together; one that is deleted or edited
-- so it matches no other member leaves. record_id and other_id stay the
-- pair that raised the entry (other_id the earlier), so clients that know
-- only pairs still read it.
CREATE TABLE conflict_members (
  conflict_id INTEGER NOT NULL,
  record_id   TEXT NOT NULL,
  PRIMARY KEY (conflict_id, record_id)
) WITHOUT ROWID;
CREATE INDEX conflict_members_record ON conflict_members (record_id, conflict_id);
-- The pairs logged before: each a set of two.
INSERT INTO conflict_members (conflict_id, record_id)
  SELECT id, record_id FROM conflicts WHERE other_id IS NOT NULL
  UNION SELECT id, other_id FROM conflicts WHERE other_id IS NOT NULL;
