-- What the server has reported for each past (village, month), so that a
-- report can flag the months whose figures changed after coordinators first
-- saw them (a phone that synced late, a deletion, a resolved duplicate).
--   digest            hash of the figures last reported
--   first_reported_ms when the month was first reported
--   revised_ms        NULL until the figures differ from an earlier report;
--                     then the latest time they were seen to change
--   feed_seq          the change-feed position the digest was read at, so a
--                     report read from an older snapshot never overwrites a
--                     newer one
CREATE TABLE report_months (
  village           TEXT NOT NULL,
  month             TEXT NOT NULL,
  digest            TEXT NOT NULL,
  first_reported_ms INTEGER NOT NULL,
  revised_ms        INTEGER,
  feed_seq          INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (village, month)
) WITHOUT ROWID;
