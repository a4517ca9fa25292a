//! The published contract: `/api/v1/openapi.json` is served, and
//! schemathesis (from PyPI, in .venv) drives a live server from it — valid
//! requests and invalid ones — finding no 5xx and no answer that does not
//! conform to the document (status, content type, body).

use crate::common::*;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;

const ADMIN: &str = "openapi-test-admin-token";
const KEY: &str = "openapi-test-integration-key";

fn schemathesis() -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/schemathesis");
    if path.exists() {
        return Some(path);
    }
    let msg = "the OpenAPI test needs schemathesis in .venv (run .ci/run, or .venv/bin/pip install -r tests/python/requirements.txt)";
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("\n!!! SKIPPED: {msg}\n");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_as_its_openapi_document_says() {
    let Some(schemathesis) = schemathesis() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(
        dir.path(),
        &one_service_config(dir.path(), port, ADMIN, "p", "svc", ("generic", KEY)),
    );
    let server = serve_ready(&config, port).await;
    let client = reqwest::Client::new();

    let doc: Value = client
        .get(format!("{}/api/v1/openapi.json", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/api/v1/events",
        "/api/v1/alerts",
        "/api/v1/alerts/{id}",
        "/api/v1/silences",
        "/api/v1/maintenance",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }

    // Something to read: alerts, a silence, a maintenance window.
    for i in 0..3 {
        let r = client
            .post(format!("{}/api/v1/events", server.url))
            .bearer_auth(KEY)
            .json(&json!({"action": "trigger", "dedup_key": format!("seed-{i}"), "summary": "seed", "severity": "warning", "labels": {"team": "db"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202);
    }
    let r = client
        .post(format!("{}/api/v1/silences", server.url))
        .bearer_auth(ADMIN)
        .json(&json!({"matchers": ["team=\"db\""], "duration": "1h", "comment": "seed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);

    let settings = dir.path().join("schemathesis.toml");
    std::fs::write(
        &settings,
        "[auth.openapi.admin_token]\nbearer = \"${FIREBELL_ADMIN}\"\n\n[auth.openapi.integration_key]\nbearer = \"${FIREBELL_KEY}\"\n",
    )
    .unwrap();
    // Valid requests first (deep: authenticated, accepted), then invalid
    // ones (bad values, missing credentials: answered 4xx as documented,
    // 429 once an address has failed too often).
    for mode in ["positive", "negative"] {
        let out = Command::new(&schemathesis)
            .current_dir(dir.path())
            .env("FIREBELL_ADMIN", ADMIN)
            .env("FIREBELL_KEY", KEY)
            .arg("--no-color")
            .arg("--config-file")
            .arg(&settings)
            .arg("run")
            .arg(format!("{}/api/v1/openapi.json", server.url))
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                "--mode",
                mode,
                "--max-examples",
                "40",
                "--seed",
                "20261206",
                "--generation-database",
                "none",
                "--request-timeout",
                "10",
            ])
            .output()
            .unwrap();
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "schemathesis ({mode}) found answers that break the document:\n{stdout}\n{}",
            text(&out.stderr)
        );
        let summary: Vec<&str> = stdout
            .lines()
            .filter(|l| l.contains("generated") || l.contains("passed"))
            .collect();
        eprintln!("schemathesis {mode}: {}", summary.join(" | "));
    }
    drop(server);
}
