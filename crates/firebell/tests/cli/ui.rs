//! The web UI in a real browser: Debian's Chromium, driven by
//! playwright-core (tests/node/ui.mjs), against a real `firebell serve`
//! with passwords set by `firebell user set-password`. Each test runs one
//! scenario of the script on a fresh server. Under `CI` a missing Node,
//! playwright-core or Chromium fails the test; elsewhere it is skipped
//! with a loud message.

use crate::common::*;
use axum::Router;
use axum::extract::State;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ADMIN: &str = "ui-admin-token-0123456789";
const KEY: &str = "ui-generic-key-0123456789";

/// What the browser tests need: Node, the script's packages, Chromium.
struct Tools {
    node: PathBuf,
    chromium: PathBuf,
    script: PathBuf,
}

fn tools() -> Option<Tools> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = root.join("tests/node/ui.mjs");
    let find = |names: &[&str]| {
        names.iter().find_map(|n| {
            let out = Command::new("sh")
                .args(["-c", &format!("command -v {n}")])
                .output()
                .ok()?;
            let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
            (out.status.success() && !p.is_empty()).then(|| PathBuf::from(p))
        })
    };
    let node = find(&["node"]);
    let chromium = std::env::var_os("FIREBELL_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| find(&["chromium", "chromium-browser"]));
    let packages = root
        .join("tests/node/node_modules/playwright-core/package.json")
        .exists()
        && root
            .join("tests/node/node_modules/axe-core/axe.min.js")
            .exists();
    match (node, chromium, packages) {
        (Some(node), Some(chromium), true) => Some(Tools {
            node,
            chromium,
            script,
        }),
        (node, chromium, packages) => {
            let msg = format!(
                "browser tests need node ({}), chromium ({}) and tests/node's packages ({}): run .ci/run, or apt-get install chromium nodejs npm && npm ci --prefix tests/node",
                node.map_or("missing".into(), |p| p.display().to_string()),
                chromium.map_or("missing".into(), |p| p.display().to_string()),
                if packages { "installed" } else { "missing" },
            );
            if std::env::var_os("CI").is_some() {
                panic!("{msg}");
            }
            eprintln!("\n!!! SKIPPED: {msg}\n");
            None
        }
    }
}

/// A webhook receiver that counts the pages it gets.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<serde_json::Value>>>);

impl Sink {
    async fn start() -> (Sink, String) {
        let sink = Sink::default();
        let app = Router::new()
            .fallback(
                |State(s): State<Sink>, axum::Json(v): axum::Json<serde_json::Value>| async move {
                    s.0.lock().unwrap().push(v);
                    "ok"
                },
            )
            .with_state(sink.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (sink, format!("http://{addr}"))
    }

    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// A server with four people (alice responder paged by webhook, bob,
/// olga observer, adam admin), a weekly schedule `ops` with bob on call
/// now, a policy paging alice then ops every 2 s, and service `checkout`.
struct Ui {
    server: Server,
    config: PathBuf,
    sink: Sink,
    _dir: tempfile::TempDir,
}

async fn start() -> Ui {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (sink, sink_url) = Sink::start().await;
    // bob's week started yesterday; alice's starts in six days.
    let yesterday = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .date()
        .yesterday()
        .unwrap();
    let config = format!(
        r#"{server}public_url = "http://127.0.0.1:{port}"
feed_secret = "ui-feed-secret-0123456789abcdef"

[[users]]
id = "alice"
name = "Alice Archer"
timezone = "Europe/London"
contacts = [ {{ kind = "webhook", url = "{sink_url}/alice" }} ]

[[users]]
id = "bob"
name = "Bob Baker"
contacts = [ {{ kind = "console" }} ]

[[users]]
id = "olga"
name = "Olga Observer"
role = "observer"
contacts = [ {{ kind = "console" }} ]

[[users]]
id = "adam"
name = "Adam Admin"
role = "admin"
contacts = [ {{ kind = "console" }} ]

[[schedules]]
id = "ops"
timezone = "UTC"
layers = [ {{ name = "Weekly", participants = ["bob", "alice"], shift = "1w", first_handoff = "{yesterday}T09:00" }} ]

[[policies]]
id = "page-alice"
repeat = 50
steps = [
  {{ targets = ["user:alice"], wait = "2s" }},
  {{ targets = ["schedule:ops"], wait = "2s" }},
]

[[services]]
id = "checkout"
name = "Checkout"
policy = "page-alice"
integrations = [ {{ kind = "generic", key = "{KEY}" }} ]
"#,
        server = server_section(dir.path(), port, ADMIN)
    );
    let path = write_config(dir.path(), &config);
    for user in ["alice", "olga", "adam"] {
        set_password(&path, user, &format!("password-of-{user}"));
    }
    let server = serve_ready(&path, port).await;
    Ui {
        server,
        config: path,
        sink,
        _dir: dir,
    }
}

/// `firebell user set-password USER`, the password on standard input.
fn set_password(config: &Path, user: &str, password: &str) -> (bool, String, String) {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(["user", "set-password", user, "--config"])
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// Runs one scenario of tests/node/ui.mjs; its output is printed, and a
/// failure fails the test with it.
fn scenario(tools: &Tools, ui: &Ui, name: &str, shots: Option<&Path>) -> String {
    let mut cmd = Command::new(&tools.node);
    cmd.arg(&tools.script)
        .arg(name)
        .current_dir(tools.script.parent().unwrap())
        .env("FIREBELL_URL", &ui.server.url)
        .env("FIREBELL_ADMIN", ADMIN)
        .env("FIREBELL_KEY", KEY)
        .env("CHROMIUM", &tools.chromium);
    if let Some(dir) = shots {
        cmd.env("SCREENSHOT_DIR", dir);
    }
    let out = cmd.output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "browser scenario {name} failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains(&format!("scenario {name}: ok")));
    stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_in_takes_the_right_password_and_signing_out_ends_the_session() {
    let Some(tools) = tools() else { return };
    let ui = start().await;
    scenario(&tools, &ui, "sign_in", None);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_open_list_shows_new_alerts_and_changes_without_a_reload() {
    let Some(tools) = tools() else { return };
    let ui = start().await;
    scenario(&tools, &ui, "live_list", None);
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledging_on_the_alert_page_stops_the_pages_and_names_the_person() {
    let Some(tools) = tools() else { return };
    let ui = start().await;
    scenario(&tools, &ui, "acknowledge", None);
    // Pages went out before the acknowledgement (every 2 s)...
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after_ack = ui.sink.count();
    assert!(after_ack >= 1, "alice was paged before she acknowledged");
    // ...and none after it, over three of the policy's waits.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        ui.sink.count(),
        after_ack,
        "a page went out after the acknowledgement"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_observer_sees_no_answer_buttons_and_a_forged_post_is_refused() {
    let Some(tools) = tools() else { return };
    let ui = start().await;
    scenario(&tools, &ui, "observer", None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_form_without_the_csrf_token_is_refused() {
    let Some(tools) = tools() else { return };
    let ui = start().await;
    scenario(&tools, &ui, "csrf", None);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_override_made_on_the_schedule_page_is_what_the_api_reports() {
    let Some(tools) = tools() else { return };
    let ui = start().await;
    scenario(&tools, &ui, "override", None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silence_is_previewed_created_and_expired_from_the_page() {
    let Some(tools) = tools() else { return };
    let ui = start().await;
    scenario(&tools, &ui, "silence", None);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_form_works_with_javascript_off() {
    let Some(tools) = tools() else { return };
    let ui = start().await;
    scenario(&tools, &ui, "no_js", None);
}

#[tokio::test(flavor = "multi_thread")]
async fn script_in_a_summary_label_or_detail_is_shown_as_text() {
    let Some(tools) = tools() else { return };
    let ui = start().await;
    scenario(&tools, &ui, "escaping", None);
}

/// axe-core finds no serious or critical problem on any page, at 1280 and
/// 390 px. `FIREBELL_SCREENSHOTS=DIR` also writes the pictures in docs/.
#[tokio::test(flavor = "multi_thread")]
async fn every_page_passes_the_accessibility_check_on_a_laptop_and_a_phone() {
    let Some(tools) = tools() else { return };
    let ui = start().await;
    let shots = std::env::var_os("FIREBELL_SCREENSHOTS").map(PathBuf::from);
    scenario(&tools, &ui, "screens", shots.as_deref());
}

#[tokio::test]
async fn set_password_refuses_a_short_password_and_an_unknown_user() {
    let ui = start().await;
    let (ok, _, err) = set_password(&ui.config, "alice", "short");
    assert!(!ok);
    assert!(err.contains("at least 10 characters"), "{err}");
    let (ok, _, err) = set_password(&ui.config, "nobody", "long enough password");
    assert!(!ok);
    assert!(err.contains("no user \"nobody\""), "{err}");
    let (ok, out, _) = set_password(&ui.config, "bob", "a new password for bob");
    assert!(ok);
    assert!(out.contains("Password set for bob"), "{out}");
    // bob signs in with it.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = |password: &'static str| {
        client
            .post(format!("{}/login", ui.server.url))
            .form(&[("user", "bob"), ("password", password)])
            .send()
    };
    let r = login("a new password for bob").await.unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("firebell_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "http public_url: no Secure");
    assert_eq!(login("short").await.unwrap().status(), 401);
}
