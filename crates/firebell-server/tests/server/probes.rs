//! Probes run by the server against real listeners on 127.0.0.1: a TCP port
//! that goes away and comes back, an HTTP endpoint whose answer changes, and an
//! HTTPS server whose certificate expires soon.

use crate::support::*;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use jiff::SignedDuration;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BASE: &str = concat!(
    server_section!(),
    r#"
[[users]]
id = "alice"
contacts = [ { kind = "console" } ]

[[policies]]
id = "p"
steps = [ { targets = ["user:alice"], wait = "5m" } ]

[[services]]
id = "shop"
policy = "p"
"#
);

fn secs(s: i64) -> SignedDuration {
    SignedDuration::from_secs(s)
}

/// A TCP listener on a fixed port that accepts until stopped.
fn listen_on(addr: SocketAddr) -> tokio::task::JoinHandle<()> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(addr).unwrap();
    let listener = socket.listen(16).unwrap();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            drop(conn);
        }
    })
}

async fn alerts_by_key(app: &TestApp, key: &str) -> Vec<serde_json::Value> {
    app.all_alerts()
        .await
        .into_iter()
        .filter(|a| a["dedup_key"] == key)
        .collect()
}

#[tokio::test]
async fn a_tcp_port_that_stops_answering_triggers_after_the_threshold_and_recovers() {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let server = listen_on(addr);
    let config = format!(
        "{BASE}\n[[probes]]\nname = \"db\"\nservice = \"shop\"\nkind = \"tcp\"\naddress = \"{addr}\"\ninterval = \"30s\"\ntimeout = \"2s\"\nfailures = 2\nrecoveries = 2\nseverity = \"critical\"\n"
    );
    let (app, _dir, _sink) = spawn_app(&config).await;
    app.settle().await;
    assert!(app.all_alerts().await.is_empty(), "up: no alert");

    server.abort();
    let _ = server.await;
    app.advance(secs(30)).await;
    assert!(
        alerts_by_key(&app, "probe:db").await.is_empty(),
        "one failure is not enough"
    );
    app.advance(secs(30)).await;
    let alerts = alerts_by_key(&app, "probe:db").await;
    assert_eq!(alerts.len(), 1, "two failures in a row trigger");
    let a = &alerts[0];
    assert_eq!(a["status"], "triggered");
    assert_eq!(a["severity"], "critical");
    let summary = a["summary"].as_str().unwrap();
    assert!(
        summary.starts_with(&format!("db is down: cannot connect to {addr}")),
        "{summary}"
    );
    assert!(summary.contains("2 failed checks in a row"), "{summary}");
    assert!(app.pages().iter().any(|p| p.user == "alice"));

    // Still down for a while: one alert, not one per check.
    app.advance(secs(300)).await;
    assert_eq!(alerts_by_key(&app, "probe:db").await[0]["count"], 1);

    let _server = listen_on(addr);
    app.advance(secs(30)).await;
    assert_eq!(
        alerts_by_key(&app, "probe:db").await[0]["status"],
        "triggered",
        "one good check is not a recovery yet"
    );
    app.advance(secs(30)).await;
    assert_eq!(
        alerts_by_key(&app, "probe:db").await[0]["status"],
        "resolved"
    );
}

#[derive(Clone)]
struct Site {
    answer: Arc<Mutex<(u16, &'static str)>>,
    delay: Arc<Mutex<std::time::Duration>>,
}

async fn page(State(site): State<Site>) -> (StatusCode, &'static str) {
    let delay = *site.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    let (code, body) = *site.answer.lock().unwrap();
    (StatusCode::from_u16(code).unwrap(), body)
}

#[tokio::test]
async fn an_http_probe_checks_status_body_and_time() {
    let site = Site {
        answer: Arc::new(Mutex::new((200, "all OK"))),
        delay: Arc::new(Mutex::new(std::time::Duration::ZERO)),
    };
    let app_router = Router::new()
        .route("/health", get(page))
        .with_state(site.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app_router).await.unwrap() });
    let url = format!("http://{addr}/health");
    let config = format!(
        "{BASE}\n[[probes]]\nname = \"shop-health\"\nservice = \"shop\"\nkind = \"http\"\nurl = \"{url}\"\ninterval = \"1m\"\ntimeout = \"1s\"\nexpect_status = 200\nbody_contains = \"OK\"\nfailures = 1\n"
    );
    let (app, _dir, _sink) = spawn_app(&config).await;
    app.settle().await;
    assert!(app.all_alerts().await.is_empty());

    let set = |code: u16, body: &'static str| *site.answer.lock().unwrap() = (code, body);
    let summary = |a: &serde_json::Value| a["summary"].as_str().unwrap().to_string();

    set(200, "degraded");
    app.advance(secs(60)).await;
    let a = alerts_by_key(&app, "probe:shop-health").await;
    assert_eq!(a.len(), 1);
    assert_eq!(
        summary(&a[0]),
        format!(
            "shop-health is down: the answer of GET {url} does not contain \"OK\" (1 failed checks in a row)"
        )
    );
    assert_eq!(a[0]["severity"], "error");
    assert_eq!(a[0]["labels"]["probe"], "shop-health");

    set(200, "all OK");
    app.advance(secs(60)).await;
    assert_eq!(
        alerts_by_key(&app, "probe:shop-health").await[0]["status"],
        "resolved"
    );

    set(503, "all OK");
    app.advance(secs(60)).await;
    let a = alerts_by_key(&app, "probe:shop-health").await;
    assert_eq!(a.len(), 2, "a new problem, a new alert");
    assert!(
        summary(&a[0]).contains(&format!(
            "GET {url} answered 503 Service Unavailable, expected 200"
        )),
        "{}",
        summary(&a[0])
    );

    set(200, "all OK");
    *site.delay.lock().unwrap() = std::time::Duration::from_secs(3);
    app.advance(secs(60)).await;
    let a = alerts_by_key(&app, "probe:shop-health").await;
    assert_eq!(a[0]["status"], "triggered", "too slow is still down");
    *site.delay.lock().unwrap() = std::time::Duration::ZERO;
    app.advance(secs(60)).await;
    assert_eq!(
        alerts_by_key(&app, "probe:shop-health").await[0]["status"],
        "resolved"
    );
}

/// An HTTPS server on 127.0.0.1 whose certificate (issued by a test CA
/// written to `ca_path`) expires at `not_after`; it answers every request 200.
async fn https_server(ca_path: &std::path::Path, not_after: jiff::Timestamp) -> SocketAddr {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    std::fs::write(ca_path, ca_cert.pem()).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    let end = not_after.to_zoned(jiff::tz::TimeZone::UTC).date();
    params.not_after = rcgen::date_time_ymd(end.year() as i32, end.month() as u8, end.day() as u8);
    let cert = params.signed_by(&key, &issuer).unwrap();

    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nOK",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_certificate_expiring_within_the_warning_window_is_a_warning_alert() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    // Real time: the TLS handshake checks the certificate against the real clock.
    let now = jiff::Timestamp::now();
    let expires = now + SignedDuration::from_hours(24 * 6);
    let addr = https_server(&ca, expires).await;
    let config = format!(
        "{BASE}\n[[probes]]\nname = \"shop-tls\"\nservice = \"shop\"\nkind = \"http\"\nurl = \"https://{addr}/\"\nca_file = \"{}\"\ncert_expiry_warning = \"14d\"\n",
        ca.display()
    );
    let text = render_config(&config, &dir.path().join("data"), "http://127.0.0.1:9/hook");
    let app = spawn_app_at(&text, &dir.path().join("data"), now, None).await;
    app.settle().await;

    let alerts = app.all_alerts().await;
    assert_eq!(alerts.len(), 1, "only the certificate warning: {alerts:?}");
    let a = &alerts[0];
    assert_eq!(a["dedup_key"], "probe:shop-tls:certificate");
    assert_eq!(a["severity"], "warning");
    let summary = a["summary"].as_str().unwrap();
    assert!(
        summary.starts_with(&format!(
            "The TLS certificate of https://{addr}/ expires in 5 day(s)"
        )),
        "{summary}"
    );
    assert!(
        alerts_by_key(&app, "probe:shop-tls").await.is_empty(),
        "the site itself is up"
    );
}
