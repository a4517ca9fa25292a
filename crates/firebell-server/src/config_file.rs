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

/// Environment variables that override the file, and the key each sets:
/// what a packaged service or a container sets without editing the file.
pub const ENV_OVERRIDES: &[(&str, &str, &str)] = &[
    ("FIREBELL_LISTEN", "server", "listen"),
    ("FIREBELL_PUBLIC_URL", "server", "public_url"),
    ("FIREBELL_DATA_DIR", "server", "data_dir"),
    ("FIREBELL_DATABASE_URL", "database", "url"),
];

/// Reads and validates the configuration at `path`, with
/// [`ENV_OVERRIDES`] from this process's environment applied.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            path: path.display().to_string(),
            message: format!("cannot read the configuration file: {e}"),
            hint: None,
        }])
    })?;
    parse_with_env(&text, |name| std::env::var(name).ok())
}

/// Parses `text` with the overrides `env` gives. Each value is checked as
/// the key it replaces; an error about it names the variable.
pub fn parse_with_env(
    text: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let set: Vec<(&str, &str, &str, String)> = ENV_OVERRIDES
        .iter()
        .filter_map(|(var, table, key)| {
            env(var)
                .filter(|v| !v.is_empty())
                .map(|v| (*var, *table, *key, v))
        })
        .collect();
    if set.is_empty() {
        return config::parse(text, &SystemSecrets);
    }
    // A file that is not TOML is reported as it is.
    let Ok(mut doc) = toml::from_str::<toml::Table>(text) else {
        return config::parse(text, &SystemSecrets);
    };
    for (_, table, key, value) in &set {
        let t = doc
            .entry(table.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(t) = t {
            t.insert(key.to_string(), toml::Value::String(value.clone()));
        }
    }
    let text = toml::to_string(&doc).unwrap_or_default();
    config::parse(&text, &SystemSecrets).map_err(|mut errors| {
        for e in &mut errors.0 {
            if let Some((var, table, key, _)) = set
                .iter()
                .find(|(_, table, key, _)| e.path == format!("{table}.{key}"))
            {
                e.path = format!("{var} (overriding {table}.{key})");
            }
        }
        errors
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const FILE: &str = r#"
[server]
listen = "127.0.0.1:8080"
public_url = "http://127.0.0.1:8080"
data_dir = "/var/lib/firebell"
admin_token = "an-admin-token-of-16+"

[[users]]
id = "alice"
contacts = [ { kind = "console" } ]
"#;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_environment_overrides_listen_public_url_data_dir_and_database() {
        let c = parse_with_env(FILE, env(&[])).unwrap();
        assert_eq!(c.server.public_url, "http://127.0.0.1:8080");
        let c = parse_with_env(
            FILE,
            env(&[
                ("FIREBELL_LISTEN", "127.0.0.1:9999"),
                ("FIREBELL_PUBLIC_URL", "https://firebell.example.com/"),
                ("FIREBELL_DATA_DIR", "/srv/firebell"),
                ("FIREBELL_DATABASE_URL", "postgres://fb:pw@db1/firebell"),
            ]),
        )
        .unwrap();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:9999");
        assert_eq!(c.server.public_url, "https://firebell.example.com");
        assert_eq!(c.server.data_dir, std::path::PathBuf::from("/srv/firebell"));
        assert!(c.database.url.is_some());
        assert!(
            !c.database.describe().contains("pw"),
            "the password stays secret"
        );
        // The nodes' shared digest ignores what the environment sets.
        assert_eq!(c.digest, parse_with_env(FILE, env(&[])).unwrap().digest);
    }

    #[test]
    fn a_bad_override_is_an_error_naming_the_variable() {
        let e = parse_with_env(FILE, env(&[("FIREBELL_PUBLIC_URL", "ftp://x")])).unwrap_err();
        assert!(
            e.0.iter()
                .any(|e| e.path == "FIREBELL_PUBLIC_URL (overriding server.public_url)"),
            "{e:?}"
        );
        let e = parse_with_env(FILE, env(&[("FIREBELL_LISTEN", "nowhere")])).unwrap_err();
        assert!(
            e.0.iter().any(|e| e.path.starts_with("FIREBELL_LISTEN")),
            "{e:?}"
        );
    }
}
