-- An open alert's end as its source last announced it (Prometheus' endsAt):
-- the alert resolves when it passes without a newer trigger.
ALTER TABLE alerts ADD COLUMN expires_at INTEGER;

-- The expiry pass: open alerts by their end, only those that have one.
CREATE INDEX alerts_expiry
    ON alerts (expires_at) WHERE expires_at IS NOT NULL AND status != 'resolved';
