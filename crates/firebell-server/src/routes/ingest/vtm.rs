//! `POST /api/v1/vtm`: a traffic manager's event, as `firebell vtm-action`
//! sends it. The key of a `vtm` integration is the bearer token.

use crate::Shared;
use crate::auth::{IntegrationKey, Vtm};
use crate::error::ApiError;
use crate::openapi::{Accepted, ErrorBody, bodies};
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::Response;
use firebell_store::Store;

/// Records a traffic manager's event (what `firebell vtm-action` sends).
#[utoipa::path(
    post,
    path = "/api/v1/vtm",
    operation_id = "post_vtm_event",
    tag = "ingest",
    security(("integration_key" = [])),
    request_body = bodies::VtmEvent,
    responses(
        (status = 202, description = "Recorded (or, for an informational level, nothing to do)", body = Accepted),
        (status = 400, description = "Malformed or invalid; nothing recorded", body = ErrorBody),
        (status = 413, description = "Body over server.max_body_bytes", body = ErrorBody),
        (status = 401, description = "No such integration key", body = ErrorBody),
        (status = 429, description = "Too many failed credentials from this address", body = ErrorBody),
        (status = 503, description = "The store cannot answer now", body = ErrorBody),
    )
)]
pub(crate) async fn post_event<S: Store>(
    key: IntegrationKey<Vtm>,
    State(state): State<Shared<S>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let service = key.service;
    let body = body?;
    let events =
        firebell_ingest::vtm::parse(&body, &service, state.engine.now()).map_err(ApiError::from)?;
    if let Some(r) = super::throttled(&state, &service, key.index, events.len(), super::error_body)
    {
        return Ok(r);
    }
    let actions: Vec<&'static str> = events.iter().map(|e| e.action.as_str()).collect();
    let outcomes = state.engine.accept(events).await?;
    let alerts = outcomes
        .iter()
        .zip(actions)
        .map(|(o, action)| crate::openapi::EventOutcome {
            action: Some(action.to_string()),
            ..crate::routes::ingest::outcome(o)
        })
        .collect();
    Ok(crate::routes::ingest::accepted(alerts))
}
