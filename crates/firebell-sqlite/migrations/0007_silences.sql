-- 0007_silences: silences (Alertmanager-style, runtime state). `matchers` is
-- a JSON array of {name, value, isRegex, isEqual}; instants are Unix
-- milliseconds; `service` is NULL for a silence of every service.
CREATE TABLE silences (
    id                TEXT    PRIMARY KEY,
    matchers          TEXT    NOT NULL,
    starts_at         INTEGER NOT NULL,
    ends_at           INTEGER NOT NULL,
    created_by        TEXT    NOT NULL,
    comment           TEXT    NOT NULL,
    updated_at        INTEGER NOT NULL,
    expire_on_resolve INTEGER NOT NULL DEFAULT 0,
    service           TEXT
);

-- The engine loads the silences that have not ended yet.
CREATE INDEX silences_by_end ON silences (ends_at);
