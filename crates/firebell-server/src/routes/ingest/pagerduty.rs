//! PagerDuty's Events API v2 (`POST /v2/enqueue`), answered the way PagerDuty
//! answers. The credential is the event's `routing_key`, in the body: a
//! request without a valid one is refused with PagerDuty's 400.

use crate::Shared;
use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use firebell_core::config::IntegrationKind;
use firebell_store::Store;
use serde_json::{Value, json};

/// PagerDuty's answer to an event it refuses.
pub(crate) fn pagerduty_invalid(status: StatusCode, errors: Vec<String>) -> Response {
    (
        status,
        axum::Json(json!({
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": errors,
        })),
    )
        .into_response()
}

/// Reads a PagerDuty Events API body and the service its `routing_key`
/// opens, or PagerDuty's answer refusing it.
pub(crate) fn pagerduty_request<S: Store>(
    state: &crate::AppState<S>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Value, String, usize), Box<Response>> {
    let body = body.map_err(|r| {
        let e = ApiError::from(r);
        Box::new(pagerduty_invalid(e.status, vec![e.error]))
    })?;
    let value: Value = serde_json::from_slice(&body).map_err(|e| {
        Box::new(pagerduty_invalid(
            StatusCode::BAD_REQUEST,
            vec![format!("malformed JSON: {e}")],
        ))
    })?;
    let config = state.engine.config();
    let (service, index) = firebell_ingest::pagerduty::routing_key(&value)
        .and_then(|k| config.integration_for_key(k))
        .filter(|i| i.kind == IntegrationKind::Pagerduty)
        .map(|i| (i.service.clone(), i.index))
        .ok_or_else(|| {
            Box::new(pagerduty_invalid(
                StatusCode::BAD_REQUEST,
                vec!["Invalid routing key: no PagerDuty integration has this routing_key".into()],
            ))
        })?;
    Ok((value, service, index))
}

/// PagerDuty Events API v2, answered the way PagerDuty answers.
pub(crate) async fn enqueue<S: Store>(
    State(state): State<Shared<S>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (value, service, index) = match pagerduty_request(&state, body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let enqueue = match firebell_ingest::pagerduty::parse(&value, &service, state.engine.now()) {
        Ok(e) => e,
        Err(e) => return pagerduty_invalid(StatusCode::BAD_REQUEST, e.messages()),
    };
    // PagerDuty's own answer when a routing key sends too fast.
    if let Some(r) = super::throttled(
        &state,
        &service,
        index,
        1,
        |m| json!({ "status": "throttle event", "message": m }),
    ) {
        return r;
    }
    let dedup_key = enqueue.event.dedup_key.clone();
    match state.engine.accept(vec![enqueue.event]).await {
        Ok(_) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({
                "status": "success",
                "message": "Event processed",
                "dedup_key": dedup_key,
            })),
        )
            .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
