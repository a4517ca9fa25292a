//! `firebell vtm-action`: installed as a traffic manager's (Stingray / Zeus /
//! vTM) action program, as it is. The traffic manager runs it as
//!
//! ```text
//! firebell vtm-action --eventtype=NAME [--ARG=VALUE ...] "EVENT LINE"
//! ```
//!
//! with the action's configured arguments and the tab-separated event line
//! last. It forwards them to Firebell (`POST /api/v1/vtm`) and exits 0 when
//! Firebell took the event, or non-zero with one line on stderr (which the
//! traffic manager writes to its event log when the action is verbose).
//!
//! Where Firebell is: the `--firebell-url=`, `--firebell-key=` (or
//! `--firebell-key-file=`) and `--firebell-config=` arguments, which the
//! traffic manager passes like any other configured argument, or the
//! `FIREBELL_URL` and `FIREBELL_KEY` environment variables.

use anyhow::{Context, Result, anyhow, bail};
use clap::Args as ClapArgs;
use firebell_core::config::IntegrationKind;
use firebell_ingest::vtm::ActionArgs;
use firebell_server::config_file;
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};
use std::ffi::OsString;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The whole time given to Firebell to take the event, retries included.
const DEADLINE: Duration = Duration::from_secs(10);
/// One attempt's limit.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(4);
const ATTEMPTS: usize = 3;

/// For `firebell --help`; the arguments are read by hand, because a traffic
/// manager passes whatever `--NAME=VALUE` arguments its action is configured
/// with.
#[derive(ClapArgs)]
#[command(disable_help_flag = true)]
pub struct Args {
    /// --eventtype=NAME, any --NAME=VALUE, --firebell-url=URL,
    /// --firebell-key=KEY | --firebell-key-file=PATH | --firebell-config=PATH,
    /// then the event line (LEVEL<TAB>object<TAB>tag<TAB>text).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    pub args: Vec<OsString>,
}

const USAGE: &str = "usage: firebell vtm-action --eventtype=NAME [--NAME=VALUE ...] \
[--firebell-url=URL] [--firebell-key=KEY | --firebell-key-file=PATH | --firebell-config=PATH] \"EVENT LINE\"
  Forwards a traffic manager's event to Firebell (POST /api/v1/vtm). Install it as the
  program of a traffic manager action; the event line is the last argument.
  FIREBELL_URL and FIREBELL_KEY are used when the arguments do not say.";

/// What the command line says ([`ActionArgs::parse`], lossy UTF-8 like the
/// traffic manager's own strings).
fn parse(argv: &[OsString]) -> Result<ActionArgs> {
    let argv: Vec<String> = argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    ActionArgs::parse(&argv).map_err(|e| anyhow!(e))
}

/// Runs `vtm-action` when it is the subcommand, before clap sees the
/// arguments; `None` for every other command.
pub fn intercept() -> Option<ExitCode> {
    let mut argv = std::env::args_os().skip(1);
    if argv.next().is_some_and(|a| a == "vtm-action") {
        Some(main(argv.collect()))
    } else {
        None
    }
}

/// The whole command: exit code and at most one line of output.
pub fn main(argv: Vec<OsString>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("firebell vtm-action: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run_cli(argv))
}

/// Runs the command and reports a failure as one line on stderr.
pub async fn run_cli(argv: Vec<OsString>) -> ExitCode {
    match run(argv).await {
        Ok(code) => code,
        Err(e) => {
            // One line: the traffic manager's event log shows it as it is.
            let msg = format!("{e:#}").replace('\n', "; ");
            eprintln!("firebell vtm-action: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// The host name, so an alert says which machine of a cluster saw it first.
fn host() -> Option<String> {
    hostname::get()
        .ok()
        .map(|h| h.to_string_lossy().into_owned())
        .filter(|h| !h.is_empty())
}

async fn run(argv: Vec<OsString>) -> Result<ExitCode> {
    let p = parse(&argv)?;
    if p.help {
        println!("{USAGE}");
        return Ok(ExitCode::SUCCESS);
    }
    let line = p
        .line
        .clone()
        .ok_or_else(|| anyhow!("no event line: it is the last argument (see --help)"))?;
    let config = match &p.config {
        None => None,
        Some(path) => Some(
            config_file::load(std::path::Path::new(path))
                .map_err(|e| anyhow!("{path}: {}", e.to_string().replace('\n', "; ")))?,
        ),
    };
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let url = p
        .url
        .clone()
        .or_else(|| env("FIREBELL_URL"))
        .or_else(|| config.as_ref().map(|c| c.server.public_url.clone()))
        .ok_or_else(|| {
            anyhow!("no Firebell URL: pass --firebell-url=URL (or set FIREBELL_URL, or pass --firebell-config=PATH)")
        })?;
    let key = match (&p.key, &p.key_file) {
        (Some(k), _) => Some(k.clone()),
        (None, Some(path)) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading --firebell-key-file {path}"))?
                .trim()
                .to_string(),
        ),
        (None, None) => env("FIREBELL_KEY"),
    };
    let key = match (key, &config) {
        (Some(k), _) => k,
        (None, Some(c)) => c
            .services
            .values()
            .flat_map(|s| &s.integrations)
            .find(|i| i.kind == IntegrationKind::Vtm)
            .map(|i| i.key.expose_secret().to_string())
            .ok_or_else(|| anyhow!("the configuration has no vtm integration"))?,
        (None, None) => bail!(
            "no integration key: pass --firebell-key=KEY or --firebell-key-file=PATH (or set FIREBELL_KEY)"
        ),
    };

    let mut body = Map::new();
    if let Some(e) = &p.eventtype {
        body.insert("eventtype".into(), json!(e));
    }
    body.insert("args".into(), json!(p.args));
    body.insert("line".into(), json!(line));
    if let Some(h) = host() {
        body.insert("host".into(), json!(h));
    }
    let endpoint = format!("{}/api/v1/vtm", url.trim_end_matches('/'));
    let answer = post(&endpoint, &key, &Value::Object(body)).await?;
    println!("firebell: {}", describe(&answer));
    Ok(ExitCode::SUCCESS)
}

/// One line about what Firebell did.
fn describe(answer: &Value) -> String {
    let alerts = answer
        .get("alerts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let parts: Vec<String> = alerts
        .iter()
        .map(|a| {
            let key = a.get("dedup_key").and_then(Value::as_str).unwrap_or("?");
            let id = a.get("id").and_then(Value::as_i64);
            let action = a.get("action").and_then(Value::as_str).unwrap_or("");
            let dup = a.get("duplicate").and_then(Value::as_bool).unwrap_or(false);
            match (action, id) {
                ("resolve", None) => format!("no open alert {key} to resolve"),
                ("resolve", Some(id)) => format!("alert {id} ({key}) resolved"),
                (_, Some(id)) if dup => format!("alert {id} ({key}) raised again"),
                (_, Some(id)) => format!("alert {id} ({key}) triggered"),
                _ => format!("event for {key} recorded"),
            }
        })
        .collect();
    if parts.is_empty() {
        "event recorded".to_string()
    } else {
        parts.join("; ")
    }
}

/// The error message in a Firebell error answer, with its field details.
fn server_error(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return body.chars().take(200).collect();
    };
    let mut msg = v
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(details) = v.get("details").and_then(Value::as_array) {
        for d in details {
            if let (Some(f), Some(m)) = (
                d.get("field").and_then(Value::as_str),
                d.get("message").and_then(Value::as_str),
            ) {
                msg.push_str(&format!("; {f}: {m}"));
            }
        }
    }
    msg
}

/// Posts with retries on what may pass (no answer, 5xx, 429), within
/// [`DEADLINE`].
async fn post(endpoint: &str, key: &str, body: &Value) -> Result<Value> {
    let client = reqwest::Client::builder()
        .connect_timeout(ATTEMPT_TIMEOUT)
        .build()
        .context("building the HTTP client")?;
    let started = Instant::now();
    let mut last_error = String::new();
    for attempt in 1..=ATTEMPTS {
        let left = DEADLINE.saturating_sub(started.elapsed());
        if left.is_zero() {
            break;
        }
        let sent = client
            .post(endpoint)
            .bearer_auth(key)
            .json(body)
            .timeout(left.min(ATTEMPT_TIMEOUT))
            .send()
            .await;
        match sent {
            Ok(resp) => {
                let status = resp.status();
                let text = resp.text().await.unwrap_or_default();
                if status.is_success() {
                    return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
                }
                let msg = server_error(&text);
                if status.is_server_error() || status.as_u16() == 429 {
                    last_error = format!("Firebell answered {status}: {msg}");
                } else {
                    let what = if status.as_u16() == 401 {
                        "refused the key"
                    } else {
                        "refused the event"
                    };
                    bail!("Firebell {what} ({status}): {msg}");
                }
            }
            Err(e) => {
                let e = e.without_url();
                let mut cause: &dyn std::error::Error = &e;
                while let Some(next) = cause.source() {
                    cause = next;
                }
                last_error = if e.is_timeout() {
                    format!("no answer from Firebell at {endpoint} in time")
                } else {
                    format!("cannot reach Firebell at {endpoint}: {cause}")
                };
            }
        }
        if attempt < ATTEMPTS {
            let pause = Duration::from_millis(500 * attempt as u64);
            tokio::time::sleep(pause.min(DEADLINE.saturating_sub(started.elapsed()))).await;
        }
    }
    bail!("{last_error} (gave up after {:.0?})", started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn reads_arguments_as_a_traffic_manager_passes_them() {
        let p = parse(&os(&[
            "--eventtype=SMS Events",
            "--phone=+447700900123",
            "--debug",
            "--firebell-url=http://127.0.0.1:9",
            "--firebell-key=k",
            "INFO\tvservers/Olympus\tvsstart\tVirtual server started on port 80",
        ]))
        .unwrap();
        assert_eq!(p.eventtype.as_deref(), Some("SMS Events"));
        assert_eq!(p.args["phone"], "+447700900123");
        assert_eq!(p.args["debug"], "");
        assert!(!p.args.contains_key("firebell-key"));
        assert_eq!(p.url.as_deref(), Some("http://127.0.0.1:9"));
        assert!(p.line.unwrap().starts_with("INFO\t"));
    }

    #[test]
    fn a_stray_argument_before_the_line_is_an_error() {
        let e = parse(&os(&["stray", "--eventtype=x", "line"])).unwrap_err();
        assert!(e.to_string().contains("\"stray\""), "{e}");
    }
}
