//! Silences: the list, a form that shows which open alerts its matchers
//! hit before it is saved, and expiring one.

use super::{Nav, Posted, UiError, User, csrf, flash, flash_to, page, user_tz, when};
use crate::Shared;
use crate::routes::silences::{NewSilenceBody, op_error, own_request};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use firebell_core::alert::Alert;
use firebell_core::contacts::Role;
use firebell_core::silence::{Silence, SilenceState};
use firebell_store::Store;
use maud::{Markup, html};

/// What the form was filled with, to show it again.
#[derive(Default)]
struct Draft {
    matchers: String,
    duration: String,
    comment: String,
}

/// The matchers text split into matchers: one per line, or separated by
/// commas outside quotes.
fn split_matchers(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in text.chars() {
        match c {
            _ if escaped => {
                cur.push(c);
                escaped = false;
            }
            '\\' => {
                cur.push(c);
                escaped = true;
            }
            '"' => {
                cur.push(c);
                quoted = !quoted;
            }
            ',' | '\n' | '\r' if !quoted => {
                if !cur.trim().is_empty() {
                    out.push(cur.trim().to_string());
                }
                cur.clear();
            }
            _ => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

fn form(user: &User, draft: &Draft) -> Markup {
    html! {
        form.stack method="post" action="/silences" {
            (csrf(user))
            label for="s-matchers" { "Matchers, one per line (e.g. " code { "alertname=\"DiskFull\"" } ", " code { "instance=~\"web.*\"" } ")" }
            textarea #s-matchers name="matchers" rows="3" required { (draft.matchers) }
            label for="s-duration" { "For how long (e.g. 2h, 30m)" }
            input #s-duration type="text" name="duration" value=(if draft.duration.is_empty() { "2h" } else { &draft.duration }) required;
            label for="s-comment" { "Comment (why, for the people who see it)" }
            input #s-comment type="text" name="comment" value=(draft.comment);
            div.buttons {
                button type="submit" name="preview" value="1" { "Show matching alerts" }
                button.primary type="submit" { "Create silence" }
            }
        }
    }
}

fn list_page<S: Store>(
    state: &Shared<S>,
    user: &User,
    silences: &[Silence],
    done: Option<&str>,
    draft: &Draft,
    preview: Option<Result<Vec<Alert>, String>>,
) -> Markup {
    let now = state.engine.now();
    let tz = user_tz(state, user);
    let mut sorted: Vec<&Silence> = silences.iter().collect();
    sorted.sort_by_key(|s| {
        (
            s.state(now) == SilenceState::Expired,
            std::cmp::Reverse(s.ends_at),
        )
    });
    let body = html! {
        h1 { "Silences" }
        (flash(done))
        @if user.can_respond() {
            h2 { "New silence" }
            @if let Some(p) = &preview {
                @match p {
                    Ok(hits) => {
                        section.card.preview aria-live="polite" {
                            h3 { "These matchers hit " (hits.len()) " open alert" @if hits.len() != 1 { "s" } }
                            ul {
                                @for a in hits.iter().take(50) {
                                    li { a href=(format!("/alerts/{}", a.id)) { "#" (a.id) " " (a.summary) } " (" (a.service) ")" }
                                }
                            }
                            @if hits.is_empty() { p { "No open alert matches: check the label names and values." } }
                        }
                    },
                    Err(e) => { p.error role="alert" { (e) } },
                }
            }
            (form(user, draft))
        }
        h2 { "All silences" }
        @if sorted.is_empty() { p { "No silences." } }
        @else {
            div.scroll tabindex="0" role="region" aria-label="Table, scrolls sideways" {
                table {
                    thead { tr { th scope="col" { "State" } th scope="col" { "Matchers" } th scope="col" { "Ends" } th scope="col" { "By" } th scope="col" { "Comment" } th scope="col" { span.visually-hidden { "Expire" } } } }
                    tbody {
                        @for s in sorted {
                            @let st = s.state(now);
                            tr {
                                td { span class=(format!("badge sil-{}", st.as_str())) { (st.as_str()) } }
                                td { code { (s.matchers_text()) } }
                                td { (when(s.ends_at, &tz)) }
                                td { (s.created_by) }
                                td { (s.comment) }
                                td {
                                    @if st != SilenceState::Expired && user.can_respond() {
                                        form method="post" action=(format!("/silences/{}/expire", s.id)) {
                                            (csrf(user)) button type="submit" { "Expire" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page("Silences", user, Nav::Silences, body)
}

/// `GET /silences`.
pub(crate) async fn list<S: Store>(
    user: User,
    State(state): State<Shared<S>>,
) -> Result<Response, UiError> {
    let all = state.engine.list_silences(None).await?;
    Ok(list_page(
        &state,
        &user,
        &all,
        user.flash.as_deref(),
        &Draft::default(),
        None,
    )
    .into_response())
}

/// `POST /silences`: with `preview`, shows the open alerts the matchers
/// hit and saves nothing; else creates the silence.
pub(crate) async fn create<S: Store>(
    State(state): State<Shared<S>>,
    form: Posted,
) -> Result<Response, UiError> {
    form.user.require(Role::Responder)?;
    let f = &form.fields;
    let draft = Draft {
        matchers: f.get("matchers").unwrap_or("").to_string(),
        duration: f.get("duration").unwrap_or("").to_string(),
        comment: f.get("comment").unwrap_or("").to_string(),
    };
    let now = state.engine.now();
    let body = NewSilenceBody {
        matchers: split_matchers(&draft.matchers),
        duration: Some(draft.duration.clone()).filter(|d| !d.is_empty()),
        comment: Some(draft.comment.clone()),
        created_by: Some(form.user.id.clone()),
        ..Default::default()
    };
    let all = state.engine.list_silences(None).await?;
    let refuse = |msg: String| {
        (
            StatusCode::BAD_REQUEST,
            list_page(&state, &form.user, &all, None, &draft, Some(Err(msg))),
        )
            .into_response()
    };
    let req = match own_request(body, now) {
        Ok(r) => r,
        Err(errors) => {
            return Ok(refuse(
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ));
        }
    };
    if f.get("preview").is_some() {
        let probe = Silence {
            id: String::new(),
            matchers: req.matchers.clone(),
            starts_at: now,
            ends_at: req.ends_at,
            created_by: String::new(),
            comment: String::new(),
            updated_at: now,
            expire_on_resolve: false,
            service: None,
        };
        let hits: Vec<Alert> = state
            .engine
            .open_alerts(None)
            .await?
            .into_iter()
            .filter(|a| probe.matches(&a.service, &firebell_core::labels::match_labels(a)))
            .collect();
        return Ok(
            list_page(&state, &form.user, &all, None, &draft, Some(Ok(hits))).into_response(),
        );
    }
    match state.engine.create_silence(req).await {
        Ok(created) => {
            let mut msg = format!("Silence created: {}.", created.silence.matchers_text());
            for w in &created.warnings {
                msg.push_str(&format!(" Note: {w}."));
            }
            Ok(flash_to("/silences", &msg))
        }
        Err(e) => Ok(refuse(op_error(e, true).error)),
    }
}

/// `POST /silences/{id}/expire`.
pub(crate) async fn expire<S: Store>(
    State(state): State<Shared<S>>,
    Path(id): Path<String>,
    form: Posted,
) -> Result<Response, UiError> {
    form.user.require(Role::Responder)?;
    state
        .engine
        .expire_silence(&id, None)
        .await
        .map_err(|e| UiError::from(op_error(e, true)))?;
    tracing::info!(silence = %id, user = %form.user.id, "silence expired in the web UI");
    Ok(flash_to("/silences", "Silence expired."))
}
