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
    fn executable(&self, path: &Path) -> Result<(), String> {
        check_executable(path)
    }
}

/// The checks a program path gets at load (what [`SystemSecrets`] answers for
/// `SecretSource::executable`).
pub fn check_executable(path: &std::path::Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        _ => e.to_string(),
    })?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o111 == 0 {
            return Err("not executable (chmod +x it)".into());
        }
    }
    Ok(())
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
