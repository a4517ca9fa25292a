//! On call: who is on call now and next for every schedule; a schedule's
//! layers and final rotation drawn over a week or a month with overrides
//! marked; overrides made from the page ("take this shift", or any span).

use super::{Nav, Posted, UiError, User, csrf, flash, flash_to, page, user_tz, when};
use crate::Shared;
use crate::routes::schedules::overrides_in;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use firebell_core::contacts::Role;
use firebell_core::schedule::{
    Override, OverrideKind, Schedule, Shift, parse_civil_datetime, resolve,
};
use firebell_store::{Store, StoredOverride};
use jiff::{SignedDuration, Timestamp};
use maud::{Markup, html};
use serde::Deserialize;

fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}

/// Overrides of `id` intersecting [from, to), as stored (who made them).
async fn stored_overrides<S: Store>(
    state: &Shared<S>,
    id: &str,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<StoredOverride>, UiError> {
    Ok(state
        .engine
        .store()
        .overrides(Some(id.to_string()), from, to)
        .await?)
}

fn names(users: &[String]) -> Markup {
    html! {
        @if users.is_empty() { span.nobody { "nobody" } }
        @for (i, u) in users.iter().enumerate() {
            @if i > 0 { ", " }
            a href=(format!("/people/{u}")) { (u) }
        }
    }
}

/// `GET /oncall`: every schedule, who is on call now and who is next.
pub(crate) async fn overview<S: Store>(
    user: User,
    State(state): State<Shared<S>>,
) -> Result<Response, UiError> {
    let config = state.engine.config();
    let now = state.engine.now();
    let tz = user_tz(&state, &user);
    let ovs = overrides_in(&state, None, now, now + days(60)).await?;
    let mut rows = Vec::new();
    for (id, s) in &config.schedules {
        let ovs = ovs.get(id).map(Vec::as_slice).unwrap_or(&[]);
        let shifts = s.shifts(now, now + days(60), ovs);
        let current = shifts.first().cloned();
        let next = shifts.get(1).cloned();
        rows.push((id.clone(), current, next));
    }
    let body = html! {
        h1 { "On call" }
        (flash(user.flash.as_deref()))
        @if rows.is_empty() { p { "No schedules are configured." } }
        div.cards {
            @for (id, current, next) in &rows {
                section.card {
                    h2 { a href=(format!("/schedules/{id}")) { (id) } }
                    p { "Now: " strong { (names(current.as_ref().map(|s| s.users.as_slice()).unwrap_or(&[]))) }
                        @if let Some(c) = current { " until " time datetime=(c.end) { (when(c.end, &tz)) } } }
                    @if let Some(n) = next {
                        p { "Next: " (names(&n.users)) " from " time datetime=(n.start) { (when(n.start, &tz)) } }
                    }
                }
            }
        }
    };
    Ok(page("On call", &user, Nav::OnCall, body).into_response())
}

#[derive(Deserialize)]
pub(crate) struct ScheduleQuery {
    view: Option<String>,
    /// Start of the drawing, a date (`2026-03-02`) in the schedule's zone.
    from: Option<String>,
}

/// A compact time for tables: "Mon 07 Dec 09:00".
fn short(t: Timestamp, tz: &jiff::tz::TimeZone) -> String {
    t.to_zoned(tz.clone())
        .strftime("%a %d %b %H:%M")
        .to_string()
}

/// A stable colour slot (0..8) for a person, so each keeps a colour.
fn slot(user: &str) -> usize {
    user.bytes()
        .fold(7usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize))
        % 8
}

/// One row of the drawing: spans with their people, and whether an
/// override made them.
struct Row {
    label: String,
    spans: Vec<(Timestamp, Timestamp, Vec<String>, bool)>,
}

/// The rotation drawn as an SVG: one row per layer and the final row,
/// day lines with dates, each span a bar named by its people.
fn drawing(
    rows: &[Row],
    from: Timestamp,
    to: Timestamp,
    now: Timestamp,
    tz: &jiff::tz::TimeZone,
    n_days: i64,
) -> Markup {
    let label_w = 110.0;
    let width = 1000.0;
    let row_h = 34.0;
    let top = 24.0;
    let height = top + row_h * rows.len() as f64 + 4.0;
    let total = to.duration_since(from).as_secs_f64();
    let x = |t: Timestamp| {
        label_w + (width - label_w) * (t.duration_since(from).as_secs_f64() / total).clamp(0.0, 1.0)
    };
    let day_labels: Vec<(f64, String)> = (0..n_days)
        .map(|d| {
            let t = from + days(d);
            (
                x(t),
                t.to_zoned(tz.clone())
                    .strftime(if n_days > 10 { "%d" } else { "%a %d" })
                    .to_string(),
            )
        })
        .collect();
    html! {
        svg.rotation viewBox=(format!("0 0 {width} {height}")) role="img" aria-label="Rotation drawn over time" {
            @for (dx, label) in &day_labels {
                line.day x1=(dx) x2=(dx) y1="18" y2=(height) {}
                text.daylabel x=(dx + 3.0) y="14" { (label) }
            }
            @if from <= now && now < to {
                line.now x1=(x(now)) x2=(x(now)) y1="18" y2=(height) {}
                text.nowlabel x=(x(now) + 3.0) y=(height - 2.0) { "now" }
            }
            @for (i, r) in rows.iter().enumerate() {
                @let y = top + row_h * i as f64;
                text.rowlabel x="4" y=(y + row_h / 2.0 + 5.0) { (r.label) }
                @for (s, e, users, ov) in &r.spans {
                    @let (x0, x1) = (x(*s), x(*e));
                    @if x1 - x0 > 0.5 {
                        @let cls = if users.is_empty() { "bar nobody".to_string() } else { format!("bar c{}{}", slot(&users[0]), if *ov { " override" } else { "" }) };
                        g {
                            title { (users.join(", ")) @if *ov { " (override)" } ": " (when(*s, tz)) " – " (when(*e, tz)) }
                            rect class=(cls) x=(x0 + 1.0) y=(y + 3.0) width=(x1 - x0 - 2.0) height=(row_h - 6.0) rx="4" {}
                            @if x1 - x0 > 40.0 && !users.is_empty() {
                                text.barlabel x=(x0 + 6.0) y=(y + row_h / 2.0 + 5.0) { (users.join(", ")) @if *ov { " ✎" } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /schedules/{id}?view=week|month&from=YYYY-MM-DD`.
pub(crate) async fn show<S: Store>(
    user: User,
    State(state): State<Shared<S>>,
    Path(id): Path<String>,
    Query(q): Query<ScheduleQuery>,
) -> Result<Response, UiError> {
    let config = state.engine.config();
    let s: &Schedule = config
        .schedules
        .get(&id)
        .ok_or_else(|| UiError::not_found(format!("No schedule named {id:?}.")))?;
    let tz = s.time_zone().clone();
    let now = state.engine.now();
    let month = q.view.as_deref() == Some("month");
    let n_days = if month { 30 } else { 7 };
    let start_date = match q.from.as_deref().filter(|f| !f.is_empty()) {
        Some(f) => f.parse::<jiff::civil::Date>().map_err(|_| {
            UiError::bad_input(format!("from: {f:?} is not a date such as 2026-03-02"))
        })?,
        None => now.to_zoned(tz.clone()).date(),
    };
    let from = start_date
        .to_zoned(tz.clone())
        .map_err(|e| UiError::bad_input(format!("from: {e}")))?
        .timestamp();
    let to = from + days(n_days);
    let stored = stored_overrides(&state, &id, from, to).await?;
    let ovs: Vec<Override> = stored.iter().map(|o| o.override_.clone()).collect();
    let finals = s.shifts(from, to, &ovs);
    let plain = s.shifts(from, to, &[]);
    let overridden = |sh: &Shift| {
        !plain
            .iter()
            .any(|p| p.start <= sh.start && sh.end <= p.end && p.users == sh.users)
    };
    let mut rows: Vec<Row> = s
        .layers()
        .iter()
        .enumerate()
        .map(|(i, l)| Row {
            label: if l.name.is_empty() {
                format!("Layer {}", i + 1)
            } else {
                l.name.clone()
            },
            spans: s
                .layer_shifts(i, from, to)
                .into_iter()
                .map(|ls| (ls.start, ls.end, vec![ls.user.clone()], false))
                .collect(),
        })
        .collect();
    rows.push(Row {
        label: "On call".into(),
        spans: finals
            .iter()
            .map(|sh| (sh.start, sh.end, sh.users.clone(), overridden(sh)))
            .collect(),
    });
    // Current and future overrides: listed below, and what the next
    // shifts and "on call now" are computed with.
    let future = stored_overrides(&state, &id, now, Timestamp::MAX).await?;
    let future_ovs: Vec<Override> = future.iter().map(|o| o.override_.clone()).collect();
    let upcoming: Vec<Shift> = s
        .shifts(now, now + days(14), &future_ovs)
        .into_iter()
        .filter(|sh| !sh.users.is_empty())
        .take(8)
        .collect();
    let feed = config.feed_token(&format!("schedule:{id}")).map(|t| {
        format!(
            "{}/feeds/schedules/{id}.ics?token={t}",
            config.server.public_url
        )
    });
    let my_feed = config.feed_token(&format!("user:{}", user.id)).map(|t| {
        format!(
            "{}/feeds/users/{}.ics?token={t}",
            config.server.public_url, user.id
        )
    });
    let nav_link =
        |date: jiff::civil::Date, view: &str| format!("/schedules/{id}?view={view}&from={date}");
    let view = if month { "month" } else { "week" };
    let prev = start_date
        .checked_sub(jiff::Span::new().days(n_days))
        .unwrap_or(start_date);
    let next = start_date
        .checked_add(jiff::Span::new().days(n_days))
        .unwrap_or(start_date);
    let can = user.can_respond();
    let on_now = s.on_call(now, &future_ovs);
    let local = |t: Timestamp| {
        t.to_zoned(tz.clone())
            .strftime("%Y-%m-%dT%H:%M")
            .to_string()
    };
    let body = html! {
        p.crumbs { a href="/oncall" { "← On call" } }
        h1 { "Schedule " (id) }
        (flash(user.flash.as_deref()))
        p.meta { "Time zone " (s.time_zone_name()) " · on call now: " strong { (names(&on_now)) } }
        nav.views aria-label="Period" {
            a href=(nav_link(prev, view)) { "← Earlier" }
            @if month { a href=(nav_link(start_date, "week")) { "Week" } strong { "Month" } }
            @else { strong { "Week" } a href=(nav_link(start_date, "month")) { "Month" } }
            a href=(nav_link(next, view)) { "Later →" }
        }
        div.scroll tabindex="0" role="region" aria-label="Rotation over time" { (drawing(&rows, from, to, now, &tz, n_days)) }
        p.legend { "Bars marked ✎ (dashed) are overrides. Times in " (s.time_zone_name()) "." }
        h2 { "Next shifts" }
        div.scroll tabindex="0" role="region" aria-label="Table, scrolls sideways" {
            table {
                thead { tr { th scope="col" { "From" } th scope="col" { "To" } th scope="col" { "On call" } @if can { th scope="col" { span.visually-hidden { "Take" } } } } }
                tbody {
                    @for sh in &upcoming {
                        tr {
                            td { (short(sh.start, &tz)) } td { (short(sh.end, &tz)) } td { (names(&sh.users)) }
                            @if can {
                                td {
                                    @if !sh.users.contains(&user.id) {
                                        form method="post" action=(format!("/schedules/{id}/overrides")) {
                                            (csrf(&user))
                                            input type="hidden" name="kind" value="replace";
                                            input type="hidden" name="from" value=(sh.users[0]);
                                            input type="hidden" name="to" value=(user.id);
                                            input type="hidden" name="start" value=(local(sh.start.max(now)));
                                            input type="hidden" name="end" value=(local(sh.end));
                                            button type="submit" { "Take this shift" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Overrides" }
        @if future.is_empty() { p { "No current or future overrides." } }
        @else {
            div.scroll tabindex="0" role="region" aria-label="Table, scrolls sideways" {
                table {
                    thead { tr { th scope="col" { "From" } th scope="col" { "To" } th scope="col" { "Change" } th scope="col" { "By" } @if can { th scope="col" { span.visually-hidden { "Delete" } } } } }
                    tbody {
                        @for o in &future {
                            tr {
                                td { (short(o.override_.start, &tz)) } td { (short(o.override_.end, &tz)) }
                                td { @match &o.override_.kind {
                                    OverrideKind::Add { user } => { (user) " joins" },
                                    OverrideKind::Remove { user } => { (user) " is off" },
                                    OverrideKind::Replace { from, to } => { (to) " replaces " (from) },
                                } }
                                td { (o.created_by) }
                                @if can {
                                    td {
                                        form method="post" action=(format!("/overrides/{}/delete", o.override_.id)) {
                                            (csrf(&user))
                                            input type="hidden" name="schedule" value=(id);
                                            button type="submit" { "Delete" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if can {
            h2 { "Create an override" }
            form.stack method="post" action=(format!("/schedules/{id}/overrides")) {
                (csrf(&user))
                label for="o-kind" { "Change" }
                select #o-kind name="kind" {
                    option value="replace" { "Someone takes over from someone" }
                    option value="add" { "Someone joins the on-call" }
                    option value="remove" { "Someone is off" }
                }
                label for="o-to" { "Who (takes over, joins or is off)" }
                select #o-to name="to" {
                    @for u in config.users.keys() { option value=(u) selected[*u == user.id] { (u) } }
                }
                label for="o-from" { "Takes over from (for a take-over)" }
                select #o-from name="from" {
                    @for u in config.users.keys() { option value=(u) selected[on_now.first() == Some(u)] { (u) } }
                }
                label for="o-start" { "Start (" (s.time_zone_name()) ")" }
                input #o-start type="datetime-local" name="start" value=(local(now)) required;
                label for="o-end" { "End (" (s.time_zone_name()) ")" }
                input #o-end type="datetime-local" name="end" value=(local(now + SignedDuration::from_hours(8))) required;
                button.primary type="submit" { "Create override" }
            }
        }
        h2 { "Calendar feeds" }
        ul {
            @if let Some(f) = &feed { li { a href=(f) { "This schedule (iCalendar)" } } }
            @if let Some(f) = &my_feed { li { a href=(f) { "Your shifts in every schedule (iCalendar)" } } }
            @if feed.is_none() { li { "Feeds are off: set " code { "[server] feed_secret" } "." } }
        }
    };
    Ok(page(&format!("Schedule {id}"), &user, Nav::OnCall, body).into_response())
}

/// `POST /schedules/{id}/overrides`: kind, to, from, start, end (local
/// date-times in the schedule's zone).
pub(crate) async fn add_override<S: Store>(
    State(state): State<Shared<S>>,
    Path(id): Path<String>,
    form: Posted,
) -> Result<Response, UiError> {
    form.user.require(Role::Responder)?;
    let config = state.engine.config();
    let s = config
        .schedules
        .get(&id)
        .ok_or_else(|| UiError::not_found(format!("No schedule named {id:?}.")))?;
    let f = &form.fields;
    let mut errors: Vec<String> = Vec::new();
    let mut person = |field: &str| -> String {
        match f.get(field) {
            Some(u) if config.users.contains_key(u) => u.to_string(),
            Some(u) => {
                errors.push(format!("{field}: no user named {u:?}"));
                String::new()
            }
            None => {
                errors.push(format!("{field}: missing"));
                String::new()
            }
        }
    };
    let kind = match f.get("kind") {
        Some("add") => Some(OverrideKind::Add { user: person("to") }),
        Some("remove") => Some(OverrideKind::Remove { user: person("to") }),
        Some("replace") => {
            let to = person("to");
            let from = person("from");
            Some(OverrideKind::Replace { from, to })
        }
        other => {
            errors.push(format!("kind: {other:?} is not add, remove or replace"));
            None
        }
    };
    let mut time = |field: &str| -> Option<Timestamp> {
        let raw = f.get(field).unwrap_or("");
        match parse_civil_datetime(raw) {
            Ok(dt) => resolve(s.time_zone(), dt),
            Err(e) => {
                errors.push(format!("{field}: {e}"));
                None
            }
        }
    };
    let start = time("start");
    let end = time("end");
    if let Some(OverrideKind::Replace { from, to }) = &kind
        && from == to
        && !from.is_empty()
    {
        errors.push("from: a take-over needs two different people".into());
    }
    let o = match (start, end, kind) {
        (Some(start), Some(end), Some(kind)) if errors.is_empty() => {
            Override::new(0, start, end, kind).map_err(|errs| {
                UiError::bad_input(
                    errs.iter()
                        .map(|e| format!("{}: {}", e.field, e.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })?
        }
        _ => return Err(UiError::bad_input(errors.join("; "))),
    };
    let stored = state
        .engine
        .store()
        .add_override(id.clone(), o, form.user.id.clone(), state.engine.now())
        .await?;
    tracing::info!(schedule = %id, override_id = stored.override_.id, user = %form.user.id, "override created in the web UI");
    Ok(flash_to(&format!("/schedules/{id}"), "Override created."))
}

/// `POST /overrides/{id}/delete`.
pub(crate) async fn delete_override<S: Store>(
    State(state): State<Shared<S>>,
    Path(oid): Path<String>,
    form: Posted,
) -> Result<Response, UiError> {
    form.user.require(Role::Responder)?;
    let n: i64 = oid
        .parse()
        .map_err(|_| UiError::not_found(format!("No override {oid:?}.")))?;
    let back_to = match form.fields.get("schedule") {
        Some(s) if state.engine.config().schedules.contains_key(s) => format!("/schedules/{s}"),
        _ => "/oncall".to_string(),
    };
    if !state.engine.store().delete_override(n).await? {
        return Err(UiError::not_found(format!("No override {n}.")));
    }
    tracing::info!(override_id = n, user = %form.user.id, "override deleted in the web UI");
    Ok(flash_to(&back_to, "Override deleted."))
}
