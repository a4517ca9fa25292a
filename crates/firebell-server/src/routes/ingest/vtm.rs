//! `POST /api/v1/vtm`: a traffic manager's event, as `firebell vtm-action`
//! sends it. The key of a `vtm` integration is the bearer token.

use crate::Shared;
use crate::auth::{IntegrationKey, Vtm};
use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::Response;
use firebell_store::Store;
use serde_json::{Value, json};

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
    let alerts: Vec<Value> = outcomes
        .iter()
        .zip(actions)
        .map(|(o, action)| {
            let mut v = crate::routes::ingest::outcome_json(o);
            v["action"] = json!(action);
            v
        })
        .collect();
    Ok(crate::routes::ingest::accepted(alerts))
}
