-- Schema version 10: a failed page's follow-up survives a crash.
--
-- follow_up: 1 while a page that failed for good (alert.notify pages only)
--            still waits for what follows it — the person's next contact
--            method or "not reached". Set in the write that records the
--            failure, cleared in the write that records what follows; a pass
--            finds the rows still marked after a crash.
ALTER TABLE notifications ADD COLUMN follow_up INTEGER NOT NULL DEFAULT 0;

CREATE INDEX notifications_follow_up ON notifications (id) WHERE follow_up = 1;
