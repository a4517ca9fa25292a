//! Many `firebell serve` nodes on one PostgreSQL database (a real server the
//! test starts): the first seed's cluster, where every traffic manager of a
//! cluster reports the same failure and only one text may go out per person.

use crate::common::{BIN, Server, free_port, text};
use axum::Router;
use axum::extract::State;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KEY: &str = "vtm-integration-key-1";
const ADMIN: &str = "cluster-admin-token-01";
const POOL_DIED: &str = "SERIOUS\tpools/web\tpooldied\tPool has no back-end nodes responding";

/// An HTTP SMS gateway (Plivo-like: POST JSON, 202) that records every text.
#[derive(Clone, Default)]
pub struct Gateway(Arc<Mutex<Vec<Value>>>);

impl Gateway {
    pub async fn start() -> (Gateway, String) {
        let gw = Gateway::default();
        let app = Router::new()
            .fallback(
                |State(gw): State<Gateway>, axum::Json(v): axum::Json<Value>| async move {
                    gw.0.lock().unwrap().push(v);
                    (
                        axum::http::StatusCode::ACCEPTED,
                        r#"{"message_uuid":["m-1"]}"#,
                    )
                },
            )
            .with_state(gw.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (gw, format!("http://{addr}"))
    }

    /// (number, text) of every text received.
    pub fn texts(&self) -> Vec<(String, String)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["dst"].as_str().unwrap_or_default().to_string(),
                    v["text"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }
}

/// The config every node shares (only `listen`, `node_name` and `data_dir`
/// differ): alice and bob texted through the gateway by one policy.
fn node_config(dir: &Path, port: u16, name: &str, db: &str, gateway: &str, extra: &str) -> PathBuf {
    let config = format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
data_dir = "{data}"
admin_token = "{ADMIN}"
node_name = "{name}"

[database]
url = "{db}"
pool_size = 8
{extra}
[[channels]]
name = "gateway"
kind = "http_sms"
method = "POST"
encoding = "json"
url = "{gateway}/v1/Message/"
from = "+14155550100"
fields = {{ src = "{{{{ from }}}}", dst = "{{{{ to }}}}", text = "{{{{ body }}}}" }}
success = {{ status = [202] }}

[[users]]
id = "alice"
contacts = [ {{ kind = "sms", number = "+447700900123" }} ]

[[users]]
id = "bob"
contacts = [ {{ kind = "sms", number = "+447700900456" }} ]

[[policies]]
id = "outage"
repeat = 1
steps = [ {{ targets = ["user:alice", "user:bob"], wait = "1h" }} ]

[[services]]
id = "web"
policy = "outage"
integrations = [ {{ kind = "vtm", key = "{KEY}" }}, {{ kind = "generic", key = "generic-key-0001" }} ]
"#,
        data = dir.join(format!("data-{name}")).display(),
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config).unwrap();
    path
}

/// A node: `firebell serve` with its log kept in `dir/<name>.log`.
pub struct Node {
    pub server: Server,
    pub name: String,
    pub config: PathBuf,
    pub port: u16,
}

pub fn spawn_node(config: &Path, port: u16, name: &str, log_dir: &Path) -> Node {
    let log = std::fs::File::create(log_dir.join(format!("{name}.log"))).unwrap();
    let child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Node {
        server: Server::new(child, port),
        name: name.to_string(),
        config: config.to_path_buf(),
        port,
    }
}

/// Waits until the node is ready; panics with its log when it is not.
pub async fn ready_or_log(n: &Node, dir: &Path) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{}/-/ready", n.server.url)).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = node_log(dir, n);
    panic!("{} did not become ready:\n{log}", n.name);
}

pub fn node_log(dir: &Path, n: &Node) -> String {
    std::fs::read_to_string(dir.join(format!("{}.log", n.name))).unwrap_or_default()
}

/// A fresh database on the test process's PostgreSQL server; `None` when
/// PostgreSQL is not installed (and `CI` is not set).
pub async fn fresh_database() -> Option<String> {
    tokio::task::spawn_blocking(firebell_postgres::testing::fresh_database)
        .await
        .unwrap()
}

/// `n` nodes on database `db`, each ready.
pub async fn nodes(dir: &Path, db: &str, gateway: &str, extra: &str, n: usize) -> Vec<Node> {
    let mut nodes = Vec::new();
    for i in 1..=n {
        let port = free_port();
        let name = format!("node-{i}");
        let config = node_config(dir, port, &name, db, gateway, extra);
        nodes.push(spawn_node(&config, port, &name, dir));
    }
    for n in &nodes {
        ready_or_log(n, dir).await;
    }
    nodes
}

async fn alerts(url: &str) -> Vec<Value> {
    let body: Value = reqwest::Client::new()
        .get(format!("{url}/api/v1/alerts?status=all&limit=500"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["alerts"].as_array().unwrap().clone()
}

/// Waits until `done` holds (checked every 100 ms), up to `within`.
async fn eventually(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    done()
}

fn vtm_action(url: &str, line: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("vtm-action")
        .args([
            "--eventtype=SMS Events",
            &format!("--firebell-url={url}"),
            &format!("--firebell-key={KEY}"),
            line,
        ])
        .env_clear()
        .stdin(Stdio::null());
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_reporting_pool_died_fifty_times_on_three_nodes_texts_each_person_once() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (gw, gw_url) = Gateway::start().await;
    let nodes = nodes(dir.path(), &db, &gw_url, "", 3).await;

    // Every machine of the traffic-manager cluster runs the action at once,
    // each against its own Firebell node; fifty times over.
    for round in 0..50 {
        let runs: Vec<_> = nodes
            .iter()
            .map(|n| vtm_action(&n.server.url, POOL_DIED).output())
            .collect();
        for out in futures::future::join_all(runs).await {
            let out = out.unwrap();
            assert!(out.status.success(), "round {round}: {}", text(&out.stderr));
        }
    }

    // No node refused or failed a request (the action program retries a
    // 503, which would hide a race between nodes opening the alert).
    for n in &nodes {
        let log = node_log(dir.path(), n);
        assert!(!log.contains("ERROR"), "{}:\n{log}", n.name);
    }
    let all = alerts(&nodes[0].server.url).await;
    assert_eq!(all.len(), 1, "one alert for the whole cluster: {all:#?}");
    assert_eq!(all[0]["count"], 150);
    // Each node answers the same.
    for n in &nodes[1..] {
        assert_eq!(alerts(&n.server.url).await.len(), 1);
    }
    // One text to each person, from whichever node took the page.
    assert!(
        eventually(Duration::from_secs(20), || gw.texts().len() >= 2).await,
        "texts: {:#?}",
        gw.texts()
    );
    // Longer than a dispatch pass on every node: nothing more goes out.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut to: Vec<String> = gw.texts().into_iter().map(|(n, _)| n).collect();
    to.sort();
    assert_eq!(
        to,
        ["+447700900123", "+447700900456"],
        "exactly one text per person: {:#?}",
        gw.texts()
    );
}
