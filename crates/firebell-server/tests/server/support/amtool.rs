//! Running the real `amtool` (Debian's prometheus-alertmanager) against a
//! test server.

use std::path::{Path, PathBuf};

/// Writes an amtool HTTP client configuration that sends `key` as a bearer
/// token; returns its path.
pub fn http_config(dir: &Path, name: &str, key: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!("authorization:\n  type: Bearer\n  credentials: {key}\n"),
    )
    .unwrap();
    path
}

pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs amtool against `url` with the given HTTP client configuration.
pub async fn amtool(bin: &Path, url: &str, http: Option<&Path>, args: &[&str]) -> Run {
    let mut cmd = tokio::process::Command::new(bin);
    cmd.arg(format!("--alertmanager.url={url}"));
    if let Some(h) = http {
        cmd.arg(format!("--http.config.file={}", h.display()));
    }
    let out = cmd
        .args(args)
        .arg("--timeout=20s")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `r`, which must have succeeded.
pub fn must(r: Run, what: &str) -> Run {
    assert!(
        r.ok,
        "{what} failed\nstdout:\n{}\nstderr:\n{}",
        r.stdout, r.stderr
    );
    r
}
