-- Schema version 9: grouping, bundling and per-contact-method rate limits.
--
-- held_back:    1 once a rate limit held the page back (it stays 1 as a record).
-- bundled_into: the page whose message carried this one (a bundled page).
-- sent_at:      when a message was actually sent for this page (delivered and
--               not carried by another page's bundle).
-- rate_key:     the contact kind and address a rate limit counts the page under
--               (`sms:+447700900123`); set only for limited contact methods, so
--               the index below stays small and unlimited channels never touch it.
ALTER TABLE notifications ADD COLUMN held_back INTEGER NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN bundled_into INTEGER;
ALTER TABLE notifications ADD COLUMN sent_at INTEGER;
ALTER TABLE notifications ADD COLUMN rate_key TEXT;

-- Counting what was sent to one limited address in the last window.
CREATE INDEX notifications_sent_by_rate_key
    ON notifications (rate_key, sent_at) WHERE rate_key IS NOT NULL AND sent_at IS NOT NULL;
