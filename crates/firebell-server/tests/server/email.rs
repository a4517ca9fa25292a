//! Email pages through a real SMTP server (Python's `aiosmtpd`, started by
//! the test from `tests/python/smtp_sink.py`), and the signed one-click
//! acknowledge/resolve links they carry.

use crate::support::*;
use firebell_core::clock::Clock;
use firebell_core::links;
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where the links in pages point. The test server listens elsewhere (port
/// 0), so a link's path and query are sent to it, as a proxy would.
const PUBLIC_URL: &str = "https://pager.example.com";

/// A running `smtp_sink.py`: messages land in `out` as NNN.eml + NNN.json.
struct SmtpSink {
    port: u16,
    out: PathBuf,
    _child: ChildGuard,
}

impl SmtpSink {
    /// Starts the sink with `args` (after PORT OUTDIR), or `None` to skip.
    fn start(dir: &Path, args: &[&str]) -> Option<SmtpSink> {
        let python = python_with(&["aiosmtpd", "trustme"])?;
        let out = dir.join("mail");
        std::fs::create_dir_all(&out).unwrap();
        let port = free_port();
        let mut child = Command::new(python)
            .arg(python_script("smtp_sink.py"))
            .arg(port.to_string())
            .arg(&out)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let guard = ChildGuard(child);
        assert_eq!(line.trim(), "ready", "smtp_sink.py did not start");
        Some(SmtpSink {
            port,
            out,
            _child: guard,
        })
    }

    /// The `n`th message (1-based): raw bytes and envelope.
    async fn message(&self, n: usize) -> (Vec<u8>, Value) {
        let eml = self.out.join(format!("{n:03}.eml"));
        let meta = self.out.join(format!("{n:03}.json"));
        eventually(10, &format!("message {n} at the SMTP server"), || {
            let ready = eml.exists() && meta.exists();
            async move { ready.then_some(()) }
        })
        .await;
        let envelope = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
        (std::fs::read(&eml).unwrap(), envelope)
    }

    fn count(&self) -> usize {
        std::fs::read_dir(&self.out)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "eml")
            })
            .count()
    }
}

fn config(smtp: &str, contacts: &str) -> String {
    format!(
        r#"
[server]
data_dir = "{{DATA_DIR}}"
admin_token = "test-admin-token"
public_url = "{PUBLIC_URL}"
link_secret = "test-link-secret-0123456789"

[[channels]]
name = "mail"
kind = "smtp"
from = "Firebell <pager@example.com>"
{smtp}

[[users]]
id = "alice"
name = "Alice Example"
contacts = [ {contacts} ]

[[policies]]
id = "p"
steps = [ {{ targets = ["user:alice"], wait = "5m" }} ]

[[services]]
id = "checkout"
name = "Checkout web"
policy = "p"
integrations = [ {{ kind = "generic", key = "test-integration-key" }} ]
"#
    )
}

/// The link to `action` in a text body.
fn link_in(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{text}"))
        .trim()
        .to_string()
}

/// The URL at the test server for a link to [`PUBLIC_URL`].
fn local(app: &TestApp, link: &str) -> String {
    let rest = link
        .strip_prefix(PUBLIC_URL)
        .unwrap_or_else(|| panic!("{link} is not under {PUBLIC_URL}"));
    format!("{}{rest}", app.url)
}

async fn get_page(app: &TestApp, url: &str) -> (u16, String) {
    let r = app.client.get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn post_page(app: &TestApp, url: &str) -> (u16, String) {
    let r = app.client.post(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn status(app: &TestApp, id: i64) -> String {
    app.alert(id).await["alert"]["status"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn timeline_messages(app: &TestApp, id: i64) -> Vec<String> {
    app.alert(id).await["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_page_reaches_a_real_smtp_server_and_its_link_acknowledges_once() {
    let dir = tempfile::tempdir().unwrap();
    let Some(sink) = SmtpSink::start(dir.path(), &["--auth", "pager:s3cret-pass"]) else {
        return;
    };
    let smtp = format!(
        "host = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nusername = \"pager\"\npassword = \"s3cret-pass\"",
        sink.port
    );
    let text = render_config(
        &config(
            &smtp,
            r#"{ kind = "email", address = "alice@example.com" }"#,
        ),
        &dir.path().join("data"),
        "",
    );
    let app = spawn_app_at(&text, &dir.path().join("data"), t0(), None).await;
    let id = app.trigger("disk-web1", "Disk full on web1").await;
    app.settle().await;

    let (raw, envelope) = sink.message(1).await;
    assert_eq!(envelope["mail_from"], "pager@example.com");
    assert_eq!(
        envelope["rcpt_tos"],
        serde_json::json!(["alice@example.com"])
    );
    assert_eq!(envelope["login"], "pager", "the channel logged in");

    let msg = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(
        msg.subject(),
        Some("[firebell] Checkout web CRITICAL: Disk full on web1")
    );
    let from = msg.from().unwrap().first().unwrap();
    assert_eq!(
        (from.name(), from.address()),
        (Some("Firebell"), Some("pager@example.com"))
    );
    let to = msg.to().unwrap().first().unwrap();
    assert_eq!(
        (to.name(), to.address()),
        (Some("Alice Example"), Some("alice@example.com"))
    );
    assert!(msg.date().is_some(), "a Date header");
    let message_id = msg.message_id().unwrap();
    assert!(
        message_id.starts_with(&format!("firebell.{id}.")) && message_id.ends_with("@example.com"),
        "{message_id}"
    );
    let header = |name: &str| msg.header_raw(name).map(str::trim).map(str::to_string);
    assert_eq!(header("Auto-Submitted").as_deref(), Some("auto-generated"));
    assert_eq!(
        header("X-Firebell-Alert-Id").as_deref(),
        Some(id.to_string().as_str())
    );
    let ct = msg.content_type().unwrap();
    assert_eq!(
        (ct.ctype(), ct.subtype()),
        ("multipart", Some("alternative"))
    );

    let body = msg.body_text(0).unwrap().to_string();
    assert!(
        body.contains(&format!("CRITICAL alert #{id} on Checkout web")),
        "{body}"
    );
    assert!(body.contains("Disk full on web1"), "{body}");
    let ack = link_in(&body, "Acknowledge:");
    let resolve = link_in(&body, "Resolve:");
    assert!(
        ack.starts_with(&format!(
            "{PUBLIC_URL}/links/alerts/{id}/acknowledge?token="
        )),
        "{ack}"
    );
    assert!(
        resolve.starts_with(&format!("{PUBLIC_URL}/links/alerts/{id}/resolve?token=")),
        "{resolve}"
    );
    let html = msg.body_html(0).unwrap().to_string();
    let hrefs = html.replace("&#x2f;", "/");
    assert!(hrefs.contains(&format!("href=\"{ack}\"")), "{html}");
    assert!(hrefs.contains(&format!("href=\"{resolve}\"")), "{html}");
    assert!(
        html.contains("<h1 style=\"font-size:20px\">Disk full on web1</h1>"),
        "{html}"
    );

    let view = app.alert(id).await;
    assert_eq!(view["notifications"][0]["channel"], "mail");
    assert_eq!(view["notifications"][0]["status"], "delivered");

    // Opening the link only asks; mail scanners that fetch it change nothing.
    let (code, page) = get_page(&app, &local(&app, &ack)).await;
    assert_eq!(code, 200, "{page}");
    assert!(
        page.contains(&format!("Acknowledge alert #{id}?")),
        "{page}"
    );
    assert!(page.contains("<form method=\"post\""), "{page}");
    assert!(page.contains("Disk full on web1"), "{page}");
    assert_eq!(status(&app, id).await, "triggered");

    // The button acts, once, in alice's name.
    let (code, page) = post_page(&app, &local(&app, &ack)).await;
    assert_eq!(code, 200, "{page}");
    assert!(
        page.contains(&format!("Alert #{id} acknowledged")),
        "{page}"
    );
    assert_eq!(status(&app, id).await, "acknowledged");
    let acks = |t: &[String]| {
        t.iter()
            .filter(|m| m.starts_with("acknowledged by"))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        acks(&timeline_messages(&app, id).await),
        ["acknowledged by link:alice"]
    );

    let (code, page) = post_page(&app, &local(&app, &ack)).await;
    assert_eq!(code, 409, "{page}");
    assert!(
        page.contains(&format!("Alert #{id} is already acknowledged")),
        "{page}"
    );
    assert_eq!(acks(&timeline_messages(&app, id).await).len(), 1);
    let (code, page) = get_page(&app, &local(&app, &ack)).await;
    assert_eq!(code, 200);
    assert!(
        page.contains("already acknowledged") && !page.contains("<form"),
        "{page}"
    );

    // The resolve link from the same email still resolves.
    let (code, page) = post_page(&app, &local(&app, &resolve)).await;
    assert_eq!(code, 200, "{page}");
    assert_eq!(status(&app, id).await, "resolved");
    assert!(
        timeline_messages(&app, id)
            .await
            .contains(&"resolved by link:alice".to_string())
    );
    assert_eq!(sink.count(), 1, "one page, one email");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_address_fails_for_good_and_the_next_contact_is_paged() {
    let dir = tempfile::tempdir().unwrap();
    let Some(sink) = SmtpSink::start(dir.path(), &["--reject-domain", "gone.example"]) else {
        return;
    };
    let smtp = format!("host = \"127.0.0.1\"\nport = {}\ntls = \"none\"", sink.port);
    let text = render_config(
        &config(
            &smtp,
            r#"{ kind = "email", address = "alice@gone.example" }, { kind = "console" }"#,
        ),
        &dir.path().join("data"),
        "",
    );
    let app = spawn_app_at(&text, &dir.path().join("data"), t0(), None).await;
    let id = app.trigger("disk-web1", "Disk full on web1").await;
    app.settle().await;

    let view = app.alert(id).await;
    let n = &view["notifications"][0];
    assert_eq!(n["status"], "failed", "{view}");
    assert_eq!(n["attempts"], 1, "a 550 is not retried: {view}");
    let error = n["last_error"].as_str().unwrap();
    assert!(error.contains("550"), "{error}");
    assert!(error.contains("mailbox unavailable"), "{error}");
    assert_eq!(app.pages().len(), 1, "the console was paged next");
    assert_eq!(sink.count(), 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_and_tls_verify_the_server_against_ca_file() {
    for mode in ["starttls", "tls"] {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let ca_arg = ca.display().to_string();
        let Some(sink) = SmtpSink::start(
            dir.path(),
            &[
                "--tls",
                mode,
                "--ca-out",
                &ca_arg,
                "--auth",
                "pager:s3cret-pass",
            ],
        ) else {
            return;
        };
        let smtp = format!(
            "host = \"localhost\"\nport = {}\ntls = \"{mode}\"\nca_file = \"{ca_arg}\"\nusername = \"pager\"\npassword = \"s3cret-pass\"",
            sink.port
        );
        let text = render_config(
            &config(
                &smtp,
                r#"{ kind = "email", address = "alice@example.com" }"#,
            ),
            &dir.path().join("data"),
            "",
        );
        let app = spawn_app_at(&text, &dir.path().join("data"), t0(), None).await;
        let id = app.trigger("disk-web1", "Disk full on web1").await;
        app.settle().await;
        let (raw, envelope) = sink.message(1).await;
        assert_eq!(envelope["encrypted"], true, "{mode}: {envelope}");
        assert_eq!(envelope["login"], "pager", "{mode}");
        let msg = MessageParser::default().parse(&raw).unwrap();
        assert_eq!(
            msg.subject(),
            Some("[firebell] Checkout web CRITICAL: Disk full on web1")
        );
        assert_eq!(
            app.alert(id).await["notifications"][0]["status"],
            "delivered"
        );
        app.stop().await;
    }

    // Without the CA the server's certificate is not trusted: no mail goes
    // out over a connection that could be intercepted.
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let ca_arg = ca.display().to_string();
    let Some(sink) = SmtpSink::start(dir.path(), &["--tls", "starttls", "--ca-out", &ca_arg])
    else {
        return;
    };
    let smtp = format!(
        "host = \"localhost\"\nport = {}\ntls = \"starttls\"",
        sink.port
    );
    let text = render_config(
        &config(
            &smtp,
            r#"{ kind = "email", address = "alice@example.com" }"#,
        ),
        &dir.path().join("data"),
        "",
    );
    let app = spawn_app_at(&text, &dir.path().join("data"), t0(), None).await;
    let id = app.trigger("disk-web1", "Disk full on web1").await;
    app.settle().await;
    let n = &app.alert(id).await["notifications"][0];
    assert_eq!(n["status"], "pending", "retried later: {n}");
    let error = n["last_error"].as_str().unwrap();
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    assert_eq!(sink.count(), 0);
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Links on their own (no SMTP server needed).
// ---------------------------------------------------------------------------

const CONSOLE: &str = concat!(
    server_section!(),
    r#"public_url = "https://pager.example.com"
link_secret = "test-link-secret-0123456789"

[[users]]
id = "alice"
contacts = [ { kind = "console" } ]

[[policies]]
id = "p"
steps = [ { targets = ["user:alice"], wait = "5m" } ]

[[services]]
id = "checkout"
policy = "p"
integrations = [ { kind = "generic", key = "test-integration-key" } ]
"#
);

/// Signed links for `id`, as a page to alice queued now would carry.
fn links_for(app: &TestApp, id: i64) -> links::ActionLinks {
    links::action_links(&app.engine.config(), id, "alice", app.clock.now()).unwrap()
}

#[tokio::test]
async fn a_link_acts_only_on_its_own_alert_and_refuses_tampering_and_expiry() {
    let (app, _dir, _sink) = spawn_app(CONSOLE).await;
    let one = app.trigger("one", "First problem").await;
    let two = app.trigger("two", "Second problem").await;
    app.settle().await;
    let l1 = links_for(&app, one);
    let before_two = timeline_messages(&app, two).await;

    // Alert 1's token at alert 2's address.
    let moved = local(&app, &l1.acknowledge)
        .replace(&format!("/alerts/{one}/"), &format!("/alerts/{two}/"));
    for (code, page) in [get_page(&app, &moved).await, post_page(&app, &moved).await] {
        assert_eq!(code, 403, "{page}");
        assert!(page.contains("this link is for another alert"), "{page}");
        assert!(page.contains("Nothing was changed"), "{page}");
    }
    // The acknowledge token used as a resolve link.
    let as_resolve = local(&app, &l1.acknowledge).replace("/acknowledge?", "/resolve?");
    let (code, page) = post_page(&app, &as_resolve).await;
    assert_eq!(code, 403, "{page}");
    assert!(page.contains("this link is for another action"), "{page}");

    // A changed token: one character of its payload, or its signature cut.
    let url = local(&app, &l1.acknowledge);
    let token_at = url.find("token=").unwrap() + "token=".len();
    let mut flipped = url.clone().into_bytes();
    flipped[token_at + 2] = if flipped[token_at + 2] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let flipped = String::from_utf8(flipped).unwrap();
    for bad in [flipped.as_str(), &url[..url.len() - 4]] {
        let (code, page) = post_page(&app, bad).await;
        assert_eq!(code, 403, "{page}");
        assert!(page.contains("this link is not valid"), "{page}");
    }
    // No token at all, an unknown action, a non-number id.
    let bare = url[..url.find('?').unwrap()].to_string();
    assert_eq!(post_page(&app, &bare).await.0, 400);
    let escalate = url.replace("/acknowledge?", "/escalate?");
    assert_eq!(post_page(&app, &escalate).await.0, 404);

    assert_eq!(status(&app, one).await, "triggered");
    assert_eq!(status(&app, two).await, "triggered");
    assert_eq!(timeline_messages(&app, two).await, before_two);

    // The genuine link acts on alert 1 only.
    let (code, page) = post_page(&app, &url).await;
    assert_eq!(code, 200, "{page}");
    assert_eq!(status(&app, one).await, "acknowledged");
    assert_eq!(status(&app, two).await, "triggered");

    // Links expire link_ttl (24h by default) after the page was queued.
    let l2 = links_for(&app, two);
    app.advance(mins(24 * 60 - 1)).await;
    let l2_url = local(&app, &l2.acknowledge);
    assert_eq!(get_page(&app, &l2_url).await.0, 200, "still valid");
    app.advance(mins(1)).await;
    let before = timeline_messages(&app, two).await;
    for (code, page) in [
        get_page(&app, &l2_url).await,
        post_page(&app, &l2_url).await,
    ] {
        assert_eq!(code, 410, "{page}");
        assert!(page.contains("Link expired"), "{page}");
        assert!(page.contains("this link expired at"), "{page}");
    }
    assert_eq!(status(&app, two).await, "triggered");
    assert_eq!(timeline_messages(&app, two).await, before);
    app.stop().await;
}

#[tokio::test]
async fn a_link_signed_with_a_replaced_secret_or_to_a_removed_user_does_not_work() {
    let (app, _dir, _sink) = spawn_app(CONSOLE).await;
    let id = app.trigger("one", "First problem").await;
    app.settle().await;
    let old = links::LinkSigner::new(b"another secret, e.g. before rotation");
    let token = old.sign(&links::LinkClaim {
        alert_id: id,
        action: links::LinkAction::Acknowledge,
        user: "alice".into(),
        expires: app.clock.now() + mins(60),
    });
    let url = format!("{}/links/alerts/{id}/acknowledge?token={token}", app.url);
    let (code, page) = post_page(&app, &url).await;
    assert_eq!(code, 403, "{page}");
    assert!(page.contains("this link is not valid"), "{page}");

    // A genuine link to someone who has since left the configuration.
    let gone = links::action_links(&app.engine.config(), id, "mallory", app.clock.now()).unwrap();
    let (code, page) = post_page(&app, &local(&app, &gone.acknowledge)).await;
    assert_eq!(code, 403, "{page}");
    assert!(page.contains("no longer a configured user"), "{page}");
    assert_eq!(status(&app, id).await, "triggered");
    app.stop().await;
}

#[test]
fn bad_smtp_settings_and_email_addresses_are_config_errors_naming_the_field() {
    let text = r#"
[[channels]]
name = "mail"
kind = "smtp"
tls = "ssl"
from = "pager at example.com"
ca_file = "/nonexistent/ca.pem"

[[channels]]
name = "relay"
kind = "smtp"
host = "smtp.example.com"
from = "Firebell <pager@example.com>"

[[users]]
id = "alice"
contacts = [
  { kind = "email", address = "alice@@example.com", channel = "mail" },
  { kind = "email", address = "bob@example.com" },
  { kind = "email", address = "carol@example.com", channel = "nope" },
]
"#;
    let errs = try_parse_config(text).unwrap_err();
    let paths: Vec<&str> = errs.0.iter().map(|e| e.path.as_str()).collect();
    for expected in [
        "channels[0].host",
        "channels[0].tls",
        "channels[0].from",
        "channels[0].ca_file",
        "users[0].contacts[0].address",
        "users[0].contacts[1].channel",
        "users[0].contacts[2].channel",
    ] {
        assert!(
            paths.contains(&expected),
            "{expected} missing from:\n{errs}"
        );
    }
    let shown = errs.to_string();
    assert!(shown.contains("unknown TLS mode \"ssl\""), "{shown}");
    assert!(
        shown.contains("\"alice@@example.com\" is not an email address"),
        "{shown}"
    );
}
