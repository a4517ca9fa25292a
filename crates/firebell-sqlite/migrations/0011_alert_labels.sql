-- The labels of open alerts, one row per label, so that label matchers
-- (GET /api/v2/alerts?filter=team="db") find alerts by index instead of
-- reading every open alert. Kept by triggers, inside the transaction that
-- opens or resolves the alert, so every connection (and every node) sees the
-- same index at once. Resolved alerts have no rows here. A new alert's rows
-- are written by the statement after the one that inserts it, in the same
-- transaction (one row per label, from the labels already parsed, cheaper
-- than a trigger reading the JSON back); resolving, reopening and deleting
-- are kept by triggers, whoever writes them.
--
-- An alert without an `alertname` label is shown with its dedup key as its
-- alertname (firebell_core::labels::alert_labels), so it is indexed so too.
CREATE TABLE alert_labels (
    name     TEXT    NOT NULL,
    value    TEXT    NOT NULL,
    alert_id INTEGER NOT NULL,
    PRIMARY KEY (name, value, alert_id)
) WITHOUT ROWID;

INSERT OR IGNORE INTO alert_labels (name, value, alert_id)
    SELECT j.key, j.value, a.id FROM alerts a, json_each(a.labels) j
    WHERE a.status != 'resolved' AND j.type = 'text';
INSERT OR IGNORE INTO alert_labels (name, value, alert_id)
    SELECT 'alertname', a.dedup_key, a.id FROM alerts a
    WHERE a.status != 'resolved' AND json_extract(a.labels, '$.alertname') IS NULL;

CREATE TRIGGER alert_labels_resolve AFTER UPDATE OF status ON alerts
WHEN NEW.status = 'resolved' AND OLD.status != 'resolved'
BEGIN
    DELETE FROM alert_labels WHERE (name, value, alert_id) IN
        (SELECT key, value, OLD.id FROM json_each(OLD.labels) WHERE type = 'text'
         UNION ALL
         SELECT 'alertname', OLD.dedup_key, OLD.id);
END;

CREATE TRIGGER alert_labels_reopen AFTER UPDATE OF status ON alerts
WHEN OLD.status = 'resolved' AND NEW.status != 'resolved'
BEGIN
    INSERT OR IGNORE INTO alert_labels (name, value, alert_id)
        SELECT key, value, NEW.id FROM json_each(NEW.labels) WHERE type = 'text'
        UNION ALL
        SELECT 'alertname', NEW.dedup_key, NEW.id
        WHERE json_extract(NEW.labels, '$.alertname') IS NULL;
END;

CREATE TRIGGER alert_labels_delete AFTER DELETE ON alerts
WHEN OLD.status != 'resolved'
BEGIN
    DELETE FROM alert_labels WHERE (name, value, alert_id) IN
        (SELECT key, value, OLD.id FROM json_each(OLD.labels) WHERE type = 'text'
         UNION ALL
         SELECT 'alertname', OLD.dedup_key, OLD.id);
END;
