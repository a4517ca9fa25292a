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

/// Reads an RFC 3339 instant, also with ISO 8601's offset without a colon
/// (`2026-01-01T12:00:00.000+0000`, as CloudWatch and PagerDuty's documents
/// write it). Times at the very edge of the calendar that a [`Timestamp`]
/// cannot hold — `9999-12-31T23:59:59Z`, which Go clients and Alertmanager
/// use for "never" — clamp to [`Timestamp::MAX`] (or `MIN`) instead of
/// being refused.
pub fn parse_timestamp(s: &str) -> Result<Timestamp, jiff::Error> {
    let e = match s.parse::<Timestamp>() {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    // Split only at a character boundary: the last five bytes may begin
    // inside a multi-byte character (a panic the fuzzers found).
    if let Some((head, tail)) = s.len().checked_sub(5).and_then(|i| s.split_at_checked(i))
        && tail.starts_with(['+', '-'])
        && tail[1..].bytes().all(|b| b.is_ascii_digit())
    {
        return parse_timestamp(&format!("{head}{}:{}", &tail[..3], &tail[3..]));
    }
    let Ok(pieces) = jiff::fmt::temporal::Pieces::parse(s) else {
        return Err(e);
    };
    match (pieces.date().year(), pieces.offset()) {
        (9999, Some(_)) => Ok(Timestamp::MAX),
        (-9999, Some(_)) => Ok(Timestamp::MIN),
        _ => Err(e),
    }
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

#[cfg(test)]
mod tests {
    use super::parse_timestamp;
    use jiff::Timestamp;

    #[test]
    fn the_end_of_the_calendar_is_never_not_an_error() {
        assert_eq!(
            parse_timestamp("9999-12-31T23:59:59Z").unwrap(),
            Timestamp::MAX
        );
        assert_eq!(
            parse_timestamp("9999-12-31T23:59:59.999+00:00").unwrap(),
            Timestamp::MAX
        );
        assert_eq!(
            parse_timestamp("2026-12-06T10:00:00Z").unwrap(),
            "2026-12-06T10:00:00Z".parse::<Timestamp>().unwrap()
        );
        // Still refused: no offset, nonsense, an impossible date.
        assert!(parse_timestamp("9999-12-31T23:59:59").is_err());
        assert!(parse_timestamp("soon").is_err());
        assert!(parse_timestamp("2026-02-30T00:00:00Z").is_err());
    }

    #[test]
    fn offsets_without_a_colon_are_read_and_odd_endings_never_panic() {
        assert_eq!(
            parse_timestamp("2026-06-01T11:59:57.000+0000").unwrap(),
            "2026-06-01T11:59:57Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            parse_timestamp("2026-06-01T12:59:57-0100").unwrap(),
            "2026-06-01T13:59:57Z".parse::<Timestamp>().unwrap()
        );
        // Found by the fuzzers (sns, pagerduty): the split point inside a
        // multi-byte character.
        for s in [
            "2028-07-1\u{2e4}+-da",
            "2000:00.000Zhttps://NeM:?0\u{ac3f}ason\u{ac3f}as:",
            "\u{ac3f}\u{ac3f}",
            "+0000",
        ] {
            assert!(parse_timestamp(s).is_err(), "{s}");
        }
    }
}
