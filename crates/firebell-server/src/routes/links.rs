//! One-click acknowledge/resolve links from pages (`firebell_core::links`).
//!
//! `GET /links/alerts/{id}/{action}?token=…` only shows a small confirmation
//! page, because mail scanners and link previews fetch every URL in a
//! message; its one button POSTs to the same URL, which acts through
//! `Engine::respond` as `link:<user>` (the user the page went to, from the
//! token), so the timeline says who. A bad, expired or misplaced token gets a
//! plain page saying so, with a 4xx status, and changes nothing.

use crate::Shared;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use firebell_core::alert::{Alert, AlertId, AlertStatus};
use firebell_core::escalation::Response as Answer;
use firebell_core::links::{LINK_PATH, LinkAction, LinkClaim, LinkError, LinkSigner};
use firebell_engine::EngineError;
use firebell_store::Store;
use serde::Deserialize;

#[derive(Deserialize)]
pub(crate) struct TokenQuery {
    token: Option<String>,
}

/// An HTML answer: a title, a paragraph, and maybe the confirm button.
struct Page {
    status: StatusCode,
    title: String,
    message: String,
    /// `(button label, form action)`.
    button: Option<(String, String)>,
}

impl Page {
    fn new(status: StatusCode, title: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            title: title.into(),
            message: message.into(),
            button: None,
        }
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let form = match &self.button {
            Some((label, action)) => format!(
                "<form method=\"post\" action=\"{}\"><button type=\"submit\">{}</button></form>\n",
                escape(action),
                escape(label)
            ),
            None => String::new(),
        };
        let body = format!(
            "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta name=\"robots\" content=\"noindex\">\n<title>{title} · Firebell</title>\n\
             <style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}}\
             button{{font-size:1.1rem;padding:.6rem 1.4rem}}</style>\n</head>\n<body>\n\
             <h1>{title}</h1>\n<p>{message}</p>\n{form}</body>\n</html>\n",
            title = escape(&self.title),
            message = escape(&self.message),
        );
        (
            self.status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
                // The token is in the URL: never send it on as a Referer.
                (header::REFERRER_POLICY, "no-referrer"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
                ),
                (header::HeaderName::from_static("x-robots-tag"), "noindex"),
            ],
            body,
        )
            .into_response()
    }
}

/// HTML-escapes text for element content and quoted attributes.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn describe(alert: &Alert) -> String {
    format!(
        "Alert #{} on {}: {} [{}], status {}.",
        alert.id,
        alert.service,
        firebell_core::render::one_line(&alert.summary),
        alert.severity.as_str().to_uppercase(),
        alert.status,
    )
}

/// The alert and the token's claim, or the page that says why not.
async fn check<S: Store>(
    state: &Shared<S>,
    id: &str,
    action: &str,
    token: Option<&str>,
) -> Result<(Alert, LinkClaim), Page> {
    let not_found = || {
        Page::new(
            StatusCode::NOT_FOUND,
            "Link not found",
            "This is not a Firebell alert link.",
        )
    };
    let action: LinkAction = action.parse().map_err(|_| not_found())?;
    let id: AlertId = id.parse().map_err(|_| not_found())?;
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(Page::new(
            StatusCode::BAD_REQUEST,
            "Link incomplete",
            "This link has no token. Open the whole link from the message; some mail programs cut long links.",
        ));
    };
    let config = state.engine.config();
    let Some(signer) = LinkSigner::from_config(&config) else {
        return Err(Page::new(
            StatusCode::NOT_FOUND,
            "Links are off",
            "One-click links are not enabled on this server (set server.link_secret).",
        ));
    };
    let claim = signer
        .verify(token, id, &action, state.engine.now())
        .map_err(|e| {
            tracing::info!(alert_id = id, %action, error = %e, "action link refused");
            let (status, title) = match e {
                LinkError::Expired(_) => (StatusCode::GONE, "Link expired"),
                LinkError::Invalid | LinkError::OtherAlert | LinkError::OtherAction => {
                    (StatusCode::FORBIDDEN, "Link not valid")
                }
            };
            Page::new(
                status,
                title,
                format!("Nothing was changed: {e}. Use the API or the CLI to answer the alert."),
            )
        })?;
    if !config.users.contains_key(&claim.user) {
        return Err(Page::new(
            StatusCode::FORBIDDEN,
            "Link not valid",
            format!(
                "Nothing was changed: this link was sent to {:?}, who is no longer a configured user.",
                claim.user
            ),
        ));
    }
    let alert = state
        .engine
        .store()
        .get_alert(id)
        .await
        .map_err(|e| {
            tracing::error!(alert_id = id, error = %e, "action link: cannot read the alert");
            Page::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again",
                "Storage is unavailable; nothing was changed. Try again in a moment.",
            )
        })?
        .ok_or_else(|| {
            Page::new(
                StatusCode::NOT_FOUND,
                "No such alert",
                format!("There is no alert #{id}."),
            )
        })?;
    Ok((alert, claim))
}

/// The page for an alert already in the state the link would put it in, or
/// past it (an acknowledge link on a resolved alert).
fn already(alert: &Alert, action: &LinkAction, status: StatusCode) -> Option<Page> {
    let done = match action {
        LinkAction::Acknowledge => alert.status != AlertStatus::Triggered,
        LinkAction::Resolve | LinkAction::Run(_) => alert.status == AlertStatus::Resolved,
    };
    done.then(|| {
        Page::new(
            status,
            format!("Already {}", alert.status),
            format!(
                "Alert #{} is already {}; nothing was changed. {}",
                alert.id,
                alert.status,
                describe(alert)
            ),
        )
    })
}

/// `GET`: shows the alert and a button; changes nothing.
pub(crate) async fn confirm<S: Store>(
    State(state): State<Shared<S>>,
    Path((id, action)): Path<(String, String)>,
    Query(q): Query<TokenQuery>,
) -> Response {
    let (alert, claim) = match check(&state, &id, &action, q.token.as_deref()).await {
        Ok(v) => v,
        Err(page) => return page.into_response(),
    };
    if let Some(page) = already(&alert, &claim.action, StatusCode::OK) {
        return page.into_response();
    }
    let verb = match &claim.action {
        LinkAction::Acknowledge => "Acknowledge".to_string(),
        LinkAction::Resolve => "Resolve".to_string(),
        LinkAction::Run(id) => {
            let config = state.engine.config();
            match config.actions.find(&alert, id) {
                Some(a) => format!("Run \"{}\" on", a.label_for(&alert)),
                None => {
                    return Page::new(
                        StatusCode::NOT_FOUND,
                        "No such action",
                        format!(
                            "Alert #{} offers no action {id:?} now; nothing was changed.",
                            alert.id
                        ),
                    )
                    .into_response();
                }
            }
        }
    };
    let mut page = Page::new(
        StatusCode::OK,
        format!("{verb} alert #{}?", alert.id),
        format!("{} You are answering as {}.", describe(&alert), claim.user),
    );
    // The token verified, so it is URL-safe as it is.
    let form_action = format!(
        "{LINK_PATH}/{}/{}?token={}",
        alert.id,
        claim.action,
        q.token.as_deref().unwrap_or_default()
    );
    page.button = Some((format!("{verb} alert #{}", alert.id), form_action));
    page.into_response()
}

/// `POST`: acts, once.
pub(crate) async fn act<S: Store>(
    State(state): State<Shared<S>>,
    Path((id, action)): Path<(String, String)>,
    Query(q): Query<TokenQuery>,
) -> Response {
    let (alert, claim) = match check(&state, &id, &action, q.token.as_deref()).await {
        Ok(v) => v,
        Err(page) => return page.into_response(),
    };
    if let Some(page) = already(&alert, &claim.action, StatusCode::CONFLICT) {
        return page.into_response();
    }
    let who = format!("link:{}", claim.user);
    let answer = match &claim.action {
        LinkAction::Acknowledge => Answer::Accept,
        LinkAction::Resolve => Answer::Resolve,
        LinkAction::Run(id) => return run(&state, &alert, id, &claim.user).await,
    };
    match state.engine.respond(alert.id, &who, answer).await {
        Ok(after) => {
            tracing::info!(alert_id = alert.id, action = %claim.action, user = ?claim.user, "action link used");
            Page::new(
                StatusCode::OK,
                format!("Alert #{} {}", after.id, claim.action.past()),
                format!(
                    "Alert #{} is now {} by {}. {}",
                    after.id,
                    claim.action.past(),
                    claim.user,
                    describe(&after)
                ),
            )
            .into_response()
        }
        Err(EngineError::Conflict(m)) => {
            Page::new(StatusCode::CONFLICT, "Not changed", format!("{m}.")).into_response()
        }
        Err(EngineError::NotFound(_)) => Page::new(
            StatusCode::NOT_FOUND,
            "No such alert",
            format!("There is no alert #{}.", alert.id),
        )
        .into_response(),
        Err(e) => {
            tracing::error!(alert_id = alert.id, error = %e, "action link failed");
            Page::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again",
                "Storage is unavailable; nothing was changed. Try again in a moment.",
            )
            .into_response()
        }
    }
}

/// A run link's button: the action runs for the person the page went to,
/// with the same checks as a text or a key press.
async fn run<S: Store>(state: &Shared<S>, alert: &Alert, id: &str, user: &str) -> Response {
    let asker = firebell_engine::actions::Asker {
        user,
        via: "email",
        responder: false,
    };
    match state.engine.run_action(alert.id, id, asker).await {
        Ok(firebell_engine::actions::ActionOutcome::Started(m)) => {
            tracing::info!(alert_id = alert.id, action = id, user, "run link used");
            Page::new(StatusCode::OK, "Started", m).into_response()
        }
        Ok(firebell_engine::actions::ActionOutcome::Refused(why)) => {
            Page::new(StatusCode::CONFLICT, "Not run", why).into_response()
        }
        Err(e) => {
            tracing::error!(alert_id = alert.id, error = %e, "run link failed");
            Page::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again",
                "Storage is unavailable; nothing was changed. Try again in a moment.",
            )
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
    }
}
