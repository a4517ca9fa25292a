//! The firebell server as a child process: find the binary, write the config
//! into a fresh temporary directory, start, wait for readiness, read memory
//! from /proc, stop. The child is always killed: by [`Server::stop`] on the
//! normal path, and by `Drop` (SIGKILL) on errors, panics and Ctrl-C.

use crate::config::{self, ConfigParams, Paging};
use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::Serialize;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::process::{Child, Command};

/// How long the server gets to answer 200 on /-/ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the server gets to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The binary to run: the one given, else `target/release/firebell`, else
/// `target/debug/firebell` (relative to the current directory).
pub fn find_binary(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = given {
        if !p.is_file() {
            bail!("--firebell {}: no such file", p.display());
        }
        return Ok(p.to_path_buf());
    }
    for p in ["target/release/firebell", "target/debug/firebell"] {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!(
        "no firebell binary at target/release/firebell or target/debug/firebell \
         (relative to {}); build it first (cargo build --release) or pass --firebell PATH",
        std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_else(|_| "the current directory".into())
    )
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("finding a free port on 127.0.0.1")?;
    Ok(l.local_addr()?.port())
}

/// VmRSS and VmHWM of a process, in kB as /proc reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Memory {
    pub vm_rss_kb: u64,
    pub vm_hwm_kb: u64,
}

/// Parses the VmRSS and VmHWM lines of /proc/<pid>/status.
pub fn parse_status(text: &str) -> Option<Memory> {
    let field = |name: &str| {
        text.lines().find_map(|l| {
            let rest = l.strip_prefix(name)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
    };
    Some(Memory {
        vm_rss_kb: field("VmRSS")?,
        vm_hwm_kb: field("VmHWM")?,
    })
}

/// Reads /proc/<pid>/status.
pub fn read_memory(pid: u32) -> Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_status(&text).with_context(|| format!("no VmRSS/VmHWM in {path}"))
}

/// 127.0.0.1 with `port`, or with a port that was free a moment ago.
pub fn loopback(port: Option<u16>) -> Result<SocketAddr> {
    let port = match port {
        Some(p) => p,
        None => free_port()?,
    };
    Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
}

/// The kernel reports /proc times in USER_HZ ticks, 100 per second on Linux
/// whatever the kernel's own HZ (`sysconf(_SC_CLK_TCK)` answers the same).
const USER_HZ: f64 = 100.0;

/// CPU time (user + system) a process has used so far, from /proc/<pid>/stat.
pub fn read_cpu(pid: u32) -> Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let ticks = parse_stat_ticks(&text).with_context(|| format!("no utime/stime in {path}"))?;
    Ok(Duration::from_secs_f64(ticks as f64 / USER_HZ))
}

/// utime + stime (fields 14 and 15) of a /proc/<pid>/stat line, in clock
/// ticks. The command name (field 2) may hold spaces and parentheses, so the
/// fields are counted from the last ')'.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Where the run's files live: removed on drop unless kept.
pub(crate) enum Workdir {
    Temp(TempDir),
    Kept(PathBuf),
}

impl Workdir {
    /// A fresh temporary directory named `prefix…`, kept after the run if asked.
    pub(crate) fn new(prefix: &str, keep: bool) -> Result<Workdir> {
        let tmp = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .context("creating the temporary directory")?;
        Ok(if keep {
            Workdir::Kept(tmp.keep())
        } else {
            Workdir::Temp(tmp)
        })
    }

    pub(crate) fn path(&self) -> &Path {
        match self {
            Workdir::Temp(t) => t.path(),
            Workdir::Kept(p) => p,
        }
    }
}

/// A running firebell server. Field order matters: the child is killed
/// (dropped) before the directory is removed.
pub struct Server {
    child: Child,
    pid: u32,
    reaped: bool,
    addr: SocketAddr,
    workdir: Workdir,
}

impl Server {
    /// Writes the config, with `extra` appended (e.g. `[[rules]]`), into a
    /// fresh temporary directory and starts `<binary> serve --config FILE`
    /// with stdout and stderr going to `server.stdout.log` and
    /// `server.stderr.log` there. Does not wait for readiness.
    pub fn start_with(
        binary: &Path,
        port: Option<u16>,
        sink_url: &str,
        keep: bool,
        extra: &str,
    ) -> Result<Server> {
        Server::start_paging(binary, port, sink_url, keep, extra, Paging::Webhook)
    }

    /// [`Server::start_with`], paging the user as `paging` says.
    pub fn start_paging(
        binary: &Path,
        port: Option<u16>,
        sink_url: &str,
        keep: bool,
        extra: &str,
        paging: Paging,
    ) -> Result<Server> {
        let binary = binary
            .canonicalize()
            .with_context(|| format!("resolving {}", binary.display()))?;
        let workdir = Workdir::new("firebell-bench-", keep)?;
        let dir = workdir.path().to_path_buf();
        let data_dir = dir.join("data");
        std::fs::create_dir_all(&data_dir).context("creating the data directory")?;
        let addr = loopback(port)?;
        let config_path = dir.join("firebell.toml");
        let text = config::render(&ConfigParams {
            listen: addr,
            data_dir: &data_dir,
            sink_url,
            paging,
        }) + extra;
        std::fs::write(&config_path, text)
            .with_context(|| format!("writing {}", config_path.display()))?;
        let mut command = Command::new(&binary);
        command.arg("serve").arg("--config").arg(&config_path);
        Server::launch(command, workdir, addr)
    }

    /// Starts `command` in `workdir` (stdout and stderr to `server.stdout.log`
    /// and `server.stderr.log` there) as a server that will listen on `addr`
    /// and answer 200 on `GET /-/ready` once ready. Does not wait.
    pub(crate) fn launch(
        mut command: Command,
        workdir: Workdir,
        addr: SocketAddr,
    ) -> Result<Server> {
        let dir = workdir.path();
        let stdout = File::create(dir.join("server.stdout.log"))?;
        let stderr = File::create(dir.join("server.stderr.log"))?;
        let program = command
            .as_std()
            .get_program()
            .to_string_lossy()
            .into_owned();
        let child = command
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {program}"))?;
        let pid = child.id().context("the server exited at once")?;
        Ok(Server {
            child,
            pid,
            reaped: false,
            addr,
            workdir,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn dir(&self) -> &Path {
        self.workdir.path()
    }

    pub fn kept(&self) -> bool {
        matches!(self.workdir, Workdir::Kept(_))
    }

    /// The last lines of the server's stderr, for error messages.
    pub fn stderr_tail(&self) -> String {
        let text =
            std::fs::read_to_string(self.dir().join("server.stderr.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(20);
        lines[from..].join("\n")
    }

    /// Fails if the server has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            self.reaped = true;
            bail!(
                "the server exited ({status}); last lines of its stderr:\n{}",
                self.stderr_tail()
            );
        }
        Ok(())
    }

    /// Polls GET /-/ready until it answers 200, the server exits, or
    /// `timeout` passes. Returns how long it took.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<Duration> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()?;
        let url = format!("{}/-/ready", self.base_url());
        let start = Instant::now();
        let mut last = String::from("no answer yet");
        while start.elapsed() < timeout {
            self.check_alive()?;
            match client.get(&url).send().await {
                Ok(r) if r.status() == reqwest::StatusCode::OK => return Ok(start.elapsed()),
                Ok(r) => last = format!("status {}", r.status()),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!(
            "the server was not ready within {timeout:?} ({url}: {last}); last lines of its stderr:\n{}",
            self.stderr_tail()
        )
    }

    /// SIGTERM, then SIGKILL if it has not exited within 5 s. Bounded.
    pub async fn stop(&mut self) -> Result<()> {
        if self.reaped || self.child.try_wait()?.is_some() {
            self.reaped = true;
            return Ok(());
        }
        let pid = Pid::from_raw(i32::try_from(self.pid).context("pid out of range")?);
        let _ = kill(pid, Signal::SIGTERM);
        match tokio::time::timeout(STOP_GRACE, self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                eprintln!(
                    "server (pid {}) still running {STOP_GRACE:?} after SIGTERM; sending SIGKILL",
                    self.pid
                );
                self.child.kill().await?;
            }
        }
        self.reaped = true;
        Ok(())
    }
}

/// Stops a run's server and its sink, saying where the files are if they
/// were kept. Errors from stopping the server are returned after the sink
/// has stopped too.
pub async fn stop_run(mut server: Server, sink: crate::sink::Sink) -> Result<()> {
    let stopped = server.stop().await;
    if server.kept() {
        eprintln!("kept {}", server.dir().display());
    }
    drop(server);
    sink.stop().await;
    stopped.context("stopping the server")
}

impl Drop for Server {
    fn drop(&mut self) {
        if !self.reaped {
            // SIGKILL by pid; kill_on_drop would do the same, this makes it explicit.
            let _ = self.child.start_kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn cpu_ticks_are_read_past_the_command_name() {
        let stat = "4242 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 30 0 0 20 0 1 0";
        assert_eq!(parse_stat_ticks(stat), Some(280));
        assert_eq!(parse_stat_ticks("1 (x) S 1"), None);
        let before = read_cpu(std::process::id()).unwrap();
        let mut x = 0u64;
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(150) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        assert!(read_cpu(std::process::id()).unwrap() > before);
    }

    #[test]
    fn status_lines_are_parsed() {
        let text = "Name:\tfirebell\nVmPeak:\t  999 kB\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(
            parse_status(text),
            Some(Memory {
                vm_rss_kb: 10240,
                vm_hwm_kb: 20480
            })
        );
        assert_eq!(parse_status("Name: x\n"), None);
        let own = read_memory(std::process::id()).unwrap();
        assert!(own.vm_rss_kb > 0 && own.vm_hwm_kb >= own.vm_rss_kb);
    }

    fn state_of(pid: u32) -> Option<String> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("State:"))
            .map(|s| s.trim().to_string())
    }

    /// A stand-in binary that never gets ready: the harness must time out,
    /// report it, and kill the child both on `stop` and on drop.
    #[tokio::test]
    async fn child_is_killed_on_stop_and_on_drop() {
        let bin_dir = tempfile::tempdir().unwrap();
        let bin = bin_dir.path().join("fake-firebell");
        std::fs::write(&bin, "#!/bin/sh\necho \"args: $*\" >&2\nexec sleep 60\n").unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();

        let mut s = Server::start_with(&bin, None, "http://127.0.0.1:9/hook", false, "").unwrap();
        let dir = s.dir().to_path_buf();
        assert!(dir.join("firebell.toml").is_file());
        let err = s
            .wait_ready(Duration::from_millis(300))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("not ready"), "{err}");
        assert!(err.contains("serve --config"), "{err}");
        let pid = s.pid();
        assert!(state_of(pid).is_some());
        s.stop().await.unwrap();
        assert_eq!(state_of(pid), None, "reaped after stop");
        drop(s);
        assert!(!dir.exists(), "temp dir removed");

        let s = Server::start_with(&bin, None, "http://127.0.0.1:9/hook", false, "").unwrap();
        let pid = s.pid();
        drop(s);
        // SIGKILL was sent; the process is gone or a zombie awaiting reaping.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match state_of(pid) {
                None => break,
                Some(st) if st.starts_with('Z') => break,
                Some(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Some(st) => panic!("child still alive after drop: {st}"),
            }
        }
    }

    #[test]
    fn missing_binary_is_reported() {
        let err = find_binary(Some(Path::new("/nonexistent/firebell")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no such file"), "{err}");
    }
}
