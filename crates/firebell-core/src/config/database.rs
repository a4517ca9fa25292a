//! `[database]`: where the state lives. Absent, an embedded SQLite file in
//! `server.data_dir`; with `url`, a PostgreSQL database that any number of
//! nodes share.

use super::diag::{Errors, SecretSource, resolve_secret};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Pooled connections per node, unless `database.pool_size` says otherwise.
pub const DEFAULT_POOL_SIZE: usize = 16;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDatabase {
    url: Option<String>,
    pool_size: Option<usize>,
    keep_resolved: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct DatabaseConfig {
    /// `postgres://…` (it may carry a password: a secret, never logged);
    /// `None` for the embedded SQLite database.
    pub url: Option<SecretString>,
    pub pool_size: usize,
    /// Resolved alerts older than this are deleted (with their timeline and
    /// pages); `None` keeps them for ever.
    pub keep_resolved: Option<jiff::SignedDuration>,
}

impl DatabaseConfig {
    /// What to call the database in logs and summaries: no password, no user.
    pub fn describe(&self) -> String {
        match &self.url {
            None => "sqlite".into(),
            Some(url) => {
                let url = url.expose_secret();
                let rest = url.split_once("://").map_or(url, |(_, r)| r);
                let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
                let rest = rest.split_once('?').map_or(rest, |(r, _)| r);
                format!("postgres {rest}")
            }
        }
    }
}

pub(super) fn validate(
    raw: &RawDatabase,
    secrets: &dyn SecretSource,
    errors: &mut Errors,
) -> DatabaseConfig {
    let url = raw
        .url
        .as_deref()
        .and_then(|v| resolve_secret(errors, "database.url", v, secrets));
    // The value is never echoed: it may hold a password.
    if let Some(u) = &url
        && !(u.expose_secret().starts_with("postgres://")
            || u.expose_secret().starts_with("postgresql://"))
    {
        errors.hint(
            "database.url",
            "is not a PostgreSQL URL",
            "write postgres://USER@HOST[,HOST2]/DB?target_session_attrs=read-write, or leave [database] out for the embedded SQLite",
        );
    }
    let pool_size = raw.pool_size.unwrap_or(DEFAULT_POOL_SIZE);
    if !(2..=1000).contains(&pool_size) {
        errors.push("database.pool_size", "must be between 2 and 1000");
    }
    let keep_resolved = raw.keep_resolved.as_deref().and_then(|v| {
        let d = super::diag::parse_duration(errors, "database.keep_resolved", Some(v), None);
        if d < jiff::SignedDuration::from_mins(1)
            || d > jiff::SignedDuration::from_hours(24 * 36_500)
        {
            errors.hint(
                "database.keep_resolved",
                "must be between 1m and 100 years",
                "how long resolved alerts are kept, e.g. \"90d\"",
            );
            return None;
        }
        Some(d)
    });
    DatabaseConfig {
        url,
        pool_size,
        keep_resolved,
    }
}
