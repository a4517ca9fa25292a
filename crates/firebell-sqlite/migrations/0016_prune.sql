-- [database] keep_resolved: resolved alerts by when they resolved, so a
-- pruning pass reads only the alerts past the cut (without it, each pass's
-- last batch walked every resolved alert still kept).
CREATE INDEX alerts_resolved ON alerts (resolved_at) WHERE status = 'resolved';
