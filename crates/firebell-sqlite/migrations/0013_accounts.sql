-- Schema version 13: sign-in to the web UI.
--
-- passwords: each user's argon2id hash (a PHC string); users themselves
--            live in the configuration.
-- sessions:  signed-in browsers. Only a SHA-256 of the cookie is kept, so a
--            copy of the database opens no session.
CREATE TABLE passwords (
    user_id TEXT    PRIMARY KEY,
    hash    TEXT    NOT NULL,
    set_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE sessions (
    id_hash    TEXT    PRIMARY KEY,
    user_id    TEXT    NOT NULL,
    csrf       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
