//! Persons' sessions in the instance's database (`instance_sessions`), so
//! that a restart does not log them out. A session is known by the SHA-256
//! digest of its token, never by the token.
//!
//! Only the lease holder writes: every write checks, in the same statement,
//! that its fence still holds, and keeps the lease row from being taken
//! over until it commits, so a backup that takes over loads every session
//! the former holder handed out.

use super::{Fence, PgStore, StoreError};
use chrono::{DateTime, Utc};
use sqlx::FromRow;

/// A session as the database keeps it.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct StoredSession {
    /// SHA-256 of the token.
    pub digest: Vec<u8>,
    pub person: String,
    /// Role names.
    pub roles: Vec<String>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// When a change in the directory ended it.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl PgStore {
    /// Keeps a new session, if `fence` still holds.
    pub async fn keep_session(
        &self,
        fence: &Fence,
        session: &StoredSession,
    ) -> Result<(), StoreError> {
        let kept = sqlx::query(
            "WITH fence AS (
                 SELECT 1 FROM instance_lease
                 WHERE id = 1 AND holder = $1 AND epoch = $2 FOR SHARE
             )
             INSERT INTO instance_sessions
                 (digest, person, roles, issued_at, expires_at, revoked_at)
             SELECT $3, $4, $5, $6, $7, $8 FROM fence",
        )
        .bind(&fence.holder)
        .bind(fence.epoch)
        .bind(&session.digest)
        .bind(&session.person)
        .bind(&session.roles)
        .bind(session.issued_at)
        .bind(session.expires_at)
        .bind(session.revoked_at)
        .execute(self.pool())
        .await?
        .rows_affected();
        if kept == 1 {
            Ok(())
        } else {
            Err(StoreError::Fenced(fence.epoch))
        }
    }

    /// Marks the sessions with these digests as ended at `at`, if `fence`
    /// still holds.
    pub async fn end_sessions(
        &self,
        fence: &Fence,
        digests: &[Vec<u8>],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let held: bool = sqlx::query_scalar(
            "WITH fence AS (
                 SELECT 1 FROM instance_lease
                 WHERE id = 1 AND holder = $1 AND epoch = $2 FOR SHARE
             ),
             ended AS (
                 UPDATE instance_sessions SET revoked_at = $4
                 WHERE digest = ANY($3) AND revoked_at IS NULL
                   AND EXISTS (SELECT 1 FROM fence)
                 RETURNING 1
             )
             SELECT EXISTS (SELECT 1 FROM fence)",
        )
        .bind(&fence.holder)
        .bind(fence.epoch)
        .bind(digests)
        .bind(at)
        .fetch_one(self.pool())
        .await?;
        if held {
            Ok(())
        } else {
            Err(StoreError::Fenced(fence.epoch))
        }
    }

    /// Gives the session with this digest the roles `roles`, if `fence`
    /// still holds.
    pub async fn change_session_roles(
        &self,
        fence: &Fence,
        digest: &[u8],
        roles: &[String],
    ) -> Result<(), StoreError> {
        let held: bool = sqlx::query_scalar(
            "WITH fence AS (
                 SELECT 1 FROM instance_lease
                 WHERE id = 1 AND holder = $1 AND epoch = $2 FOR SHARE
             ),
             changed AS (
                 UPDATE instance_sessions SET roles = $4
                 WHERE digest = $3 AND EXISTS (SELECT 1 FROM fence)
                 RETURNING 1
             )
             SELECT EXISTS (SELECT 1 FROM fence)",
        )
        .bind(&fence.holder)
        .bind(fence.epoch)
        .bind(digest)
        .bind(roles)
        .fetch_one(self.pool())
        .await?;
        if held {
            Ok(())
        } else {
            Err(StoreError::Fenced(fence.epoch))
        }
    }

    /// Every session that has not expired at `now`, ended ones included.
    pub async fn load_sessions(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<StoredSession>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT digest, person, roles, issued_at, expires_at, revoked_at
             FROM instance_sessions WHERE expires_at > $1",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?)
    }
}
