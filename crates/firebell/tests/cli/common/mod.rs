//! Shared by the tests that run the real `firebell` binary: writing a config,
//! starting `firebell serve` on a free port and waiting for it, and running
//! the CLI. Each test file uses part of it, hence `dead_code`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_firebell");

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `[server]` table: listening on `port`, data under `dir/data`.
pub fn server_section(dir: &Path, port: u16, admin: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
data_dir = "{data}"
admin_token = "{admin}"
"#,
        data = dir.join("data").display()
    )
}

/// A whole config: [`server_section`], one user "alice" paged on the
/// console, policy `policy` paging her, and service `service` with one
/// integration of `kind` with `key`.
pub fn one_service_config(
    dir: &Path,
    port: u16,
    admin: &str,
    policy: &str,
    service: &str,
    (kind, key): (&str, &str),
) -> String {
    format!(
        r#"{server}
[[users]]
id = "alice"
contacts = [ {{ kind = "console" }} ]

[[policies]]
id = "{policy}"
steps = [ {{ targets = ["user:alice"], wait = "5m" }} ]

[[services]]
id = "{service}"
policy = "{policy}"
integrations = [ {{ kind = "{kind}", key = "{key}" }} ]
"#,
        server = server_section(dir, port, admin)
    )
}

/// Writes `config` to `dir/firebell.toml` and returns its path.
pub fn write_config(dir: &Path, config: &str) -> PathBuf {
    let path = dir.join("firebell.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// A running `firebell serve`, killed when dropped (before anything kept
/// with it, such as its temporary directory, is dropped).
pub struct Server {
    pub child: Child,
    pub url: String,
    keep: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// A server already spawned, listening on `port`.
    pub fn new(child: Child, port: u16) -> Server {
        Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
            keep: None,
        }
    }

    /// Keeps `dir` until the server is gone.
    pub fn keeping(mut self, dir: tempfile::TempDir) -> Server {
        self.keep = Some(dir);
        self
    }
}

/// Spawns `firebell serve --config config_path`, output discarded.
pub fn spawn_serve(config_path: &Path, port: u16) -> Server {
    let child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(config_path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Server::new(child, port)
}

/// Starts the server and blocks until its port accepts connections.
pub fn serve(config_path: &Path, port: u16) -> Server {
    let server = spawn_serve(config_path, port);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

/// Starts the server and waits until `/-/ready` answers success.
pub async fn serve_ready(config_path: &Path, port: u16) -> Server {
    let server = spawn_serve(config_path, port);
    wait_ready(&server.url).await;
    server
}

pub async fn wait_ready(url: &str) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{url}/-/ready")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server at {url} did not become ready");
}

/// Runs `firebell ARGS --config CONFIG`: success, stdout, stderr.
pub fn firebell(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
