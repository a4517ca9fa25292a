//! Firebell's own event API: `POST /api/v1/events`.

use super::{accepted, error_body, outcome_json, throttled};
use crate::Shared;
use crate::auth::{Generic, IntegrationKey};
use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::Response;
use firebell_store::Store;
use serde_json::Value;

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
    let alerts: Vec<Value> = outcomes.iter().map(outcome_json).collect();
    Ok(accepted(alerts))
}
