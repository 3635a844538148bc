//! The writer: group commit of the engine's changes.
//!
//! Requests queue up while a commit is in flight; the next transaction takes
//! all of them (up to a bound), with one multi-row statement per table. Each
//! caller is answered only after the transaction holding its change
//! committed. A transient failure is retried with backoff, never dropped: a
//! change the engine accepted is committed or its caller is told it was not.

use super::{Batch, Fence, Store, StoreError};
use crate::engine::{Event, Interaction};
use crate::telemetry::error_chain;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, warn};
use uuid::Uuid;

/// Why a change was not committed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitError {
    /// The lease was lost: another instance now owns the database.
    #[error("this instance no longer holds its database lease")]
    Fenced,
    /// The writer stopped (shutdown) before the change was committed.
    #[error("the writer stopped before the change was committed")]
    Stopped,
    /// The database refused the change for good.
    #[error("the database refused the change")]
    Refused,
    /// The interaction was not created: its submitter had already submitted
    /// one with the same external id, which the store holds.
    #[error("the submitter already submitted an interaction with this external id")]
    Duplicate,
}

/// A change the writer did not commit, which the engine must take back so
/// that it holds what the database holds: a new interaction turned away as a
/// duplicate (`Duplicate`), or a change the database refused (`Refused`).
/// Sent before its caller is answered, whether or not the caller still
/// waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undo {
    pub id: Uuid,
    pub why: CommitError,
}

/// One engine outcome to make durable.
pub struct WriteRequest {
    pub rows: Vec<Interaction>,
    pub events: Vec<Event>,
    /// The interaction this change is about, and whether it creates it.
    pub about: (Uuid, bool),
    pub reply: oneshot::Sender<Result<(), CommitError>>,
}

/// Counters for `/metrics` and the benchmark.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub batches: AtomicU64,
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    /// Time spent on batches that committed, in microseconds: the successful
    /// attempt, from taking a connection and binding the statement to its
    /// answer (failed attempts and refused batches are not counted).
    pub commit_micros: AtomicU64,
    /// Batch-size histogram: `[1, 2-4, 5-16, 17-64, 65-256, 257+]`.
    pub batch_sizes: [AtomicU64; 6],
}

impl WriterStats {
    pub const BUCKETS: [&'static str; 6] = ["1", "4", "16", "64", "256", "+Inf"];

    fn record(&self, size: usize, took: Duration) {
        let size64 = size as u64;
        self.commit_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(size64, Ordering::Relaxed);
        let bucket = match size {
            0..=1 => 0,
            2..=4 => 1,
            5..=16 => 2,
            17..=64 => 3,
            65..=256 => 4,
            _ => 5,
        };
        self.batch_sizes[bucket].fetch_add(1, Ordering::Relaxed);
    }
}

/// Where the engine sends its changes.
#[derive(Clone, Debug)]
pub struct WriterHandle {
    tx: mpsc::Sender<WriteRequest>,
}

impl WriterHandle {
    /// Queues a change; the returned receiver resolves once it is committed.
    pub async fn send(
        &self,
        rows: Vec<Interaction>,
        events: Vec<Event>,
        about: (Uuid, bool),
    ) -> oneshot::Receiver<Result<(), CommitError>> {
        let (reply, rx) = oneshot::channel();
        if let Err(mpsc::error::SendError(request)) = self
            .tx
            .send(WriteRequest {
                rows,
                events,
                about,
                reply,
            })
            .await
        {
            let _ = request.reply.send(Err(CommitError::Stopped));
        }
        rx
    }
}

pub struct Writer<S> {
    store: Arc<S>,
    fence: Fence,
    rx: mpsc::Receiver<WriteRequest>,
    max_batch: usize,
    stats: Arc<WriterStats>,
    /// Where changes not committed are reported for the engine to undo.
    undo: mpsc::UnboundedSender<Undo>,
    /// Interactions recently not created because their external id was
    /// taken: a later request about one of them is answered the same way.
    duplicates: HashSet<Uuid>,
}

/// How many not-created ids the writer remembers.
const REMEMBERED_DUPLICATES: usize = 10_000;

impl<S: Store> Writer<S> {
    /// The writer, the handle that feeds it, and where it reports the
    /// changes it did not commit.
    pub fn new(
        store: Arc<S>,
        fence: Fence,
        capacity: usize,
        max_batch: usize,
        stats: Arc<WriterStats>,
    ) -> (Self, WriterHandle, mpsc::UnboundedReceiver<Undo>) {
        let (tx, rx) = mpsc::channel(capacity);
        let (undo, undone) = mpsc::unbounded_channel();
        (
            Writer {
                store,
                fence,
                rx,
                max_batch: max_batch.max(1),
                stats,
                undo,
                duplicates: HashSet::new(),
            },
            WriterHandle { tx },
            undone,
        )
    }

    /// Commits until every handle is dropped and the queue is empty, or the
    /// lease is lost. Returns `Err(Fenced)` in the latter case.
    pub async fn run(mut self) -> Result<(), CommitError> {
        let mut pending = Vec::with_capacity(self.max_batch);
        while let Some(first) = self.rx.recv().await {
            pending.push(first);
            while pending.len() < self.max_batch {
                match self.rx.try_recv() {
                    Ok(request) => pending.push(request),
                    Err(_) => break,
                }
            }
            if let Err(fenced) = self.commit_group(&mut pending).await {
                self.rx.close();
                while let Some(request) = self.rx.recv().await {
                    let _ = request.reply.send(Err(CommitError::Fenced));
                }
                return Err(fenced);
            }
        }
        Ok(())
    }

    async fn commit_group(&mut self, pending: &mut Vec<WriteRequest>) -> Result<(), CommitError> {
        let outcome = self.commit_retrying(&merge(pending)).await;
        match outcome {
            Ok((duplicates, took)) => {
                self.stats.record(pending.len(), took);
                self.remember(duplicates);
                for request in pending.drain(..) {
                    let answer = self.answer(&request);
                    self.reply(request, answer);
                }
                Ok(())
            }
            Err(StoreError::Fenced(_)) => {
                for request in pending.drain(..) {
                    let _ = request.reply.send(Err(CommitError::Fenced));
                }
                Err(CommitError::Fenced)
            }
            Err(error) if pending.len() > 1 => {
                // One change the database refuses must not take the others
                // down with it: commit them one by one.
                warn!(error = %error_chain(&error), size = pending.len(),
                    "batch refused; committing its changes one by one");
                for request in pending.drain(..) {
                    let one = merge(std::slice::from_ref(&request));
                    match self.commit_retrying(&one).await {
                        Ok((duplicates, took)) => {
                            self.stats.record(1, took);
                            self.remember(duplicates);
                            let answer = self.answer(&request);
                            self.reply(request, answer);
                        }
                        Err(StoreError::Fenced(_)) => {
                            let _ = request.reply.send(Err(CommitError::Fenced));
                            return Err(CommitError::Fenced);
                        }
                        Err(error) => {
                            error!(error = %error_chain(&error), "change refused by the database");
                            self.reply(request, Err(CommitError::Refused));
                        }
                    }
                }
                Ok(())
            }
            Err(error) => {
                error!(error = %error_chain(&error), "change refused by the database");
                for request in pending.drain(..) {
                    self.reply(request, Err(CommitError::Refused));
                }
                Ok(())
            }
        }
    }

    /// Answers `request`; a change not committed is first reported for the
    /// engine to undo.
    fn reply(&self, request: WriteRequest, answer: Result<(), CommitError>) {
        if let Err(why @ (CommitError::Duplicate | CommitError::Refused)) = &answer {
            let _ = self.undo.send(Undo {
                id: request.about.0,
                why: why.clone(),
            });
        }
        let _ = request.reply.send(answer);
    }

    fn remember(&mut self, duplicates: Vec<Uuid>) {
        if self.duplicates.len() + duplicates.len() > REMEMBERED_DUPLICATES {
            self.duplicates.clear();
        }
        self.duplicates.extend(duplicates);
    }

    /// A committed request's answer: a duplicate if what it is about was
    /// not created.
    fn answer(&self, request: &WriteRequest) -> Result<(), CommitError> {
        if self.duplicates.contains(&request.about.0) {
            Err(CommitError::Duplicate)
        } else {
            Ok(())
        }
    }

    /// Commits, retrying transient failures with capped exponential backoff
    /// for as long as it takes. Returns the ids not created and how long the
    /// successful attempt took.
    async fn commit_retrying(
        &self,
        batch: &Batch<'_>,
    ) -> Result<(Vec<Uuid>, Duration), StoreError> {
        let mut delay = Duration::from_millis(20);
        loop {
            let started = Instant::now();
            match self.store.commit(&self.fence, batch).await {
                Ok(duplicates) => return Ok((duplicates, started.elapsed())),
                Err(error) if error.is_transient() => {
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    warn!(error = %error_chain(&error), retry_in_ms = delay.as_millis() as u64,
                        "commit failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(error) => return Err(error),
            }
        }
    }
}

/// One batch from many requests: the last version of each interaction, and
/// every event in order.
fn merge(pending: &[WriteRequest]) -> Batch<'_> {
    let mut batch = Batch::default();
    let mut position: HashMap<Uuid, usize> = HashMap::new();
    for request in pending {
        for row in &request.rows {
            match position.get(&row.id) {
                Some(&at) => batch.rows[at] = row,
                None => {
                    position.insert(row.id, batch.rows.len());
                    batch.rows.push(row);
                }
            }
        }
        batch.events.extend(&request.events);
        if let (id, true) = request.about {
            batch.created.insert(id);
        }
    }
    batch
}
