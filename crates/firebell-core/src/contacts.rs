//! People and how to reach them: [`User`] and [`Contact`]. Validated from
//! `[[users]]` by the configuration; read by escalation, notification rules
//! and every channel.

use crate::event::Severity;
use crate::notify_rules::NotificationRule;
use std::fmt;
use std::ops::Deref;

/// A phone number in E.164 (`+447700900123`). Made only by [`E164Number::parse`],
/// so a contact's number is always one a provider can dial. Its `Debug`
/// shows only the last four digits.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164Number(String);

impl E164Number {
    /// Parses `text` (international, or national in `region`, an ISO 3166
    /// code) into E.164; the error says what is wrong.
    pub fn parse(text: &str, region: Option<&str>) -> Result<Self, String> {
        crate::sms::parse_number(text, region).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for E164Number {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for E164Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for E164Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // E.164 is ASCII: `+` and digits.
        let tail = &self.0[self.0.len().saturating_sub(4)..];
        write!(f, "E164Number(…{tail})")
    }
}

impl PartialEq<str> for E164Number {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<String> for E164Number {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

/// One email address (`alice@example.com`). Made only by
/// [`EmailAddress::parse`], which accepts what the mail transport accepts.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        text.parse::<lettre::Address>()
            .map(|_| Self(text.to_string()))
            .map_err(|_| format!("{text:?} is not an email address"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for EmailAddress {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An IANA time zone name the bundled time zone database knows
/// (`Europe/London`). Made only by [`TzName::parse`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TzName(String);

impl TzName {
    pub fn parse(text: &str) -> Result<Self, String> {
        match jiff::tz::TimeZone::get(text) {
            Ok(_) => Ok(Self(text.to_string())),
            Err(_) => Err(format!("unknown time zone {text:?}")),
        }
    }

    /// `UTC`.
    pub fn utc() -> Self {
        Self("UTC".to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for TzName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TzName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: crate::id::Id,
    pub name: String,
    pub timezone: TzName,
    /// Tried in order: the next one is used when the one before fails for good.
    pub contacts: Vec<Contact>,
    /// When set, the first matching rule picks (and orders) the contacts a
    /// page uses; see [`User::contact_chain`].
    pub notification_rules: Vec<NotificationRule>,
    /// What this person may do in the web UI.
    pub role: Role,
}

/// What a person may do in the web UI (`role` in `[[users]]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Reads everything; changes nothing.
    Observer,
    /// Answers alerts, manages overrides, silences and maintenance.
    #[default]
    Responder,
    /// Everything, including reloading the configuration.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Observer => "observer",
            Role::Responder => "responder",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Result<Role, String> {
        match s {
            "observer" => Ok(Role::Observer),
            "responder" => Ok(Role::Responder),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role {other:?}; expected \"admin\", \"responder\" or \"observer\""
            )),
        }
    }

    /// Whether this role may answer alerts and change overrides, silences
    /// and maintenance.
    pub fn can_respond(self) -> bool {
        self >= Role::Responder
    }
}

impl User {
    /// The contacts (indices, first to try first) a page of `severity` uses
    /// at `now`, by the user's notification rules.
    pub fn contact_chain(&self, severity: Severity, now: jiff::Timestamp) -> Vec<usize> {
        crate::notify_rules::contact_chain(
            &self.notification_rules,
            self.contacts.len(),
            &self.timezone,
            severity,
            now,
        )
    }
}

/// One way to reach a user, and the channel that delivers to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    Console,
    /// `channel` is `"webhook"` (the built-in: Firebell JSON, unsigned) or the
    /// name of a `[[channels]]` webhook; `url` is the contact's own or, when
    /// it gives none, the channel's.
    Webhook {
        url: String,
        channel: String,
    },
    /// Delivered by an smtp channel.
    Email {
        address: EmailAddress,
        channel: String,
    },
    /// Delivered by a program channel; `args` come after the channel's.
    Program {
        channel: String,
        args: Vec<(String, String)>,
    },
    /// A phone number (E.164, e.g. `+447700900123`) texted by an SMS
    /// channel (`http_sms`).
    Sms {
        number: E164Number,
        channel: String,
    },
    /// A phone number (E.164) called by a voice channel (`twilio`).
    Voice {
        number: E164Number,
        channel: String,
    },
}

impl Contact {
    /// The contact kind as written in the config (`sms`, `email`, …); rate
    /// limits are per kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Contact::Console => "console",
            Contact::Webhook { .. } => "webhook",
            Contact::Email { .. } => "email",
            Contact::Program { .. } => "program",
            Contact::Sms { .. } => "sms",
            Contact::Voice { .. } => "voice",
        }
    }

    /// The name of the channel that delivers to this contact.
    pub fn channel(&self) -> &str {
        match self {
            Contact::Console => "console",
            Contact::Webhook { channel, .. }
            | Contact::Email { channel, .. }
            | Contact::Program { channel, .. }
            | Contact::Sms { channel, .. }
            | Contact::Voice { channel, .. } => channel,
        }
    }

    /// The contact's identity, stable across reloads that reorder a person's
    /// contacts or change the channel that delivers to it: its kind and
    /// address (`sms:+447700900123`). Part of each page's idempotency key.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind(), self.address())
    }

    /// Where a page goes, as stored on the notification: `stdout`, the URL,
    /// the email address, or a program contact's own arguments as a JSON
    /// array of `--name=value` strings.
    pub fn address(&self) -> String {
        match self {
            Contact::Console => "stdout".to_string(),
            Contact::Webhook { url, .. } => url.clone(),
            Contact::Email { address, .. } => address.to_string(),
            Contact::Program { args, .. } => encode_args(args),
            Contact::Sms { number, .. } | Contact::Voice { number, .. } => number.to_string(),
        }
    }
}

/// A program contact's arguments as stored in the notification's `address`:
/// a JSON array of `--name=value` strings.
pub fn encode_args(args: &[(String, String)]) -> String {
    let v: Vec<String> = args.iter().map(|(k, v)| format!("--{k}={v}")).collect();
    serde_json::to_string(&v).unwrap_or_else(|_| "[]".to_string())
}

/// The arguments [`encode_args`] stored; `None` when `address` is not such
/// an array.
pub fn decode_args(address: &str) -> Option<Vec<String>> {
    serde_json::from_str(address).ok()
}
