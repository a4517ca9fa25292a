//! Grouping, bundling and per-contact-method rate limits.
//!
//! The dispatcher hands every claimed batch to [`Engine::split_batch`]. Pages
//! of a service without `group_window`, to a contact kind without a rate
//! limit, never held back, are delivered as before (no extra store round
//! trip). The others go into lanes, one per contact kind and address (or
//! channel and address), each run in order under a per-lane lock:
//!
//! - A page of a grouped service waits until `group_window` has passed since
//!   it was created (re-pended, no attempt counted).
//! - A page to a rate-limited address that already had its share in the
//!   window is held back until the oldest counted send leaves the window
//!   (re-pended, marked held, one timeline line). A page held while another
//!   to the same address already waits is due a little later than it, so
//!   the first one's release carries it, whichever node claims that one.
//! - A page that goes out takes along, in one bundled message, every other
//!   pending page for the same person, channel, address and service (grouped
//!   services), or every held or pending page to the same address of that
//!   contact kind (a held page). Each carried page is finished with the
//!   bundle's outcome and its alert's timeline says so.

use crate::{Engine, Result};
use firebell_core::alert::{AlertId, TimelineEntry, TimelineKind};
use firebell_core::bundling::{BundleItem, RateLimit, bundle_alert};
use firebell_core::config::Config;
use firebell_core::notification::{Delivery, Notification, NotificationId, NotificationKind};
use firebell_store::{BundleScope, BundledPage, Claimed, Finish, Store};
use jiff::SignedDuration;
use serde_json::json;
use std::collections::VecDeque;

/// Most pages one bundled message carries; more wait for the next one.
const MAX_BUNDLE: u32 = 500;

/// How much longer than the first page held back to an address each later
/// one waits. The first one's release carries the rest in its bundle; were
/// they all due at once, two nodes could claim some each and send two
/// messages. The later ones' own time is the fallback should the first one's
/// node die holding it.
const HELD_AFTER_FIRST: SignedDuration = SignedDuration::from_secs(5);

/// The contact kind (`sms`, `voice`, …) a page was queued for, if its
/// user's contact is still configured on that channel.
fn contact_kind(config: &Config, n: &Notification) -> Option<&'static str> {
    config
        .users
        .get(&n.user)?
        .contacts
        .get(n.contact_index as usize)
        .filter(|c| c.channel() == n.channel)
        .map(|c| c.kind())
}

/// The rate limit a page is under, with its contact kind.
fn limit_of(config: &Config, n: &Notification) -> Option<(&'static str, RateLimit)> {
    let kind = contact_kind(config, n)?;
    Some((kind, config.delivery.rate_limits.for_kind(kind)?))
}

/// The lane a page goes into, or `None` for the plain path.
fn lane_of(config: &Config, c: &Claimed) -> Option<String> {
    let n = &c.notification;
    if n.kind != NotificationKind::Notify {
        return None;
    }
    let alert = c.alert.as_ref()?;
    if c.held || limit_of(config, n).is_some() {
        let kind = contact_kind(config, n).unwrap_or("?");
        return Some(format!("{kind}\u{0}{}", n.address));
    }
    config
        .services
        .get(&alert.service)
        .and_then(|s| s.group_window)
        .map(|_| format!("{}\u{0}{}\u{0}{}", n.channel, n.user, n.address))
}

/// `…0123`: enough of an address to recognise it on a timeline.
fn short_address(address: &str) -> String {
    let chars: Vec<char> = address.chars().collect();
    if chars.len() <= 4 {
        return address.to_string();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("…{tail}")
}

/// A page that waits until its group window closes.
struct WindowHold {
    id: NotificationId,
    ready: jiff::Timestamp,
    line: TimelineEntry,
    alert_id: Option<AlertId>,
}

/// The line of a page that waits out its service's group window `w` until
/// `ready`; `id` is the page's, once it has one.
pub(crate) fn window_line(
    user: &str,
    channel: &str,
    id: Option<NotificationId>,
    service_name: &str,
    w: SignedDuration,
    ready: jiff::Timestamp,
    now: jiff::Timestamp,
) -> TimelineEntry {
    let mut data = json!({ "user": user, "until": ready.to_string() });
    if let Some(id) = id {
        data["notification_id"] = id.into();
    }
    TimelineEntry::new(
        now,
        TimelineKind::Held,
        format!(
            "page to {user} via {channel} waits until {ready} for more alerts of {service_name} (group window {w:#})"
        ),
    )
    .with_data(data)
}

/// A new alert's first step decided with its write (see `first_step.rs`),
/// for a service with a group window `w`: the pages due at once are written
/// waiting until the window closes, each with its line, as the dispatcher
/// would hold them, so no claim and no second write comes first.
pub(crate) fn hold_first_pages(
    t: &mut firebell_core::escalation::Transition,
    service_name: &str,
    w: SignedDuration,
    now: jiff::Timestamp,
) {
    let Ok(ready) = now.checked_add(w) else {
        return;
    };
    for n in t.notifications.iter_mut().filter(|n| n.due_at <= now) {
        n.due_at = ready;
        t.timeline.push(window_line(
            &n.user,
            &n.channel,
            None,
            service_name,
            w,
            ready,
            now,
        ));
    }
}

impl<S: Store> Engine<S> {
    /// Splits a claimed batch into pages for the plain path and lanes.
    pub(crate) fn split_batch(
        &self,
        claimed: Vec<Claimed>,
    ) -> (Vec<Claimed>, Vec<(String, Vec<Claimed>)>) {
        let config = self.config();
        let mut plain = Vec::with_capacity(claimed.len());
        let mut lanes: Vec<(String, Vec<Claimed>)> = Vec::new();
        for c in claimed {
            match lane_of(&config, &c) {
                None => plain.push(c),
                Some(key) => match lanes.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, l)) => l.push(c),
                    None => lanes.push((key, vec![c])),
                },
            }
        }
        (plain, lanes)
    }

    /// Delivers one lane's pages in order (see the module docs).
    pub(crate) async fn deliver_lane(&self, key: String, lane: Vec<Claimed>) -> Result<()> {
        // One holder per lane across every node sharing the store, so two
        // deliveries never count the same address's sends at once.
        let _lane = self.inner.store.lock_lane(key.clone()).await?;
        let mut queue: VecDeque<Claimed> = lane.into();
        // The lane's pages were claimed together, under one lease. Sending
        // them one after another must not outlast it, or another pass could
        // claim and send one again: past half the lease, what is left goes
        // back to pending (no attempt counted) and a later pass claims it
        // afresh. Half the lease leaves room for one more attempt (the lease
        // is at least three of the slowest channel's attempts).
        let started = std::time::Instant::now();
        let budget = self.lease().unsigned_abs() / 2;
        // Pages that wait out their group window, written together (one
        // commit for a flood, not one each) before anything else the lane
        // does, so a later bundle in the lane still finds them waiting.
        let mut holds: Vec<WindowHold> = Vec::new();
        // The earliest a page held back to this lane's address waits until,
        // once this pass has held one (the lane is locked: nobody else
        // holds one meanwhile); forgotten when a bundle carries them off.
        let mut first_held: Option<jiff::Timestamp> = None;
        while let Some(c) = queue.pop_front() {
            if started.elapsed() > budget {
                self.hold_for_windows(&mut holds).await?;
                let now = self.now();
                for m in std::iter::once(c).chain(queue.drain(..)) {
                    let n = &m.notification;
                    self.inner
                        .store
                        .hold_notification(n.id, now, m.held, Vec::new(), n.alert_id)
                        .await?;
                }
                self.inner.wake_dispatch.notify_one();
                return Ok(());
            }
            let config = self.config();
            let now = self.now();
            let Some(alert) = c.alert.clone() else {
                self.hold_for_windows(&mut holds).await?;
                self.deliver(c).await?;
                continue;
            };
            let n = &c.notification;
            let service = config.services.get(&alert.service);
            let window = service.and_then(|s| s.group_window);
            if let Some(w) = window
                && !c.held
                && let Ok(ready) = n.created_at.checked_add(w)
                && ready > now
            {
                let name = service.map_or(alert.service.as_str(), |s| s.name.as_str());
                let line = window_line(&n.user, &n.channel, Some(n.id), name, w, ready, now);
                holds.push(WindowHold {
                    id: n.id,
                    ready,
                    line,
                    alert_id: n.alert_id,
                });
                continue;
            }
            self.hold_for_windows(&mut holds).await?;
            let limited = limit_of(&config, n);
            if let Some((kind, limit)) = limited {
                let rate_key = format!("{kind}:{}", n.address);
                let after = now.checked_sub(limit.per).unwrap_or(now);
                let sends = self
                    .inner
                    .store
                    .count_sends(rate_key.clone(), Some(n.id), after)
                    .await?;
                let count = limit.count as usize;
                if sends.len() >= count {
                    let oldest = sends[sends.len() - count];
                    let until = oldest
                        .checked_add(limit.per)
                        .unwrap_or(now)
                        .max(now + SignedDuration::from_millis(1));
                    let earlier = match first_held {
                        Some(t) => Some(t),
                        None => self.inner.store.first_held(rate_key, n.id).await?,
                    };
                    let follows = earlier.is_some_and(|t| t <= until);
                    let wait = if follows {
                        until.checked_add(HELD_AFTER_FIRST).unwrap_or(until)
                    } else {
                        until
                    };
                    first_held = Some(earlier.map_or(wait, |t| t.min(wait)));
                    let with = if follows {
                        " with the pages held before it"
                    } else {
                        ""
                    };
                    let line = TimelineEntry::new(
                        now,
                        TimelineKind::Held,
                        format!(
                            "held back: {kind} to {} is rate limited ({limit}); will be sent at {until}{with}",
                            short_address(&n.address)
                        ),
                    )
                    .with_data(json!({ "notification_id": n.id, "user": n.user, "until": until.to_string() }));
                    tracing::info!(parent: &crate::page_span(n), %kind, %until, "page held back by a rate limit");
                    self.inner
                        .store
                        .hold_notification(n.id, wait, true, vec![line], n.alert_id)
                        .await?;
                    continue;
                }
            }
            // What this page takes along.
            let scope = if c.held {
                let kind = contact_kind(&config, n);
                let mut channels: Vec<String> = config
                    .users
                    .values()
                    .flat_map(|u| u.contacts.iter())
                    .filter(|ct| Some(ct.kind()) == kind)
                    .map(|ct| ct.channel().to_string())
                    .collect();
                channels.push(n.channel.clone());
                channels.sort();
                channels.dedup();
                Some(BundleScope {
                    address: n.address.clone(),
                    channels,
                    user: None,
                    service: None,
                })
            } else if window.is_some() {
                Some(BundleScope {
                    address: n.address.clone(),
                    channels: vec![n.channel.clone()],
                    user: Some(n.user.clone()),
                    service: Some(alert.service.clone()),
                })
            } else {
                None
            };
            let Some(scope) = scope else {
                self.deliver(c).await?;
                continue;
            };
            let in_scope = |m: &Claimed| {
                m.notification.kind == NotificationKind::Notify
                    && m.notification.address == scope.address
                    && scope.channels.contains(&m.notification.channel)
                    && scope
                        .user
                        .as_ref()
                        .is_none_or(|u| *u == m.notification.user)
                    && m.alert
                        .as_ref()
                        .is_some_and(|a| scope.service.as_ref().is_none_or(|s| *s == a.service))
            };
            let (mut members, rest): (Vec<Claimed>, Vec<Claimed>) =
                queue.drain(..).partition(|m| in_scope(m));
            queue.extend(rest);
            let mut except: Vec<_> = members.iter().map(|m| m.notification.id).collect();
            except.push(n.id);
            let room = MAX_BUNDLE.saturating_sub(members.len() as u32);
            let more = self
                .inner
                .store
                .claim_bundle(scope.clone(), except, now, self.lease(), room)
                .await?;
            members.extend(more);
            if members.is_empty() {
                self.deliver(c).await?;
                continue;
            }
            let title = match service {
                Some(s)
                    if members
                        .iter()
                        .all(|m| m.alert.as_ref().is_some_and(|a| a.service == s.id)) =>
                {
                    s.name.clone()
                }
                _ => format!(
                    "{} to {}",
                    limited.map(|(k, _)| k).unwrap_or("pages"),
                    short_address(&n.address)
                ),
            };
            first_held = None;
            self.deliver_bundle(c, members, &title).await?;
        }
        self.hold_for_windows(&mut holds).await
    }

    /// Writes the group-window holds gathered so far, all at once (the
    /// writes share a commit).
    async fn hold_for_windows(&self, holds: &mut Vec<WindowHold>) -> Result<()> {
        if holds.is_empty() {
            return Ok(());
        }
        let writes = holds.drain(..).map(|h| {
            self.inner
                .store
                .hold_notification(h.id, h.ready, false, vec![h.line], h.alert_id)
        });
        for r in futures::future::join_all(writes).await {
            r?;
        }
        Ok(())
    }

    /// Sends one message for `leader` and `members` and finishes them all
    /// with its outcome.
    async fn deliver_bundle(
        &self,
        leader: Claimed,
        members: Vec<Claimed>,
        title: &str,
    ) -> Result<()> {
        let n = leader.notification;
        let Some(alert) = leader.alert else {
            return Ok(());
        };
        let mut items = vec![BundleItem {
            alert_id: alert.id,
            summary: alert.summary.clone(),
        }];
        items.extend(members.iter().filter_map(|m| {
            m.alert.as_ref().map(|a| BundleItem {
                alert_id: a.id,
                summary: a.summary.clone(),
            })
        }));
        let total = members.len() + 1;
        let stand_in = bundle_alert(&alert, title, &items);
        let channels = self.channels();
        let started = std::time::Instant::now();
        let outcome = channels.deliver(&stand_in, &n, self.now()).await;
        let now = self.now();
        let attempt = n.attempts + 1;
        let label = crate::metrics::ChannelLabel {
            channel: n.channel.clone(),
        };
        self.inner
            .metrics
            .delivery_seconds
            .get_or_create(&label)
            .observe(started.elapsed().as_secs_f64());
        let data = json!({
            "notification_id": n.id,
            "user": n.user,
            "channel": n.channel,
            "bundled": total,
            "attempt": attempt,
        });
        let max_attempts = self.config().delivery.max_attempts;
        let who = &n.user;
        let p = n.id;
        let (finish, line, member_line) = match outcome {
            Delivery::Delivered { detail } => {
                self.inner
                    .metrics
                    .notifications_sent
                    .get_or_create(&label)
                    .inc();
                tracing::debug!(parent: &crate::page_span(&n), user = %n.user, channel = %n.channel, bundled = total, "bundled page delivered");
                (
                    Finish::Delivered {
                        detail: detail.clone(),
                    },
                    TimelineEntry::new(
                        now,
                        TimelineKind::Delivered,
                        format!(
                            "delivered bundled page #{p} to {who} via {} ({total} alerts; {detail})",
                            n.channel
                        ),
                    ),
                    TimelineEntry::new(
                        now,
                        TimelineKind::Delivered,
                        format!("included in bundled page #{p} to {who} ({total} alerts)"),
                    ),
                )
            }
            Delivery::Retryable { error } if attempt < max_attempts => {
                self.inner
                    .metrics
                    .notifications_retried
                    .get_or_create(&label)
                    .inc();
                let at = now.checked_add(self.backoff(n.attempts)).unwrap_or(now);
                (
                    Finish::Retry {
                        at,
                        error: error.clone(),
                    },
                    TimelineEntry::new(
                        now,
                        TimelineKind::Retrying,
                        format!(
                            "attempt {attempt} of bundled page #{p} to {who} via {} failed ({error}); retrying at {at}",
                            n.channel
                        ),
                    ),
                    TimelineEntry::new(
                        now,
                        TimelineKind::Retrying,
                        format!(
                            "bundled page #{p} to {who} ({total} alerts) failed ({error}); retrying at {at}"
                        ),
                    ),
                )
            }
            Delivery::Retryable { error } | Delivery::Permanent { error } => {
                self.inner
                    .metrics
                    .notifications_failed
                    .get_or_create(&label)
                    .inc();
                (
                    Finish::Failed {
                        error: error.clone(),
                    },
                    TimelineEntry::new(
                        now,
                        TimelineKind::Failed,
                        format!(
                            "bundled page #{p} to {who} via {} failed for good after {attempt} attempt(s): {error}",
                            n.channel
                        ),
                    ),
                    TimelineEntry::new(
                        now,
                        TimelineKind::Failed,
                        format!(
                            "bundled page #{p} to {who} ({total} alerts), which included this alert, failed for good: {error}"
                        ),
                    ),
                )
            }
        };
        let failed = matches!(finish, Finish::Failed { .. });
        let ended = crate::self_alerts::page_end(&finish);
        match &finish {
            Finish::Delivered { .. } => self.record_channel(&n.channel, now, None),
            Finish::Retry { error, .. } | Finish::Failed { error } => {
                self.record_channel(&n.channel, now, Some(error));
            }
        }
        let leader_changed = self
            .inner
            .store
            .finish_notification(
                n.id,
                finish.clone(),
                vec![line.with_data(data.clone())],
                n.alert_id,
            )
            .await?;
        let pages: Vec<BundledPage> = members
            .iter()
            .filter_map(|m| {
                Some(BundledPage {
                    id: m.notification.id,
                    alert_id: m.notification.alert_id?,
                    timeline: vec![member_line.clone().with_data(data.clone())],
                })
            })
            .collect();
        let changed = self
            .inner
            .store
            .finish_bundled(n.id, pages, finish, now)
            .await?;
        if failed {
            let mut failed_pages: Vec<&Notification> = Vec::new();
            if leader_changed {
                failed_pages.push(&n);
            }
            for m in &members {
                if changed.contains(&m.notification.id) {
                    failed_pages.push(&m.notification);
                }
            }
            for p in failed_pages {
                self.follow_up_failed(p.id).await?;
            }
        }
        if let Some(error) = ended {
            self.channel_streak(&n.channel, error.as_deref()).await?;
        }
        Ok(())
    }
}
