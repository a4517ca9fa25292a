//! Silences over HTTP: Firebell's own API (admin token) and Alertmanager's
//! API v2 silence endpoints, so `amtool silence add|query|expire` work.
//!
//! Own API (`/api/v1/silences`, admin token):
//! - `POST` `{"matchers": ["service=\"checkout\""], "starts_at"?, "ends_at" |
//!   "duration", "comment", "created_by"?, "expire_on_resolve"?}` → 201
//!   `{"silence": …, "warnings": [...]}` (`"matches no open alert"`).
//! - `GET` (`?state=active|pending|expired`) → `{"silences": [...]}`.
//! - `GET /{id}` → `{"silence": …}`; `DELETE /{id}` expires it now.
//!
//! Alertmanager API v2 (an alertmanager integration key, which sees and
//! silences only its service's alerts, or the admin token):
//! - `GET /api/v2/silences` (`filter`, `active`, `pending`, `expired`),
//!   `POST /api/v2/silences` (an `id` updates: the old one is expired and a
//!   new one made, as Alertmanager does) → `{"silenceID": …}`,
//!   `GET|DELETE /api/v2/silence/{id}`. Errors are Alertmanager's: 400 or
//!   404 with a JSON string. A silence that matches nothing is only logged
//!   (the answer has no room for a warning).

use crate::Shared;
use crate::auth::Admin;
use crate::auth::AlertmanagerReader;
use crate::error::{ApiError, ApiQuery};
use crate::openapi::{ErrorBody, OneSilence, SilenceCreated, SilenceList, SilenceView};
use crate::routes::alertmanager_api::{Scope, bad_request, time};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use firebell_core::event::FieldError;
use firebell_core::matcher::Matcher;
use firebell_core::silence::{MatcherSpec, Silence, SilenceState, parse_matchers};
use firebell_engine::silences::{SilenceOpError, SilenceRequest};
use firebell_store::Store;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Longest comment or creator kept.
const MAX_TEXT: usize = 1024;

// ---------------------------------------------------------------------------
// Firebell's own API
// ---------------------------------------------------------------------------

pub use firebell_core::api::bodies::NewSilence as NewSilenceBody;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    state: Option<String>,
}

/// A silence as Firebell's API shows it.
pub fn silence_view(s: &Silence, now: Timestamp) -> SilenceView {
    SilenceView {
        id: s.id.clone(),
        state: s.state(now).as_str().to_string(),
        matchers: s.matchers.iter().map(|m| m.to_string()).collect(),
        starts_at: s.starts_at.to_string(),
        ends_at: s.ends_at.to_string(),
        created_by: s.created_by.clone(),
        comment: s.comment.clone(),
        updated_at: s.updated_at.to_string(),
        expire_on_resolve: s.expire_on_resolve,
        service: s.service.clone(),
    }
}

fn parse_time(errors: &mut Vec<FieldError>, field: &str, v: &str) -> Option<Timestamp> {
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

fn text(errors: &mut Vec<FieldError>, field: &str, v: Option<String>) -> String {
    let v = v.unwrap_or_default();
    if v.chars().count() > MAX_TEXT {
        errors.push(FieldError::new(
            field,
            format!("longer than {MAX_TEXT} characters"),
        ));
    }
    v
}

pub(crate) fn own_request(
    b: NewSilenceBody,
    now: Timestamp,
) -> Result<SilenceRequest, Vec<FieldError>> {
    let mut errors = Vec::new();
    let matchers = match parse_matchers("matchers", &b.matchers) {
        Ok(m) => m,
        Err((field, message)) => {
            errors.push(FieldError::new(field, message));
            Vec::new()
        }
    };
    if b.matchers.is_empty() {
        errors.push(FieldError::new(
            "matchers",
            "missing; at least one matcher such as service=\"checkout\"",
        ));
    }
    let starts_at = match b.starts_at.as_deref() {
        None | Some("") => None,
        Some(s) => parse_time(&mut errors, "starts_at", s),
    };
    let from = starts_at.unwrap_or(now).max(now);
    let ends_at = match (b.ends_at.as_deref(), b.duration.as_deref()) {
        (Some(_), Some(_)) => {
            errors.push(FieldError::new(
                "duration",
                "give either ends_at or duration, not both",
            ));
            None
        }
        (None, None) => {
            errors.push(FieldError::new(
                "ends_at",
                "missing; an RFC 3339 end time, or a duration such as \"2h\"",
            ));
            None
        }
        (Some(e), None) => parse_time(&mut errors, "ends_at", e),
        (None, Some(d)) => match firebell_core::clock::parse_duration(d) {
            Some(d) if d.is_positive() => from.checked_add(d).ok(),
            _ => {
                errors.push(FieldError::new(
                    "duration",
                    format!("{d:?} is not a positive duration such as \"2h\" or \"30m\""),
                ));
                None
            }
        },
    };
    let comment = text(&mut errors, "comment", b.comment);
    let created_by = text(
        &mut errors,
        "created_by",
        b.created_by.or(Some("api".into())),
    );
    match ends_at {
        Some(ends_at) if errors.is_empty() => Ok(SilenceRequest {
            replaces: None,
            matchers,
            starts_at,
            ends_at,
            created_by,
            comment,
            expire_on_resolve: b.expire_on_resolve,
            service: None,
        }),
        _ => Err(errors),
    }
}

pub(crate) fn op_error(e: SilenceOpError, own: bool) -> ApiError {
    match e {
        SilenceOpError::Invalid(e) => {
            let field = if own {
                e.field.name()
            } else {
                e.field.am_name()
            };
            ApiError::fields(vec![FieldError::new(field, e.message)])
        }
        SilenceOpError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
        SilenceOpError::Engine(e) => e.into(),
    }
}

/// `POST /api/v1/silences`
#[utoipa::path(
    post,
    path = "/api/v1/silences",
    operation_id = "create_silence",
    tag = "silences",
    security(("admin_token" = [])),
    request_body = firebell_core::api::bodies::NewSilence,
    responses(
        (status = 201, description = "Made", body = SilenceCreated),
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
    let body: NewSilenceBody = serde_json::from_slice(&body?)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    let now = state.engine.now();
    let req = own_request(body, now).map_err(ApiError::fields)?;
    let created = state
        .engine
        .create_silence(req)
        .await
        .map_err(|e| op_error(e, true))?;
    Ok((
        StatusCode::CREATED,
        axum::Json(SilenceCreated {
            silence: silence_view(&created.silence, now),
            warnings: created.warnings,
        }),
    )
        .into_response())
}

/// `GET /api/v1/silences`
#[utoipa::path(
    get,
    path = "/api/v1/silences",
    operation_id = "list_silences",
    tag = "silences",
    security(("admin_token" = [])),
    params(("state" = Option<String>, Query, description = "active, pending or expired")),
    responses(
        (status = 200, description = "Every silence", body = SilenceList),
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
    let want = match q.state.as_deref() {
        None | Some("") => None,
        Some("active") => Some(SilenceState::Active),
        Some("pending") => Some(SilenceState::Pending),
        Some("expired") => Some(SilenceState::Expired),
        Some(other) => {
            return Err(ApiError::fields(vec![FieldError::new(
                "state",
                format!("unknown state {other:?}; expected active, pending or expired"),
            )]));
        }
    };
    let now = state.engine.now();
    let silences: Vec<SilenceView> = state
        .engine
        .list_silences(None)
        .await?
        .iter()
        .filter(|s| want.is_none_or(|w| s.state(now) == w))
        .map(|s| silence_view(s, now))
        .collect();
    Ok(axum::Json(SilenceList { silences }).into_response())
}

/// `GET /api/v1/silences/{id}`
#[utoipa::path(
    get,
    path = "/api/v1/silences/{id}",
    operation_id = "get_silence",
    tag = "silences",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = "the silence's id")),
    responses(
        (status = 200, description = "The silence", body = OneSilence),
        (status = 404, description = "No such silence", body = ErrorBody),
        (status = 401, description = "No admin token", body = ErrorBody),
        (status = 429, description = "Too many failed credentials from this address", body = ErrorBody),
        (status = 503, description = "The store cannot answer now", body = ErrorBody),
    )
)]
pub async fn get_one<S: Store>(
    _: Admin,
    State(state): State<Shared<S>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let now = state.engine.now();
    match state.engine.get_silence(&id, None).await? {
        Some(s) => Ok(axum::Json(OneSilence {
            silence: silence_view(&s, now),
        })
        .into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no silence with id {id}"),
        )),
    }
}

/// `DELETE /api/v1/silences/{id}`: expires it now.
#[utoipa::path(
    delete,
    path = "/api/v1/silences/{id}",
    operation_id = "expire_silence",
    tag = "silences",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = "the silence's id")),
    responses(
        (status = 200, description = "The silence, expired", body = OneSilence),
        (status = 404, description = "No such silence", body = ErrorBody),
        (status = 401, description = "No admin token", body = ErrorBody),
        (status = 429, description = "Too many failed credentials from this address", body = ErrorBody),
        (status = 503, description = "The store cannot answer now", body = ErrorBody),
    )
)]
pub async fn expire<S: Store>(
    _: Admin,
    State(state): State<Shared<S>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let s = state
        .engine
        .expire_silence(&id, None)
        .await
        .map_err(|e| op_error(e, true))?;
    let now = state.engine.now();
    Ok(axum::Json(OneSilence {
        silence: silence_view(&s, now),
    })
    .into_response())
}

// ---------------------------------------------------------------------------
// Alertmanager API v2
// ---------------------------------------------------------------------------

/// Alertmanager's `postableSilence`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableSilence {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    matchers: Vec<MatcherSpec>,
    starts_at: Option<String>,
    ends_at: Option<String>,
    #[serde(default)]
    created_by: String,
    #[serde(default)]
    comment: String,
}

/// Alertmanager's `gettableSilence`.
fn gettable(s: &Silence, now: Timestamp) -> Value {
    json!({
        "id": s.id,
        "status": { "state": s.state(now).as_str() },
        "updatedAt": time(s.updated_at),
        "matchers": s.matchers.iter().map(MatcherSpec::from_matcher).collect::<Vec<_>>(),
        "startsAt": time(s.starts_at),
        "endsAt": time(s.ends_at),
        "createdBy": s.created_by,
        "comment": s.comment,
    })
}

fn am_error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, axum::Json(Value::String(msg.into()))).into_response()
}

fn am_op_error(e: SilenceOpError) -> Response {
    match e {
        SilenceOpError::Invalid(e) => bad_request(format!("{}: {}", e.field.am_name(), e.message)),
        SilenceOpError::NotFound(id) => {
            am_error(StatusCode::NOT_FOUND, format!("silence {id} not found"))
        }
        SilenceOpError::Engine(e) => ApiError::from(e).into_response(),
    }
}

fn am_time(field: &str, v: Option<&str>) -> Result<Timestamp, String> {
    match v {
        None | Some("") => Err(format!("{field}: required")),
        Some(s) => firebell_core::clock::parse_timestamp(s)
            .map_err(|_| format!("{field}: {s:?} is not an RFC 3339 time")),
    }
}

fn am_request(b: PostableSilence, scope: &Scope) -> Result<SilenceRequest, String> {
    let mut matchers = Vec::with_capacity(b.matchers.len());
    for (i, m) in b.matchers.iter().enumerate() {
        matchers.push(m.to_matcher().map_err(|e| format!("matchers[{i}]: {e}"))?);
    }
    Ok(SilenceRequest {
        replaces: b.id.filter(|id| !id.is_empty()),
        matchers,
        starts_at: Some(am_time("startsAt", b.starts_at.as_deref())?),
        ends_at: am_time("endsAt", b.ends_at.as_deref())?,
        created_by: b.created_by,
        comment: b.comment,
        expire_on_resolve: false,
        service: scope.service().map(str::to_string),
    })
}

/// `POST /api/v2/silences`
pub async fn am_post<S: Store>(
    AlertmanagerReader(scope): AlertmanagerReader,
    State(state): State<Shared<S>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let b: PostableSilence = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(format!("malformed silence: {e}")),
    };
    let req = match am_request(b, &scope) {
        Ok(r) => r,
        Err(m) => return bad_request(m),
    };
    match state.engine.create_silence(req).await {
        Ok(c) => axum::Json(json!({ "silenceID": c.silence.id })).into_response(),
        Err(e) => am_op_error(e),
    }
}

/// Whether a silence passes the `filter` matchers (Alertmanager's rule: the
/// filter is matched against the silence's matchers as a label set).
fn filter_keeps(filter: &[Matcher], s: &Silence) -> bool {
    let as_labels: BTreeMap<String, String> = s
        .matchers
        .iter()
        .map(|m| (m.name().to_string(), m.value().to_string()))
        .collect();
    filter.iter().all(|m| m.matches_labels(&as_labels))
}

/// `GET /api/v2/silences`: active first (soonest end first), then pending
/// (soonest start first), then expired (latest end first), as Alertmanager
/// sorts them.
pub async fn am_list<S: Store>(
    AlertmanagerReader(scope): AlertmanagerReader,
    State(state): State<Shared<S>>,
    RawQuery(raw): RawQuery,
) -> Response {
    let mut filter = Vec::new();
    let mut keep = [true, true, true]; // active, pending, expired
    for (k, v) in form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes()) {
        let slot = match k.as_ref() {
            "filter" => match Matcher::parse_filter(&v) {
                Ok(m) => {
                    filter.extend(m);
                    continue;
                }
                Err(e) => return bad_request(e.to_string()),
            },
            "active" => 0,
            "pending" => 1,
            "expired" => 2,
            _ => continue,
        };
        keep[slot] = match v.to_ascii_lowercase().as_str() {
            "" | "true" | "1" | "t" => true,
            "false" | "0" | "f" => false,
            _ => return bad_request(format!("{k}: expected true or false, not {v:?}")),
        };
    }
    let list = match state.engine.list_silences(scope.service()).await {
        Ok(l) => l,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let now = state.engine.now();
    let mut kept: Vec<&Silence> = list
        .iter()
        .filter(|s| {
            let slot = match s.state(now) {
                SilenceState::Active => 0,
                SilenceState::Pending => 1,
                SilenceState::Expired => 2,
            };
            keep[slot] && filter_keeps(&filter, s)
        })
        .collect();
    kept.sort_by(|a, b| {
        let rank = |s: &Silence| match s.state(now) {
            SilenceState::Active => (0, s.ends_at.as_millisecond()),
            SilenceState::Pending => (1, s.starts_at.as_millisecond()),
            SilenceState::Expired => (2, -s.ends_at.as_millisecond()),
        };
        rank(a).cmp(&rank(b))
    });
    let out: Vec<Value> = kept.into_iter().map(|s| gettable(s, now)).collect();
    axum::Json(out).into_response()
}

/// `GET /api/v2/silence/{id}`
pub async fn am_get<S: Store>(
    AlertmanagerReader(scope): AlertmanagerReader,
    State(state): State<Shared<S>>,
    Path(id): Path<String>,
) -> Response {
    match state.engine.get_silence(&id, scope.service()).await {
        Ok(Some(s)) => axum::Json(gettable(&s, state.engine.now())).into_response(),
        Ok(None) => am_error(StatusCode::NOT_FOUND, format!("silence {id} not found")),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `DELETE /api/v2/silence/{id}`: expires it now.
pub async fn am_delete<S: Store>(
    AlertmanagerReader(scope): AlertmanagerReader,
    State(state): State<Shared<S>>,
    Path(id): Path<String>,
) -> Response {
    match state.engine.expire_silence(&id, scope.service()).await {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => am_op_error(e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn now() -> Timestamp {
        "2026-11-21T10:00:00Z".parse().unwrap()
    }

    fn body(v: Value) -> NewSilenceBody {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn own_bodies_name_the_bad_field() {
        let errs = own_request(
            body(json!({"matchers": ["service=\"checkout\"", "oops"], "duration": "2h", "comment": "x"})),
            now(),
        )
        .unwrap_err();
        assert_eq!(errs[0].field, "matchers[1]");
        assert_eq!(errs[0].message, "bad matcher format: oops");
        let errs =
            own_request(body(json!({"matchers": ["a=b"], "comment": "x"})), now()).unwrap_err();
        assert_eq!(errs[0].field, "ends_at");
        let errs = own_request(
            body(json!({"matchers": ["a=b"], "duration": "-1h", "comment": "x"})),
            now(),
        )
        .unwrap_err();
        assert_eq!(errs[0].field, "duration");
        let r = own_request(
            body(json!({"matchers": ["a=b"], "duration": "2h", "comment": "x"})),
            now(),
        )
        .unwrap();
        assert_eq!(r.ends_at, "2026-11-21T12:00:00Z".parse().unwrap());
        assert_eq!(r.created_by, "api");
    }

    #[test]
    fn filters_match_the_silences_matchers_like_alertmanager() {
        let s = Silence {
            id: "x".into(),
            matchers: vec![Matcher::parse("alertname=\"Up\"").unwrap()],
            starts_at: now(),
            ends_at: now(),
            created_by: "a".into(),
            comment: "c".into(),
            updated_at: now(),
            expire_on_resolve: false,
            service: None,
        };
        let f = |q: &str| Matcher::parse_filter(q).unwrap();
        assert!(filter_keeps(&f("alertname=Up"), &s));
        assert!(filter_keeps(&f("alertname=~U.*"), &s));
        assert!(!filter_keeps(&f("alertname=Down"), &s));
        assert!(!filter_keeps(&f("job=x"), &s));
    }
}
