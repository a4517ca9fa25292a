-- Pages held back by a rate limit, by the address they wait on: a page held
-- after another finds the first one's release time without walking every
-- pending page (a page held later waits a little longer, so the first one's
-- release carries the rest in one bundle).
CREATE INDEX notifications_held
    ON notifications (rate_key, next_attempt_at) WHERE status = 'pending' AND held_back;
