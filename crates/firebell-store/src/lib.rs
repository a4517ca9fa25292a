//! The storage contract, split by capability: [`AlertStore`],
//! [`EscalationStore`], [`OutboxStore`], [`BundleStore`], [`OverrideStore`],
//! [`ChangeStore`], [`ReceiptStore`], [`MaintenanceStore`], [`TimeoutStore`],
//! [`SilenceStore`], [`NodeStore`], [`HeartbeatStore`] and [`ProbeStore`]. [`Store`] is their union (a blanket impl), so the
//! engine and the server stay generic over `S: Store`. `firebell-sqlite`
//! (one node) and `firebell-postgres` (many nodes) implement the traits and
//! pass the same suite, `contract` (behind the
//! `contract-tests` feature, so production builds do not compile it).
//! Callers with a concrete store bring the traits in with
//! `use firebell_store::prelude::*`.
//!
//! Rules every implementation keeps:
//! - A call that returned `Ok` is durable (committed and synced).
//! - Escalation records carry a `version`; [`EscalationStore::commit`] writes only if the
//!   stored version still equals the one read, and bumps it. Anything else that
//!   changes an escalation (a source acknowledging or resolving) bumps it too, so
//!   a decision made on stale state is refused, never applied.
//! - Notifications are unique by `idem_key`: queueing one twice is a no-op.
//! - Claiming notifications takes a lease: a claimed page is not handed out
//!   again until its lease expires (crash recovery) or it is finished.
//!
//! What a backend shared by many nodes must add (several processes call the
//! same methods at once):
//! - Every method is one transaction: a concurrent reader sees all of a
//!   write or none of it.
//! - Conditional writes (`commit`'s version and follow-up checks,
//!   `finish_notification` only while `sending`, `retrigger` and
//!   `resolve_if_unchanged` on the exact instant read) are checked and
//!   applied atomically: of two racing writers exactly one applies, and the
//!   other gets `Conflict` / `false` and writes nothing.
//! - Claims (`claim_notifications`, `claim_bundle`) never hand one page to two
//!   callers while a lease runs (row locks, e.g. `FOR UPDATE SKIP LOCKED`).
//! - Ids (alerts, notifications, overrides, changes, maintenance windows)
//!   increase and are never reused.
//! - Idempotency keys and receipts are unique across all callers: the second
//!   insert is a no-op, never an error.
#![forbid(unsafe_code)]

pub mod backend;
#[cfg(feature = "contract-tests")]
pub mod contract;
pub mod maintenance;

pub use maintenance::{MaintenanceFilter, MaintenanceWindow, NewMaintenance};

/// Every capability trait, for callers that hold a concrete store.
pub mod prelude {
    pub use crate::{
        AlertStore, BundleStore, ChangeStore, EscalationStore, HeartbeatStore, MaintenanceStore,
        NodeStore, OutboxStore, OverrideStore, ProbeStore, ReceiptStore, SilenceStore, Store,
        TimeoutStore,
    };
}

use firebell_core::alert::{Alert, AlertId, AlertStatus, TimelineEntry};
use firebell_core::change::{Change, NewChange};
use firebell_core::escalation::{Escalation, Transition};
use firebell_core::event::{DedupKey, Event};
use firebell_core::notification::{NewNotification, Notification, NotificationId};
use firebell_core::schedule::Override;
use firebell_core::silence::Silence;
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
    /// How a new alert's first escalation step is decided, so that it is
    /// written in the transaction that records the alert (see
    /// [`AlertStore::ingest`]); `None` leaves the step to the escalation loop.
    pub first_step: Option<FirstStep>,
}

/// The decision of a new alert's first escalation step, made while the
/// alert is recorded: given the escalation as
/// [`Escalation::start`] makes it (with the alert's new id) and the alert's
/// severity, the transition to write, or `None` to leave the step to the
/// escalation loop. It is pure (no reads, no waiting): whatever it needs was
/// loaded before the call, and it may run on the store's writer.
///
/// With [`FirstStep::claiming`], the pages the step queues that are due at
/// once are written already claimed by the caller (status `sending`, the
/// given lease) and come back in [`IngestOutcome::claimed`], so that the
/// caller delivers them without a claim; if it dies first, the lease runs
/// out and any node claims them as usual.
#[derive(Clone)]
pub struct FirstStep(std::sync::Arc<DecideFirstStep>, Option<Timestamp>);

/// What a [`FirstStep`] runs for each new alert: its escalation, severity
/// and service.
pub type DecideFirstStep =
    dyn Fn(&Escalation, firebell_core::event::Severity, &str) -> Option<Transition> + Send + Sync;

impl FirstStep {
    pub fn new(
        decide: impl Fn(&Escalation, firebell_core::event::Severity, &str) -> Option<Transition>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        FirstStep(std::sync::Arc::new(decide), None)
    }

    /// The pages due at once are claimed for the caller until `lease_until`.
    pub fn claiming(mut self, lease_until: Timestamp) -> Self {
        self.1 = Some(lease_until);
        self
    }

    pub fn lease_until(&self) -> Option<Timestamp> {
        self.1
    }

    pub fn decide(
        &self,
        esc: &Escalation,
        severity: firebell_core::event::Severity,
        service: &str,
    ) -> Option<Transition> {
        (self.0)(esc, severity, service)
    }
}

impl std::fmt::Debug for FirstStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FirstStep")
    }
}

impl PartialEq for FirstStep {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0) && self.1 == other.1
    }
}

/// What recording one event did.
#[derive(Clone, Debug, PartialEq)]
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
    /// Pages a claiming [`FirstStep`] queued and claimed for the caller.
    pub claimed: Vec<Claimed>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertFilter {
    pub status: Option<AlertStatus>,
    /// Only open alerts (triggered or acknowledged); `status` narrows further.
    pub open: bool,
    pub service: Option<String>,
    pub severity: Option<firebell_core::event::Severity>,
    /// Only alerts whose summary or labels contain this text, ignoring
    /// ASCII case.
    pub text: Option<String>,
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

/// The outbox's depth by state, for metrics. Every field counts
/// notifications not yet finished.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    /// Pending and due: what the dispatcher should be sending now.
    pub due: i64,
    /// Pending with a later due time: a retry's back-off or a group window.
    pub waiting: i64,
    /// Pending and held back by a rate limit.
    pub held: i64,
    /// Claimed and being sent (or leased by a node that died).
    pub sending: i64,
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

/// One attempt's end, as [`OutboxStore::finish_notifications`] records it.
#[derive(Clone, Debug, PartialEq)]
pub struct PageEnd {
    pub id: NotificationId,
    pub finish: Finish,
    /// Lines for `alert_id`'s timeline (a notice has none).
    pub timeline: Vec<TimelineEntry>,
    pub alert_id: Option<AlertId>,
}

/// A claimed notification, with its alert as it is now (for rendering);
/// `None` for a notice, which is about no alert.
#[derive(Clone, Debug, PartialEq)]
pub struct Claimed {
    pub notification: Notification,
    pub alert: Option<Alert>,
    /// A rate limit held this page back before (see [`BundleStore::hold_notification`]).
    pub held: bool,
}

/// Which pending pages a bundled page takes with it (see [`BundleStore::claim_bundle`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleScope {
    /// Pages to this address…
    pub address: String,
    /// …delivered by one of these channels…
    pub channels: Vec<String>,
    /// …for this user only (`None`: anyone's)…
    pub user: Option<String>,
    /// …about alerts of this service only (`None`: any service).
    pub service: Option<String>,
}

/// A page carried by a bundled page, finished with the bundle's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct BundledPage {
    pub id: NotificationId,
    pub alert_id: AlertId,
    /// Lines for the page's alert.
    pub timeline: Vec<TimelineEntry>,
}

/// A page of an alert's timeline (see [`AlertStore::timeline_page`]).
#[derive(Clone, Debug, PartialEq)]
pub struct TimelinePage {
    /// Oldest first.
    pub entries: Vec<TimelineEntry>,
    /// Pass as `before` for the older lines; `None` when these are the oldest.
    pub next_before: Option<i64>,
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

/// The whole storage contract: every capability. The engine and the server
/// are generic over `S: Store`; a backend implements the capability traits
/// and gets `Store` from the blanket impl.
pub trait Store:
    AlertStore
    + EscalationStore
    + OutboxStore
    + BundleStore
    + OverrideStore
    + ChangeStore
    + ReceiptStore
    + MaintenanceStore
    + TimeoutStore
    + SilenceStore
    + NodeStore
    + HeartbeatStore
    + ProbeStore
    + AccountStore
{
}

impl<T> Store for T where
    T: AlertStore
        + EscalationStore
        + OutboxStore
        + BundleStore
        + OverrideStore
        + ChangeStore
        + ReceiptStore
        + MaintenanceStore
        + TimeoutStore
        + SilenceStore
        + NodeStore
        + HeartbeatStore
        + ProbeStore
        + AccountStore
{
}

/// Alerts and their timelines: recording events, reading alerts.
pub trait AlertStore: Clone + Send + Sync + 'static {
    /// Records a batch of events, in order, durably, and returns one outcome
    /// per event. Concurrent calls may share one commit.
    ///
    /// - trigger: the open alert (not resolved) for (service, dedup_key) has its
    ///   count raised and `updated_at` set; on the timeline, the alert's
    ///   latest line is updated if it is a `deduplicated` line started less
    ///   than an hour before (its `data.repeats` raised, its message
    ///   "repeated N× since …"), else one `deduplicated` line is added (so
    ///   repeats add at most one row per alert per hour; repeats of one alert
    ///   within a batch may be written as one update, with the same result);
    ///   otherwise a new alert (count 1, `received` line) and, if `policy` is
    ///   set, `Escalation::start(id, policy, received_at)`. If the item has a
    ///   [`FirstStep`] and it decides a transition, that transition is
    ///   applied to the new escalation in the same transaction, exactly as
    ///   [`EscalationStore::commit`] would apply it at version 0.
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

    /// The alerts with these ids (those that exist), by id: one read for a
    /// whole escalation batch when something can hold paging.
    fn get_alerts(&self, ids: Vec<AlertId>) -> impl Future<Output = Result<Vec<Alert>>> + Send;

    /// Newest first.
    fn list_alerts(&self, filter: AlertFilter) -> impl Future<Output = Result<Vec<Alert>>> + Send;

    /// The open alerts (not resolved) whose labels include every `(name,
    /// value)` pair, by id; an empty list finds nothing. An alert without an
    /// `alertname` label counts its dedup key as its alertname (see
    /// [`firebell_core::labels::indexed_label`]). Answered from an index the database keeps in the
    /// same transactions that open and resolve alerts, so it costs what it
    /// finds, not how many are open, and every connection sees the same
    /// answer at once.
    fn open_alerts_labelled(
        &self,
        labels: Vec<(String, String)>,
    ) -> impl Future<Output = Result<Vec<Alert>>> + Send;

    /// Oldest first.
    fn timeline(&self, id: AlertId) -> impl Future<Output = Result<Vec<TimelineEntry>>> + Send;

    /// The newest `limit` lines of an alert's timeline written before line
    /// `before` (all lines when `None`), oldest first, and the cursor for the
    /// page before them (`None` when there is none). Cursors are line ids:
    /// they increase in the order lines are written and are never reused.
    fn timeline_page(
        &self,
        id: AlertId,
        before: Option<i64>,
        limit: u32,
    ) -> impl Future<Output = Result<TimelinePage>> + Send;

    /// Appends lines to an alert's timeline (what a provider reported about a
    /// page: a call's status, a text's delivery). Durable when Ok.
    fn add_timeline(
        &self,
        alert_id: AlertId,
        lines: Vec<TimelineEntry>,
    ) -> impl Future<Output = Result<()>> + Send;

    fn alert_counts(&self) -> impl Future<Output = Result<AlertCounts>> + Send;

    /// The newest alert that is not resolved and that paged `user` (any
    /// `alert.notify` notification to them), if any.
    fn latest_open_alert_paged(
        &self,
        user: String,
    ) -> impl Future<Output = Result<Option<AlertId>>> + Send;

    /// Cheap round trip, for readiness.
    fn ping(&self) -> impl Future<Output = Result<()>> + Send;
}

/// Escalation records: what is due, and decisions written under a version check.
pub trait EscalationStore: Clone + Send + Sync + 'static {
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
    /// pending and sending notifications). All of it in one transaction.
    ///
    /// When `transition.settles` names a page, the decision is its follow-up:
    /// it is written only if that page's follow-up marker is still set, and
    /// clears it in the same transaction (`Conflict` otherwise, nothing
    /// written), so a failed page is followed up exactly once across retries,
    /// restarts and nodes.
    fn commit(
        &self,
        expected_version: i64,
        transition: Transition,
        now: Timestamp,
    ) -> impl Future<Output = Result<CommitResult>> + Send;

    /// Makes every active escalation that is held (`held` set) due at `now`,
    /// bumping its version, so the engine looks at it again at once: after a
    /// silence expires or a maintenance window ends early. Returns how many.
    fn release_held(&self, now: Timestamp) -> impl Future<Output = Result<u64>> + Send;
}

/// The outbox: pages and notices, claimed under a lease, finished once.
pub trait OutboxStore: Clone + Send + Sync + 'static {
    /// Claims up to `limit` notifications that are pending and due at `now`, or
    /// sending with an expired lease; they become `sending` until `now + lease`.
    /// Earliest due first.
    fn claim_notifications(
        &self,
        now: Timestamp,
        lease: SignedDuration,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Claimed>>> + Send;

    /// Which of `ids` are still `sending`, in no particular order: pages
    /// claimed a while ago (with their alert, see [`FirstStep::claiming`])
    /// are checked just before they go out, so that one cancelled meanwhile
    /// (the alert acknowledged or resolved, on any node) is not sent.
    fn still_sending(
        &self,
        ids: Vec<NotificationId>,
    ) -> impl Future<Output = Result<Vec<NotificationId>>> + Send;

    /// When the next notification attempt (or lease expiry) is due.
    fn next_notification_due(&self) -> impl Future<Output = Result<Option<Timestamp>>> + Send;

    /// Records an attempt's end. The notification's row changes only if it is
    /// still `sending` (a cancelled page stays cancelled); `attempts` goes up by
    /// one. `Failed` on a page about an alert (`alert.notify`) also sets its
    /// follow-up marker, in the same transaction. The timeline lines are written to `alert_id`'s timeline either way
    /// (a notice has none). Returns whether the row changed.
    fn finish_notification(
        &self,
        id: NotificationId,
        finish: Finish,
        timeline: Vec<TimelineEntry>,
        alert_id: Option<AlertId>,
    ) -> impl Future<Output = Result<bool>> + Send {
        let end = PageEnd {
            id,
            finish,
            timeline,
            alert_id,
        };
        async move { Ok(self.finish_notifications(vec![end]).await?.pop() == Some(true)) }
    }

    /// Records several attempts' ends in one write, each as
    /// [`OutboxStore::finish_notification`] would: pages sent together are
    /// recorded together. Returns, for each in order, whether its row changed.
    fn finish_notifications(
        &self,
        ends: Vec<PageEnd>,
    ) -> impl Future<Output = Result<Vec<bool>>> + Send;

    /// Clears a failed page's follow-up marker (see
    /// [`Notification::follow_up`]) without writing anything else: for a
    /// failure that nothing follows (the alert or its escalation is gone,
    /// the alert is no longer triggered). Returns whether it was set.
    fn settle_failed(&self, id: NotificationId) -> impl Future<Output = Result<bool>> + Send;

    /// Pages whose follow-up marker is still set (a crash or an error came
    /// between recording the failure and what follows it), oldest first, at
    /// most `limit`. Nodes may read the same rows: the follow-up is written
    /// by [`EscalationStore::commit`] with `settles`, which refuses a second one.
    fn failed_pages_to_follow_up(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Notification>>> + Send;

    /// Queues notices (notifications with `alert_id: None` and a `message`),
    /// each pending at its `due_at`, created at `now`. A notice whose
    /// `idem_key` exists is not queued again. Returns each one's id (the
    /// existing id for a repeat), in order. Durable when Ok.
    fn enqueue_notices(
        &self,
        notices: Vec<NewNotification>,
        now: Timestamp,
    ) -> impl Future<Output = Result<Vec<NotificationId>>> + Send;

    /// Queues one run of a runbook action: `run` is about an alert (its
    /// `alert_id` is set, its kind `alert.action`), pending at its `due_at`,
    /// with `lines` on that alert's timeline, in one write. A run whose
    /// `idem_key` exists is not queued again and writes nothing: `None`.
    /// Durable when Ok.
    fn enqueue_action(
        &self,
        run: NewNotification,
        lines: Vec<TimelineEntry>,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<NotificationId>>> + Send;

    /// One notification by id.
    fn get_notification(
        &self,
        id: NotificationId,
    ) -> impl Future<Output = Result<Option<Notification>>> + Send;

    /// Registers `wake`, called whenever a caller on another node queued
    /// work that may be due now (pages, notices, escalations), so this
    /// node's engine looks at once instead of at its next poll. A store
    /// shared by many nodes passes the news on (PostgreSQL: `LISTEN` /
    /// `NOTIFY`); a single node's store need not (its engine wakes itself):
    /// the default never calls it.
    fn on_wake(&self, wake: std::sync::Arc<dyn Fn() + Send + Sync>) {
        let _ = wake;
    }

    /// Every notification of an alert, oldest first.
    fn notifications(
        &self,
        alert_id: AlertId,
    ) -> impl Future<Output = Result<Vec<Notification>>> + Send;

    /// How many pages and notices wait in the outbox at `now`, by state
    /// (for metrics).
    fn outbox_counts(&self, now: Timestamp) -> impl Future<Output = Result<OutboxCounts>> + Send;
}

/// Grouping, bundling and per-address rate limits over the outbox.
pub trait BundleStore: Clone + Send + Sync + 'static {
    /// Instants of the messages sent (delivered, not carried in another
    /// page's bundle) for pages counted under `rate_key`, strictly after
    /// `after`, oldest first; and `page` (if set) is counted under `rate_key`
    /// from now on. Durable when Ok.
    fn count_sends(
        &self,
        rate_key: String,
        page: Option<NotificationId>,
        after: Timestamp,
    ) -> impl Future<Output = Result<Vec<Timestamp>>> + Send;

    /// The earliest instant a `pending` page held back under `rate_key`,
    /// other than `except`, waits until; `None` when no other is held. A
    /// page held after another waits a little longer than it, so the first
    /// one's release finds the rest unclaimed and carries them in one
    /// bundle (two nodes claiming at once would otherwise send two).
    fn first_held(
        &self,
        rate_key: String,
        except: NotificationId,
    ) -> impl Future<Output = Result<Option<Timestamp>>> + Send;

    /// Puts a claimed (`sending`) page back to `pending` until `until`
    /// without counting an attempt; `held_back` marks it held by a rate limit
    /// (a page waiting out a group window is not). Writes `timeline` to
    /// `alert_id`'s timeline. Returns whether the row changed.
    fn hold_notification(
        &self,
        id: NotificationId,
        until: Timestamp,
        held_back: bool,
        timeline: Vec<TimelineEntry>,
        alert_id: Option<AlertId>,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Claims, like [`OutboxStore::claim_notifications`] but due or not, every
    /// `pending` `alert.notify` page about an alert that `scope` selects,
    /// except the ids in `except`; earliest due first, at most `limit`.
    fn claim_bundle(
        &self,
        scope: BundleScope,
        except: Vec<NotificationId>,
        now: Timestamp,
        lease: SignedDuration,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Claimed>>> + Send;

    /// Finishes the pages carried by bundled page `leader` with its outcome,
    /// each only if still `sending`, and writes each one's timeline:
    /// delivered → `delivered`, detail `in bundled page #leader`, not counted
    /// as a send; retry → back to `pending` at the later of its own due time
    /// and the retry's, attempts unchanged; failed → `failed` with the error.
    /// Returns the ids that changed.
    fn finish_bundled(
        &self,
        leader: NotificationId,
        pages: Vec<BundledPage>,
        finish: Finish,
        now: Timestamp,
    ) -> impl Future<Output = Result<Vec<NotificationId>>> + Send;

    /// Waits until no other node works lane `key` (an address's rate limit
    /// and bundles: count, send, record), then holds it until the returned
    /// lock is dropped, or the holder's connection ends (a node that dies
    /// lets go). A single-node store may return [`LaneLock::local`] at once
    /// (the engine also locks lanes within its process).
    fn lock_lane(&self, key: String) -> impl Future<Output = Result<LaneLock>> + Send;
}

/// Schedule overrides.
pub trait OverrideStore: Clone + Send + Sync + 'static {
    /// Stores a new override of `schedule`, made by `created_by` at `now`;
    /// `override_.id` is ignored and assigned: larger than every id assigned
    /// before, and never reused, even after a delete. Durable when Ok.
    ///
    /// Instants are kept to the backend's precision (SQLite: milliseconds); the
    /// returned value is the override as stored, equal to what
    /// [`OverrideStore::get_override`] reads back. An override that is not valid as
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
}

/// Change events (PagerDuty change events): a service's change timeline.
pub trait ChangeStore: Clone + Send + Sync + 'static {
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
}

/// Receipts of provider callbacks, so a retried callback acts once.
pub trait ReceiptStore: Clone + Send + Sync + 'static {
    /// Records that the provider callback named `key` arrived (at `now`).
    /// Returns true the first time, false for every repeat: a callback acts
    /// only when this says true. Durable when Ok.
    fn record_receipt(
        &self,
        key: String,
        now: Timestamp,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Removes a receipt, so the callback acts when it comes again: for a
    /// callback whose action failed after its receipt was recorded.
    fn forget_receipt(&self, key: String) -> impl Future<Output = Result<()>> + Send;
}

/// Maintenance windows.
pub trait MaintenanceStore: Clone + Send + Sync + 'static {
    /// Stores a maintenance window made by `created_by` at `now`; refused
    /// with an error (nothing written) unless `ends_at` is after `starts_at`.
    /// Instants are kept to the backend's precision; the returned value is
    /// the window as stored, with its id. Durable when Ok.
    fn add_maintenance(
        &self,
        window: NewMaintenance,
        now: Timestamp,
    ) -> impl Future<Output = Result<MaintenanceWindow>> + Send;

    /// Maintenance windows, newest first, filtered (see [`MaintenanceFilter`]).
    fn maintenance_windows(
        &self,
        filter: MaintenanceFilter,
    ) -> impl Future<Output = Result<Vec<MaintenanceWindow>>> + Send;

    fn get_maintenance(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<MaintenanceWindow>>> + Send;

    /// Ends a window at `now` if it has not ended yet (`ends_at = now`, and
    /// `starts_at = now` for one that had not begun); the record is kept.
    /// Returns the window as it is afterwards, `None` if there is no such id.
    fn end_maintenance(
        &self,
        id: i64,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<MaintenanceWindow>>> + Send;
}

/// The `ack_timeout`, `auto_resolve` and expiry passes: candidates, and
/// conditional writes.
pub trait TimeoutStore: Clone + Send + Sync + 'static {
    /// Up to `limit` alerts of `service` that are `acknowledged` with
    /// `acknowledged_at` at or before `acknowledged_by`, earliest first
    /// (the `ack_timeout` pass).
    fn acknowledged_before(
        &self,
        service: String,
        acknowledged_by: Timestamp,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Alert>>> + Send;

    /// Up to `limit` open alerts (triggered or acknowledged) of `service`
    /// whose `updated_at` is at or before `updated_by`, earliest first (the
    /// `auto_resolve` pass).
    fn open_not_updated_since(
        &self,
        service: String,
        updated_by: Timestamp,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Alert>>> + Send;

    /// Deletes up to `limit` alerts resolved before `before` — with their
    /// timeline, escalation and pages — oldest first, leaving any that still
    /// have a page or an action run to send (`[database] keep_resolved`).
    /// Returns how many were deleted. Several nodes may prune at once: each
    /// alert is deleted once.
    fn prune_resolved(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Up to `limit` open alerts whose `expires_at` is at or before `by`,
    /// earliest first (the expiry pass: Prometheus stopped sending them).
    fn expired(&self, by: Timestamp, limit: u32)
    -> impl Future<Output = Result<Vec<Alert>>> + Send;

    /// An acknowledgement timed out: if the alert is still `acknowledged`
    /// with exactly `acknowledged_at` (a conditional write, so a second
    /// node's attempt, or one racing a resolve or a new acknowledgement,
    /// changes nothing), it becomes `triggered` (`acknowledged_at` cleared,
    /// `updated_at = now`), its escalation restarts at the first step of the
    /// first round, due at `now`, not held, with `retriggered` raised by one
    /// and its version bumped, and `line` is added. Returns whether it did.
    fn retrigger(
        &self,
        alert_id: AlertId,
        acknowledged_at: Timestamp,
        line: TimelineEntry,
        now: Timestamp,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// No new trigger: if the alert is still open with exactly `updated_at`
    /// (conditional, as for [`TimeoutStore::retrigger`]), it becomes `resolved` at
    /// `now`, its escalation stops (version bumped), its pending and sending
    /// pages are cancelled and `line` is added. Returns whether it did.
    fn resolve_if_unchanged(
        &self,
        alert_id: AlertId,
        updated_at: Timestamp,
        line: TimelineEntry,
        now: Timestamp,
    ) -> impl Future<Output = Result<bool>> + Send;
}

/// Silences.
pub trait SilenceStore: Clone + Send + Sync + 'static {
    /// Stores a new silence (its id is new; instants kept to the backend's
    /// precision). With `replaces`, that silence is expired at `now` in the
    /// same transaction (Alertmanager's update: expire the old, add the new).
    /// Durable when Ok.
    fn add_silence(
        &self,
        silence: Silence,
        replaces: Option<String>,
        now: Timestamp,
    ) -> impl Future<Output = Result<()>> + Send;

    /// One silence by id.
    fn get_silence(&self, id: String) -> impl Future<Output = Result<Option<Silence>>> + Send;

    /// Silences ending after `ending_after` (every silence when `None`),
    /// oldest first.
    fn silences(
        &self,
        ending_after: Option<Timestamp>,
    ) -> impl Future<Output = Result<Vec<Silence>>> + Send;

    /// Expires a silence at `now`: one that has not ended gets `ends_at =
    /// now` (and `starts_at = now` if it had not started) and `updated_at =
    /// now`. Returns false when there is no such silence or it had ended
    /// already. Durable when Ok.
    fn expire_silence(
        &self,
        id: String,
        now: Timestamp,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// A number that changes in the same transaction as every silence
    /// written (added, replaced or expired), by any caller on any node: a
    /// node keeps the silences in memory and reads them again when this
    /// moved. One cheap read.
    fn silences_generation(&self) -> impl Future<Output = Result<i64>> + Send;
}

/// Heartbeats: when each was last pinged and whether it is overdue, shared
/// by every node (a ping may reach any node behind a load balancer).
pub trait HeartbeatStore: Clone + Send + Sync + 'static {
    /// A node started watching heartbeat `name` of `service` at `now`: a
    /// start counts as a ping (`last_ping` becomes the later of the two),
    /// without changing whether it is overdue.
    fn heartbeat_watched(
        &self,
        service: String,
        name: String,
        now: Timestamp,
    ) -> impl Future<Output = Result<()>> + Send;

    /// A ping at `at`: `last_ping` becomes the later of the two and the
    /// heartbeat is not overdue. Returns whether it was overdue (the caller
    /// then resolves the alert; of two racing pings exactly one gets true).
    fn heartbeat_pinged(
        &self,
        service: String,
        name: String,
        at: Timestamp,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Every heartbeat recorded, by service and name.
    fn heartbeats(&self) -> impl Future<Output = Result<Vec<HeartbeatRecord>>> + Send;

    /// Marks the heartbeat overdue if it is not and its last ping is still
    /// exactly `last_ping` (a conditional write: of two nodes finding it
    /// overdue exactly one gets true, and a ping that came meanwhile makes
    /// it false). Returns whether it did.
    fn heartbeat_overdue(
        &self,
        service: String,
        name: String,
        last_ping: Timestamp,
    ) -> impl Future<Output = Result<bool>> + Send;
}

/// Probes (`[[probes]]`): which node runs each check, and the run of
/// failures and successes, shared by every node, so a probe is checked once
/// per interval across the cluster and its thresholds count every check.
pub trait ProbeStore: Clone + Send + Sync + 'static {
    /// Claims the check of probe `name` due at `now`: if no node has run it
    /// since its last claim's `next_run` (or it was never run), its next
    /// run becomes `next_run` and the caller runs it (true); otherwise
    /// false. Of two racing nodes exactly one gets true.
    fn claim_probe_run(
        &self,
        name: String,
        now: Timestamp,
        next_run: Timestamp,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Records a check's result: a success raises `successes` and zeroes
    /// `failures`, a failure the other way round. Returns the probe's state
    /// after it.
    fn probe_checked(
        &self,
        name: String,
        ok: bool,
    ) -> impl Future<Output = Result<ProbeRecord>> + Send;

    /// Sets what the probe (`cert` false) or its certificate (`cert` true)
    /// is known to be, only if it is still `from` (a conditional write: one
    /// node sends the trigger or the resolve). Returns whether it did.
    fn set_probe_status(
        &self,
        name: String,
        cert: bool,
        from: ProbeStatus,
        to: ProbeStatus,
    ) -> impl Future<Output = Result<bool>> + Send;
}

/// What a probe or its certificate is known to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeStatus {
    /// Never checked (or not since the store began keeping it).
    Unknown,
    Up,
    Down,
}

impl ProbeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeStatus::Unknown => "unknown",
            ProbeStatus::Up => "up",
            ProbeStatus::Down => "down",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "unknown" => Some(ProbeStatus::Unknown),
            "up" => Some(ProbeStatus::Up),
            "down" => Some(ProbeStatus::Down),
            _ => None,
        }
    }
}

/// A probe's shared state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeRecord {
    pub failures: u32,
    pub successes: u32,
    pub status: ProbeStatus,
    pub cert_status: ProbeStatus,
}

/// A heartbeat as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeartbeatRecord {
    pub service: String,
    pub name: String,
    pub last_ping: Timestamp,
    pub overdue: bool,
}

/// The nodes sharing the store (one, for an embedded database).
pub trait NodeStore: Clone + Send + Sync + 'static {
    /// Records that `node` runs: inserts its row, or replaces it (a node
    /// restarted under the same name). Durable when Ok.
    fn node_seen(&self, node: NodeRecord) -> impl Future<Output = Result<()>> + Send;

    /// Every node that ever recorded itself, by name.
    fn nodes(&self) -> impl Future<Output = Result<Vec<NodeRecord>>> + Send;
}

/// People's sign-in to the web UI: password hashes and sessions, in the
/// store so that every node sharing it knows them.
pub trait AccountStore: Clone + Send + Sync + 'static {
    /// Sets `user`'s password hash (a PHC string) and ends every session
    /// of that user. Durable when Ok.
    fn set_password(
        &self,
        user: String,
        hash: String,
        now: Timestamp,
    ) -> impl Future<Output = Result<()>> + Send;

    /// `user`'s password hash, if one was ever set.
    fn password_hash(&self, user: String) -> impl Future<Output = Result<Option<String>>> + Send;

    /// Records a new session, and forgets sessions that expired before
    /// its creation.
    fn create_session(&self, session: SessionRecord) -> impl Future<Output = Result<()>> + Send;

    /// The session whose id hashes to `id_hash`, unless it expired by `now`.
    fn session(
        &self,
        id_hash: String,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<SessionRecord>>> + Send;

    /// Ends one session (sign out).
    fn delete_session(&self, id_hash: String) -> impl Future<Output = Result<()>> + Send;
}

/// A signed-in browser. The store keeps only a hash of the cookie's value,
/// so a copy of the database opens no session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 (hex) of the session cookie's value.
    pub id_hash: String,
    pub user: String,
    /// The token every form of this session must carry.
    pub csrf: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A node as recorded in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRecord {
    pub name: String,
    pub version: String,
    pub started_at: Timestamp,
    pub last_seen: Timestamp,
    /// SHA-256 (hex) of the configuration the nodes must share.
    pub config_digest: String,
}

/// Held while a node works a delivery lane (see
/// [`BundleStore::lock_lane`]); dropping it lets the next one in.
pub struct LaneLock(#[allow(dead_code)] Option<Box<dyn Send>>);

impl LaneLock {
    /// A lock that holds nothing beyond the process (one node).
    pub fn local() -> Self {
        LaneLock(None)
    }

    /// A lock whose release is `guard`'s drop.
    pub fn held(guard: impl Send + 'static) -> Self {
        LaneLock(Some(Box::new(guard)))
    }
}

impl std::fmt::Debug for LaneLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LaneLock")
    }
}
