//! Persistence: the narrow interface the engine's writer and recovery need,
//! and its PostgreSQL implementation.
//!
//! The interface is deliberately small — commit a batch, load the live state,
//! read the journal after a position, purge, hold the lease — so that another
//! store (an embedded one for zero-setup runs) can sit beside PostgreSQL
//! without touching the engine. Persons' sessions are kept beside it, by
//! methods of [`PgStore`] (`sessions`).

mod feed;
mod lease;
mod pg;
mod retention;
mod sessions;
mod writer;

pub use feed::{Feed, FeedItem, Publisher};
pub use lease::{Fence, LeaseHolder, LeaseOutcome};
pub use pg::{FeedFilter, FeedPage, FindFilter, PgStore};
pub use retention::{RetentionPolicy, run_retention};
pub use sessions::StoredSession;
pub use writer::{CommitError, Undo, WriteRequest, Writer, WriterHandle, WriterStats};

#[cfg(test)]
pub mod fake;

use crate::engine::{AgentRecord, Event, Interaction};
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
    /// The latest state of every agent whose log-in or readiness changed.
    pub agents: Vec<&'a AgentRecord>,
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
    /// Persons' sessions past their expiry.
    pub sessions: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another holder took the lease: this instance must not write again.
    #[error("the database lease was taken over (epoch {0} no longer holds)")]
    Fenced(i64),
    /// The lease was taken over while the outcome of a commit was unknown.
    #[error("the database lease was taken over (epoch {0}) before a commit's outcome was known")]
    FencedUnknown(i64),
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

/// Whether a database error with SQLSTATE `code` may go away if the same
/// call is made again: the database asked for a retry, is short of
/// resources, is (for now) read-only or shutting down, or the connection
/// broke. Anything else is the database refusing this change for good.
pub fn is_transient_code(code: &str) -> bool {
    matches!(
        code,
        // serialization failure, deadlock
        "40001" | "40P01"
        // read-only transaction: a failover to a standby
        | "25006"
        // lock not available
        | "55P03"
        // statement cancelled, admin or crash shutdown, cannot connect now
        | "57014" | "57P01" | "57P02" | "57P03"
    )
    // connection exceptions; insufficient resources (disk full, out of
    // memory, too many connections)
    || code.starts_with("08")
    || code.starts_with("53")
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        let transient = match &error {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => db.code().is_some_and(|code| is_transient_code(&code)),
            _ => false,
        };
        if transient {
            StoreError::Unavailable(error)
        } else {
            StoreError::Other(error)
        }
    }
}

/// What a committed batch did not write.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// New interactions not created, nor their events: their submitter had
    /// already used the external id.
    pub turned_away: Vec<Uuid>,
    /// Changed interactions whose change was not written, nor its events:
    /// the database already held that version or a later one.
    pub not_applied: Vec<Uuid>,
}

/// The answer to a commit of the batch numbered `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The batch committed, as its number, with the positions its journal
    /// entries were given (ascending, in the order of the batch's events
    /// that were written).
    Committed(Outcome, Vec<i64>),
    /// Nothing was written: the number was already taken (by an earlier
    /// attempt of the same batch whose answer was lost, or the writer's
    /// count is behind).
    Taken,
}

/// What the database holds at a batch's number, read after its answer was
/// lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// The batch committed there, with this outcome.
    Committed(Outcome),
    /// Nothing committed there yet: the batch did not commit (or an attempt
    /// of it is still running, and a new attempt will find out).
    Free,
    /// Another batch holds the number: the writer's count was behind.
    Other,
}

/// The store as the writer, recovery and retention use it.
pub trait Store: Send + Sync + 'static {
    /// Commits `batch` (named `batch_id`, the same for every attempt of it)
    /// in one transaction as the batch numbered `seq` (the last committed
    /// number plus one), only if `fence` still holds and `seq` is not taken
    /// yet. A new interaction whose submitter already
    /// used its external id is not written (nor its events), and neither is
    /// a change to an interaction the store holds at that version or a
    /// later one: the outcome names them.
    fn commit(
        &self,
        fence: &Fence,
        seq: i64,
        batch_id: Uuid,
        batch: &Batch<'_>,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// The number of the last batch committed.
    fn last_commit(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Whether the batch `batch_id` committed as number `seq`, read from
    /// what the database holds after its answer was lost.
    fn resolve(
        &self,
        fence: &Fence,
        seq: i64,
        batch_id: Uuid,
    ) -> impl Future<Output = Result<Resolved, StoreError>> + Send;

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

    /// Removes at most `batch` stopped interactions older than `stopped_before`,
    /// at most `batch` events older than `events_before`, and at most `batch`
    /// persons' sessions that have expired, where the store keeps them.
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

    /// Every agent's log-in and readiness, as last committed.
    fn load_agents(&self) -> impl Future<Output = Result<Vec<AgentRecord>, StoreError>> + Send;

    /// One interaction by id, whatever its state.
    fn get(&self, id: Uuid)
    -> impl Future<Output = Result<Option<Interaction>, StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::is_transient_code;

    #[test]
    fn transient_database_errors_are_retried() {
        for code in [
            "40001", "40P01", "25006", "55P03", "57014", "57P01", "57P03", "08006", "08001",
            "53000", "53100", "53200", "53300", "53400",
        ] {
            assert!(is_transient_code(code), "{code} is transient");
        }
    }

    #[test]
    fn refusals_are_not_retried() {
        // unique, check and not-null violations, bad text encoding, undefined
        // column, a read-only transaction asked for by the session itself
        for code in ["23505", "23514", "23502", "22021", "42703", "25P02"] {
            assert!(!is_transient_code(code), "{code} is a refusal");
        }
    }
}
