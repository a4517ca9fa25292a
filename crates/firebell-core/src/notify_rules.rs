//! A user's notification rules: which of their contact methods a page uses,
//! by the alert's severity and the user's local time — PagerDuty's urgency
//! rules ("critical: call now; warning: SMS in working hours, email
//! otherwise").
//!
//! ```toml
//! [[users.notification_rules]]
//! severity = ["critical"]
//! contacts = ["voice", "sms"]
//!
//! [[users.notification_rules]]
//! severity = ["error", "warning"]
//! days = ["mon", "tue", "wed", "thu", "fri"]
//! hours = "09:00-18:00"
//! contacts = ["sms"]
//!
//! [[users.notification_rules]]
//! contacts = ["email"]
//! ```
//!
//! The first rule that matches picks the contact chain: the user's contacts
//! of the listed kinds, in the rule's order (within one kind, in the user's
//! order). The first is paged; the next is tried when one fails for good.
//! With no rules, or when none matches, the chain is every contact in order.

use crate::config::diag::Errors;
use crate::event::Severity;
use jiff::Timestamp;
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use serde::Deserialize;

/// As written in the config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNotificationRule {
    severity: Option<Vec<String>>,
    days: Option<Vec<String>>,
    hours: Option<String>,
    contacts: Vec<String>,
}

/// One rule, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationRule {
    /// Empty: any severity.
    pub severities: Vec<Severity>,
    /// Empty: any day (in the user's time zone).
    pub days: Vec<Weekday>,
    /// Local start and end; an end before the start runs past midnight.
    pub hours: Option<(Time, Time)>,
    /// Indices into the user's contacts, in the order they are tried.
    pub contacts: Vec<usize>,
}

impl NotificationRule {
    fn matches(&self, severity: Severity, local: jiff::civil::DateTime) -> bool {
        if !self.severities.is_empty() && !self.severities.contains(&severity) {
            return false;
        }
        if let Some((start, end)) = self.hours {
            let t = local.time();
            let inside = if start <= end {
                t >= start && t < end
            } else {
                t >= start || t < end
            };
            if !inside {
                return false;
            }
            // A span past midnight belongs to the day it started on.
            let day = if start > end && t < end {
                local
                    .date()
                    .yesterday()
                    .map(|d| d.weekday())
                    .unwrap_or(local.weekday())
            } else {
                local.weekday()
            };
            return self.days.is_empty() || self.days.contains(&day);
        }
        self.days.is_empty() || self.days.contains(&local.weekday())
    }
}

/// The contact chain for a page: indices into `contacts`, first to try first.
/// `timezone` is the user's (validated at load; UTC if it is not known).
pub fn contact_chain(
    rules: &[NotificationRule],
    contact_count: usize,
    timezone: &str,
    severity: Severity,
    now: Timestamp,
) -> Vec<usize> {
    if !rules.is_empty() {
        let tz = TimeZone::get(timezone).unwrap_or(TimeZone::UTC);
        let local = now.to_zoned(tz).datetime();
        if let Some(rule) = rules.iter().find(|r| r.matches(severity, local)) {
            return rule.contacts.clone();
        }
    }
    (0..contact_count).collect()
}

fn weekday(s: &str) -> Option<Weekday> {
    Some(match s.trim().to_ascii_lowercase().get(..3)? {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    })
}

fn parse_hours(s: &str) -> Option<(Time, Time)> {
    let (a, b) = s.split_once('-')?;
    let parse = |x: &str| -> Option<Time> {
        let x = x.trim();
        if x == "24:00" {
            return Some(Time::MIN);
        }
        let (h, m) = x.split_once(':')?;
        Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
    };
    let (start, end) = (parse(a)?, parse(b)?);
    (start != end).then_some((start, end))
}

/// Validates a user's rules against the kinds of their contacts (in order);
/// problems go to `errors` with `path` (`users[0].notification_rules`).
pub(crate) fn validate(
    raw: &[RawNotificationRule],
    contacts: &[&str],
    path: &str,
    errors: &mut Errors,
) -> Vec<NotificationRule> {
    let mut rules = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let rpath = format!("{path}[{i}]");
        let mut ok = true;
        let mut severities = Vec::new();
        for (j, s) in r.severity.iter().flatten().enumerate() {
            match s.parse::<Severity>() {
                Ok(sev) => severities.push(sev),
                Err(_) => {
                    ok = false;
                    errors.hint(
                        format!("{rpath}.severity[{j}]"),
                        format!("unknown severity {s:?}"),
                        "use critical, error, warning or info",
                    );
                }
            }
        }
        let mut days = Vec::new();
        for (j, d) in r.days.iter().flatten().enumerate() {
            match weekday(d) {
                Some(w) => days.push(w),
                None => {
                    ok = false;
                    errors.hint(
                        format!("{rpath}.days[{j}]"),
                        format!("unknown day {d:?}"),
                        "use mon, tue, wed, thu, fri, sat or sun",
                    );
                }
            }
        }
        let hours = match r.hours.as_deref() {
            None => None,
            Some(h) => match parse_hours(h) {
                Some(span) => Some(span),
                None => {
                    ok = false;
                    errors.hint(
                        format!("{rpath}.hours"),
                        format!("{h:?} is not a span of local time"),
                        "write \"09:00-18:00\" (24-hour clock; \"22:00-06:00\" runs past midnight)",
                    );
                    None
                }
            },
        };
        let mut chain = Vec::new();
        if r.contacts.is_empty() {
            ok = false;
            errors.hint(
                format!("{rpath}.contacts"),
                "empty: a matching page would reach nobody",
                "name contact kinds to use, e.g. contacts = [\"sms\", \"email\"]",
            );
        }
        for (j, kind) in r.contacts.iter().enumerate() {
            let of_kind: Vec<usize> = contacts
                .iter()
                .enumerate()
                .filter(|(_, c)| **c == kind.as_str())
                .map(|(k, _)| k)
                .collect();
            if of_kind.is_empty() {
                ok = false;
                let have = contacts;
                errors.hint(
                    format!("{rpath}.contacts[{j}]"),
                    format!("this user has no {kind:?} contact"),
                    format!("their contacts are: {}", have.join(", ")),
                );
            }
            for k in of_kind {
                if !chain.contains(&k) {
                    chain.push(k);
                }
            }
        }
        if ok {
            rules.push(NotificationRule {
                severities,
                days,
                hours,
                contacts: chain,
            });
        }
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        sev: &[Severity],
        days: &[Weekday],
        hours: Option<&str>,
        c: &[usize],
    ) -> NotificationRule {
        NotificationRule {
            severities: sev.to_vec(),
            days: days.to_vec(),
            hours: hours.and_then(parse_hours),
            contacts: c.to_vec(),
        }
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn critical_calls_warning_texts_in_working_hours_and_emails_otherwise() {
        use Weekday::*;
        // contacts: 0 voice, 1 sms, 2 email
        let rules = vec![
            rule(&[Severity::Critical], &[], None, &[0, 1]),
            rule(
                &[Severity::Warning],
                &[Monday, Tuesday, Wednesday, Thursday, Friday],
                Some("09:00-18:00"),
                &[1],
            ),
            rule(&[], &[], None, &[2]),
        ];
        let chain = |sev, t| contact_chain(&rules, 3, "Europe/London", sev, at(t));
        // Wednesday 2026-03-04, 10:00 in London (GMT).
        assert_eq!(
            chain(Severity::Critical, "2026-03-04T10:00:00Z"),
            vec![0, 1]
        );
        assert_eq!(chain(Severity::Warning, "2026-03-04T10:00:00Z"), vec![1]);
        // 18:30 local: email.
        assert_eq!(chain(Severity::Warning, "2026-03-04T18:30:00Z"), vec![2]);
        // Saturday: email.
        assert_eq!(chain(Severity::Warning, "2026-03-07T10:00:00Z"), vec![2]);
        // Summer time: 08:30 UTC is 09:30 BST, inside working hours.
        assert_eq!(chain(Severity::Warning, "2026-07-01T08:30:00Z"), vec![1]);
        // No rules: every contact in order.
        assert_eq!(
            contact_chain(&[], 3, "UTC", Severity::Info, at("2026-03-04T10:00:00Z")),
            vec![0, 1, 2]
        );
    }

    #[test]
    fn a_span_past_midnight_belongs_to_the_day_it_starts() {
        use Weekday::*;
        let rules = vec![rule(&[], &[Friday], Some("22:00-06:00"), &[1])];
        let chain = |t| contact_chain(&rules, 2, "UTC", Severity::Error, at(t));
        // Friday 23:00 and Saturday 05:00 are Friday night; Saturday 23:00 is not.
        assert_eq!(chain("2026-03-06T23:00:00Z"), vec![1]);
        assert_eq!(chain("2026-03-07T05:00:00Z"), vec![1]);
        assert_eq!(chain("2026-03-07T23:00:00Z"), vec![0, 1]);
        assert_eq!(chain("2026-03-06T12:00:00Z"), vec![0, 1]);
    }

    #[test]
    fn hours_must_be_a_span() {
        assert!(parse_hours("09:00-18:00").is_some());
        assert!(parse_hours("9:00 - 18:30").is_some());
        assert!(parse_hours("18:00-24:00").is_some());
        assert!(parse_hours("09:00").is_none());
        assert!(parse_hours("09:00-09:00").is_none());
        assert!(parse_hours("25:00-26:00").is_none());
    }

    #[test]
    fn bad_rules_are_config_errors_with_their_path() {
        let text = r#"
[server]
admin_token = "notify-rules-admin-token"
[[users]]
id = "alice"
contacts = [ { kind = "console" } ]
[[users.notification_rules]]
severity = ["urgent"]
days = ["funday"]
hours = "9 to 5"
contacts = ["sms"]
[[users.notification_rules]]
contacts = []
[[policies]]
id = "p"
steps = [ { targets = ["user:alice"], wait = "5m" } ]
"#;
        let errors = crate::config::parse(text, &crate::config::MapSecrets::default()).unwrap_err();
        let paths: Vec<&str> = errors.0.iter().map(|e| e.path.as_str()).collect();
        for want in [
            "users[0].notification_rules[0].severity[0]",
            "users[0].notification_rules[0].days[0]",
            "users[0].notification_rules[0].hours",
            "users[0].notification_rules[0].contacts[0]",
            "users[0].notification_rules[1].contacts",
        ] {
            assert!(paths.contains(&want), "{want} missing from {paths:?}");
        }
        let sms = errors
            .0
            .iter()
            .find(|e| e.path == "users[0].notification_rules[0].contacts[0]")
            .unwrap();
        assert!(
            sms.message.contains("no \"sms\" contact"),
            "{}",
            sms.message
        );
    }
}
