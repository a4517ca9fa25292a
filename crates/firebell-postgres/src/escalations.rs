//! Escalation records: what is due, and decisions written under a version check.

use crate::alerts::{add_lines, cancel_pages};
use crate::error::Result as R;
use crate::rows::{self, escalation_cols};
use crate::sql::{exec, query_one};
use crate::{PgStore, in_tx, with_client};
use deadpool_postgres::GenericClient;
use firebell_core::alert::{AlertId, AlertStatus};
use firebell_core::clock::{from_millis, to_millis};
use firebell_core::escalation::{Escalation, Transition};
use firebell_store::backend::{Line, encode_json};
use firebell_store::{CommitResult, EscalationStore, Result};
use jiff::Timestamp;

/// What the transaction decided; a refusal is rolled back. `Applied` holds
/// the pages written claimed (ids and places in the transition's list).
enum Outcome {
    Applied(Vec<(i64, usize)>),
    Refused,
}

/// Writes `t` if the escalation is still at `expected_version`. With
/// `lease_until`, the pages due at once are written claimed until then.
async fn commit<C: GenericClient>(
    c: &C,
    expected_version: i64,
    t: &Transition,
    targets: &str,
    timeline: &[Line],
    now: i64,
    lease_until: Option<i64>,
) -> R<Outcome> {
    let esc = &t.escalation;
    // A follow-up is written once: the marker is cleared first, and if
    // another node cleared it already this decision is stale.
    if let Some(id) = t.settles {
        let cleared = exec(
            c,
            "UPDATE notifications SET follow_up = false WHERE id = $1 AND follow_up",
            &[&id],
        )
        .await?;
        if cleared == 0 {
            return Ok(Outcome::Refused);
        }
    }
    let changed = exec(
        c,
        "UPDATE escalations SET policy = $3, phase = $4, step = $5, loop = $6, due_at = $7, \
         targets = $8, held = $9, version = version + 1 \
         WHERE alert_id = $1 AND version = $2",
        &[
            &esc.alert_id,
            &expected_version,
            &esc.policy,
            &esc.phase.as_str(),
            &i64::from(esc.step),
            &i64::from(esc.loop_),
            &esc.due_at.map(to_millis),
            &targets,
            &esc.held,
        ],
    )
    .await?;
    if changed == 0 {
        return Ok(Outcome::Refused);
    }
    if let Some(status) = t.alert_status {
        // The guards keep an alert from moving backwards; the version check
        // already refuses stale decisions.
        let sql = match status {
            AlertStatus::Acknowledged => {
                "UPDATE alerts SET status = 'acknowledged', acknowledged_at = $2, updated_at = $2 \
                 WHERE id = $1 AND status = 'triggered'"
            }
            AlertStatus::Resolved => {
                "UPDATE alerts SET status = 'resolved', resolved_at = $2, updated_at = $2 \
                 WHERE id = $1 AND status <> 'resolved'"
            }
            AlertStatus::Triggered => {
                "UPDATE alerts SET status = 'triggered', updated_at = $2 \
                 WHERE id = $1 AND status = 'acknowledged'"
            }
        };
        exec(c, sql, &[&esc.alert_id, &now]).await?;
        if status != AlertStatus::Triggered {
            // Before queueing this transition's own pages, which stay queued.
            cancel_pages(c, esc.alert_id, now).await?;
        }
    }
    let mut claimed = Vec::new();
    if !t.notifications.is_empty() {
        let n = &t.notifications;
        let idem: Vec<&str> = n.iter().map(|n| n.idem_key.as_str()).collect();
        let user: Vec<&str> = n.iter().map(|n| n.user.as_str()).collect();
        let contact: Vec<i64> = n.iter().map(|n| i64::from(n.contact_index)).collect();
        let channel: Vec<&str> = n.iter().map(|n| n.channel.as_str()).collect();
        let address: Vec<&str> = n.iter().map(|n| n.address.as_str()).collect();
        let kind: Vec<&str> = n.iter().map(|n| n.kind.as_str()).collect();
        let step: Vec<i64> = n.iter().map(|n| i64::from(n.step)).collect();
        let loop_: Vec<i64> = n.iter().map(|n| i64::from(n.loop_)).collect();
        let due: Vec<i64> = n.iter().map(|n| to_millis(n.due_at)).collect();
        let rows = crate::sql::query(
            c,
            "INSERT INTO notifications (alert_id, idem_key, user_id, contact_index, channel, \
             address, kind, step, loop, status, attempts, next_attempt_at, lease_until, \
             created_at, updated_at) \
             SELECT $1, k, u, ci, ch, ad, ki, st, lo, \
             CASE WHEN $12::bigint IS NOT NULL AND du <= $11 THEN 'sending' ELSE 'pending' END, \
             0, du, CASE WHEN du <= $11 THEN $12::bigint END, $11, $11 \
             FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], \
             $7::text[], $8::bigint[], $9::bigint[], $10::bigint[]) WITH ORDINALITY \
             AS t(k, u, ci, ch, ad, ki, st, lo, du, i) ORDER BY i \
             ON CONFLICT (idem_key) DO NOTHING RETURNING id, idem_key, status",
            &[
                &esc.alert_id,
                &idem,
                &user,
                &contact,
                &channel,
                &address,
                &kind,
                &step,
                &loop_,
                &due,
                &now,
                &lease_until,
            ],
        )
        .await?;
        for row in rows {
            let status: String = row.get(2);
            if status != "sending" {
                continue;
            }
            let key: String = row.get(1);
            if let Some(i) = n.iter().position(|n| n.idem_key == key) {
                claimed.push((row.get::<_, i64>(0), i));
            }
        }
    }
    add_lines(c, esc.alert_id, timeline).await?;
    if !t.notifications.is_empty() {
        crate::wake::notify(c).await?;
    }
    Ok(Outcome::Applied(claimed))
}

/// A new alert's first step, decided while it is recorded (see
/// `firebell_store::FirstStep`), applied to the escalation just inserted at
/// version 0, in the caller's transaction.
pub(crate) async fn commit_first_step<C: GenericClient>(
    c: &C,
    t: &Transition,
    now: i64,
    lease_until: Option<i64>,
) -> R<Vec<(i64, usize)>> {
    let targets = encode_json(&t.escalation.targets)?;
    let timeline = Line::encode_all(&t.timeline)?;
    match commit(c, 0, t, &targets, &timeline, now, lease_until).await? {
        Outcome::Applied(claimed) => Ok(claimed),
        Outcome::Refused => Err(crate::error::Error::Other(format!(
            "the new escalation of alert {} was not at version 0",
            t.escalation.alert_id
        ))),
    }
}

impl EscalationStore for PgStore {
    async fn escalation(&self, id: AlertId) -> Result<Option<Escalation>> {
        self.read_opt(
            concat!(
                "SELECT ",
                escalation_cols!(),
                " FROM escalations WHERE alert_id = $1"
            ),
            &[&id],
            rows::escalation,
        )
        .await
    }

    async fn due_escalations(&self, now: Timestamp, limit: u32) -> Result<Vec<Escalation>> {
        let now = to_millis(now);
        self.read_all(
            concat!(
                "SELECT ",
                escalation_cols!(),
                " FROM escalations WHERE phase IN ('pending', 'waiting') \
                         AND due_at <= $1 ORDER BY due_at, alert_id LIMIT $2"
            ),
            &[&now, &i64::from(limit)],
            rows::escalation,
        )
        .await
    }

    async fn next_escalation_due(&self) -> Result<Option<Timestamp>> {
        with_client!(self, |c| {
            let due: Option<i64> = query_one(
                &c,
                "SELECT min(due_at) FROM escalations WHERE phase IN ('pending', 'waiting')",
                &[],
            )
            .await?
            .get(0);
            Ok(due.map(from_millis))
        })
    }

    async fn commit(
        &self,
        expected_version: i64,
        transition: Transition,
        now: Timestamp,
    ) -> Result<CommitResult> {
        let targets = encode_json(&transition.escalation.targets)?;
        let timeline = Line::encode_all(&transition.timeline)?;
        let now = to_millis(now);
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(crate::error::Error::from)?;
        match commit(
            &tx,
            expected_version,
            &transition,
            &targets,
            &timeline,
            now,
            None,
        )
        .await?
        {
            Outcome::Applied(_) => {
                tx.commit().await.map_err(crate::error::Error::from)?;
                Ok(CommitResult::Applied)
            }
            // Dropping the transaction rolls back what the refusal wrote.
            Outcome::Refused => Ok(CommitResult::Conflict),
        }
    }

    async fn release_held(&self, now: Timestamp) -> Result<u64> {
        let now = to_millis(now);
        in_tx!(self, |tx| {
            let n = exec(
                &tx,
                "UPDATE escalations SET due_at = $1, version = version + 1 \
                 WHERE held IS NOT NULL AND phase IN ('pending', 'waiting')",
                &[&now],
            )
            .await?;
            if n > 0 {
                crate::wake::notify(&tx).await?;
            }
            Ok(n)
        })
    }
}
