//! Who may call a route, as axum extractors: a handler states what it needs
//! by taking [`Admin`], [`IntegrationKey`] or [`AlertmanagerReader`], and
//! cannot run without it. A handler that takes none of them is public on
//! purpose, and is listed in [`crate::router::PUBLIC`] with the reason.
//!
//! Every failure is a 401 with `WWW-Authenticate: Bearer`, before the body is
//! read, and is logged with the client's address and the path (never the
//! credential). A client address with [`MAX_FAILURES`] failures within
//! [`FAILURE_WINDOW`] gets 429 with `Retry-After` on every authenticated
//! route until the window passes, so keys and tokens cannot be guessed at
//! thousands a second.

use crate::Shared;
use crate::error::ApiError;
use crate::routes::alertmanager_api::Scope;
use axum::extract::ConnectInfo;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use firebell_core::config::IntegrationKind;
use firebell_store::Store;
use jiff::{SignedDuration, Timestamp};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

/// The bearer token of a request, if it has one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The key a request carries: a bearer token, or a basic-auth password
/// (Prometheus and Alertmanager can send either).
pub(crate) fn request_key(headers: &HeaderMap) -> Option<String> {
    use base64::Engine as _;
    if let Some(t) = bearer(headers) {
        return Some(t.to_string());
    }
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, cred) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(cred.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_, password) = text.split_once(':')?;
    Some(password.to_string())
}

/// Failed authentications one client address may make within [`FAILURE_WINDOW`].
pub const MAX_FAILURES: u32 = 100;
/// The window failed authentications are counted in.
pub const FAILURE_WINDOW: SignedDuration = SignedDuration::from_secs(60);
/// Addresses remembered at most; past it, windows that have passed are dropped
/// (and, if every one is current, the oldest), so a flood from many
/// addresses cannot grow the table without bound.
const MAX_ADDRESSES: usize = 10_000;

/// Failed authentications by client address, per node.
#[derive(Default)]
pub struct AuthFailures {
    by_addr: Mutex<HashMap<IpAddr, (Timestamp, u32)>>,
}

impl AuthFailures {
    /// How long `addr` must wait, if it has used up its failures.
    fn blocked(&self, addr: IpAddr, now: Timestamp) -> Option<SignedDuration> {
        let map = self.by_addr.lock().unwrap_or_else(|p| p.into_inner());
        let (start, count) = *map.get(&addr)?;
        let ends = start.checked_add(FAILURE_WINDOW).ok()?;
        (count >= MAX_FAILURES && now < ends).then(|| ends.duration_since(now))
    }

    fn record(&self, addr: IpAddr, now: Timestamp) {
        let mut map = self.by_addr.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ADDRESSES && !map.contains_key(&addr) {
            map.retain(|_, (start, _)| now.duration_since(*start) < FAILURE_WINDOW);
            if map.len() >= MAX_ADDRESSES
                && let Some(oldest) = map.iter().min_by_key(|(_, (s, _))| *s).map(|(a, _)| *a)
            {
                map.remove(&oldest);
            }
        }
        let entry = map.entry(addr).or_insert((now, 0));
        if now.duration_since(entry.0) >= FAILURE_WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

/// Why an auth extractor refused a request.
pub enum AuthRejection {
    /// No credential, or the wrong one: 401.
    Unauthorized(ApiError),
    /// Too many failures from this address: 429 with `Retry-After` seconds.
    TooMany { retry_after: u64 },
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            AuthRejection::Unauthorized(e) => e.into_response(),
            AuthRejection::TooMany { retry_after } => {
                let mut resp = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "too many failed authentications from this address; try again in {retry_after} s"
                    ),
                )
                .into_response();
                if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                    resp.headers_mut()
                        .insert(axum::http::header::RETRY_AFTER, v);
                }
                resp
            }
        }
    }
}

/// Runs one credential check with the limiter around it: refuses a blocked
/// address before looking, and counts and logs a failure.
fn guarded<S: firebell_store::Store, T>(
    parts: &Parts,
    state: &Shared<S>,
    check: impl FnOnce() -> Result<T, ApiError>,
) -> Result<T, AuthRejection> {
    let addr = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let now = state.engine.now();
    if let Some(addr) = addr
        && let Some(wait) = state.auth_failures.blocked(addr, now)
    {
        let retry_after = u64::try_from(wait.as_secs()).unwrap_or(0).max(1);
        return Err(AuthRejection::TooMany { retry_after });
    }
    check().map_err(|e| {
        tracing::warn!(
            client = %addr.map_or_else(|| "unknown".to_string(), |a| a.to_string()),
            path = ?parts.uri.path(),
            reason = %e.error,
            "authentication failed"
        );
        if let Some(addr) = addr {
            state.auth_failures.record(addr, now);
        }
        AuthRejection::Unauthorized(e)
    })
}

/// The request carries the admin token (`Authorization: Bearer <server.admin_token>`).
#[derive(Clone, Copy, Debug)]
pub struct Admin;

impl<S: Store> FromRequestParts<Shared<S>> for Admin {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Shared<S>,
    ) -> Result<Self, AuthRejection> {
        guarded(parts, state, || match bearer(&parts.headers) {
            Some(t) if state.engine.config().is_admin_token(t) => Ok(Admin),
            Some(_) => Err(ApiError::unauthorized("the admin token is wrong")),
            None => Err(ApiError::unauthorized(
                "missing admin token: send Authorization: Bearer <server.admin_token>",
            )),
        })
    }
}

/// An integration kind whose key a route takes in the `Authorization` header.
pub trait KeyKind: Send + Sync + 'static {
    const KIND: IntegrationKind;
    /// What a request without a key is told.
    const MISSING: &'static str = "missing integration key: send Authorization: Bearer <key> (or basic auth with the key as password)";
    /// What a request with a key no integration has is told.
    const UNKNOWN: &'static str = "unknown integration key";
}

/// `kind = "generic"`: `POST /api/v1/events`.
pub struct Generic;
impl KeyKind for Generic {
    const KIND: IntegrationKind = IntegrationKind::Generic;
}

/// `kind = "alertmanager"`: Alertmanager's API and webhook receiver.
pub struct Alertmanager;
impl KeyKind for Alertmanager {
    const KIND: IntegrationKind = IntegrationKind::Alertmanager;
}

/// `kind = "vtm"`: traffic-manager event lines.
pub struct Vtm;
impl KeyKind for Vtm {
    const KIND: IntegrationKind = IntegrationKind::Vtm;
}

/// `kind = "heartbeat"`: pings with the key as a bearer token.
pub struct Heartbeat;
impl KeyKind for Heartbeat {
    const KIND: IntegrationKind = IntegrationKind::Heartbeat;
    const MISSING: &'static str =
        "missing heartbeat key: send Authorization: Bearer <key>, or ping /api/v1/heartbeat/<key>";
    const UNKNOWN: &'static str = "unknown heartbeat key";
}

/// The request carries the key of an integration of kind `K`: the service
/// (and the integration's place in it) that key opens, and nothing else.
pub struct IntegrationKey<K> {
    pub service: String,
    /// The integration's index in its service's `integrations`.
    pub index: usize,
    kind: PhantomData<K>,
}

impl<S: Store, K: KeyKind> FromRequestParts<Shared<S>> for IntegrationKey<K> {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Shared<S>,
    ) -> Result<Self, AuthRejection> {
        guarded(parts, state, || {
            let Some(key) = request_key(&parts.headers) else {
                return Err(ApiError::unauthorized(K::MISSING));
            };
            match state.engine.config().integration_for_key(&key) {
                Some(i) if i.kind == K::KIND => Ok(IntegrationKey {
                    service: i.service.clone(),
                    index: i.index,
                    kind: PhantomData,
                }),
                Some(_) => Err(ApiError::unauthorized(
                    "this key belongs to an integration of another kind",
                )),
                None => Err(ApiError::unauthorized(K::UNKNOWN)),
            }
        })
    }
}

/// The admin token or an alertmanager integration key (bearer or basic
/// auth): what amtool and Grafana send to Alertmanager's read API and
/// silences.
pub struct AlertmanagerReader(pub Scope);

impl<S: Store> FromRequestParts<Shared<S>> for AlertmanagerReader {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Shared<S>,
    ) -> Result<Self, AuthRejection> {
        guarded(parts, state, || reader(parts, state))
    }
}

fn reader<S: Store>(parts: &Parts, state: &Shared<S>) -> Result<AlertmanagerReader, ApiError> {
    let Some(key) = request_key(&parts.headers) else {
        return Err(ApiError::unauthorized(
            "missing credentials: send Authorization: Bearer <key> (an alertmanager integration key, or the admin token), or basic auth with it as the password",
        ));
    };
    let config = state.engine.config();
    if config.is_admin_token(&key) {
        return Ok(AlertmanagerReader(Scope::All));
    }
    match config.integration_for_key(&key) {
        Some(i) if i.kind == IntegrationKind::Alertmanager => {
            Ok(AlertmanagerReader(Scope::Service(i.service.clone())))
        }
        Some(_) => Err(ApiError::unauthorized(
            "this key belongs to an integration of another kind; reading takes an alertmanager integration key or the admin token",
        )),
        None => Err(ApiError::unauthorized("unknown key")),
    }
}
