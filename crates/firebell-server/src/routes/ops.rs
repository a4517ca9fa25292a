//! Operations: reload, health, readiness, metrics, and the answer to an
//! unknown path.

use crate::auth::Admin;
use crate::error::ApiError;
use crate::{Shared, reload_config};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use firebell_store::Store;
use serde_json::json;

pub(crate) async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such endpoint")
}

/// A known path asked with a method it does not take (axum adds `Allow`).
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "this endpoint does not take that method; see the Allow header",
    )
}

pub(crate) async fn reload<S: Store>(
    _: Admin,
    State(state): State<Shared<S>>,
) -> Result<Response, ApiError> {
    match reload_config(&state).await {
        Ok(summary) => {
            Ok(axum::Json(json!({ "status": "reloaded", "summary": summary })).into_response())
        }
        Err(errors) => {
            for e in &errors.0 {
                tracing::error!(error = %e, "configuration reload refused; keeping the running configuration");
            }
            Err(ApiError {
                status: StatusCode::BAD_REQUEST,
                error: "the new configuration is invalid; the running one is kept".into(),
                details: errors
                    .0
                    .iter()
                    .map(|e| json!({ "field": e.path, "message": e.message, "hint": e.hint }))
                    .collect(),
            })
        }
    }
}

pub(crate) async fn healthy() -> &'static str {
    "Firebell is Healthy.\n"
}

pub(crate) async fn ready<S: Store>(State(state): State<Shared<S>>) -> Response {
    match state.engine.store().ping().await {
        // Still ready (it works on what it was given), but whoever looks
        // at the load balancer's checks sees the drift.
        Ok(()) => match state.engine.config_mismatch() {
            Some(m) => (
                StatusCode::OK,
                format!("Firebell is Ready. Warning: {m}.\n"),
            )
                .into_response(),
            None => (StatusCode::OK, "Firebell is Ready.\n").into_response(),
        },
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Firebell is not ready: {e}\n"),
        )
            .into_response(),
    }
}

pub(crate) async fn metrics<S: Store>(State(state): State<Shared<S>>) -> Response {
    if let Err(e) = state.engine.refresh_gauges().await {
        tracing::warn!(error = %e, "could not read alert counts for /metrics");
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.engine.metrics().encode(),
    )
        .into_response()
}

/// `GET /api/v1/nodes`: the nodes sharing the database, this one included.
#[utoipa::path(
    get,
    path = "/api/v1/nodes",
    operation_id = "list_nodes",
    tag = "operations",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Every node seen", body = crate::openapi::NodeList),
        (status = 401, description = "No admin token", body = crate::openapi::ErrorBody),
        (status = 429, description = "Too many failed credentials from this address", body = crate::openapi::ErrorBody),
        (status = 503, description = "The store cannot answer now", body = crate::openapi::ErrorBody),
    )
)]
pub(crate) async fn nodes<S: Store>(
    _: Admin,
    State(state): State<Shared<S>>,
) -> Result<Response, ApiError> {
    let nodes = state.engine.nodes().await?;
    let nodes = nodes
        .into_iter()
        .map(|n| crate::openapi::NodeView {
            started_at: n.record.started_at.to_string(),
            last_seen: n.record.last_seen.to_string(),
            name: n.record.name,
            version: n.record.version,
            config_digest: n.record.config_digest,
            status: if n.lost { "lost" } else { "up" }.to_string(),
            same_config: n.same_config,
            this_node: n.this_node,
        })
        .collect();
    Ok(axum::Json(crate::openapi::NodeList { nodes }).into_response())
}
