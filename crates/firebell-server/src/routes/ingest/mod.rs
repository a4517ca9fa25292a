//! Ingest routes, one file per wire format. Each authenticates (an
//! [`crate::auth::IntegrationKey`] extractor, or the format's own credential),
//! parses with `firebell_ingest`, and hands the events to `Engine::accept`.

pub(crate) mod alertmanager;
pub(crate) mod generic;
pub(crate) mod heartbeat;
pub mod limits;
pub(crate) mod pagerduty;
pub(crate) mod vtm;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// One recorded event, as ingest endpoints answer it.
pub(crate) fn outcome(o: &firebell_store::IngestOutcome) -> crate::openapi::EventOutcome {
    crate::openapi::EventOutcome {
        id: o.alert_id,
        dedup_key: o.dedup_key.to_string(),
        status: o.status,
        duplicate: o.duplicate,
        action: None,
    }
}

/// `202 {"status": "accepted", "alerts": [...]}`.
pub(crate) fn accepted(alerts: Vec<crate::openapi::EventOutcome>) -> Response {
    (
        StatusCode::ACCEPTED,
        axum::Json(crate::openapi::Accepted::new(alerts)),
    )
        .into_response()
}

/// The answer to a request over its integration's `rate_limit`, if it is:
/// 429 with `Retry-After`, in the shape `body` gives the message.
pub(crate) fn throttled<S: firebell_store::Store>(
    state: &crate::Shared<S>,
    service: &str,
    index: usize,
    events: usize,
    body: impl FnOnce(&str) -> Value,
) -> Option<Response> {
    let t = state
        .ingest_limits
        .take(
            &state.engine.config(),
            service,
            index,
            events,
            state.engine.now(),
        )
        .err()?;
    tracing::warn!(%service, integration = index, events, retry_after = t.retry_after, "ingest rate limit: request refused");
    let mut resp = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body(&t.message))).into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&t.retry_after.to_string()) {
        resp.headers_mut()
            .insert(axum::http::header::RETRY_AFTER, v);
    }
    Some(resp)
}

/// Firebell's own error shape for [`throttled`].
pub(crate) fn error_body(message: &str) -> Value {
    serde_json::to_value(crate::openapi::ErrorBody {
        error: message.to_string(),
        details: Vec::new(),
    })
    .unwrap_or_default()
}
