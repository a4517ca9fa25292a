//! `[server]`: where Firebell listens and is reached, its secrets, limits.

use super::diag::{Errors, SecretSource, parse_duration, resolve_secret};
use jiff::SignedDuration;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// How long a one-click link works, unless `server.link_ttl` says otherwise.
pub const DEFAULT_LINK_TTL: SignedDuration = SignedDuration::from_hours(24);

/// The shortest admin token accepted.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 16;

pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    listen: Option<String>,
    pub(super) public_url: Option<String>,
    data_dir: Option<PathBuf>,
    admin_token: Option<String>,
    feed_secret: Option<String>,
    link_secret: Option<String>,
    link_ttl: Option<String>,
    max_body_bytes: Option<usize>,
    /// Region (ISO 3166 code) of phone numbers written without a country code.
    default_region: Option<String>,
    /// This node's name among the nodes sharing a database.
    node_name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub public_url: String,
    pub data_dir: PathBuf,
    pub admin_token: Option<SecretString>,
    /// Signs calendar feed URLs; without it they derive from the admin token.
    pub feed_secret: Option<SecretString>,
    /// Signs the one-click acknowledge/resolve links in pages; without it
    /// they derive from the admin token (the `links` module signs them).
    pub link_secret: Option<SecretString>,
    /// How long such a link works after its page was queued.
    pub link_ttl: SignedDuration,
    pub max_body_bytes: usize,
    /// Region (e.g. `GB`) for phone numbers without a country code.
    pub default_region: Option<String>,
    /// This node's name among the nodes sharing a database; `None`: the
    /// host name (looked up by the server at start).
    pub node_name: Option<String>,
}

/// How notifications are retried.
/// Validates `[server]`; problems go to `errors` as `server.<key>`.
pub(super) fn validate(
    raw: &RawServer,
    secrets: &dyn SecretSource,
    errors: &mut Errors,
) -> ServerConfig {
    let listen_text = raw.listen.as_deref().unwrap_or("127.0.0.1:8080");
    let listen = listen_text.parse::<SocketAddr>().unwrap_or_else(|_| {
        errors.hint(
            "server.listen",
            format!("{listen_text:?} is not an address"),
            "write host:port, e.g. \"127.0.0.1:8080\"",
        );
        SocketAddr::from(([127, 0, 0, 1], 8080))
    });
    let public_url = raw
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{listen}"));
    if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
        errors.hint(
            "server.public_url",
            format!("{public_url:?} is not an http(s) URL"),
            "the address people and providers reach this server at",
        );
    }
    let admin_token = raw
        .admin_token
        .as_deref()
        .and_then(|v| resolve_secret(errors, "server.admin_token", v, secrets));
    if admin_token
        .as_ref()
        .is_some_and(|t| t.expose_secret().chars().count() < MIN_ADMIN_TOKEN_CHARS)
    {
        errors.hint(
            "server.admin_token",
            format!("shorter than {MIN_ADMIN_TOKEN_CHARS} characters"),
            "it opens every API call and signs one-click links and calendar feeds: use a long random value (the starter configuration writes one)",
        );
    }
    let feed_secret = raw
        .feed_secret
        .as_deref()
        .and_then(|v| resolve_secret(errors, "server.feed_secret", v, secrets));
    let link_secret = raw
        .link_secret
        .as_deref()
        .and_then(|v| resolve_secret(errors, "server.link_secret", v, secrets));
    if link_secret
        .as_ref()
        .is_some_and(|s| s.expose_secret().len() < 16)
    {
        errors.hint(
            "server.link_secret",
            "shorter than 16 characters",
            "it signs links that act on alerts: use a long random value",
        );
    }
    let link_ttl = parse_duration(
        errors,
        "server.link_ttl",
        raw.link_ttl.as_deref(),
        Some(DEFAULT_LINK_TTL),
    );
    let max_body_bytes = raw.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
    if max_body_bytes < 1024 {
        errors.push("server.max_body_bytes", "must be at least 1024");
    }
    let node_name = raw.node_name.clone();
    if let Some(n) = &node_name
        && (n.is_empty()
            || n.len() > 64
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        errors.hint(
            "server.node_name",
            format!("{n:?} is not a node name"),
            "1 to 64 letters, digits, '.', '-' or '_', e.g. \"pager-1\"",
        );
    }
    ServerConfig {
        node_name,
        listen,
        public_url: public_url.trim_end_matches('/').to_string(),
        data_dir: raw
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("./firebell-data")),
        admin_token,
        feed_secret,
        link_secret,
        link_ttl,
        max_body_bytes,
        default_region: raw.default_region.as_deref().and_then(|r| {
            crate::sms::parse_region(r)
                .map_err(|e| errors.push("server.default_region", e))
                .ok()
        }),
    }
}
