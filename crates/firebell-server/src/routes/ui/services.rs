//! Escalation policies drawn as flows, and services with their
//! integrations (endpoint and an example request; a key is never shown),
//! open alerts and maintenance windows.

use super::{Nav, Posted, UiError, User, csrf, flash, flash_to, page, span, user_tz, when};
use crate::Shared;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use firebell_core::config::IntegrationKind;
use firebell_core::contacts::Role;
use firebell_core::escalation::{Policy, Target};
use firebell_store::{AlertFilter, MaintenanceFilter, NewMaintenance, Store};
use jiff::{SignedDuration, Timestamp};
use maud::{Markup, html};

fn target(t: &Target) -> Markup {
    html! {
        @match t {
            Target::User(u) => { "user " a href=(format!("/people/{u}")) { (u) } },
            Target::Schedule(s) => { "on call in " a href=(format!("/schedules/{s}")) { (s) } },
        }
    }
}

/// A policy as a flow: steps → targets → wait → repeat N → exhausted.
pub(crate) fn policy_flow(p: &Policy) -> Markup {
    html! {
        ol.flow aria-label=(format!("Policy {}", p.id.as_str())) {
            @for (i, step) in p.steps.iter().enumerate() {
                li.step {
                    div.step-head { strong { "Step " (i + 1) } }
                    p.targets {
                        "Page "
                        @for (k, t) in step.targets.iter().enumerate() {
                            @if k > 0 { ", " }
                            (target(t))
                        }
                    }
                }
                li.wait aria-hidden="true" { "↓ wait " (span(step.wait)) }
            }
            @if p.repeat > 1 {
                li.step.repeat { "↺ Repeat from step 1 — " (p.repeat) " rounds in all" }
            }
            li.step.exhausted { strong { "Exhausted" } " — nobody answered; the alert stays open" }
        }
    }
}

/// `GET /policies`.
pub(crate) async fn policies<S: Store>(user: User, State(state): State<Shared<S>>) -> Response {
    let config = state.engine.config();
    let body = html! {
        h1 { "Escalation policies" }
        @for (id, p) in &config.policies {
            section.card id=(format!("policy-{id}")) {
                h2 { (id) }
                p.meta {
                    "Used by: "
                    @let users: Vec<&String> = config.services.iter().filter(|(_, s)| s.policy == *id).map(|(sid, _)| sid).collect();
                    @if users.is_empty() { "no service" }
                    @for (i, s) in users.iter().enumerate() {
                        @if i > 0 { ", " }
                        a href=(format!("/services/{s}")) { (s) }
                    }
                }
                (policy_flow(p))
            }
        }
    };
    page("Policies", &user, Nav::Policies, body).into_response()
}

/// `GET /services`.
pub(crate) async fn services<S: Store>(
    user: User,
    State(state): State<Shared<S>>,
) -> Result<Response, UiError> {
    let config = state.engine.config();
    let now = state.engine.now();
    let active = state
        .engine
        .store()
        .maintenance_windows(MaintenanceFilter {
            service: None,
            active_at: Some(now),
            limit: 500,
        })
        .await?;
    let body = html! {
        h1 { "Services" }
        div.scroll tabindex="0" role="region" aria-label="Table, scrolls sideways" {
            table {
                thead { tr { th scope="col" { "Service" } th scope="col" { "Policy" } th scope="col" { "Integrations" } th scope="col" { "Maintenance" } } }
                tbody {
                    @for (id, s) in &config.services {
                        tr {
                            td { a href=(format!("/services/{id}")) { (s.name) } }
                            td { a href=(format!("/policies#policy-{}", s.policy)) { (s.policy) } }
                            td {
                                @if s.integrations.is_empty() { "—" }
                                @else { (s.integrations.iter().map(|i| i.kind.as_str()).collect::<Vec<_>>().join(", ")) }
                            }
                            td { @if active.iter().any(|w| w.service == *id) { span.badge.st-acknowledged { "in maintenance" } } @else { "—" } }
                        }
                    }
                }
            }
        }
    };
    Ok(page("Services", &user, Nav::Services, body).into_response())
}

/// Where an integration of `kind` sends, and an example request.
fn endpoint(kind: IntegrationKind, base: &str, name: &str) -> (String, String) {
    let key = "$FIREBELL_KEY";
    match kind {
        IntegrationKind::Generic => (
            format!("{base}/api/v1/events"),
            format!(
                "curl -X POST {base}/api/v1/events \\\n  -H \"Authorization: Bearer {key}\" -H 'Content-Type: application/json' \\\n  -d '{{\"action\":\"trigger\",\"dedup_key\":\"disk-web1\",\"summary\":\"Disk full on web1\",\"severity\":\"critical\"}}'"
            ),
        ),
        IntegrationKind::Alertmanager => (
            format!("{base}/api/v2/alerts"),
            format!(
                "# alertmanager.yml\nreceivers:\n  - name: firebell\n    webhook_configs:\n      - url: {base}/hooks/alertmanager\n        http_config:\n          authorization: {{ credentials: {key} }}"
            ),
        ),
        IntegrationKind::Pagerduty => (
            format!("{base}/v2/enqueue"),
            format!(
                "curl -X POST {base}/v2/enqueue -H 'Content-Type: application/json' \\\n  -d '{{\"routing_key\":\"{key}\",\"event_action\":\"trigger\",\"payload\":{{\"summary\":\"Disk full\",\"source\":\"web1\",\"severity\":\"critical\"}}}}'"
            ),
        ),
        IntegrationKind::Vtm => (
            format!("{base}/api/v1/vtm"),
            format!(
                "curl -X POST {base}/api/v1/vtm -H \"Authorization: Bearer {key}\" --data-binary @event.txt"
            ),
        ),
        IntegrationKind::Heartbeat => (
            format!("{base}/api/v1/heartbeat/<key>"),
            format!(
                "curl -X POST {base}/api/v1/heartbeat -H \"Authorization: Bearer {key}\"   # heartbeat {name}"
            ),
        ),
        IntegrationKind::Sns => (
            format!("{base}/hooks/sns/<key>"),
            "Subscribe the HTTPS endpoint to the SNS topic; Firebell confirms the subscription."
                .to_string(),
        ),
    }
}

/// `GET /services/{id}`.
pub(crate) async fn service<S: Store>(
    user: User,
    State(state): State<Shared<S>>,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let config = state.engine.config();
    let s = config
        .services
        .get(&id)
        .ok_or_else(|| UiError::not_found(format!("No service named {id:?}.")))?;
    let now = state.engine.now();
    let tz = user_tz(&state, &user);
    let open = state
        .engine
        .store()
        .list_alerts(AlertFilter {
            open: true,
            service: Some(id.clone()),
            limit: 20,
            ..Default::default()
        })
        .await?;
    let windows = state
        .engine
        .store()
        .maintenance_windows(MaintenanceFilter {
            service: Some(id.clone()),
            active_at: None,
            limit: 50,
        })
        .await?;
    let base = &config.server.public_url;
    let local = |t: Timestamp| {
        t.to_zoned(tz.clone())
            .strftime("%Y-%m-%dT%H:%M")
            .to_string()
    };
    let body = html! {
        p.crumbs { a href="/services" { "← Services" } }
        h1 { (s.name) }
        (flash(user.flash.as_deref()))
        p.meta { "Policy " a href=(format!("/policies#policy-{}", s.policy)) { (s.policy) }
            @if let Some(g) = s.group_window { " · groups alerts for " (span(g)) }
            @if let Some(a) = s.ack_timeout { " · acknowledgements time out after " (span(a)) }
            @if let Some(a) = s.auto_resolve { " · resolves alerts quiet for " (span(a)) } }
        h2 { "Integrations" }
        @if s.integrations.is_empty() {
            @if s.id.as_str() == firebell_core::config::SELF_SERVICE {
                p { "None: Firebell opens this service's alerts itself, about its own troubles (" code { "[self_alerts]" } " in the configuration)." }
            } @else {
                p { "None." }
            }
        }
        @for i in &s.integrations {
            @let (url, example) = endpoint(i.kind, base, &i.name);
            section.card {
                h3 { (i.name) " " span.badge { (i.kind.as_str()) } }
                p { "Endpoint: " code { (url) } }
                p.hint { "The key was shown when it was made and lives in the configuration; it is never shown here. Put it in " code { "$FIREBELL_KEY" } "." }
                pre.copy { code { (example) } }
            }
        }
        h2 { "Open alerts" }
        @if open.is_empty() { p { "None." } }
        ul {
            @for a in &open {
                li { a href=(format!("/alerts/{}", a.id)) { "#" (a.id) " " (a.summary) } " (" (a.status.as_str()) ")" }
            }
        }
        h2 { "Maintenance" }
        @if windows.is_empty() { p { "No maintenance windows." } }
        @else {
            div.scroll tabindex="0" role="region" aria-label="Table, scrolls sideways" {
                table {
                    thead { tr { th scope="col" { "From" } th scope="col" { "To" } th scope="col" { "By" } th scope="col" { "Comment" } th scope="col" { span.visually-hidden { "End" } } } }
                    tbody {
                        @for w in &windows {
                            tr {
                                td { (when(w.starts_at, &tz)) } td { (when(w.ends_at, &tz)) } td { (w.created_by) } td { (w.comment.as_deref().unwrap_or("")) }
                                td {
                                    @if w.ends_at > now && user.can_respond() {
                                        form method="post" action=(format!("/maintenance/{}/end", w.id)) {
                                            (csrf(&user)) button type="submit" { "End now" }
                                        }
                                    } @else if w.ends_at <= now { "ended" } @else { "active" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if user.can_respond() {
            h3 { "Start a maintenance window" }
            form.stack method="post" action=(format!("/services/{id}/maintenance")) {
                (csrf(&user))
                label for="m-start" { "Start (your time zone)" }
                input #m-start type="datetime-local" name="start" value=(local(now)) required;
                label for="m-end" { "End (your time zone)" }
                input #m-end type="datetime-local" name="end" value=(local(now + SignedDuration::from_hours(1))) required;
                label for="m-comment" { "Comment" }
                input #m-comment type="text" name="comment";
                button.primary type="submit" { "Start maintenance" }
            }
        }
    };
    Ok(page(&s.name, &user, Nav::Services, body).into_response())
}

/// `POST /services/{id}/maintenance`: start, end (local, the person's
/// zone), comment.
pub(crate) async fn start_maintenance<S: Store>(
    State(state): State<Shared<S>>,
    Path(id): Path<String>,
    form: Posted,
) -> Result<Response, UiError> {
    form.user.require(Role::Responder)?;
    if !state.engine.config().services.contains_key(&id) {
        return Err(UiError::not_found(format!("No service named {id:?}.")));
    }
    let tz = user_tz(&state, &form.user);
    let mut errors = Vec::new();
    let mut time = |field: &str| {
        let raw = form.fields.get(field).unwrap_or("");
        match firebell_core::schedule::parse_civil_datetime(raw) {
            Ok(dt) => firebell_core::schedule::resolve(&tz, dt),
            Err(e) => {
                errors.push(format!("{field}: {e}"));
                None
            }
        }
    };
    let (start, end) = (time("start"), time("end"));
    let (Some(starts_at), Some(ends_at)) = (start, end) else {
        return Err(UiError::bad_input(errors.join("; ")));
    };
    let created = state
        .engine
        .start_maintenance(NewMaintenance {
            service: id.clone(),
            starts_at,
            ends_at,
            created_by: form.user.id.clone(),
            comment: form.fields.get("comment").map(str::to_string),
        })
        .await?
        .map_err(|e| UiError::bad_input(format!("{}: {}", e.field, e.message)))?;
    tracing::info!(service = %id, window = created.id, user = %form.user.id, "maintenance started in the web UI");
    Ok(flash_to(
        &format!("/services/{id}"),
        "Maintenance window saved.",
    ))
}

/// `POST /maintenance/{id}/end`.
pub(crate) async fn end_maintenance<S: Store>(
    State(state): State<Shared<S>>,
    Path(wid): Path<String>,
    form: Posted,
) -> Result<Response, UiError> {
    form.user.require(Role::Responder)?;
    let n: i64 = wid
        .parse()
        .map_err(|_| UiError::not_found(format!("No maintenance window {wid:?}.")))?;
    let w = state
        .engine
        .end_maintenance(n)
        .await?
        .ok_or_else(|| UiError::not_found(format!("No maintenance window {n}.")))?;
    Ok(flash_to(
        &format!("/services/{}", w.service),
        "Maintenance ended.",
    ))
}
