-- Schema version 5: an escalation can be held (paging paused) while a
-- silence, a maintenance window or an inhibiting alert applies. `held` is the
-- reason, NULL when paging is not held; it keeps the timeline to one line per
-- hold instead of one per re-check.
ALTER TABLE escalations ADD COLUMN held TEXT;
