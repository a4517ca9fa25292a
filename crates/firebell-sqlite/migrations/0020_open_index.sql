-- The label index and the open-alert lookup move into the server's memory
-- (open_index.rs): rebuilt from the open alerts when the store opens, kept
-- by the writer as it commits. Each of their index rows landed on a page of
-- its own (a hash key), so every commit wrote back a page per new alert and
-- key. The triggers tell the writer's index which alerts close and reopen;
-- `firebell_opened` and `firebell_closed` are registered on its connection.

DROP TRIGGER alert_label_keys_resolve;
DROP TRIGGER alert_label_keys_reopen;
DROP TRIGGER alert_label_keys_delete;
DROP TABLE alert_label_keys;
DROP INDEX alerts_open_by_key;
ALTER TABLE alerts DROP COLUMN open_key;

CREATE TRIGGER alerts_index_close AFTER UPDATE OF status ON alerts
WHEN NEW.status = 'resolved' AND OLD.status != 'resolved'
BEGIN
    SELECT firebell_closed(OLD.id, OLD.service, OLD.dedup_key, OLD.labels);
END;

CREATE TRIGGER alerts_index_reopen AFTER UPDATE OF status ON alerts
WHEN OLD.status = 'resolved' AND NEW.status != 'resolved'
BEGIN
    SELECT firebell_opened(NEW.id, NEW.service, NEW.dedup_key, NEW.labels);
END;

CREATE TRIGGER alerts_index_delete AFTER DELETE ON alerts
WHEN OLD.status != 'resolved'
BEGIN
    SELECT firebell_closed(OLD.id, OLD.service, OLD.dedup_key, OLD.labels);
END;
