-- The village a refused change belongs to ('' for none): when the device
-- stops serving it, the change leaves the device (the server holds every
-- refused change for staff). NULL: kept before this column existed, filled
-- in on the next sync.
ALTER TABLE rejected ADD COLUMN village TEXT;
