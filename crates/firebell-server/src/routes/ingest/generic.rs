//! Firebell's own event API: `POST /api/v1/events`.

use super::{accepted, error_body, outcome, throttled};
use crate::Shared;
use crate::auth::{Generic, IntegrationKey};
use crate::error::ApiError;
use crate::openapi::{Accepted, ErrorBody, bodies};
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::Response;
use firebell_store::Store;

/// Records one event or a batch, durably, before answering.
#[utoipa::path(
    post,
    path = "/api/v1/events",
    operation_id = "post_events",
    tag = "ingest",
    security(("integration_key" = [])),
    request_body(content = bodies::Event, description = "One event, or an array of them"),
    responses(
        (status = 202, description = "Recorded", body = Accepted),
        (status = 400, description = "Malformed or invalid; nothing recorded", body = ErrorBody),
        (status = 401, description = "No such integration key", body = ErrorBody),
        (status = 413, description = "Body over server.max_body_bytes", body = ErrorBody),
        (status = 429, description = "Over the integration's rate_limit, or too many failed keys", body = ErrorBody),
        (status = 503, description = "The store cannot take it now; nothing recorded", body = ErrorBody),
    )
)]
pub(crate) async fn post_events<S: Store>(
    State(state): State<Shared<S>>,
    key: IntegrationKey<Generic>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let service = key.service;
    let body = body?;
    let events = firebell_ingest::generic::parse(&body, &service, state.engine.now())
        .map_err(ApiError::from)?;
    if let Some(r) = throttled(&state, &service, key.index, events.len(), error_body) {
        return Ok(r);
    }
    let outcomes = state.engine.accept(events).await?;
    Ok(accepted(outcomes.iter().map(outcome).collect()))
}
