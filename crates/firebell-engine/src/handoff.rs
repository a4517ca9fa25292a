//! Shift-handoff notices: a schedule with `handoff_notice` tells each person
//! who comes on call, through their first contact method, that their shift
//! starts. Notices are outbox rows keyed by (schedule, person, handoff
//! instant), so every pass, every node and every restart queues each one once.

use crate::{Engine, Result};
use firebell_core::notification::{NewNotification, NotificationKind};
use firebell_core::schedule::Shift;
use firebell_store::Store;
use jiff::{SignedDuration, Timestamp};
use std::time::Duration;
use tokio::sync::watch;

/// How far ahead a pass looks, beyond the notice's lead.
const LOOKAHEAD: SignedDuration = SignedDuration::from_mins(5);
/// A notice whose time passed less than this long ago (the server was down,
/// the override was made late) is still sent; older ones are not.
const GRACE: SignedDuration = SignedDuration::from_mins(5);
/// How far ahead the notice looks for the end of the shift it announces.
const SHIFT_END_HORIZON: SignedDuration = SignedDuration::from_hours(24 * 14);
/// Passes run this often (well inside `LOOKAHEAD`).
const PASS_INTERVAL: Duration = Duration::from_secs(60);

/// One person coming on call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    pub user: String,
    pub at: Timestamp,
}

/// The handoffs in `shifts`: everyone on call in a shift who was not in the
/// one before it. The first shift has no known predecessor and gives none.
pub fn handoffs(shifts: &[Shift]) -> Vec<Handoff> {
    shifts
        .windows(2)
        .flat_map(|w| {
            let (before, now) = (&w[0], &w[1]);
            now.users
                .iter()
                .filter(|u| !before.users.contains(u))
                .map(|u| Handoff {
                    user: u.clone(),
                    at: now.start,
                })
        })
        .collect()
}

impl<S: Store> Engine<S> {
    /// Queues the handoff notices due from `GRACE` ago to `LOOKAHEAD` ahead,
    /// each due at its handoff minus the schedule's lead. Returns how many
    /// were queued or already there.
    pub async fn run_handoffs_once(&self) -> Result<usize> {
        let config = self.config();
        if config.handoff_notices.is_empty() {
            return Ok(0);
        }
        let now = self.now();
        let mut notices = Vec::new();
        for (id, lead) in &config.handoff_notices {
            let Some(schedule) = config.schedules.get(id) else {
                continue;
            };
            // Handoffs at T in [now + lead - GRACE, now + lead + LOOKAHEAD]
            // have their notice due in [now - GRACE, now + LOOKAHEAD]. One
            // more minute before that gives the first of them a predecessor.
            let earliest = now + *lead - GRACE;
            let from = earliest - SignedDuration::from_mins(1);
            let to = now + *lead + LOOKAHEAD + SignedDuration::from_millis(1);
            let overrides = self
                .schedule_overrides(id, from, to + SHIFT_END_HORIZON)
                .await?;
            let shifts = schedule.shifts(from, to, &overrides);
            for h in handoffs(&shifts).into_iter().filter(|h| h.at >= earliest) {
                let Some(user) = config.users.get(&h.user) else {
                    continue;
                };
                let Some(contact) = user.contacts.first() else {
                    tracing::warn!(schedule = %id, user = %h.user, "handoff notice: the user has no contact method");
                    continue;
                };
                let until = schedule
                    .shifts(h.at, h.at + SHIFT_END_HORIZON, &overrides)
                    .into_iter()
                    .find(|s| !s.users.contains(&h.user))
                    .map(|s| s.start);
                let zone = schedule.time_zone();
                let local = |t: Timestamp| t.to_zoned(zone.clone()).strftime("%a %-d %b %H:%M %Z");
                let message = match until {
                    Some(end) => format!(
                        "Your on-call shift on schedule {id:?} starts {} and runs until {}.",
                        local(h.at),
                        local(end)
                    ),
                    None => format!(
                        "Your on-call shift on schedule {id:?} starts {}.",
                        local(h.at)
                    ),
                };
                notices.push(NewNotification {
                    idem_key: format!("handoff:{id}:{}:{}", h.user, h.at.as_millisecond()),
                    alert_id: None,
                    message: Some(message),
                    user: h.user.clone(),
                    contact_index: 0,
                    channel: contact.channel().to_string(),
                    address: contact.address(),
                    kind: NotificationKind::Handoff,
                    step: 0,
                    loop_: 0,
                    due_at: (h.at - *lead).max(now),
                });
            }
        }
        if notices.is_empty() {
            return Ok(0);
        }
        let n = notices.len();
        self.inner.store.enqueue_notices(notices, now).await?;
        self.inner.wake_dispatch.notify_one();
        Ok(n)
    }

    pub(crate) async fn schedule_overrides(
        &self,
        schedule: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<firebell_core::schedule::Override>> {
        Ok(self
            .inner
            .store
            .overrides(Some(schedule.to_string()), from, to)
            .await?
            .into_iter()
            .map(|o| o.override_)
            .collect())
    }

    /// Runs a handoff pass, the self-alert checks and the pruning of old
    /// resolved alerts every minute until
    /// `shutdown` turns true.
    pub(crate) async fn handoff_loop(&self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            if let Err(e) = self.run_handoffs_once().await {
                tracing::error!(error = %e, "handoff notice pass failed; retrying");
            }
            if let Err(e) = self.run_self_checks_once().await {
                tracing::error!(error = %e, "self-alert checks failed; retrying");
            }
            if let Err(e) = self.prune_resolved_once().await {
                tracing::error!(error = %e, "pruning resolved alerts failed; retrying");
            }
            tokio::select! {
                _ = tokio::time::sleep(PASS_INTERVAL) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shift(start: i64, end: i64, users: &[&str]) -> Shift {
        let t = |h: i64| Timestamp::from_second(h * 3600).unwrap_or(Timestamp::UNIX_EPOCH);
        Shift {
            start: t(start),
            end: t(end),
            users: users.iter().map(|u| u.to_string()).collect(),
        }
    }

    #[test]
    fn only_people_coming_on_call_get_a_handoff() {
        let shifts = vec![
            shift(0, 8, &["alice"]),
            shift(8, 12, &["alice", "bob"]),
            shift(12, 20, &["bob"]),
            shift(20, 22, &[]),
            shift(22, 24, &["alice"]),
        ];
        let got: Vec<(String, i64)> = handoffs(&shifts)
            .into_iter()
            .map(|h| (h.user, h.at.as_second() / 3600))
            .collect();
        assert_eq!(got, vec![("bob".to_string(), 8), ("alice".to_string(), 22)]);
    }
}
