//! Ingest routes, one file per wire format. Each authenticates (an
//! [`crate::auth::IntegrationKey`] extractor, or the format's own credential),
//! parses with `firebell_ingest`, and hands the events to `Engine::accept`.

pub(crate) mod alertmanager;
pub(crate) mod generic;
pub(crate) mod heartbeat;
pub(crate) mod pagerduty;
pub(crate) mod vtm;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One recorded event, as ingest endpoints answer it.
pub(crate) fn outcome_json(o: &firebell_store::IngestOutcome) -> Value {
    json!({
        "id": o.alert_id,
        "dedup_key": o.dedup_key,
        "status": o.status,
        "duplicate": o.duplicate,
    })
}

/// `202 {"status": "accepted", "alerts": [...]}`.
pub(crate) fn accepted(alerts: Vec<Value>) -> Response {
    (
        StatusCode::ACCEPTED,
        axum::Json(json!({ "status": "accepted", "alerts": alerts })),
    )
        .into_response()
}
