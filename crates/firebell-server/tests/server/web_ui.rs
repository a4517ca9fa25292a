//! The web UI's sign-in over plain HTTP (the browser tests in
//! crates/firebell/tests/cli/ui.rs drive the pages): limits on guessing,
//! sessions that expire and end with a new password, cookie attributes,
//! where sign-in may send you, the headers every page carries.

use crate::support::*;
use firebell_store::AccountStore;
use jiff::SignedDuration;

const CONFIG: &str = concat!(
    server_section!(),
    r#"
[[users]]
id = "alice"
contacts = [ { kind = "console" } ]

[[users]]
id = "bob"
contacts = [ { kind = "console" } ]

[[policies]]
id = "p"
steps = [ { targets = ["user:alice"], wait = "5m" } ]

[[services]]
id = "checkout"
policy = "p"
integrations = [ { kind = "generic", key = "test-integration-key" } ]
"#
);

async fn set_password(app: &TestApp, user: &str, password: &str) {
    let hash = firebell_server::passwords::hash_password(password).unwrap();
    app.engine
        .store()
        .set_password(user.into(), hash, app.engine.now())
        .await
        .unwrap();
}

async fn login(app: &TestApp, user: &str, password: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/login", app.url))
        .form(&[("user", user), ("password", password), ("next", "/alerts")])
        .send()
        .await
        .unwrap()
}

/// The `firebell_session=…` pair of a sign-in answer.
fn session_cookie(r: &reqwest::Response) -> String {
    let set = r.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_string()
}

async fn get(app: &TestApp, path: &str, cookie: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.url))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

/// The session's CSRF token, from a form of the profile page.
async fn csrf_of(app: &TestApp, cookie: &str) -> String {
    let page = get(app, "/profile", cookie).await.text().await.unwrap();
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn guessing_is_stopped_after_ten_failures_per_name_and_fifty_per_address() {
    let (app, _dir, _sink) = spawn_app(CONFIG).await;
    set_password(&app, "alice", "the right password").await;
    for _ in 0..10 {
        assert_eq!(login(&app, "alice", "a wrong guess").await.status(), 401);
    }
    // Now even the right password waits.
    let r = login(&app, "alice", "the right password").await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert!(r.text().await.unwrap().contains("Too many failed sign-ins"));
    // Another user is not locked out by alice's attacker.
    set_password(&app, "bob", "bob's own password").await;
    assert_eq!(login(&app, "bob", "bob's own password").await.status(), 303);
    app.clock.advance(SignedDuration::from_mins(5));
    let r = login(&app, "alice", "the right password").await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/alerts");
    // One address guessing many names is stopped at 50 failures.
    for i in 0..40 {
        assert_eq!(
            login(&app, &format!("user{i}"), "guess").await.status(),
            401
        );
    }
    assert_eq!(login(&app, "bob", "bob's own password").await.status(), 303);
    for i in 40..50 {
        assert_eq!(
            login(&app, &format!("user{i}"), "guess").await.status(),
            401
        );
    }
    assert_eq!(login(&app, "bob", "bob's own password").await.status(), 429);
    app.stop().await;
}

#[tokio::test]
async fn a_session_lasts_a_week_and_a_new_password_ends_every_session() {
    let (app, _dir, _sink) = spawn_app(CONFIG).await;
    set_password(&app, "alice", "first password!").await;
    let cookie = session_cookie(&login(&app, "alice", "first password!").await);
    assert_eq!(get(&app, "/alerts", &cookie).await.status(), 200);
    app.clock.advance(SignedDuration::from_hours(24 * 7 - 1));
    assert_eq!(get(&app, "/alerts", &cookie).await.status(), 200);
    app.clock.advance(SignedDuration::from_hours(1));
    let r = get(&app, "/alerts", &cookie).await;
    assert_eq!(r.status(), 303, "expired");
    assert_eq!(r.headers()["location"], "/login");

    // Two browsers; one changes the password on the profile page.
    let one = session_cookie(&login(&app, "alice", "first password!").await);
    let two = session_cookie(&login(&app, "alice", "first password!").await);
    let csrf = csrf_of(&app, &one).await;
    let change = |current: &'static str, new: &'static str, csrf: String| {
        app.client
            .post(format!("{}/profile/password", app.url))
            .header("cookie", &one)
            .form(&[("csrf", csrf.as_str()), ("current", current), ("new", new)])
            .send()
    };
    let r = change("not the password", "second password!", csrf.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Current password: wrong password")
    );
    let r = change("first password!", "short", csrf.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("at least 10 characters"));
    let r = change("first password!", "second password!", csrf)
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    for cookie in [&one, &two] {
        assert_eq!(
            get(&app, "/alerts", cookie).await.status(),
            303,
            "signed out"
        );
    }
    assert_eq!(login(&app, "alice", "first password!").await.status(), 401);
    assert_eq!(login(&app, "alice", "second password!").await.status(), 303);
    app.stop().await;
}

#[tokio::test]
async fn the_store_keeps_an_argon2id_hash_and_no_session_cookie() {
    let (app, _dir, _sink) = spawn_app(CONFIG).await;
    set_password(&app, "alice", "a password to hash").await;
    let hash = app
        .engine
        .store()
        .password_hash("alice".into())
        .await
        .unwrap()
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains("a password to hash"));
    let cookie = session_cookie(&login(&app, "alice", "a password to hash").await);
    let value = cookie.trim_start_matches("firebell_session=").to_string();
    assert!(value.len() >= 40);
    // The cookie's value opens nothing when used as the stored key.
    let now = app.engine.now();
    assert!(
        app.engine
            .store()
            .session(value, now)
            .await
            .unwrap()
            .is_none()
    );
    app.stop().await;
}

#[tokio::test]
async fn cookies_are_secure_behind_an_https_public_url() {
    let config = CONFIG.replace(
        "[server]\n",
        "[server]\npublic_url = \"https://firebell.example.com\"\n",
    );
    let (app, _dir, _sink) = spawn_app(&config).await;
    set_password(&app, "alice", "the right password").await;
    let r = login(&app, "alice", "the right password").await;
    let set = r.headers()["set-cookie"].to_str().unwrap();
    for attr in [
        "HttpOnly",
        "SameSite=Lax",
        "Secure",
        "Path=/",
        "Max-Age=604800",
    ] {
        assert!(set.contains(attr), "{attr} missing from {set}");
    }
    app.stop().await;
}

#[tokio::test]
async fn sign_in_sends_you_back_only_to_a_page_of_this_server() {
    let (app, _dir, _sink) = spawn_app(CONFIG).await;
    set_password(&app, "alice", "the right password").await;
    for (next, expected) in [
        ("/alerts/7", "/alerts/7"),
        ("//evil.example.com/", "/alerts"),
        ("https://evil.example.com/", "/alerts"),
        ("/\\evil.example.com", "/alerts"),
    ] {
        let r = app
            .client
            .post(format!("{}/login", app.url))
            .form(&[
                ("user", "alice"),
                ("password", "the right password"),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], expected, "next={next}");
    }
    // A page asked for signed out comes back after signing in.
    let r = app
        .client
        .get(format!("{}/alerts/7?x=1", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/login?next=%2Falerts%2F7%3Fx%3D1");
    app.stop().await;
}

#[tokio::test]
async fn pages_carry_a_strict_policy_and_the_server_time_and_the_api_token_opens_no_page() {
    let (app, _dir, _sink) = spawn_app(CONFIG).await;
    set_password(&app, "alice", "the right password").await;
    let cookie = session_cookie(&login(&app, "alice", "the right password").await);
    let r = get(&app, "/alerts", &cookie).await;
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let timing = r.headers()["server-timing"].to_str().unwrap();
    assert!(timing.starts_with("app;dur="), "{timing}");
    // The admin token is for the API: a page still wants a session...
    let r = app
        .client
        .get(format!("{}/alerts", app.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    // ...and scripts keep working with it.
    let r = app
        .client
        .get(format!("{}/api/v1/alerts", app.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn bad_input_on_a_page_names_the_field_and_changes_nothing() {
    let (app, _dir, _sink) = spawn_app(CONFIG).await;
    set_password(&app, "alice", "the right password").await;
    let cookie = session_cookie(&login(&app, "alice", "the right password").await);
    for (path, field) in [
        ("/alerts?status=sleeping", "status"),
        ("/alerts?severity=dire", "severity"),
        ("/alerts?service=nope", "service"),
    ] {
        let r = get(&app, path, &cookie).await;
        assert_eq!(r.status(), 400, "{path}");
        assert!(
            r.text().await.unwrap().contains(&format!("{field}:")),
            "{path}"
        );
    }
    assert_eq!(get(&app, "/alerts/999", &cookie).await.status(), 404);
    assert_eq!(get(&app, "/people/nobody", &cookie).await.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn forms_posted_from_another_site_are_refused() {
    let (app, _dir, _sink) = spawn_app(CONFIG).await;
    set_password(&app, "alice", "the right password").await;
    let host = app.url.trim_start_matches("http://").to_string();
    let post_login = |origin: &'static str| {
        app.client
            .post(format!("{}/login", app.url))
            .header("origin", origin)
            .form(&[("user", "alice"), ("password", "the right password")])
            .send()
    };
    for origin in ["https://evil.example.com", "null"] {
        let r = post_login(origin).await.unwrap();
        assert_eq!(r.status(), 403, "{origin}");
        assert!(!r.headers().contains_key("set-cookie"));
    }
    // The browser's own origin is fine.
    let r = app
        .client
        .post(format!("{}/login", app.url))
        .header("origin", format!("http://{host}"))
        .form(&[("user", "alice"), ("password", "the right password")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cookie = session_cookie(&r);
    // A signed-in form from another site is refused even with the token.
    let csrf = csrf_of(&app, &cookie).await;
    let r = app
        .client
        .post(format!("{}/logout", app.url))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example.com")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        get(&app, "/alerts", &cookie).await.status(),
        200,
        "still signed in"
    );
    app.stop().await;
}

/// A form's result reaches the next page in a cookie, once; a link with
/// text in its query string cannot make a Firebell page say something.
#[tokio::test]
async fn a_forms_result_is_shown_once_and_no_link_can_forge_one() {
    let (app, _dir, _sink) = spawn_app(CONFIG).await;
    set_password(&app, "alice", "the right password").await;
    let cookie = session_cookie(&login(&app, "alice", "the right password").await);
    let page = get(&app, "/alerts?done=Call+555-0100+now", &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("555-0100"), "a link's text is not shown");
    let csrf = csrf_of(&app, &cookie).await;
    let r = app
        .client
        .post(format!("{}/alerts/answer", app.url))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("action", "acknowledge")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/alerts");
    let flash = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert!(flash.starts_with("firebell_flash="), "{flash}");
    let both = format!("{cookie}; {flash}");
    let r = get(&app, "/alerts", &both).await;
    let cleared = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cleared.contains("firebell_flash=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert!(r.text().await.unwrap().contains("Nothing selected."));
}
