//! One probe check: an HTTP request or a TCP connect, and for HTTPS the
//! server certificate's expiry. Errors are short sentences for alert
//! summaries; they name the probed URL or address and nothing secret.

use firebell_core::probe::{Probe, ProbeTarget};
use jiff::Timestamp;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use x509_cert::der::Decode;

/// Most of an answer's body read to look for `body_contains`.
const MAX_BODY: usize = 1024 * 1024;

/// What a probe needs to run, built once per probe configuration.
pub(crate) struct Clients {
    http: reqwest::Client,
    /// For reading the certificate of an HTTPS probe.
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Clients {
    /// Builds the clients, trusting the public roots plus the probe's `ca_file`.
    pub(crate) fn new(probe: &Probe) -> Result<Clients, String> {
        let mut http = reqwest::Client::builder()
            .user_agent(concat!("firebell-probe/", env!("CARGO_PKG_VERSION")))
            .timeout(probe.timeout.unsigned_abs());
        let mut tls = None;
        if let ProbeTarget::Http {
            ca_file,
            cert_expiry_warning,
            ..
        } = &probe.target
        {
            let extra: Vec<CertificateDer<'static>> = match ca_file {
                None => Vec::new(),
                Some(path) => {
                    let pem = std::fs::read(path)
                        .map_err(|e| format!("cannot read ca_file {}: {e}", path.display()))?;
                    for cert in reqwest::Certificate::from_pem_bundle(&pem)
                        .map_err(|e| format!("ca_file {}: {e}", path.display()))?
                    {
                        http = http.add_root_certificate(cert);
                    }
                    CertificateDer::pem_slice_iter(&pem)
                        .collect::<Result<_, _>>()
                        .map_err(|e| format!("ca_file {}: {e}", path.display()))?
                }
            };
            if cert_expiry_warning.is_some() {
                let mut roots = rustls::RootCertStore::empty();
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                for c in extra {
                    roots
                        .add(c)
                        .map_err(|e| format!("ca_file: unusable certificate: {e}"))?;
                }
                let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS setup: {e}"))?
                .with_root_certificates(roots)
                .with_no_client_auth();
                tls = Some(Arc::new(config));
            }
        }
        let http = http
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Clients { http, tls })
    }
}

/// The innermost cause of an error: the sentence that says what happened
/// ("Connection refused (os error 111)"), without reqwest's URL-bearing wrappers.
fn cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    inner.to_string()
}

/// Runs the probe's check once; `Err` says what failed.
pub(crate) async fn check(probe: &Probe, clients: &Clients) -> Result<(), String> {
    let timeout = probe.timeout.unsigned_abs();
    let run = async {
        match &probe.target {
            ProbeTarget::Tcp { address } => TcpStream::connect(address.as_str())
                .await
                .map(drop)
                .map_err(|e| format!("cannot connect to {address}: {e}")),
            ProbeTarget::Http {
                url,
                expect_status,
                body_contains,
                ..
            } => http_check(&clients.http, url, *expect_status, body_contains.as_deref()).await,
        }
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "{} did not answer within {:#}",
            probe.what(),
            probe.timeout
        )),
    }
}

async fn http_check(
    client: &reqwest::Client,
    url: &str,
    expect_status: Option<u16>,
    body_contains: Option<&str>,
) -> Result<(), String> {
    let mut resp = client.get(url).send().await.map_err(|e| {
        if e.is_timeout() {
            format!("GET {url} timed out")
        } else {
            format!("GET {url} failed: {}", cause(&e))
        }
    })?;
    let status = resp.status();
    let ok = match expect_status {
        Some(code) => status.as_u16() == code,
        None => status.is_success(),
    };
    if !ok {
        let expected = expect_status.map_or("a 2xx status".to_string(), |c| c.to_string());
        return Err(format!("GET {url} answered {status}, expected {expected}"));
    }
    if let Some(needle) = body_contains {
        let mut body = Vec::new();
        while body.len() < MAX_BODY {
            match resp.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => return Err(format!("GET {url}: reading the body failed: {}", cause(&e))),
            }
        }
        if !String::from_utf8_lossy(&body).contains(needle) {
            return Err(format!(
                "the answer of GET {url} does not contain {needle:?}"
            ));
        }
    }
    Ok(())
}

/// When the certificate an HTTPS server presents expires. `None` when the
/// probe has no certificate check.
pub(crate) async fn cert_not_after(
    probe: &Probe,
    clients: &Clients,
) -> Option<Result<Timestamp, String>> {
    let config = clients.tls.clone()?;
    let ProbeTarget::Http { url, .. } = &probe.target else {
        return None;
    };
    let timeout: Duration = probe.timeout.unsigned_abs();
    let run = async move {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
        let host = parsed
            .host_str()
            .ok_or_else(|| format!("{url} has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = parsed.port_or_known_default().unwrap_or(443);
        let name = ServerName::try_from(host.clone()).map_err(|e| format!("{host}: {e}"))?;
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake with {host}:{port} failed: {e}"))?;
        let der = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .ok_or_else(|| format!("{host}:{port} presented no certificate"))?;
        let cert = x509_cert::Certificate::from_der(der.as_ref())
            .map_err(|e| format!("the certificate of {host}:{port} is unreadable: {e}"))?;
        let secs = cert
            .tbs_certificate()
            .validity()
            .not_after
            .to_unix_duration()
            .as_secs();
        Timestamp::from_second(i64::try_from(secs).unwrap_or(i64::MAX))
            .map_err(|e| format!("the certificate of {host}:{port} has an odd expiry: {e}"))
    };
    Some(match tokio::time::timeout(timeout, run).await {
        Ok(r) => r,
        Err(_) => Err(format!("{url}: TLS handshake timed out")),
    })
}
