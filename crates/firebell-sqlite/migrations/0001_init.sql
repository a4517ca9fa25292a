-- Firebell schema, version 1.
--
-- Instants are INTEGER milliseconds since the Unix epoch; JSON values are TEXT.
-- Kept close to what PostgreSQL accepts (BIGINT / JSONB / identity columns there).
-- CHECKs are spelled with OR, not IN: SQLite builds a temporary table for an IN
-- list on every row written, which costs on the ingest path.

-- AUTOINCREMENT: alert ids leave the database (API, idempotency keys, SMS reply
-- codes), so an id is never handed out twice, even after rows are deleted.
CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    service         TEXT    NOT NULL,
    dedup_key       TEXT    NOT NULL,
    status          TEXT    NOT NULL
                    CHECK (status = 'triggered' OR status = 'acknowledged'
                           OR status = 'resolved'),
    summary         TEXT    NOT NULL,
    severity        TEXT    NOT NULL,
    source          TEXT    NOT NULL,
    labels          TEXT    NOT NULL,   -- JSON object of strings
    details         TEXT    NOT NULL,   -- JSON object
    count           INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    acknowledged_at INTEGER,
    resolved_at     INTEGER
);

-- At most one open alert per (service, dedup_key); also the ingest lookup.
CREATE UNIQUE INDEX alerts_open_key
    ON alerts (service, dedup_key) WHERE status != 'resolved';
-- Listing newest first, by status or by service; counting open alerts.
CREATE INDEX alerts_by_status ON alerts (status, id);
CREATE INDEX alerts_by_service ON alerts (service, id);

CREATE TABLE timeline (
    id       INTEGER PRIMARY KEY,
    alert_id INTEGER NOT NULL REFERENCES alerts (id),
    at       INTEGER NOT NULL,
    kind     TEXT    NOT NULL,
    message  TEXT    NOT NULL,
    data     TEXT                -- JSON, NULL when there is none
);

CREATE INDEX timeline_by_alert ON timeline (alert_id, id);

CREATE TABLE escalations (
    alert_id INTEGER PRIMARY KEY REFERENCES alerts (id),
    policy   TEXT    NOT NULL,
    phase    TEXT    NOT NULL
             CHECK (phase = 'pending' OR phase = 'waiting' OR phase = 'stopped'
                    OR phase = 'exhausted'),
    step     INTEGER NOT NULL,
    loop     INTEGER NOT NULL,
    due_at   INTEGER,
    targets  TEXT    NOT NULL,   -- JSON array of TargetState
    version  INTEGER NOT NULL
);

-- Only active escalations are ever due.
CREATE INDEX escalations_due
    ON escalations (due_at) WHERE phase IN ('pending', 'waiting');

-- AUTOINCREMENT: notification ids travel to providers (callback URLs).
CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id        INTEGER NOT NULL REFERENCES alerts (id),
    idem_key        TEXT    NOT NULL UNIQUE,
    user_id         TEXT    NOT NULL,
    contact_index   INTEGER NOT NULL,
    channel         TEXT    NOT NULL,
    address         TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    step            INTEGER NOT NULL,
    loop            INTEGER NOT NULL,
    status          TEXT    NOT NULL
                    CHECK (status = 'pending' OR status = 'sending' OR status = 'delivered'
                           OR status = 'failed' OR status = 'cancelled'),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE INDEX notifications_by_alert ON notifications (alert_id, id);
-- Claiming: pending pages by due time, sending pages by lease expiry. Partial,
-- so finished pages (the bulk, over time) do not weigh on them.
CREATE INDEX notifications_pending
    ON notifications (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notifications_leased
    ON notifications (lease_until) WHERE status = 'sending';
