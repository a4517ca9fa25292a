-- 0006_twilio: receipts of provider callbacks (Twilio's status, key-press and
-- inbound-text webhooks), so a callback Twilio delivers twice acts once.
-- `key` names the callback, e.g. `status:CA…:no-answer`, `gather:CA…:17`,
-- `sms:SM…`.
CREATE TABLE receipts (
    key         TEXT    PRIMARY KEY,
    received_at INTEGER NOT NULL
) WITHOUT ROWID;

-- SMS replies: "ack" acts on the newest open alert that paged the sender.
CREATE INDEX notifications_by_user ON notifications (user_id, alert_id);
