//! `[[users]]`: people, their time zones and contacts (each checked against
//! the channel that delivers it), and their notification rules.

use super::diag::{Errors, check_id};
use crate::channels::ChannelConfig;
use crate::contacts::{Contact, Role, TzName, User};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUser {
    pub(super) id: String,
    name: Option<String>,
    timezone: Option<String>,
    /// Region of this user's national phone numbers (else the server's).
    region: Option<String>,
    /// What this person may do in the web UI (default "responder").
    role: Option<String>,
    #[serde(default)]
    contacts: Vec<RawContact>,
    /// Which contacts a page uses, by severity and local time.
    #[serde(default)]
    notification_rules: Vec<crate::notify_rules::RawNotificationRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContact {
    kind: String,
    url: Option<String>,
    /// The `[[channels]]` entry that delivers to this contact.
    channel: Option<String>,
    /// An email contact's address.
    address: Option<String>,
    /// A program contact's arguments, after the channel's.
    args: Option<crate::channels::Args>,
    /// An sms contact's phone number.
    number: Option<String>,
}

/// Validates every `[[users]]` table; problems go to `errors` as
/// `users[N].<key>`. `default_region` is `[server] default_region`.
pub(super) fn validate(
    raw: &[RawUser],
    channels: &BTreeMap<String, ChannelConfig>,
    default_region: Option<&str>,
    errors: &mut Errors,
) -> BTreeMap<String, User> {
    let mut users = BTreeMap::new();
    for (i, u) in raw.iter().enumerate() {
        let path = format!("users[{i}]");
        let id = check_id(errors, &format!("{path}.id"), &u.id);
        let timezone = match u.timezone.as_deref().map(TzName::parse) {
            None => TzName::utc(),
            Some(Ok(tz)) => tz,
            Some(Err(e)) => {
                errors.hint(
                    format!("{path}.timezone"),
                    e,
                    "use an IANA name such as \"Europe/London\"",
                );
                TzName::utc()
            }
        };
        let region = match u.region.as_deref() {
            Some(r) => crate::sms::parse_region(r)
                .map_err(|e| errors.push(format!("{path}.region"), e))
                .ok(),
            None => default_region.map(str::to_string),
        };
        let role = match u.role.as_deref().map(Role::parse) {
            None => Role::default(),
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                errors.push(format!("{path}.role"), e);
                Role::default()
            }
        };
        let mut contacts = Vec::new();
        for (j, c) in u.contacts.iter().enumerate() {
            let cpath = format!("{path}.contacts[{j}]");
            let raw_contact = crate::channels::contact::RawContactRef {
                kind: &c.kind,
                url: c.url.as_deref(),
                channel: c.channel.as_deref(),
                address: c.address.as_deref(),
                args: c.args.as_ref(),
                number: c.number.as_deref(),
                region: region.as_deref(),
            };
            if let Some(contact) =
                crate::channels::contact::contact(&raw_contact, &cpath, channels, errors)
            {
                contacts.push(contact);
            }
        }
        if u.contacts.is_empty() {
            errors.hint(
                format!("{path}.contacts"),
                "no contact methods: this user can never be paged",
                "add e.g. { kind = \"console\" }",
            );
        }
        let notification_rules = if contacts.len() == u.contacts.len() {
            crate::notify_rules::validate(
                &u.notification_rules,
                &contacts.iter().map(Contact::kind).collect::<Vec<_>>(),
                &format!("{path}.notification_rules"),
                errors,
            )
        } else {
            Vec::new() // a contact is invalid: its error is reported already
        };
        // An invalid id is reported above; the configuration will not load.
        let Some(id) = id else { continue };
        let user = User {
            id,
            name: u.name.clone().unwrap_or_else(|| u.id.clone()),
            timezone,
            contacts,
            notification_rules,
            role,
        };
        if users.insert(u.id.clone(), user).is_some() {
            errors.push(
                format!("{path}.id"),
                format!("duplicate user id {:?}", u.id),
            );
        }
    }
    users
}
