//! "Update and Test": a test message through the real delivery path — the
//! outbox, the channel, the provider or program — with the answer shown.
//! Test messages are notices (about no alert): they open nothing, page
//! nobody else, and are not retried, so the answer is the first attempt's.

use crate::{Engine, EngineError, Result};
use firebell_core::notification::{
    NewNotification, Notification, NotificationKind, NotificationStatus,
};
use firebell_store::Store;
use rand::Rng;

/// Where one test message goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestTarget {
    /// Shown on the message and in the answer; a user id, or who asked.
    pub user: String,
    pub contact_index: u32,
    /// The channel's name, as on a notification.
    pub channel: String,
    /// The address, as the channel reads it from a notification.
    pub address: String,
    pub message: String,
}

/// How many dispatch passes a test waits through for its answer.
const PASSES: usize = 50;

impl<S: Store> Engine<S> {
    /// Queues one test message per target, delivers them now, and returns
    /// each as it ended (delivered with the provider's answer in `detail`,
    /// or failed with it in `last_error`), in order.
    pub async fn send_tests(&self, targets: Vec<TestTarget>) -> Result<Vec<Notification>> {
        let now = self.now();
        let run: u64 = rand::rng().random();
        let notices = targets
            .into_iter()
            .enumerate()
            .map(|(i, t)| NewNotification {
                idem_key: format!("test:{run:016x}:{i}"),
                alert_id: None,
                message: Some(t.message),
                user: t.user,
                contact_index: t.contact_index,
                channel: t.channel,
                address: t.address,
                kind: NotificationKind::Test,
                step: 0,
                loop_: 0,
                due_at: now,
            })
            .collect();
        let ids = self.inner.store.enqueue_notices(notices, now).await?;
        for _ in 0..PASSES {
            self.dispatch_once().await?;
            let mut done = Vec::with_capacity(ids.len());
            for id in &ids {
                match self.inner.store.get_notification(*id).await? {
                    Some(n)
                        if matches!(
                            n.status,
                            NotificationStatus::Delivered | NotificationStatus::Failed
                        ) =>
                    {
                        done.push(n)
                    }
                    _ => break,
                }
            }
            if done.len() == ids.len() {
                return Ok(done);
            }
            // Another dispatcher holds it under its lease: give it a moment.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Err(EngineError::Internal(
            "the test message was not delivered or refused in time; see the server's log".into(),
        ))
    }
}
