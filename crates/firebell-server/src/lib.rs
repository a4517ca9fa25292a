//! Firebell's HTTP server: the router ([`router`]), handlers by area in
//! `routes/`, authentication as extractors ([`auth`]), wired to an
//! [`Engine`] over any [`Store`].
#![forbid(unsafe_code)]

pub(crate) mod auth;
pub mod config_file;
pub mod error;
pub mod openapi;
mod router;
mod routes;

pub use router::{PUBLIC, PublicRoute, Route, router, routes};

/// Passwords for the web UI: hashing and the rules a new one must meet.
pub mod passwords {
    pub use crate::routes::ui::login::{
        MIN_PASSWORD_LEN, check_new_password, hash_password, random_password,
    };
}

/// The limits on failed authentication (see [`auth`]).
pub mod auth_limits {
    pub use crate::auth::MAX_FAILURES;
}

use firebell_core::config::ConfigErrors;
use firebell_engine::Engine;
use firebell_store::Store;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, watch};

/// Most alerts one list request returns.
pub const MAX_PAGE: u32 = 500;

/// How long a stop waits for open connections (a request being answered, an
/// idle keep-alive client, a half-sent request) before it closes them. An
/// event is answered 202 only once it is durable, so closing loses nothing
/// that was acknowledged.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

pub struct AppState<S> {
    pub engine: Engine<S>,
    /// Where the configuration came from, for reloads.
    pub config_path: Option<PathBuf>,
    /// When this server started (by the engine's clock), for `/api/v2/status`.
    pub started_at: jiff::Timestamp,
    reload_lock: Mutex<()>,
    /// The SNS endpoint's HTTP client and certificate cache.
    sns: routes::hooks::sns::SnsState,
    /// Failed authentications by client address (see [`auth`]).
    auth_failures: auth::AuthFailures,
    /// Failed web sign-ins by address and user name.
    login_limiter: routes::ui::login::LoginLimiter,
    /// Per-integration ingest rate limits (`rate_limit`).
    ingest_limits: routes::ingest::limits::IngestLimits,
    /// Calls per caller to each on-call line (`calls_per_caller`).
    caller_limits: routes::hooks::phone::CallerLimits,
    /// When the configuration was last reloaded here, and what came of it.
    last_reload: std::sync::Mutex<Option<(jiff::Timestamp, String)>>,
}

pub(crate) type Shared<S> = Arc<AppState<S>>;

impl<S: Store> AppState<S> {
    pub fn new(engine: Engine<S>, config_path: Option<PathBuf>) -> Arc<Self> {
        Arc::new(Self {
            started_at: engine.now(),
            engine,
            config_path,
            reload_lock: Mutex::new(()),
            sns: routes::hooks::sns::SnsState::default(),
            auth_failures: auth::AuthFailures::default(),
            login_limiter: Default::default(),
            ingest_limits: Default::default(),
            caller_limits: Default::default(),
            last_reload: std::sync::Mutex::new(None),
        })
    }

    /// When the configuration was last reloaded on this node, and the result.
    pub fn last_reload(&self) -> Option<(jiff::Timestamp, String)> {
        self.last_reload
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn note_reload(&self, result: String) {
        *self.last_reload.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((self.engine.now(), result));
    }
}

/// Re-reads the configuration file; keeps the running one if the new one is
/// invalid. Returns the new summary.
pub async fn reload_config<S: Store>(state: &AppState<S>) -> Result<String, ConfigErrors> {
    let out = reload_locked(state).await;
    // A refused reload is a self-alert (with [self_alerts]); the next
    // reload that loads resolves it.
    use firebell_engine::self_alerts::Trouble;
    let raised = match &out {
        Ok(_) => state.engine.self_alert(Trouble::ReloadRefused, None).await,
        Err(errors) => {
            let mut details = serde_json::Map::new();
            details.insert(
                "errors".into(),
                errors.0.iter().map(|e| e.to_string()).collect(),
            );
            let summary = format!(
                "configuration reload refused ({} error(s)); the running configuration is kept",
                errors.0.len()
            );
            state
                .engine
                .self_alert(Trouble::ReloadRefused, Some((summary, details)))
                .await
        }
    };
    if let Err(e) = raised {
        tracing::error!(error = %e, "could not record the reload's self-alert");
    }
    state.note_reload(match &out {
        Ok(summary) => format!("loaded ({summary})"),
        Err(errors) => format!(
            "refused, the running configuration kept: {}",
            errors
                .0
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ),
    });
    out
}

async fn reload_locked<S: Store>(state: &AppState<S>) -> Result<String, ConfigErrors> {
    let _guard = state.reload_lock.lock().await;
    let Some(path) = &state.config_path else {
        return Err(ConfigErrors(vec![firebell_core::config::ConfigError {
            path: "config".into(),
            message: "this server was started without a configuration file".into(),
            hint: None,
        }]));
    };
    let path = path.clone();
    let loaded = tokio::task::spawn_blocking(move || config_file::load(&path))
        .await
        .unwrap_or_else(|e| {
            Err(ConfigErrors(vec![firebell_core::config::ConfigError {
                path: "config".into(),
                message: format!("reload task failed: {e}"),
                hint: None,
            }]))
        })?;
    let old = state.engine.config();
    if loaded.server.listen != old.server.listen
        || loaded.server.data_dir != old.server.data_dir
        || loaded.server.max_body_bytes != old.server.max_body_bytes
    {
        tracing::warn!(
            "server.listen, server.data_dir and server.max_body_bytes take effect only after a restart"
        );
    }
    let summary = loaded.summary();
    state.engine.reload(loaded);
    tracing::info!(%summary, "configuration reloaded");
    Ok(summary)
}

/// The HTTP parser's hard limit on header fields; past it hyper answers 431
/// with an empty body. Below it, the router answers larger-than-allowed
/// heads with JSON (`router::MAX_HEADER_FIELDS`).
pub const MAX_HEADERS: usize = 128;
/// How long a client may take to send a request's headers; also how long
/// an idle keep-alive connection stays open. A client that opens a
/// connection and sends nothing, or one byte a second, is closed then.
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a client may take to send a request's body.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);
/// Connections open at once; past it new ones wait in the listen queue
/// until one closes (so a flood of idle sockets cannot use up the
/// process's file descriptors and stop `accept`).
pub const MAX_CONNECTIONS: usize = 2048;

/// Serves until `shutdown` resolves: the HTTP API, the engine's background
/// loops (unless the clock is manual), and reload on SIGHUP.
pub async fn serve<S: Store>(
    engine: Engine<S>,
    config_path: Option<PathBuf>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    manual_clock: bool,
) -> std::io::Result<()> {
    let state = AppState::new(engine.clone(), config_path);
    let app = router(state.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let loops = if manual_clock {
        None
    } else {
        Some(engine.spawn(stop_rx.clone()))
    };
    spawn_sighup_reload(state);
    let result = serve_connections(listener, app, shutdown).await;
    let _ = stop_tx.send(true);
    if let Some(mut loops) = loops {
        while loops.join_next().await.is_some() {}
    }
    result
}

/// The accept loop: each connection served by hyper (HTTP/1.1)
/// with [`HEADER_READ_TIMEOUT`], at most [`MAX_CONNECTIONS`] at once, the
/// client's address given to the handlers (auth limits, logs). An accept
/// error (out of file descriptors) is logged once a second and retried
/// after a pause instead of spinning. On `shutdown` it stops accepting and
/// waits at most [`SHUTDOWN_GRACE`] for open connections.
async fn serve_connections(
    listener: TcpListener,
    app: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt as _;
    // HTTP/1.1 only: the timeout must start with the connection, and
    // detecting HTTP/2 first would wait for a client's first bytes with no
    // limit.
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_headers(MAX_HEADERS);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut shutdown = std::pin::pin!(shutdown);
    let mut last_warning: Option<std::time::Instant> = None;
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    if last_warning.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(1)) {
                        tracing::warn!(error = %e, "cannot accept a connection; trying again shortly");
                        last_warning = Some(std::time::Instant::now());
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(addr));
                app.clone().oneshot(req.map(axum::body::Body::new))
            });
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    // A stop waits for open connections, but not for ever: one idle client
    // must not keep the process alive.
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!(grace = ?SHUTDOWN_GRACE, "connections still open after the grace period; closing them");
        }
    }
    Ok(())
}

#[cfg(unix)]
fn spawn_sighup_reload<S: Store>(state: Arc<AppState<S>>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; reload with POST /-/reload");
        return;
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match reload_config(&state).await {
                Ok(summary) => tracing::info!(%summary, "SIGHUP: configuration reloaded"),
                Err(errors) => {
                    for e in &errors.0 {
                        tracing::error!(error = %e, "SIGHUP: configuration reload refused; keeping the running configuration");
                    }
                }
            }
        }
    });
}

#[cfg(not(unix))]
fn spawn_sighup_reload<S: Store>(_state: Arc<AppState<S>>) {}
