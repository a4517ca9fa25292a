//! People (contact methods, notification rules, shifts, a test page with
//! the provider's answer) and the status page (configuration and reload,
//! channel health, nodes).

use super::{Nav, Posted, UiError, User, ago, csrf, flash, flash_to, page, user_tz, when};
use crate::Shared;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use firebell_channels::redact_address;
use firebell_core::contacts::Role;
use firebell_core::notification::NotificationStatus;
use firebell_store::Store;
use jiff::SignedDuration;
use maud::html;

/// `GET /people`.
pub(crate) async fn list<S: Store>(user: User, State(state): State<Shared<S>>) -> Response {
    let config = state.engine.config();
    let body = html! {
        h1 { "People" }
        div.scroll tabindex="0" role="region" aria-label="Table, scrolls sideways" {
            table {
                thead { tr { th scope="col" { "Name" } th scope="col" { "User" } th scope="col" { "Role" } th scope="col" { "Contact methods" } th scope="col" { "Time zone" } } }
                tbody {
                    @for (id, u) in &config.users {
                        tr {
                            td { a href=(format!("/people/{id}")) { (u.name) } }
                            td { code { (id) } }
                            td { (u.role.as_str()) }
                            td { (u.contacts.iter().map(|c| c.kind()).collect::<Vec<_>>().join(", ")) }
                            td { (u.timezone.as_str()) }
                        }
                    }
                }
            }
        }
    };
    page("People", &user, Nav::People, body).into_response()
}

/// `GET /people/{id}`.
pub(crate) async fn show<S: Store>(
    user: User,
    State(state): State<Shared<S>>,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let config = state.engine.config();
    let person = config
        .users
        .get(&id)
        .ok_or_else(|| UiError::not_found(format!("No user named {id:?}.")))?;
    let now = state.engine.now();
    let tz = user_tz(&state, &user);
    let until = now + SignedDuration::from_hours(24 * 14);
    let ovs = crate::routes::schedules::overrides_in(&state, None, now, until).await?;
    let mut shifts = Vec::new();
    for (sid, s) in &config.schedules {
        let ovs = ovs.get(sid).map(Vec::as_slice).unwrap_or(&[]);
        for sh in s.shifts(now, until, ovs) {
            if sh.users.contains(&id) {
                shifts.push((sid.clone(), sh));
            }
        }
    }
    shifts.sort_by_key(|(_, sh)| sh.start);
    let may_test = user.id == id || user.role >= Role::Admin;
    let body = html! {
        p.crumbs { a href="/people" { "← People" } }
        h1 { (person.name) }
        (flash(user.flash.as_deref()))
        p.meta { "User " code { (id) } " · role " (person.role.as_str()) " · time zone " (person.timezone.as_str()) }
        h2 { "Contact methods" }
        ol {
            @for c in &person.contacts {
                li { (c.kind()) " via " code { (c.channel()) } ": " (redact_address(c.channel(), &c.address())) }
            }
        }
        @if may_test {
            form method="post" action=(format!("/people/{id}/test")) {
                (csrf(&user))
                button type="submit" { "Send a test page to each" }
            }
        }
        h2 { "Notification rules" }
        @if person.notification_rules.is_empty() {
            p { "None: every page tries the contact methods in order." }
        } @else {
            ol {
                @for r in &person.notification_rules {
                    li {
                        @if r.severities.is_empty() { "any severity" } @else { (r.severities.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")) }
                        " · "
                        @if r.days.is_empty() { "any day" } @else { (r.days.iter().map(|d| format!("{d:?}")).collect::<Vec<_>>().join(", ")) }
                        @if let Some((a, b)) = r.hours { " · " (a.strftime("%H:%M")) "–" (b.strftime("%H:%M")) }
                        " → contacts "
                        (r.contacts.iter().map(|c| (c + 1).to_string()).collect::<Vec<_>>().join(", "))
                    }
                }
            }
        }
        h2 { "Shifts in the next two weeks" }
        @if shifts.is_empty() { p { "None." } }
        ul {
            @for (sid, sh) in &shifts {
                li { a href=(format!("/schedules/{sid}")) { (sid) } ": " (when(sh.start, &tz)) " – " (when(sh.end, &tz)) }
            }
        }
    };
    Ok(page(&person.name, &user, Nav::People, body).into_response())
}

/// `POST /people/{id}/test`: a test page to each contact method; the page
/// shows what each provider answered.
pub(crate) async fn test<S: Store>(
    State(state): State<Shared<S>>,
    Path(id): Path<String>,
    form: Posted,
) -> Result<Response, UiError> {
    if form.user.id != id {
        form.user.require(Role::Admin)?;
    }
    let targets = crate::routes::test_pages::user_targets(&state.engine.config(), &id)?;
    let sent = state.engine.send_tests(targets).await?;
    let tz = user_tz(&state, &form.user);
    let body = html! {
        p.crumbs { a href=(format!("/people/{id}")) { "← Back" } }
        h1 { "Test pages sent" }
        div.scroll tabindex="0" role="region" aria-label="Table, scrolls sideways" {
            table {
                thead { tr { th scope="col" { "Channel" } th scope="col" { "To" } th scope="col" { "Result" } th scope="col" { "Provider's answer" } } }
                tbody {
                    @for n in &sent {
                        tr {
                            td { (n.channel) }
                            td { (redact_address(&n.channel, &n.address)) }
                            td { @match n.status {
                                NotificationStatus::Delivered => span.out.ok { "delivered" },
                                NotificationStatus::Failed => span.out.bad { "failed" },
                                other => span.out.info { (other.as_str()) },
                            } }
                            td { (n.detail.as_deref().or(n.last_error.as_deref()).unwrap_or("")) }
                        }
                    }
                }
            }
        }
        p.hint { "Sent " (when(state.engine.now(), &tz)) "." }
    };
    Ok(page("Test pages", &form.user, Nav::People, body).into_response())
}

/// `GET /status`.
pub(crate) async fn status<S: Store>(
    user: User,
    State(state): State<Shared<S>>,
) -> Result<Response, UiError> {
    let config = state.engine.config();
    let now = state.engine.now();
    let tz = user_tz(&state, &user);
    let health = state.engine.channel_health();
    let nodes = state.engine.nodes().await?;
    let mut channels: Vec<String> = vec!["console".into(), "webhook".into()];
    channels.extend(config.channels.keys().cloned());
    let store_ok = state.engine.store().ping().await.is_ok();
    let body = html! {
        h1 { "Status" }
        (flash(user.flash.as_deref()))
        section.card {
            h2 { "Configuration" }
            p { (config.summary()) }
            p.meta { "Loaded from " code { (state.config_path.as_ref().map_or_else(|| "(none)".to_string(), |p| p.display().to_string())) }
                " · server started " (ago(state.started_at, now)) }
            @if let Some(m) = state.engine.config_mismatch() { p.error { "Configuration differs from other nodes: " (m) } }
            @if let Some(r) = state.last_reload() { p { "Last reload " (when(r.0, &tz)) ": " (r.1) } }
            @if user.role >= Role::Admin {
                form method="post" action="/status/reload" { (csrf(&user)) button type="submit" { "Reload configuration" } }
            }
        }
        section.card {
            h2 { "Store" }
            p { @if store_ok { span.out.ok { "answering" } } @else { span.out.bad { "not answering" } } }
        }
        h2 { "Channels" }
        div.scroll tabindex="0" role="region" aria-label="Table, scrolls sideways" {
            table {
                thead { tr { th scope="col" { "Channel" } th scope="col" { "Last success" } th scope="col" { "Last failure" } th scope="col" { "Last error" } } }
                tbody {
                    @for c in &channels {
                        @let h = health.get(c).cloned().unwrap_or_default();
                        tr {
                            td { (c) }
                            td { @if let Some(t) = h.last_success { (ago(t, now)) } @else { "—" } }
                            td { @if let Some(t) = h.last_failure { span.out.bad { (ago(t, now)) } } @else { "—" } }
                            td { (h.last_error.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
        p.hint { "Channel health is what this node saw since it started." }
        h2 { "Nodes" }
        div.scroll tabindex="0" role="region" aria-label="Table, scrolls sideways" {
            table {
                thead { tr { th scope="col" { "Node" } th scope="col" { "Version" } th scope="col" { "Last seen" } th scope="col" { "State" } } }
                tbody {
                    @for n in &nodes {
                        tr {
                            td { (n.record.name) @if n.this_node { " (this one)" } }
                            td { (n.record.version) }
                            td { (ago(n.record.last_seen, now)) }
                            td { @if n.lost { span.out.bad { "lost" } } @else if !n.same_config { span.out.warn { "other configuration" } } @else { span.out.ok { "up" } } }
                        }
                    }
                }
            }
        }
    };
    Ok(page("Status", &user, Nav::Status, body).into_response())
}

/// `POST /status/reload`: admins only.
pub(crate) async fn reload<S: Store>(
    State(state): State<Shared<S>>,
    form: Posted,
) -> Result<Response, UiError> {
    form.user.require(Role::Admin)?;
    match crate::reload_config(&state).await {
        Ok(summary) => Ok(flash_to("/status", &format!("Reloaded: {summary}"))),
        Err(errors) => Err(UiError::new(
            StatusCode::BAD_REQUEST,
            "Reload refused",
            format!(
                "The running configuration is kept. {}",
                errors
                    .0
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )),
    }
}
