-- 0008_maintenance: maintenance windows, and what ack_timeout/auto_resolve need.
--
-- A maintenance window holds paging for one service between starts_at and
-- ends_at (milliseconds since the epoch, like every instant here). Ending a
-- window early sets ends_at to the moment it was ended and keeps the row;
-- a window ended before it began has ends_at = starts_at.
CREATE TABLE maintenance_windows (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    service     TEXT    NOT NULL,
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER NOT NULL,
    created_by  TEXT    NOT NULL,
    comment     TEXT,
    created_at  INTEGER NOT NULL,
    CHECK (ends_at >= starts_at)
);

-- Windows in force or still to come: those that end after now.
CREATE INDEX maintenance_by_end ON maintenance_windows (ends_at);
CREATE INDEX maintenance_by_service ON maintenance_windows (service, id);

-- How many times the escalation started again because an acknowledgement
-- timed out (part of the pages' idempotency keys).
ALTER TABLE escalations ADD COLUMN retriggered INTEGER NOT NULL DEFAULT 0;

-- ack_timeout: acknowledged alerts of a service by acknowledgement time.
CREATE INDEX alerts_ack_timeout
    ON alerts (service, acknowledged_at) WHERE status = 'acknowledged';
-- auto_resolve: open alerts of a service by their last update.
CREATE INDEX alerts_open_by_update
    ON alerts (service, updated_at) WHERE status != 'resolved';
