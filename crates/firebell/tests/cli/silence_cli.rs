//! `firebell silence add|list|expire` against the real `firebell serve`:
//! a silence is made and listed, one matching nothing warns, a bad matcher
//! fails naming it, and expiring shows the silence expired.

use crate::common::{BIN, free_port, one_service_config, serve_ready, text, write_config};
use serde_json::{Value, json};
use std::process::{Command, Output};

const KEY: &str = "silence-cli-key";
const ADMIN: &str = "silence-cli-admin";

fn cli(url: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["silence"])
        .args(args)
        .args(["--url", url, "--token", ADMIN])
        .env_remove("FIREBELL_URL")
        .env_remove("FIREBELL_TOKEN")
        .output()
        .unwrap()
}

#[tokio::test]
async fn silence_add_list_and_expire_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = one_service_config(dir.path(), port, ADMIN, "p", "checkout", ("generic", KEY));
    let path = write_config(dir.path(), &config);
    let server = serve_ready(&path, port).await;
    let url = server.url.clone();
    let r = reqwest::Client::new()
        .post(format!("{url}/api/v1/events"))
        .bearer_auth(KEY)
        .json(&json!({"action": "trigger", "dedup_key": "cart-errors", "summary": "Cart errors"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);

    // Matches the open alert: no warning.
    let out = cli(
        &url,
        &[
            "add",
            "--matcher",
            "service=\"checkout\"",
            "--duration",
            "2h",
            "--comment",
            "deploying the cart",
            "--author",
            "carol",
            "--expire-on-resolve",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("silenced: "), "{stdout}");
    assert!(stdout.contains("{service=\"checkout\"}"), "{stdout}");
    assert!(stdout.contains("by carol: deploying the cart"), "{stdout}");
    assert!(
        stdout.contains("expires when its alerts resolve"),
        "{stdout}"
    );
    assert!(
        !text(&out.stderr).contains("warning"),
        "{}",
        text(&out.stderr)
    );

    // Matches nothing: a warning on stderr, still created.
    let out = cli(
        &url,
        &[
            "add",
            "--matcher",
            "service=\"billing\"",
            "--until",
            "2099-01-01T00:00:00Z",
            "--comment",
            "nothing there",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("warning: matches no open alert"),
        "{}",
        text(&out.stderr)
    );

    // A bad matcher fails, naming it; nothing is stored.
    let out = cli(
        &url,
        &[
            "add",
            "--matcher",
            "host=~\"(\"",
            "--duration",
            "1h",
            "--comment",
            "x",
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("matchers[0]"),
        "{}",
        text(&out.stderr)
    );

    let out = cli(&url, &["list", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let silences = list["silences"].as_array().unwrap();
    assert_eq!(silences.len(), 2, "{list}");
    let id = silences[0]["id"].as_str().unwrap().to_string();
    assert_eq!(silences[0]["state"], "active");

    let out = cli(&url, &["expire", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(&format!("expired: {id} expired ")),
        "{stdout}"
    );
    let out = cli(&url, &["list", "--state", "active"]);
    let stdout = text(&out.stdout);
    assert!(!stdout.contains(&id), "{stdout}");
    assert!(stdout.contains("service=\"billing\""), "{stdout}");
    // An unknown id fails.
    let out = cli(&url, &["expire", "00000000-0000-4000-8000-000000000000"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("404"), "{}", text(&out.stderr));
}
