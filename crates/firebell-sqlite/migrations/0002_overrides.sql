-- Firebell schema, version 2: schedule overrides.
--
-- Schedules live in the config file; overrides ("I'll take your Tuesday") are
-- runtime data, made through the API and kept here. Same conventions as 0001:
-- instants are INTEGER milliseconds since the Unix epoch, CHECKs spelled with OR.

-- AUTOINCREMENT: overrides apply in id order and ids leave the database (API),
-- so an id is never handed out twice, even after an override is deleted.
CREATE TABLE schedule_overrides (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule    TEXT    NOT NULL,
    start_at    INTEGER NOT NULL,
    end_at      INTEGER NOT NULL,
    kind        TEXT    NOT NULL
                CHECK (kind = 'add' OR kind = 'remove' OR kind = 'replace'),
    user_id     TEXT    NOT NULL,   -- add/remove: the user; replace: `from`
    replacement TEXT,               -- replace: `to`; NULL for add/remove
    created_by  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    CHECK (end_at > start_at),
    CHECK ((kind = 'replace') = (replacement IS NOT NULL))
);

-- A schedule's overrides meeting a window: those that end after it starts.
CREATE INDEX schedule_overrides_by_schedule ON schedule_overrides (schedule, end_at);
