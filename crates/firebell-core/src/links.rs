//! Signed one-click action links: the "acknowledge" and "resolve" links in a
//! page (an email) that work without logging in, for one alert only, until
//! they expire.
//!
//! A link is `{public_url}/links/alerts/{id}/{action}?token=TOKEN`. The token
//! carries the alert id, the action, the user the page went to and the expiry,
//! and an HMAC-SHA256 over them, so it cannot be moved to another alert or
//! action, stretched, or forged. The key is `[server] link_secret`, or derived
//! from the admin token when that is not set (changing either revokes every
//! link at once). Expiry counts from when the page was queued
//! (`[server] link_ttl`, 24 hours by default), so every attempt at one page
//! carries the same links.
//!
//! Opening a link (GET) only shows a confirmation page; the button on it
//! POSTs, which acts. Mail scanners fetch links; they do not press buttons.

use crate::alert::AlertId;
use crate::config::Config;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// How long a link works when `[server] link_ttl` is not set.
pub use crate::config::DEFAULT_LINK_TTL;

/// Where links live on the server: `{LINK_PATH}/{id}/{action}`.
pub const LINK_PATH: &str = "/links/alerts";

/// What a link does.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LinkAction {
    Acknowledge,
    Resolve,
    /// Runs the alert's runbook action with this id (`run-drain`).
    Run(String),
}

impl LinkAction {
    /// "acknowledged", "resolved", "started".
    pub fn past(&self) -> &'static str {
        match self {
            LinkAction::Acknowledge => "acknowledged",
            LinkAction::Resolve => "resolved",
            LinkAction::Run(_) => "started",
        }
    }
}

/// As it appears in the URL and the token: `acknowledge`, `resolve`,
/// `run-{action id}`.
impl fmt::Display for LinkAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkAction::Acknowledge => f.write_str("acknowledge"),
            LinkAction::Resolve => f.write_str("resolve"),
            LinkAction::Run(id) => write!(f, "run-{id}"),
        }
    }
}

impl FromStr for LinkAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "acknowledge" => Ok(LinkAction::Acknowledge),
            "resolve" => Ok(LinkAction::Resolve),
            other => match other.strip_prefix("run-") {
                Some(id) if crate::id::Id::parse(id).is_ok() => Ok(LinkAction::Run(id.to_string())),
                _ => Err(format!("unknown link action {other:?}")),
            },
        }
    }
}

/// What a valid token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkClaim {
    pub alert_id: AlertId,
    pub action: LinkAction,
    /// The user the page went to: the timeline says who acted.
    pub user: String,
    /// The link works before this instant.
    pub expires: Timestamp,
}

/// Why a token was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not a token, or changed since it was signed, or signed with another key.
    #[error("this link is not valid: it is incomplete, was changed, or its key was replaced")]
    Invalid,
    /// A genuine token, presented for another alert.
    #[error("this link is for another alert")]
    OtherAlert,
    /// A genuine token, presented for the other action.
    #[error("this link is for another action")]
    OtherAction,
    #[error("this link expired at {0}")]
    Expired(Timestamp),
}

type HmacSha256 = Hmac<Sha256>;

/// Signs and checks tokens with one key.
#[derive(Clone)]
pub struct LinkSigner {
    key: [u8; 32],
}

impl fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkSigner(..)")
    }
}

impl LinkSigner {
    /// A signer whose key derives from `secret` (domain-separated, so the same
    /// admin token gives different feed tokens and link keys).
    pub fn new(secret: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(b"firebell-link\0");
        h.update(secret);
        Self {
            key: h.finalize().into(),
        }
    }

    /// The configured signer: `server.link_secret`, else the admin token;
    /// `None` when neither is set (pages then carry no links).
    pub fn from_config(config: &Config) -> Option<Self> {
        let secret = config
            .server
            .link_secret
            .as_ref()
            .or(config.server.admin_token.as_ref())?;
        Some(Self::new(secret.expose_secret().as_bytes()))
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length; 32 bytes cannot be refused.
        <HmacSha256 as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!())
    }

    /// The token for `claim`: base64url(payload) "." base64url(HMAC).
    pub fn sign(&self, claim: &LinkClaim) -> String {
        let payload = format!(
            "{}\n{}\n{}\n{}",
            claim.alert_id,
            claim.action,
            claim.expires.as_second(),
            claim.user
        );
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload.as_bytes()),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// Checks `token` presented to act on `alert_id` with `action` at `now`.
    /// The signature is checked first, in constant time; only a genuine
    /// token is then read.
    pub fn verify(
        &self,
        token: &str,
        alert_id: AlertId,
        action: &LinkAction,
        now: Timestamp,
    ) -> Result<LinkClaim, LinkError> {
        let (payload_b64, tag_b64) = token.split_once('.').ok_or(LinkError::Invalid)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| LinkError::Invalid)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag_b64)
            .map_err(|_| LinkError::Invalid)?;
        let mut mac = self.mac();
        mac.update(&payload);
        mac.verify_slice(&tag).map_err(|_| LinkError::Invalid)?;
        let claim = parse_payload(&payload).ok_or(LinkError::Invalid)?;
        if claim.alert_id != alert_id {
            return Err(LinkError::OtherAlert);
        }
        if &claim.action != action {
            return Err(LinkError::OtherAction);
        }
        if now >= claim.expires {
            return Err(LinkError::Expired(claim.expires));
        }
        Ok(claim)
    }
}

fn parse_payload(payload: &[u8]) -> Option<LinkClaim> {
    let text = std::str::from_utf8(payload).ok()?;
    let mut parts = text.splitn(4, '\n');
    let alert_id = parts.next()?.parse().ok()?;
    let action = parts.next()?.parse().ok()?;
    let expires = Timestamp::from_second(parts.next()?.parse().ok()?).ok()?;
    let user = parts.next()?.to_string();
    Some(LinkClaim {
        alert_id,
        action,
        user,
        expires,
    })
}

/// The links one page carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionLinks {
    pub acknowledge: String,
    pub resolve: String,
    /// When both stop working.
    pub expires: Timestamp,
}

/// The acknowledge and resolve links for a page to `user` about `alert_id`,
/// queued at `queued_at`. `None` when there is no key to sign with, or the
/// page is not about a stored alert (test pages and notices use id 0).
pub fn action_links(
    config: &Config,
    alert_id: AlertId,
    user: &str,
    queued_at: Timestamp,
) -> Option<ActionLinks> {
    if alert_id <= 0 {
        return None;
    }
    let signer = LinkSigner::from_config(config)?;
    let expires = queued_at
        .checked_add(config.server.link_ttl)
        .unwrap_or(Timestamp::MAX);
    let url = |action: LinkAction| {
        let token = signer.sign(&LinkClaim {
            alert_id,
            action: action.clone(),
            user: user.to_string(),
            expires,
        });
        link_url(&config.server.public_url, alert_id, &action, &token)
    };
    Some(ActionLinks {
        acknowledge: url(LinkAction::Acknowledge),
        resolve: url(LinkAction::Resolve),
        expires,
    })
}

/// A page's one-click links to the runbook actions `alert` offers: each
/// action's label and its signed link (a confirmation page, as for
/// acknowledge). Empty without a key to sign with.
pub fn run_links(
    config: &Config,
    alert: &crate::alert::Alert,
    user: &str,
    queued_at: Timestamp,
) -> Vec<(String, String)> {
    let Some(signer) = LinkSigner::from_config(config).filter(|_| alert.id > 0) else {
        return Vec::new();
    };
    let expires = queued_at
        .checked_add(config.server.link_ttl)
        .unwrap_or(Timestamp::MAX);
    config
        .actions
        .for_alert(alert)
        .into_iter()
        .map(|a| {
            let action = LinkAction::Run(a.id.clone());
            let token = signer.sign(&LinkClaim {
                alert_id: alert.id,
                action: action.clone(),
                user: user.to_string(),
                expires,
            });
            (
                a.label_for(alert),
                link_url(&config.server.public_url, alert.id, &action, &token),
            )
        })
        .collect()
}

/// `{public_url}/links/alerts/{id}/{action}?token={token}` (the token is
/// URL-safe as it is).
pub fn link_url(public_url: &str, alert_id: AlertId, action: &LinkAction, token: &str) -> String {
    format!(
        "{}{LINK_PATH}/{alert_id}/{action}?token={token}",
        public_url.trim_end_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn claim() -> LinkClaim {
        LinkClaim {
            alert_id: 1,
            action: LinkAction::Acknowledge,
            user: "alice".into(),
            expires: t("2026-03-02T09:00:00Z"),
        }
    }

    fn signer() -> LinkSigner {
        LinkSigner::new(b"a long random link secret")
    }

    #[test]
    fn a_token_round_trips_until_it_expires() {
        let s = signer();
        let token = s.sign(&claim());
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "{token}"
        );
        let now = t("2026-03-01T09:00:00Z");
        assert_eq!(
            s.verify(&token, 1, &LinkAction::Acknowledge, now),
            Ok(claim())
        );
        let last = t("2026-03-02T08:59:59Z");
        assert!(s.verify(&token, 1, &LinkAction::Acknowledge, last).is_ok());
        let at_expiry = t("2026-03-02T09:00:00Z");
        assert_eq!(
            s.verify(&token, 1, &LinkAction::Acknowledge, at_expiry),
            Err(LinkError::Expired(at_expiry))
        );
        let err = s
            .verify(
                &token,
                1,
                &LinkAction::Acknowledge,
                t("2026-03-05T00:00:00Z"),
            )
            .unwrap_err();
        assert_eq!(err.to_string(), "this link expired at 2026-03-02T09:00:00Z");
    }

    #[test]
    fn a_token_for_one_alert_does_not_open_another() {
        let s = signer();
        let token = s.sign(&claim());
        let now = t("2026-03-01T09:00:00Z");
        assert_eq!(
            s.verify(&token, 2, &LinkAction::Acknowledge, now),
            Err(LinkError::OtherAlert)
        );
        assert_eq!(
            s.verify(&token, 1, &LinkAction::Resolve, now),
            Err(LinkError::OtherAction)
        );
    }

    #[test]
    fn any_change_to_a_token_breaks_it() {
        let s = signer();
        let token = s.sign(&claim());
        let now = t("2026-03-01T09:00:00Z");
        // Every single-character change anywhere in the token.
        for i in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(bytes).unwrap();
            if changed == token {
                continue;
            }
            let r = s.verify(&changed, 1, &LinkAction::Acknowledge, now);
            assert_eq!(r, Err(LinkError::Invalid), "position {i}: {changed}");
        }
        // A later expiry or another alert, re-encoded without the key.
        let (_, tag) = token.split_once('.').unwrap();
        for payload in [
            "1\nacknowledge\n1999999999\nalice",
            "2\nacknowledge\n1772442000\nalice",
            "1\nacknowledge\n1772442000\nmallory",
        ] {
            let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(payload));
            assert_eq!(
                s.verify(&forged, 1, &LinkAction::Acknowledge, now),
                Err(LinkError::Invalid),
                "{payload:?}"
            );
        }
        for junk in [
            "",
            ".",
            "abc",
            "abc.def",
            "!!!.???",
            &token[..token.len() - 1],
        ] {
            assert_eq!(
                s.verify(junk, 1, &LinkAction::Acknowledge, now),
                Err(LinkError::Invalid),
                "{junk:?}"
            );
        }
    }

    #[test]
    fn another_key_does_not_verify() {
        let token = signer().sign(&claim());
        let other = LinkSigner::new(b"another long random secret");
        assert_eq!(
            other.verify(
                &token,
                1,
                &LinkAction::Acknowledge,
                t("2026-03-01T09:00:00Z")
            ),
            Err(LinkError::Invalid)
        );
    }

    #[test]
    fn links_come_from_the_config_and_expire_after_link_ttl() {
        let text = "[server]\npublic_url = \"https://pager.example.com/\"\nlink_secret = \"0123456789abcdef0123\"\nlink_ttl = \"2h\"\n";
        let config = crate::config::parse(text, &crate::config::MapSecrets::default()).unwrap();
        let queued = t("2026-03-01T09:00:00Z");
        let links = action_links(&config, 42, "alice", queued).unwrap();
        assert_eq!(links.expires, t("2026-03-01T11:00:00Z"));
        let prefix = "https://pager.example.com/links/alerts/42/acknowledge?token=";
        assert!(links.acknowledge.starts_with(prefix), "{links:?}");
        let token = &links.acknowledge[prefix.len()..];
        let s = LinkSigner::from_config(&config).unwrap();
        let c = s
            .verify(token, 42, &LinkAction::Acknowledge, queued)
            .unwrap();
        assert_eq!(c.user, "alice");
        assert!(
            links
                .resolve
                .starts_with("https://pager.example.com/links/alerts/42/resolve?token=")
        );
        assert!(action_links(&config, 0, "alice", queued).is_none());

        let no_secret = crate::config::parse("", &crate::config::MapSecrets::default()).unwrap();
        assert!(action_links(&no_secret, 42, "alice", queued).is_none());

        let errs = crate::config::parse(
            "[server]\nlink_secret = \"short\"\nlink_ttl = \"-1h\"\n",
            &crate::config::MapSecrets::default(),
        )
        .unwrap_err();
        let paths: Vec<&str> = errs.0.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["server.link_secret", "server.link_ttl"], "{errs}");
    }
}
