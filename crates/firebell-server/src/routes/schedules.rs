//! Schedules over HTTP: who is on call, final shifts, overrides, and
//! iCalendar feeds behind a per-feed token.

use crate::Shared;
use crate::auth::Admin;
use crate::error::{ApiError, ApiQuery};
use crate::openapi::{
    ErrorBody, OnCallAt, OnCallNow, OneOverride, OverrideList, OverrideView, ScheduleList,
    ScheduleOnCall, ScheduleView, ShiftList, ShiftView, UserFeed,
};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use firebell_core::event::FieldError;
use firebell_core::ical::{self, IcsEvent};
use firebell_core::schedule::{Override, OverrideKind, Schedule, Shift};
use firebell_store::{Store, StoredOverride};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use std::collections::HashMap;

/// Longest span one shifts request may cover.
pub const MAX_WINDOW_DAYS: i64 = 400;
/// What a calendar feed covers by default: two weeks back, half a year ahead.
const FEED_PAST_DAYS: i64 = 14;
const FEED_AHEAD_DAYS: i64 = 183;

fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}

fn field(name: &str, message: impl Into<String>) -> ApiError {
    ApiError::fields(vec![FieldError::new(name, message)])
}

fn parse_time(name: &str, v: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    match v {
        None | Some("") => Ok(None),
        Some(s) => firebell_core::clock::parse_timestamp(s)
            .map(Some)
            .map_err(|_| {
                field(
                    name,
                    format!("{s:?} is not an RFC 3339 time such as 2026-03-01T09:00:00Z"),
                )
            }),
    }
}

fn schedule<'a>(
    config: &'a firebell_core::config::Config,
    id: &str,
) -> Result<&'a Schedule, ApiError> {
    config
        .schedules
        .get(id)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no schedule named {id:?}")))
}

fn override_view(o: &StoredOverride) -> OverrideView {
    let (kind, user, from, to) = match &o.override_.kind {
        OverrideKind::Add { user } => ("add", Some(user.clone()), None, None),
        OverrideKind::Remove { user } => ("remove", Some(user.clone()), None, None),
        OverrideKind::Replace { from, to } => {
            ("replace", None, Some(from.clone()), Some(to.clone()))
        }
    };
    OverrideView {
        id: o.override_.id,
        schedule: o.schedule.clone(),
        start: o.override_.start,
        end: o.override_.end,
        kind: kind.to_string(),
        user,
        from,
        to,
        created_by: o.created_by.clone(),
        created_at: o.created_at,
    }
}

/// Overrides intersecting [from, to), by schedule.
pub(crate) async fn overrides_in<S: Store>(
    state: &Shared<S>,
    schedule: Option<&str>,
    from: Timestamp,
    to: Timestamp,
) -> Result<HashMap<String, Vec<Override>>, ApiError> {
    let mut out: HashMap<String, Vec<Override>> = HashMap::new();
    for o in state
        .engine
        .store()
        .overrides(schedule.map(str::to_string), from, to)
        .await?
    {
        out.entry(o.schedule).or_default().push(o.override_);
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtQuery {
    at: Option<String>,
}

/// `GET /api/v1/oncall`: everyone on call now (or `?at=`), per schedule.
#[utoipa::path(
    get,
    path = "/api/v1/oncall",
    operation_id = "oncall",
    tag = "schedules",
    security(("admin_token" = [])),
    params(("at" = Option<String>, Query, description = "an RFC 3339 instant; default now")),
    responses(
        (status = 200, description = "Per schedule", body = OnCallNow),
        (status = 400, description = "A bad parameter, named", body = ErrorBody),
        (status = 401, description = "No admin token", body = ErrorBody),
        (status = 429, description = "Too many failed credentials from this address", body = ErrorBody),
        (status = 503, description = "The store cannot answer now", body = ErrorBody),
    )
)]
pub async fn oncall_all<S: Store>(
    _: Admin,
    State(state): State<Shared<S>>,
    ApiQuery(q): ApiQuery<AtQuery>,
) -> Result<Response, ApiError> {
    let at = parse_time("at", q.at.as_deref())?.unwrap_or_else(|| state.engine.now());
    let config = state.engine.config();
    let ovs = overrides_in(&state, None, at, at + SignedDuration::from_millis(1)).await?;
    let oncall = config
        .schedules
        .iter()
        .map(|(id, s)| ScheduleOnCall {
            schedule: id.clone(),
            users: s.on_call(at, ovs.get(id).map(Vec::as_slice).unwrap_or(&[])),
        })
        .collect();
    Ok(axum::Json(OnCallNow { at, oncall }).into_response())
}

/// `GET /api/v1/schedules/{id}/oncall?at=`.
#[utoipa::path(
    get,
    path = "/api/v1/schedules/{id}/oncall",
    operation_id = "schedule_oncall",
    tag = "schedules",
    security(("admin_token" = [])),
    params(
        ("id" = String, Path, description = "the schedule's id"),
        ("at" = Option<String>, Query, description = "an RFC 3339 instant; default now"),
    ),
    responses(
        (status = 200, description = "Who is on call", body = OnCallAt),
        (status = 400, description = "A bad parameter, named", body = ErrorBody),
        (status = 404, description = "No such schedule", body = ErrorBody),
        (status = 401, description = "No admin token", body = ErrorBody),
        (status = 429, description = "Too many failed credentials from this address", body = ErrorBody),
        (status = 503, description = "The store cannot answer now", body = ErrorBody),
    )
)]
pub async fn oncall_one<S: Store>(
    _: Admin,
    State(state): State<Shared<S>>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<AtQuery>,
) -> Result<Response, ApiError> {
    let at = parse_time("at", q.at.as_deref())?.unwrap_or_else(|| state.engine.now());
    let config = state.engine.config();
    let s = schedule(&config, &id)?;
    let ovs = overrides_in(&state, Some(&id), at, at + SignedDuration::from_millis(1)).await?;
    let users = s.on_call(at, ovs.get(&id).map(Vec::as_slice).unwrap_or(&[]));
    Ok(axum::Json(OnCallAt {
        schedule: id,
        at,
        users,
    })
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowQuery {
    from: Option<String>,
    to: Option<String>,
    token: Option<String>,
}

fn window(
    q: &WindowQuery,
    now: Timestamp,
    default_from: SignedDuration,
    default_len: SignedDuration,
) -> Result<(Timestamp, Timestamp), ApiError> {
    let from = parse_time("from", q.from.as_deref())?.unwrap_or(now - default_from);
    let to = parse_time("to", q.to.as_deref())?.unwrap_or(from + default_len);
    if to <= from {
        return Err(field("to", "must be after from"));
    }
    if to.duration_since(from) > days(MAX_WINDOW_DAYS) {
        return Err(field(
            "to",
            format!("the window is longer than {MAX_WINDOW_DAYS} days"),
        ));
    }
    Ok((from, to))
}

/// Final shifts of a schedule after layers and overrides.
async fn final_shifts<S: Store>(
    state: &Shared<S>,
    id: &str,
    s: &Schedule,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<Shift>, ApiError> {
    let ovs = overrides_in(state, Some(id), from, to).await?;
    Ok(s.shifts(from, to, ovs.get(id).map(Vec::as_slice).unwrap_or(&[])))
}

/// `GET /api/v1/schedules/{id}/shifts?from=&to=` (default: the next 7 days).
#[utoipa::path(
    get,
    path = "/api/v1/schedules/{id}/shifts",
    operation_id = "schedule_shifts",
    tag = "schedules",
    security(("admin_token" = [])),
    params(
        ("id" = String, Path, description = "the schedule's id"),
        ("from" = Option<String>, Query, description = "RFC 3339; default now"),
        ("to" = Option<String>, Query, description = "RFC 3339; default from + 7 days; at most 400 days after from"),
    ),
    responses(
        (status = 200, description = "The final shifts", body = ShiftList),
        (status = 400, description = "A bad parameter, named", body = ErrorBody),
        (status = 404, description = "No such schedule", body = ErrorBody),
        (status = 401, description = "No admin token", body = ErrorBody),
        (status = 429, description = "Too many failed credentials from this address", body = ErrorBody),
        (status = 503, description = "The store cannot answer now", body = ErrorBody),
    )
)]
pub async fn shifts<S: Store>(
    _: Admin,
    State(state): State<Shared<S>>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<WindowQuery>,
) -> Result<Response, ApiError> {
    let config = state.engine.config();
    let s = schedule(&config, &id)?;
    let (from, to) = window(&q, state.engine.now(), SignedDuration::ZERO, days(7))?;
    let shifts = final_shifts(&state, &id, s, from, to)
        .await?
        .into_iter()
        .map(|s: Shift| ShiftView {
            start: s.start,
            end: s.end,
            users: s.users,
        })
        .collect();
    Ok(axum::Json(ShiftList {
        schedule: id,
        from,
        to,
        shifts,
    })
    .into_response())
}

/// `GET /api/v1/schedules`: each schedule with its calendar feed URL.
#[utoipa::path(
    get,
    path = "/api/v1/schedules",
    operation_id = "list_schedules",
    tag = "schedules",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Every schedule, and each person's feed", body = ScheduleList),
        (status = 401, description = "No admin token", body = ErrorBody),
        (status = 429, description = "Too many failed credentials from this address", body = ErrorBody),
        (status = 503, description = "The store cannot answer now", body = ErrorBody),
    )
)]
pub async fn list<S: Store>(
    _: Admin,
    State(state): State<Shared<S>>,
) -> Result<Response, ApiError> {
    let config = state.engine.config();
    let base = &config.server.public_url;
    let schedules = config
        .schedules
        .iter()
        .map(|(id, s)| ScheduleView {
            id: id.clone(),
            timezone: s.time_zone_name().to_string(),
            layers: s.layers().len(),
            feed_url: config
                .feed_token(&format!("schedule:{id}"))
                .map(|t| format!("{base}/feeds/schedules/{id}.ics?token={t}")),
        })
        .collect();
    let user_feeds = config
        .users
        .keys()
        .map(|id| UserFeed {
            id: id.clone(),
            feed_url: config
                .feed_token(&format!("user:{id}"))
                .map(|t| format!("{base}/feeds/users/{id}.ics?token={t}")),
        })
        .collect();
    Ok(axum::Json(ScheduleList {
        schedules,
        user_feeds,
    })
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOverrideBody {
    start: Option<String>,
    end: Option<String>,
    kind: Option<String>,
    user: Option<String>,
    from: Option<String>,
    to: Option<String>,
    created_by: Option<String>,
}

/// `POST /api/v1/schedules/{id}/overrides`: `{"start", "end", "kind": "add"|"remove", "user"}`
/// or `{"start", "end", "kind": "replace", "from", "to"}`.
#[utoipa::path(
    post,
    path = "/api/v1/schedules/{id}/overrides",
    operation_id = "add_override",
    tag = "schedules",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = "the schedule's id")),
    request_body = crate::openapi::bodies::NewOverride,
    responses(
        (status = 201, description = "Stored", body = OneOverride),
        (status = 400, description = "A bad field, named; nothing stored", body = ErrorBody),
        (status = 404, description = "No such schedule", body = ErrorBody),
        (status = 413, description = "Body over server.max_body_bytes", body = ErrorBody),
        (status = 401, description = "No admin token", body = ErrorBody),
        (status = 429, description = "Too many failed credentials from this address", body = ErrorBody),
        (status = 503, description = "The store cannot answer now", body = ErrorBody),
    )
)]
pub async fn add_override<S: Store>(
    _: Admin,
    State(state): State<Shared<S>>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let config = state.engine.config();
    schedule(&config, &id)?;
    let body = body?;
    let b: NewOverrideBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    let mut errors = Vec::new();
    let mut time = |name: &str, v: &Option<String>| match v.as_deref() {
        None | Some("") => {
            errors.push(FieldError::new(name, "missing; an RFC 3339 time"));
            None
        }
        Some(s) => firebell_core::clock::parse_timestamp(s)
            .map_err(|_| {
                errors.push(FieldError::new(
                    name,
                    format!("{s:?} is not an RFC 3339 time"),
                ));
            })
            .ok(),
    };
    let start = time("start", &b.start);
    let end = time("end", &b.end);
    let mut user = |name: &str, v: &Option<String>| match v.as_deref() {
        None | Some("") => {
            errors.push(FieldError::new(name, "missing; a user id"));
            None
        }
        Some(u) if !config.users.contains_key(u) => {
            errors.push(FieldError::new(name, format!("no user named {u:?}")));
            None
        }
        Some(u) => Some(u.to_string()),
    };
    let kind = match b.kind.as_deref() {
        Some("add") => user("user", &b.user).map(|user| OverrideKind::Add { user }),
        Some("remove") => user("user", &b.user).map(|user| OverrideKind::Remove { user }),
        Some("replace") => {
            let from = user("from", &b.from);
            let to = user("to", &b.to);
            from.zip(to)
                .map(|(from, to)| OverrideKind::Replace { from, to })
        }
        Some(other) => {
            errors.push(FieldError::new(
                "kind",
                format!("unknown kind {other:?}; expected add, remove or replace"),
            ));
            None
        }
        None => {
            errors.push(FieldError::new("kind", "missing; add, remove or replace"));
            None
        }
    };
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
    let o = match (start, end, kind) {
        (Some(start), Some(end), Some(kind)) if errors.is_empty() => {
            Override::new(0, start, end, kind).map_err(|errs| {
                ApiError::fields(
                    errs.into_iter()
                        .map(|e| FieldError::new(e.field, e.message))
                        .collect(),
                )
            })?
        }
        _ => return Err(ApiError::fields(errors)),
    };
    let stored = state
        .engine
        .store()
        .add_override(id, o, created_by, state.engine.now())
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(OneOverride {
            override_: override_view(&stored),
        }),
    )
        .into_response())
}

/// `GET /api/v1/schedules/{id}/overrides?from=&to=` (default: from now on).
#[utoipa::path(
    get,
    path = "/api/v1/schedules/{id}/overrides",
    operation_id = "list_overrides",
    tag = "schedules",
    security(("admin_token" = [])),
    params(
        ("id" = String, Path, description = "the schedule's id"),
        ("from" = Option<String>, Query, description = "RFC 3339; default now"),
        ("to" = Option<String>, Query, description = "RFC 3339; default: no end"),
    ),
    responses(
        (status = 200, description = "Overrides in the window", body = OverrideList),
        (status = 400, description = "A bad parameter, named", body = ErrorBody),
        (status = 404, description = "No such schedule", body = ErrorBody),
        (status = 401, description = "No admin token", body = ErrorBody),
        (status = 429, description = "Too many failed credentials from this address", body = ErrorBody),
        (status = 503, description = "The store cannot answer now", body = ErrorBody),
    )
)]
pub async fn list_overrides<S: Store>(
    _: Admin,
    State(state): State<Shared<S>>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<WindowQuery>,
) -> Result<Response, ApiError> {
    let config = state.engine.config();
    schedule(&config, &id)?;
    let now = state.engine.now();
    let from = parse_time("from", q.from.as_deref())?.unwrap_or(now);
    let to = parse_time("to", q.to.as_deref())?.unwrap_or(Timestamp::MAX);
    let overrides = state
        .engine
        .store()
        .overrides(Some(id), from, to)
        .await?
        .iter()
        .map(override_view)
        .collect();
    Ok(axum::Json(OverrideList { overrides }).into_response())
}

/// `DELETE /api/v1/overrides/{id}`.
#[utoipa::path(
    delete,
    path = "/api/v1/overrides/{id}",
    operation_id = "delete_override",
    tag = "schedules",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = "the override's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such override", body = ErrorBody),
        (status = 401, description = "No admin token", body = ErrorBody),
        (status = 429, description = "Too many failed credentials from this address", body = ErrorBody),
        (status = 503, description = "The store cannot answer now", body = ErrorBody),
    )
)]
pub async fn delete_override<S: Store>(
    _: Admin,
    State(state): State<Shared<S>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, format!("no override with id {id:?}"));
    let n: i64 = id.parse().map_err(|_| not_found())?;
    if state.engine.store().delete_override(n).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(not_found())
    }
}

fn calendar_response(text: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        text,
    )
        .into_response()
}

fn feed_denied() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such feed, or the token is wrong")
}

fn strip_ics(name: &str) -> Result<&str, ApiError> {
    name.strip_suffix(".ics").ok_or_else(feed_denied)
}

/// `GET /feeds/schedules/{id}.ics?token=`: the schedule's final shifts.
pub async fn schedule_feed<S: Store>(
    State(state): State<Shared<S>>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<WindowQuery>,
) -> Result<Response, ApiError> {
    let id = strip_ics(&name)?;
    let config = state.engine.config();
    if !config.feed_token_ok(&format!("schedule:{id}"), q.token.as_deref().unwrap_or("")) {
        return Err(feed_denied());
    }
    let s = schedule(&config, id).map_err(|_| feed_denied())?;
    let now = state.engine.now();
    let (from, to) = window(
        &q,
        now,
        days(FEED_PAST_DAYS),
        days(FEED_PAST_DAYS + FEED_AHEAD_DAYS),
    )?;
    let events: Vec<IcsEvent> = final_shifts(&state, id, s, from, to)
        .await?
        .into_iter()
        .filter(|sh| !sh.users.is_empty())
        .map(|sh| IcsEvent {
            uid: format!(
                "{id}-{}-{}@firebell",
                sh.start.as_second(),
                sh.users.join("+")
            ),
            summary: format!("On call ({id}): {}", sh.users.join(", ")),
            description: format!("Firebell schedule {id}"),
            start: sh.start,
            end: sh.end,
        })
        .collect();
    Ok(calendar_response(ical::calendar(
        &format!("On call: {id}"),
        &events,
        now,
    )))
}

/// `GET /feeds/users/{id}.ics?token=`: when this person is on call, in any schedule.
pub async fn user_feed<S: Store>(
    State(state): State<Shared<S>>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<WindowQuery>,
) -> Result<Response, ApiError> {
    let id = strip_ics(&name)?;
    let config = state.engine.config();
    if !config.feed_token_ok(&format!("user:{id}"), q.token.as_deref().unwrap_or(""))
        || !config.users.contains_key(id)
    {
        return Err(feed_denied());
    }
    let now = state.engine.now();
    let (from, to) = window(
        &q,
        now,
        days(FEED_PAST_DAYS),
        days(FEED_PAST_DAYS + FEED_AHEAD_DAYS),
    )?;
    let ovs = overrides_in(&state, None, from, to).await?;
    let mut events = Vec::new();
    for (sid, s) in &config.schedules {
        for sh in s.shifts(from, to, ovs.get(sid).map(Vec::as_slice).unwrap_or(&[])) {
            if sh.users.iter().any(|u| u == id) {
                events.push(IcsEvent {
                    uid: format!("{id}-{sid}-{}@firebell", sh.start.as_second()),
                    summary: format!("On call: {sid}"),
                    description: format!("With: {}", sh.users.join(", ")),
                    start: sh.start,
                    end: sh.end,
                });
            }
        }
    }
    events.sort_by_key(|e| e.start);
    Ok(calendar_response(ical::calendar(
        &format!("On call: {id}"),
        &events,
        now,
    )))
}
