//! The injected clock. Logic never reads the system time directly, so tests can
//! fast-forward an escalation instead of sleeping.

use jiff::{SignedDuration, Timestamp};
use std::sync::Mutex;

/// A source of "now".
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
    /// True when time only moves when a test moves it; background loops then
    /// do not sleep on real time.
    fn is_manual(&self) -> bool {
        false
    }
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that only moves when told to. Used by tests.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    pub fn set(&self, t: Timestamp) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) = t;
    }

    pub fn advance(&self, by: SignedDuration) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now = now.saturating_add(by).unwrap_or(*now);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn is_manual(&self) -> bool {
        true
    }
}

/// Milliseconds since the Unix epoch: how instants are stored.
pub fn to_millis(t: Timestamp) -> i64 {
    t.as_millisecond()
}

/// The inverse of [`to_millis`]; out-of-range values clamp to the nearest
/// representable instant.
pub fn from_millis(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// The one duration parser: `"30s"`, `"5m"`, `"1h 30m"`, and days as 24
/// hours (`"14d"`). Every duration in the configuration, the API and the
/// CLI is read with it.
pub fn parse_duration(s: &str) -> Option<jiff::SignedDuration> {
    s.parse::<jiff::SignedDuration>().ok().or_else(|| {
        s.parse::<jiff::Span>()
            .ok()?
            .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
            .ok()
    })
}

#[cfg(test)]
mod manual_clock_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn advance_moves_the_clock() {
        let t: Timestamp = "2026-03-01T09:00:00Z".parse().unwrap();
        let c = ManualClock::new(t);
        c.advance(jiff::SignedDuration::from_secs(61));
        assert_eq!(
            c.now(),
            "2026-03-01T09:01:01Z".parse::<Timestamp>().unwrap()
        );
    }
}
