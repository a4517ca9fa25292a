//! The web UI: server-rendered HTML from the same binary. Pages are maud
//! templates (checked at compile time, every value escaped unless a
//! template says otherwise, which none does); the stylesheet and the one
//! small script are embedded. Every page works without JavaScript: forms
//! post and pages reload; the script only refreshes the alert list live.
//!
//! Who may see a page is the [`User`] extractor (a session cookie); every
//! form posts through [`Posted`], which checks the session's CSRF token
//! before the handler runs, and handlers that change something say which
//! [`Role`] they need with [`User::require`].

pub(crate) mod alerts;
pub(crate) mod login;
pub(crate) mod oncall;
pub(crate) mod people;
pub(crate) mod services;
pub(crate) mod silences;

use crate::Shared;
use crate::error::ApiError;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use firebell_core::contacts::Role;
use firebell_store::{Store, StoreError};
use jiff::{SignedDuration, Timestamp};
use maud::{DOCTYPE, Markup, html};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "firebell_session";
/// The cookie that carries a form's result to the page it returns to. A
/// cookie, not the query string: another site cannot set it, so nobody can
/// make Firebell's own pages show a message of theirs.
pub(crate) const FLASH_COOKIE: &str = "firebell_flash";
/// How long a sign-in lasts.
pub(crate) const SESSION_TTL: SignedDuration = SignedDuration::from_hours(24 * 7);

const STYLE: &str = include_str!("static/firebell.css");
const SCRIPT: &str = include_str!("static/firebell.js");
const ICON: &str = include_str!("static/favicon.svg");

/// SHA-256 (hex) of a session cookie's value: what the store keeps.
pub(crate) fn session_hash(cookie: &str) -> String {
    let digest = Sha256::digest(cookie.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh random token (256 bits, URL-safe base64).
pub(crate) fn random_token() -> String {
    use base64::Engine as _;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The value of cookie `name` in a request's headers.
fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether a form post comes from another site: its `Origin` header (which
/// browsers send with every form post) names another host than the one
/// asked. A request without `Origin` (not a browser) is let through to the
/// CSRF token check.
pub(crate) fn cross_site(headers: &axum::http::HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match url::Url::parse(origin) {
        Ok(u) => {
            let origin_host = match (u.host_str(), u.port()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_string(),
                (None, _) => return true,
            };
            !origin_host.eq_ignore_ascii_case(host)
        }
        Err(_) => true, // "null" and anything unreadable
    }
}

/// The refusal of a form posted from another site.
pub(crate) fn cross_site_refusal() -> Response {
    UiError::new(
        StatusCode::FORBIDDEN,
        "Form refused",
        "This form was sent from another site. Nothing was changed.",
    )
    .into_response()
}

/// The signed-in person, from the session cookie. A page that takes it
/// cannot be seen signed out: a GET is sent to the sign-in page (and back
/// afterwards), anything else is refused with 401.
#[derive(Clone, Debug)]
pub(crate) struct User {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// The token this session's forms carry.
    pub csrf: String,
    /// The stored hash of the session cookie (for signing out).
    pub session: String,
    /// The result of the form this page follows, if any.
    pub flash: Option<String>,
}

impl User {
    /// Refuses (403) unless this person's role is at least `role`.
    pub fn require(&self, role: Role) -> Result<(), UiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(UiError::new(
                StatusCode::FORBIDDEN,
                "Not allowed",
                format!(
                    "Your role is {}; this takes the {} role.",
                    self.role.as_str(),
                    role.as_str()
                ),
            ))
        }
    }

    pub fn can_respond(&self) -> bool {
        self.role.can_respond()
    }
}

impl<S: Store> FromRequestParts<Shared<S>> for User {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Shared<S>) -> Result<Self, Response> {
        let signed_out = |parts: &Parts| -> Response {
            if parts.method == Method::GET || parts.method == Method::HEAD {
                let next = parts
                    .uri
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_string();
                let target = if next == "/" || next == "/alerts" {
                    "/login".to_string()
                } else {
                    format!(
                        "/login?next={}",
                        form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                    )
                };
                Redirect::to(&target).into_response()
            } else {
                UiError::new(
                    StatusCode::UNAUTHORIZED,
                    "Signed out",
                    "Sign in first; your session may have ended.",
                )
                .into_response()
            }
        };
        let Some(value) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(signed_out(parts));
        };
        let hash = session_hash(value);
        let now = state.engine.now();
        let session = match state.engine.store().session(hash, now).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err(signed_out(parts)),
            Err(e) => return Err(UiError::from(e).into_response()),
        };
        let config = state.engine.config();
        // A person removed from the configuration is signed out everywhere.
        let Some(person) = config.users.get(&session.user) else {
            return Err(signed_out(parts));
        };
        let flash = cookie(&parts.headers, FLASH_COOKIE).and_then(|v| {
            form_urlencoded::parse(format!("m={v}").as_bytes())
                .next()
                .map(|(_, m)| m.chars().take(500).collect::<String>())
                .filter(|m| !m.is_empty())
        });
        Ok(User {
            id: session.user,
            name: person.name.clone(),
            role: person.role,
            csrf: session.csrf,
            session: session.id_hash,
            flash,
        })
    }
}

/// A posted form's fields, in order (a name may repeat).
#[derive(Debug, Default)]
pub(crate) struct Fields(Vec<(String, String)>);

impl Fields {
    pub fn parse(body: &[u8]) -> Self {
        Fields(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`, trimmed; `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The first value of `name` exactly as sent (a password keeps its
    /// spaces); empty when absent.
    pub fn raw(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A form posted by a signed-in person, with the session's CSRF token
/// checked (a form without it, or with another session's, is refused with
/// 403 and changes nothing).
pub(crate) struct Posted {
    pub user: User,
    pub fields: Fields,
}

impl<S: Store> FromRequest<Shared<S>> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, state: &Shared<S>) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        if cross_site(&parts.headers) {
            return Err(cross_site_refusal());
        }
        let user = User::from_request_parts(&mut parts, state).await?;
        let req = Request::from_parts(parts, body);
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let fields = Fields::parse(&bytes);
        let sent = fields.get("csrf").unwrap_or("");
        if !bool::from(sent.as_bytes().ct_eq(user.csrf.as_bytes())) {
            tracing::warn!(user = %user.id, "form refused: missing or wrong CSRF token");
            return Err(UiError::new(
                StatusCode::FORBIDDEN,
                "Form refused",
                "This form did not carry this session's security token (it may be from an old page, or from another site). Nothing was changed. Reload the page and try again.",
            )
            .into_response());
        }
        Ok(Posted { user, fields })
    }
}

/// An error page.
#[derive(Debug)]
pub(crate) struct UiError {
    pub status: StatusCode,
    pub title: String,
    pub message: String,
}

impl UiError {
    pub fn new(status: StatusCode, title: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            title: title.into(),
            message: message.into(),
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found", what)
    }

    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Not saved", message)
    }
}

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        let mut message = e.error;
        for d in &e.details {
            if let (Some(f), Some(m)) = (d["field"].as_str(), d["message"].as_str()) {
                message.push_str(&format!("; {f}: {m}"));
            }
        }
        let title = match e.status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::CONFLICT => "Not possible now",
            s if s.is_client_error() => "Not saved",
            _ => "Something went wrong",
        };
        UiError::new(e.status, title, message)
    }
}

impl From<StoreError> for UiError {
    fn from(e: StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<firebell_engine::EngineError> for UiError {
    fn from(e: firebell_engine::EngineError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let body = bare_page(
            &self.title,
            html! {
                h1 { (self.title) }
                p { (self.message) }
                p { a href="/alerts" { "Back to Firebell" } }
            },
        );
        (self.status, body).into_response()
    }
}

/// The sections of the navigation bar.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Alerts,
    OnCall,
    Policies,
    Services,
    Silences,
    People,
    Status,
    Profile,
}

const NAV: &[(Nav, &str, &str)] = &[
    (Nav::Alerts, "/alerts", "Alerts"),
    (Nav::OnCall, "/oncall", "On call"),
    (Nav::Policies, "/policies", "Policies"),
    (Nav::Services, "/services", "Services"),
    (Nav::Silences, "/silences", "Silences"),
    (Nav::People, "/people", "People"),
    (Nav::Status, "/status", "Status"),
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="robots" content="noindex";
            title { (title) " · Firebell" }
            link rel="icon" href="/ui/static/favicon.svg" type="image/svg+xml";
            link rel="stylesheet" href=(format!("/ui/static/firebell.css?v={}", asset_version()));
            script src=(format!("/ui/static/firebell.js?v={}", asset_version())) defer {}
        }
    }
}

/// A page without the navigation (sign-in, errors).
pub(crate) fn bare_page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.bare {
                main #main { (body) }
            }
        }
    }
}

/// A page with the navigation bar, for a signed-in person.
pub(crate) fn page(title: &str, user: &User, active: Nav, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/alerts" { "Firebell" }
                    nav aria-label="Main" {
                        ul {
                            @for (nav, href, label) in NAV {
                                li {
                                    @if *nav == active {
                                        a href=(href) aria-current="page" { (label) }
                                    } @else {
                                        a href=(href) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    div.me {
                        a href="/profile" aria-current=[(active == Nav::Profile).then_some("page")] {
                            (user.name) span.role { " (" (user.role.as_str()) ")" }
                        }
                        form.inline method="post" action="/logout" {
                            (csrf(user))
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                main #main { (body) }
            }
        }
    }
}

/// The hidden CSRF field every form carries.
pub(crate) fn csrf(user: &User) -> Markup {
    html! { input type="hidden" name="csrf" value=(user.csrf); }
}

/// A time for people: "2026-03-01 09:00 UTC" in the viewer's zone.
pub(crate) fn when(t: Timestamp, tz: &jiff::tz::TimeZone) -> String {
    t.to_zoned(tz.clone())
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// How long ago: "3 min ago".
pub(crate) fn ago(t: Timestamp, now: Timestamp) -> String {
    let secs = now.duration_since(t).as_secs();
    if secs < 0 {
        return "in the future".into();
    }
    match secs {
        0..60 => format!("{secs} s ago"),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86_400 => format!("{} h ago", secs / 3600),
        _ => format!("{} d ago", secs / 86_400),
    }
}

/// A duration for people: "5m", "1h 30m".
pub(crate) fn span(d: SignedDuration) -> String {
    firebell_engine::timeouts::human(d)
}

/// The viewer's time zone.
pub(crate) fn user_tz<S: Store>(state: &Shared<S>, user: &User) -> jiff::tz::TimeZone {
    state
        .engine
        .config()
        .users
        .get(&user.id)
        .and_then(|u| jiff::tz::TimeZone::get(u.timezone.as_str()).ok())
        .unwrap_or(jiff::tz::TimeZone::UTC)
}

/// A redirect after a form (303, so the browser GETs the page).
pub(crate) fn back(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// A changing page's answer: back to `to`, which shows `message` once.
pub(crate) fn flash_to(to: &str, message: &str) -> Response {
    let mut resp = Redirect::to(to).into_response();
    let value = form_urlencoded::byte_serialize(message.as_bytes()).collect::<String>();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{FLASH_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"
    )) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// The flash line, if this page follows a form.
pub(crate) fn flash(done: Option<&str>) -> Markup {
    html! {
        @if let Some(d) = done.filter(|d| !d.is_empty()) {
            p.flash role="status" { (d) }
        }
    }
}

/// The version part of asset URLs, so a new build's assets are fetched.
fn asset_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// `GET /ui/static/{file}`: the embedded stylesheet, script and icon.
pub(crate) async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "firebell.css" => (STYLE, "text/css; charset=utf-8"),
        "firebell.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "favicon.svg" => (ICON, "image/svg+xml"),
        _ => return (StatusCode::NOT_FOUND, "no such file").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}

/// `GET /`: the alert list, or the sign-in page when signed out.
pub(crate) async fn home(_: User) -> Response {
    back("/alerts")
}

/// Headers on every UI answer: a strict content security policy (scripts
/// and styles from this server only), no framing, no caching of pages, and
/// `Server-Timing` with the time the server spent.
pub(crate) async fn headers(req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let had_flash = cookie(req.headers(), FLASH_COOKIE).is_some();
    let mut resp = next.run(req).await;
    // A page that showed the form's result forgets it.
    if had_flash && resp.status() == StatusCode::OK {
        resp.headers_mut().append(
            header::SET_COOKIE,
            HeaderValue::from_static("firebell_flash=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
        );
    }
    let spent = started.elapsed();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Ok(v) = HeaderValue::from_str(&format!("app;dur={:.3}", spent.as_secs_f64() * 1000.0)) {
        h.insert(header::HeaderName::from_static("server-timing"), v);
    }
    resp
}

/// Text shown for a JSON value in a details table.
pub(crate) fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}
