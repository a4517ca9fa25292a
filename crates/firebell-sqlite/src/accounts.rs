//! Web sign-in: password hashes and sessions.

use crate::SqliteStore;
use firebell_core::clock::{from_millis, to_millis};
use firebell_store::{AccountStore, Result, SessionRecord};
use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};

impl AccountStore for SqliteStore {
    async fn set_password(&self, user: String, hash: String, now: Timestamp) -> Result<()> {
        let now = to_millis(now);
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO passwords (user_id, hash, set_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash, set_at = excluded.set_at",
            )?
            .execute(params![user, hash, now])?;
            conn.prepare_cached("DELETE FROM sessions WHERE user_id = ?1")?
                .execute(params![user])?;
            Ok(())
        })
        .await
    }

    async fn password_hash(&self, user: String) -> Result<Option<String>> {
        self.read(move |conn| {
            Ok(conn
                .prepare_cached("SELECT hash FROM passwords WHERE user_id = ?1")?
                .query_row(params![user], |r| r.get(0))
                .optional()?)
        })
        .await
    }

    async fn create_session(&self, s: SessionRecord) -> Result<()> {
        self.write(move |conn| {
            conn.prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?
                .execute(params![to_millis(s.created_at)])?;
            conn.prepare_cached(
                "INSERT INTO sessions (id_hash, user_id, csrf, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                s.id_hash,
                s.user,
                s.csrf,
                to_millis(s.created_at),
                to_millis(s.expires_at)
            ])?;
            Ok(())
        })
        .await
    }

    async fn session(&self, id_hash: String, now: Timestamp) -> Result<Option<SessionRecord>> {
        let now = to_millis(now);
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT id_hash, user_id, csrf, created_at, expires_at FROM sessions \
                     WHERE id_hash = ?1 AND expires_at > ?2",
                )?
                .query_row(params![id_hash, now], |r| {
                    Ok(SessionRecord {
                        id_hash: r.get(0)?,
                        user: r.get(1)?,
                        csrf: r.get(2)?,
                        created_at: from_millis(r.get(3)?),
                        expires_at: from_millis(r.get(4)?),
                    })
                })
                .optional()?)
        })
        .await
    }

    async fn delete_session(&self, id_hash: String) -> Result<()> {
        self.write(move |conn| {
            conn.prepare_cached("DELETE FROM sessions WHERE id_hash = ?1")?
                .execute(params![id_hash])?;
            Ok(())
        })
        .await
    }
}
