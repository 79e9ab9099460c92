-- What a device has held is capped (see store.hold): each held change's
-- size, and an index that sums a device's without reading the changes.
ALTER TABLE held_changes ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
UPDATE held_changes SET bytes = length(CAST(change AS BLOB));
CREATE INDEX held_changes_replica ON held_changes (replica, bytes);

-- The feed position at which a volunteer was given each of her villages:
-- a record that left the village before then was never hers to hold, so
-- her devices are not told to evict it (nor learn that it existed).
-- Villages assigned before this migration count from the start.
ALTER TABLE user_villages ADD COLUMN since_seq INTEGER NOT NULL DEFAULT 0;
