//! Heartbeats: `GET|POST /api/v1/heartbeat/{key}` (what a cron job can `curl`)
//! and `POST /api/v1/heartbeat` with the key as a bearer token. The body, if
//! any, is ignored (but bounded by `server.max_body_bytes`).

use crate::Shared;
use crate::auth::{Heartbeat, IntegrationKey};
use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use firebell_core::config::IntegrationKind;
use firebell_store::Store;
use serde_json::json;

/// The key in the URL: a wrong one is "not found", as nothing else is there.
pub(crate) async fn ping_path<S: Store>(
    State(state): State<Shared<S>>,
    Path(key): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    body?;
    let integration = state
        .engine
        .config()
        .integration_for_key(&key)
        .filter(|i| i.kind == IntegrationKind::Heartbeat)
        .cloned()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no heartbeat has this key"))?;
    ping(&state, &integration.service, integration.index).await
}

/// The key as a bearer token (or basic-auth password).
pub(crate) async fn ping_bearer<S: Store>(
    key: IntegrationKey<Heartbeat>,
    State(state): State<Shared<S>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    body?;
    ping(&state, &key.service, key.index).await
}

async fn ping<S: Store>(
    state: &Shared<S>,
    service: &str,
    index: usize,
) -> Result<Response, ApiError> {
    let p = state.engine.heartbeat(service, index).await?;
    Ok(axum::Json(json!({
        "status": "ok",
        "service": service,
        "heartbeat": p.name,
        "overdue_at": p.overdue_at,
        "resolved": p.resolved,
    }))
    .into_response())
}
