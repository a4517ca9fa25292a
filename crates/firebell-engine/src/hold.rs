//! A hold on an alert's paging — why, and until when — shared by what can
//! hold (maintenance windows, silences, inhibition) and the quiet context
//! that asks them. A leaf: it imports no other engine module.

use jiff::{SignedDuration, Timestamp};

/// Longest a held escalation waits before it is looked at again.
pub const RECHECK: SignedDuration = SignedDuration::from_secs(30);

/// Why an alert's paging is held, and until when at most.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    /// Shown on the timeline after "paging held: ".
    pub reason: String,
    /// When the reason ends, if known (a silence's or window's end).
    pub until: Option<Timestamp>,
}

/// When a held escalation is looked at next.
pub fn recheck_at(hold: &Hold, now: Timestamp) -> Timestamp {
    let latest = now.checked_add(RECHECK).unwrap_or(now);
    match hold.until {
        Some(u) if u > now => u.min(latest),
        _ => latest,
    }
}
