-- Change events (deploys, config pushes) on a service's change timeline.
CREATE TABLE changes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    service     TEXT    NOT NULL,
    summary     TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    occurred_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    details     TEXT    NOT NULL   -- JSON object
);

CREATE INDEX changes_by_service ON changes (service, id);
