//! The read side of Alertmanager's API v2, so `amtool` and Alertmanager
//! dashboards can look at Firebell: `GET /api/v2/alerts`,
//! `/api/v2/alerts/groups`, `/api/v2/status` and `/api/v2/receivers`.
//!
//! - **Who may read.** Real Alertmanager asks for nothing; Firebell asks for
//!   the key of an `alertmanager` integration (bearer token, or basic-auth
//!   password: `amtool --http.config.file`) and then shows only that
//!   integration's service, or the admin token and shows every service.
//! - **Which alerts.** The open (triggered or acknowledged) alerts of the
//!   services the caller sees, whatever integration they came in by. An
//!   alert a silence or an inhibition rule holds is `suppressed`, with
//!   `silencedBy` (silence ids) and `inhibitedBy` (fingerprints of the open
//!   alerts that inhibit it); every other one is `active`, acknowledged ones
//!   included. Nothing is unprocessed. The silence endpoints are in
//!   `silences.rs`.
//! - **Receivers.** One per service, named by the service id; an alert's
//!   receiver is its service. `/status` describes this as an Alertmanager
//!   configuration `amtool config routes` can draw.
//! - **Alerts from other integrations** have no fingerprint of their own:
//!   they are shown with an `alertname` label (their dedup key) if they lack
//!   one, their summary as the `summary` annotation, and the fingerprint of
//!   the labels shown.
//! - **Errors** are answered as Alertmanager answers them: 400 with a JSON
//!   string (`"bad matcher format: ..."`).

use crate::auth::AlertmanagerReader;
use crate::error::ApiError;
use crate::{AppState, Shared};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use firebell_core::alert::{Alert, AlertStatus};
use firebell_core::config::Config;
use firebell_core::labels::{self, fingerprint};
use firebell_core::matcher::{self, MatchOp, Matcher};
use firebell_engine::silences::Suppression;
use firebell_store::{AlertFilter, Store};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The root route's receiver in `/status`; it receives nothing. A `:` cannot
/// appear in a service id, so it never clashes with one.
pub const ROOT_RECEIVER: &str = "firebell:default";
/// The pseudo-label the routes in `/status` match on: "arrived with this
/// service's key".
pub const SERVICE_LABEL: &str = "firebell_service";
/// Alerts read from the store per query.
const PAGE: u32 = 1000;
/// Go's zero time: Alertmanager's "no end". A Firebell alert without an
/// announced end (Prometheus' `endsAt`) stays open until someone or
/// something resolves it, so its `endsAt` is this.
const NO_END: &str = "0001-01-01T00:00:00.000Z";

/// Whose alerts a caller sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The admin token: every service.
    All,
    /// An alertmanager integration key: its service.
    Service(String),
}

impl Scope {
    pub(crate) fn service(&self) -> Option<&str> {
        match self {
            Scope::All => None,
            Scope::Service(s) => Some(s),
        }
    }

    /// The services to describe, sorted.
    fn services(&self, config: &Config) -> Vec<String> {
        match self {
            Scope::All => config.services.keys().cloned().collect(),
            Scope::Service(s) => vec![s.clone()],
        }
    }
}

/// Alertmanager's answer to a bad request: 400 and a JSON string.
pub(crate) fn bad_request(msg: String) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(Value::String(msg))).into_response()
}

// ---------------------------------------------------------------------------
// Query parameters
// ---------------------------------------------------------------------------

/// The query of `/alerts` and `/alerts/groups`. Unknown parameters are
/// ignored, as Alertmanager ignores them.
#[derive(Debug)]
struct Params {
    active: bool,
    silenced: bool,
    inhibited: bool,
    unprocessed: bool,
    filter: Vec<Matcher>,
    /// Anchored regex on the receiver (service) name.
    receiver: Option<Matcher>,
    /// Matchers on receiver labels; Firebell's receivers have none.
    receiver_matchers: Vec<Matcher>,
}

fn parse_bool(name: &str, value: &str, default: bool) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "" => Ok(default),
        "true" | "1" | "t" => Ok(true),
        "false" | "0" | "f" => Ok(false),
        _ => Err(format!("{name}: expected true or false, not {value:?}")),
    }
}

impl Params {
    fn parse(raw: Option<&str>) -> Result<Params, String> {
        let mut p = Params {
            active: true,
            silenced: true,
            inhibited: true,
            unprocessed: true,
            filter: Vec::new(),
            receiver: None,
            receiver_matchers: Vec::new(),
        };
        for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "active" => p.active = parse_bool("active", &v, true)?,
                "silenced" => p.silenced = parse_bool("silenced", &v, true)?,
                "inhibited" => p.inhibited = parse_bool("inhibited", &v, true)?,
                "unprocessed" => p.unprocessed = parse_bool("unprocessed", &v, true)?,
                // Only groups take it; nothing is muted, so it changes nothing.
                "muted" => {
                    parse_bool("muted", &v, true)?;
                }
                "filter" => p
                    .filter
                    .extend(Matcher::parse_filter(&v).map_err(|e| e.to_string())?),
                "receiver" => {
                    p.receiver = Some(
                        Matcher::new("receiver", MatchOp::Regex, v.as_ref())
                            .map_err(|e| format!("failed to parse receiver param: {e}"))?,
                    );
                }
                "receiver_matchers" => p
                    .receiver_matchers
                    .extend(Matcher::parse_filter(&v).map_err(|e| e.to_string())?),
                _ => {}
            }
        }
        Ok(p)
    }

    /// Whether a receiver (a service) is asked for.
    fn wants_receiver(&self, name: &str) -> bool {
        self.receiver.as_ref().is_none_or(|re| re.matches(name))
            && matcher::all_match(&self.receiver_matchers, &BTreeMap::new())
    }

    /// Whether an alert passes (Alertmanager's rule: `active=false` drops
    /// active alerts, `silenced=false` silenced ones, `inhibited=false`
    /// inhibited ones). Nothing is unprocessed.
    fn keeps(&self, alert: &GettableAlert) -> bool {
        let st = &alert.status;
        let active = st.silenced_by.is_empty() && st.inhibited_by.is_empty();
        (self.active || !active)
            && (self.silenced || st.silenced_by.is_empty())
            && (self.inhibited || st.inhibited_by.is_empty())
            && alert.receivers.iter().any(|r| self.wants_receiver(&r.name))
            && matcher::all_match(&self.filter, &alert.labels)
    }
}

// ---------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
struct ReceiverRef {
    name: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
struct AlertState {
    state: &'static str,
    silenced_by: Vec<String>,
    inhibited_by: Vec<String>,
    muted_by: Vec<String>,
}

/// Alertmanager's `gettableAlert`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
struct GettableAlert {
    annotations: BTreeMap<String, String>,
    ends_at: String,
    fingerprint: String,
    receivers: Vec<ReceiverRef>,
    starts_at: String,
    status: AlertState,
    updated_at: String,
    #[serde(rename = "generatorURL", skip_serializing_if = "Option::is_none")]
    generator_url: Option<String>,
    labels: BTreeMap<String, String>,
}

/// Alertmanager's `alertGroup`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertGroup {
    labels: BTreeMap<String, String>,
    route_labels: BTreeMap<String, String>,
    receiver: ReceiverRef,
    alerts: Vec<GettableAlert>,
}

/// An instant as Alertmanager prints it: UTC, milliseconds.
pub(crate) fn time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    match v {
        Some(Value::Object(m)) => m
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// A Firebell alert as Alertmanager shows one.
fn gettable(alert: &Alert) -> GettableAlert {
    // An alert that came in through an Alertmanager format is keyed by the
    // fingerprint of its labels; its annotations, start and generator URL
    // are in its details.
    let from_alertmanager = labels::from_alertmanager(alert);
    let labels = labels::alert_labels(alert);
    let annotations = if from_alertmanager {
        string_map(alert.details.get("annotations"))
    } else {
        BTreeMap::from([("summary".to_string(), alert.summary.clone())])
    };
    let starts_at = alert
        .details
        .get("startsAt")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<Timestamp>().ok())
        .filter(|_| from_alertmanager)
        .unwrap_or(alert.created_at);
    let generator_url = alert
        .details
        .get("generatorURL")
        .and_then(Value::as_str)
        .filter(|u| from_alertmanager && !u.is_empty())
        .map(str::to_string);
    GettableAlert {
        annotations,
        ends_at: alert.expires_at.map_or_else(|| NO_END.to_string(), time),
        fingerprint: fingerprint(&labels),
        receivers: vec![ReceiverRef {
            name: alert.service.clone(),
        }],
        starts_at: time(starts_at),
        status: AlertState {
            state: "active",
            silenced_by: Vec::new(),
            inhibited_by: Vec::new(),
            muted_by: Vec::new(),
        },
        updated_at: time(alert.updated_at),
        generator_url,
        labels,
    }
}

/// The alert's status given what silences and inhibits it.
fn suppressed(mut g: GettableAlert, s: Suppression) -> GettableAlert {
    if !s.silenced_by.is_empty() || !s.inhibited_by.is_empty() {
        g.status.state = "suppressed";
    }
    g.status.silenced_by = s.silenced_by;
    g.status.inhibited_by = s.inhibited_by;
    g
}

/// Every open alert of the scope, by status then newest first.
async fn open_alerts<S: Store>(store: &S, scope: &Scope) -> Result<Vec<Alert>, ApiError> {
    let mut out = Vec::new();
    for status in [AlertStatus::Triggered, AlertStatus::Acknowledged] {
        let mut before = None;
        loop {
            let page = store
                .list_alerts(AlertFilter {
                    status: Some(status),
                    service: scope.service().map(str::to_string),
                    before,
                    limit: PAGE,
                    ..Default::default()
                })
                .await?;
            let full = page.len() == PAGE as usize;
            before = page.last().map(|a| a.id);
            out.extend(page);
            if !full {
                break;
            }
        }
    }
    Ok(out)
}

/// The equality matchers the label index can answer: `name="value"` with a
/// value (`name=""` matches alerts without the label). `None` when there are
/// none: then every open alert is read. Every matcher is still applied to
/// what the index finds, on the labels this API shows.
fn indexed_labels(filter: &[Matcher]) -> Option<Vec<(String, String)>> {
    let pairs: Vec<(String, String)> = filter
        .iter()
        .filter(|m| m.op() == MatchOp::Equal && !m.value().is_empty())
        .map(|m| (m.name().to_string(), m.value().to_string()))
        .collect();
    (!pairs.is_empty()).then_some(pairs)
}

/// The alerts a query asks for, sorted by fingerprint as Alertmanager sorts them.
async fn query<S: Store>(
    state: &AppState<S>,
    scope: Scope,
    raw: Option<&str>,
) -> Result<Vec<GettableAlert>, Response> {
    let params = Params::parse(raw).map_err(bad_request)?;
    let store = state.engine.store();
    let alerts = match indexed_labels(&params.filter) {
        Some(pairs) => {
            let mut found = store
                .open_alerts_labelled(pairs)
                .await
                .map_err(|e| ApiError::from(e).into_response())?;
            if let Some(service) = scope.service() {
                found.retain(|a| a.service == service);
            }
            found
        }
        None => open_alerts(store, &scope)
            .await
            .map_err(IntoResponse::into_response)?,
    };
    let suppression = state
        .engine
        .suppression(&alerts)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let mut out: Vec<GettableAlert> = alerts
        .iter()
        .zip(suppression)
        .map(|(a, s)| suppressed(gettable(a), s))
        .filter(|a| params.keeps(a))
        .collect();
    out.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
    Ok(out)
}

// ---------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------

/// `GET /api/v2/alerts`
pub async fn alerts<S: Store>(
    AlertmanagerReader(scope): AlertmanagerReader,
    State(state): State<Shared<S>>,
    RawQuery(raw): RawQuery,
) -> Response {
    match query(&state, scope, raw.as_deref()).await {
        Ok(alerts) => axum::Json(alerts).into_response(),
        Err(r) => r,
    }
}

/// `GET /api/v2/alerts/groups`: one group per receiver (service), with no
/// group labels; Firebell pages for each alert on its own whatever the group.
pub async fn groups<S: Store>(
    AlertmanagerReader(scope): AlertmanagerReader,
    State(state): State<Shared<S>>,
    RawQuery(raw): RawQuery,
) -> Response {
    let alerts = match query(&state, scope, raw.as_deref()).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let mut by_service: BTreeMap<String, Vec<GettableAlert>> = BTreeMap::new();
    for a in alerts {
        for r in &a.receivers {
            by_service
                .entry(r.name.clone())
                .or_default()
                .push(a.clone());
        }
    }
    let groups: Vec<AlertGroup> = by_service
        .into_iter()
        .map(|(name, alerts)| AlertGroup {
            labels: BTreeMap::new(),
            route_labels: BTreeMap::new(),
            receiver: ReceiverRef { name },
            alerts,
        })
        .collect();
    axum::Json(groups).into_response()
}

/// `GET /api/v2/receivers`: one per service the caller sees.
pub async fn receivers<S: Store>(
    AlertmanagerReader(scope): AlertmanagerReader,
    State(state): State<Shared<S>>,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = match Params::parse(raw.as_deref()) {
        Ok(p) => p,
        Err(m) => return bad_request(m),
    };
    let out: Vec<ReceiverRef> = if matcher::all_match(&params.receiver_matchers, &BTreeMap::new()) {
        scope
            .services(&state.engine.config())
            .into_iter()
            .map(|name| ReceiverRef { name })
            .collect()
    } else {
        Vec::new()
    };
    axum::Json(out).into_response()
}

/// `GET /api/v2/status`: no cluster, Firebell's version, and the routing as
/// an Alertmanager configuration.
pub async fn status<S: Store>(
    AlertmanagerReader(scope): AlertmanagerReader,
    State(state): State<Shared<S>>,
) -> Response {
    let services = scope.services(&state.engine.config());
    axum::Json(serde_json::json!({
        "cluster": { "status": "disabled", "peers": [] },
        "versionInfo": {
            "version": env!("CARGO_PKG_VERSION"),
            "revision": "firebell",
            "branch": "firebell",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        },
        "config": { "original": config_yaml(&services) },
        "uptime": time(state.started_at),
    }))
    .into_response()
}

/// A YAML string (JSON's quoting is a subset of YAML's double-quoted style).
fn yaml_str(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// Firebell's routing as an Alertmanager configuration: a root route to a
/// receiver that gets nothing, and one child route and receiver per service.
fn config_yaml(services: &[String]) -> String {
    let mut y = String::from(
        "# Firebell's routing, in Alertmanager's format (read-only).\n\
         # Firebell routes an alert by the integration key it arrives with, not by\n\
         # its labels: each service is a receiver, and the pseudo-label\n\
         # firebell_service stands for \"arrived with this service's key\". Firebell\n\
         # pages for each alert on its own (no grouping, no repeat intervals).\n\
         route:\n",
    );
    y.push_str(&format!("  receiver: {}\n", yaml_str(ROOT_RECEIVER)));
    let routes: Vec<String> = services
        .iter()
        .filter_map(|s| {
            let m = Matcher::new(SERVICE_LABEL, MatchOp::Equal, s.as_str()).ok()?;
            Some(format!(
                "  - receiver: {}\n    matchers:\n    - {}\n",
                yaml_str(s),
                yaml_str(&m.to_string())
            ))
        })
        .collect();
    if !routes.is_empty() {
        y.push_str("  routes:\n");
        y.extend(routes);
    }
    y.push_str("receivers:\n");
    for name in std::iter::once(ROOT_RECEIVER).chain(services.iter().map(String::as_str)) {
        y.push_str(&format!("- name: {}\n", yaml_str(name)));
    }
    y
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use firebell_core::event::{DedupKey, Severity};
    use serde_json::json;

    fn alert(labels: &[(&str, &str)], dedup: Option<&str>, details: Value) -> Alert {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let key = dedup.map_or_else(|| fingerprint(&labels), str::to_string);
        Alert {
            id: 1,
            service: "infra".into(),
            dedup_key: DedupKey::parse(key).unwrap(),
            status: AlertStatus::Acknowledged,
            summary: "Disk full".into(),
            severity: Severity::Critical,
            source: "db1".into(),
            labels,
            details: details.as_object().cloned().unwrap_or_default(),
            count: 3,
            created_at: "2026-03-01T09:00:00Z".parse().unwrap(),
            updated_at: "2026-03-01T09:05:00.123456Z".parse().unwrap(),
            acknowledged_at: None,
            resolved_at: None,
            expires_at: None,
        }
    }

    #[test]
    fn alertmanager_alerts_keep_their_fingerprint_annotations_and_start() {
        let a = alert(
            &[("alertname", "DiskFull"), ("severity", "critical")],
            None,
            json!({"annotations": {"summary": "Disk full", "runbook": "http://r"},
                   "generatorURL": "http://prom/graph", "startsAt": "2026-03-01T08:59:30Z"}),
        );
        let g = gettable(&a);
        let v = serde_json::to_value(&g).unwrap();
        assert_eq!(v["fingerprint"], a.dedup_key.as_str());
        assert_eq!(
            v["labels"],
            json!({"alertname": "DiskFull", "severity": "critical"})
        );
        assert_eq!(
            v["annotations"],
            json!({"summary": "Disk full", "runbook": "http://r"})
        );
        assert_eq!(v["startsAt"], "2026-03-01T08:59:30.000Z");
        assert_eq!(v["updatedAt"], "2026-03-01T09:05:00.123Z");
        assert_eq!(v["endsAt"], NO_END);
        assert_eq!(v["generatorURL"], "http://prom/graph");
        assert_eq!(v["receivers"], json!([{"name": "infra"}]));
        // Acknowledged is still active: nothing silences or inhibits it.
        assert_eq!(
            v["status"],
            json!({"state": "active", "silencedBy": [], "inhibitedBy": [], "mutedBy": []})
        );
    }

    #[test]
    fn other_alerts_get_an_alertname_and_a_summary() {
        let a = alert(
            &[("host", "web1")],
            Some("disk-web1"),
            json!({"free": "0%"}),
        );
        let g = gettable(&a);
        assert_eq!(g.labels["alertname"], "disk-web1");
        assert_eq!(g.labels["host"], "web1");
        assert_eq!(
            g.annotations,
            BTreeMap::from([("summary".into(), "Disk full".into())])
        );
        assert_eq!(g.fingerprint, fingerprint(&g.labels));
        assert_eq!(g.starts_at, "2026-03-01T09:00:00.000Z");
        assert!(g.generator_url.is_none());
    }

    #[test]
    fn params_filter_like_alertmanager() {
        let g = gettable(&alert(
            &[("alertname", "X"), ("severity", "critical")],
            None,
            json!({}),
        ));
        let keeps = |q: &str| Params::parse(Some(q)).unwrap().keeps(&g);
        assert!(keeps(""));
        // amtool's own query.
        assert!(keeps(
            "active=true&inhibited=false&silenced=false&unprocessed=false"
        ));
        assert!(!keeps("active=false"));
        assert!(keeps(
            "filter=alertname%3DX&filter=severity%3D~%22crit.*%22"
        ));
        assert!(!keeps("filter=alertname%3DY"));
        assert!(keeps(
            "filter=%7Balertname%3D%22X%22%2Cseverity%21%3D%22info%22%7D"
        ));
        assert!(keeps("receiver=inf.*"));
        assert!(!keeps("receiver=inf"));
        assert!(keeps("receiver_matchers=team%21%3Da"));
        assert!(!keeps("receiver_matchers=team%3Da"));
        assert!(keeps("unknown=1"));

        let err = |q: &str| Params::parse(Some(q)).unwrap_err();
        assert_eq!(err("filter=bad"), "bad matcher format: bad");
        assert!(err("receiver=(").starts_with("failed to parse receiver param: "));
        assert_eq!(
            err("active=maybe"),
            "active: expected true or false, not \"maybe\""
        );
    }

    #[test]
    fn the_routing_yaml_names_every_service() {
        let y = config_yaml(&["infra".into(), "web.v2".into()]);
        assert!(
            y.contains("route:\n  receiver: \"firebell:default\"\n  routes:\n"),
            "{y}"
        );
        assert!(y.contains("  - receiver: \"web.v2\"\n    matchers:\n    - \"firebell_service=\\\"web.v2\\\"\"\n"), "{y}");
        assert!(
            y.ends_with(
                "receivers:\n- name: \"firebell:default\"\n- name: \"infra\"\n- name: \"web.v2\"\n"
            ),
            "{y}"
        );
        let empty = config_yaml(&[]);
        assert!(!empty.contains("routes:"));
    }
}
