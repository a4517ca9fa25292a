-- Schema version 4: resolved alerts by when they resolved, for pruning past
-- [database] keep_resolved (see the SQLite migration 0016).
CREATE INDEX alerts_resolved ON alerts (resolved_at) WHERE status = 'resolved';
