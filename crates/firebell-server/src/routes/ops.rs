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
        Ok(()) => (StatusCode::OK, "Firebell is Ready.\n").into_response(),
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
