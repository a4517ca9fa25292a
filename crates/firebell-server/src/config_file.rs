//! Reading the configuration file, with `env:` and `file:` secrets resolved
//! from this process's environment and file system.

use firebell_core::config::{self, Config, ConfigError, ConfigErrors, SecretSource};
use std::path::Path;

/// Secrets from the real environment and files.
pub struct SystemSecrets;

impl SecretSource for SystemSecrets {
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn file(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| e.to_string())
    }
}

/// Reads and validates the configuration at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            path: path.display().to_string(),
            message: format!("cannot read the configuration file: {e}"),
            hint: None,
        }])
    })?;
    config::parse(&text, &SystemSecrets)
}
