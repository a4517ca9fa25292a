//! The published contract of `/api/v1`: an OpenAPI 3.1 document served at
//! `GET /api/v1/openapi.json`, derived (utoipa) from the types the handlers
//! serialise and the `#[utoipa::path]` notes on the handlers themselves, so
//! the two cannot drift apart; CI runs schemathesis against a live server
//! to check every answer against it.
//!
//! The answers' and bodies' types are `firebell_core::api` (the CLI reads
//! them too); handlers build them instead of free-form JSON.

pub use firebell_core::api::*;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The admin token (or, for ingest, an integration key) as a bearer token.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "integration_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Firebell API",
        description = "Firebell's own HTTP API (/api/v1). Errors are JSON: {\"error\", \"details\"}.",
        license(name = "Apache-2.0 OR MIT")
    ),
    paths(
        crate::routes::ingest::generic::post_events,
        crate::routes::alerts::list,
        crate::routes::alerts::get_one,
        crate::routes::alerts::answer,
        crate::routes::alerts::run_action,
        crate::routes::changes::list,
        crate::routes::silences::list,
        crate::routes::silences::create,
        crate::routes::silences::get_one,
        crate::routes::silences::expire,
        crate::routes::maintenance::list,
        crate::routes::maintenance::create,
        crate::routes::maintenance::end,
        crate::routes::ops::nodes,
        crate::routes::schedules::oncall_all,
        crate::routes::schedules::oncall_one,
        crate::routes::schedules::shifts,
        crate::routes::schedules::list,
        crate::routes::schedules::add_override,
        crate::routes::schedules::list_overrides,
        crate::routes::schedules::delete_override,
        crate::routes::ingest::vtm::post_event,
        crate::routes::ingest::heartbeat::ping_bearer,
        crate::routes::ingest::heartbeat::ping_path_get,
        crate::routes::ingest::heartbeat::ping_path,
        crate::routes::test_pages::channel,
        crate::routes::test_pages::user,
        openapi_json,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "ingest", description = "Events from monitoring"),
        (name = "alerts", description = "Alerts and answers"),
        (name = "silences", description = "Silences and maintenance windows"),
        (name = "schedules", description = "On-call schedules"),
        (name = "operations", description = "The running service")
    )
)]
pub struct ApiDoc;

/// The document, built once.
pub fn document() -> &'static str {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    })
}

/// `GET /api/v1/openapi.json`: this document (no credentials needed).
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "openapi",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of /api/v1", content_type = "application/json"))
)]
pub(crate) async fn openapi_json() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document(),
    )
        .into_response()
}
