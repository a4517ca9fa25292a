//! What people's answers through a provider do: a call's key press, a
//! call or text that did not reach them, the details sent after they took an
//! alert. The HTTP side (signatures, TwiML) is the server's; the state
//! changes are here, on the same paths as the API's and the dispatcher's.

use crate::{Engine, Result};
use firebell_core::alert::{Alert, TimelineEntry, TimelineKind};
use firebell_core::config::Contact;
use firebell_core::notification::{NewNotification, Notification, NotificationKind};
use firebell_store::Store;
use serde_json::json;

impl<S: Store> Engine<S> {
    /// The person a page went to was not reached (no answer, busy, a machine
    /// answered, the text was not delivered): exactly what a permanently
    /// failed delivery does — their next contact method, else they count as
    /// not reached for the step that paged them.
    pub async fn not_reached(&self, n: &Notification) -> Result<()> {
        match n.kind {
            NotificationKind::Notify => self.not_reached_by(n).await,
            _ => Ok(()),
        }
    }

    /// Writes provider-reported lines (a call's status) on an alert's timeline.
    pub async fn note(&self, alert_id: i64, lines: Vec<TimelineEntry>) -> Result<()> {
        self.inner.store.add_timeline(alert_id, lines).await?;
        Ok(())
    }

    /// Texts `alert`'s details to the person paged by `n`, who just took it:
    /// to their first `sms` contact if they have one, else to the page's own
    /// number through the page's channel. Queued once per page (idempotency
    /// key `details:{nid}`), with a line on the alert's timeline. Returns
    /// false when there is nowhere to send it.
    pub async fn send_details(
        &self,
        n: &Notification,
        alert: &Alert,
        text: String,
    ) -> Result<bool> {
        let config = self.config();
        let sms = config.users.get(&n.user).and_then(|u| {
            u.contacts.iter().enumerate().find_map(|(i, c)| match c {
                Contact::Sms { number, channel } => {
                    Some((i as u32, channel.clone(), number.to_string()))
                }
                _ => None,
            })
        });
        // Without an sms contact the text goes to the called number through
        // the page's channel (a notice through a twilio channel is always a
        // text, never a call).
        let (contact_index, channel, address) =
            sms.unwrap_or_else(|| (n.contact_index, n.channel.clone(), n.address.clone()));
        if address.is_empty() {
            return Ok(false);
        }
        let now = self.now();
        let id = self
            .text_back(
                &n.user,
                contact_index,
                &channel,
                address,
                text,
                format!("details:{}", n.id),
            )
            .await?;
        let line = TimelineEntry::new(
            now,
            TimelineKind::Notified,
            format!("details sent to {} by text via {channel}", n.user),
        )
        .with_data(json!({
            "user": n.user,
            "channel": channel,
            "notification_id": id,
        }));
        self.inner.store.add_timeline(alert.id, vec![line]).await?;
        Ok(true)
    }

    /// Queues a text to a person outside any escalation (the details after
    /// they took an alert, the answer to their reply): once per
    /// `idem_key`, through `channel` to `address`. Returns its id.
    pub async fn text_back(
        &self,
        user: &str,
        contact_index: u32,
        channel: &str,
        address: String,
        text: String,
        idem_key: String,
    ) -> Result<Option<i64>> {
        let now = self.now();
        let notice = NewNotification {
            idem_key,
            alert_id: None,
            message: Some(text),
            user: user.to_string(),
            contact_index,
            channel: channel.to_string(),
            address,
            kind: NotificationKind::Notify,
            step: 0,
            loop_: 0,
            due_at: now,
        };
        let ids = self.inner.store.enqueue_notices(vec![notice], now).await?;
        self.inner.wake_dispatch.notify_one();
        Ok(ids.first().copied())
    }
}
