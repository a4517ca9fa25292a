//! `firebell vtm-action` run exactly as a traffic manager runs an action
//! program: a bare environment, the action's configured `--NAME=VALUE`
//! arguments, `--eventtype=`, and the tab-separated event line last; against a
//! real `firebell serve`.

use crate::common::{BIN, Server, free_port, one_service_config, serve_ready, text, write_config};
use serde_json::Value;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "vtm-integration-key-1";
const ADMIN: &str = "vtm-admin-token-0001";

/// The first seed's event line: the traffic manager says virtual server
/// Olympus started.
const SEED_LINE: &str = "INFO\tvservers/Olympus\tvsstart\tVirtual server started on port 80";
/// "Pool has no back-end nodes responding", from the seed's "SMS Events",
/// raised by every machine of a cluster.
const POOL_DIED: &str = "SERIOUS\tpools/web\tpooldied\tPool has no back-end nodes responding";
const POOL_OK: &str = "INFO\tpools/web\tpoolok\tPool now has working nodes";

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = one_service_config(dir.path(), port, ADMIN, "p", "web", ("vtm", KEY));
    let path = write_config(dir.path(), &config);
    serve_ready(&path, port).await.keeping(dir)
}

/// The program as a traffic manager starts it: nothing inherited from this
/// test's environment, only what it is given.
fn action(args: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("vtm-action")
        .args(args)
        .env_clear()
        .current_dir(Path::new("/"))
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

async fn run(mut cmd: tokio::process::Command) -> Output {
    tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("vtm-action did not finish within 30 s")
        .unwrap()
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

#[tokio::test]
async fn the_seeds_event_line_becomes_an_alert() {
    let server = start().await;
    // Exactly the command of the seed's action, with Firebell's address in
    // the environment.
    let out = run(action(
        &["--eventtype=SMS Events", "--phone=+447700900123", SEED_LINE],
        &[("FIREBELL_URL", &server.url), ("FIREBELL_KEY", KEY)],
    ))
    .await;
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {}",
        out.status,
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("triggered"),
        "{}",
        text(&out.stdout)
    );

    let all = alerts(&server.url).await;
    assert_eq!(all.len(), 1, "{all:?}");
    let a = &all[0];
    assert_eq!(a["service"], "web");
    assert_eq!(a["status"], "triggered");
    assert_eq!(
        a["summary"],
        "vservers/Olympus: Virtual server started on port 80"
    );
    assert_eq!(a["severity"], "info");
    assert_eq!(a["dedup_key"], "vtm:vservers/Olympus:vsstart");
    assert_eq!(a["labels"]["eventtype"], "SMS Events");
    assert_eq!(a["labels"]["level"], "INFO");
    assert_eq!(a["labels"]["object"], "vservers/Olympus");
    assert_eq!(a["labels"]["section"], "vservers");
    assert_eq!(a["labels"]["tag"], "vsstart");
    assert_eq!(a["details"]["args"]["phone"], "+447700900123");
    assert_eq!(a["details"]["line"], SEED_LINE);
    assert!(!a["source"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn every_cluster_member_raising_pool_died_is_one_alert_and_pool_ok_resolves_it() {
    let server = start().await;
    // Firebell's address as configured arguments of the action, which the
    // traffic manager passes with the others.
    let url_arg = format!("--firebell-url={}", server.url);
    let key_arg = format!("--firebell-key={KEY}");
    let args = |line: &'static str| {
        vec![
            "--eventtype=SMS Events".to_string(),
            "--phone=+447700900123".to_string(),
            url_arg.clone(),
            key_arg.clone(),
            line.to_string(),
        ]
    };
    let died = args(POOL_DIED);
    let died: Vec<&str> = died.iter().map(String::as_str).collect();
    // Two machines of the cluster run the action at the same moment.
    let (first, second) = tokio::join!(run(action(&died, &[])), run(action(&died, &[])));
    for out in [&first, &second] {
        assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    }

    let all = alerts(&server.url).await;
    assert_eq!(all.len(), 1, "one alert for the whole cluster: {all:?}");
    assert_eq!(all[0]["count"], 2);
    assert_eq!(all[0]["severity"], "error");
    assert_eq!(all[0]["status"], "triggered");
    assert_eq!(
        all[0]["summary"],
        "pools/web: Pool has no back-end nodes responding"
    );

    let ok = args(POOL_OK);
    let ok: Vec<&str> = ok.iter().map(String::as_str).collect();
    let out = run(action(&ok, &[])).await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("resolved"),
        "{}",
        text(&out.stdout)
    );
    let all = alerts(&server.url).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["status"], "resolved");

    // The other machine's recovery finds nothing left to resolve, and says so.
    let out = run(action(&ok, &[])).await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("no open alert"),
        "{}",
        text(&out.stdout)
    );
}

#[tokio::test]
async fn failures_exit_non_zero_with_one_line_and_store_nothing() {
    let server = start().await;
    let one_line = |out: &Output, want: &str| {
        assert!(!out.status.success(), "should fail: {}", text(&out.stdout));
        let err = text(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
        assert!(err.contains(want), "{want:?} not in {err:?}");
    };

    // Firebell is not there.
    let down = format!("http://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let out = run(action(
        &["--eventtype=SMS Events", POOL_DIED],
        &[("FIREBELL_URL", &down), ("FIREBELL_KEY", KEY)],
    ))
    .await;
    one_line(&out, "cannot reach Firebell");
    assert!(started.elapsed() < Duration::from_secs(15));

    // A wrong key.
    let out = run(action(
        &["--eventtype=SMS Events", POOL_DIED],
        &[
            ("FIREBELL_URL", &server.url),
            ("FIREBELL_KEY", "not-the-key-at-all"),
        ],
    ))
    .await;
    one_line(&out, "refused the key (401 Unauthorized)");

    // A line that is not an event line: the server's reason is shown.
    let out = run(action(
        &["--eventtype=SMS Events", "NOISY\tpools/web\tpooldied\tx"],
        &[("FIREBELL_URL", &server.url), ("FIREBELL_KEY", KEY)],
    ))
    .await;
    one_line(&out, "unknown level \"NOISY\"");

    // No line, no address.
    let out = run(action(
        &["--eventtype=SMS Events"],
        &[("FIREBELL_URL", &server.url), ("FIREBELL_KEY", KEY)],
    ))
    .await;
    one_line(&out, "no event line");
    let out = run(action(&["--eventtype=SMS Events", POOL_DIED], &[])).await;
    one_line(&out, "no Firebell URL");

    assert!(alerts(&server.url).await.is_empty());
}

/// The traffic manager's pool-down event (naming the node that failed last)
/// offers a runbook action, and `firebell alerts run` asks for it: the
/// program runs with the node and pool from the event; asked again, the CLI
/// says it ran already and exits non-zero.
#[tokio::test]
async fn firebell_alerts_run_drains_the_node_from_the_event() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let out_file = dir.path().join("drained.txt");
    let program = dir.path().join("drain-node");
    std::fs::write(
        &program,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in --node=*|--pool=*) echo \"$a\" >> {};; esac; done\n",
            out_file.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = format!(
        "{}\n[[channels]]\nname = \"drain-node\"\nkind = \"program\"\npath = \"{}\"\n\n\
         [[services.actions]]\nid = \"drain\"\nlabel = \"Drain {{{{ labels.node }}}} from pool {{{{ labels.pool }}}}\"\n\
         key = \"3\"\nrun = {{ channel = \"drain-node\", args = {{ node = \"{{{{ labels.node }}}}\", pool = \"{{{{ labels.pool }}}}\" }} }}\n",
        one_service_config(dir.path(), port, ADMIN, "p", "web", ("vtm", KEY)),
        program.display()
    );
    let path = write_config(dir.path(), &config);
    let server = serve_ready(&path, port).await.keeping(dir);
    let line =
        "SERIOUS\tpools/web\tnodes/10.0.0.5:80\tpooldied\tPool has no back-end nodes responding";
    let out = run(action(
        &["--eventtype=SMS Events", line],
        &[("FIREBELL_URL", &server.url), ("FIREBELL_KEY", KEY)],
    ))
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));

    let cli = |args: &[&str]| {
        std::process::Command::new(BIN)
            .args(args)
            .args(["--url", &server.url, "--token", ADMIN])
            .output()
            .unwrap()
    };
    let out = cli(&["alerts", "run", "1", "drain", "--user", "alice"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "Running \"Drain 10.0.0.5:80 from pool web\" on alert 1."
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !out_file.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        "--node=10.0.0.5:80\n--pool=web\n"
    );
    let out = cli(&["alerts", "run", "1", "drain"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("already ran on alert 1 (asked by alice)"),
        "{}",
        text(&out.stderr)
    );
}
