-- Schema version 12: what nodes sharing a store need (the same tables as
-- the PostgreSQL backend; one node here).
--
-- generations: counters bumped in the transaction of every write to what a
--              node keeps in memory ('silences'), so it knows to read again.
-- nodes:       each node's row, refreshed while it runs.
-- heartbeats:  each heartbeat's last ping and whether it is overdue, so a
--              ping that reached any node counts on every node.
-- probes:      each probe's next run (claimed by one node) and its run of
--              failures and successes, whoever checked.
CREATE TABLE generations (
    name TEXT    PRIMARY KEY,
    n    INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO generations (name, n) VALUES ('silences', 0);

CREATE TABLE nodes (
    name          TEXT    PRIMARY KEY,
    version       TEXT    NOT NULL,
    started_at    INTEGER NOT NULL,
    last_seen     INTEGER NOT NULL,
    config_digest TEXT    NOT NULL
);

CREATE TABLE heartbeats (
    service   TEXT    NOT NULL,
    name      TEXT    NOT NULL,
    last_ping INTEGER NOT NULL,
    overdue   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (service, name)
) WITHOUT ROWID;

CREATE TABLE probes (
    name        TEXT    PRIMARY KEY,
    next_run    INTEGER NOT NULL DEFAULT 0,
    failures    INTEGER NOT NULL DEFAULT 0,
    successes   INTEGER NOT NULL DEFAULT 0,
    status      TEXT    NOT NULL DEFAULT 'unknown',
    cert_status TEXT    NOT NULL DEFAULT 'unknown'
) WITHOUT ROWID;
