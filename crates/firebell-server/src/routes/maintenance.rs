//! `/api/v1/maintenance`: maintenance windows (admin token).
//!
//! - `POST /api/v1/maintenance` `{"service", "start"?, "end" | "duration",
//!   "comment"?, "created_by"?}` → 201 `{"window": …}`.
//! - `GET /api/v1/maintenance?service=&active=true` → `{"windows": [...]}`,
//!   newest first.
//! - `DELETE /api/v1/maintenance/{id}` ends the window now (the record is
//!   kept) → 200 `{"window": …}`; what it held pages at once.

use crate::Shared;
use crate::auth::Admin;
use crate::error::{ApiError, ApiQuery};
use crate::openapi::{ErrorBody, OneWindow, WindowList, WindowView};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use firebell_core::clock::parse_duration;
use firebell_core::event::FieldError;
use firebell_engine::maintenance::MAX_WINDOW;
use firebell_store::{MaintenanceFilter, MaintenanceWindow, NewMaintenance, Store};
use jiff::Timestamp;
use serde::Deserialize;

/// Longest comment kept.
const MAX_COMMENT: usize = 1024;
/// Most windows listed at once.
const MAX_LIST: u32 = 1000;

pub use firebell_core::api::bodies::NewWindow as NewWindowBody;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    service: Option<String>,
    active: Option<String>,
}

pub fn window_view(w: &MaintenanceWindow, now: Timestamp) -> WindowView {
    WindowView {
        id: w.id,
        service: w.service.clone(),
        start: w.starts_at.to_string(),
        end: w.ends_at.to_string(),
        active: w.is_active(now),
        created_by: w.created_by.clone(),
        comment: w.comment.clone(),
        created_at: w.created_at.to_string(),
    }
}

fn time(errors: &mut Vec<FieldError>, field: &str, v: &str) -> Option<Timestamp> {
    match firebell_core::clock::parse_timestamp(v) {
        Ok(t) => Some(t),
        Err(_) => {
            errors.push(FieldError::new(
                field,
                format!("{v:?} is not an RFC 3339 time such as \"2026-11-21T22:00:00Z\""),
            ));
            None
        }
    }
}

/// Checks the body; every problem is reported with its field.
fn parse_body<S: Store>(
    state: &Shared<S>,
    b: NewWindowBody,
    now: Timestamp,
) -> Result<NewMaintenance, Vec<FieldError>> {
    let config = state.engine.config();
    let mut errors = Vec::new();
    let service = match b.service.as_deref() {
        None | Some("") => {
            errors.push(FieldError::new("service", "missing; a service id"));
            None
        }
        Some(s) if !config.services.contains_key(s) => {
            errors.push(FieldError::new("service", format!("unknown service {s:?}")));
            None
        }
        Some(s) => Some(s.to_string()),
    };
    let start = match b.start.as_deref() {
        None | Some("") => Some(now),
        Some(s) => time(&mut errors, "start", s),
    };
    let (end, end_field) = match (b.end.as_deref(), b.duration.as_deref()) {
        (Some(_), Some(_)) => {
            errors.push(FieldError::new(
                "duration",
                "give either end or duration, not both",
            ));
            (None, "end")
        }
        (None, None) => {
            errors.push(FieldError::new(
                "end",
                "missing; an RFC 3339 end time, or a duration such as \"2h\"",
            ));
            (None, "end")
        }
        (Some(e), None) => (time(&mut errors, "end", e), "end"),
        (None, Some(d)) => match parse_duration(d) {
            Some(d) if d.is_positive() => (start.and_then(|s| s.checked_add(d).ok()), "duration"),
            _ => {
                errors.push(FieldError::new(
                    "duration",
                    format!(
                        "{d:?} is not a positive duration; write it like \"30m\", \"2h\" or \"1d\""
                    ),
                ));
                (None, "duration")
            }
        },
    };
    if let (Some(start), Some(end)) = (start, end) {
        if end <= start {
            errors.push(FieldError::new(
                end_field,
                format!("the window must end after it starts ({start})"),
            ));
        } else if end.duration_since(start) > MAX_WINDOW {
            errors.push(FieldError::new(
                end_field,
                "a window can last at most 7 days (168h)",
            ));
        } else if end <= now {
            errors.push(FieldError::new(
                end_field,
                format!("the window would already be over (it is now {now})"),
            ));
        }
    }
    let comment = b.comment.filter(|c| !c.trim().is_empty());
    if comment.as_ref().is_some_and(|c| c.len() > MAX_COMMENT) {
        errors.push(FieldError::new(
            "comment",
            format!("longer than {MAX_COMMENT} bytes"),
        ));
    }
    let created_by = match b.created_by {
        Some(u) if !config.users.contains_key(&u) => {
            errors.push(FieldError::new(
                "created_by",
                format!("no user named {u:?}"),
            ));
            String::new()
        }
        Some(u) => u,
        None => "api".to_string(),
    };
    match (service, start, end) {
        (Some(service), Some(starts_at), Some(ends_at)) if errors.is_empty() => {
            Ok(NewMaintenance {
                service,
                starts_at,
                ends_at,
                created_by,
                comment,
            })
        }
        _ => Err(errors),
    }
}

/// `POST /api/v1/maintenance`.
#[utoipa::path(
    post,
    path = "/api/v1/maintenance",
    operation_id = "create_maintenance",
    tag = "silences",
    security(("admin_token" = [])),
    request_body = firebell_core::api::bodies::NewWindow,
    responses(
        (status = 201, description = "Started (or scheduled)", body = OneWindow),
        (status = 400, description = "A bad field, named; nothing stored", body = ErrorBody),
        (status = 413, description = "Body over server.max_body_bytes", body = ErrorBody),
        (status = 401, description = "No admin token", body = ErrorBody),
        (status = 429, description = "Too many failed credentials from this address", body = ErrorBody),
        (status = 503, description = "The store cannot answer now", body = ErrorBody),
    )
)]
pub async fn create<S: Store>(
    _: Admin,
    State(state): State<Shared<S>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let b: NewWindowBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    let now = state.engine.now();
    let new = parse_body(&state, b, now).map_err(ApiError::fields)?;
    let stored = state
        .engine
        .start_maintenance(new)
        .await?
        .map_err(|e| ApiError::fields(vec![FieldError::new(e.field, e.message)]))?;
    Ok((
        StatusCode::CREATED,
        axum::Json(OneWindow {
            window: window_view(&stored, now),
        }),
    )
        .into_response())
}

/// `GET /api/v1/maintenance?service=&active=true`.
#[utoipa::path(
    get,
    path = "/api/v1/maintenance",
    operation_id = "list_maintenance",
    tag = "silences",
    security(("admin_token" = [])),
    params(
        ("service" = Option<String>, Query, description = "a service id"),
        ("active" = Option<String>, Query, description = "true: only windows in force now"),
    ),
    responses(
        (status = 200, description = "The windows", body = WindowList),
        (status = 400, description = "A bad parameter, named", body = ErrorBody),
        (status = 401, description = "No admin token", body = ErrorBody),
        (status = 429, description = "Too many failed credentials from this address", body = ErrorBody),
        (status = 503, description = "The store cannot answer now", body = ErrorBody),
    )
)]
pub async fn list<S: Store>(
    _: Admin,
    State(state): State<Shared<S>>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let now = state.engine.now();
    let active = match q.active.as_deref() {
        None | Some("") | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::fields(vec![FieldError::new(
                "active",
                format!("{other:?} is not true or false"),
            )]));
        }
    };
    if let Some(s) = &q.service
        && !state.engine.config().services.contains_key(s)
    {
        return Err(ApiError::fields(vec![FieldError::new(
            "service",
            format!("unknown service {s:?}"),
        )]));
    }
    let windows: Vec<WindowView> = state
        .engine
        .store()
        .maintenance_windows(MaintenanceFilter {
            service: q.service,
            active_at: active.then_some(now),
            limit: MAX_LIST,
        })
        .await?
        .iter()
        .map(|w| window_view(w, now))
        .collect();
    Ok(axum::Json(WindowList { windows }).into_response())
}

/// `DELETE /api/v1/maintenance/{id}`: ends the window now.
#[utoipa::path(
    delete,
    path = "/api/v1/maintenance/{id}",
    operation_id = "end_maintenance",
    tag = "silences",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = "the window's id")),
    responses(
        (status = 200, description = "The window, ended", body = OneWindow),
        (status = 404, description = "No such window", body = ErrorBody),
        (status = 401, description = "No admin token", body = ErrorBody),
        (status = 429, description = "Too many failed credentials from this address", body = ErrorBody),
        (status = 503, description = "The store cannot answer now", body = ErrorBody),
    )
)]
pub async fn end<S: Store>(
    _: Admin,
    State(state): State<Shared<S>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no maintenance window with id {id:?}"),
        )
    };
    let n: i64 = id.parse().map_err(|_| not_found())?;
    let w = state
        .engine
        .end_maintenance(n)
        .await?
        .ok_or_else(not_found)?;
    let now = state.engine.now();
    Ok(axum::Json(OneWindow {
        window: window_view(&w, now),
    })
    .into_response())
}
