//! `firebell user set-password ID`: sets a person's web UI password,
//! read from standard input, straight into the database the configuration
//! names (the server need not run; a running one sees it at once).

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use firebell_store::AccountStore;
use secrecy::ExposeSecret;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Set ID's password for the web UI, read from standard input (one
    /// line; at least 10 characters). Signs that person out everywhere.
    SetPassword { id: String },
}

/// The configuration file: the one given, else the starter's.
fn config_path(config: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = config {
        return Ok(p);
    }
    let starter = Path::new(crate::starter::DEFAULT_DATA_DIR).join("firebell.toml");
    if starter.exists() {
        Ok(starter)
    } else {
        bail!(
            "no configuration: pass --config FILE (or set FIREBELL_CONFIG); {} does not exist",
            starter.display()
        )
    }
}

pub async fn run(config: Option<PathBuf>, command: UserCommand) -> Result<ExitCode> {
    let UserCommand::SetPassword { id } = command;
    let path = config_path(config)?;
    let Some(config) = crate::load_config(&path) else {
        return Ok(ExitCode::FAILURE);
    };
    if !config.users.contains_key(&id) {
        eprintln!(
            "no user {id:?} in {}; users: {}",
            path.display(),
            config.users.keys().cloned().collect::<Vec<_>>().join(", ")
        );
        return Ok(ExitCode::FAILURE);
    }
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("reading the password from standard input")?;
    let password = input.lines().next().unwrap_or("");
    if let Err(e) = firebell_server::passwords::check_new_password(password) {
        eprintln!("password refused: {e}");
        return Ok(ExitCode::FAILURE);
    }
    let hash = firebell_server::passwords::hash_password(password).map_err(anyhow::Error::msg)?;
    let now = jiff::Timestamp::now();
    match config.database.url.clone() {
        None => {
            let dir = &config.server.data_dir;
            let store = firebell_sqlite::SqliteStore::open(dir)
                .with_context(|| format!("opening the database in {}", dir.display()))?;
            store.set_password(id.clone(), hash, now).await?;
        }
        Some(url) => {
            let store =
                firebell_postgres::PgStore::connect(url.expose_secret(), config.database.pool_size)
                    .await
                    .with_context(|| format!("connecting to {}", config.database.describe()))?;
            store.set_password(id.clone(), hash, now).await?;
        }
    }
    println!("Password set for {id}; their other sessions are signed out.");
    Ok(ExitCode::SUCCESS)
}
