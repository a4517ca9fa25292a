//! `/metrics` as an operator reads it: the build, the process, HTTP
//! requests by route and status, the outbox by state, delivery durations and
//! the escalation lag; the Grafana dashboard in `docs/grafana/` names only
//! metrics that exist, and the real Prometheus scrapes them and runs every
//! one of its queries.

use crate::support::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::{Command, Stdio};

const FAILING_WEBHOOK: &str = concat!(
    server_section!(),
    r#"
[delivery]
retry_initial = "10s"
retry_max = "1m"
max_attempts = 4

[[users]]
id = "alice"
contacts = [ { kind = "webhook", url = "{SINK}" } ]

[[policies]]
id = "outage"
steps = [ { targets = ["user:alice"], wait = "30m" } ]

[[services]]
id = "checkout"
policy = "outage"
integrations = [ { kind = "generic", key = "test-integration-key" } ]
"#
);

/// An app whose one page failed once and waits for its retry, after a
/// request no route answers.
async fn app_with_a_retry_waiting() -> (TestApp, tempfile::TempDir, Sink) {
    let (app, dir, sink) = spawn_app(FAILING_WEBHOOK).await;
    sink.set_status(500);
    app.trigger("disk", "Disk full").await;
    app.settle().await;
    assert_eq!(sink.bodies().len(), 1, "the page was tried once");
    let r = app
        .client
        .get(format!("{}/no/such/page", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // A made-up method makes no series of its own.
    let r = app
        .client
        .request(
            reqwest::Method::from_bytes(b"FOOBAR").unwrap(),
            format!("{}/metrics", app.url),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    (app, dir, sink)
}

async fn scrape(app: &TestApp) -> String {
    let r = app
        .client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// The value of the sample line that starts with `series` (name and
/// labels exactly as exposed).
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {series} in\n{metrics}"))
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn every_metric_an_operator_expects_is_exposed() {
    let (app, _dir, sink) = app_with_a_retry_waiting().await;
    let m = scrape(&app).await;
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        sample(&m, &format!("firebell_build_info{{version=\"{version}\"}}")),
        1.0
    );
    // Requests by route pattern, method and status, with a unit.
    assert!(m.contains("# UNIT firebell_http_request_duration_seconds seconds"));
    assert_eq!(
        sample(
            &m,
            "firebell_http_request_duration_seconds_count{method=\"POST\",route=\"/api/v1/events\",status=\"202\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &m,
            "firebell_http_request_duration_seconds_count{method=\"GET\",route=\"unmatched\",status=\"404\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &m,
            "firebell_http_request_duration_seconds_count{method=\"other\",route=\"/metrics\",status=\"405\"}"
        ),
        1.0
    );
    assert!(!m.contains("FOOBAR"));
    // The failed page waits for its retry in 10 s: the outbox says so.
    for (state, n) in [
        ("due", 0.0),
        ("waiting", 1.0),
        ("held", 0.0),
        ("sending", 0.0),
    ] {
        assert_eq!(
            sample(
                &m,
                &format!("firebell_outbox_notifications{{state=\"{state}\"}}")
            ),
            n,
            "{state}"
        );
    }
    assert_eq!(
        sample(
            &m,
            "firebell_delivery_duration_seconds_count{channel=\"webhook\"}"
        ),
        1.0
    );
    assert!(m.contains("# UNIT firebell_delivery_duration_seconds seconds"));
    // The first step fired when it was due (the manual clock did not move).
    assert_eq!(sample(&m, "firebell_escalation_lag_seconds_count"), 1.0);
    assert_eq!(sample(&m, "firebell_escalation_lag_seconds_sum"), 0.0);
    // The process (here the test's own).
    assert!(sample(&m, "process_cpu_seconds_total") > 0.0);
    assert!(sample(&m, "process_resident_memory_bytes") > 1e6);
    assert!(sample(&m, "process_virtual_memory_bytes") > 1e6);
    assert!(sample(&m, "process_open_fds") >= 3.0);
    assert!(sample(&m, "process_max_fds") >= sample(&m, "process_open_fds"));
    assert!(sample(&m, "process_threads") >= 1.0);
    // The kernel's boot time is given in whole seconds: allow for that.
    let start = sample(&m, "process_start_time_seconds");
    let now = jiff::Timestamp::now().as_millisecond() as f64 / 1000.0;
    assert!(
        start <= now + 2.0 && start > now - 3600.0,
        "started at {start}, now {now}"
    );

    // When the retry delivers, the outbox empties.
    sink.set_status(200);
    app.advance(jiff::SignedDuration::from_secs(10)).await;
    let m = scrape(&app).await;
    assert_eq!(
        sample(&m, "firebell_outbox_notifications{state=\"waiting\"}"),
        0.0
    );
    assert_eq!(
        sample(
            &m,
            "firebell_delivery_duration_seconds_count{channel=\"webhook\"}"
        ),
        2.0
    );
}

/// Every `expr` in the dashboard, wherever it sits.
fn dashboard_queries() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/grafana/firebell-dashboard.json"
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                for (k, v) in o {
                    match (k.as_str(), v) {
                        ("expr", Value::String(s)) => out.push(s.clone()),
                        _ => walk(v, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&doc, &mut out);
    out
}

/// The metric names a query reads: words starting `firebell_` or
/// `process_`.
fn metric_names(query: &str) -> Vec<String> {
    let re = regex::Regex::new(r"\b(?:firebell|process)_[a-z_]+\b").unwrap();
    re.find_iter(query)
        .map(|m| m.as_str().to_string())
        .collect()
}

/// The names `/metrics` exposes: every sample's name, and each declared
/// family with the suffixes its type gives it.
fn exposed_names(metrics: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in metrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split(' ');
            let (name, kind) = (it.next().unwrap(), it.next().unwrap());
            let suffixes: &[&str] = match kind {
                "counter" => &["_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                _ => &[""],
            };
            names.extend(suffixes.iter().map(|s| format!("{name}{s}")));
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_string());
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grafana_dashboard_reads_only_metrics_that_exist_and_prometheus_runs_its_queries() {
    let (app, dir, _sink) = app_with_a_retry_waiting().await;
    let m = scrape(&app).await;
    let exposed = exposed_names(&m);
    let queries = dashboard_queries();
    assert!(queries.len() >= 15, "{queries:?}");
    let mut read = BTreeSet::new();
    for q in &queries {
        for name in metric_names(q) {
            assert!(
                exposed.contains(&name),
                "the dashboard's query `{q}` reads {name}, which /metrics does not expose:\n{m}"
            );
            read.insert(name);
        }
    }
    // The dashboard shows each metric this issue added.
    for name in [
        "firebell_build_info",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "firebell_http_request_duration_seconds_bucket",
        "firebell_outbox_notifications",
        "firebell_delivery_duration_seconds_bucket",
        "firebell_escalation_lag_seconds_bucket",
    ] {
        assert!(read.contains(name), "the dashboard does not show {name}");
    }

    // The real Prometheus scrapes /metrics and runs every query.
    let Some(prometheus) = program("prometheus") else {
        return;
    };
    let target = app.url.trim_start_matches("http://");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n- job_name: firebell\n  static_configs:\n  - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let prom_port = free_port();
    let _prom = ChildGuard(
        Command::new(prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    let query = |q: String| {
        let client = client.clone();
        async move {
            let r = client
                .get(format!("http://127.0.0.1:{prom_port}/api/v1/query"))
                .query(&[("query", q.as_str())])
                .send()
                .await
                .ok()?;
            r.json::<Value>().await.ok()
        }
    };
    // Three scrapes, so rates have two points each.
    eventually(60, "three scrapes of /metrics", || async {
        let v = query("count_over_time(up{job=\"firebell\"}[1m]) >= 3".into()).await?;
        let r = &v["data"]["result"];
        (r.as_array().is_some_and(|a| !a.is_empty())).then_some(())
    })
    .await;
    let up = query("up{job=\"firebell\"}".into()).await.unwrap();
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up}");
    for q in &queries {
        let promql = q
            .replace("$__rate_interval", "1m")
            .replace("$job", "firebell");
        let v = query(promql.clone()).await.unwrap();
        assert_eq!(v["status"], "success", "`{promql}`: {v}");
    }
    // Every name /metrics has a sample of, Prometheus stored (its parser read them).
    for name in &read {
        let has_sample = m.lines().any(|l| {
            l.strip_prefix(name.as_str())
                .is_some_and(|r| r.starts_with(['{', ' ']))
        });
        if !has_sample {
            continue;
        }
        let v = query(format!("count({{__name__=\"{name}\"}})"))
            .await
            .unwrap();
        assert!(
            v["data"]["result"]
                .as_array()
                .is_some_and(|a| !a.is_empty()),
            "Prometheus has no series of {name}: {v}"
        );
    }
}
