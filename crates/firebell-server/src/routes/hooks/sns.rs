//! AWS SNS HTTP(S) subscriptions: `POST /hooks/sns/{key}`.
//!
//! SNS cannot send a secret header, so the integration key is in the URL;
//! every message is then authenticated by its signature
//! ([`firebell_ingest::sns`]): the certificate URL must be AWS's, the
//! certificate is fetched over https (and cached by URL), and the topic must
//! be one the integration lists. A `SubscriptionConfirmation` is confirmed by
//! fetching its `SubscribeURL`, only after the same checks and only on an
//! AWS SNS host.

use crate::Shared;
use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use firebell_core::config::{IntegrationKind, SnsSettings};
use firebell_ingest::IngestError;
use firebell_ingest::sns::{self, Message, MessageType, Outcome, SigningCert};
use firebell_store::Store;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use url::Url;

/// Largest certificate file read.
const MAX_CERT_BYTES: usize = 64 * 1024;
/// Most certificates kept; SNS rotates its signing certificate rarely.
const MAX_CACHED_CERTS: usize = 64;
/// How long fetching a certificate or confirming a subscription may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP client and certificate cache of the SNS endpoint.
pub(crate) struct SnsState {
    client: reqwest::Client,
    /// Fetched URL → certificate.
    certs: Mutex<HashMap<String, Arc<SigningCert>>>,
}

impl Default for SnsState {
    fn default() -> Self {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("firebell/", env!("CARGO_PKG_VERSION")))
            // A redirect could lead away from the host that was checked.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            // Building a client only fails when the TLS backend cannot start,
            // and then the default client fails the same way.
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            client,
            certs: Mutex::new(HashMap::new()),
        }
    }
}

/// Where a checked AWS URL is fetched: itself, or (tests only) the same path
/// and query at the integration's `test_endpoint_url`.
fn fetch_url(checked: &Url, test_endpoint: Option<&str>) -> String {
    match test_endpoint {
        None => checked.to_string(),
        Some(origin) => {
            let query = checked.query().map(|q| format!("?{q}")).unwrap_or_default();
            format!("{origin}{}{query}", checked.path())
        }
    }
}

/// A fetch that failed in a way that may pass: SNS retries on 5xx.
fn unavailable(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("could not {what}: {e}; try again"),
    )
}

fn forbidden(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, msg)
}

impl SnsState {
    fn cached(&self, url: &str) -> Option<Arc<SigningCert>> {
        self.certs.lock().ok()?.get(url).cloned()
    }

    fn remember(&self, url: String, cert: Arc<SigningCert>, now: jiff::Timestamp) {
        if let Ok(mut certs) = self.certs.lock() {
            if certs.len() >= MAX_CACHED_CERTS {
                certs.retain(|_, c| c.not_after > now);
            }
            if certs.len() >= MAX_CACHED_CERTS {
                certs.clear();
            }
            certs.insert(url, cert);
        }
    }

    /// The certificate at a checked URL, from the cache or fetched.
    async fn certificate(
        &self,
        checked: &Url,
        test_endpoint: Option<&str>,
        now: jiff::Timestamp,
    ) -> Result<Arc<SigningCert>, ApiError> {
        let url = fetch_url(checked, test_endpoint);
        if let Some(cert) = self.cached(&url) {
            return Ok(cert);
        }
        let what = "fetch the signing certificate";
        let mut resp = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| unavailable(what, e.without_url()))?;
        if !resp.status().is_success() {
            return Err(unavailable(what, format!("HTTP {}", resp.status())));
        }
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_CERT_BYTES as u64)
        {
            return Err(forbidden("the signing certificate is implausibly large"));
        }
        let mut pem = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| unavailable(what, e.without_url()))?
        {
            pem.extend_from_slice(&chunk);
            if pem.len() > MAX_CERT_BYTES {
                return Err(forbidden("the signing certificate is implausibly large"));
            }
        }
        let cert = Arc::new(SigningCert::from_pem(&pem).map_err(forbidden)?);
        self.remember(url, cert.clone(), now);
        Ok(cert)
    }

    /// GETs a checked `SubscribeURL`.
    async fn confirm(&self, checked: &Url, test_endpoint: Option<&str>) -> Result<(), ApiError> {
        let what = "confirm the subscription";
        let resp = self
            .client
            .get(fetch_url(checked, test_endpoint))
            .send()
            .await
            .map_err(|e| unavailable(what, e.without_url()))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(unavailable(
                what,
                format!("AWS answered HTTP {}", resp.status()),
            ))
        }
    }
}

/// The service and settings of the sns integration with this key.
fn integration<S: Store>(state: &Shared<S>, key: &str) -> Result<(String, SnsSettings), ApiError> {
    let config = state.engine.config();
    config
        .integration_for_key(key)
        .filter(|i| i.kind == IntegrationKind::Sns)
        .and_then(|i| {
            let settings = config
                .services
                .get(&i.service)?
                .integrations
                .get(i.index)?
                .sns
                .clone()?;
            Some((i.service.clone(), settings))
        })
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no sns integration has this key (subscribe <public_url>/hooks/sns/<key>)",
            )
        })
}

/// Checks everything about a parsed message that does not need the network:
/// the header agrees with the body, the topic is allowed, the certificate URL
/// is AWS's.
fn precheck(msg: &Message, headers: &HeaderMap, settings: &SnsSettings) -> Result<Url, ApiError> {
    if let Some(h) = headers.get("x-amz-sns-message-type")
        && h.as_bytes() != msg.kind.as_str().as_bytes()
    {
        return Err(ApiError::bad_request(format!(
            "the x-amz-sns-message-type header says {:?} but the body's Type is {:?}",
            String::from_utf8_lossy(h.as_bytes()),
            msg.kind.as_str()
        )));
    }
    if !settings.topics.contains(&msg.topic_arn) {
        return Err(forbidden(format!(
            "topic {:?} is not one of this integration's topics",
            msg.topic_arn
        )));
    }
    sns::check_cert_url(&msg.signing_cert_url).map_err(forbidden)
}

/// `POST /hooks/sns/{key}`.
pub(crate) async fn receive<S: Store>(
    State(state): State<Shared<S>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (service, settings) = integration(&state, &key)?;
    let body = body?;
    let msg = sns::parse(&body).map_err(ApiError::from)?;
    let cert_url = precheck(&msg, &headers, &settings)?;
    let test_endpoint = settings.test_endpoint_url.as_deref();
    let now = state.engine.now();
    let cert = state.sns.certificate(&cert_url, test_endpoint, now).await?;
    cert.verify(&msg, now).map_err(forbidden)?;

    match msg.kind {
        MessageType::SubscriptionConfirmation => {
            let url = sns::check_subscribe_url(msg.subscribe_url.as_deref().unwrap_or(""))
                .map_err(forbidden)?;
            match state.sns.confirm(&url, test_endpoint).await {
                Ok(()) => {
                    tracing::info!(%service, topic = ?msg.topic_arn, "SNS subscription confirmed");
                    Ok(
                        axum::Json(json!({ "status": "confirmed", "topic": msg.topic_arn }))
                            .into_response(),
                    )
                }
                Err(e) => {
                    tracing::warn!(%service, topic = ?msg.topic_arn, error = %e.error, "SNS subscription not confirmed; SNS will send the confirmation again");
                    Err(e)
                }
            }
        }
        MessageType::UnsubscribeConfirmation => {
            tracing::warn!(%service, topic = ?msg.topic_arn, "SNS says this endpoint was unsubscribed from the topic; messages from it stop");
            Ok(
                axum::Json(json!({ "status": "unsubscribed", "topic": msg.topic_arn }))
                    .into_response(),
            )
        }
        MessageType::Notification => {
            check_fresh(&msg.timestamp, now)?;
            // A notification acts once: SNS retries a delivery it thinks
            // failed, and a captured one can be sent again.
            let receipt = format!("sns:{}", msg.message_id);
            if !state
                .engine
                .store()
                .record_receipt(receipt.clone(), now)
                .await?
            {
                tracing::info!(%service, message_id = ?msg.message_id, "SNS message already received; not acted on again");
                return Ok(axum::Json(
                    json!({ "status": "duplicate", "message_id": msg.message_id }),
                )
                .into_response());
            }
            let acted = notification(&state, &service, &settings, &msg, now).await;
            if acted.is_err() {
                // Not acted on: SNS's retry (or the sender's) may try again.
                let _ = state.engine.store().forget_receipt(receipt).await;
            }
            acted
        }
    }
}

/// How old a notification's `Timestamp` may be: SNS retries an HTTP
/// delivery for about an hour by default; anything older is a replay.
pub const SNS_MAX_AGE: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);
/// How far ahead of this server's clock a `Timestamp` may be.
const SNS_MAX_AHEAD: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);

/// Refuses a notification sent too long ago (a replay of a captured,
/// validly signed message) or from the future.
fn check_fresh(timestamp: &str, now: jiff::Timestamp) -> Result<(), ApiError> {
    let field =
        |m: String| ApiError::fields(vec![firebell_core::event::FieldError::new("Timestamp", m)]);
    let sent: jiff::Timestamp = timestamp
        .parse()
        .map_err(|_| field(format!("{timestamp:?} is not a time")))?;
    if now.duration_since(sent) > SNS_MAX_AGE {
        return Err(field(format!(
            "sent at {sent}, more than an hour ago: a replayed message, not acted on"
        )));
    }
    if sent.duration_since(now) > SNS_MAX_AHEAD {
        return Err(field(format!(
            "sent at {sent}, ahead of this server's clock ({now}) by more than 5 minutes"
        )));
    }
    Ok(())
}

/// Acts on a verified, fresh, first-seen notification.
async fn notification<S: Store>(
    state: &Shared<S>,
    service: &str,
    settings: &SnsSettings,
    msg: &sns::Message,
    now: jiff::Timestamp,
) -> Result<Response, ApiError> {
    let outcome =
        sns::to_event(msg, service, settings.insufficient_data, now).map_err(|e| match e {
            IngestError::Malformed(m) => ApiError::bad_request(m),
            IngestError::Invalid(fields) => ApiError::fields(fields),
        })?;
    match outcome {
        Outcome::Ignored(reason) => {
            tracing::info!(%service, topic = ?msg.topic_arn, %reason, "SNS message ignored");
            Ok(axum::Json(json!({ "status": "ignored", "reason": reason })).into_response())
        }
        Outcome::Event(event) => {
            let outcomes = state.engine.accept(vec![*event]).await?;
            let alerts: Vec<Value> = outcomes
                .iter()
                .map(|o| {
                    json!({
                        "id": o.alert_id,
                        "dedup_key": o.dedup_key,
                        "status": o.status,
                        "duplicate": o.duplicate,
                    })
                })
                .collect();
            Ok(axum::Json(json!({ "status": "accepted", "alerts": alerts })).into_response())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_endpoints_keep_the_checked_path_and_query() {
        let u =
            Url::parse("https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=t")
                .ok();
        let Some(u) = u else {
            panic!("valid URL");
        };
        assert_eq!(
            fetch_url(&u, Some("http://127.0.0.1:9")),
            "http://127.0.0.1:9/?Action=ConfirmSubscription&Token=t"
        );
        assert_eq!(fetch_url(&u, None), u.as_str());
    }
}
