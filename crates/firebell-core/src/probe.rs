//! Firebell's own monitors: HTTP and TCP probes (`[[probes]]`), checked by the
//! engine on an interval. A probe triggers an alert after `failures`
//! consecutive failed checks and resolves it after `recoveries` good ones; an
//! HTTPS probe also warns when the server's certificate expires soon.
//!
//! This module only reads and checks the configuration; the engine runs them.

use crate::config::diag::ConfigError;
use crate::event::Severity;
use jiff::SignedDuration;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// A probe as written in the file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSpec {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub kind: String,
    pub url: Option<String>,
    pub address: Option<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub expect_status: Option<u16>,
    pub body_contains: Option<String>,
    pub failures: Option<u32>,
    pub recoveries: Option<u32>,
    pub cert_expiry_warning: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub severity: Option<String>,
}

pub const DEFAULT_INTERVAL: SignedDuration = SignedDuration::from_secs(60);
pub const DEFAULT_TIMEOUT: SignedDuration = SignedDuration::from_secs(10);
pub const DEFAULT_FAILURES: u32 = 3;
pub const DEFAULT_RECOVERIES: u32 = 1;
pub const DEFAULT_CERT_EXPIRY_WARNING: SignedDuration = SignedDuration::from_hours(14 * 24);
pub const DEFAULT_SEVERITY: Severity = Severity::Error;

/// A checked probe.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub name: String,
    /// The service its alerts belong to.
    pub service: String,
    pub target: ProbeTarget,
    pub interval: SignedDuration,
    pub timeout: SignedDuration,
    /// Consecutive failed checks that trigger.
    pub failures: u32,
    /// Consecutive good checks that resolve.
    pub recoveries: u32,
    pub severity: Severity,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ProbeTarget {
    Http {
        url: String,
        /// `None`: any 2xx.
        expect_status: Option<u16>,
        body_contains: Option<String>,
        /// HTTPS only: warn when the certificate expires within this; `None` = off.
        cert_expiry_warning: Option<SignedDuration>,
        /// Extra CA certificates (PEM) trusted besides the public roots.
        ca_file: Option<PathBuf>,
    },
    Tcp {
        /// `host:port`.
        address: String,
    },
}

impl Probe {
    /// The dedup key of the probe's "down" alert.
    pub fn dedup_key(&self) -> String {
        format!("probe:{}", self.name)
    }

    /// The dedup key of the probe's "certificate expires soon" alert.
    pub fn cert_dedup_key(&self) -> String {
        format!("probe:{}:certificate", self.name)
    }

    /// What is checked, for summaries and logs (never holds secrets: URLs
    /// with a password are refused at load).
    pub fn what(&self) -> &str {
        match &self.target {
            ProbeTarget::Http { url, .. } => url,
            ProbeTarget::Tcp { address } => address,
        }
    }

    pub fn kind(&self) -> &'static str {
        match &self.target {
            ProbeTarget::Http { .. } => "http",
            ProbeTarget::Tcp { .. } => "tcp",
        }
    }
}

fn err(path: String, message: impl Into<String>, hint: Option<&str>) -> ConfigError {
    ConfigError {
        path,
        message: message.into(),
        hint: hint.map(str::to_string),
    }
}

fn duration(
    errors: &mut Vec<ConfigError>,
    path: String,
    value: Option<&str>,
    default: SignedDuration,
) -> SignedDuration {
    let Some(text) = value else {
        return default;
    };
    match crate::clock::parse_duration(text) {
        Some(d) if d.is_positive() => d,
        _ => {
            errors.push(err(
                path,
                format!("{text:?} is not a positive duration"),
                Some("write it like \"30s\", \"5m\", \"1h 30m\" or \"14d\""),
            ));
            default
        }
    }
}

fn count(errors: &mut Vec<ConfigError>, path: String, value: Option<u32>, default: u32) -> u32 {
    match value {
        None => default,
        Some(n) if (1..=100).contains(&n) => n,
        Some(n) => {
            errors.push(err(
                path,
                format!("{n} is out of range"),
                Some("a count of consecutive checks, 1 to 100"),
            ));
            default
        }
    }
}

/// Checks every `[[probes]]` entry against the services defined; errors carry
/// paths such as `probes[2].url`.
pub fn build(
    specs: &[ProbeSpec],
    services: &BTreeSet<String>,
) -> Result<Vec<Probe>, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut names = BTreeSet::new();
    let mut probes = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        let path = format!("probes[{i}]");
        let p = |f: &str| format!("{path}.{f}");
        let name_ok = !s.name.is_empty()
            && s.name.len() <= 64
            && s.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !name_ok {
            errors.push(err(
                p("name"),
                format!("{:?} is not a valid name", s.name),
                Some("use 1-64 letters, digits, '-', '_' or '.'; it is part of the alert's dedup key"),
            ));
        } else if !names.insert(s.name.clone()) {
            errors.push(err(
                p("name"),
                format!("duplicate probe name {:?}", s.name),
                None,
            ));
        }
        if !services.contains(&s.service) {
            let known: Vec<&str> = services.iter().map(String::as_str).collect();
            errors.push(err(
                p("service"),
                if s.service.is_empty() {
                    "missing; the service whose policy pages when the probe fails".to_string()
                } else {
                    format!("no service named {:?}", s.service)
                },
                Some(&if known.is_empty() {
                    "none are defined".to_string()
                } else {
                    format!("known: {}", known.join(", "))
                }),
            ));
        }
        let interval = duration(
            &mut errors,
            p("interval"),
            s.interval.as_deref(),
            DEFAULT_INTERVAL,
        );
        let timeout = duration(
            &mut errors,
            p("timeout"),
            s.timeout.as_deref(),
            DEFAULT_TIMEOUT.min(interval),
        );
        if timeout > interval {
            errors.push(err(
                p("timeout"),
                format!("{timeout} is longer than the interval ({interval})"),
                Some("a check must end before the next one starts"),
            ));
        }
        let failures = count(&mut errors, p("failures"), s.failures, DEFAULT_FAILURES);
        let recoveries = count(
            &mut errors,
            p("recoveries"),
            s.recoveries,
            DEFAULT_RECOVERIES,
        );
        let severity = match s.severity.as_deref() {
            None => DEFAULT_SEVERITY,
            Some(v) => v.parse().unwrap_or_else(|e: crate::event::FieldError| {
                errors.push(err(p("severity"), e.message, None));
                DEFAULT_SEVERITY
            }),
        };
        let http_only = |errors: &mut Vec<ConfigError>, field: &str, set: bool| {
            if set {
                errors.push(err(
                    p(field),
                    format!("only http probes have {field}"),
                    Some("remove it, or set kind = \"http\""),
                ));
            }
        };
        let target = match s.kind.as_str() {
            "http" => {
                if s.address.is_some() {
                    errors.push(err(
                        p("address"),
                        "http probes take a url, not an address",
                        None,
                    ));
                }
                let url = s.url.clone().unwrap_or_default();
                let https = url.starts_with("https://");
                let rest = url
                    .strip_prefix("https://")
                    .or_else(|| url.strip_prefix("http://"));
                match rest {
                    None => errors.push(err(
                        p("url"),
                        if url.is_empty() {
                            "missing".to_string()
                        } else {
                            format!("{url:?} is not an http(s) URL")
                        },
                        Some("such as \"https://shop.example.com/health\""),
                    )),
                    Some(r) => {
                        let authority = r.split(['/', '?', '#']).next().unwrap_or("");
                        if authority.is_empty() {
                            errors.push(err(p("url"), format!("{url:?} has no host"), None));
                        }
                        if authority.contains('@') {
                            errors.push(err(
                                p("url"),
                                "must not hold a user or password",
                                Some("probe URLs are shown in alerts"),
                            ));
                        }
                    }
                }
                if let Some(code) = s.expect_status
                    && !(100..=599).contains(&code)
                {
                    errors.push(err(
                        p("expect_status"),
                        format!("{code} is not an HTTP status"),
                        None,
                    ));
                }
                let cert_expiry_warning = match s.cert_expiry_warning.as_deref() {
                    Some("off") => None,
                    Some(_) if !https => {
                        errors.push(err(
                            p("cert_expiry_warning"),
                            "only https URLs have a certificate",
                            None,
                        ));
                        None
                    }
                    other => https.then(|| {
                        duration(
                            &mut errors,
                            p("cert_expiry_warning"),
                            other,
                            DEFAULT_CERT_EXPIRY_WARNING,
                        )
                    }),
                };
                ProbeTarget::Http {
                    url,
                    expect_status: s.expect_status,
                    body_contains: s.body_contains.clone(),
                    cert_expiry_warning,
                    ca_file: s.ca_file.clone(),
                }
            }
            "tcp" => {
                if s.url.is_some() {
                    errors.push(err(p("url"), "tcp probes take an address, not a url", None));
                }
                http_only(&mut errors, "expect_status", s.expect_status.is_some());
                http_only(&mut errors, "body_contains", s.body_contains.is_some());
                http_only(
                    &mut errors,
                    "cert_expiry_warning",
                    s.cert_expiry_warning.is_some(),
                );
                http_only(&mut errors, "ca_file", s.ca_file.is_some());
                let address = s.address.clone().unwrap_or_default();
                let ok = address.rsplit_once(':').is_some_and(|(host, port)| {
                    !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
                });
                if !ok {
                    errors.push(err(
                        p("address"),
                        if address.is_empty() {
                            "missing".to_string()
                        } else {
                            format!("{address:?} is not host:port")
                        },
                        Some("such as \"db.internal:5432\""),
                    ));
                }
                ProbeTarget::Tcp { address }
            }
            other => {
                errors.push(err(
                    p("kind"),
                    if other.is_empty() {
                        "missing".to_string()
                    } else {
                        format!("unknown probe kind {other:?}")
                    },
                    Some("\"http\" or \"tcp\""),
                ));
                continue;
            }
        };
        probes.push(Probe {
            name: s.name.clone(),
            service: s.service.clone(),
            target,
            interval,
            timeout,
            failures,
            recoveries,
            severity,
        });
    }
    if errors.is_empty() {
        Ok(probes)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn services() -> BTreeSet<String> {
        ["shop".to_string()].into_iter().collect()
    }

    fn spec(toml_text: &str) -> Vec<ProbeSpec> {
        #[derive(Deserialize)]
        struct W {
            probes: Vec<ProbeSpec>,
        }
        toml::from_str::<W>(toml_text).unwrap().probes
    }

    #[test]
    fn defaults_fill_in() {
        let p = build(
            &spec(
                r#"
[[probes]]
name = "shop-home"
service = "shop"
kind = "http"
url = "https://shop.example.com/"
[[probes]]
name = "db"
service = "shop"
kind = "tcp"
address = "db.internal:5432"
interval = "30s"
timeout = "2s"
failures = 2
"#,
            ),
            &services(),
        )
        .unwrap();
        assert_eq!(p[0].interval, DEFAULT_INTERVAL);
        assert_eq!(p[0].failures, 3);
        assert_eq!(p[0].recoveries, 1);
        assert_eq!(
            p[0].target,
            ProbeTarget::Http {
                url: "https://shop.example.com/".into(),
                expect_status: None,
                body_contains: None,
                cert_expiry_warning: Some(SignedDuration::from_hours(336)),
                ca_file: None,
            }
        );
        assert_eq!(p[1].timeout, SignedDuration::from_secs(2));
        assert_eq!(p[1].dedup_key(), "probe:db");
    }

    #[test]
    fn every_mistake_is_named() {
        let errs = build(
            &spec(
                r#"
[[probes]]
name = "a b"
service = "nope"
kind = "http"
url = "ftp://x"
expect_status = 42
[[probes]]
name = "t"
service = "shop"
kind = "tcp"
address = "no-port"
body_contains = "x"
interval = "10s"
timeout = "1m"
failures = 0
[[probes]]
name = "t"
service = "shop"
kind = "icmp"
[[probes]]
name = "h"
service = "shop"
kind = "http"
url = "http://user:pw@x/"
cert_expiry_warning = "14d"
"#,
            ),
            &services(),
        )
        .unwrap_err();
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "probes[0].name",
                "probes[0].service",
                "probes[0].url",
                "probes[0].expect_status",
                "probes[1].timeout",
                "probes[1].failures",
                "probes[1].body_contains",
                "probes[1].address",
                "probes[2].name",
                "probes[2].kind",
                "probes[3].url",
                "probes[3].cert_expiry_warning",
            ],
            "{errs:?}"
        );
    }

    #[test]
    fn days_are_durations() {
        assert_eq!(
            crate::clock::parse_duration("14d"),
            Some(SignedDuration::from_hours(336))
        );
        assert_eq!(
            crate::clock::parse_duration("90s"),
            Some(SignedDuration::from_secs(90))
        );
        assert_eq!(crate::clock::parse_duration("soon"), None);
    }
}
