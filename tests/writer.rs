//! The writer against real PostgreSQL when a commit's answer is lost after
//! the database committed it, and when a change does not apply: what the
//! caller is told, what the engine is asked to take back, and what the
//! database holds.

mod common;

use chrono::{DateTime, SubsecRound, Utc};
use common::TestDb;
use ixs::engine::{Command, Engine, Interaction, Served, ServedProcess, Submit};
use ixs::store::{
    Batch, Claim, CommitError, Fence, JournalEntry, LeaseHolder, LeaseOutcome, PgStore, Purged,
    Resolved, Store, StoreError, Undo, Writer, WriterHandle, WriterStats,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use uuid::Uuid;

/// The real store, except that the answers to the next `lose` commits are
/// lost after the database committed them: the writer sees a broken
/// connection, as when the network fails between the commit and its reply.
struct LosingAnswers {
    inner: PgStore,
    lose: AtomicUsize,
}

impl Store for LosingAnswers {
    async fn commit(
        &self,
        fence: &Fence,
        seq: i64,
        batch_id: Uuid,
        batch: &Batch<'_>,
    ) -> Result<Claim, StoreError> {
        let claim = self.inner.commit(fence, seq, batch_id, batch).await?;
        let lost = self
            .lose
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if lost {
            return Err(StoreError::from(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "connection reset after the commit",
            ))));
        }
        Ok(claim)
    }
    async fn last_commit(&self) -> Result<i64, StoreError> {
        self.inner.last_commit().await
    }
    async fn resolve(
        &self,
        fence: &Fence,
        seq: i64,
        batch_id: Uuid,
    ) -> Result<Resolved, StoreError> {
        self.inner.resolve(fence, seq, batch_id).await
    }
    async fn load_live(&self, processes: &[String]) -> Result<Vec<Interaction>, StoreError> {
        self.inner.load_live(processes).await
    }
    async fn read_journal(&self, after: i64, limit: i64) -> Result<Vec<JournalEntry>, StoreError> {
        self.inner.read_journal(after, limit).await
    }
    async fn purge(
        &self,
        fence: &Fence,
        stopped_before: DateTime<Utc>,
        events_before: DateTime<Utc>,
        batch: i64,
    ) -> Result<Purged, StoreError> {
        self.inner
            .purge(fence, stopped_before, events_before, batch)
            .await
    }
    async fn acquire_lease(
        &self,
        holder: &LeaseHolder,
        ttl: Duration,
    ) -> Result<LeaseOutcome, StoreError> {
        self.inner.acquire_lease(holder, ttl).await
    }
    async fn renew_lease(&self, fence: &Fence, ttl: Duration) -> Result<bool, StoreError> {
        self.inner.renew_lease(fence, ttl).await
    }
    async fn release_lease(&self, fence: &Fence) -> Result<(), StoreError> {
        self.inner.release_lease(fence).await
    }
    async fn get(&self, id: Uuid) -> Result<Option<Interaction>, StoreError> {
        self.inner.get(id).await
    }
    async fn load_agents(&self) -> Result<Vec<ixs::engine::AgentRecord>, StoreError> {
        self.inner.load_agents().await
    }
}

fn served() -> Served {
    let process = ServedProcess {
        queues: ["inbound".to_owned()].into(),
        workbins: Default::default(),
    };
    Served {
        processes: [("sales-email".to_owned(), process)].into(),
        media_types: ["email".to_owned()].into(),
        agents: Default::default(),
    }
}

fn submit(external_id: &str) -> Command {
    Command::Submit(Submit {
        external_id: Some(external_id.into()),
        submitted_by: "gateway".into(),
        process: "sales-email".into(),
        queue: Some("inbound".into()),
        media_type: "email".into(),
        kind: "inbound".into(),
        subtype: None,
        priority: 1,
        properties: Default::default(),
        agent: None,
    })
}

struct Setup {
    _db: TestDb,
    pg: PgStore,
    store: Arc<LosingAnswers>,
    handle: WriterHandle,
    undone: mpsc::UnboundedReceiver<Undo>,
    writer: tokio::task::JoinHandle<Result<(), CommitError>>,
    engine: Engine,
}

async fn setup(lose: usize) -> Setup {
    let db = TestDb::create().await;
    let pg = PgStore::connect(db.url().parse().unwrap(), 2, Duration::from_secs(5))
        .await
        .unwrap();
    pg.migrate().await.unwrap();
    let fence = match pg
        .acquire_lease(&LeaseHolder::new("writer-test"), Duration::from_secs(60))
        .await
        .unwrap()
    {
        LeaseOutcome::Acquired(fence) => fence,
        held => panic!("the lease is {held}"),
    };
    let store = Arc::new(LosingAnswers {
        inner: pg.clone(),
        lose: AtomicUsize::new(lose),
    });
    let (writer, handle, undone) = Writer::new(
        store.clone(),
        fence,
        100,
        100,
        Arc::new(WriterStats::default()),
    );
    Setup {
        _db: db,
        pg,
        store,
        handle,
        undone,
        writer: tokio::spawn(writer.run()),
        engine: Engine::new(served()),
    }
}

impl Setup {
    /// Applies `command` to the engine and sends what it made to the writer.
    async fn apply(&mut self, command: Command) -> (Interaction, Result<(), CommitError>) {
        let applied = self
            .engine
            .apply(command, Utc::now().trunc_subsecs(6), Uuid::now_v7)
            .unwrap();
        let about = (applied.interaction.id, applied.created);
        let changes = self.engine.take_changes();
        let answer = self
            .handle
            .send(changes.rows, changes.events, changes.agents, about)
            .await
            .await
            .unwrap();
        (applied.interaction, answer)
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(self.pg.pool())
            .await
            .unwrap()
    }

    async fn stop(mut self) -> mpsc::UnboundedReceiver<Undo> {
        drop(self.handle);
        self.writer.await.unwrap().unwrap();
        std::mem::replace(&mut self.undone, mpsc::unbounded_channel().1)
    }
}

#[tokio::test]
async fn a_commit_whose_answer_is_lost_is_acknowledged_once() {
    let mut setup = setup(1).await;
    let (submitted, answer) = setup.apply(submit("lost-1")).await;
    assert_eq!(
        answer,
        Ok(()),
        "it is in the database: its caller is told so"
    );
    // The engine keeps it (nothing to take back), and the next change of it
    // builds on what the database holds.
    let (changed, answer) = setup
        .apply(Command::Stop {
            id: submitted.id,
            reason: "done".into(),
        })
        .await;
    assert_eq!(answer, Ok(()));
    assert_eq!(
        setup.count("SELECT count(*) FROM interaction_events").await,
        2,
        "each event once"
    );
    assert_eq!(
        setup.pg.get(submitted.id).await.unwrap().as_ref(),
        Some(&changed)
    );
    assert_eq!(setup.count("SELECT seq FROM instance_lease").await, 2);
    let mut undone = setup.stop().await;
    assert!(undone.try_recv().is_err(), "nothing to take back");
}

#[tokio::test]
async fn a_duplicate_whose_answer_is_lost_is_still_a_duplicate() {
    let mut setup = setup(0).await;
    let (original, answer) = setup.apply(submit("twice")).await;
    assert_eq!(answer, Ok(()));
    // The engine forgets the original, as after a restart, and the repeat is
    // turned away by the database; the answer of that commit is lost.
    setup.engine.resync(original.id, None, Utc::now());
    setup.store.lose.store(1, Ordering::SeqCst);
    let repeat = setup.apply(submit("twice")).await;
    assert_eq!(repeat.1, Err(CommitError::Duplicate));
    assert_eq!(setup.count("SELECT count(*) FROM interactions").await, 1);
    assert_eq!(
        setup.count("SELECT count(*) FROM interaction_events").await,
        1
    );
    let mut undone = setup.stop().await;
    assert_eq!(
        undone.try_recv(),
        Ok(Undo {
            ids: vec![repeat.0.id],
            why: CommitError::Duplicate
        })
    );
}

#[tokio::test]
async fn a_change_made_on_an_outdated_version_is_not_written() {
    let mut setup = setup(0).await;
    let (submitted, answer) = setup.apply(submit("stale")).await;
    assert_eq!(answer, Ok(()));
    // The database moves on without this engine (as when a reload through
    // the read pool overtook the writer).
    sqlx::query("UPDATE interactions SET version = 5, priority = 9 WHERE id = $1")
        .bind(submitted.id)
        .execute(setup.pg.pool())
        .await
        .unwrap();
    let (_, answer) = setup
        .apply(Command::Stop {
            id: submitted.id,
            reason: "too late".into(),
        })
        .await;
    assert_eq!(answer, Err(CommitError::NotApplied));
    let stored = setup.pg.get(submitted.id).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.priority), (5, 9));
    assert_eq!(stored.state.as_str(), "queued");
    assert_eq!(
        setup.count("SELECT count(*) FROM interaction_events").await,
        1,
        "no event for the change not written"
    );
    let mut undone = setup.stop().await;
    assert_eq!(
        undone.try_recv(),
        Ok(Undo {
            ids: vec![submitted.id],
            why: CommitError::NotApplied
        })
    );
}
