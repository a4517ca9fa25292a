//! Web sign-in: password hashes and sessions, shared by every node, so a
//! browser signed in through one node is signed in on all of them.

use crate::rows::get;
use crate::sql::exec;
use crate::{PgStore, in_tx};
use firebell_core::clock::{from_millis, to_millis};
use firebell_store::{AccountStore, Result, SessionRecord};
use jiff::Timestamp;

fn session(r: &tokio_postgres::Row) -> crate::error::Result<SessionRecord> {
    Ok(SessionRecord {
        id_hash: get(r, 0)?,
        user: get(r, 1)?,
        csrf: get(r, 2)?,
        created_at: from_millis(get(r, 3)?),
        expires_at: from_millis(get(r, 4)?),
    })
}

fn hash(r: &tokio_postgres::Row) -> crate::error::Result<String> {
    get(r, 0)
}

impl AccountStore for PgStore {
    async fn set_password(&self, user: String, hash: String, now: Timestamp) -> Result<()> {
        let now = to_millis(now);
        in_tx!(self, |tx| {
            exec(
                &tx,
                "INSERT INTO passwords (user_id, hash, set_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash, set_at = excluded.set_at",
                &[&user, &hash, &now],
            )
            .await?;
            exec(&tx, "DELETE FROM sessions WHERE user_id = $1", &[&user]).await?;
            Ok(())
        })
    }

    async fn password_hash(&self, user: String) -> Result<Option<String>> {
        self.read_opt(
            "SELECT hash FROM passwords WHERE user_id = $1",
            &[&user],
            hash,
        )
        .await
    }

    async fn create_session(&self, s: SessionRecord) -> Result<()> {
        let created = to_millis(s.created_at);
        let expires = to_millis(s.expires_at);
        in_tx!(self, |tx| {
            exec(
                &tx,
                "DELETE FROM sessions WHERE expires_at <= $1",
                &[&created],
            )
            .await?;
            exec(
                &tx,
                "INSERT INTO sessions (id_hash, user_id, csrf, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[&s.id_hash, &s.user, &s.csrf, &created, &expires],
            )
            .await?;
            Ok(())
        })
    }

    async fn session(&self, id_hash: String, now: Timestamp) -> Result<Option<SessionRecord>> {
        let now = to_millis(now);
        self.read_opt(
            "SELECT id_hash, user_id, csrf, created_at, expires_at FROM sessions \
             WHERE id_hash = $1 AND expires_at > $2",
            &[&id_hash, &now],
            session,
        )
        .await
    }

    async fn delete_session(&self, id_hash: String) -> Result<()> {
        in_tx!(self, |tx| {
            exec(&tx, "DELETE FROM sessions WHERE id_hash = $1", &[&id_hash]).await?;
            Ok(())
        })
    }
}
