//! The program channel (`kind = "program"`): runs a local executable for each
//! page, the way a traffic manager runs an action program, so an existing one
//! (such as an SMS sender written for it) runs unchanged.
//!
//! - Run directly (`execve`), never through a shell: every argument reaches the
//!   program exactly as configured, quotes, `;`, `$(…)` and newlines included.
//! - Arguments: `--eventtype=NAME`, each channel argument as `--name=value`
//!   (in file order), then the contact's own, then the event as the last
//!   argument: `LEVEL⇥object⇥tag⇥text`, tab-separated.
//! - Environment: cleared except `PATH`, `HOME`, `LANG`, `LC_ALL`, `TZ`,
//!   `TMPDIR`, `USER` and `LOGNAME` (so Firebell's own secrets do not leak),
//!   plus the page's facts as `FIREBELL_*` variables.
//! - No stdin; stdout and stderr are read (the first [`OUTPUT_LIMIT`] bytes of
//!   each are kept) and, with `verbose = true`, put on the alert's timeline.
//! - Exit 0 is delivered. A non-zero exit, or running past the timeout (the
//!   program's whole process group is then killed), is a failure retried as
//!   for webhooks; a program that is gone or not executable fails for good.

use crate::redact_address;
use firebell_core::alert::{Alert, AlertStatus};
use firebell_core::channels::{ProgramSettings, decode_args};
use firebell_core::config::Config;
use firebell_core::event::Severity;
use firebell_core::links::action_links;
use firebell_core::notification::{Delivery, Notification, NotificationKind};
use firebell_core::render::one_line;
use firebell_core::templates::Templates;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Bytes of stdout, and of stderr, kept from one run.
pub const OUTPUT_LIMIT: usize = 8 * 1024;

/// How long output is still read after the program exited or was killed
/// (a child it started in the background may hold the pipes open).
const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// Variables passed through from Firebell's own environment.
const PASSED_ENV: &[&str] = &[
    "PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "LOGNAME",
];

/// Runs one configured program.
#[derive(Clone, Debug)]
pub struct ProgramChannel {
    pub name: String,
    pub settings: ProgramSettings,
    pub dry_run: bool,
}

/// The traffic-manager level for a page: FATAL, SERIOUS, WARN or INFO.
/// A resolved alert is INFO, as a traffic manager reports recoveries.
pub fn level(alert: &Alert) -> &'static str {
    if alert.status == AlertStatus::Resolved {
        return "INFO";
    }
    match alert.severity {
        Severity::Critical => "FATAL",
        Severity::Error => "SERIOUS",
        Severity::Warning => "WARN",
        Severity::Info => "INFO",
    }
}

/// The event line, `LEVEL⇥object⇥tag⇥text`. `object` is the alert's `object`
/// label or `services/<service>`; `tag` its `tag` label or what happened
/// (`alerttriggered`, `alertacknowledged`, `alertresolved`; `testaction` for
/// a test page). Tabs and newlines inside a field become spaces, so the line
/// always has four fields.
pub fn event_line(alert: &Alert, n: &Notification, text: &str) -> String {
    let object = alert
        .labels
        .get("object")
        .cloned()
        .unwrap_or_else(|| format!("services/{}", alert.service));
    let tag = match (n.kind, alert.labels.get("tag")) {
        (NotificationKind::Test, _) => "testaction".to_string(),
        (_, Some(tag)) => tag.clone(),
        (NotificationKind::Notify, None) => format!("alert{}", alert.status.as_str()),
        (_, None) => n.kind.as_str().replace('.', ""),
    };
    format!(
        "{}\t{}\t{}\t{}",
        level(alert),
        one_line(&object),
        one_line(&tag),
        one_line(text).trim()
    )
}

/// Everything after the program's path.
pub fn argv(settings: &ProgramSettings, contact_args: &[String], line: &str) -> Vec<String> {
    let mut out = Vec::with_capacity(settings.args.len() + contact_args.len() + 2);
    out.push(format!("--eventtype={}", settings.eventtype));
    out.extend(settings.args.iter().map(|(k, v)| format!("--{k}={v}")));
    out.extend(contact_args.iter().cloned());
    out.push(bounded(line));
    out
}

/// The `FIREBELL_*` variables for a page.
pub fn environment(
    config: &Config,
    channel: &str,
    alert: &Alert,
    n: &Notification,
    line: &str,
) -> Vec<(String, String)> {
    let service_name = config
        .services
        .get(&alert.service)
        .map(|s| s.name.clone())
        .unwrap_or_else(|| alert.service.clone());
    let links = action_links(config, alert.id, &n.user, n.created_at);
    let alert_url = if alert.id > 0 {
        format!("{}/api/v1/alerts/{}", config.server.public_url, alert.id)
    } else {
        String::new()
    };
    let vars: Vec<(&str, String)> = vec![
        ("FIREBELL_ALERT_ID", alert.id.to_string()),
        ("FIREBELL_ALERT_SERVICE", alert.service.clone()),
        ("FIREBELL_ALERT_SERVICE_NAME", service_name),
        ("FIREBELL_ALERT_SUMMARY", alert.summary.clone()),
        (
            "FIREBELL_ALERT_SEVERITY",
            alert.severity.as_str().to_string(),
        ),
        ("FIREBELL_ALERT_STATUS", alert.status.as_str().to_string()),
        ("FIREBELL_ALERT_SOURCE", alert.source.clone()),
        ("FIREBELL_ALERT_DEDUP_KEY", alert.dedup_key.to_string()),
        ("FIREBELL_ALERT_COUNT", alert.count.to_string()),
        ("FIREBELL_ALERT_CREATED_AT", alert.created_at.to_string()),
        (
            "FIREBELL_ALERT_LABELS",
            serde_json::to_string(&alert.labels).unwrap_or_default(),
        ),
        (
            "FIREBELL_ALERT_DETAILS",
            serde_json::to_string(&alert.details).unwrap_or_default(),
        ),
        ("FIREBELL_ALERT_URL", alert_url),
        (
            "FIREBELL_ACK_URL",
            links
                .as_ref()
                .map(|l| l.acknowledge.clone())
                .unwrap_or_default(),
        ),
        (
            "FIREBELL_RESOLVE_URL",
            links.map(|l| l.resolve).unwrap_or_default(),
        ),
        ("FIREBELL_NOTIFICATION_ID", n.id.to_string()),
        ("FIREBELL_NOTIFICATION_KIND", n.kind.as_str().to_string()),
        ("FIREBELL_RECIPIENT", n.user.clone()),
        ("FIREBELL_STEP", (n.step + 1).to_string()),
        ("FIREBELL_ROUND", (n.loop_ + 1).to_string()),
        ("FIREBELL_CHANNEL", channel.to_string()),
        (
            "FIREBELL_TEST",
            if n.kind == NotificationKind::Test {
                "1"
            } else {
                "0"
            }
            .to_string(),
        ),
        ("FIREBELL_EVENT", line.to_string()),
    ];
    // An action's run: which action, and who asked for it.
    let action = (n.kind == NotificationKind::Action)
        .then_some(n.message.as_deref())
        .flatten()
        .and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok());
    let vars = vars.into_iter().chain(action.into_iter().flat_map(|a| {
        [
            (
                "FIREBELL_ACTION",
                a["action"].as_str().unwrap_or_default().to_string(),
            ),
            ("FIREBELL_ACTION_BY", n.user.clone()),
        ]
    }));
    vars
        // A NUL cannot be passed in the environment.
        .map(|(k, v)| (k.to_string(), bounded(&v.replace('\0', ""))))
        .collect()
}

/// Longest value of one environment variable or the event-line argument,
/// in bytes. The kernel refuses a program whose arguments and environment
/// pass its limits ("Argument list too long": 128 KiB per string, about
/// 2 MiB in all), so large event data is cut here, with a marker, and the
/// page still runs.
pub const MAX_ENV_VALUE: usize = 16 * 1024;

/// `v` cut to [`MAX_ENV_VALUE`] bytes (at a character boundary) with a
/// marker saying how much was left out.
pub fn bounded(v: &str) -> String {
    if v.len() <= MAX_ENV_VALUE {
        return v.to_string();
    }
    let mut end = MAX_ENV_VALUE - 64;
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[truncated: {} more bytes]", &v[..end], v.len() - end)
}

/// What one run came to.
#[derive(Debug)]
pub struct RunOutput {
    /// `None` when the program was killed at the timeout.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

impl ProgramChannel {
    /// The longest one run can take: the timeout, then reading what is left
    /// of its output.
    pub fn longest_run(&self) -> Duration {
        self.settings.timeout.unsigned_abs() + DRAIN_GRACE * 2
    }

    /// One attempt: run the program for page `n` about `alert`.
    pub async fn deliver(
        &self,
        config: &Config,
        templates: &Templates,
        alert: &Alert,
        n: &Notification,
    ) -> Delivery {
        let ctx = firebell_core::render::template_context(config, alert, n);
        let (text, note) = match templates.render(&alert.service, "program", &ctx) {
            Ok(r) => r,
            Err(e) => {
                return Delivery::Permanent {
                    error: format!("template program: {e}"),
                };
            }
        };
        let note = note.map(|s| format!("; {s}")).unwrap_or_default();
        let Some(contact_args) = decode_args(&n.address) else {
            return Delivery::Permanent {
                error: format!(
                    "this page's address {:?} is not a program contact's arguments",
                    redact_address(&n.channel, &n.address)
                ),
            };
        };
        let line = event_line(alert, n, &text);
        let args = argv(&self.settings, &contact_args, &line);
        let path = self.settings.path.display();
        if self.dry_run {
            return Delivery::Delivered {
                detail: format!("dry run: would run {path} {}{note}", shown_args(&args)),
            };
        }
        let env = environment(config, &self.name, alert, n, &line);
        let timeout = self.settings.timeout.unsigned_abs();
        let out = match run(&self.settings.path, &args, &env, timeout).await {
            Ok(out) => out,
            // Gone, not allowed, or too large for the kernel: trying again
            // will not help, so the person's next contact is tried at once.
            // Anything else (being replaced right now, out of processes)
            // may pass.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound
                        | std::io::ErrorKind::PermissionDenied
                        | std::io::ErrorKind::ArgumentListTooLong
                ) =>
            {
                return Delivery::Permanent {
                    error: format!("cannot run {path}: {e}"),
                };
            }
            Err(e) => {
                return Delivery::Retryable {
                    error: format!("cannot run {path}: {e}"),
                };
            }
        };
        let output = if self.settings.verbose {
            output_text(&out)
        } else {
            String::new()
        };
        match out.status {
            None => Delivery::Retryable {
                error: format!(
                    "killed after running longer than the {} timeout{output}",
                    humantime(timeout)
                ),
            },
            Some(s) if s.success() => Delivery::Delivered {
                detail: format!("exit status 0{output}{note}"),
            },
            Some(s) => Delivery::Retryable {
                error: format!("{}{output}", describe_status(s)),
            },
        }
    }
}

/// Arguments as they would be typed, for a dry run's line.
fn shown_args(args: &[String]) -> String {
    args.iter()
        .map(|a| format!("{a:?}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn humantime(d: Duration) -> String {
    format!(
        "{:#}",
        jiff::SignedDuration::try_from(d).unwrap_or_default()
    )
}

fn describe_status(s: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = s.signal() {
            return format!("killed by signal {sig}");
        }
    }
    match s.code() {
        Some(c) => format!("exit status {c}"),
        None => "ended without an exit status".to_string(),
    }
}

/// "; stdout: …; stderr: …" for the timeline, bounded by [`OUTPUT_LIMIT`].
fn output_text(out: &RunOutput) -> String {
    let mut s = String::new();
    for (name, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let text = text.trim_end();
        if !text.is_empty() {
            s.push_str(&format!("; {name}: {text}"));
        }
    }
    s
}

/// Runs `path` with `args` and `env` (nothing else from Firebell's
/// environment), no stdin, killing its process group after `timeout`.
pub async fn run(
    path: &std::path::Path,
    args: &[String],
    env: &[(String, String)],
    timeout: Duration,
) -> std::io::Result<RunOutput> {
    let mut cmd = tokio::process::Command::new(path);
    cmd.args(args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for name in PASSED_ENV {
        if let Some(v) = std::env::var_os(name) {
            cmd.env(name, v);
        }
    }
    if std::env::var_os("PATH").is_none() {
        cmd.env("PATH", "/usr/local/bin:/usr/bin:/bin");
    }
    cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    // Its own process group, so a timeout kills what it started too.
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = cmd.spawn()?;
    let stdout = tokio::spawn(read_bounded(child.stdout.take()));
    let stderr = tokio::spawn(read_bounded(child.stderr.take()));
    let status = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => Some(status?),
        Err(_) => {
            #[cfg(unix)]
            if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.kill().await;
            None
        }
    };
    let collect = |h: tokio::task::JoinHandle<Vec<u8>>| async move {
        let abort = h.abort_handle();
        match tokio::time::timeout(DRAIN_GRACE, h).await {
            Ok(Ok(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
            _ => {
                abort.abort();
                String::new()
            }
        }
    };
    Ok(RunOutput {
        status,
        stdout: collect(stdout).await,
        stderr: collect(stderr).await,
    })
}

/// Reads to the end, keeping the first [`OUTPUT_LIMIT`] bytes (the rest is
/// read and dropped so the program never blocks on a full pipe).
async fn read_bounded<R: AsyncRead + Unpin>(r: Option<R>) -> Vec<u8> {
    let Some(mut r) = r else {
        return Vec::new();
    };
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    let mut truncated = false;
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = OUTPUT_LIMIT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                truncated |= n > room;
            }
        }
    }
    if truncated {
        kept.extend_from_slice(" …(cut)".as_bytes());
    }
    kept
}

/// A `[[channels]]` program table, as the dispatcher builds it.
pub(crate) struct Channel(ProgramChannel);

impl Channel {
    pub(crate) fn new(b: &crate::Build<'_>, settings: &ProgramSettings) -> Self {
        Self(ProgramChannel {
            name: b.channel.name.clone(),
            settings: settings.clone(),
            dry_run: b.channel.dry_run,
        })
    }

    pub(crate) async fn deliver(&self, a: &crate::Attempt<'_>) -> Delivery {
        self.0.deliver(a.config, a.templates, a.alert, a.n).await
    }

    pub(crate) fn longest_attempt(&self, _webhook: Duration) -> Duration {
        self.0.longest_run()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use firebell_core::event::DedupKey;

    fn alert(severity: Severity, status: AlertStatus, labels: &[(&str, &str)]) -> Alert {
        let t = jiff::Timestamp::UNIX_EPOCH;
        Alert {
            id: 9,
            service: "web".into(),
            dedup_key: DedupKey::parse("k").unwrap(),
            status,
            summary: "Virtual server started on port 80".into(),
            severity,
            source: "vtm1".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            details: Default::default(),
            count: 1,
            created_at: t,
            updated_at: t,
            acknowledged_at: None,
            resolved_at: None,
            expires_at: None,
        }
    }

    fn page(kind: NotificationKind) -> Notification {
        let (_, mut n) = firebell_core::templates::samples().remove(0);
        n.kind = kind;
        n
    }

    #[test]
    fn the_seed_event_line_comes_out_exactly() {
        let a = alert(
            Severity::Info,
            AlertStatus::Triggered,
            &[("object", "vservers/Olympus"), ("tag", "vsstart")],
        );
        assert_eq!(
            event_line(&a, &page(NotificationKind::Notify), &a.summary),
            "INFO\tvservers/Olympus\tvsstart\tVirtual server started on port 80"
        );
    }

    #[test]
    fn levels_and_default_object_and_tag() {
        let n = page(NotificationKind::Notify);
        let a = alert(Severity::Critical, AlertStatus::Triggered, &[]);
        assert_eq!(
            event_line(&a, &n, "Pool\thas no\nnodes"),
            "FATAL\tservices/web\talerttriggered\tPool has no nodes"
        );
        let a = alert(Severity::Error, AlertStatus::Acknowledged, &[]);
        assert!(event_line(&a, &n, "x").starts_with("SERIOUS\tservices/web\talertacknowledged\t"));
        let a = alert(Severity::Warning, AlertStatus::Triggered, &[]);
        assert!(event_line(&a, &n, "x").starts_with("WARN\t"));
        let a = alert(Severity::Critical, AlertStatus::Resolved, &[]);
        assert!(event_line(&a, &n, "x").starts_with("INFO\tservices/web\talertresolved\t"));
        let t = page(NotificationKind::Test);
        assert!(event_line(&a, &t, "x").contains("\ttestaction\t"));
    }

    #[tokio::test]
    async fn output_is_bounded_and_a_hanging_program_is_killed() {
        let sh = std::path::Path::new("/bin/sh");
        let args = vec![
            "-c".to_string(),
            "head -c 100000 /dev/zero | tr '\\0' x; echo err >&2; sleep 30 & sleep 30".to_string(),
        ];
        let started = std::time::Instant::now();
        let out = run(sh, &args, &[], Duration::from_millis(500))
            .await
            .unwrap();
        assert!(out.status.is_none(), "killed at the timeout");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(
            out.stdout.len() <= OUTPUT_LIMIT + 16,
            "{}",
            out.stdout.len()
        );
        assert!(out.stdout.ends_with("…(cut)"));
        assert_eq!(out.stderr, "err\n");
    }
}
