//! The writer: group commit of the engine's changes.
//!
//! Requests queue up while a commit is in flight; the next transaction takes
//! all of them (up to a bound), in one statement. Each caller is answered
//! only after the transaction holding its change committed. A transient
//! failure is retried with backoff, never dropped: a change the engine
//! accepted is committed or its caller is told it was not.
//!
//! Every batch carries the next number of the writer's sequence, claimed in
//! the same statement. When a commit's answer is lost (the connection broke
//! after the statement was sent), the writer does not guess: it reads the
//! sequence back, and either takes the outcome the database kept or commits
//! the batch again — a copy of a batch that did commit claims a number that
//! is taken, and writes nothing.

use super::{Batch, Claim, Fence, JournalEntry, Outcome, Publisher, Resolved, Store, StoreError};
use crate::backoff::Backoff;
use crate::engine::{AgentRecord, Event, EventKind, Interaction};
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
    /// The lease was lost while the outcome of the commit holding the
    /// change was unknown: it may or may not be stored. Ask the instance
    /// that now holds the database.
    #[error("the lease was lost before the outcome of this change was known")]
    Unknown,
    /// The change was not written: the store already held a newer version
    /// of the interaction than the one it was made on.
    #[error("the change was made on an outdated version of the interaction")]
    NotApplied,
}

/// A change the writer did not commit, which the engine must take back so
/// that it holds what the database holds: a new interaction turned away as a
/// duplicate (`Duplicate`: forget it), or a change the database refused or
/// did not apply (`Refused`, `NotApplied`: reload the interactions it
/// touched). Sent before its caller is answered, whether or not the caller
/// still waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undo {
    pub ids: Vec<Uuid>,
    pub why: CommitError,
}

/// One engine outcome to make durable.
pub struct WriteRequest {
    pub rows: Vec<Interaction>,
    pub events: Vec<Event>,
    pub agents: Vec<AgentRecord>,
    /// The interaction this change is about, and whether it creates it.
    pub about: (Uuid, bool),
    /// For a take-back's barrier: the interactions whose earlier failure
    /// the writer may forget once everything before the barrier is
    /// answered.
    pub clears: Vec<Uuid>,
    pub reply: oneshot::Sender<Result<(), CommitError>>,
}

/// Counters for `/metrics` and the benchmark: plain atomics, so that the
/// writer's hot path takes no lock; `/metrics` reads them when scraped
/// (`crate::metrics`).
#[derive(Debug, Default)]
pub struct WriterStats {
    pub batches: AtomicU64,
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    /// Time spent on batches that committed, in microseconds: the successful
    /// attempt, from taking a connection and binding the statement to its
    /// answer (failed attempts and refused batches are not counted).
    pub commit_micros: AtomicU64,
    /// Batch-size histogram, per bucket of [`WriterStats::BATCH_SIZES`]
    /// (the last one unbounded); not cumulative.
    pub batch_sizes: [AtomicU64; 6],
    /// Commit-time histogram, per bucket of
    /// [`WriterStats::COMMIT_MICROS`] (the last one unbounded); not
    /// cumulative.
    pub commit_times: [AtomicU64; 12],
    /// Journal entries committed, by kind (`EventKind as usize`).
    pub events: [AtomicU64; EventKind::ALL.len()],
}

impl WriterStats {
    /// Upper bounds of the batch-size buckets but the last (`+Inf`).
    pub const BATCH_SIZES: [usize; 5] = [1, 4, 16, 64, 256];
    /// Upper bounds of the commit-time buckets but the last (`+Inf`), in
    /// microseconds.
    pub const COMMIT_MICROS: [u64; 11] = [
        1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
        2_500_000,
    ];

    fn record(&self, size: usize, took: Duration) {
        let size64 = size as u64;
        let micros = took.as_micros() as u64;
        self.commit_micros.fetch_add(micros, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(size64, Ordering::Relaxed);
        let bucket = Self::BATCH_SIZES.partition_point(|&le| le < size);
        self.batch_sizes[bucket].fetch_add(1, Ordering::Relaxed);
        let bucket = Self::COMMIT_MICROS.partition_point(|&le| le < micros);
        self.commit_times[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts the journal entries of a committed change.
    fn committed(&self, events: &[Event]) {
        for event in events {
            self.events[event.kind as usize].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Journal entries of `kind` committed so far.
    pub fn events_of(&self, kind: EventKind) -> u64 {
        self.events[kind as usize].load(Ordering::Relaxed)
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
        agents: Vec<AgentRecord>,
        about: (Uuid, bool),
    ) -> oneshot::Receiver<Result<(), CommitError>> {
        let (reply, rx) = oneshot::channel();
        if let Err(mpsc::error::SendError(request)) = self
            .tx
            .send(WriteRequest {
                rows,
                events,
                agents,
                about,
                clears: Vec::new(),
                reply,
            })
            .await
        {
            let _ = request.reply.send(Err(CommitError::Stopped));
        }
        rx
    }

    /// Resolves once every change queued before it is committed (or
    /// answered otherwise). A take-back names the interactions it reloads:
    /// until this barrier, every request about them is answered with the
    /// failure of the change being taken back, and none of theirs is
    /// written (it was made on top of the failed change).
    pub async fn barrier(&self, clears: Vec<Uuid>) -> Result<(), CommitError> {
        let (reply, rx) = oneshot::channel();
        let request = WriteRequest {
            rows: Vec::new(),
            events: Vec::new(),
            agents: Vec::new(),
            about: (Uuid::nil(), false),
            clears,
            reply,
        };
        if let Err(mpsc::error::SendError(request)) = self.tx.send(request).await {
            let _ = request.reply.send(Err(CommitError::Stopped));
        }
        rx.await.unwrap_or(Err(CommitError::Stopped))
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
    /// The number of the last batch committed, once read from the store.
    last: Option<i64>,
    /// Interactions whose change was refused or not applied, until their
    /// take-back's barrier: a later request about them (an idempotent
    /// repeat, a change built on the failed one) gets the same answer and
    /// writes nothing.
    failed: HashMap<Uuid, CommitError>,
    /// Where the journal entries of each commit go, with their positions,
    /// for the reporting feed's live tail.
    feed: Option<Publisher>,
}

/// A batch committed: what it did not write, how long the successful
/// attempt took (`None` when nothing needed writing, or the outcome was
/// read back), and the positions of its journal entries (`None` when the
/// outcome was read back after a lost answer, which does not tell them).
struct Committed {
    outcome: Outcome,
    took: Option<Duration>,
    positions: Option<Vec<i64>>,
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
                last: None,
                failed: HashMap::new(),
                feed: None,
            },
            WriterHandle { tx },
            undone,
        )
    }

    /// Publishes the journal entries of every commit to `feed`.
    pub fn with_feed(mut self, feed: Publisher) -> Self {
        self.feed = Some(feed);
        self
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
        if !self.failed.is_empty() {
            self.set_aside_failed(pending);
        }
        let outcome = self.commit_retrying(&merge(pending)).await;
        match outcome {
            Ok(Committed {
                outcome,
                took,
                positions,
            }) => {
                if let Some(took) = took {
                    self.stats.record(pending.len(), took);
                }
                self.committed(std::mem::take(pending), &outcome, positions);
                Ok(())
            }
            Err(fenced @ (StoreError::Fenced(_) | StoreError::FencedUnknown(_))) => {
                let answer = match fenced {
                    StoreError::FencedUnknown(_) => CommitError::Unknown,
                    _ => CommitError::Fenced,
                };
                for request in pending.drain(..) {
                    let _ = request.reply.send(Err(answer.clone()));
                }
                Err(CommitError::Fenced)
            }
            Err(error) if pending.len() > 1 => {
                // One change the database refuses must not take the others
                // down with it: commit them one by one.
                warn!(error = %error_chain(&error), size = pending.len(),
                    "batch refused; committing its changes one by one");
                for request in std::mem::take(pending) {
                    if let Some(why) = self.failure_of(&request) {
                        // Built on a change of this batch that just failed.
                        self.reply(request, Err(why));
                        continue;
                    }
                    let one = merge(std::slice::from_ref(&request));
                    match self.commit_retrying(&one).await {
                        Ok(Committed {
                            outcome,
                            took,
                            positions,
                        }) => {
                            if let Some(took) = took {
                                self.stats.record(1, took);
                            }
                            self.committed(vec![request], &outcome, positions);
                        }
                        Err(fenced @ (StoreError::Fenced(_) | StoreError::FencedUnknown(_))) => {
                            let answer = match fenced {
                                StoreError::FencedUnknown(_) => CommitError::Unknown,
                                _ => CommitError::Fenced,
                            };
                            let _ = request.reply.send(Err(answer));
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

    /// Hands the journal entries `requests` committed to the feed, with
    /// their positions: the events of the interactions written (and
    /// agents' own events), in the batch's order, which is the order of
    /// their positions. Moves the events out of the requests, which are
    /// answered next. When the positions are not known, or do not match,
    /// the feed's readers are told to read the journal again.
    fn publish(
        &self,
        requests: &mut [WriteRequest],
        outcome: &Outcome,
        positions: Option<Vec<i64>>,
    ) {
        let Some(feed) = &self.feed else {
            return;
        };
        if !feed.wanted() {
            return;
        }
        let Some(positions) = positions else {
            feed.resync();
            return;
        };
        if positions.is_empty() {
            return;
        }
        let not_written: HashSet<Uuid> = outcome
            .turned_away
            .iter()
            .chain(&outcome.not_applied)
            .copied()
            .collect();
        let rows: HashSet<Uuid> = requests
            .iter()
            .flat_map(|request| request.rows.iter().map(|row| row.id))
            .collect();
        let written: Vec<Event> = requests
            .iter_mut()
            .flat_map(|request| std::mem::take(&mut request.events))
            .filter(|event| {
                event
                    .interaction_id
                    .is_none_or(|id| rows.contains(&id) && !not_written.contains(&id))
            })
            .collect();
        if written.len() != positions.len() {
            error!(
                events = written.len(),
                positions = positions.len(),
                "the journal entries committed do not match the batch's events; \
                 the feed's readers read them from the database"
            );
            feed.resync();
            return;
        }
        for (event, position) in written.into_iter().zip(positions) {
            feed.publish(JournalEntry { position, event });
        }
    }

    /// Answers the requests of a committed batch: counts what each one
    /// committed (before the feed takes their events), publishes the
    /// journal entries, then replies.
    fn committed(
        &mut self,
        mut requests: Vec<WriteRequest>,
        outcome: &Outcome,
        positions: Option<Vec<i64>>,
    ) {
        self.remember(&outcome.turned_away);
        let answers: Vec<Result<(), CommitError>> = requests
            .iter()
            .map(|request| self.answer(request, outcome))
            .collect();
        for (request, answer) in requests.iter().zip(&answers) {
            if answer.is_ok() {
                self.stats.committed(&request.events);
            }
        }
        self.publish(&mut requests, outcome, positions);
        for (request, answer) in requests.into_iter().zip(answers) {
            self.reply(request, answer);
        }
    }

    /// The failure of an earlier change that `request` is about or built on.
    fn failure_of(&self, request: &WriteRequest) -> Option<CommitError> {
        std::iter::once(request.about.0)
            .chain(request.rows.iter().map(|row| row.id))
            .find_map(|id| self.failed.get(&id).cloned())
    }

    /// Answers, without writing them, the requests about interactions whose
    /// change failed and is being taken back; forgets the failures a
    /// take-back's barrier clears.
    fn set_aside_failed(&mut self, pending: &mut Vec<WriteRequest>) {
        let mut kept = Vec::with_capacity(pending.len());
        for request in pending.drain(..) {
            match self.failure_of(&request) {
                Some(why) => self.reply(request, Err(why)),
                None => {
                    for id in &request.clears {
                        self.failed.remove(id);
                    }
                    kept.push(request);
                }
            }
        }
        *pending = kept;
    }

    /// Answers `request`; a change not committed is first reported for the
    /// engine to take back, and remembered until that take-back.
    fn reply(&mut self, request: WriteRequest, answer: Result<(), CommitError>) {
        let ids = match &answer {
            Err(CommitError::Duplicate) => vec![request.about.0],
            Err(CommitError::Refused | CommitError::NotApplied) => {
                let mut ids: Vec<Uuid> = request.rows.iter().map(|row| row.id).collect();
                ids.sort_unstable();
                ids.dedup();
                ids
            }
            _ => Vec::new(),
        };
        if let (false, Err(why)) = (ids.is_empty(), &answer) {
            if matches!(why, CommitError::Refused | CommitError::NotApplied) {
                for id in &ids {
                    self.failed.insert(*id, why.clone());
                }
            }
            let _ = self.undo.send(Undo {
                ids,
                why: why.clone(),
            });
        }
        let _ = request.reply.send(answer);
    }

    fn remember(&mut self, duplicates: &[Uuid]) {
        if self.duplicates.len() + duplicates.len() > REMEMBERED_DUPLICATES {
            self.duplicates.clear();
        }
        self.duplicates.extend(duplicates);
    }

    /// A committed request's answer: a duplicate if what it is about was
    /// not created; not applied if a change of it was not written.
    fn answer(&self, request: &WriteRequest, outcome: &Outcome) -> Result<(), CommitError> {
        if self.duplicates.contains(&request.about.0) {
            Err(CommitError::Duplicate)
        } else if request
            .rows
            .iter()
            .any(|row| outcome.not_applied.contains(&row.id))
        {
            Err(CommitError::NotApplied)
        } else {
            Ok(())
        }
    }

    /// Commits `batch` as the next number of the sequence, retrying
    /// transient failures with capped exponential backoff for as long as it
    /// takes. After a failure whose outcome is unknown, it reads what the
    /// database holds before anything else.
    async fn commit_retrying(&mut self, batch: &Batch<'_>) -> Result<Committed, StoreError> {
        if batch.rows.is_empty() && batch.events.is_empty() && batch.agents.is_empty() {
            // Idempotent repeats and barriers: what they wait for was
            // committed by an earlier batch.
            return Ok(Committed {
                outcome: Outcome::default(),
                took: None,
                positions: Some(Vec::new()),
            });
        }
        let batch_id = Uuid::now_v7();
        let mut backoff = Backoff::new(Duration::from_millis(20), Duration::from_secs(2));
        // Whether an earlier attempt may have committed: from then on, only
        // the database's answer (or fencing) ends the loop.
        let mut unknown = false;
        loop {
            let last = match self.last {
                Some(last) => last,
                None => match self.store.last_commit().await {
                    Ok(last) => *self.last.insert(last),
                    Err(error) if error.is_transient() || unknown => {
                        self.backoff(&error, &mut backoff).await;
                        continue;
                    }
                    Err(error) => return Err(error),
                },
            };
            let seq = last + 1;
            if unknown {
                match self.store.resolve(&self.fence, seq, batch_id).await {
                    Ok(Resolved::Committed(outcome)) => {
                        warn!(seq, "a commit whose answer was lost had committed");
                        self.last = Some(seq);
                        return Ok(Committed {
                            outcome,
                            took: None,
                            positions: None,
                        });
                    }
                    // Not committed (yet): an attempt at the same number
                    // either writes it, or finds the number taken by a late
                    // earlier attempt and reads its outcome.
                    Ok(Resolved::Free) => {}
                    Ok(Resolved::Other) => {
                        // The count was behind: no attempt of this batch
                        // can commit at that number. Read it anew.
                        self.last = None;
                        unknown = false;
                        continue;
                    }
                    // Another holder took over before the database said:
                    // the change may be stored.
                    Err(StoreError::Fenced(epoch)) => return Err(StoreError::FencedUnknown(epoch)),
                    Err(error) => {
                        self.backoff(&error, &mut backoff).await;
                        continue;
                    }
                }
            }
            let started = Instant::now();
            match self.store.commit(&self.fence, seq, batch_id, batch).await {
                Ok(Claim::Committed(outcome, positions)) => {
                    self.last = Some(seq);
                    return Ok(Committed {
                        outcome,
                        took: Some(started.elapsed()),
                        positions: Some(positions),
                    });
                }
                // An earlier attempt of this batch committed after all, or
                // the count is behind: the database says which.
                Ok(Claim::Taken) => unknown = true,
                Err(error) if error.is_transient() => {
                    // The statement may have committed before the answer
                    // was lost.
                    unknown = true;
                    self.backoff(&error, &mut backoff).await;
                }
                Err(error) => {
                    // This attempt's transaction failed; an earlier one's
                    // copy can commit only at the number the next batch
                    // reads.
                    self.last = None;
                    return Err(error);
                }
            }
        }
    }

    async fn backoff(&self, error: &StoreError, backoff: &mut Backoff) {
        self.stats.retries.fetch_add(1, Ordering::Relaxed);
        let wait = backoff.next_wait();
        warn!(error = %error_chain(error), retry_in_ms = wait.as_millis() as u64,
            "commit failed; retrying");
        tokio::time::sleep(wait).await;
    }
}

/// One batch from many requests: the last version of each interaction, and
/// every event in order.
fn merge(pending: &[WriteRequest]) -> Batch<'_> {
    let mut batch = Batch::default();
    let mut position: HashMap<Uuid, usize> = HashMap::new();
    let mut agent_at: HashMap<&str, usize> = HashMap::new();
    for request in pending {
        for agent in &request.agents {
            match agent_at.get(agent.name.as_str()) {
                Some(&at) => batch.agents[at] = agent,
                None => {
                    agent_at.insert(&agent.name, batch.agents.len());
                    batch.agents.push(agent);
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{EventData, EventKind, State};
    use crate::store::fake::FakeStore;
    use crate::store::{Feed, FeedItem};
    use chrono::Utc;

    fn interaction(version: i64) -> Interaction {
        Interaction {
            id: Uuid::from_u128(7),
            external_id: Some("e-7".into()),
            submitted_by: "gateway".into(),
            process: "sales-email".into(),
            queue: Some("inbound".into()),
            workbin: None,
            owner: None,
            state: State::Queued,
            media_type: "email".into(),
            kind: "inbound".into(),
            subtype: None,
            priority: 1,
            properties: Default::default(),
            agent: None,
            submitted_at: Utc::now(),
            placed_in_queue_at: None,
            offered_at: None,
            assigned_at: None,
            stopped_at: None,
            stop_reason: None,
            version,
        }
    }

    fn event(of: &Interaction) -> Event {
        Event {
            kind: if of.version == 1 {
                EventKind::Submitted
            } else {
                EventKind::PropertiesChanged
            },
            interaction_id: Some(of.id),
            process: Some(of.process.clone()),
            queue: of.queue.clone(),
            media_type: Some(of.media_type.clone()),
            agent: None,
            at: of.submitted_at,
            data: EventData::of(&serde_json::json!({ "version": of.version })),
        }
    }

    struct Running {
        handle: WriterHandle,
        undone: mpsc::UnboundedReceiver<Undo>,
        writer: tokio::task::JoinHandle<Result<(), CommitError>>,
    }

    fn start(store: &Arc<FakeStore>) -> Running {
        let (writer, handle, undone) = store.writer();
        Running {
            handle,
            undone,
            writer: tokio::spawn(writer.run()),
        }
    }

    impl Running {
        async fn send(&self, row: Interaction, created: bool) -> Result<(), CommitError> {
            let about = (row.id, created);
            let events = vec![event(&row)];
            self.handle
                .send(vec![row], events, Vec::new(), about)
                .await
                .await
                .unwrap()
        }

        async fn stop(self) -> mpsc::UnboundedReceiver<Undo> {
            drop(self.handle);
            self.writer.await.unwrap().unwrap();
            self.undone
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_commit_whose_answer_is_lost_is_acknowledged_once() {
        let store = Arc::new(FakeStore::default());
        store.with(|s| s.lose_answers = 1);
        let running = start(&store);
        assert_eq!(running.send(interaction(1), true).await, Ok(()));
        assert_eq!(running.send(interaction(2), false).await, Ok(()));
        let mut undone = running.stop().await;
        assert!(undone.try_recv().is_err(), "nothing to take back");
        store.read(|s| {
            assert_eq!(s.journal.len(), 2, "each event once: {:?}", s.journal);
            assert_eq!(s.rows[&Uuid::from_u128(7)].version, 2);
            assert_eq!(s.seq, 2);
        });
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_attempt_that_commits_late_is_not_written_twice() {
        let store = Arc::new(FakeStore::default());
        // The first attempt fails without an answer; its transaction ends
        // only after the writer has read the sequence, so the writer commits
        // again, and that copy must write nothing.
        store.with(|s| s.commit_late = 1);
        let running = start(&store);
        assert_eq!(running.send(interaction(1), true).await, Ok(()));
        let mut undone = running.stop().await;
        assert!(undone.try_recv().is_err());
        store.read(|s| {
            assert_eq!(s.journal.len(), 1);
            assert_eq!(s.rows.len(), 1);
            assert_eq!(s.seq, 1);
            assert_eq!(
                s.commits, 2,
                "the copy reached the store and applied nothing"
            );
        });
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_to_an_older_version_is_not_acknowledged() {
        let store = Arc::new(FakeStore::default());
        let running = start(&store);
        assert_eq!(running.send(interaction(1), true).await, Ok(()));
        assert_eq!(running.send(interaction(3), false).await, Ok(()));
        // Made on version 1 while the store already holds 3.
        assert_eq!(
            running.send(interaction(2), false).await,
            Err(CommitError::NotApplied)
        );
        let mut undone = running.stop().await;
        assert_eq!(
            undone.try_recv(),
            Ok(Undo {
                ids: vec![Uuid::from_u128(7)],
                why: CommitError::NotApplied
            })
        );
        store.read(|s| {
            assert_eq!(s.rows[&Uuid::from_u128(7)].version, 3);
            assert_eq!(s.journal.len(), 2, "no event of the change not written");
        });
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_change_fails_alone_and_is_taken_back() {
        let store = Arc::new(FakeStore::default());
        let refused = Uuid::from_u128(9);
        store.with(|s| {
            s.refuse.insert(refused);
        });
        let running = start(&store);
        let mut poison = interaction(1);
        poison.id = refused;
        poison.external_id = Some("e-9".into());
        // Sent together so that they share a batch, which the store refuses
        // whole: the writer must split it.
        let good = running.send(interaction(1), true);
        let bad = running.send(poison, true);
        let (good, bad) = tokio::join!(good, bad);
        assert_eq!(good, Ok(()));
        assert_eq!(bad, Err(CommitError::Refused));
        let mut undone = running.stop().await;
        assert_eq!(
            undone.try_recv(),
            Ok(Undo {
                ids: vec![refused],
                why: CommitError::Refused
            })
        );
        store.read(|s| {
            assert!(s.rows.contains_key(&Uuid::from_u128(7)));
            assert!(!s.rows.contains_key(&refused));
            assert_eq!(s.journal.len(), 1);
        });
    }

    #[tokio::test(start_paused = true)]
    async fn a_duplicate_is_answered_and_forgotten() {
        let store = Arc::new(FakeStore::default());
        let running = start(&store);
        assert_eq!(running.send(interaction(1), true).await, Ok(()));
        let mut again = interaction(1);
        again.id = Uuid::from_u128(8);
        assert_eq!(running.send(again, true).await, Err(CommitError::Duplicate));
        let mut undone = running.stop().await;
        assert_eq!(
            undone.try_recv(),
            Ok(Undo {
                ids: vec![Uuid::from_u128(8)],
                why: CommitError::Duplicate
            })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_answer_is_resolved_even_when_reading_it_back_fails() {
        let store = Arc::new(FakeStore::default());
        store.with(|s| {
            s.lose_answers = 1;
            s.fail_resolves = 2;
        });
        let running = start(&store);
        assert_eq!(running.send(interaction(1), true).await, Ok(()));
        // The writer's count is right: the next batch is written too.
        assert_eq!(running.send(interaction(2), false).await, Ok(()));
        let mut undone = running.stop().await;
        assert!(undone.try_recv().is_err());
        store.read(|s| {
            assert_eq!(s.journal.len(), 2);
            assert_eq!(s.rows[&Uuid::from_u128(7)].version, 2);
            assert_eq!(s.seq, 2);
        });
    }

    #[tokio::test(start_paused = true)]
    async fn what_follows_a_refused_change_gets_its_answer_until_the_take_back() {
        let store = Arc::new(FakeStore::default());
        let running = start(&store);
        assert_eq!(running.send(interaction(1), true).await, Ok(()));
        let id = Uuid::from_u128(7);
        store.with(|s| {
            s.refuse.insert(id);
        });
        assert_eq!(
            running.send(interaction(2), false).await,
            Err(CommitError::Refused)
        );
        store.with(|s| s.refuse.clear());
        // An idempotent repeat answered from memory, and a change built on
        // the refused one: neither may be acknowledged or written.
        let repeat = running
            .handle
            .send(Vec::new(), Vec::new(), Vec::new(), (id, false))
            .await;
        assert_eq!(repeat.await.unwrap(), Err(CommitError::Refused));
        assert_eq!(
            running.send(interaction(3), false).await,
            Err(CommitError::Refused)
        );
        store.read(|s| {
            assert_eq!(s.rows[&id].version, 1);
            assert_eq!(s.journal.len(), 1);
        });
        // The take-back's barrier ends it: what comes after is written.
        running.handle.barrier(vec![id]).await.unwrap();
        assert_eq!(running.send(interaction(2), false).await, Ok(()));
        let mut undone = running.stop().await;
        let taken_back: Vec<Undo> = std::iter::from_fn(|| undone.try_recv().ok()).collect();
        assert_eq!(
            taken_back,
            vec![
                Undo {
                    ids: vec![id],
                    why: CommitError::Refused
                };
                2
            ]
        );
        store.read(|s| assert_eq!(s.rows[&id].version, 2));
    }

    fn tail(items: &mut tokio::sync::broadcast::Receiver<FeedItem>) -> Vec<Option<i64>> {
        std::iter::from_fn(|| items.try_recv().ok())
            .map(|item| match item {
                FeedItem::Entry(entry) => Some(entry.position),
                _ => None,
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn the_feed_gets_what_was_written_with_its_positions() {
        let store = Arc::new(FakeStore::default());
        let feed = Feed::new(64);
        let (writer, handle, undone) = store.writer();
        let running = Running {
            handle,
            undone,
            writer: tokio::spawn(writer.with_feed(feed.publisher()).run()),
        };
        let mut items = feed.subscribe().expect("the writer publishes");
        assert_eq!(running.send(interaction(1), true).await, Ok(()));
        let mut again = interaction(1);
        again.id = Uuid::from_u128(8);
        // Turned away: its event is not in the journal, nor in the feed.
        assert_eq!(running.send(again, true).await, Err(CommitError::Duplicate));
        assert_eq!(running.send(interaction(2), false).await, Ok(()));
        assert_eq!(tail(&mut items), vec![Some(1), Some(2)]);
        // A lost answer read back does not tell the positions: readers are
        // told to read the journal again.
        store.with(|s| s.lose_answers = 1);
        assert_eq!(running.send(interaction(3), false).await, Ok(()));
        assert_eq!(tail(&mut items), vec![None]);
        running.stop().await;
        assert!(matches!(items.try_recv(), Ok(FeedItem::Closed)));
        assert!(feed.subscribe().is_none(), "no writer, no tail");
    }

    #[tokio::test(start_paused = true)]
    async fn a_takeover_before_a_lost_answer_is_read_leaves_the_outcome_unknown() {
        let store = Arc::new(FakeStore::default());
        store.with(|s| {
            s.lose_answers = 1;
            s.fenced = true;
        });
        let running = start(&store);
        // It is stored, but this instance can no longer find out: its
        // caller must not be told it was not.
        assert_eq!(
            running.send(interaction(1), true).await,
            Err(CommitError::Unknown)
        );
        drop(running.handle);
        assert_eq!(running.writer.await.unwrap(), Err(CommitError::Fenced));
        store.read(|s| assert_eq!(s.rows.len(), 1));
    }
}
