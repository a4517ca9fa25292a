-- Schema version 3: an open alert's announced end (see the SQLite migration 0015).
ALTER TABLE alerts ADD COLUMN expires_at BIGINT;

CREATE INDEX alerts_expiry
    ON alerts (expires_at) WHERE expires_at IS NOT NULL AND status != 'resolved';
