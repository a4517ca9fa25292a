//! `spawn_app()`: a real server on 127.0.0.1:0 over a real SQLite database in
//! a temp dir, with a manual clock, a captured console, and a local webhook
//! sink standing in for a receiver.

pub mod amtool;
pub mod twilio_mock;
pub mod twilio_phone;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use firebell_core::clock::{Clock, ManualClock};
use firebell_core::config::{self, SecretSource};
use firebell_engine::Engine;
use firebell_sqlite::SqliteStore;
use firebell_store::prelude::*;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// The `[server]` table of a test app, as a fragment to `concat!` in front
/// of a test's own tables: its data directory (filled in by
/// [`render_config`]) and the admin token [`ADMIN`]. More `[server]` keys
/// may follow it directly.
macro_rules! server_section {
    () => {
        "\n[server]\ndata_dir = \"{DATA_DIR}\"\nadmin_token = \"test-admin-token\"\n"
    };
}
pub(crate) use server_section;

pub const KEY: &str = "test-integration-key";
pub const ADMIN: &str = "test-admin-token";

pub fn t0() -> Timestamp {
    "2026-03-01T09:00:00Z".parse().unwrap()
}

pub fn mins(m: i64) -> SignedDuration {
    SignedDuration::from_mins(m)
}

/// The one secret source of the server tests: no environment variables,
/// real files (a test may point `ca_file` or a `file:` secret at a file it
/// wrote), and the real executable check (as `firebell serve` does).
pub struct TestSecrets;
impl SecretSource for TestSecrets {
    fn env(&self, _: &str) -> Option<String> {
        None
    }
    /// Real files: a test may point `ca_file` or a `file:` secret at a
    /// file it wrote.
    fn file(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| e.to_string())
    }
    fn executable(&self, path: &Path) -> Result<(), String> {
        firebell_server::config_file::check_executable(path)
    }
}

type SinkState = (Arc<Mutex<Vec<Value>>>, Arc<AtomicU16>);

/// A webhook receiver that records what it gets and answers with a settable status.
#[derive(Clone)]
pub struct Sink {
    pub url: String,
    pub received: Arc<Mutex<Vec<Value>>>,
    pub status: Arc<AtomicU16>,
}

impl Sink {
    pub async fn start() -> Sink {
        let received = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(200));
        let state = (received.clone(), status.clone());
        let app = Router::new()
            .route(
                "/hook",
                post(
                    |State((rx, st)): State<SinkState>,
                     axum::Json(v): axum::Json<Value>| async move {
                        rx.lock().unwrap().push(v);
                        StatusCode::from_u16(st.load(Ordering::SeqCst)).unwrap()
                    },
                ),
            )
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Sink {
            url: format!("http://{addr}/hook"),
            received,
            status,
        }
    }

    pub fn set_status(&self, s: u16) {
        self.status.store(s, Ordering::SeqCst);
    }

    pub fn bodies(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }
}

/// A page as the console printed it, with the (manual) time it was printed.
#[derive(Clone, Debug)]
pub struct Page {
    pub at: Timestamp,
    pub user: String,
    pub line: String,
}

pub struct TestApp {
    pub url: String,
    pub engine: Engine<SqliteStore>,
    pub clock: Arc<ManualClock>,
    pub pages: Arc<Mutex<Vec<Page>>>,
    pub data_dir: PathBuf,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// Fills `{DATA_DIR}` and `{SINK}` in a configuration template.
pub fn render_config(template: &str, data_dir: &Path, sink: &str) -> String {
    template
        .replace("{DATA_DIR}", &data_dir.display().to_string())
        .replace("{SINK}", sink)
}

/// Parses a test configuration with [`TestSecrets`], or every error found.
pub fn try_parse_config(text: &str) -> Result<config::Config, config::ConfigErrors> {
    config::parse(text, &TestSecrets)
}

/// Parses a test configuration that must be valid.
pub fn parse_config(text: &str) -> config::Config {
    try_parse_config(text).unwrap_or_else(|e| panic!("{e}"))
}

/// Starts an app over `data_dir` (created if needed) with the clock at `start`.
/// `config_path`, if given, is where reloads read from.
pub async fn spawn_app_at(
    config_text: &str,
    data_dir: &Path,
    start: Timestamp,
    config_path: Option<PathBuf>,
) -> TestApp {
    let config = parse_config(config_text);
    let clock = Arc::new(ManualClock::new(start));
    let pages: Arc<Mutex<Vec<Page>>> = Arc::new(Mutex::new(Vec::new()));
    let (c, p) = (clock.clone(), pages.clone());
    let console: firebell_channels::ConsoleSink = Arc::new(move |line: &str| {
        let user = line
            .split("PAGE ")
            .nth(1)
            .or_else(|| line.split("NOTICE ").nth(1))
            .and_then(|r| r.split(':').next())
            .unwrap_or("?")
            .to_string();
        p.lock().unwrap().push(Page {
            at: c.now(),
            user,
            line: line.to_string(),
        });
    });
    let store = SqliteStore::open(data_dir).unwrap();
    let engine = Engine::new(store, config, clock.clone(), console);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let e = engine.clone();
    let server = tokio::spawn(async move {
        firebell_server::serve(
            e,
            config_path,
            listener,
            async move {
                let _ = rx.await;
            },
            true,
        )
        .await
        .unwrap();
    });
    TestApp {
        url: format!("http://{addr}"),
        engine,
        clock,
        pages,
        data_dir: data_dir.to_path_buf(),
        // Redirects are answers to check (the web UI's sign-in), not followed.
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        shutdown: Some(tx),
        server: Some(server),
    }
}

impl TestApp {
    /// Stops the HTTP server and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(s) = self.server.take() {
            s.await.unwrap();
        }
    }

    pub async fn post_events(&self, body: &str) -> (u16, Value) {
        self.post_events_with_key(body, Some(KEY)).await
    }

    pub async fn post_events_with_key(&self, body: &str, key: Option<&str>) -> (u16, Value) {
        let mut req = self
            .client
            .post(format!("{}/api/v1/events", self.url))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Sends one trigger; returns the alert id.
    pub async fn trigger(&self, key: &str, summary: &str) -> i64 {
        let (status, body) = self
            .post_events(&format!(
                r#"{{"action":"trigger","dedup_key":"{key}","summary":"{summary}","severity":"critical","source":"test"}}"#
            ))
            .await;
        assert_eq!(status, 202, "{body}");
        body["alerts"][0]["id"].as_i64().unwrap()
    }

    pub async fn api_post(&self, path: &str, body: Value) -> (u16, Value) {
        let resp = self
            .client
            .post(format!("{}{path}", self.url))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn api_get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .client
            .get(format!("{}{path}", self.url))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn alert(&self, id: i64) -> Value {
        let (status, body) = self.api_get(&format!("/api/v1/alerts/{id}")).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    pub async fn all_alerts(&self) -> Vec<Value> {
        let (status, body) = self.api_get("/api/v1/alerts?limit=500").await;
        assert_eq!(status, 200, "{body}");
        body["alerts"].as_array().unwrap().clone()
    }

    /// Runs everything due at the current clock time.
    pub async fn settle(&self) {
        self.engine.run_until_idle().await.unwrap();
    }

    /// Moves the clock from due time to due time until `until`, running what
    /// comes due at each, then sets the clock to `until`.
    pub async fn run_until(&self, until: Timestamp) {
        self.settle().await;
        for _ in 0..10_000 {
            match self.engine.next_due().await.unwrap() {
                Some(t) if t <= until => {
                    if t > self.clock.now() {
                        self.clock.set(t);
                    }
                    self.settle().await;
                }
                _ => break,
            }
        }
        self.clock.set(until);
        self.settle().await;
    }

    pub async fn advance(&self, by: SignedDuration) {
        let until = self.clock.now() + by;
        self.run_until(until).await;
    }

    pub fn pages(&self) -> Vec<Page> {
        self.pages.lock().unwrap().clone()
    }

    /// (user, minutes since t0) for every console page so far.
    pub fn page_log(&self) -> Vec<(String, i64)> {
        self.pages()
            .iter()
            .map(|p| (p.user.clone(), p.at.duration_since(t0()).as_secs() / 60))
            .collect()
    }

    pub async fn timeline_kinds(&self, id: i64) -> Vec<String> {
        self.engine
            .store()
            .timeline(id)
            .await
            .unwrap()
            .iter()
            .map(|e| e.kind.as_str().to_string())
            .collect()
    }
}

/// Three single-person steps (1, 2 and 3 minutes), repeated 3 times; everyone
/// on the console.
pub const THREE_STEPS: &str = concat!(
    server_section!(),
    r#"
[[users]]
id = "alice"
contacts = [ { kind = "console" } ]
[[users]]
id = "bob"
contacts = [ { kind = "console" } ]
[[users]]
id = "carol"
contacts = [ { kind = "console" } ]

[[policies]]
id = "outage"
repeat = 3
steps = [
  { targets = ["user:alice"], wait = "1m" },
  { targets = ["user:bob"], wait = "2m" },
  { targets = ["user:carol"], wait = "3m" },
]

[[services]]
id = "checkout"
policy = "outage"
integrations = [ { kind = "generic", key = "test-integration-key" } ]
"#
);

pub async fn spawn_app(template: &str) -> (TestApp, tempfile::TempDir, Sink) {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    let text = render_config(template, &dir.path().join("data"), &sink.url);
    let app = spawn_app_at(&text, &dir.path().join("data"), t0(), None).await;
    (app, dir, sink)
}

/// The Python with the project's test clients (`.venv` at the workspace root,
/// made by `.ci/run`, or `FIREBELL_PYTHON`). `None` means skip: allowed only
/// outside CI; with `CI` set a missing client fails the test.
pub fn python_with(modules: &[&str]) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidate = std::env::var_os("FIREBELL_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv/bin/python"));
    let import = format!("import {}", modules.join(", "));
    let ok = std::process::Command::new(&candidate)
        .args(["-c", &import])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Some(candidate);
    }
    let msg = format!(
        "Python modules {modules:?} not found at {} (run .ci/run, or python3 -m venv .venv && .venv/bin/pip install -r tests/python/requirements.txt)",
        candidate.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("\n!!!!!!!! SKIPPING: {msg} !!!!!!!!\n");
    None
}

/// The path of a script in `tests/python/`.
pub fn python_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/python")
        .join(name)
}

/// An outside program the tests run (Prometheus, Alertmanager, amtool). `None`
/// means skip: allowed only outside CI; with `CI` set a missing one fails.
pub fn program(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_some() {
        return found;
    }
    let msg = format!(
        "{name} is not installed (run .ci/run, or apt-get install prometheus prometheus-alertmanager)"
    );
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("\n!!!!!!!! SKIPPING: {msg} !!!!!!!!\n");
    None
}

/// A child process killed (by its pid) and reaped when dropped.
pub struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` every 100 ms until it returns `Some`, for at most `secs`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
