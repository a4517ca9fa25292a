//! What the fuzz targets share: a fixed clock and a small configuration.

use firebell_core::config::{Config, MapSecrets};
use jiff::Timestamp;
use std::sync::OnceLock;

/// The instant every target runs at (a fixed one keeps runs repeatable).
pub fn now() -> Timestamp {
    Timestamp::from_second(1_796_000_000).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A configuration with one user, policy and service of each integration
/// kind, and the admin token that link and feed signing keys derive from.
pub const CONFIG: &str = r#"
[server]
listen = "127.0.0.1:8080"
public_url = "https://firebell.example.com"
data_dir = "/nonexistent"
admin_token = "fuzzing-admin-token-0123456789"

[[users]]
id = "alice"
contacts = [ { kind = "console" } ]

[[policies]]
id = "p"
steps = [ { targets = ["user:alice"], wait = "5m" } ]

[[schedules]]
id = "weekdays"
timezone = "Europe/London"
layers = [ { name = "24/7", participants = ["alice"], shift = "1w", first_handoff = "2026-01-05T09:00" } ]

[[services]]
id = "checkout"
name = "Checkout"
policy = "p"
integrations = [
  { kind = "generic", key = "generic-key-0001" },
  { kind = "alertmanager", key = "alertmanager-key-0001" },
  { kind = "vtm", key = "vtm-key-000000001" },
]
"#;

/// [`CONFIG`], parsed once.
pub fn config() -> &'static Config {
    static CONFIG_ONCE: OnceLock<Config> = OnceLock::new();
    CONFIG_ONCE.get_or_init(|| {
        firebell_core::config::parse(CONFIG, &MapSecrets::default())
            .unwrap_or_else(|e| panic!("the fuzz configuration must load: {e}"))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_fuzz_configuration_loads() {
        let _ = super::config();
    }
}
