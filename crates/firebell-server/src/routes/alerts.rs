//! The alerts API: list, one alert with its escalation, timeline and pages,
//! and people's answers (acknowledge, resolve, decline, escalate).

use crate::auth::Admin;
use crate::error::ApiError;
use crate::openapi::{AlertList, AlertView, ErrorBody, EscalationView, NotificationView, bodies};
use crate::{AppState, MAX_PAGE, Shared};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use firebell_channels::redact_address;
use firebell_core::alert::{AlertId, AlertStatus};
use firebell_core::escalation::Response as Answer;
use firebell_store::{AlertFilter, Store};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    status: Option<String>,
    service: Option<String>,
    limit: Option<u32>,
    before: Option<AlertId>,
}

fn field(name: &str, msg: String) -> ApiError {
    ApiError::fields(vec![firebell_core::event::FieldError::new(name, msg)])
}

/// The list's query: `label` repeats, which the typed query cannot hold, so
/// it is taken out first and the rest is read as [`ListQuery`].
fn list_query(raw: &str) -> Result<(ListQuery, Vec<(String, String)>), ApiError> {
    let mut labels: Vec<(String, String)> = Vec::new();
    let mut rest = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        if k != "label" {
            rest.append_pair(&k, &v);
            continue;
        }
        match v.split_once('=') {
            Some((name, value)) if !name.is_empty() && !value.is_empty() => {
                labels.push((name.to_string(), value.to_string()));
            }
            _ => {
                return Err(field(
                    "label",
                    format!("expected name=value with both parts, not {v:?}"),
                ));
            }
        }
    }
    let uri: axum::http::Uri = format!("/?{}", rest.finish())
        .parse()
        .map_err(|_| ApiError::bad_request("malformed query"))?;
    let Query(q) =
        Query::<ListQuery>::try_from_uri(&uri).map_err(|e| ApiError::bad_request(e.body_text()))?;
    Ok((q, labels))
}

/// `GET /api/v1/alerts`: newest first, by `status`, `service`, `before`,
/// `limit`, and `label=name=value` (repeatable: alerts with every one of
/// those labels; open alerts only, found through the label index).
#[utoipa::path(
    get,
    path = "/api/v1/alerts",
    operation_id = "list_alerts",
    tag = "alerts",
    security(("admin_token" = [])),
    params(
        ("status" = Option<String>, Query, description = "triggered, acknowledged, resolved or all"),
        ("service" = Option<String>, Query, description = "a service id"),
        ("limit" = Option<u32>, Query, description = "1 to 500; default 50"),
        ("before" = Option<i64>, Query, description = "alerts with a smaller id (the previous page's next_before)"),
        ("label" = Option<Vec<String>>, Query, description = "name=value, repeatable: open alerts with every one of these labels", style = Form, explode),
    ),
    responses(
        (status = 200, description = "Newest first", body = AlertList),
        (status = 400, description = "A bad parameter, named", body = ErrorBody),
        (status = 401, description = "No admin token", body = ErrorBody),
        (status = 429, description = "Too many failed credentials from this address", body = ErrorBody),
        (status = 503, description = "The store cannot answer now", body = ErrorBody),
    )
)]
pub(crate) async fn list<S: Store>(
    _: Admin,
    State(state): State<Shared<S>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (q, labels) = list_query(raw.as_deref().unwrap_or(""))?;
    let status = match q.status.as_deref() {
        None | Some("") | Some("all") => None,
        Some(s) => Some(s.parse::<AlertStatus>().map_err(|m| field("status", m))?),
    };
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PAGE {
        return Err(field("limit", format!("must be between 1 and {MAX_PAGE}")));
    }
    let store = state.engine.store();
    let alerts = if labels.is_empty() {
        store
            .list_alerts(AlertFilter {
                status,
                service: q.service,
                before: q.before,
                limit,
                ..Default::default()
            })
            .await?
    } else {
        if status == Some(AlertStatus::Resolved) {
            return Err(field(
                "label",
                "label filters find open alerts only; leave out status=resolved".into(),
            ));
        }
        let mut found = store.open_alerts_labelled(labels).await?;
        found.retain(|a| {
            status.is_none_or(|s| a.status == s)
                && q.service.as_ref().is_none_or(|s| &a.service == s)
                && q.before.is_none_or(|b| a.id < b)
        });
        // The store answers by id; the list is newest first.
        found.reverse();
        found.truncate(limit as usize);
        found
    };
    let next = if alerts.len() == limit as usize {
        alerts.last().map(|a| a.id)
    } else {
        None
    };
    Ok(axum::Json(AlertList {
        alerts,
        next_before: next,
    })
    .into_response())
}

/// Timeline lines in one alert answer unless `timeline_limit` says otherwise.
pub const TIMELINE_PAGE: u32 = 100;
/// The most `timeline_limit` may ask for.
pub const MAX_TIMELINE_PAGE: u32 = 1000;

/// Which timeline lines an alert answer carries: the newest `limit` before
/// the cursor `before`.
#[derive(Clone, Copy, Debug)]
struct TimelineWindow {
    before: Option<i64>,
    limit: u32,
}

impl Default for TimelineWindow {
    fn default() -> Self {
        Self {
            before: None,
            limit: TIMELINE_PAGE,
        }
    }
}

/// The query of `GET /api/v1/alerts/{id}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlertQuery {
    timeline_limit: Option<u32>,
    timeline_before: Option<i64>,
}

/// An alert, its escalation and pages, and a bounded page of its timeline
/// (newest lines, oldest first; `timeline_next_before` pages back).
async fn alert_view<S: Store>(
    state: &AppState<S>,
    id: AlertId,
    window: TimelineWindow,
) -> Result<AlertView, ApiError> {
    let store = state.engine.store();
    let alert = store
        .get_alert(id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no alert with id {id}")))?;
    let page = store.timeline_page(id, window.before, window.limit).await?;
    let escalation = store.escalation(id).await?.map(|e| EscalationView {
        policy: e.policy,
        phase: e.phase,
        step: e.step + 1,
        loop_: e.loop_ + 1,
        due_at: e.due_at,
        targets: e.targets,
        retriggered: e.retriggered,
    });
    let notifications = store
        .notifications(id)
        .await?
        .into_iter()
        .map(|n| NotificationView {
            id: n.id,
            address: redact_address(&n.channel, &n.address),
            user: n.user,
            channel: n.channel,
            kind: n.kind,
            status: n.status,
            attempts: n.attempts,
            last_error: n.last_error,
            step: n.step + 1,
            loop_: n.loop_ + 1,
            created_at: n.created_at,
        })
        .collect();
    Ok(AlertView {
        alert,
        escalation,
        timeline: page.entries,
        timeline_next_before: page.next_before,
        notifications,
    })
}

fn parse_id(raw: &str) -> Result<AlertId, ApiError> {
    raw.parse::<AlertId>()
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, format!("no alert with id {raw:?}")))
}

/// `GET /api/v1/alerts/{id}`
#[utoipa::path(
    get,
    path = "/api/v1/alerts/{id}",
    operation_id = "get_alert",
    tag = "alerts",
    security(("admin_token" = [])),
    params(
        ("id" = String, Path, description = "the alert's id"),
        ("timeline_limit" = Option<u32>, Query, description = "1 to 1000 timeline lines; default 100"),
        ("timeline_before" = Option<i64>, Query, description = "older lines (the previous answer's timeline_next_before)"),
    ),
    responses(
        (status = 200, description = "The alert", body = AlertView),
        (status = 400, description = "A bad parameter, named", body = ErrorBody),
        (status = 401, description = "No admin token", body = ErrorBody),
        (status = 404, description = "No such alert", body = ErrorBody),
        (status = 429, description = "Too many failed credentials from this address", body = ErrorBody),
        (status = 503, description = "The store cannot answer now", body = ErrorBody),
    )
)]
pub(crate) async fn get_one<S: Store>(
    _: Admin,
    State(state): State<Shared<S>>,
    Path(id): Path<String>,
    query: Result<Query<AlertQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = q.timeline_limit.unwrap_or(TIMELINE_PAGE);
    if limit == 0 || limit > MAX_TIMELINE_PAGE {
        return Err(ApiError::fields(vec![
            firebell_core::event::FieldError::new(
                "timeline_limit",
                format!("must be between 1 and {MAX_TIMELINE_PAGE}"),
            ),
        ]));
    }
    let window = TimelineWindow {
        before: q.timeline_before,
        limit,
    };
    Ok(axum::Json(alert_view(&state, id, window).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AnswerBody {
    user: Option<String>,
}

/// The `user` an answer's body names (`{"user": "alice"}`, or an empty
/// body for none), checked to be a configured user.
fn answering_user<S: Store>(
    state: &Shared<S>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Option<String>, ApiError> {
    let body = body?;
    let parsed: AnswerBody = if body.iter().all(u8::is_ascii_whitespace) {
        AnswerBody { user: None }
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?
    };
    match parsed.user {
        Some(u) if !state.engine.config().users.contains_key(&u) => Err(ApiError::fields(vec![
            firebell_core::event::FieldError::new("user", format!("no user named {u:?}")),
        ])),
        user => Ok(user),
    }
}

/// `POST /api/v1/alerts/{id}/{action}`: acknowledge (or ack), resolve,
/// decline, escalate.
#[utoipa::path(
    post,
    path = "/api/v1/alerts/{id}/{action}",
    operation_id = "answer_alert",
    tag = "alerts",
    security(("admin_token" = [])),
    params(
        ("id" = String, Path, description = "the alert's id"),
        ("action" = String, Path, description = "acknowledge, ack, resolve, decline or escalate"),
    ),
    request_body(content = Option<bodies::Answer>, description = "Who answers; may be empty"),
    responses(
        (status = 200, description = "The alert after the answer", body = AlertView),
        (status = 400, description = "A bad body, the field named", body = ErrorBody),
        (status = 401, description = "No admin token", body = ErrorBody),
        (status = 404, description = "No such alert or action", body = ErrorBody),
        (status = 409, description = "The alert cannot take this answer now", body = ErrorBody),
        (status = 413, description = "Body over server.max_body_bytes", body = ErrorBody),
        (status = 429, description = "Too many failed credentials from this address", body = ErrorBody),
        (status = 503, description = "The store cannot answer now", body = ErrorBody),
    )
)]
pub(crate) async fn answer<S: Store>(
    _: Admin,
    State(state): State<Shared<S>>,
    Path((id, action)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let answer = match action.as_str() {
        "acknowledge" | "ack" => Answer::Accept,
        "resolve" => Answer::Resolve,
        "decline" => Answer::Decline,
        "escalate" => Answer::Escalate,
        _ => return Err(ApiError::new(StatusCode::NOT_FOUND, "no such endpoint")),
    };
    let id = parse_id(&id)?;
    let who = match answering_user(&state, body)? {
        Some(u) => u,
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
    Ok(axum::Json(alert_view(&state, id, TimelineWindow::default()).await?).into_response())
}

/// `POST /api/v1/alerts/{id}/actions/{action}`: runs one of the alert's
/// runbook actions. The admin token may run any the alert offers; the body
/// names who asks (default `api`), which the timeline shows.
#[utoipa::path(
    post,
    path = "/api/v1/alerts/{id}/actions/{action}",
    operation_id = "run_alert_action",
    tag = "alerts",
    security(("admin_token" = [])),
    params(
        ("id" = String, Path, description = "the alert's id"),
        ("action" = String, Path, description = "the action's id"),
    ),
    request_body(content = Option<bodies::Answer>, description = "Who asks; may be empty"),
    responses(
        (status = 202, description = "The run is queued; its outcome comes on the timeline", body = firebell_core::api::ActionStarted),
        (status = 400, description = "A bad body, the field named", body = ErrorBody),
        (status = 401, description = "No admin token", body = ErrorBody),
        (status = 404, description = "No such alert, or it offers no such action", body = ErrorBody),
        (status = 409, description = "It may not run now (resolved, ran already), and why", body = ErrorBody),
        (status = 413, description = "Body over server.max_body_bytes", body = ErrorBody),
        (status = 429, description = "Too many failed credentials from this address", body = ErrorBody),
        (status = 503, description = "The store cannot answer now", body = ErrorBody),
    )
)]
pub(crate) async fn run_action<S: Store>(
    _: Admin,
    State(state): State<Shared<S>>,
    Path((id, action)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let who = answering_user(&state, body)?.unwrap_or_else(|| "api".to_string());
    let Some(alert) = state.engine.store().get_alert(id).await? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no alert {id}"),
        ));
    };
    if state
        .engine
        .config()
        .actions
        .find(&alert, &action)
        .is_none()
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("alert {id} offers no action {action:?}"),
        ));
    }
    let asker = firebell_engine::actions::Asker {
        user: &who,
        via: "api",
        responder: true,
    };
    match state.engine.run_action(id, &action, asker).await? {
        firebell_engine::actions::ActionOutcome::Started(message) => Ok((
            StatusCode::ACCEPTED,
            axum::Json(firebell_core::api::ActionStarted {
                alert_id: id,
                action,
                message,
            }),
        )
            .into_response()),
        firebell_engine::actions::ActionOutcome::Refused(why) => {
            Err(ApiError::new(StatusCode::CONFLICT, why))
        }
    }
}
