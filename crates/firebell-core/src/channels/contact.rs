//! Contacts: which channel delivers to a person's contact, and to what
//! address — the address rules of each contact kind (URLs, email addresses,
//! E.164 numbers, program arguments).

use super::common::Args;
use super::common::{check_args, is_http_url};
use super::{ChannelConfig, ChannelKind, SMS_CHANNEL_KINDS, VOICE_CHANNEL_KINDS};
use crate::config::diag::Errors;
use crate::contacts::{E164Number, EmailAddress};
use std::collections::BTreeMap;

/// A contact as written, borrowed from the user's table.
pub(crate) struct RawContactRef<'a> {
    pub kind: &'a str,
    pub url: Option<&'a str>,
    pub channel: Option<&'a str>,
    pub address: Option<&'a str>,
    pub args: Option<&'a Args>,
    /// An sms contact's number, and the region national numbers are in.
    pub number: Option<&'a str>,
    pub region: Option<&'a str>,
}

fn known_channels(channels: &BTreeMap<String, ChannelConfig>, kind: &str) -> String {
    let names: Vec<&str> = channels
        .values()
        .filter(|c| c.kind.as_str() == kind)
        .map(|c| c.name.as_str())
        .collect();
    if names.is_empty() {
        format!("no {kind} channel is defined; add a [[channels]] table with kind = \"{kind}\"")
    } else {
        format!("{kind} channels: {}", names.join(", "))
    }
}

/// Looks up the named channel and checks it is of `kind`.
fn named<'c>(
    channels: &'c BTreeMap<String, ChannelConfig>,
    name: &str,
    kind: &str,
    path: String,
    errors: &mut Errors,
) -> Option<&'c ChannelConfig> {
    match channels.get(name) {
        Some(c) if c.kind.as_str() == kind => Some(c),
        Some(c) => {
            errors.hint(
                path,
                format!(
                    "channel {name:?} is a {} channel, not {kind}",
                    c.kind.as_str()
                ),
                known_channels(channels, kind),
            );
            None
        }
        None => {
            errors.hint(
                path,
                format!("no channel named {name:?}"),
                known_channels(channels, kind),
            );
            None
        }
    }
}

/// Validates one contact against the configured channels.
pub(crate) fn contact(
    c: &RawContactRef<'_>,
    path: &str,
    channels: &BTreeMap<String, ChannelConfig>,
    errors: &mut Errors,
) -> Option<crate::contacts::Contact> {
    use crate::contacts::Contact;
    let allowed: &[&str] = match c.kind {
        "console" => &[],
        "webhook" => &["url", "channel"],
        "email" => &["address", "channel"],
        "program" => &["channel", "args"],
        "sms" | "voice" => &["number", "channel"],
        other => {
            errors.hint(
                format!("{path}.kind"),
                format!("unknown contact kind {other:?}"),
                "this version supports \"console\", \"webhook\", \"email\", \"program\", \"sms\" and \"voice\"",
            );
            return None;
        }
    };
    let present = [
        ("url", c.url.is_some()),
        ("channel", c.channel.is_some()),
        ("address", c.address.is_some()),
        ("args", c.args.is_some()),
        ("number", c.number.is_some()),
    ];
    let mut misplaced = false;
    for (key, is_present) in present {
        if is_present && !allowed.contains(&key) {
            misplaced = true;
            errors.push(
                format!("{path}.{key}"),
                format!("{} contacts take no {key}", c.kind),
            );
        }
    }
    if misplaced {
        return None;
    }
    match c.kind {
        "console" => Some(Contact::Console),
        "webhook" => {
            let channel = c.channel.unwrap_or("webhook");
            let channel_url = if channel == "webhook" {
                None
            } else {
                let cfg = named(
                    channels,
                    channel,
                    "webhook",
                    format!("{path}.channel"),
                    errors,
                )?;
                match &cfg.kind {
                    ChannelKind::Webhook(w) => w.url.clone(),
                    _ => None,
                }
            };
            let url = match (c.url, channel_url) {
                (Some(url), _) if is_http_url(url) => url.to_string(),
                (Some(url), _) => {
                    errors.hint(
                        format!("{path}.url"),
                        format!("{url:?} is not an http(s) URL"),
                        "such as \"https://example.com/hook\"",
                    );
                    return None;
                }
                (None, Some(url)) => url,
                (None, None) if channel == "webhook" => {
                    errors.push(
                        format!("{path}.url"),
                        "missing; webhook contacts need a url",
                    );
                    return None;
                }
                (None, None) => {
                    errors.hint(
                        format!("{path}.url"),
                        format!("missing, and channel {channel:?} has no url either"),
                        "give the contact a url, or the channel one",
                    );
                    return None;
                }
            };
            Some(Contact::Webhook {
                url,
                channel: channel.to_string(),
            })
        }
        "email" => {
            let address = match c.address.map(EmailAddress::parse) {
                Some(Ok(a)) => a,
                Some(Err(e)) => {
                    errors.hint(
                        format!("{path}.address"),
                        e,
                        "one address such as \"alice@example.com\"",
                    );
                    return None;
                }
                None => {
                    errors.hint(
                        format!("{path}.address"),
                        "missing; email contacts need an address",
                        "address = \"alice@example.com\"",
                    );
                    return None;
                }
            };
            let channel = match c.channel {
                Some(name) => named(channels, name, "smtp", format!("{path}.channel"), errors)?
                    .name
                    .clone(),
                None => {
                    let smtp: Vec<&ChannelConfig> = channels
                        .values()
                        .filter(|c| matches!(c.kind, ChannelKind::Smtp(_)))
                        .collect();
                    match smtp.as_slice() {
                        [only] => only.name.clone(),
                        [] => {
                            errors.hint(
                                format!("{path}.channel"),
                                "no smtp channel delivers this email contact",
                                "add a [[channels]] table with kind = \"smtp\"",
                            );
                            return None;
                        }
                        _ => {
                            errors.hint(
                                format!("{path}.channel"),
                                "missing; there are several smtp channels",
                                known_channels(channels, "smtp"),
                            );
                            return None;
                        }
                    }
                }
            };
            Some(Contact::Email { address, channel })
        }
        "sms" => phone_contact(c, path, channels, PhoneKind::Sms, errors),
        "voice" => phone_contact(c, path, channels, PhoneKind::Voice, errors),
        _ => {
            let Some(name) = c.channel else {
                errors.hint(
                    format!("{path}.channel"),
                    "missing; program contacts name the program channel that runs",
                    known_channels(channels, "program"),
                );
                return None;
            };
            let channel = named(channels, name, "program", format!("{path}.channel"), errors)?;
            let args = c.args.cloned().unwrap_or_default().0;
            check_args(errors, &format!("{path}.args"), &args);
            Some(Contact::Program {
                channel: channel.name.clone(),
                args,
            })
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PhoneKind {
    Sms,
    Voice,
}

/// An sms or voice contact: its number in E.164, and the channel that texts
/// or calls it (the named one, else the only one that can).
fn phone_contact(
    c: &RawContactRef<'_>,
    path: &str,
    channels: &BTreeMap<String, ChannelConfig>,
    phone: PhoneKind,
    errors: &mut Errors,
) -> Option<crate::contacts::Contact> {
    let (kinds, what, add) = match phone {
        PhoneKind::Sms => (SMS_CHANNEL_KINDS, "SMS", "\"http_sms\" or \"twilio\""),
        PhoneKind::Voice => (VOICE_CHANNEL_KINDS, "voice", "\"twilio\""),
    };
    let known = || {
        let names: Vec<&str> = channels
            .values()
            .filter(|c| kinds.contains(&c.kind.as_str()))
            .map(|c| c.name.as_str())
            .collect();
        if names.is_empty() {
            format!("no {what} channel is defined; add a [[channels]] table with kind = {add}")
        } else {
            format!("{what} channels: {}", names.join(", "))
        }
    };
    let number = match c.number {
        None => {
            errors.hint(
                format!("{path}.number"),
                format!("missing; {} contacts need a phone number", c.kind),
                "number = \"+447700900123\" (or a national number with region set)",
            );
            return None;
        }
        Some(n) => match E164Number::parse(n, c.region) {
            Ok(e164) => e164,
            Err(e) => {
                errors.hint(
                    format!("{path}.number"),
                    e,
                    "write it with its country code (+44 7700 900123), or set region on the user or [server] default_region",
                );
                return None;
            }
        },
    };
    let channel = match c.channel {
        Some(name) => match channels.get(name) {
            Some(ch) if kinds.contains(&ch.kind.as_str()) => ch.name.clone(),
            Some(ch) => {
                errors.hint(
                    format!("{path}.channel"),
                    format!(
                        "channel {name:?} is a {} channel, which cannot {}",
                        ch.kind.as_str(),
                        match phone {
                            PhoneKind::Sms => "send SMS",
                            PhoneKind::Voice => "make calls",
                        }
                    ),
                    known(),
                );
                return None;
            }
            None => {
                errors.hint(
                    format!("{path}.channel"),
                    format!("no channel named {name:?}"),
                    known(),
                );
                return None;
            }
        },
        None => {
            let able: Vec<&ChannelConfig> = channels
                .values()
                .filter(|c| kinds.contains(&c.kind.as_str()))
                .collect();
            match able.as_slice() {
                [only] => only.name.clone(),
                [] => {
                    errors.hint(
                        format!("{path}.channel"),
                        format!("no {what} channel delivers this {} contact", c.kind),
                        known(),
                    );
                    return None;
                }
                _ => {
                    errors.hint(
                        format!("{path}.channel"),
                        format!("missing; there are several {what} channels"),
                        known(),
                    );
                    return None;
                }
            }
        }
    };
    Some(match phone {
        PhoneKind::Sms => crate::contacts::Contact::Sms { number, channel },
        PhoneKind::Voice => crate::contacts::Contact::Voice { number, channel },
    })
}
