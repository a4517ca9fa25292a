//! Grouping and rate limits: the configuration of `[[services]] group_window`
//! and `[delivery.rate_limits]`, and the stand-in alert a bundled page is
//! rendered as. The engine's `bundles` module applies them.

use crate::alert::{Alert, AlertStatus};
use crate::config::diag::Errors;
use crate::event::DedupKey;
use jiff::SignedDuration;
use serde::Deserialize;
use std::fmt;

/// The shortest `group_window`.
pub const MIN_GROUP_WINDOW: SignedDuration = SignedDuration::from_secs(1);
/// The longest `group_window`.
pub const MAX_GROUP_WINDOW: SignedDuration = SignedDuration::from_hours(1);
/// Bundles of at most this many alerts list their ids in the summary.
pub const SHORT_BUNDLE: usize = 10;
/// The longest rate-limit window.
pub const MAX_RATE_WINDOW: SignedDuration = SignedDuration::from_hours(24);

/// At most `count` messages per `per` to one address of one contact kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub count: u32,
    pub per: SignedDuration,
}

impl RateLimit {
    /// Parses `"N/DURATION"` (`"5/15m"`); `"off"` is `Ok(None)`.
    pub fn parse(s: &str) -> Result<Option<RateLimit>, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let Some((n, d)) = s.split_once('/') else {
            return Err(format!("{s:?} is not a rate limit"));
        };
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: {:?} is not a whole number of messages", n.trim()))?;
        if count == 0 {
            return Err(format!(
                "{s:?}: the count must be at least 1 (write \"off\" for no limit)"
            ));
        }
        let per: SignedDuration = d
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: {:?} is not a duration", d.trim()))?;
        if !per.is_positive() || per > MAX_RATE_WINDOW {
            return Err(format!(
                "{s:?}: the window must be more than 0 and at most 24h"
            ));
        }
        Ok(Some(RateLimit { count, per }))
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} per {}", self.count, friendly(self.per))
    }
}

/// `15m`, `1h`, `90s`: the window as people write it.
fn friendly(d: SignedDuration) -> String {
    let secs = d.as_secs();
    if d.subsec_nanos() != 0 || secs == 0 {
        format!("{d:#}")
    } else if secs % 3600 == 0 {
        format!("{}h", secs / 3600)
    } else if secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// `[delivery.rate_limits]`: a limit per contact kind, per address (a phone
/// number, an email address), across every alert and service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimits {
    pub voice: Option<RateLimit>,
    pub sms: Option<RateLimit>,
    pub email: Option<RateLimit>,
}

impl Default for RateLimits {
    /// In the spirit of GoAlert's: 3 calls and 5 texts per 15 minutes per number.
    fn default() -> Self {
        RateLimits {
            voice: Some(RateLimit {
                count: 3,
                per: SignedDuration::from_mins(15),
            }),
            sms: Some(RateLimit {
                count: 5,
                per: SignedDuration::from_mins(15),
            }),
            email: None,
        }
    }
}

impl RateLimits {
    /// The limit for a contact kind (`Contact::kind`), if any.
    pub fn for_kind(&self, kind: &str) -> Option<RateLimit> {
        match kind {
            "voice" => self.voice,
            "sms" => self.sms,
            "email" => self.email,
            _ => None,
        }
    }
}

/// `[delivery.rate_limits]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRateLimits {
    voice: Option<String>,
    sms: Option<String>,
    email: Option<String>,
}

pub(crate) fn rate_limits(errors: &mut Errors, raw: &RawRateLimits) -> RateLimits {
    let defaults = RateLimits::default();
    let mut one = |key: &str, value: &Option<String>, default: Option<RateLimit>| match value {
        None => default,
        Some(v) => RateLimit::parse(v).unwrap_or_else(|e| {
            errors.hint(
                format!("delivery.rate_limits.{key}"),
                e,
                "write \"COUNT/WINDOW\" such as \"5/15m\", or \"off\"",
            );
            None
        }),
    };
    RateLimits {
        voice: one("voice", &raw.voice, defaults.voice),
        sms: one("sms", &raw.sms, defaults.sms),
        email: one("email", &raw.email, defaults.email),
    }
}

/// `[[services]] group_window`: absent is no grouping.
pub(crate) fn group_window(
    errors: &mut Errors,
    path: &str,
    value: Option<&str>,
) -> Option<SignedDuration> {
    let v = value?;
    let hint = "a duration from 1s to 1h, such as \"10s\" or \"2m\"";
    match crate::clock::parse_duration(v.trim()) {
        Some(d) if (MIN_GROUP_WINDOW..=MAX_GROUP_WINDOW).contains(&d) => Some(d),
        Some(_) => {
            errors.hint(path, format!("{v:?} is out of range"), hint);
            None
        }
        None => {
            errors.hint(path, format!("{v:?} is not a duration"), hint);
            None
        }
    }
}

/// One alert in a bundled page.
#[derive(Clone, Debug, PartialEq)]
pub struct BundleItem {
    pub alert_id: i64,
    pub summary: String,
}

/// The stand-in alert a bundled page is rendered as, so every channel and
/// template carries it unchanged: summary `"Checkout web: 12 alerts, newest:
/// Disk full on web1"` (up to [`SHORT_BUNDLE`] alerts, their ids follow:
/// `" (#8 #7 #6)"`), and `details.alerts` listing each alert (id and
/// summary), newest first. `newest` is the alert the page was claimed for
/// when it is the newest; `items` are every alert in the bundle (including
/// it), in any order. `title` is the service's name, or a description of the
/// address for a bundle across services.
pub fn bundle_alert(newest: &Alert, title: &str, items: &[BundleItem]) -> Alert {
    let mut items = items.to_vec();
    items.sort_by_key(|i| std::cmp::Reverse(i.alert_id));
    items.dedup_by_key(|i| i.alert_id);
    let newest_summary = items
        .first()
        .map(|i| i.summary.clone())
        .unwrap_or_else(|| newest.summary.clone());
    let mut summary = format!("{title}: {} alerts, newest: {newest_summary}", items.len());
    // A short bundle names every alert, so a text message carries them all.
    if items.len() <= SHORT_BUNDLE {
        let ids: Vec<String> = items.iter().map(|i| format!("#{}", i.alert_id)).collect();
        summary.push_str(&format!(" ({})", ids.join(" ")));
    }
    let list: Vec<serde_json::Value> = items
        .iter()
        .map(|i| serde_json::json!({ "id": i.alert_id, "summary": i.summary }))
        .collect();
    let text = items
        .iter()
        .map(|i| format!("#{} {}", i.alert_id, i.summary))
        .collect::<Vec<_>>()
        .join("\n");
    let mut details = serde_json::Map::new();
    details.insert("alerts".into(), serde_json::Value::Array(list));
    details.insert("bundled".into(), serde_json::Value::String(text));
    let mut labels = newest.labels.clone();
    labels.insert("bundle".into(), items.len().to_string());
    let dedup_key = DedupKey::parse(format!("bundle-{}", newest.id))
        .unwrap_or_else(|_| newest.dedup_key.clone());
    Alert {
        id: newest.id,
        service: newest.service.clone(),
        dedup_key,
        status: AlertStatus::Triggered,
        summary,
        severity: newest.severity,
        source: "firebell".into(),
        labels,
        details,
        count: items.len() as i64,
        created_at: newest.created_at,
        updated_at: newest.updated_at,
        acknowledged_at: None,
        resolved_at: None,
        expires_at: None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rate_limits_parse() {
        assert_eq!(
            RateLimit::parse("5/15m").unwrap(),
            Some(RateLimit {
                count: 5,
                per: SignedDuration::from_mins(15)
            })
        );
        assert_eq!(RateLimit::parse("off").unwrap(), None);
        assert_eq!(
            RateLimit::parse(" 3 / 1h ").unwrap().unwrap().to_string(),
            "3 per 1h"
        );
        for bad in ["5", "0/15m", "x/15m", "5/soon", "5/0s", "5/48h", ""] {
            assert!(RateLimit::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bundle_summary_names_the_count_and_newest() {
        let a = crate::notification::notice_alert(&crate::notification::Notification {
            idem_key: String::new(),
            follow_up: false,
            id: 1,
            alert_id: None,
            message: Some("x".into()),
            user: "alice".into(),
            contact_index: 0,
            channel: "console".into(),
            address: "stdout".into(),
            kind: crate::notification::NotificationKind::Notify,
            step: 0,
            loop_: 0,
            status: crate::notification::NotificationStatus::Sending,
            attempts: 0,
            next_attempt_at: jiff::Timestamp::UNIX_EPOCH,
            last_error: None,
            detail: None,
            created_at: jiff::Timestamp::UNIX_EPOCH,
        });
        let items = [
            BundleItem {
                alert_id: 3,
                summary: "Disk full on web1".into(),
            },
            BundleItem {
                alert_id: 2,
                summary: "CPU hot".into(),
            },
        ];
        let b = bundle_alert(&a, "Checkout web", &items);
        assert_eq!(
            b.summary,
            "Checkout web: 2 alerts, newest: Disk full on web1 (#3 #2)"
        );
        assert_eq!(b.details["bundled"], "#3 Disk full on web1\n#2 CPU hot");
    }
}
