//! "Update and Test": `POST /api/v1/channels/{name}/test` and
//! `POST /api/v1/users/{id}/test` send a test message through the real
//! delivery path and answer with what the provider or program said.

use crate::Shared;
use crate::auth::Admin;
use crate::error::ApiError;
use crate::openapi::{ErrorBody, TestAnswer, TestResult};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use firebell_channels::redact_address;
use firebell_core::channels::{BUILTIN_CHANNELS, ChannelKind, encode_args};
use firebell_core::event::FieldError;
use firebell_core::notification::{Notification, NotificationStatus};
use firebell_engine::test_pages::TestTarget;
use firebell_store::Store;
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ChannelTest {
    /// The address to send to: a URL, an email address.
    to: Option<String>,
}

/// Who asked, as shown on a channel test's message.
const TESTER: &str = "test";

fn channel_address<S: Store>(
    state: &crate::AppState<S>,
    name: &str,
    to: Option<String>,
) -> Result<String, ApiError> {
    let config = state.engine.config();
    let missing = |what: &str| {
        ApiError::fields(vec![FieldError::new(
            "to",
            format!("channel {name:?} needs {what} to send the test to"),
        )])
    };
    let none_taken = |to: &Option<String>| match to {
        Some(_) => Err(ApiError::fields(vec![FieldError::new(
            "to",
            format!("channel {name:?} takes no address"),
        )])),
        None => Ok(()),
    };
    match name {
        "console" => none_taken(&to).map(|()| "stdout".to_string()),
        "webhook" => to.ok_or_else(|| missing("a URL")),
        _ => match config.channels.get(name).map(|c| &c.kind) {
            Some(ChannelKind::Webhook(w)) => {
                to.or_else(|| w.url.clone()).ok_or_else(|| missing("a URL"))
            }
            Some(ChannelKind::Smtp(_)) => to.ok_or_else(|| missing("an email address")),
            Some(ChannelKind::Program(_)) => none_taken(&to).map(|()| encode_args(&[])),
            Some(ChannelKind::HttpSms(_) | ChannelKind::Twilio(_)) => {
                let to = to.ok_or_else(|| missing("a phone number"))?;
                firebell_core::sms::parse_number(&to, config.server.default_region.as_deref())
                    .map_err(|e| ApiError::fields(vec![FieldError::new("to", e)]))
            }
            None => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "no channel named {name:?} (known: {})",
                    BUILTIN_CHANNELS
                        .iter()
                        .map(|s| s.to_string())
                        .chain(config.channels.keys().cloned())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        },
    }
}

fn answer(sent: Vec<Notification>) -> Response {
    let ok = sent
        .iter()
        .all(|n| n.status == NotificationStatus::Delivered);
    let results = sent
        .into_iter()
        .map(|n| TestResult {
            notification_id: n.id,
            contact: n.contact_index + 1,
            address: redact_address(&n.channel, &n.address),
            answer: if n.status == NotificationStatus::Delivered {
                n.detail
            } else {
                n.last_error
            },
            user: n.user,
            channel: n.channel,
            status: n.status,
        })
        .collect();
    axum::Json(TestAnswer { ok, results }).into_response()
}

/// `POST /api/v1/channels/{name}/test` with an optional `{"to": ...}`.
#[utoipa::path(
    post,
    path = "/api/v1/channels/{name}/test",
    operation_id = "test_channel",
    tag = "operations",
    security(("admin_token" = [])),
    params(("name" = String, Path, description = "a channel's name, or console / webhook")),
    request_body(content = Option<crate::openapi::bodies::ChannelTest>, description = "Where to send; may be empty for a channel with an address of its own"),
    responses(
        (status = 200, description = "Sent now; each result says how it went", body = TestAnswer),
        (status = 400, description = "A bad field, named", body = ErrorBody),
        (status = 404, description = "No such channel", body = ErrorBody),
        (status = 413, description = "Body over server.max_body_bytes", body = ErrorBody),
        (status = 401, description = "No admin token", body = ErrorBody),
        (status = 429, description = "Too many failed credentials from this address", body = ErrorBody),
        (status = 503, description = "The store cannot answer now", body = ErrorBody),
    )
)]
pub(crate) async fn channel<S: Store>(
    _: Admin,
    State(state): State<Shared<S>>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let req: ChannelTest = if body.iter().all(u8::is_ascii_whitespace) {
        ChannelTest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?
    };
    if req.to.as_deref().is_some_and(|t| t.trim().is_empty()) {
        return Err(ApiError::fields(vec![FieldError::new(
            "to",
            "must not be empty",
        )]));
    }
    let address = channel_address(&state, &name, req.to)?;
    let sent = state
        .engine
        .send_tests(vec![TestTarget {
            user: TESTER.to_string(),
            contact_index: 0,
            channel: name.clone(),
            address,
            message: format!("Test message for channel {name}"),
        }])
        .await?;
    Ok(answer(sent))
}

/// A test page to each of a user's contact methods, in order.
pub(crate) fn user_targets(
    config: &firebell_core::config::Config,
    id: &str,
) -> Result<Vec<TestTarget>, ApiError> {
    let Some(user) = config.users.get(id) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no user named {id:?}"),
        ));
    };
    if user.contacts.is_empty() {
        return Err(ApiError::bad_request(format!(
            "user {id:?} has no contact methods"
        )));
    }
    let n = user.contacts.len();
    Ok(user
        .contacts
        .iter()
        .enumerate()
        .map(|(i, c)| TestTarget {
            user: id.to_string(),
            contact_index: i as u32,
            channel: c.channel().to_string(),
            address: c.address(),
            message: format!(
                "Test page for {} (contact {} of {n}, via {}): nothing is wrong",
                user.name,
                i + 1,
                c.channel()
            ),
        })
        .collect())
}

/// `POST /api/v1/users/{id}/test`: a test page to each of the user's
/// contact methods, in order.
#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/test",
    operation_id = "test_user",
    tag = "operations",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = "a user's id")),
    responses(
        (status = 200, description = "Sent now; each result says how it went", body = TestAnswer),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 401, description = "No admin token", body = ErrorBody),
        (status = 429, description = "Too many failed credentials from this address", body = ErrorBody),
        (status = 503, description = "The store cannot answer now", body = ErrorBody),
    )
)]
pub(crate) async fn user<S: Store>(
    _: Admin,
    State(state): State<Shared<S>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let targets = user_targets(&state.engine.config(), &id)?;
    let sent = state.engine.send_tests(targets).await?;
    Ok(answer(sent))
}
