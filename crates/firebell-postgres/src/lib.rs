//! Firebell's shared store: [`firebell_store::Store`] on PostgreSQL, so that
//! any number of `firebell serve` nodes share one database.
//!
//! - Connections come from a pool (deadpool-postgres over tokio-postgres);
//!   the URL may name several hosts with `target_session_attrs=read-write`,
//!   so a node follows a promoted standby.
//! - Every store method is one transaction. Conditional writes are single
//!   `UPDATE … WHERE version = $n` statements (of two racing nodes exactly
//!   one changes the row); claims lock rows with `FOR UPDATE SKIP LOCKED`;
//!   ingest takes a transaction-scoped advisory lock per (service, dedup key)
//!   so two nodes receiving the same event at once open one alert.
//! - A transaction that lost a deadlock or a serialization check is run again
//!   (a few times), so callers see it only when it keeps failing.
//! - Concurrent commits share WAL flushes inside PostgreSQL (its own group
//!   commit); ingest requests arrive as batches and each batch is one
//!   transaction, as on SQLite.
//! - Nodes wake each other: work queued for now is announced with `NOTIFY`
//!   at commit, and each node `LISTEN`s on one connection (`wake`).
//! - The schema is migrated at connect under an advisory lock, so nodes
//!   starting together migrate once.
#![forbid(unsafe_code)]

mod accounts;
mod alerts;
mod bundles;
mod changes;
pub mod copy;
mod error;
mod escalations;
mod heartbeats;
mod maintenance;
mod nodes;
mod outbox;
mod overrides;
mod probes;
mod receipts;
mod rows;
mod schema;
mod silences;
mod sql;
#[cfg(feature = "test-server")]
pub mod testing;
mod timeouts;
mod wake;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use firebell_store::{Result, StoreError};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

pub use error::describe;

/// How long opening one connection may take before the store says the
/// database is unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a caller waits for a free pooled connection.
const WAIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections per node, unless the caller says otherwise.
pub const DEFAULT_POOL_SIZE: usize = 16;
/// Runs of one transaction that hit a deadlock or serialization failure.
const ATTEMPTS: u32 = 4;

/// The PostgreSQL store. Cheap to clone (a pool handle).
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// Group commit for ingest (see `alerts::Gatherer`); set once connected.
    gatherer: std::sync::Arc<std::sync::OnceLock<alerts::Gatherer>>,
    /// Called when another node queued work (see `wake`).
    wakers: std::sync::Arc<wake::Wakers>,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to `url` (a `postgres://` URL or a libpq key=value string),
    /// brings the schema up to date and returns the store. Fails when the
    /// database cannot be reached or migrated.
    pub async fn connect(url: &str, pool_size: usize) -> Result<PgStore> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|e| StoreError::Backend(format!("database url: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("firebell");
        }
        let listener_config = config.clone();
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(2))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(WAIT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT + Duration::from_secs(1)))
            .build()
            .map_err(|e| StoreError::Backend(format!("database pool: {e}")))?;
        let store = PgStore {
            pool,
            gatherer: std::sync::Arc::new(std::sync::OnceLock::new()),
            wakers: std::sync::Arc::default(),
        };
        {
            let mut client = store.client().await?;
            schema::migrate(&mut client).await?;
        }
        // The workers hold a handle without the gatherer, so the last handle
        // a caller drops closes the queue and ends them.
        let gatherer = alerts::Gatherer::start(PgStore {
            pool: store.pool.clone(),
            gatherer: std::sync::Arc::new(std::sync::OnceLock::new()),
            wakers: std::sync::Arc::default(),
        });
        let _ = store.gatherer.set(gatherer);
        wake::spawn_listener(listener_config, std::sync::Arc::downgrade(&store.wakers));
        Ok(store)
    }

    /// A pooled connection.
    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| {
            StoreError::Backend(match e {
                deadpool_postgres::PoolError::Backend(e) => {
                    format!("database unreachable: {}", describe(&e))
                }
                other => format!("database unreachable: {other}"),
            })
        })
    }
}

/// Runs `$body` (which uses the transaction `$tx` and yields a
/// `crate::error::Result`) in one transaction on a pooled connection, and
/// commits it; runs it again when PostgreSQL aborted it for a deadlock or a
/// serialization failure.
macro_rules! in_tx {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let mut attempt = 1;
        loop {
            let mut client = $store.client().await?;
            let $tx = client
                .transaction()
                .await
                .map_err(crate::error::Error::from)?;
            let out: crate::error::Result<_> = async { $body }.await;
            let out = match out {
                Ok(v) => $tx
                    .commit()
                    .await
                    .map(|()| v)
                    .map_err(crate::error::Error::from),
                Err(e) => Err(e),
            };
            match out {
                Err(e) if e.is_transient() && attempt < crate::ATTEMPTS => {
                    tracing::debug!(attempt, "transaction aborted, running it again: {e:?}");
                    attempt += 1;
                }
                other => break other.map_err(firebell_store::StoreError::from),
            }
        }
    }};
}
pub(crate) use in_tx;

/// Runs `$body` with a pooled connection `$c`, outside a transaction (reads).
macro_rules! with_client {
    ($store:expr, |$c:ident| $body:expr) => {{
        let $c = $store.client().await?;
        let out: crate::error::Result<_> = async { $body }.await;
        out.map_err(firebell_store::StoreError::from)
    }};
}
pub(crate) use with_client;

impl PgStore {
    /// Every row one read returns, decoded by `decode`.
    async fn read_all<T>(
        &self,
        sql: &str,
        params: sql::Params<'_>,
        decode: fn(&tokio_postgres::Row) -> error::Result<T>,
    ) -> Result<Vec<T>> {
        with_client!(self, |c| sql::collect(
            sql::query(&c, sql, params).await?,
            decode
        ))
    }

    /// The row one read returns, if any, decoded by `decode`.
    async fn read_opt<T>(
        &self,
        sql: &str,
        params: sql::Params<'_>,
        decode: fn(&tokio_postgres::Row) -> error::Result<T>,
    ) -> Result<Option<T>> {
        with_client!(self, |c| sql::query_opt(&c, sql, params)
            .await?
            .as_ref()
            .map(decode)
            .transpose())
    }
}
