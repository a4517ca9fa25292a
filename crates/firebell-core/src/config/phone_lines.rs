//! `[[phone_lines]]`: an on-call line. A Twilio number's voice webhook
//! points at `/hooks/twilio/{channel}/inbound/{line}`; a caller hears the
//! greeting, an alert opens on the line's service, and the call is put
//! through to whoever the service's policy would page now, then to the next
//! step's people when nobody answers.
//!
//! ```toml
//! [[phone_lines]]
//! id = "ops"
//! number = "+441234567890"
//! service = "checkout"
//! greeting = "You have reached the Checkout on-call line."
//! ```

use super::diag::{Errors, check_id};
use super::services::IngestRateLimit;
use crate::channels::{ChannelConfig, ChannelKind};
use crate::escalation::Policy;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Calls one caller may make to one line in a window, unless configured.
pub const DEFAULT_CALLER_LIMIT: &str = "3/10m";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPhoneLine {
    id: String,
    number: Option<String>,
    service: Option<String>,
    greeting: Option<String>,
    channel: Option<String>,
    calls_per_caller: Option<String>,
}

/// One on-call line, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct PhoneLine {
    pub id: String,
    /// The Twilio number callers dial, E.164: the caller id of the calls
    /// put through.
    pub number: String,
    /// Its alerts open on this service; its policy says whom to ring.
    pub service: String,
    pub greeting: String,
    /// The twilio channel whose number this is.
    pub channel: String,
    /// How many calls one caller may make in a window.
    pub calls_per_caller: IngestRateLimit,
}

pub(super) fn compile(
    errors: &mut Errors,
    raw: &[RawPhoneLine],
    channels: &BTreeMap<String, ChannelConfig>,
    services: &BTreeMap<String, super::services::Service>,
    policies: &BTreeMap<String, Policy>,
    default_region: Option<&str>,
) -> BTreeMap<String, PhoneLine> {
    let twilio: Vec<&String> = channels
        .iter()
        .filter(|(_, c)| matches!(c.kind, ChannelKind::Twilio(_)))
        .map(|(name, _)| name)
        .collect();
    let mut out = BTreeMap::new();
    for (i, l) in raw.iter().enumerate() {
        let path = format!("phone_lines[{i}]");
        let before = errors.0.len();
        check_id(errors, &format!("{path}.id"), &l.id);
        if out.contains_key(&l.id) {
            errors.push(format!("{path}.id"), format!("{:?} is defined twice", l.id));
        }
        let number = match l.number.as_deref() {
            None => {
                errors.hint(
                    format!("{path}.number"),
                    "missing",
                    "the Twilio number callers dial, e.g. \"+441234567890\"",
                );
                String::new()
            }
            Some(n) => crate::sms::parse_number(n, default_region).unwrap_or_else(|e| {
                errors.push(format!("{path}.number"), e);
                String::new()
            }),
        };
        let service = match l.service.as_deref() {
            None => {
                errors.push(
                    format!("{path}.service"),
                    "missing; the line's alerts open there",
                );
                String::new()
            }
            Some(s) => match services.get(s) {
                None => {
                    errors.hint(
                        format!("{path}.service"),
                        format!("no service {s:?}"),
                        format!(
                            "known: {}",
                            services.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    );
                    String::new()
                }
                Some(svc) => {
                    if !policies.contains_key(&svc.policy) {
                        errors.push(format!("{path}.service"), "its policy is unknown");
                    }
                    s.to_string()
                }
            },
        };
        let channel = match (l.channel.as_deref(), twilio.as_slice()) {
            (Some(c), _) if twilio.iter().any(|t| *t == c) => c.to_string(),
            (Some(c), _) => {
                errors.push(
                    format!("{path}.channel"),
                    format!("{c:?} is not a twilio channel"),
                );
                String::new()
            }
            (None, [only]) => (*only).clone(),
            (None, []) => {
                errors.hint(
                    format!("{path}.channel"),
                    "no twilio channel is defined",
                    "an on-call line is a Twilio number: add a [[channels]] table with kind = \"twilio\"",
                );
                String::new()
            }
            (None, _) => {
                errors.push(
                    format!("{path}.channel"),
                    "missing; there are several twilio channels: name the one with this number",
                );
                String::new()
            }
        };
        let calls_per_caller = IngestRateLimit::parse(
            l.calls_per_caller
                .as_deref()
                .unwrap_or(DEFAULT_CALLER_LIMIT),
        )
        .map_err(|e| errors.push(format!("{path}.calls_per_caller"), e))
        .ok();
        let greeting = l.greeting.clone().unwrap_or_else(|| {
            let name = services
                .get(&service)
                .map(|s| s.name.clone())
                .unwrap_or_default();
            format!("You have reached the {name} on-call line.")
        });
        if greeting.chars().count() > 500 {
            errors.push(format!("{path}.greeting"), "longer than 500 characters");
        }
        if errors.0.len() > before {
            continue;
        }
        if let Some(calls_per_caller) = calls_per_caller {
            out.insert(
                l.id.clone(),
                PhoneLine {
                    id: l.id.clone(),
                    number,
                    service,
                    greeting,
                    channel,
                    calls_per_caller,
                },
            );
        }
    }
    out
}
