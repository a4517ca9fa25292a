//! Alertmanager's own alert API (`POST /api/v2/alerts`, what Prometheus
//! sends) and Alertmanager's webhook receiver (`/hooks/alertmanager`).

use crate::Shared;
use crate::auth::{Alertmanager, IntegrationKey};
use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use firebell_store::Store;
use serde_json::{Value, json};

/// Alertmanager answers errors as a JSON string.
fn alertmanager_error(status: StatusCode, msg: String) -> Response {
    (status, axum::Json(Value::String(msg))).into_response()
}

/// `POST /api/v2/alerts`, as Alertmanager answers it: valid alerts are kept
/// even when others in the batch are not (then 400 with their errors).
pub(crate) async fn post_v2<S: Store>(
    State(state): State<Shared<S>>,
    key: IntegrationKey<Alertmanager>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let service = key.service;
    let body = match body {
        Ok(b) => b,
        Err(r) => return ApiError::from(r).into_response(),
    };
    let mut batch =
        match firebell_ingest::alertmanager::parse_v2_bytes(&body, &service, state.engine.now()) {
            Ok(b) => b,
            Err(firebell_ingest::IngestError::Malformed(e)) => {
                return alertmanager_error(
                    StatusCode::BAD_REQUEST,
                    format!("parsing alerts body: {e}"),
                );
            }
            Err(e) => return alertmanager_error(StatusCode::BAD_REQUEST, e.messages().join(";")),
        };
    let resolve_on_ends_at = state
        .engine
        .config()
        .services
        .get(service.as_str())
        .and_then(|s| s.integrations.get(key.index))
        .is_none_or(|i| i.resolve_on_ends_at);
    if !resolve_on_ends_at {
        for e in &mut batch.events {
            e.expires_at = None;
        }
    }
    if let Some(r) = super::throttled(&state, &service, key.index, batch.events.len(), |m| {
        Value::String(m.to_string())
    }) {
        return r;
    }
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
pub(crate) async fn webhook<S: Store>(
    State(state): State<Shared<S>>,
    key: IntegrationKey<Alertmanager>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let service = key.service;
    let body = body?;
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    let batch = firebell_ingest::alertmanager::parse_webhook(&value, &service, state.engine.now())
        .map_err(|e| ApiError::bad_request(e.messages().join("; ")))?;
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
    if let Some(r) = super::throttled(
        &state,
        &service,
        key.index,
        batch.events.len(),
        super::error_body,
    ) {
        return Ok(r);
    }
    let outcomes = state.engine.accept(batch.events).await?;
    Ok(axum::Json(json!({ "status": "accepted", "alerts": outcomes.len() })).into_response())
}
