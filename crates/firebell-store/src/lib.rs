//! The storage contract. The engine, the server and ingest are generic over
//! [`Store`]; SQLite (embedded) and PostgreSQL (many nodes) implement it, and
//! both must pass the suite in [`contract`].
//!
//! Rules every implementation keeps:
//! - A call that returned `Ok` is durable (committed and synced).
//! - Escalation records carry a `version`; [`Store::commit`] writes only if the
//!   stored version still equals the one read, and bumps it. Anything else that
//!   changes an escalation (a source acknowledging or resolving) bumps it too, so
//!   a decision made on stale state is refused, never applied.
//! - Notifications are unique by `idem_key`: queueing one twice is a no-op.
//! - Claiming notifications takes a lease: a claimed page is not handed out
//!   again until its lease expires (crash recovery) or it is finished.
#![forbid(unsafe_code)]

pub mod contract;

use firebell_core::alert::{Alert, AlertId, AlertStatus, TimelineEntry};
use firebell_core::change::{Change, NewChange};
use firebell_core::escalation::{Escalation, Transition};
use firebell_core::event::{DedupKey, Event};
use firebell_core::notification::{NewNotification, Notification, NotificationId};
use firebell_core::schedule::Override;
use jiff::{SignedDuration, Timestamp};
use std::future::Future;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Backend(String),
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
    #[error("the store is shut down")]
    Closed,
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// One event to record, with what `accept` decided for it.
#[derive(Clone, Debug, PartialEq)]
pub struct IngestItem {
    pub event: Event,
    /// The policy that pages for a new alert; `None` records without paging.
    pub policy: Option<String>,
    pub received_at: Timestamp,
}

/// What recording one event did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestOutcome {
    /// The alert the event landed on; `None` for an acknowledge or resolve
    /// that found no open alert.
    pub alert_id: Option<AlertId>,
    pub dedup_key: DedupKey,
    /// The alert's status after the event.
    pub status: Option<AlertStatus>,
    /// True when the event changed nothing but a counter: a repeated trigger,
    /// or an acknowledge/resolve of an alert already in that state.
    pub duplicate: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertFilter {
    pub status: Option<AlertStatus>,
    pub service: Option<String>,
    /// Cursor: only alerts with an id below this one.
    pub before: Option<AlertId>,
    /// At most this many, newest first.
    pub limit: u32,
}

/// Alert counts by status, for metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertCounts {
    pub triggered: i64,
    pub acknowledged: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommitResult {
    Applied,
    /// The escalation changed since it was read; nothing was written.
    Conflict,
}

/// How a delivery attempt ended, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finish {
    /// `detail` is what the provider or program answered.
    Delivered {
        detail: String,
    },
    /// Try again at `at`.
    Retry {
        at: Timestamp,
        error: String,
    },
    Failed {
        error: String,
    },
}

/// A claimed notification, with its alert as it is now (for rendering);
/// `None` for a notice, which is about no alert.
#[derive(Clone, Debug, PartialEq)]
pub struct Claimed {
    pub notification: Notification,
    pub alert: Option<Alert>,
}

/// An override as stored: which schedule, who made it and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredOverride {
    pub schedule: String,
    /// `override_.id` is the store's id (assigned on insert, increasing).
    pub override_: Override,
    pub created_by: String,
    pub created_at: Timestamp,
}

pub trait Store: Clone + Send + Sync + 'static {
    /// Records a batch of events, in order, durably, and returns one outcome
    /// per event. Concurrent calls may share one commit.
    ///
    /// - trigger: the open alert (not resolved) for (service, dedup_key) has its
    ///   count raised, `updated_at` set and one `deduplicated` timeline line;
    ///   otherwise a new alert (count 1, `received` line) and, if `policy` is
    ///   set, `Escalation::start(id, policy, received_at)`.
    /// - acknowledge: a `triggered` open alert becomes `acknowledged`; its
    ///   escalation is stopped (phase `stopped`, no due time, version bumped) and
    ///   its pending/sending notifications cancelled; one `acknowledged` line.
    /// - resolve: an open alert becomes `resolved`, likewise stopped/cancelled,
    ///   one `resolved` line. A later trigger opens a new alert.
    fn ingest(
        &self,
        items: Vec<IngestItem>,
    ) -> impl Future<Output = Result<Vec<IngestOutcome>>> + Send;

    fn get_alert(&self, id: AlertId) -> impl Future<Output = Result<Option<Alert>>> + Send;

    /// Newest first.
    fn list_alerts(&self, filter: AlertFilter) -> impl Future<Output = Result<Vec<Alert>>> + Send;

    /// Oldest first.
    fn timeline(&self, id: AlertId) -> impl Future<Output = Result<Vec<TimelineEntry>>> + Send;

    fn alert_counts(&self) -> impl Future<Output = Result<AlertCounts>> + Send;

    fn escalation(&self, id: AlertId) -> impl Future<Output = Result<Option<Escalation>>> + Send;

    /// Active escalations (pending or waiting) due at or before `now`, earliest first.
    fn due_escalations(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Escalation>>> + Send;

    /// The earliest due time of any active escalation.
    fn next_escalation_due(&self) -> impl Future<Output = Result<Option<Timestamp>>> + Send;

    /// Writes a decision if the escalation still has `expected_version`:
    /// the new escalation (version + 1), the notifications (existing idem keys
    /// skipped), the timeline lines, and the alert status if set (stamping
    /// `acknowledged_at`/`resolved_at` with `now` and cancelling the alert's
    /// pending and sending notifications).
    fn commit(
        &self,
        expected_version: i64,
        transition: Transition,
        now: Timestamp,
    ) -> impl Future<Output = Result<CommitResult>> + Send;

    /// Claims up to `limit` notifications that are pending and due at `now`, or
    /// sending with an expired lease; they become `sending` until `now + lease`.
    /// Earliest due first.
    fn claim_notifications(
        &self,
        now: Timestamp,
        lease: SignedDuration,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Claimed>>> + Send;

    /// When the next notification attempt (or lease expiry) is due.
    fn next_notification_due(&self) -> impl Future<Output = Result<Option<Timestamp>>> + Send;

    /// Records an attempt's end. The notification's row changes only if it is
    /// still `sending` (a cancelled page stays cancelled); `attempts` goes up by
    /// one. The timeline lines are written to `alert_id`'s timeline either way
    /// (a notice has none). Returns whether the row changed.
    fn finish_notification(
        &self,
        id: NotificationId,
        finish: Finish,
        timeline: Vec<TimelineEntry>,
        alert_id: Option<AlertId>,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Queues notices (notifications with `alert_id: None` and a `message`),
    /// each pending at its `due_at`, created at `now`. A notice whose
    /// `idem_key` exists is not queued again. Returns each one's id (the
    /// existing id for a repeat), in order. Durable when Ok.
    fn enqueue_notices(
        &self,
        notices: Vec<NewNotification>,
        now: Timestamp,
    ) -> impl Future<Output = Result<Vec<NotificationId>>> + Send;

    /// One notification by id.
    fn get_notification(
        &self,
        id: NotificationId,
    ) -> impl Future<Output = Result<Option<Notification>>> + Send;

    /// Every notification of an alert, oldest first.
    fn notifications(
        &self,
        alert_id: AlertId,
    ) -> impl Future<Output = Result<Vec<Notification>>> + Send;

    /// Stores a new override of `schedule`, made by `created_by` at `now`;
    /// `override_.id` is ignored and assigned: larger than every id assigned
    /// before, and never reused, even after a delete. Durable when Ok.
    ///
    /// Instants are kept to the backend's precision (SQLite: milliseconds); the
    /// returned value is the override as stored, equal to what
    /// [`Store::get_override`] reads back. An override that is not valid as
    /// stored (one [`Override::new`] refuses: `end` not after `start`, an empty
    /// user id) is refused with an error and nothing is written.
    fn add_override(
        &self,
        schedule: String,
        override_: Override,
        created_by: String,
        now: Timestamp,
    ) -> impl Future<Output = Result<StoredOverride>> + Send;

    /// Overrides that intersect [from, to) (start < to && end > from), for one
    /// schedule or all; ordered by id. Empty when `from >= to`.
    fn overrides(
        &self,
        schedule: Option<String>,
        from: Timestamp,
        to: Timestamp,
    ) -> impl Future<Output = Result<Vec<StoredOverride>>> + Send;

    /// One override by id.
    fn get_override(&self, id: i64) -> impl Future<Output = Result<Option<StoredOverride>>> + Send;

    /// Deletes an override; returns whether it existed. Durable when Ok.
    fn delete_override(&self, id: i64) -> impl Future<Output = Result<bool>> + Send;

    /// Records a change event on its service's change timeline. Durable when
    /// Ok; returns it with its id (larger than every id before).
    fn add_change(&self, change: NewChange) -> impl Future<Output = Result<Change>> + Send;

    /// Changes, newest first: of one service or all, with an id below
    /// `before` if set, at most `limit`.
    fn changes(
        &self,
        service: Option<String>,
        before: Option<i64>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Change>>> + Send;

    /// Cheap round trip, for readiness.
    fn ping(&self) -> impl Future<Output = Result<()>> + Send;
}
