-- Staff review: the conflict log also holds domain flags (a copy lent
-- twice, a session logged twice), and every entry can be resolved.
--   kind = 'double_loan':        record_id and other_id are two open loans of one copy
--   kind = 'duplicate_session':  record_id is the later of two sessions with the same
--                                village, date and class; other_id the earlier. Reports
--                                leave record_id out while the entry is unresolved.
ALTER TABLE conflicts ADD COLUMN other_id TEXT;
-- NULL while open; else 'keep', 'take_loser', 'distinct', 'merged' or 'noted'.
ALTER TABLE conflicts ADD COLUMN resolution TEXT;
ALTER TABLE conflicts ADD COLUMN resolved_ms INTEGER;
ALTER TABLE conflicts ADD COLUMN resolved_by TEXT;
CREATE INDEX conflicts_open ON conflicts (kind, record_id) WHERE resolution IS NULL;
