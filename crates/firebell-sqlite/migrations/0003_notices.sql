-- Notices: outbox rows about no alert (test pages, shift handoffs). SQLite
-- cannot drop a NOT NULL constraint, so the table is rebuilt with
-- `alert_id` nullable, a notice's `message`, and the provider's answer
-- (`detail`) on delivery. Ids are kept; nothing references this table.
CREATE TABLE notifications_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id        INTEGER REFERENCES alerts (id),
    message         TEXT,
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
    detail          TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    CHECK (alert_id IS NOT NULL OR message IS NOT NULL)
);

INSERT INTO notifications_new (id, alert_id, message, idem_key, user_id, contact_index, channel,
    address, kind, step, loop, status, attempts, next_attempt_at, lease_until, last_error,
    detail, created_at, updated_at)
SELECT id, alert_id, NULL, idem_key, user_id, contact_index, channel,
    address, kind, step, loop, status, attempts, next_attempt_at, lease_until, last_error,
    NULL, created_at, updated_at
FROM notifications;

DROP TABLE notifications;
ALTER TABLE notifications_new RENAME TO notifications;

CREATE INDEX notifications_by_alert ON notifications (alert_id, id);
CREATE INDEX notifications_pending
    ON notifications (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notifications_leased
    ON notifications (lease_until) WHERE status = 'sending';
