//! Firebell's HTTP server: ingest routes, the `/api/v1` API and the
//! operations endpoints, wired to an [`Engine`] over any [`Store`].
#![forbid(unsafe_code)]

pub mod alertmanager_api;
mod changes;
pub mod config_file;
pub mod error;
mod heartbeat;
pub mod links;
mod maintenance;
pub mod schedules;
mod silences;
mod sns;
mod test_pages;
mod twilio;
mod vtm;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use error::ApiError;
use firebell_channels::redact_address;
use firebell_core::alert::{AlertId, AlertStatus};
use firebell_core::config::{ConfigErrors, IntegrationKind};
use firebell_core::escalation::Response as Answer;
use firebell_engine::Engine;
use firebell_ingest::IngestError;
use firebell_store::{AlertFilter, Store};
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, watch};

/// Most alerts one list request returns.
pub const MAX_PAGE: u32 = 500;

pub struct AppState<S> {
    pub engine: Engine<S>,
    /// Where the configuration came from, for reloads.
    pub config_path: Option<PathBuf>,
    /// When this server started (by the engine's clock), for `/api/v2/status`.
    pub started_at: jiff::Timestamp,
    reload_lock: Mutex<()>,
    /// The SNS endpoint's HTTP client and certificate cache.
    sns: sns::SnsState,
}

pub(crate) type Shared<S> = Arc<AppState<S>>;

impl<S: Store> AppState<S> {
    pub fn new(engine: Engine<S>, config_path: Option<PathBuf>) -> Arc<Self> {
        Arc::new(Self {
            started_at: engine.now(),
            engine,
            config_path,
            reload_lock: Mutex::new(()),
            sns: sns::SnsState::default(),
        })
    }
}

/// Builds the router. The body limit is read once, here.
pub fn router<S: Store>(state: Arc<AppState<S>>) -> Router {
    let limit = state.engine.config().server.max_body_bytes;
    Router::new()
        .route("/api/v1/events", post(post_events::<S>))
        .route("/v2/enqueue", post(pagerduty_enqueue::<S>))
        .route("/v2/change/enqueue", post(changes::enqueue::<S>))
        .route("/api/v1/changes", get(changes::list::<S>))
        .route("/api/v1/vtm", post(vtm::post_event::<S>))
        .route("/api/v1/heartbeat", post(heartbeat::ping_bearer::<S>))
        .route(
            "/api/v1/heartbeat/{key}",
            get(heartbeat::ping_path::<S>).post(heartbeat::ping_path::<S>),
        )
        .route(
            "/api/v2/alerts",
            post(alertmanager_v2_post::<S>).get(alertmanager_api::alerts::<S>),
        )
        .route("/api/v2/alerts/groups", get(alertmanager_api::groups::<S>))
        .route("/api/v2/status", get(alertmanager_api::status::<S>))
        .route("/api/v2/receivers", get(alertmanager_api::receivers::<S>))
        .route(
            "/api/v2/silences",
            get(silences::am_list::<S>).post(silences::am_post::<S>),
        )
        .route(
            "/api/v2/silence/{id}",
            get(silences::am_get::<S>).delete(silences::am_delete::<S>),
        )
        .route(
            "/api/v1/silences",
            get(silences::list::<S>).post(silences::create::<S>),
        )
        .route(
            "/api/v1/silences/{id}",
            get(silences::get_one::<S>).delete(silences::expire::<S>),
        )
        .route("/hooks/alertmanager", post(alertmanager_webhook::<S>))
        .route("/hooks/sns/{key}", post(sns::receive::<S>))
        .route("/hooks/twilio/{channel}/sms", post(twilio::sms_hook::<S>))
        .route(
            "/hooks/twilio/{channel}/{action}/{nid}",
            post(twilio::call_hook::<S>),
        )
        .route("/api/v1/alerts", get(list_alerts::<S>))
        .route("/api/v1/alerts/{id}", get(get_alert::<S>))
        .route("/api/v1/alerts/{id}/{action}", post(answer_alert::<S>))
        .route("/api/v1/oncall", get(schedules::oncall_all::<S>))
        .route(
            "/api/v1/channels/{name}/test",
            post(test_pages::channel::<S>),
        )
        .route("/api/v1/users/{id}/test", post(test_pages::user::<S>))
        .route(
            "/api/v1/maintenance",
            get(maintenance::list::<S>).post(maintenance::create::<S>),
        )
        .route(
            "/api/v1/maintenance/{id}",
            axum::routing::delete(maintenance::end::<S>),
        )
        .route("/api/v1/schedules", get(schedules::list::<S>))
        .route(
            "/api/v1/schedules/{id}/oncall",
            get(schedules::oncall_one::<S>),
        )
        .route("/api/v1/schedules/{id}/shifts", get(schedules::shifts::<S>))
        .route(
            "/api/v1/schedules/{id}/overrides",
            get(schedules::list_overrides::<S>).post(schedules::add_override::<S>),
        )
        .route(
            "/api/v1/overrides/{id}",
            axum::routing::delete(schedules::delete_override::<S>),
        )
        .route(
            "/feeds/schedules/{name}",
            get(schedules::schedule_feed::<S>),
        )
        .route("/feeds/users/{name}", get(schedules::user_feed::<S>))
        .route(
            "/links/alerts/{id}/{action}",
            get(links::confirm::<S>).post(links::act::<S>),
        )
        .route("/-/reload", post(reload::<S>))
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready::<S>))
        .route("/metrics", get(metrics::<S>))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such endpoint")
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The key a request carries: a bearer token, or a basic-auth password
/// (Prometheus and Alertmanager can send either).
fn request_key(headers: &HeaderMap) -> Option<String> {
    use base64::Engine as _;
    if let Some(t) = bearer(headers) {
        return Some(t.to_string());
    }
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, cred) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(cred.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_, password) = text.split_once(':')?;
    Some(password.to_string())
}

/// The service an integration key of `kind` opens, or a 401.
fn integration_service<S: Store>(
    state: &AppState<S>,
    headers: &HeaderMap,
    kind: IntegrationKind,
) -> Result<String, ApiError> {
    let Some(key) = request_key(headers) else {
        return Err(ApiError::unauthorized(
            "missing integration key: send Authorization: Bearer <key> (or basic auth with the key as password)",
        ));
    };
    match state.engine.config().integration_for_key(&key) {
        Some(i) if i.kind == kind => Ok(i.service.clone()),
        Some(_) => Err(ApiError::unauthorized(
            "this key belongs to an integration of another kind",
        )),
        None => Err(ApiError::unauthorized("unknown integration key")),
    }
}

/// Alertmanager answers errors as a JSON string.
fn alertmanager_error(status: StatusCode, msg: String) -> Response {
    (status, axum::Json(Value::String(msg))).into_response()
}

/// `POST /api/v2/alerts`, as Alertmanager answers it: valid alerts are kept
/// even when others in the batch are not (then 400 with their errors).
async fn alertmanager_v2_post<S: Store>(
    State(state): State<Shared<S>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let service = match integration_service(&state, &headers, IntegrationKind::Alertmanager) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let body = match body {
        Ok(b) => b,
        Err(r) => return ApiError::from(r).into_response(),
    };
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return alertmanager_error(
                StatusCode::BAD_REQUEST,
                format!("parsing alerts body: {e}"),
            );
        }
    };
    let batch = match firebell_ingest::alertmanager::parse_v2(&value, &service, state.engine.now())
    {
        Ok(b) => b,
        Err(e) => return alertmanager_error(StatusCode::BAD_REQUEST, e),
    };
    if !batch.events.is_empty()
        && let Err(e) = state.engine.accept(batch.events).await
    {
        return ApiError::from(e).into_response();
    }
    if batch.errors.is_empty() {
        StatusCode::OK.into_response()
    } else {
        alertmanager_error(StatusCode::BAD_REQUEST, batch.errors.join(";"))
    }
}

/// The receiver for an Alertmanager's `webhook_configs` (payload version 4).
async fn alertmanager_webhook<S: Store>(
    State(state): State<Shared<S>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let service = integration_service(&state, &headers, IntegrationKind::Alertmanager)?;
    let body = body?;
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    let batch = firebell_ingest::alertmanager::parse_webhook(&value, &service, state.engine.now())
        .map_err(ApiError::bad_request)?;
    if !batch.errors.is_empty() {
        return Err(ApiError {
            status: StatusCode::BAD_REQUEST,
            error: format!(
                "{} invalid alert(s); nothing was recorded",
                batch.errors.len()
            ),
            details: batch.errors.into_iter().map(Value::String).collect(),
        });
    }
    let outcomes = state.engine.accept(batch.events).await?;
    Ok(axum::Json(json!({ "status": "accepted", "alerts": outcomes.len() })).into_response())
}

pub(crate) fn require_admin<S: Store>(
    state: &AppState<S>,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    match bearer(headers) {
        Some(t) if state.engine.config().is_admin_token(t) => Ok(()),
        Some(_) => Err(ApiError::unauthorized("the admin token is wrong")),
        None => Err(ApiError::unauthorized(
            "missing admin token: send Authorization: Bearer <server.admin_token>",
        )),
    }
}

async fn post_events<S: Store>(
    State(state): State<Shared<S>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let service = integration_service(&state, &headers, IntegrationKind::Generic)?;
    let body = body?;
    let events = firebell_ingest::generic::parse(&body, &service, state.engine.now()).map_err(
        |e| match e {
            IngestError::Malformed(m) => ApiError::bad_request(format!("malformed JSON: {m}")),
            IngestError::Invalid(fields) => ApiError::fields(fields),
        },
    )?;
    let outcomes = state.engine.accept(events).await?;
    let alerts: Vec<Value> = outcomes.iter().map(outcome_json).collect();
    Ok(accepted(alerts))
}

/// One recorded event, as ingest endpoints answer it.
pub(crate) fn outcome_json(o: &firebell_store::IngestOutcome) -> Value {
    json!({
        "id": o.alert_id,
        "dedup_key": o.dedup_key,
        "status": o.status,
        "duplicate": o.duplicate,
    })
}

/// `202 {"status": "accepted", "alerts": [...]}`.
pub(crate) fn accepted(alerts: Vec<Value>) -> Response {
    (
        StatusCode::ACCEPTED,
        axum::Json(json!({ "status": "accepted", "alerts": alerts })),
    )
        .into_response()
}

/// PagerDuty's answer to an event it refuses.
pub(crate) fn pagerduty_invalid(status: StatusCode, errors: Vec<String>) -> Response {
    (
        status,
        axum::Json(json!({
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": errors,
        })),
    )
        .into_response()
}

/// Reads a PagerDuty Events API body and the service its `routing_key`
/// opens, or PagerDuty's answer refusing it.
fn pagerduty_request<S: Store>(
    state: &AppState<S>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Value, String), Box<Response>> {
    let body = body.map_err(|r| {
        let e = ApiError::from(r);
        Box::new(pagerduty_invalid(e.status, vec![e.error]))
    })?;
    let value: Value = serde_json::from_slice(&body).map_err(|e| {
        Box::new(pagerduty_invalid(
            StatusCode::BAD_REQUEST,
            vec![format!("malformed JSON: {e}")],
        ))
    })?;
    let config = state.engine.config();
    let service = firebell_ingest::pagerduty::routing_key(&value)
        .and_then(|k| config.integration_for_key(k))
        .filter(|i| i.kind == IntegrationKind::Pagerduty)
        .map(|i| i.service.clone())
        .ok_or_else(|| {
            Box::new(pagerduty_invalid(
                StatusCode::BAD_REQUEST,
                vec!["Invalid routing key: no PagerDuty integration has this routing_key".into()],
            ))
        })?;
    Ok((value, service))
}

/// PagerDuty Events API v2, answered the way PagerDuty answers.
async fn pagerduty_enqueue<S: Store>(
    State(state): State<Shared<S>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (value, service) = match pagerduty_request(&state, body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let enqueue = match firebell_ingest::pagerduty::parse(&value, &service, state.engine.now()) {
        Ok(e) => e,
        Err(firebell_ingest::pagerduty::Invalid(errors)) => {
            return pagerduty_invalid(StatusCode::BAD_REQUEST, errors);
        }
    };
    let dedup_key = enqueue.event.dedup_key.clone();
    match state.engine.accept(vec![enqueue.event]).await {
        Ok(_) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({
                "status": "success",
                "message": "Event processed",
                "dedup_key": dedup_key,
            })),
        )
            .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    service: Option<String>,
    limit: Option<u32>,
    before: Option<AlertId>,
}

async fn list_alerts<S: Store>(
    State(state): State<Shared<S>>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let status = match q.status.as_deref() {
        None | Some("") | Some("all") => None,
        Some(s) => Some(s.parse::<AlertStatus>().map_err(|m| {
            ApiError::fields(vec![firebell_core::event::FieldError::new("status", m)])
        })?),
    };
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::fields(vec![
            firebell_core::event::FieldError::new(
                "limit",
                format!("must be between 1 and {MAX_PAGE}"),
            ),
        ]));
    }
    let alerts = state
        .engine
        .store()
        .list_alerts(AlertFilter {
            status,
            service: q.service,
            before: q.before,
            limit,
        })
        .await?;
    let next = if alerts.len() == limit as usize {
        alerts.last().map(|a| a.id)
    } else {
        None
    };
    Ok(axum::Json(json!({ "alerts": alerts, "next_before": next })).into_response())
}

async fn alert_view<S: Store>(state: &AppState<S>, id: AlertId) -> Result<Value, ApiError> {
    let store = state.engine.store();
    let alert = store
        .get_alert(id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no alert with id {id}")))?;
    let timeline = store.timeline(id).await?;
    let escalation = store.escalation(id).await?.map(|e| {
        json!({
            "policy": e.policy,
            "phase": e.phase,
            "step": e.step + 1,
            "loop": e.loop_ + 1,
            "due_at": e.due_at,
            "targets": e.targets,
            "retriggered": e.retriggered,
        })
    });
    let notifications: Vec<Value> = store
        .notifications(id)
        .await?
        .into_iter()
        .map(|n| {
            json!({
                "id": n.id,
                "user": n.user,
                "channel": n.channel,
                "address": redact_address(&n.channel, &n.address),
                "kind": n.kind,
                "status": n.status,
                "attempts": n.attempts,
                "last_error": n.last_error,
                "step": n.step + 1,
                "loop": n.loop_ + 1,
                "created_at": n.created_at,
            })
        })
        .collect();
    Ok(json!({
        "alert": alert,
        "escalation": escalation,
        "timeline": timeline,
        "notifications": notifications,
    }))
}

fn parse_id(raw: &str) -> Result<AlertId, ApiError> {
    raw.parse::<AlertId>()
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, format!("no alert with id {raw:?}")))
}

async fn get_alert<S: Store>(
    State(state): State<Shared<S>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let id = parse_id(&id)?;
    Ok(axum::Json(alert_view(&state, id).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerBody {
    user: Option<String>,
}

async fn answer_alert<S: Store>(
    State(state): State<Shared<S>>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let answer = match action.as_str() {
        "acknowledge" | "ack" => Answer::Accept,
        "resolve" => Answer::Resolve,
        "decline" => Answer::Decline,
        "escalate" => Answer::Escalate,
        _ => return Err(ApiError::new(StatusCode::NOT_FOUND, "no such endpoint")),
    };
    let id = parse_id(&id)?;
    let body = body?;
    let parsed: AnswerBody = if body.iter().all(u8::is_ascii_whitespace) {
        AnswerBody { user: None }
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?
    };
    let who = match parsed.user {
        Some(u) => {
            if !state.engine.config().users.contains_key(&u) {
                return Err(ApiError::fields(vec![
                    firebell_core::event::FieldError::new("user", format!("no user named {u:?}")),
                ]));
            }
            u
        }
        None if answer == Answer::Decline => {
            return Err(ApiError::fields(vec![
                firebell_core::event::FieldError::new(
                    "user",
                    "missing; a decline names the person who passes",
                ),
            ]));
        }
        None => "api".to_string(),
    };
    state.engine.respond(id, &who, answer).await?;
    Ok(axum::Json(alert_view(&state, id).await?).into_response())
}

/// Re-reads the configuration file; keeps the running one if the new one is
/// invalid. Returns the new summary.
pub async fn reload_config<S: Store>(state: &AppState<S>) -> Result<String, ConfigErrors> {
    let _guard = state.reload_lock.lock().await;
    let Some(path) = &state.config_path else {
        return Err(ConfigErrors(vec![firebell_core::config::ConfigError {
            path: "config".into(),
            message: "this server was started without a configuration file".into(),
            hint: None,
        }]));
    };
    let path = path.clone();
    let loaded = tokio::task::spawn_blocking(move || config_file::load(&path))
        .await
        .unwrap_or_else(|e| {
            Err(ConfigErrors(vec![firebell_core::config::ConfigError {
                path: "config".into(),
                message: format!("reload task failed: {e}"),
                hint: None,
            }]))
        })?;
    let old = state.engine.config();
    if loaded.server.listen != old.server.listen
        || loaded.server.data_dir != old.server.data_dir
        || loaded.server.max_body_bytes != old.server.max_body_bytes
    {
        tracing::warn!(
            "server.listen, server.data_dir and server.max_body_bytes take effect only after a restart"
        );
    }
    let summary = loaded.summary();
    state.engine.reload(loaded);
    tracing::info!(%summary, "configuration reloaded");
    Ok(summary)
}

async fn reload<S: Store>(
    State(state): State<Shared<S>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    match reload_config(&state).await {
        Ok(summary) => {
            Ok(axum::Json(json!({ "status": "reloaded", "summary": summary })).into_response())
        }
        Err(errors) => {
            for e in &errors.0 {
                tracing::error!(error = %e, "configuration reload refused; keeping the running configuration");
            }
            Err(ApiError {
                status: StatusCode::BAD_REQUEST,
                error: "the new configuration is invalid; the running one is kept".into(),
                details: errors
                    .0
                    .iter()
                    .map(|e| json!({ "field": e.path, "message": e.message, "hint": e.hint }))
                    .collect(),
            })
        }
    }
}

async fn healthy() -> &'static str {
    "Firebell is Healthy.\n"
}

async fn ready<S: Store>(State(state): State<Shared<S>>) -> Response {
    match state.engine.store().ping().await {
        Ok(()) => (StatusCode::OK, "Firebell is Ready.\n").into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Firebell is not ready: {e}\n"),
        )
            .into_response(),
    }
}

async fn metrics<S: Store>(State(state): State<Shared<S>>) -> Response {
    if let Err(e) = state.engine.refresh_gauges().await {
        tracing::warn!(error = %e, "could not read alert counts for /metrics");
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.engine.metrics().encode(),
    )
        .into_response()
}

/// Serves until `shutdown` resolves: the HTTP API, the engine's background
/// loops (unless the clock is manual), and reload on SIGHUP.
pub async fn serve<S: Store>(
    engine: Engine<S>,
    config_path: Option<PathBuf>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    manual_clock: bool,
) -> std::io::Result<()> {
    let state = AppState::new(engine.clone(), config_path);
    let app = router(state.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let loops = if manual_clock {
        None
    } else {
        Some(engine.spawn(stop_rx.clone()))
    };
    spawn_sighup_reload(state);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    let _ = stop_tx.send(true);
    if let Some(mut loops) = loops {
        while loops.join_next().await.is_some() {}
    }
    result
}

#[cfg(unix)]
fn spawn_sighup_reload<S: Store>(state: Arc<AppState<S>>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; reload with POST /-/reload");
        return;
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match reload_config(&state).await {
                Ok(summary) => tracing::info!(%summary, "SIGHUP: configuration reloaded"),
                Err(errors) => {
                    for e in &errors.0 {
                        tracing::error!(error = %e, "SIGHUP: configuration reload refused; keeping the running configuration");
                    }
                }
            }
        }
    });
}

#[cfg(not(unix))]
fn spawn_sighup_reload<S: Store>(_state: Arc<AppState<S>>) {}
