//! The first-run experience: with no configuration file, `serve` writes a
//! starter configuration (random keys, a console user) into the data
//! directory and uses it.

use anyhow::{Context, Result};
use rand::Rng;
use std::path::{Path, PathBuf};

/// The starter configuration's one user.
pub const STARTER_USER: &str = "me";

pub const DEFAULT_DATA_DIR: &str = "./firebell-data";
pub const STARTER_FILE: &str = "firebell.toml";

fn random_token(prefix: &str) -> String {
    let mut rng = rand::rng();
    let s: String = (0..32)
        .map(|_| {
            let n = rng.random_range(0..36u8);
            char::from(if n < 10 { b'0' + n } else { b'a' + n - 10 })
        })
        .collect();
    format!("{prefix}{s}")
}

/// The starter configuration's path, writing it first if it does not exist.
/// Returns the path and whether it was written now.
pub fn ensure(data_dir: &Path) -> Result<(PathBuf, bool)> {
    let path = data_dir.join(STARTER_FILE);
    if path.exists() {
        return Ok((path, false));
    }
    // The directory holds the keys and the database: its owner's only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .with_context(|| format!("creating data directory {}", data_dir.display()))?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let abs = std::fs::canonicalize(data_dir)
        .with_context(|| format!("resolving {}", data_dir.display()))?;
    let text = format!(
        r#"# Firebell starter configuration, written on first run.
# Edit it, then reload: kill -HUP <pid>, or POST /-/reload with the admin token.
# Every key is described in docs/configuration.md.

[server]
listen = "127.0.0.1:8080"
public_url = "http://127.0.0.1:8080"
data_dir = "{data_dir}"
admin_token = "{admin}"

[[users]]
id = "me"
name = "You"
role = "admin"
timezone = "UTC"
contacts = [ {{ kind = "console" }} ]

[[policies]]
id = "default"
repeat = 3
steps = [ {{ targets = ["user:me"], wait = "5m" }} ]

[[services]]
id = "default"
name = "My first service"
policy = "default"
integrations = [ {{ kind = "generic", key = "{key}" }} ]
"#,
        data_dir = abs
            .display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\""),
        admin = random_token("fbadm_"),
        key = random_token("fbkey_"),
    );
    write_private(&path, &text)?;
    Ok((path, true))
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
