//! Heartbeats: `GET|POST /api/v1/heartbeat/{key}` (what a cron job can `curl`)
//! and `POST /api/v1/heartbeat` with the key as a bearer token. The body, if
//! any, is ignored (but bounded by `server.max_body_bytes`).

use crate::Shared;
use crate::auth::{Heartbeat, IntegrationKey};
use crate::error::ApiError;
use crate::openapi::{ErrorBody, HeartbeatPing};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use firebell_core::config::IntegrationKind;
use firebell_store::Store;

/// The key in the URL (`POST`; the body, if any, is read and ignored).
#[utoipa::path(
    post,
    path = "/api/v1/heartbeat/{key}",
    operation_id = "heartbeat_ping_path",
    tag = "ingest",
    params(("key" = String, Path, description = "the heartbeat integration's key")),
    responses(
        (status = 200, description = "Pinged", body = HeartbeatPing),
        (status = 404, description = "No heartbeat has this key", body = ErrorBody),
        (status = 413, description = "Body over server.max_body_bytes", body = ErrorBody),
        (status = 503, description = "The store cannot take it now", body = ErrorBody),
    )
)]
pub(crate) async fn ping_path<S: Store>(
    State(state): State<Shared<S>>,
    Path(key): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    body?;
    ping_key(&state, &key).await
}

/// The same ping as a GET (cron one-liners: `curl URL`).
#[utoipa::path(
    get,
    path = "/api/v1/heartbeat/{key}",
    operation_id = "heartbeat_ping_get",
    tag = "ingest",
    params(("key" = String, Path, description = "the heartbeat integration's key")),
    responses(
        (status = 200, description = "Pinged", body = HeartbeatPing),
        (status = 404, description = "No heartbeat has this key", body = ErrorBody),
        (status = 503, description = "The store cannot take it now", body = ErrorBody),
    )
)]
pub(crate) async fn ping_path_get<S: Store>(
    State(state): State<Shared<S>>,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    ping_key(&state, &key).await
}

/// The key in the URL: a wrong one is "not found", as nothing else is there.
async fn ping_key<S: Store>(state: &Shared<S>, key: &str) -> Result<Response, ApiError> {
    let integration = state
        .engine
        .config()
        .integration_for_key(key)
        .filter(|i| i.kind == IntegrationKind::Heartbeat)
        .cloned()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no heartbeat has this key"))?;
    ping(state, &integration.service, integration.index).await
}

/// The key as a bearer token (or basic-auth password).
#[utoipa::path(
    post,
    path = "/api/v1/heartbeat",
    operation_id = "heartbeat_ping",
    tag = "ingest",
    security(("integration_key" = [])),
    responses(
        (status = 200, description = "Pinged", body = HeartbeatPing),
        (status = 413, description = "Body over server.max_body_bytes", body = ErrorBody),
        (status = 401, description = "No such integration key", body = ErrorBody),
        (status = 429, description = "Too many failed credentials from this address", body = ErrorBody),
        (status = 503, description = "The store cannot answer now", body = ErrorBody),
    )
)]
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
    Ok(axum::Json(HeartbeatPing {
        status: "ok".to_string(),
        service: service.to_string(),
        heartbeat: p.name,
        overdue_at: p.overdue_at,
        resolved: p.resolved,
    })
    .into_response())
}
