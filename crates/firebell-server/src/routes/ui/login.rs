//! Sign in, sign out, and the profile page (change your password).

use super::{
    Fields, Nav, Posted, SESSION_COOKIE, SESSION_TTL, UiError, User, bare_page, csrf, flash, page,
    random_token, session_hash,
};
use crate::Shared;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use firebell_store::{SessionRecord, Store};
use jiff::{SignedDuration, Timestamp};
use maud::{Markup, html};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

/// Failed sign-ins one user name may take within [`LOGIN_WINDOW`].
pub const MAX_LOGIN_FAILURES: u32 = 10;
/// Failed sign-ins one client address may make within [`LOGIN_WINDOW`],
/// whatever the names: more than one name's, so people behind one proxy
/// are not all locked out by one guesser, but bounded.
pub const MAX_ADDRESS_FAILURES: u32 = 50;
/// The window failed sign-ins are counted in.
pub const LOGIN_WINDOW: SignedDuration = SignedDuration::from_mins(5);
/// Shortest password `firebell user set-password` and the profile page take.
pub const MIN_PASSWORD_LEN: usize = 10;
const MAX_KEYS: usize = 10_000;

/// Failed sign-ins by client address and by user name, per node.
#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, (Timestamp, u32)>>,
}

impl LoginLimiter {
    /// How long the caller must wait, if either key used up its failures.
    fn blocked(&self, keys: &[String], now: Timestamp) -> Option<SignedDuration> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        keys.iter()
            .filter_map(|k| {
                let (start, n) = *map.get(k)?;
                let ends = start.checked_add(LOGIN_WINDOW).ok()?;
                let max = if k.starts_with("ip:") {
                    MAX_ADDRESS_FAILURES
                } else {
                    MAX_LOGIN_FAILURES
                };
                (n >= max && now < ends).then(|| ends.duration_since(now))
            })
            .max()
    }

    fn failed(&self, keys: &[String], now: Timestamp) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_KEYS {
            map.retain(|_, (start, _)| now.duration_since(*start) < LOGIN_WINDOW);
        }
        for k in keys {
            if map.len() >= MAX_KEYS && !map.contains_key(k) {
                continue;
            }
            let e = map.entry(k.clone()).or_insert((now, 0));
            if now.duration_since(e.0) >= LOGIN_WINDOW {
                *e = (now, 0);
            }
            e.1 = e.1.saturating_add(1);
        }
    }
}

/// An argon2id hash (PHC string) of `password`, with a fresh salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Whether `password` matches the PHC string `hash`.
fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A one-time password for the starter's user: 16 letters and digits.
pub fn random_password() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// Checks a new password; the error names what is wrong.
pub fn check_new_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(format!(
            "the password must have at least {MIN_PASSWORD_LEN} characters"
        ));
    }
    if password.len() > 1024 {
        return Err("the password is longer than 1024 bytes".into());
    }
    Ok(())
}

/// A hash to verify against when the user does not exist, so that a
/// wrong name takes as long as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a real password at all").unwrap_or_default())
}

#[derive(Deserialize)]
pub(crate) struct LoginQuery {
    next: Option<String>,
}

/// Only a path on this server may be where sign-in sends you next.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/alerts".to_string(),
    }
}

fn login_form(next: &str, user: &str, error: Option<&str>) -> Markup {
    bare_page(
        "Sign in",
        html! {
            div.signin {
                h1 { "Sign in to Firebell" }
                @if let Some(e) = error {
                    p.error role="alert" { (e) }
                }
                form method="post" action="/login" {
                    input type="hidden" name="next" value=(next);
                    label for="user" { "User" }
                    input #user type="text" name="user" value=(user) autocomplete="username" autocapitalize="none" required autofocus[user.is_empty()];
                    label for="password" { "Password" }
                    input #password type="password" name="password" autocomplete="current-password" required autofocus[!user.is_empty()];
                    button.primary type="submit" { "Sign in" }
                }
                p.hint { "No password yet? An admin sets one with " code { "firebell user set-password ID" } "." }
            }
        },
    )
}

/// `GET /login`.
pub(crate) async fn login_page(Query(q): Query<LoginQuery>) -> Markup {
    login_form(&safe_next(q.next.as_deref()), "", None)
}

fn client_ip(info: Option<&ConnectInfo<SocketAddr>>) -> Option<IpAddr> {
    info.map(|c| c.0.ip())
}

/// `POST /login`: checks the password, starts a session, sets the cookie.
pub(crate) async fn login<S: Store>(
    State(state): State<Shared<S>>,
    req: axum::extract::Request,
) -> Result<Response, UiError> {
    // Signing someone in from another site (login CSRF) is refused.
    if super::cross_site(req.headers()) {
        return Ok(super::cross_site_refusal());
    }
    let info = req.extensions().get::<ConnectInfo<SocketAddr>>().cloned();
    let limit = state.engine.config().server.max_body_bytes;
    let body = axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| UiError::bad_input("the form is too large"))?;
    let fields = Fields::parse(&body);
    let user = fields.get("user").unwrap_or("").to_string();
    let password = fields.raw("password").to_string();
    let next = safe_next(fields.get("next"));
    let now = state.engine.now();
    let mut keys = vec![format!("user:{user}")];
    if let Some(ip) = client_ip(info.as_ref()) {
        keys.push(format!("ip:{ip}"));
    }
    if let Some(wait) = state.login_limiter.blocked(&keys, now) {
        let mins = (wait.as_secs() + 59) / 60;
        let mut resp = (
            StatusCode::TOO_MANY_REQUESTS,
            login_form(
                &next,
                &user,
                Some(&format!(
                    "Too many failed sign-ins; try again in {mins} min."
                )),
            ),
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(resp);
    }
    let config = state.engine.config();
    let known = config.users.contains_key(&user);
    let stored = if known {
        state.engine.store().password_hash(user.clone()).await?
    } else {
        None
    };
    let hash = stored.clone().unwrap_or_else(|| dummy_hash().to_string());
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false)
        && known
        && stored.is_some();
    if !ok {
        state.login_limiter.failed(&keys, now);
        tracing::warn!(
            user = %user,
            client = %client_ip(info.as_ref()).map_or_else(|| "unknown".into(), |a| a.to_string()),
            "sign-in failed"
        );
        return Ok((
            StatusCode::UNAUTHORIZED,
            login_form(&next, &user, Some("Wrong user or password.")),
        )
            .into_response());
    }
    let cookie = random_token();
    state
        .engine
        .store()
        .create_session(SessionRecord {
            id_hash: session_hash(&cookie),
            user: user.clone(),
            csrf: random_token(),
            created_at: now,
            expires_at: now + SESSION_TTL,
        })
        .await?;
    tracing::info!(user = %user, "signed in");
    let secure = if config.server.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let set = format!(
        "{SESSION_COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        SESSION_TTL.as_secs()
    );
    let mut resp = Redirect::to(&next).into_response();
    if let Ok(v) = HeaderValue::from_str(&set) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

fn clear_cookie() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::SET_COOKIE,
        HeaderValue::from_static("firebell_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    h
}

/// `POST /logout`: ends the session.
pub(crate) async fn logout<S: Store>(
    State(state): State<Shared<S>>,
    form: Posted,
) -> Result<Response, UiError> {
    state
        .engine
        .store()
        .delete_session(form.user.session.clone())
        .await?;
    tracing::info!(user = %form.user.id, "signed out");
    Ok((clear_cookie(), Redirect::to("/login")).into_response())
}

fn profile_page(user: &User, done: Option<&str>, error: Option<&str>) -> Markup {
    page(
        "Profile",
        user,
        Nav::Profile,
        html! {
            h1 { (user.name) }
            (flash(done))
            p { "User " code { (user.id) } ", role " strong { (user.role.as_str()) } "." }
            p { a href=(format!("/people/{}", user.id)) { "Your contact methods and shifts" } }
            h2 { "Change your password" }
            @if let Some(e) = error {
                p.error role="alert" { (e) }
            }
            form.stack method="post" action="/profile/password" {
                (csrf(user))
                label for="current" { "Current password" }
                input #current type="password" name="current" autocomplete="current-password" required;
                label for="new" { "New password (at least " (MIN_PASSWORD_LEN) " characters)" }
                input #new type="password" name="new" autocomplete="new-password" minlength=(MIN_PASSWORD_LEN) required;
                button.primary type="submit" { "Change password" }
            }
            p.hint { "Changing it signs you out everywhere else." }
        },
    )
}

/// `GET /profile`.
pub(crate) async fn profile(user: User) -> Markup {
    profile_page(&user, user.flash.as_deref(), None)
}

/// `POST /profile/password`: checks the current password, sets the new
/// one (which ends every session), and signs this browser in again.
pub(crate) async fn change_password<S: Store>(
    State(state): State<Shared<S>>,
    form: Posted,
) -> Result<Response, UiError> {
    let user = &form.user;
    let (current, new) = (
        form.fields.raw("current").to_string(),
        form.fields.raw("new").to_string(),
    );
    let refuse =
        |msg: &str| (StatusCode::BAD_REQUEST, profile_page(user, None, Some(msg))).into_response();
    if let Err(e) = check_new_password(&new) {
        return Ok(refuse(&format!("New password: {e}.")));
    }
    let stored = state.engine.store().password_hash(user.id.clone()).await?;
    let ok = match stored {
        Some(h) => tokio::task::spawn_blocking(move || verify_password(&current, &h))
            .await
            .unwrap_or(false),
        None => false,
    };
    if !ok {
        return Ok(refuse("Current password: wrong password."));
    }
    let hash = tokio::task::spawn_blocking(move || hash_password(&new))
        .await
        .map_err(|e| {
            UiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Not saved",
                e.to_string(),
            )
        })?
        .map_err(|e| UiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Not saved", e))?;
    let now = state.engine.now();
    state
        .engine
        .store()
        .set_password(user.id.clone(), hash, now)
        .await?;
    tracing::info!(user = %user.id, "password changed");
    Ok((clear_cookie(), Redirect::to("/login")).into_response())
}
