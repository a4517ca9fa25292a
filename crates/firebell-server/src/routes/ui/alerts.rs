//! The alert list (filters, live refresh, answering many at once) and the
//! alert page: what is wrong, the escalation drawn as a flow of steps with
//! what was sent to whom and what came back, the timeline, and the
//! buttons to answer.

use super::{
    Nav, Posted, UiError, User, ago, csrf, flash, flash_to, json_text, page, span, user_tz, when,
};
use crate::Shared;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use firebell_channels::redact_address;
use firebell_core::alert::{Alert, AlertId, AlertStatus, TimelineEntry, TimelineKind};
use firebell_core::contacts::Role;
use firebell_core::escalation::{Escalation, Phase, Response as Answer, Target};
use firebell_core::event::Severity;
use firebell_core::notification::{Notification, NotificationStatus};
use firebell_store::{AlertFilter, Store};
use maud::{Markup, html};
use serde::Deserialize;

/// Alerts one page of the list shows.
pub const LIST_PAGE: u32 = 50;

#[derive(Deserialize, Default)]
pub(crate) struct ListQuery {
    status: Option<String>,
    service: Option<String>,
    severity: Option<String>,
    q: Option<String>,
    before: Option<AlertId>,
    /// `rows`: only the table's rows (the live refresh asks for these).
    fragment: Option<String>,
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn status_badge(s: AlertStatus) -> Markup {
    html! { span class=(format!("badge st-{}", s.as_str())) { (s.as_str()) } }
}

fn severity_badge(s: Severity) -> Markup {
    html! { span class=(format!("badge sev-{}", s.as_str())) { (s.as_str()) } }
}

fn rows(
    alerts: &[Alert],
    now: jiff::Timestamp,
    tz: &jiff::tz::TimeZone,
    selectable: bool,
) -> Markup {
    html! {
        @for a in alerts {
            tr data-id=(a.id) {
                @if selectable {
                    td.sel {
                        input type="checkbox" name="id" value=(a.id) form="bulk" aria-label=(format!("Select alert {}", a.id));
                    }
                }
                td.id { a href=(format!("/alerts/{}", a.id)) { "#" (a.id) } }
                td.st { (status_badge(a.status)) }
                td.sev { (severity_badge(a.severity)) }
                td.summary { a href=(format!("/alerts/{}", a.id)) { (a.summary) } }
                td.svc { (a.service) }
                td.when { time datetime=(a.created_at) title=(when(a.created_at, tz)) { (ago(a.created_at, now)) } }
                td.num { (a.count) }
            }
        }
        @if alerts.is_empty() {
            tr { td colspan="8" .empty { "No alerts match." } }
        }
    }
}

/// `GET /alerts`.
pub(crate) async fn list<S: Store>(
    user: User,
    State(state): State<Shared<S>>,
    Query(q): Query<ListQuery>,
) -> Result<Response, UiError> {
    let status_raw = nonempty(&q.status).unwrap_or("open");
    let (open, status) = match status_raw {
        "open" => (true, None),
        "all" => (false, None),
        s => (
            false,
            Some(
                s.parse::<AlertStatus>()
                    .map_err(|e| UiError::bad_input(format!("status: {e}")))?,
            ),
        ),
    };
    let severity = match nonempty(&q.severity) {
        None => None,
        Some(s) => Some(
            s.parse::<Severity>()
                .map_err(|e| UiError::bad_input(format!("severity: {e}")))?,
        ),
    };
    let config = state.engine.config();
    let service = nonempty(&q.service).map(str::to_string);
    if let Some(s) = &service
        && !config.services.contains_key(s)
    {
        return Err(UiError::bad_input(format!(
            "service: no service named {s:?}"
        )));
    }
    let text = nonempty(&q.q).map(str::to_string);
    let alerts = state
        .engine
        .store()
        .list_alerts(AlertFilter {
            status,
            open,
            service: service.clone(),
            severity,
            text: text.clone(),
            before: q.before,
            limit: LIST_PAGE,
        })
        .await?;
    let now = state.engine.now();
    let tz = user_tz(&state, &user);
    let selectable = user.can_respond();
    if q.fragment.as_deref() == Some("rows") {
        return Ok((
            [(header::CACHE_CONTROL, "no-store")],
            rows(&alerts, now, &tz, selectable),
        )
            .into_response());
    }
    let next = (alerts.len() == LIST_PAGE as usize)
        .then(|| alerts.last().map(|a| a.id))
        .flatten();
    let qs = |before: AlertId| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        s.append_pair("status", status_raw);
        if let Some(v) = &service {
            s.append_pair("service", v);
        }
        if let Some(v) = severity {
            s.append_pair("severity", v.as_str());
        }
        if let Some(v) = &text {
            s.append_pair("q", v);
        }
        s.append_pair("before", &before.to_string());
        s.finish()
    };
    let body = html! {
        h1 { "Alerts" }
        (flash(user.flash.as_deref()))
        form.filters method="get" action="/alerts" role="search" {
            div {
                label for="f-status" { "Status" }
                select #f-status name="status" {
                    @for s in ["open", "triggered", "acknowledged", "resolved", "all"] {
                        option value=(s) selected[s == status_raw] { (s) }
                    }
                }
            }
            div {
                label for="f-service" { "Service" }
                select #f-service name="service" {
                    option value="" { "any" }
                    @for id in config.services.keys() {
                        option value=(id) selected[service.as_deref() == Some(id.as_str())] { (id) }
                    }
                }
            }
            div {
                label for="f-severity" { "Severity" }
                select #f-severity name="severity" {
                    option value="" { "any" }
                    @for s in Severity::ALL {
                        option value=(s.as_str()) selected[severity == Some(s)] { (s.as_str()) }
                    }
                }
            }
            div.grow {
                label for="f-q" { "Text in summary or labels" }
                input #f-q type="search" name="q" value=[text.as_deref()];
            }
            div { button type="submit" { "Filter" } }
        }
        @if selectable {
            form #bulk .bulk method="post" action="/alerts/answer" {
                (csrf(&user))
                span { "Selected: " }
                button type="submit" name="action" value="acknowledge" { "Acknowledge" }
                button type="submit" name="action" value="resolve" { "Resolve" }
            }
        }
        div.scroll tabindex="0" role="region" aria-label="Table, scrolls sideways" {
            table.alerts data-live="/alerts" aria-live="polite" {
                caption.visually-hidden { "Alerts, newest first" }
                thead {
                    tr {
                        @if selectable { th scope="col" { span.visually-hidden { "Select" } } }
                        th scope="col" { "#" }
                        th scope="col" { "Status" }
                        th scope="col" { "Severity" }
                        th scope="col" { "Summary" }
                        th scope="col" { "Service" }
                        th scope="col" { "Opened" }
                        th scope="col" { "Count" }
                    }
                }
                tbody #alert-rows { (rows(&alerts, now, &tz, selectable)) }
            }
        }
        @if let Some(n) = next {
            p { a href=(format!("/alerts?{}", qs(n))) { "Older alerts →" } }
        }
    };
    Ok(page("Alerts", &user, Nav::Alerts, body).into_response())
}

fn parse_answer(action: &str) -> Option<Answer> {
    match action {
        "acknowledge" => Some(Answer::Accept),
        "resolve" => Some(Answer::Resolve),
        "decline" => Some(Answer::Decline),
        "escalate" => Some(Answer::Escalate),
        _ => None,
    }
}

fn past(a: Answer) -> &'static str {
    match a {
        Answer::Accept => "acknowledged",
        Answer::Resolve => "resolved",
        Answer::Decline => "declined",
        Answer::Escalate => "escalated",
    }
}

/// `POST /alerts/answer`: acknowledge or resolve the selected alerts.
pub(crate) async fn answer_many<S: Store>(
    State(state): State<Shared<S>>,
    form: Posted,
) -> Result<Response, UiError> {
    form.user.require(Role::Responder)?;
    let action = form.fields.get("action").unwrap_or("");
    let answer = match action {
        "acknowledge" | "resolve" => parse_answer(action),
        _ => None,
    }
    .ok_or_else(|| UiError::bad_input("action: choose acknowledge or resolve"))?;
    let ids: Vec<AlertId> = form
        .fields
        .all("id")
        .iter()
        .map(|v| {
            v.parse::<AlertId>()
                .map_err(|_| UiError::bad_input(format!("id: {v:?} is not an alert id")))
        })
        .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        return Ok(flash_to("/alerts", "Nothing selected."));
    }
    let mut done = 0;
    let mut skipped = 0;
    for id in &ids {
        match state.engine.respond(*id, &form.user.id, answer).await {
            Ok(_) => done += 1,
            Err(firebell_engine::EngineError::Conflict(_)) => skipped += 1,
            Err(e) => return Err(e.into()),
        }
    }
    let mut msg = format!(
        "{} {done} alert{}.",
        capital(past(answer)),
        if done == 1 { "" } else { "s" }
    );
    if skipped > 0 {
        msg.push_str(&format!(" {skipped} already resolved."));
    }
    Ok(flash_to("/alerts", &msg))
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// `POST /alerts/{id}/{action}`: one answer, recorded as the signed-in person.
pub(crate) async fn answer_one<S: Store>(
    State(state): State<Shared<S>>,
    Path((id, action)): Path<(String, String)>,
    form: Posted,
) -> Result<Response, UiError> {
    form.user.require(Role::Responder)?;
    let answer = parse_answer(&action).ok_or_else(|| UiError::not_found("No such action."))?;
    let id: AlertId = id
        .parse()
        .map_err(|_| UiError::not_found(format!("No alert {id:?}.")))?;
    state.engine.respond(id, &form.user.id, answer).await?;
    tracing::info!(alert = id, user = %form.user.id, action, "answered in the web UI");
    Ok(flash_to(
        &format!("/alerts/{id}"),
        &format!("You {} this alert.", past(answer)),
    ))
}

/// `POST /alerts/{id}/actions/{action}`: runs a runbook action as the
/// signed-in responder (one that asks for confirming needs its box ticked).
pub(crate) async fn run_one<S: Store>(
    State(state): State<Shared<S>>,
    Path((id, action)): Path<(String, String)>,
    form: Posted,
) -> Result<Response, UiError> {
    form.user.require(Role::Responder)?;
    let id: AlertId = id
        .parse()
        .map_err(|_| UiError::not_found(format!("No alert {id:?}.")))?;
    let alert = state
        .engine
        .store()
        .get_alert(id)
        .await?
        .ok_or_else(|| UiError::not_found(format!("No alert #{id}.")))?;
    let config = state.engine.config();
    let offered = config
        .actions
        .find(&alert, &action)
        .ok_or_else(|| UiError::not_found(format!("Alert #{id} offers no action {action:?}.")))?;
    if offered.confirm && form.fields.get("confirm") != Some("yes") {
        return Err(UiError::bad_input(
            "confirm: tick \"I mean it\" to run this action",
        ));
    }
    let asker = firebell_engine::actions::Asker {
        user: &form.user.id,
        via: "ui",
        responder: true,
    };
    let outcome = state.engine.run_action(id, &action, asker).await?;
    tracing::info!(alert = id, user = %form.user.id, action, "action asked for in the web UI");
    Ok(flash_to(&format!("/alerts/{id}"), outcome.message()))
}

/// What came back for a page, in words.
fn outcome(n: &Notification) -> (String, &'static str) {
    match n.status {
        NotificationStatus::Pending if n.attempts > 0 => {
            (format!("retrying ({} tries)", n.attempts), "warn")
        }
        NotificationStatus::Pending => ("waiting to send".into(), "info"),
        NotificationStatus::Sending => ("sending".into(), "info"),
        NotificationStatus::Delivered => (
            n.detail
                .clone()
                .map_or_else(|| "delivered".into(), |d| format!("delivered: {d}")),
            "ok",
        ),
        NotificationStatus::Failed => (
            n.last_error
                .clone()
                .map_or_else(|| "undelivered".into(), |e| format!("undelivered: {e}")),
            "bad",
        ),
        NotificationStatus::Cancelled => ("not needed (answered)".into(), "muted"),
    }
}

fn entry_at(e: &TimelineEntry, key: &str) -> Option<u64> {
    e.data.get(key).and_then(serde_json::Value::as_u64)
}

/// One step of one round: its targets, what was sent to each and what
/// came back, and the answers given while it ran.
#[allow(clippy::too_many_arguments)]
fn step_box(
    esc: &Escalation,
    round: u32,
    i: u32,
    step: &firebell_core::escalation::Step,
    pages: &[Notification],
    timeline: &[TimelineEntry],
    tz: &jiff::tz::TimeZone,
    alert: &Alert,
) -> Markup {
    let here = round == esc.loop_ && i == esc.step;
    let reached = round < esc.loop_
        || (round == esc.loop_ && (i < esc.step || (i == esc.step && esc.phase != Phase::Pending)));
    let step_pages: Vec<&Notification> = pages
        .iter()
        .filter(|n| n.step == i && n.loop_ == round)
        .collect();
    let answers: Vec<&TimelineEntry> = timeline
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                TimelineKind::Answered | TimelineKind::Acknowledged | TimelineKind::Resolved
            ) && entry_at(e, "step") == Some(u64::from(i) + 1)
                && entry_at(e, "loop") == Some(u64::from(round) + 1)
        })
        .collect();
    let class = format!(
        "step{}{}",
        if here { " current" } else { "" },
        if reached { "" } else { " later" }
    );
    html! {
        li class=(class) {
            div.step-head {
                strong { "Step " (i + 1) }
                " · round " (round + 1)
                @if let (true, Some(due)) = (here && esc.phase == Phase::Waiting && alert.status == AlertStatus::Triggered, esc.due_at) {
                    " · next step " time datetime=(due) { (when(due, tz)) }
                }
                @if !reached { " · not reached" }
            }
            p.targets {
                "Targets: "
                @for (k, t) in step.targets.iter().enumerate() {
                    @if k > 0 { ", " }
                    @match t {
                        Target::User(u) => a href=(format!("/people/{u}")) { (u) },
                        Target::Schedule(s) => { "on call in " a href=(format!("/schedules/{s}")) { (s) } },
                    }
                }
            }
            @if !step_pages.is_empty() {
                ul.pages {
                    @for n in &step_pages {
                        @let (said, tone) = outcome(n);
                        li {
                            span.who { (n.user) }
                            " · " span.kind { (n.channel) } " "
                            span.addr { (redact_address(&n.channel, &n.address)) }
                            " → " span class=(format!("out {tone}")) { (said) }
                        }
                    }
                }
            }
            @for e in &answers {
                p.answer { (e.message) }
            }
        }
    }
}

/// The escalation as a flow: each round's steps as boxes with their
/// targets, what was sent to each and what came back, joined by the wait.
fn flow(
    alert: &Alert,
    esc: Option<&Escalation>,
    policy: Option<&firebell_core::escalation::Policy>,
    pages: &[Notification],
    timeline: &[TimelineEntry],
    tz: &jiff::tz::TimeZone,
) -> Markup {
    let (Some(esc), Some(policy)) = (esc, policy) else {
        return html! { p { "No escalation policy runs for this alert." } };
    };
    let rounds = policy.repeat.max(1);
    let shown_rounds = (esc.loop_ + 1).min(rounds);
    html! {
           p.flow-meta {
               "Policy " a href=(format!("/policies#policy-{}", esc.policy)) { (esc.policy) }
               " · round " (esc.loop_ + 1) " of " (rounds)
               " · " (match esc.phase {
                   Phase::Pending => "next step pending",
                   Phase::Waiting => "waiting for an answer",
                   Phase::Stopped => "stopped",
                   Phase::Exhausted => "exhausted: nobody answered",
               })
           }
           @if shown_rounds > 1 {
               @let last = shown_rounds - 1;
               @let earlier: Vec<&Notification> = pages.iter().filter(|n| n.loop_ < last).collect();
               details.earlier {
                   summary {
    @if last == 1 { "Round 1: " } @else { "Rounds 1–" (last) ": " } (earlier.len()) " page" @if earlier.len() != 1 { "s" } " sent, "
                       (earlier.iter().filter(|n| n.status == NotificationStatus::Delivered).count()) " delivered, nobody took it"
                   }
                   ol.flow aria-label="Earlier rounds" {
                       @for round in 0..last {
                           @for (i, step) in policy.steps.iter().enumerate() {
                               (step_box(esc, round, i as u32, step, pages, timeline, tz, alert))
                           }
                       }
                   }
               }
           }
           ol.flow aria-label="Escalation" {
               @let round = shown_rounds - 1;
               @for (i, step) in policy.steps.iter().enumerate() {
                   (step_box(esc, round, i as u32, step, pages, timeline, tz, alert))
                   @if i + 1 < policy.steps.len() {
                       li.wait aria-hidden="true" { "↓ wait " (span(step.wait)) }
                   } @else if esc.phase != Phase::Exhausted && alert.status == AlertStatus::Triggered && round + 1 < rounds {
                       li.wait aria-hidden="true" { "↓ wait " (span(step.wait)) ", then round " (round + 2) " of " (rounds) }
                   }
               }
               @if esc.phase == Phase::Exhausted {
                   li.step.exhausted { strong { "Exhausted" } " — every step ran " (rounds) " time" @if rounds != 1 { "s" } "; nobody took it." }
               }
               @if alert.status == AlertStatus::Acknowledged {
                   li.step.taken { strong { "Taken" } " — acknowledged; paging stopped." }
               }
               @if alert.status == AlertStatus::Resolved {
                   li.step.taken { strong { "Resolved" } }
               }
           }
       }
}

/// `GET /alerts/{id}`.
pub(crate) async fn show<S: Store>(
    user: User,
    State(state): State<Shared<S>>,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let id: AlertId = id
        .parse()
        .map_err(|_| UiError::not_found(format!("No alert {id:?}.")))?;
    let store = state.engine.store();
    let alert = store
        .get_alert(id)
        .await?
        .ok_or_else(|| UiError::not_found(format!("No alert #{id}.")))?;
    let esc = store.escalation(id).await?;
    // An action's run is on the timeline, not among the escalation's pages.
    let (runs, pages): (Vec<Notification>, Vec<Notification>) = store
        .notifications(id)
        .await?
        .into_iter()
        .partition(|n| n.kind == firebell_core::notification::NotificationKind::Action);
    // Who asked for each non-repeatable action that ran (or is running).
    let ran = |action: &str| {
        runs.iter()
            .find(|n| {
                n.status != NotificationStatus::Failed
                    && firebell_engine::actions::run_action_id(n).as_deref() == Some(action)
            })
            .map(|n| n.user.clone())
    };
    let timeline = store
        .timeline_page(id, None, crate::routes::alerts::MAX_TIMELINE_PAGE)
        .await?
        .entries;
    let config = state.engine.config();
    let policy = esc.as_ref().and_then(|e| config.policies.get(&e.policy));
    let tz = user_tz(&state, &user);
    let now = state.engine.now();
    let open = alert.status != AlertStatus::Resolved;
    let body = html! {
        p.crumbs { a href="/alerts" { "← Alerts" } }
        h1.alert-title { (alert.summary) }
        (flash(user.flash.as_deref()))
        p.meta {
            "#" (alert.id) " " (status_badge(alert.status)) " " (severity_badge(alert.severity))
            " on " a href=(format!("/services/{}", alert.service)) { (alert.service) }
            " · opened " time datetime=(alert.created_at) title=(when(alert.created_at, &tz)) { (ago(alert.created_at, now)) }
            @if alert.count > 1 { " · seen " (alert.count) " times" }
        }
        @if user.can_respond() && open {
            div.actions {
                @if alert.status == AlertStatus::Triggered {
                    form method="post" action=(format!("/alerts/{id}/acknowledge")) {
                        (csrf(&user)) button.primary type="submit" { "Acknowledge" }
                    }
                    form method="post" action=(format!("/alerts/{id}/decline")) {
                        (csrf(&user)) button type="submit" { "Decline" }
                    }
                    form method="post" action=(format!("/alerts/{id}/escalate")) {
                        (csrf(&user)) button type="submit" { "Escalate now" }
                    }
                }
                form method="post" action=(format!("/alerts/{id}/resolve")) {
                    (csrf(&user)) button type="submit" { "Resolve" }
                }
            }
        }
        @let offered = config.actions.for_alert(&alert);
        @if user.can_respond() && open && !offered.is_empty() {
            section.runbook {
                h2 { "Runbook actions" }
                @for a in &offered {
                    @if let Some(who) = ran(&a.id).filter(|_| !a.repeatable) {
                        p.run { (a.label_for(&alert)) " " span.muted { "ran, asked by " (who) } }
                    } @else {
                    form.run method="post" action=(format!("/alerts/{id}/actions/{}", a.id)) {
                        (csrf(&user))
                        @if a.confirm {
                            label { input type="checkbox" name="confirm" value="yes" required; " I mean it" }
                            " "
                        }
                        button type="submit" { (a.label_for(&alert)) }
                        " "
                        span.muted { "key " (a.key) " on calls and texts" }
                    }
                    }
                }
            }
        }
        h2 { "Escalation" }
        (flow(&alert, esc.as_ref(), policy, &pages, &timeline, &tz))
        div.cols {
            section {
                h2 { "Labels" }
                @if alert.labels.is_empty() { p { "None." } }
                @else {
                    dl.kv {
                        @for (k, v) in &alert.labels { dt { (k) } dd { (v) } }
                    }
                }
            }
            section {
                h2 { "Details" }
                dl.kv {
                    dt { "Source" } dd { (alert.source) }
                    dt { "Dedup key" } dd { code { (alert.dedup_key.as_str()) } }
                    @for (k, v) in &alert.details {
                        dt { (k) }
                        dd {
                            @let text = json_text(v);
                            @if (text.starts_with("https://") || text.starts_with("http://")) && !text.contains(char::is_whitespace) {
                                a href=(text) rel="noopener noreferrer" { (text) }
                            } @else {
                                pre { (text) }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Timeline" }
        div.scroll tabindex="0" role="region" aria-label="Table, scrolls sideways" {
            table.timeline {
                thead { tr { th scope="col" { "When (" (tz.iana_name().unwrap_or("UTC")) ")" } th scope="col" { "What" } th scope="col" { "Details" } } }
                tbody {
                    @for e in &timeline {
                        tr {
                            td.nowrap { time datetime=(e.at) { (e.at.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M:%S")) } }
                            td { span class=(format!("tl tl-{}", e.kind.as_str())) { (e.kind.as_str()) } }
                            td { (e.message) }
                        }
                    }
                }
            }
        }
    };
    Ok(page(
        &format!("#{id} {}", alert.summary),
        &user,
        Nav::Alerts,
        body,
    )
    .into_response())
}
