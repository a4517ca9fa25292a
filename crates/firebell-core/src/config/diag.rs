//! The leaf every configuration section imports: the error collector
//! (path, message, hint), where secrets come from, and the parsers of
//! durations and ids. It imports no other module of this crate, so a domain
//! module can validate its own section without importing `config`.

use jiff::SignedDuration;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in the configuration, with where it is and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

/// Every problem found, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Where `env:NAME` and `file:PATH` secret values are looked up.
pub trait SecretSource {
    fn env(&self, name: &str) -> Option<String>;
    fn file(&self, path: &str) -> Result<String, String>;
    /// Whether a program channel's `path` exists and may be run. This crate
    /// does no I/O: the server's file source looks at the file system.
    fn executable(&self, path: &std::path::Path) -> Result<(), String>;
}

/// Secrets from maps instead of the environment and the file system: for
/// tests and tools that check a configuration away from where it runs.
/// Unlisted variables and files are missing; a program path counts as
/// executable when it lies under one of `programs` (any path when empty).
#[derive(Clone, Debug, Default)]
pub struct MapSecrets {
    pub env: BTreeMap<String, String>,
    pub files: BTreeMap<String, String>,
    pub programs: Vec<PathBuf>,
}

impl MapSecrets {
    pub fn with_env(mut self, name: &str, value: &str) -> Self {
        self.env.insert(name.to_string(), value.to_string());
        self
    }
}

impl SecretSource for MapSecrets {
    fn env(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
    fn file(&self, path: &str) -> Result<String, String> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| "No such file or directory".to_string())
    }
    fn executable(&self, path: &Path) -> Result<(), String> {
        if self.programs.is_empty() || self.programs.iter().any(|d| path.starts_with(d)) {
            Ok(())
        } else {
            Err("no such file".to_string())
        }
    }
}

/// Collects every problem found while validating, in file order.
pub(crate) struct Errors(pub(crate) Vec<ConfigError>);

impl Errors {
    pub(crate) fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError {
            path: path.into(),
            message: message.into(),
            hint: None,
        });
    }
    pub(crate) fn hint(
        &mut self,
        path: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.0.push(ConfigError {
            path: path.into(),
            message: message.into(),
            hint: Some(hint.into()),
        });
    }
}

pub(crate) fn parse_duration(
    errors: &mut Errors,
    path: &str,
    value: Option<&str>,
    default: Option<SignedDuration>,
) -> SignedDuration {
    match value {
        None => match default {
            Some(d) => d,
            None => {
                errors.hint(
                    path,
                    "missing",
                    "write a duration such as \"5m\" or \"30s\"",
                );
                SignedDuration::ZERO
            }
        },
        Some(s) => match crate::clock::parse_duration(s) {
            Some(d) if d.is_positive() => d,
            Some(_) => {
                errors.hint(
                    path,
                    format!("{s:?} is not a positive duration"),
                    "such as \"5m\"",
                );
                SignedDuration::ZERO
            }
            None => {
                errors.hint(
                    path,
                    format!("{s:?} is not a duration"),
                    "write it like \"30s\", \"5m\" or \"1h 30m\"",
                );
                SignedDuration::ZERO
            }
        },
    }
}

/// An optional duration that must lie within `range` (inclusive).
pub(crate) fn bounded_duration(
    errors: &mut Errors,
    path: &str,
    value: Option<&str>,
    range: (SignedDuration, SignedDuration),
    allowed: &str,
) -> Option<SignedDuration> {
    let value = value?;
    let Some(d) = crate::clock::parse_duration(value).filter(|d| d.is_positive()) else {
        errors.hint(
            path,
            format!("{value:?} is not a positive duration"),
            "write it like \"30m\", \"4h\" or \"7d\"",
        );
        return None;
    };
    if d < range.0 || d > range.1 {
        errors.hint(
            path,
            format!("{value:?} is out of range"),
            format!("write a duration {allowed}"),
        );
        return None;
    }
    Some(d)
}

pub(crate) fn resolve_secret(
    errors: &mut Errors,
    path: &str,
    value: &str,
    secrets: &dyn SecretSource,
) -> Option<SecretString> {
    let resolved = if let Some(name) = value.strip_prefix("env:") {
        match secrets.env(name) {
            Some(v) => v,
            None => {
                errors.hint(
                    path,
                    format!("environment variable {name} is not set"),
                    format!("export {name}=... before starting, or write the value inline"),
                );
                return None;
            }
        }
    } else if let Some(file) = value.strip_prefix("file:") {
        match secrets.file(file) {
            Ok(v) => v.trim_end_matches(['\n', '\r']).to_string(),
            Err(e) => {
                errors.push(path, format!("cannot read secret file {file}: {e}"));
                return None;
            }
        }
    } else {
        value.to_string()
    };
    if resolved.is_empty() {
        errors.push(path, "is empty");
        return None;
    }
    Some(SecretString::from(resolved))
}

pub(crate) fn check_id(errors: &mut Errors, path: &str, id: &str) -> Option<crate::id::Id> {
    crate::id::Id::parse(id)
        .map_err(|e| errors.hint(path, e, crate::id::ID_RULE))
        .ok()
}

pub(crate) fn known_list<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&str> = names.map(String::as_str).collect();
    if v.is_empty() {
        "none are defined".to_string()
    } else {
        format!("known: {}", v.join(", "))
    }
}

/// The SHA-256 of a key: keys are looked up and compared by their hash,
/// so the time taken says nothing about how much of a wrong key was right.
pub(crate) fn key_hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}
