//! Persistence: the narrow interface the engine's writer and recovery need,
//! and its PostgreSQL implementation.
//!
//! The interface is deliberately small — commit a batch, load the live state,
//! read the journal after a position, purge, hold the lease — so that another
//! store (an embedded one for zero-setup runs) can sit beside PostgreSQL
//! without touching the engine.

mod lease;
mod pg;
mod retention;
mod writer;

pub use lease::{Fence, LeaseHolder, LeaseOutcome};
pub use pg::{FindFilter, PgStore};
pub use retention::{RetentionPolicy, run_retention};
pub use writer::{CommitError, Undo, WriteRequest, Writer, WriterHandle, WriterStats};

use crate::engine::{Event, Interaction};
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;
use uuid::Uuid;

/// Changes committed together in one transaction, borrowed from the
/// requests that carry them.
#[derive(Debug, Default, Clone)]
pub struct Batch<'a> {
    /// The latest version of every interaction the batch changes.
    pub rows: Vec<&'a Interaction>,
    /// Journal entries, in the order they happened.
    pub events: Vec<&'a Event>,
    /// The rows that are new interactions (the others change existing ones).
    pub created: HashSet<Uuid>,
}

/// A journal entry with its position.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct JournalEntry {
    pub position: i64,
    #[serde(flatten)]
    pub event: Event,
}

/// What a purge removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub interactions: u64,
    pub events: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another holder took the lease: this instance must not write again.
    #[error("the database lease was taken over (epoch {0} no longer holds)")]
    Fenced(i64),
    /// The database could not be reached or asked to retry; the same call
    /// may succeed later.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error")]
    Other(#[source] sqlx::Error),
}

impl StoreError {
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        let transient = match &error {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => true,
            // Serialization failure, deadlock, admin shutdown, cannot connect
            // now, and the connection-exception class.
            sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                matches!(
                    code.as_ref(),
                    "40001" | "40P01" | "57P01" | "57P02" | "57P03"
                ) || code.starts_with("08")
            }),
            _ => false,
        };
        if transient {
            StoreError::Unavailable(error)
        } else {
            StoreError::Other(error)
        }
    }
}

/// The store as the writer, recovery and retention use it.
pub trait Store: Send + Sync + 'static {
    /// Commits `batch` in one transaction, only if `fence` still holds.
    /// A new interaction whose submitter already used its external id is
    /// not written (nor its events): its id is returned, so that the caller
    /// can be given the original.
    fn commit(
        &self,
        fence: &Fence,
        batch: &Batch<'_>,
    ) -> impl Future<Output = Result<Vec<Uuid>, StoreError>> + Send;

    /// Every interaction not stopped, of the given processes.
    fn load_live(
        &self,
        processes: &[String],
    ) -> impl Future<Output = Result<Vec<Interaction>, StoreError>> + Send;

    /// Journal entries after `position`, oldest first.
    fn read_journal(
        &self,
        after: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<JournalEntry>, StoreError>> + Send;

    /// Removes at most `batch` stopped interactions older than `stopped_before`
    /// and at most `batch` events older than `events_before`.
    fn purge(
        &self,
        fence: &Fence,
        stopped_before: DateTime<Utc>,
        events_before: DateTime<Utc>,
        batch: i64,
    ) -> impl Future<Output = Result<Purged, StoreError>> + Send;

    /// Tries to take the lease for `ttl`.
    fn acquire_lease(
        &self,
        holder: &LeaseHolder,
        ttl: Duration,
    ) -> impl Future<Output = Result<LeaseOutcome, StoreError>> + Send;

    /// Extends the lease; `Ok(false)` when it was lost.
    fn renew_lease(
        &self,
        fence: &Fence,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Gives the lease up so that a backup can take over at once.
    fn release_lease(&self, fence: &Fence) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// One interaction by id, whatever its state.
    fn get(&self, id: Uuid)
    -> impl Future<Output = Result<Option<Interaction>, StoreError>> + Send;
}
