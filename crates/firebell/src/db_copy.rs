//! `firebell db copy --from sqlite:PATH --to postgres://…`: moving up from
//! one node. The SQLite file is read in one read transaction (a snapshot)
//! on a blocking thread and streamed, table by table, into the PostgreSQL
//! side (`firebell_postgres::copy`), which writes it in one transaction and
//! checks every count before committing.

use anyhow::{Context, Result, bail};
use firebell_postgres::copy::{Cell, Kind, Msg, TABLES};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tokio::sync::mpsc;

/// Rows in flight between the reader and the writer.
const IN_FLIGHT: usize = 4096;

/// Where `--from sqlite:PATH` points: the database file, or the data
/// directory holding `firebell.db`.
fn source_file(from: &str) -> Result<PathBuf> {
    let Some(path) = from.strip_prefix("sqlite:") else {
        bail!("--from: write sqlite:PATH (the firebell.db file or its data directory)");
    };
    let path = PathBuf::from(path);
    let file = if path.is_dir() {
        path.join(firebell_sqlite::DB_FILE)
    } else {
        path
    };
    if !file.is_file() {
        bail!("--from: {} is not a Firebell database", file.display());
    }
    Ok(file)
}

/// `--to`: a postgres URL, or `env:NAME` to keep a password off the command line.
fn target_url(to: &str) -> Result<String> {
    let url = match to.strip_prefix("env:") {
        Some(name) => std::env::var(name).with_context(|| format!("--to: {name} is not set"))?,
        None => to.to_string(),
    };
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        bail!("--to: write a postgres:// URL (or env:NAME holding one)");
    }
    Ok(url)
}

pub async fn run(from: &str, to: &str) -> Result<ExitCode> {
    let file = source_file(from)?;
    let url = target_url(to)?;
    // Bring the file to the current schema (the server must be stopped).
    let data_dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
    drop(
        firebell_sqlite::SqliteStore::open(&data_dir)
            .with_context(|| format!("opening {}", file.display()))?,
    );
    let target = firebell_postgres::PgStore::connect(&url, 2)
        .await
        .context("connecting to the target database")?;
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    let reader_file = file.clone();
    let reader = tokio::task::spawn_blocking(move || {
        if let Err(e) = read_all(&reader_file, &tx) {
            let _ = tx.blocking_send(Msg::Failed(format!("{e:#}")));
        }
    });
    let copied = target.import(rx).await;
    let _ = reader.await;
    let copied = copied.context("copying")?;
    println!("copied {} into PostgreSQL:", file.display());
    for c in &copied {
        println!("  {:<22} {:>10} rows (counts match)", c.table, c.rows);
    }
    println!(
        "Start every node with [database] url set to this database; escalations in flight go on at their due times."
    );
    Ok(ExitCode::SUCCESS)
}

/// Streams every table of [`TABLES`] from one read transaction.
fn read_all(file: &Path, tx: &mpsc::Sender<Msg>) -> Result<()> {
    let mut conn = Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {}", file.display()))?;
    let snapshot = conn.transaction()?;
    for t in TABLES {
        let cols: Vec<&str> = t.columns.iter().map(|(n, _)| *n).collect();
        let from = t
            .sqlite_source
            .map_or_else(|| t.name.to_string(), |q| format!("({q})"));
        let mut stmt = snapshot.prepare(&format!(
            "SELECT {} FROM {from} ORDER BY {}",
            cols.join(", "),
            t.order
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let mut cells = Vec::with_capacity(t.columns.len());
            for (i, (_, kind)) in t.columns.iter().enumerate() {
                cells.push(match kind {
                    Kind::Int => Cell::Int(r.get(i)?),
                    Kind::Text => Cell::Text(r.get(i)?),
                    Kind::Bool => Cell::Bool(r.get::<_, Option<i64>>(i)?.map(|v| v != 0)),
                });
            }
            if tx.blocking_send(Msg::Row(cells)).is_err() {
                return Ok(()); // the writer gave up; it says why
            }
        }
        let rows: i64 =
            snapshot.query_row(&format!("SELECT count(*) FROM {from}"), [], |r| r.get(0))?;
        let last_id: Option<i64> = snapshot
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = ?1",
                [t.name],
                |r| r.get(0),
            )
            .optional()?;
        if tx
            .blocking_send(Msg::End {
                rows: rows as u64,
                last_id,
            })
            .is_err()
        {
            return Ok(());
        }
    }
    Ok(())
}
