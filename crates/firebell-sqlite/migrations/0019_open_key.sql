-- Open alerts are found by a 64-bit key of (service, dedup key) instead of
-- the two texts: half the index, and half the pages a new alert changes in
-- it. The lookup checks service and dedup key on the row it finds. Only the
-- writer adds alerts, looking first, so one open alert per key holds without
-- a unique index (resolved alerts never reopen).

ALTER TABLE alerts ADD COLUMN open_key INTEGER;
UPDATE alerts SET open_key = firebell_key(service, dedup_key) WHERE status != 'resolved';
DROP INDEX alerts_open_key;
CREATE INDEX alerts_open_by_key ON alerts (open_key) WHERE status != 'resolved';
