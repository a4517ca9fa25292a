//! Provider fail-over: a page whose channel has `fallback` and has already
//! failed with retryable errors `fallback_after` times in a row (its
//! `attempts`; a page that is still pending has only ever failed
//! retryably) makes its next attempts through the fallback channel, to the
//! same address. The page keeps its own channel in the outbox; each attempt
//! is routed again, so the switch survives restarts and reloads.

use firebell_core::alert::TimelineEntry;
use firebell_core::channels;
use firebell_core::config::Config;
use firebell_core::notification::Notification;

/// The page as this attempt sends it (its channel replaced by the fallback
/// when one applies), and the note the timeline gets about the switch.
pub(crate) fn route(config: &Config, n: Notification) -> (Notification, Option<String>) {
    let via = channels::route(&config.channels, &n.channel, n.attempts);
    if via == n.channel {
        return (n, None);
    }
    let note = format!(
        "{} failed {} times in a row; sending via fallback channel {via}",
        n.channel, n.attempts
    );
    let via = via.to_string();
    (Notification { channel: via, ..n }, Some(note))
}

/// Puts the switch in front of the attempt's timeline line.
pub(crate) fn annotate(mut line: TimelineEntry, note: Option<&str>) -> TimelineEntry {
    if let Some(note) = note {
        line.message = format!("{note}: {}", line.message);
    }
    line
}
