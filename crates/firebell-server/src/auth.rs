//! Who may call a route, as axum extractors: a handler states what it needs
//! by taking [`Admin`], [`IntegrationKey`] or [`AlertmanagerReader`], and
//! cannot run without it. A handler that takes none of them is public on
//! purpose, and is listed in [`crate::router::PUBLIC`] with the reason.
//!
//! Every failure is a 401 with `WWW-Authenticate: Bearer`, before the body is
//! read.

use crate::Shared;
use crate::error::ApiError;
use crate::routes::alertmanager_api::Scope;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use firebell_core::config::IntegrationKind;
use firebell_store::Store;
use std::marker::PhantomData;

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

/// The request carries the admin token (`Authorization: Bearer <server.admin_token>`).
#[derive(Clone, Copy, Debug)]
pub struct Admin;

impl<S: Store> FromRequestParts<Shared<S>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared<S>) -> Result<Self, ApiError> {
        match bearer(&parts.headers) {
            Some(t) if state.engine.config().is_admin_token(t) => Ok(Admin),
            Some(_) => Err(ApiError::unauthorized("the admin token is wrong")),
            None => Err(ApiError::unauthorized(
                "missing admin token: send Authorization: Bearer <server.admin_token>",
            )),
        }
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
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared<S>) -> Result<Self, ApiError> {
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
    }
}

/// The admin token or an alertmanager integration key (bearer or basic
/// auth): what amtool and Grafana send to Alertmanager's read API and
/// silences.
pub struct AlertmanagerReader(pub Scope);

impl<S: Store> FromRequestParts<Shared<S>> for AlertmanagerReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared<S>) -> Result<Self, ApiError> {
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
}
