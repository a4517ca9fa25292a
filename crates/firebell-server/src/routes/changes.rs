//! Change events: PagerDuty's `POST /v2/change/enqueue`, and
//! `GET /api/v1/changes` to read a service's change timeline.

use crate::auth::Admin;
use crate::error::ApiError;
use crate::routes::ingest::pagerduty::{pagerduty_invalid, pagerduty_request};
use crate::{MAX_PAGE, Shared};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use firebell_core::event::FieldError;
use firebell_store::Store;
use serde::Deserialize;
use serde_json::json;

/// Records a change on the routing key's service; pages no one.
pub(crate) async fn enqueue<S: Store>(
    State(state): State<Shared<S>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (value, service, _) = match pagerduty_request(&state, body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let change =
        match firebell_ingest::pagerduty::parse_change(&value, &service, state.engine.now()) {
            Ok(c) => c,
            Err(e) => return pagerduty_invalid(StatusCode::BAD_REQUEST, e.messages()),
        };
    match state.engine.store().add_change(change).await {
        Ok(c) => {
            tracing::info!(service = %c.change.service, change_id = c.id, "change event recorded");
            (
                StatusCode::ACCEPTED,
                axum::Json(json!({
                    "status": "success",
                    "message": "Change event processed",
                })),
            )
                .into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    service: Option<String>,
    before: Option<i64>,
    limit: Option<u32>,
}

/// `GET /api/v1/changes?service=&before=&limit=`: newest first.
#[utoipa::path(
    get,
    path = "/api/v1/changes",
    operation_id = "list_changes",
    tag = "alerts",
    security(("admin_token" = [])),
    params(
        ("service" = Option<String>, Query, description = "a service id"),
        ("before" = Option<i64>, Query, description = "changes with a smaller id"),
        ("limit" = Option<u32>, Query, description = "1 to 500; default 50"),
    ),
    responses(
        (status = 200, description = "Newest first", body = crate::openapi::ChangeList),
        (status = 400, description = "A bad parameter, named", body = crate::openapi::ErrorBody),
        (status = 401, description = "No admin token", body = crate::openapi::ErrorBody),
        (status = 429, description = "Too many failed credentials from this address", body = crate::openapi::ErrorBody),
        (status = 503, description = "The store cannot answer now", body = crate::openapi::ErrorBody),
    )
)]
pub(crate) async fn list<S: Store>(
    _: Admin,
    State(state): State<Shared<S>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::fields(vec![FieldError::new(
            "limit",
            format!("must be between 1 and {MAX_PAGE}"),
        )]));
    }
    if let Some(service) = &q.service
        && !state.engine.config().services.contains_key(service)
    {
        return Err(ApiError::fields(vec![FieldError::new(
            "service",
            format!("no service named {service:?}"),
        )]));
    }
    let changes = state
        .engine
        .store()
        .changes(q.service, q.before, limit)
        .await?;
    let next = if changes.len() == limit as usize {
        changes.last().map(|c| c.id)
    } else {
        None
    };
    Ok(axum::Json(crate::openapi::ChangeList {
        changes,
        next_before: next,
    })
    .into_response())
}
