//! Escalation semantics, as pure functions over a durable state record.
//!
//! The store keeps one [`Escalation`] per alert. The engine reads it, calls one
//! of the functions here, and writes the resulting [`Transition`] back under an
//! optimistic version check; so the decisions live here, in one place, and a
//! restart or another node continues from the stored state.
//!
//! - A step notifies all its targets at once.
//! - It ends when someone accepts (escalation stops), when every target has
//!   declined or could not be reached (next step at once), or when its wait
//!   elapses (next step).
//! - After the last step the list starts again, `repeat` times in total; then the
//!   escalation is `exhausted`.

use crate::alert::{AlertId, AlertStatus, TimelineEntry, TimelineKind};
use crate::contacts::User;
use crate::event::Severity;
use crate::notification::{NewNotification, NotificationId, NotificationKind};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::str::FromStr;

/// Who a step pages.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    User(String),
    /// Whoever is on call in the schedule when the step fires.
    Schedule(String),
}

impl FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some(("user", id)) if !id.is_empty() => Ok(Target::User(id.to_string())),
            Some(("schedule", id)) if !id.is_empty() => Ok(Target::Schedule(id.to_string())),
            Some((kind, _)) => Err(format!(
                "unknown target kind {kind:?} in {s:?}; this version supports user:ID and schedule:ID"
            )),
            None => Err(format!("{s:?} is not a target")),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::User(id) => write!(f, "user:{id}"),
            Target::Schedule(id) => write!(f, "schedule:{id}"),
        }
    }
}

impl Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Where an escalation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The current step has not fired yet; it fires at `due_at`.
    Pending,
    /// The current step has fired; at `due_at` the next one does.
    Waiting,
    /// Someone accepted, or the alert resolved: nothing more happens.
    Stopped,
    /// Every step ran `repeat` times and nobody accepted.
    Exhausted,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "pending",
            Phase::Waiting => "waiting",
            Phase::Stopped => "stopped",
            Phase::Exhausted => "exhausted",
        }
    }
}

impl FromStr for Phase {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(Phase::Pending),
            "waiting" => Ok(Phase::Waiting),
            "stopped" => Ok(Phase::Stopped),
            "exhausted" => Ok(Phase::Exhausted),
            other => Err(format!("unknown escalation phase {other:?}")),
        }
    }
}

/// How one target of the current step stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TargetOutcome {
    /// Being paged; no answer yet.
    Paging,
    Declined,
    /// Every contact method failed, or there was none.
    Unreachable,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TargetState {
    /// A user being paged (or, for a schedule with nobody on call, the
    /// schedule): `user:ID` or `schedule:ID`.
    #[schema(value_type = String)]
    pub target: Target,
    pub outcome: TargetOutcome,
    /// The policy target this one came from, when it was resolved from a
    /// schedule (`schedule:ops`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub id: crate::id::Id,
    /// How many times the step list runs in total.
    pub repeat: u32,
    pub steps: Vec<Step>,
    /// `on_exhausted = "policy:ID"`: when every round ran and nobody took
    /// the alert, the escalation goes on with this policy from its first
    /// step instead of ending. Chains are checked at load never to loop.
    pub on_exhausted: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub targets: Vec<Target>,
    pub wait: SignedDuration,
}

/// The durable escalation record of one alert.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    pub alert_id: AlertId,
    pub policy: String,
    pub phase: Phase,
    /// Index of the current step (0-based).
    pub step: u32,
    /// Index of the current pass over the step list (0-based).
    #[serde(rename = "loop")]
    pub loop_: u32,
    /// When the engine must look at this escalation next.
    pub due_at: Option<Timestamp>,
    /// The current step's targets and how each stands.
    pub targets: Vec<TargetState>,
    /// Bumped by the store on every write; writes name the version they read.
    pub version: i64,
    /// Why paging is held back (a silence, a maintenance window, an
    /// inhibiting alert), while it is; see [`hold`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
    /// How many times the escalation started again from the first step
    /// because an acknowledgement timed out; part of the pages' keys, so the
    /// new run pages anew.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retriggered: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Escalation {
    /// A fresh escalation whose first step fires at `now`.
    pub fn start(alert_id: AlertId, policy: &str, now: Timestamp) -> Self {
        Self {
            alert_id,
            policy: policy.to_string(),
            phase: Phase::Pending,
            step: 0,
            loop_: 0,
            due_at: Some(now),
            targets: Vec::new(),
            version: 0,
            held: None,
            retriggered: 0,
        }
    }

    pub fn is_active(&self) -> bool {
        matches!(self.phase, Phase::Pending | Phase::Waiting)
    }
}

/// A person's answer to a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Response {
    Accept,
    Decline,
    Resolve,
    Escalate,
}

impl Response {
    pub fn as_str(self) -> &'static str {
        match self {
            Response::Accept => "accept",
            Response::Decline => "decline",
            Response::Resolve => "resolve",
            Response::Escalate => "escalate",
        }
    }
}

/// What to write after a decision: the new escalation state (same version as
/// read; the store bumps it), pages to queue, timeline lines, and possibly a new
/// alert status (which also cancels the alert's pending pages).
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    pub escalation: Escalation,
    pub notifications: Vec<NewNotification>,
    pub timeline: Vec<TimelineEntry>,
    pub alert_status: Option<AlertStatus>,
    /// The failed page whose follow-up this transition is (see
    /// [`on_delivery_failed`]): the store clears that page's follow-up marker
    /// in the same write, and refuses the write if it is already cleared.
    pub settles: Option<NotificationId>,
}

impl Transition {
    pub fn unchanged(esc: &Escalation) -> Self {
        Self {
            escalation: esc.clone(),
            notifications: Vec::new(),
            timeline: Vec::new(),
            alert_status: None,
            settles: None,
        }
    }
}

fn step_data(esc: &Escalation) -> serde_json::Value {
    json!({ "step": esc.step + 1, "loop": esc.loop_ + 1 })
}

/// The idempotency key of the page for one contact of one target in one step:
/// a second attempt to create it (a retry after a crash, another node) is a no-op.
/// `contact` is the contact's stable key ([`Contact::key`]), not its place in
/// the list, so a reload that reorders a person's contacts changes no key.
pub fn notification_key(
    alert_id: AlertId,
    loop_: u32,
    step: u32,
    user: &str,
    contact: &str,
) -> String {
    format!("{alert_id}:{loop_}:{step}:{user}:{contact}")
}

/// A re-triggered escalation's pages get the run as a suffix, so they do not
/// collide with the first run's (whose keys stay as they were).
fn run_key(key: String, retriggered: u32) -> String {
    if retriggered == 0 {
        key
    } else {
        format!("{key}:r{retriggered}")
    }
}

fn page(
    esc: &Escalation,
    user: &User,
    contact_index: usize,
    now: Timestamp,
) -> Option<(NewNotification, TimelineEntry)> {
    let contact = user.contacts.get(contact_index)?;
    let n = NewNotification {
        idem_key: run_key(
            notification_key(esc.alert_id, esc.loop_, esc.step, &user.id, &contact.key()),
            esc.retriggered,
        ),
        alert_id: Some(esc.alert_id),
        message: None,
        user: user.id.to_string(),
        contact_index: contact_index as u32,
        channel: contact.channel().to_string(),
        address: contact.address(),
        kind: NotificationKind::Notify,
        step: esc.step,
        loop_: esc.loop_,
        due_at: now,
    };
    let line = TimelineEntry::new(
        now,
        TimelineKind::Notified,
        format!(
            "paging {} via {} (step {}, round {})",
            user.id,
            contact.channel(),
            esc.step + 1,
            esc.loop_ + 1
        ),
    )
    .with_data(json!({
        "user": user.id,
        "channel": contact.channel(),
        "contact": contact_index,
        "step": esc.step + 1,
        "loop": esc.loop_ + 1,
    }));
    Some((n, line))
}

/// Who is on call in a schedule right now (after overrides); empty when
/// nobody is, or the schedule is unknown.
pub type OnCall<'a> = &'a dyn Fn(&str) -> Vec<String>;

/// Fires the current step: pages every target, and sets the timer. Schedule
/// targets are resolved now, to whoever is on call.
fn fire_step(
    mut esc: Escalation,
    policy: &Policy,
    users: &BTreeMap<String, User>,
    on_call: OnCall<'_>,
    severity: Severity,
    now: Timestamp,
    mut t: Transition,
) -> Transition {
    let Some(step) = policy.steps.get(esc.step as usize) else {
        // The policy lost steps in a reload: treat as the end of the list.
        return advance(esc, policy, users, on_call, severity, now, t);
    };
    esc.targets.clear();
    let mut people: Vec<(String, Option<String>)> = Vec::new();
    for target in &step.targets {
        match target {
            Target::User(uid) => people.push((uid.clone(), None)),
            Target::Schedule(sid) => {
                let who = on_call(sid);
                if who.is_empty() {
                    t.timeline.push(
                        TimelineEntry::new(
                            now,
                            TimelineKind::Failed,
                            format!("{target} has nobody on call: not reached"),
                        )
                        .with_data(step_data(&esc)),
                    );
                    esc.targets.push(TargetState {
                        target: target.clone(),
                        outcome: TargetOutcome::Unreachable,
                        via: None,
                    });
                }
                people.extend(who.into_iter().map(|u| (u, Some(target.to_string()))));
            }
        }
    }
    for (uid, via) in people {
        let target = Target::User(uid.clone());
        if esc.targets.iter().any(|s| s.target == target) {
            continue; // already paged by this step through another target
        }
        let first = |u: &User| u.contact_chain(severity, now).first().copied();
        match users.get(&uid).and_then(|u| page(&esc, u, first(u)?, now)) {
            Some((n, mut line)) => {
                if let Some(v) = &via {
                    line.message = format!("{} (on call in {v})", line.message);
                }
                t.notifications.push(n);
                t.timeline.push(line);
                esc.targets.push(TargetState {
                    target,
                    outcome: TargetOutcome::Paging,
                    via,
                });
            }
            None => {
                t.timeline.push(
                    TimelineEntry::new(
                        now,
                        TimelineKind::Failed,
                        format!("{target} cannot be reached: no such user or no contact method"),
                    )
                    .with_data(step_data(&esc)),
                );
                esc.targets.push(TargetState {
                    target,
                    outcome: TargetOutcome::Unreachable,
                    via,
                });
            }
        }
    }
    esc.phase = Phase::Waiting;
    esc.due_at = if esc
        .targets
        .iter()
        .all(|s| s.outcome != TargetOutcome::Paging)
    {
        Some(now)
    } else {
        now.checked_add(step.wait).ok()
    };
    t.escalation = esc;
    t
}

/// Moves to the next step (or round), or marks the escalation exhausted.
fn advance(
    mut esc: Escalation,
    policy: &Policy,
    users: &BTreeMap<String, User>,
    on_call: OnCall<'_>,
    severity: Severity,
    now: Timestamp,
    mut t: Transition,
) -> Transition {
    let mut step = esc.step + 1;
    let mut loop_ = esc.loop_;
    if step as usize >= policy.steps.len() {
        step = 0;
        loop_ += 1;
    }
    if (loop_ >= policy.repeat || policy.steps.is_empty())
        && let Some(next) = &policy.on_exhausted
    {
        // Handed on: the next policy starts from its first step now.
        t.timeline.push(
            TimelineEntry::new(
                now,
                TimelineKind::Escalated,
                format!(
                    "policy {} ran {} time(s) and nobody accepted: escalating to policy {next}",
                    policy.id, policy.repeat
                ),
            )
            .with_data(json!({ "policy": policy.id, "next_policy": next })),
        );
        esc.policy = next.clone();
        esc.phase = Phase::Pending;
        esc.step = 0;
        esc.loop_ = 0;
        esc.due_at = Some(now);
        esc.targets.clear();
        t.escalation = esc;
        return t;
    }
    if loop_ >= policy.repeat || policy.steps.is_empty() {
        esc.phase = Phase::Exhausted;
        esc.due_at = None;
        esc.targets.clear();
        t.timeline.push(
            TimelineEntry::new(
                now,
                TimelineKind::Exhausted,
                format!(
                    "escalation exhausted: policy {} ran {} time(s) and nobody accepted",
                    policy.id, policy.repeat
                ),
            )
            .with_data(json!({ "policy": policy.id, "repeat": policy.repeat })),
        );
        t.escalation = esc;
        return t;
    }
    esc.step = step;
    esc.loop_ = loop_;
    t.timeline.push(
        TimelineEntry::new(
            now,
            TimelineKind::Escalated,
            format!("escalated to step {}, round {}", step + 1, loop_ + 1),
        )
        .with_data(step_data(&esc)),
    );
    fire_step(esc, policy, users, on_call, severity, now, t)
}

/// Paging is held back (a silence, a maintenance window, an inhibiting
/// alert): the escalation stays where it is and is looked at again at
/// `until`. The timeline gets one line per hold reason, not one per look.
pub fn hold(esc: &Escalation, reason: &str, until: Timestamp, now: Timestamp) -> Transition {
    let mut t = Transition::unchanged(esc);
    t.escalation.due_at = Some(until);
    if esc.held.as_deref() != Some(reason) {
        t.escalation.held = Some(reason.to_string());
        t.timeline.push(
            TimelineEntry::new(now, TimelineKind::Held, format!("paging held: {reason}"))
                .with_data(
                    json!({ "reason": reason, "step": esc.step + 1, "loop": esc.loop_ + 1 }),
                ),
        );
    }
    t
}

/// The escalation's timer came due (and nothing holds it back: a hold that
/// was in place is released first, with a line saying so).
pub fn on_due(
    esc: &Escalation,
    policy: &Policy,
    users: &BTreeMap<String, User>,
    on_call: OnCall<'_>,
    severity: Severity,
    now: Timestamp,
) -> Transition {
    let mut t = Transition::unchanged(esc);
    if let Some(reason) = &esc.held
        && esc.is_active()
    {
        t.escalation.held = None;
        t.timeline.push(TimelineEntry::new(
            now,
            TimelineKind::Released,
            format!("paging resumed: no longer held ({reason})"),
        ));
    }
    let esc = t.escalation.clone();
    match esc.phase {
        Phase::Pending => fire_step(esc, policy, users, on_call, severity, now, t),
        Phase::Waiting => advance(esc, policy, users, on_call, severity, now, t),
        Phase::Stopped | Phase::Exhausted => {
            t.escalation.due_at = None;
            t
        }
    }
}

/// Applies a person's answer. `who` names the person (a user id, or "api").
pub fn on_response(
    esc: &Escalation,
    alert_status: AlertStatus,
    who: &str,
    response: Response,
    now: Timestamp,
) -> Transition {
    let mut t = Transition::unchanged(esc);
    let data = json!({ "user": who, "response": response.as_str() });
    match response {
        Response::Accept => {
            if alert_status != AlertStatus::Triggered {
                return t;
            }
            t.alert_status = Some(AlertStatus::Acknowledged);
            t.escalation.phase = Phase::Stopped;
            t.escalation.due_at = None;
            t.timeline.push(
                TimelineEntry::new(
                    now,
                    TimelineKind::Acknowledged,
                    format!("acknowledged by {who}"),
                )
                .with_data(data),
            );
        }
        Response::Resolve => {
            if alert_status == AlertStatus::Resolved {
                return t;
            }
            t.alert_status = Some(AlertStatus::Resolved);
            t.escalation.phase = Phase::Stopped;
            t.escalation.due_at = None;
            t.timeline.push(
                TimelineEntry::new(now, TimelineKind::Resolved, format!("resolved by {who}"))
                    .with_data(data),
            );
        }
        Response::Decline => {
            let target = Target::User(who.to_string());
            let slot = t
                .escalation
                .targets
                .iter_mut()
                .find(|s| s.target == target && s.outcome == TargetOutcome::Paging);
            match (esc.phase, slot) {
                (Phase::Waiting, Some(slot)) => {
                    slot.outcome = TargetOutcome::Declined;
                    t.timeline.push(
                        TimelineEntry::new(now, TimelineKind::Answered, format!("{who} declined"))
                            .with_data(data),
                    );
                    finish_if_all_answered(&mut t, now);
                }
                _ => t.timeline.push(
                    TimelineEntry::new(
                        now,
                        TimelineKind::Answered,
                        format!("{who} declined, but is not being paged by the current step"),
                    )
                    .with_data(data),
                ),
            }
        }
        Response::Escalate => {
            if esc.is_active() {
                t.escalation.due_at = Some(now);
                if t.escalation.phase == Phase::Pending {
                    // Not fired yet: firing it is the escalation.
                } else {
                    t.escalation.phase = Phase::Waiting;
                }
                t.timeline.push(
                    TimelineEntry::new(
                        now,
                        TimelineKind::Answered,
                        format!("{who} escalated to the next step"),
                    )
                    .with_data(data),
                );
            }
        }
    }
    t
}

/// When no target of the current step is still being paged, move on now.
fn finish_if_all_answered(t: &mut Transition, now: Timestamp) {
    let esc = &mut t.escalation;
    if esc.phase == Phase::Waiting
        && !esc.targets.is_empty()
        && esc
            .targets
            .iter()
            .all(|s| s.outcome != TargetOutcome::Paging)
    {
        esc.due_at = Some(now);
        t.timeline.push(
            TimelineEntry::new(
                now,
                TimelineKind::Escalated,
                format!(
                    "every target of step {} declined or could not be reached; moving on",
                    esc.step + 1
                ),
            )
            .with_data(step_data(esc)),
        );
    }
}

/// The page that failed for good (or did not reach its person), as
/// [`on_delivery_failed`] needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedPage<'a> {
    pub user: &'a str,
    pub step: u32,
    pub loop_: u32,
    /// Its id when its follow-up marker is to be cleared with the decision.
    pub settles: Option<NotificationId>,
}

/// A page failed for good. Tries the person's next contact method — the first
/// one in the chain the notification rules pick now that has not been paged
/// for this step and round (`already_paged` holds the idempotency keys of the
/// alert's pages) — so a reload that reorders, adds or removes contacts
/// neither repeats a contact nor skips one. When every contact has been
/// tried, the person counts as not reached for the step that paged them.
pub fn on_delivery_failed(
    esc: &Escalation,
    alert_status: AlertStatus,
    users: &BTreeMap<String, User>,
    severity: Severity,
    failed: &FailedPage<'_>,
    already_paged: &HashSet<String>,
    now: Timestamp,
) -> Transition {
    let FailedPage {
        user, step, loop_, ..
    } = *failed;
    let mut t = Transition::unchanged(esc);
    t.settles = failed.settles;
    if alert_status != AlertStatus::Triggered {
        return t;
    }
    // The page keeps the step and round it was made for.
    let at = Escalation {
        step,
        loop_,
        ..esc.clone()
    };
    let next = users.get(user).and_then(|u| {
        u.contact_chain(severity, now).into_iter().find_map(|c| {
            let contact = u.contacts.get(c)?;
            let key = run_key(
                notification_key(at.alert_id, loop_, step, user, &contact.key()),
                at.retriggered,
            );
            (!already_paged.contains(&key)).then_some((u, c))
        })
    });
    if let Some((u, next)) = next
        && let Some((n, mut line)) = page(&at, u, next, now)
    {
        line.message = format!("{} (the previous contact method failed)", line.message);
        t.notifications.push(n);
        t.timeline.push(line);
        return t;
    }
    if esc.phase == Phase::Waiting && esc.step == step && esc.loop_ == loop_ {
        let target = Target::User(user.to_string());
        if let Some(slot) = t
            .escalation
            .targets
            .iter_mut()
            .find(|s| s.target == target && s.outcome == TargetOutcome::Paging)
        {
            slot.outcome = TargetOutcome::Unreachable;
            t.timeline.push(
                TimelineEntry::new(
                    now,
                    TimelineKind::Failed,
                    format!("{user} could not be reached on any contact method"),
                )
                .with_data(json!({ "user": user, "step": step + 1, "loop": loop_ + 1 })),
            );
            finish_if_all_answered(&mut t, now);
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Contact, Step};
    use jiff::SignedDuration;

    fn user(id: &str, contacts: Vec<Contact>) -> (String, User) {
        (
            id.to_string(),
            User {
                id: crate::id::Id::parse(id).unwrap(),
                name: id.to_string(),
                timezone: crate::contacts::TzName::utc(),
                contacts,
                notification_rules: Vec::new(),
                role: crate::contacts::Role::default(),
            },
        )
    }

    fn setup() -> (Policy, BTreeMap<String, User>) {
        let users: BTreeMap<_, _> = [
            user("a", vec![Contact::Console]),
            user(
                "b",
                vec![
                    Contact::Webhook {
                        url: "http://x/".into(),
                        channel: "webhook".into(),
                    },
                    Contact::Console,
                ],
            ),
            user("c", vec![Contact::Console]),
        ]
        .into_iter()
        .collect();
        let policy = Policy {
            id: crate::id::Id::parse("p").unwrap(),
            repeat: 2,
            steps: vec![
                Step {
                    targets: vec![Target::User("a".into())],
                    wait: SignedDuration::from_mins(2),
                },
                Step {
                    targets: vec![Target::User("b".into()), Target::User("c".into())],
                    wait: SignedDuration::from_mins(5),
                },
            ],
            on_exhausted: None,
        };
        (policy, users)
    }

    fn t0() -> Timestamp {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    fn nobody(_: &str) -> Vec<String> {
        Vec::new()
    }

    #[test]
    fn steps_fire_in_order_then_repeat_then_exhaust() {
        let (policy, users) = setup();
        let mut esc = Escalation::start(1, "p", t0());
        let mut paged = Vec::new();
        let mut now = t0();
        for _ in 0..10 {
            let Some(due) = esc.due_at else { break };
            now = due;
            let t = on_due(&esc, &policy, &users, &nobody, Severity::Critical, now);
            for n in &t.notifications {
                paged.push((n.user.clone(), now.duration_since(t0()).as_secs() / 60));
            }
            esc = t.escalation;
        }
        assert_eq!(
            paged,
            vec![
                ("a".to_string(), 0),
                ("b".to_string(), 2),
                ("c".to_string(), 2),
                ("a".to_string(), 7),
                ("b".to_string(), 9),
                ("c".to_string(), 9),
            ]
        );
        assert_eq!(esc.phase, Phase::Exhausted);
        assert_eq!(now, t0() + SignedDuration::from_mins(14));
    }

    #[test]
    fn declines_from_every_target_advance_at_once() {
        let (policy, users) = setup();
        let esc = Escalation::start(1, "p", t0());
        let esc = on_due(&esc, &policy, &users, &nobody, Severity::Critical, t0()).escalation; // a
        let now = t0() + SignedDuration::from_secs(10);
        let t = on_response(&esc, AlertStatus::Triggered, "a", Response::Decline, now);
        assert_eq!(t.escalation.due_at, Some(now));
        let t = on_due(
            &t.escalation,
            &policy,
            &users,
            &nobody,
            Severity::Critical,
            now,
        );
        assert_eq!(t.escalation.step, 1);
        let esc = t.escalation;
        // One of two declining is not enough.
        let t = on_response(&esc, AlertStatus::Triggered, "b", Response::Decline, now);
        assert_ne!(t.escalation.due_at, Some(now));
        // The other could not be reached: now the step is over.
        let t = on_delivery_failed(
            &t.escalation,
            AlertStatus::Triggered,
            &users,
            Severity::Critical,
            &FailedPage {
                user: "c",
                step: 1,
                loop_: 0,
                settles: None,
            },
            &HashSet::from([format!("1:0:1:c:{}", Contact::Console.key())]),
            now,
        );
        assert_eq!(t.escalation.due_at, Some(now));
    }

    #[test]
    fn a_failed_contact_falls_back_to_the_next_one() {
        let (policy, users) = setup();
        let mut esc = Escalation::start(1, "p", t0());
        esc = on_due(&esc, &policy, &users, &nobody, Severity::Critical, t0()).escalation;
        esc = on_due(
            &esc,
            &policy,
            &users,
            &nobody,
            Severity::Critical,
            t0() + SignedDuration::from_mins(2),
        )
        .escalation;
        let failed = FailedPage {
            user: "b",
            step: 1,
            loop_: 0,
            settles: Some(7),
        };
        let first = format!("1:0:1:b:{}", users["b"].contacts[0].key());
        let paged = HashSet::from([first.clone()]);
        let t = on_delivery_failed(
            &esc,
            AlertStatus::Triggered,
            &users,
            Severity::Critical,
            &failed,
            &paged,
            t0(),
        );
        assert_eq!(t.notifications.len(), 1);
        assert_eq!(t.notifications[0].channel, "console");
        assert_eq!(t.notifications[0].contact_index, 1);
        assert_eq!(t.settles, Some(7), "the decision settles the failed page");
        assert_eq!(t.escalation, esc, "still being paged on the next method");

        // Both tried: b is not reached, and the step moves on.
        let both = HashSet::from([first, t.notifications[0].idem_key.clone()]);
        let t = on_delivery_failed(
            &esc,
            AlertStatus::Triggered,
            &users,
            Severity::Critical,
            &failed,
            &both,
            t0(),
        );
        assert!(t.notifications.is_empty());
        assert!(t.timeline[0].message.contains("b could not be reached"));
    }

    #[test]
    fn a_reorder_mid_escalation_pages_the_untried_contact_not_the_failed_one_again() {
        let (policy, mut users) = setup();
        let mut esc = Escalation::start(1, "p", t0());
        esc = on_due(&esc, &policy, &users, &nobody, Severity::Critical, t0()).escalation;
        esc = on_due(
            &esc,
            &policy,
            &users,
            &nobody,
            Severity::Critical,
            t0() + SignedDuration::from_mins(2),
        )
        .escalation;
        // b's first contact (a webhook) was paged and failed; a reload puts
        // it second. By position, "next" would be the webhook again.
        let failed_key = format!("1:0:1:b:{}", users["b"].contacts[0].key());
        if let Some(u) = users.get_mut("b") {
            u.contacts.reverse();
        }
        let t = on_delivery_failed(
            &esc,
            AlertStatus::Triggered,
            &users,
            Severity::Critical,
            &FailedPage {
                user: "b",
                step: 1,
                loop_: 0,
                settles: None,
            },
            &HashSet::from([failed_key.clone()]),
            t0(),
        );
        assert_eq!(t.notifications.len(), 1);
        assert_eq!(t.notifications[0].channel, "console");
        assert_ne!(t.notifications[0].idem_key, failed_key);
    }

    #[test]
    fn accept_stops_and_acknowledges() {
        let (policy, users) = setup();
        let esc = on_due(
            &Escalation::start(1, "p", t0()),
            &policy,
            &users,
            &nobody,
            Severity::Critical,
            t0(),
        )
        .escalation;
        let t = on_response(&esc, AlertStatus::Triggered, "a", Response::Accept, t0());
        assert_eq!(t.alert_status, Some(AlertStatus::Acknowledged));
        assert_eq!(t.escalation.phase, Phase::Stopped);
        assert_eq!(t.escalation.due_at, None);
        let again = on_due(
            &t.escalation,
            &policy,
            &users,
            &nobody,
            Severity::Critical,
            t0() + SignedDuration::from_hours(1),
        );
        assert!(again.notifications.is_empty());
    }
}
