//! An in-memory store for the unit tests of the writer and the live task. It
//! commits as the PostgreSQL store does (the sequence claim, turned-away
//! duplicates, the newer version wins, the journal of what was written) and
//! has knobs to refuse a chosen change, lose a commit's answer, let a lost
//! attempt commit late, or hold reads back.

use super::{
    Batch, Claim, Fence, JournalEntry, LeaseHolder, LeaseOutcome, Outcome, Purged, Resolved, Store,
    StoreError, Undo, Writer, WriterHandle, WriterStats,
};
use crate::engine::{AgentRecord, Event, Interaction};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

/// A batch whose transaction is still open when its connection broke:
/// its number, rows, events and created ids.
type Late = (i64, Uuid, Vec<Interaction>, Vec<Event>, BTreeSet<Uuid>);

#[derive(Debug, Default)]
pub struct State {
    pub rows: BTreeMap<Uuid, Interaction>,
    pub journal: Vec<Event>,
    pub agents: BTreeMap<String, AgentRecord>,
    pub seq: i64,
    /// The batch that claimed `seq`.
    batch: Option<Uuid>,
    outcomes: BTreeMap<i64, Outcome>,
    /// So many resolves fail as a refusal would (not a transient error).
    pub fail_resolves: usize,
    /// Resolves find the lease taken over.
    pub fenced: bool,
    /// A commit touching one of these is refused for good.
    pub refuse: BTreeSet<Uuid>,
    /// So many commits apply, then answer as if the connection broke.
    pub lose_answers: usize,
    /// So many commits answer as if the connection broke without applying,
    /// then apply right after the writer's next read of the sequence.
    pub commit_late: usize,
    late: Option<Late>,
    /// Commits attempted, loads and gets made.
    pub commits: usize,
    pub reads: usize,
}

#[derive(Debug)]
pub struct FakeStore {
    pub state: Mutex<State>,
    reads_open: watch::Sender<bool>,
}

impl Default for FakeStore {
    fn default() -> Self {
        FakeStore {
            state: Mutex::default(),
            reads_open: watch::Sender::new(true),
        }
    }
}

fn broken() -> StoreError {
    StoreError::from(sqlx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "the connection broke before the answer arrived",
    )))
}

impl FakeStore {
    /// A writer over this store, with small queues.
    pub fn writer(
        self: &Arc<Self>,
    ) -> (
        Writer<FakeStore>,
        WriterHandle,
        tokio::sync::mpsc::UnboundedReceiver<Undo>,
    ) {
        let fence = Fence {
            holder: "test".into(),
            epoch: 1,
        };
        Writer::new(
            self.clone(),
            fence,
            100,
            100,
            Arc::new(WriterStats::default()),
        )
    }

    pub fn with(&self, change: impl FnOnce(&mut State)) {
        change(&mut self.state.lock().unwrap());
    }

    pub fn read<T>(&self, look: impl FnOnce(&State) -> T) -> T {
        look(&self.state.lock().unwrap())
    }

    /// Loads and gets wait until [`FakeStore::open_reads`].
    pub fn hold_reads(&self) {
        self.reads_open.send_replace(false);
    }

    pub fn open_reads(&self) {
        self.reads_open.send_replace(true);
    }

    async fn reading(&self) {
        let mut open = self.reads_open.subscribe();
        let _ = open.wait_for(|open| *open).await;
        self.state.lock().unwrap().reads += 1;
    }
}

impl State {
    fn apply(
        &mut self,
        seq: i64,
        batch: Uuid,
        rows: Vec<Interaction>,
        events: Vec<Event>,
        created: &BTreeSet<Uuid>,
    ) -> Claim {
        if self.seq != seq - 1 {
            return Claim::Taken;
        }
        let mut outcome = Outcome::default();
        let mut written = BTreeSet::new();
        for row in rows {
            if created.contains(&row.id) {
                let taken = row.external_id.is_some()
                    && self.rows.values().any(|other| {
                        other.submitted_by == row.submitted_by
                            && other.external_id == row.external_id
                    });
                if taken || self.rows.contains_key(&row.id) {
                    outcome.turned_away.push(row.id);
                } else {
                    written.insert(row.id);
                    self.rows.insert(row.id, row);
                }
            } else {
                match self.rows.get_mut(&row.id) {
                    Some(stored) if stored.version < row.version => {
                        written.insert(row.id);
                        *stored = row;
                    }
                    _ => outcome.not_applied.push(row.id),
                }
            }
        }
        let first = self.journal.len() as i64 + 1;
        self.journal.extend(
            events
                .into_iter()
                .filter(|e| e.interaction_id.is_none_or(|id| written.contains(&id))),
        );
        self.seq = seq;
        self.batch = Some(batch);
        self.outcomes.insert(seq, outcome.clone());
        Claim::Committed(outcome, (first..=self.journal.len() as i64).collect())
    }
}

impl Store for FakeStore {
    async fn commit(
        &self,
        _fence: &Fence,
        seq: i64,
        batch_id: Uuid,
        batch: &Batch<'_>,
    ) -> Result<Claim, StoreError> {
        let mut state = self.state.lock().unwrap();
        state.commits += 1;
        if batch.rows.iter().any(|row| state.refuse.contains(&row.id)) {
            return Err(StoreError::Other(sqlx::Error::Decode(
                "the fake store refuses this change".into(),
            )));
        }
        let rows: Vec<Interaction> = batch.rows.iter().map(|&row| row.clone()).collect();
        let events: Vec<Event> = batch.events.iter().map(|&e| e.clone()).collect();
        let created: BTreeSet<Uuid> = batch.created.iter().copied().collect();
        if state.commit_late > 0 {
            state.commit_late -= 1;
            state.late = Some((seq, batch_id, rows, events, created));
            return Err(broken());
        }
        let claim = state.apply(seq, batch_id, rows, events, &created);
        if matches!(claim, Claim::Committed(..)) {
            for agent in &batch.agents {
                state.agents.insert(agent.name.clone(), (*agent).clone());
            }
        }
        if state.lose_answers > 0 {
            state.lose_answers -= 1;
            return Err(broken());
        }
        Ok(claim)
    }

    async fn last_commit(&self) -> Result<i64, StoreError> {
        Ok(self.state.lock().unwrap().seq)
    }

    async fn resolve(
        &self,
        _fence: &Fence,
        seq: i64,
        batch_id: Uuid,
    ) -> Result<Resolved, StoreError> {
        let mut state = self.state.lock().unwrap();
        if state.fenced {
            return Err(StoreError::Fenced(1));
        }
        if state.fail_resolves > 0 {
            state.fail_resolves -= 1;
            return Err(StoreError::Other(sqlx::Error::Decode(
                "the fake store cannot read the sequence".into(),
            )));
        }
        let answer = if state.seq < seq {
            Resolved::Free
        } else if state.seq == seq && state.batch == Some(batch_id) {
            Resolved::Committed(state.outcomes[&seq].clone())
        } else {
            Resolved::Other
        };
        if let Some((late_seq, late_batch, rows, events, created)) = state.late.take() {
            state.apply(late_seq, late_batch, rows, events, &created);
        }
        Ok(answer)
    }

    async fn load_live(&self, processes: &[String]) -> Result<Vec<Interaction>, StoreError> {
        self.reading().await;
        Ok(self.read(|state| {
            state
                .rows
                .values()
                .filter(|i| i.state.is_live() && processes.iter().any(|p| *p == i.process))
                .cloned()
                .collect()
        }))
    }

    async fn read_journal(&self, after: i64, limit: i64) -> Result<Vec<JournalEntry>, StoreError> {
        Ok(self.read(|state| {
            state
                .journal
                .iter()
                .enumerate()
                .map(|(n, event)| JournalEntry {
                    position: n as i64 + 1,
                    event: event.clone(),
                })
                .filter(|entry| entry.position > after)
                .take(limit.max(0) as usize)
                .collect()
        }))
    }

    async fn purge(
        &self,
        _fence: &Fence,
        _stopped_before: DateTime<Utc>,
        _events_before: DateTime<Utc>,
        _batch: i64,
    ) -> Result<Purged, StoreError> {
        Ok(Purged::default())
    }

    async fn acquire_lease(
        &self,
        holder: &LeaseHolder,
        _ttl: Duration,
    ) -> Result<LeaseOutcome, StoreError> {
        Ok(LeaseOutcome::Acquired(Fence {
            holder: holder.id.clone(),
            epoch: 1,
        }))
    }

    async fn renew_lease(&self, _fence: &Fence, _ttl: Duration) -> Result<bool, StoreError> {
        Ok(true)
    }

    async fn release_lease(&self, _fence: &Fence) -> Result<(), StoreError> {
        Ok(())
    }

    async fn load_agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        self.reading().await;
        Ok(self.read(|state| state.agents.values().cloned().collect()))
    }

    async fn get(&self, id: Uuid) -> Result<Option<Interaction>, StoreError> {
        self.reading().await;
        Ok(self.read(|state| state.rows.get(&id).cloned()))
    }
}
