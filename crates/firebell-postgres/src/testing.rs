//! A real PostgreSQL server for tests (feature `test-server`): `initdb` in a
//! temporary directory, `postgres` on a free loopback port (as the
//! `postgres` user when the tests run as root, since PostgreSQL refuses to
//! run as root), and a fresh database per test.
//!
//! The server is stopped by its process id: explicitly with
//! [`PgServer::stop`], and in any case by a watchdog process that sends it
//! SIGINT (fast shutdown) as soon as the test process is gone, then removes
//! its directory.
//!
//! Where PostgreSQL is not installed the tests that need it fail when `CI`
//! is set, and otherwise skip with a loud message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A running PostgreSQL server.
#[derive(Debug)]
pub struct PgServer {
    pub port: u16,
    pub pid: u32,
    pub dir: PathBuf,
    bin: PathBuf,
    /// Reaped after a stop.
    child: std::sync::Mutex<std::process::Child>,
}

/// Where the server binaries are: `initdb` on the PATH, else Debian's
/// `/usr/lib/postgresql/<version>/bin`.
pub fn bin_dir() -> Option<PathBuf> {
    if let Ok(out) = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
        && out.status.success()
    {
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let real = std::fs::canonicalize(&path).unwrap_or(path);
        if let Some(dir) = real.parent() {
            return Some(dir.to_path_buf());
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

/// The server binaries, or `None` (after saying so loudly) when PostgreSQL
/// is not installed and `CI` is not set. Panics under `CI`.
pub fn available() -> Option<PathBuf> {
    match bin_dir() {
        Some(dir) => Some(dir),
        None if std::env::var_os("CI").is_some() => {
            panic!(
                "PostgreSQL is not installed (initdb not found) and CI is set: install postgresql"
            )
        }
        None => {
            eprintln!(
                "\n*** SKIPPED: PostgreSQL is not installed (no initdb on PATH or in \
                 /usr/lib/postgresql/*/bin); install it to run the PostgreSQL tests ***\n"
            );
            None
        }
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `program args…`, as the `postgres` user when we are root.
fn as_server_user(program: &Path) -> Command {
    if running_as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// A new temporary directory (kept: the watchdog or the test removes it)
/// the server's user owns, with an empty `data` in it if `with_data`.
fn server_dir(prefix: &str, with_data: bool) -> PathBuf {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .unwrap()
        .keep();
    if with_data {
        std::fs::create_dir_all(dir.join("data")).unwrap();
    }
    if running_as_root() {
        let ok = Command::new("chown")
            .args(["-R", "postgres:"])
            .arg(&dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "could not hand {} to the postgres user", dir.display());
    }
    dir
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PgServer {
    /// Initialises a cluster in a new temporary directory (superuser
    /// `postgres`, trust authentication on loopback). `extra` lines are
    /// appended to its `postgresql.conf`.
    pub fn init(bin: &Path, extra: &str) -> PathBuf {
        let dir = server_dir("firebell-pg-", true);
        let data = dir.join("data");
        let out = as_server_user(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             max_connections = 300\nshared_buffers = 32MB\n{extra}\n",
            dir.display()
        );
        append(&data.join("postgresql.conf"), &conf);
        dir
    }

    /// Makes a streaming standby of this (running) server in a new
    /// temporary directory with `pg_basebackup -R`: it follows the primary
    /// as `cluster_name` (its name for synchronous replication), and has no
    /// synchronous standby of its own once promoted. Start it with
    /// [`PgServer::start`].
    pub fn standby(&self, cluster_name: &str) -> PathBuf {
        // pg_basebackup creates the data directory itself.
        let dir = server_dir("firebell-pg-standby-", false);
        let data = dir.join("data");
        let out = as_server_user(&self.bin.join("pg_basebackup"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .arg("-D")
            .arg(&data)
            .args(["-R", "-X", "stream", "--no-sync", "--checkpoint=fast"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_basebackup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        append(
            &data.join("postgresql.conf"),
            &format!(
                "\nunix_socket_directories = '{}'\ncluster_name = '{cluster_name}'\n\
                 synchronous_standby_names = ''\n",
                dir.display()
            ),
        );
        dir
    }

    /// Promotes a standby to primary and waits until it accepts writes.
    pub fn promote(&self) {
        let out = as_server_user(&self.bin.join("pg_ctl"))
            .arg("promote")
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-w")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl promote failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the cluster in `dir` (made by [`PgServer::init`]) on `port` and
    /// waits until it accepts connections.
    pub fn start(bin: &Path, dir: &Path, port: u16) -> PgServer {
        let log = std::fs::File::create(dir.join("server.log")).unwrap();
        if running_as_root() {
            let _ = Command::new("chown")
                .args(["postgres:"])
                .arg(dir.join("server.log"))
                .status();
        }
        let child = as_server_user(&bin.join("postgres"))
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        // runuser stays the parent of postgres and passes signals on; its
        // pid is the one to signal.
        let pid = child.id();
        let server = PgServer {
            port,
            pid,
            dir: dir.to_path_buf(),
            bin: bin.to_path_buf(),
            child: std::sync::Mutex::new(child),
        };
        server.watch();
        server.wait_ready(Duration::from_secs(30));
        server
    }

    /// A watchdog: when this test process is gone, the server is stopped
    /// (by the postmaster's pid) and its directory removed.
    fn watch(&self) {
        let pidfile = self.dir.join("data/postmaster.pid");
        let script = format!(
            "while kill -0 {me} 2>/dev/null; do sleep 1; done; \
             pm=$(head -1 '{pidfile}' 2>/dev/null); \
             if [ -n \"$pm\" ]; then kill -INT \"$pm\" 2>/dev/null; \
             while kill -0 \"$pm\" 2>/dev/null; do sleep 0.2; done; fi; rm -rf '{dir}'",
            me = std::process::id(),
            pidfile = pidfile.display(),
            dir = self.dir.display(),
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    /// The postmaster's process id (from its pid file).
    pub fn postmaster_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.join("data/postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }

    pub fn wait_ready(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let ok = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not start on port {}: {}",
                self.port,
                std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `postgres://postgres@127.0.0.1:<port>/<db>`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs SQL as the superuser with `psql`, returning its output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.url(db))
            .args(["-c", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A new, empty database; returns its URL.
    pub fn fresh_database(&self) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// SIGKILLs the server (a crash).
    pub fn kill(&self) {
        if let Some(pm) = self.postmaster_pid() {
            signal(pm, "KILL");
        }
        signal(self.pid, "KILL");
        self.reap();
    }

    fn reap(&self) {
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if !matches!(child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Fast shutdown (SIGINT to the postmaster), waiting for it to end.
    pub fn stop(&self) {
        let Some(pm) = self.postmaster_pid() else {
            return;
        };
        signal(pm, "INT");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline && alive(pm) {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.reap();
    }
}

fn signal(pid: u32, sig: &str) {
    // The process may be gone already (a SIGKILLed postmaster's runuser).
    let _ = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

fn alive(pid: u32) -> bool {
    // A zombie child counts as gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// One server for the whole test process, started on first use; `None`
/// when PostgreSQL is not installed (and `CI` is not set).
pub fn shared() -> Option<&'static PgServer> {
    static SERVER: OnceLock<Option<PgServer>> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            let bin = available()?;
            let dir = PgServer::init(&bin, "fsync = off\nsynchronous_commit = off\n");
            Some(PgServer::start(&bin, &dir, free_port()))
        })
        .as_ref()
}

/// A fresh database on the shared server, or `None` (see [`shared`]).
pub fn fresh_database() -> Option<String> {
    shared().map(PgServer::fresh_database)
}
