-- Schema version 2: sign-in to the web UI (see the SQLite migration 0013).
CREATE TABLE passwords (
    user_id TEXT   PRIMARY KEY,
    hash    TEXT   NOT NULL,
    set_at  BIGINT NOT NULL
);

CREATE TABLE sessions (
    id_hash    TEXT   PRIMARY KEY,
    user_id    TEXT   NOT NULL,
    csrf       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
