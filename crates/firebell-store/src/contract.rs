//! The contract test suite. A backend runs it with [`crate::store_contract_tests!`]:
//!
//! ```ignore
//! firebell_store::store_contract_tests!(async { let dir = tempdir(); (open(dir.path()), dir) });
//! ```
//!
//! The expression yields `(store, guard)` (or an `Option` of it, `None`
//! skipping the test); the guard (a temp dir, a database
//! handle) is kept alive for the test's duration.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::{CommitResult, IngestItem, Store};
use firebell_core::escalation::{Phase, Transition};
use firebell_core::event::{DedupKey, Event, EventAction, Severity};
use firebell_core::notification::{NewNotification, NotificationKind};
use jiff::{SignedDuration, Timestamp};

mod accounts;
pub use accounts::*;
mod alerts;
pub use alerts::*;
mod changes;
pub use changes::*;
mod escalations;
pub use escalations::*;
mod maintenance;
pub use maintenance::*;
mod nodes;
pub use nodes::*;
mod outbox;
pub use outbox::*;
mod overrides;
pub use overrides::*;
mod receipts;
pub use receipts::*;
mod bundles;
pub use bundles::*;
mod silences;
pub use silences::*;
mod timeouts;
pub use timeouts::*;

/// Generates one `#[tokio::test]` per contract test.
#[macro_export]
macro_rules! store_contract_tests {
    ($make:expr) => {
        mod store_contract {
            #[allow(unused_imports)]
            use super::*;
            $crate::store_contract_tests!(@each $make;
                trigger_creates_alert_and_escalation,
                repeated_triggers_collapse,
                acknowledge_and_resolve_from_source,
                acknowledge_or_resolve_without_open_alert,
                commit_checks_the_version,
                a_new_alerts_first_step_is_written_with_it,
                pages_claimed_with_a_new_alert_come_back_with_it,
                notifications_are_idempotent,
                claims_take_a_lease,
                finishing_records_attempts,
                a_failed_page_is_followed_up_exactly_once,
                cancelled_pages_stay_cancelled,
                pages_sent_together_are_recorded_together,
                due_escalations_in_order,
                list_alerts_filters_and_pages,
                services_are_separate,
                overrides_round_trip,
                overrides_filter_by_window_and_schedule,
                overrides_can_be_deleted,
                invalid_overrides_are_refused,
                notices_are_queued_once_and_claimed_without_an_alert,
                changes_are_kept_per_service_newest_first,
                held_escalations_keep_their_reason_and_can_be_released,
                receipts_are_recorded_once,
                timeline_lines_and_the_latest_paged_alert,
                sends_are_counted_per_rate_key_after_an_instant,
                held_pages_wait_without_an_attempt,
                the_first_page_held_back_to_an_address_is_found,
                the_outbox_is_counted_by_state,
                bundles_take_matching_pending_pages_and_share_the_outcome,
                maintenance_windows_round_trip_filter_and_end,
                acknowledgement_timeouts_retrigger_once,
                stale_alerts_resolve_only_if_unchanged,
                announced_ends_follow_the_latest_trigger,
                resolved_alerts_are_pruned_after_the_cut,
                silences_round_trip_list_expire_and_replace,
                alerts_are_read_by_id_in_one_call,
                timelines_are_read_a_page_at_a_time,
                open_alerts_are_found_by_label,
                repeats_in_a_batch_are_counted_around_acknowledge_and_resolve,
                nodes_are_recorded_and_refreshed,
                the_silences_generation_moves_with_every_silence_write,
                a_lane_is_held_by_one_holder_at_a_time,
                heartbeats_are_shared_pinged_and_marked_overdue_once,
                probes_run_once_per_interval_and_count_every_check,
                passwords_and_sessions_round_trip_expire_and_end,
                alerts_are_filtered_by_open_severity_and_text,
            );
        }
    };
    (@each $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let Some((store, _guard)) = $crate::contract::Maybe::maybe($make.await) else {
                    return;
                };
                $crate::contract::$name(store).await;
            }
        )*
    };
}

/// What a backend's `$make` yields: `(store, guard)`, or `Option` of it
/// for a backend whose server may be missing (`None` skips the test; the
/// backend says so loudly, and fails instead under `CI`).
pub trait Maybe<T> {
    fn maybe(self) -> Option<T>;
}

impl<S, G> Maybe<(S, G)> for (S, G) {
    fn maybe(self) -> Option<(S, G)> {
        Some(self)
    }
}

impl<S, G> Maybe<(S, G)> for Option<(S, G)> {
    fn maybe(self) -> Option<(S, G)> {
        self
    }
}

pub fn t0() -> Timestamp {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

pub fn at(secs: i64) -> Timestamp {
    t0() + SignedDuration::from_secs(secs)
}

pub fn event(service: &str, action: EventAction, key: &str) -> Event {
    Event {
        service: service.to_string(),
        action,
        dedup_key: DedupKey::parse(key).unwrap(),
        summary: format!("{key} is broken"),
        severity: Severity::Critical,
        source: "test".into(),
        labels: [("host".to_string(), "web1".to_string())].into(),
        details: serde_json::Map::new(),
        occurred_at: t0(),
        expires_at: None,
    }
}

pub fn item(action: EventAction, key: &str, secs: i64) -> IngestItem {
    IngestItem {
        event: event("svc", action, key),
        policy: Some("p".into()),
        received_at: at(secs),
        first_step: None,
    }
}

fn page(alert_id: i64, user: &str, secs: i64) -> NewNotification {
    NewNotification {
        idem_key: format!("{alert_id}:0:0:{user}:0"),
        alert_id: Some(alert_id),
        message: None,
        user: user.into(),
        contact_index: 0,
        channel: "console".into(),
        address: "stdout".into(),
        kind: NotificationKind::Notify,
        step: 0,
        loop_: 0,
        due_at: at(secs),
    }
}

/// Queues one page to "alice" on the alert's escalation, due at 0 s.
pub async fn queue_one_page<S: Store>(store: &S, alert_id: i64) {
    queue(store, alert_id, vec![page(alert_id, "alice", 0)]).await;
}

/// Commits a transition that queues `pages` on the alert's escalation.
async fn queue<S: Store>(store: &S, alert_id: i64, pages: Vec<NewNotification>) {
    let esc = store.escalation(alert_id).await.unwrap().unwrap();
    let mut next = esc.clone();
    next.phase = Phase::Waiting;
    next.due_at = Some(at(120));
    let r = store
        .commit(
            esc.version,
            Transition {
                escalation: next,
                notifications: pages,
                timeline: vec![],
                alert_status: None,
                settles: None,
            },
            at(0),
        )
        .await
        .unwrap();
    assert_eq!(r, CommitResult::Applied);
}
