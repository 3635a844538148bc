//! The one owner of an instance's live state: a task that holds the engine
//! and takes every change as a message, in arrival order. It applies each
//! command in memory and hands the outcome to the writer without waiting for
//! the commit, so commands pipeline while the caller alone waits for
//! durability.

mod scope;

pub use scope::{Identity, ScopeSource, ScopeState};

use crate::engine::{Applied, Command, Engine, EngineError, QueueSnapshot, Served};
use crate::store::{CommitError, Undo, WriterHandle};
use crate::store::{PgStore, Store};
use crate::telemetry::error_chain;
use chrono::{DateTime, SubsecRound, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};
use uuid::Uuid;

/// Resolves once the change is committed.
pub type Committed = oneshot::Receiver<Result<(), CommitError>>;

enum Request {
    Apply {
        command: Command,
        /// On behalf of this agent: only its own interactions.
        agent: Option<String>,
        reply: oneshot::Sender<Result<(Applied, Committed), EngineError>>,
    },
    Snapshot {
        process: String,
        queue: String,
        limit: usize,
        reply: oneshot::Sender<Result<QueueSnapshot, EngineError>>,
    },
    Queues {
        reply: oneshot::Sender<Vec<QueueSnapshot>>,
    },
    SetScope {
        served: Served,
        reply: oneshot::Sender<()>,
    },
}

/// How the API talks to the live state.
#[derive(Clone, Debug)]
pub struct LiveHandle {
    tx: mpsc::Sender<Request>,
}

/// The live task stopped: the instance is shutting down or lost its lease.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the instance's live state is not running")]
pub struct Gone;

impl LiveHandle {
    /// Applies `command`; on success, the outcome and a receiver that
    /// resolves once it is durable.
    pub async fn apply(
        &self,
        command: Command,
        agent: Option<String>,
    ) -> Result<Result<(Applied, Committed), EngineError>, Gone> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::Apply {
                command,
                agent,
                reply,
            })
            .await
            .map_err(|_| Gone)?;
        rx.await.map_err(|_| Gone)
    }

    pub async fn snapshot(
        &self,
        process: &str,
        queue: &str,
        limit: usize,
    ) -> Result<Result<QueueSnapshot, EngineError>, Gone> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::Snapshot {
                process: process.to_owned(),
                queue: queue.to_owned(),
                limit,
                reply,
            })
            .await
            .map_err(|_| Gone)?;
        rx.await.map_err(|_| Gone)
    }

    /// Serves `served` from now on: processes that left stop being routed at
    /// once; those that joined are loaded from the store first.
    pub async fn set_scope(&self, served: Served) -> Result<(), Gone> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::SetScope { served, reply })
            .await
            .map_err(|_| Gone)?;
        rx.await.map_err(|_| Gone)
    }

    /// Depth and oldest age of every served queue.
    pub async fn queues(&self) -> Result<Vec<QueueSnapshot>, Gone> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::Queues { reply })
            .await
            .map_err(|_| Gone)?;
        rx.await.map_err(|_| Gone)
    }
}

/// Starts the owner of `engine`; it runs until every handle is dropped, then
/// drops its writer handle so that the writer can flush and stop. What the
/// writer did not commit arrives on `undone`, and is taken back before any
/// later command.
pub fn spawn(
    engine: Engine,
    store: Arc<PgStore>,
    writer: WriterHandle,
    undone: mpsc::UnboundedReceiver<Undo>,
    capacity: usize,
    tracker: &tokio_util::task::TaskTracker,
    span: tracing::Span,
) -> LiveHandle {
    use tracing::Instrument;
    let (tx, rx) = mpsc::channel(capacity);
    tracker.spawn(run(engine, store, writer, undone, rx).instrument(span));
    LiveHandle { tx }
}

async fn run(
    mut engine: Engine,
    store: Arc<PgStore>,
    writer: WriterHandle,
    mut undone: mpsc::UnboundedReceiver<Undo>,
    mut rx: mpsc::Receiver<Request>,
) {
    loop {
        // An undo first: it was sent before its caller was answered, so it
        // precedes whatever that caller sends next.
        let request = tokio::select! {
            biased;
            Some(undo) = undone.recv() => {
                take_back(&mut engine, &store, undo).await;
                continue;
            }
            request = rx.recv() => match request {
                Some(request) => request,
                None => break,
            },
        };
        match request {
            Request::Apply {
                command,
                agent,
                reply,
            } => {
                let outcome = match agent {
                    Some(agent) => engine.apply_as_agent(&agent, command, now(), Uuid::now_v7),
                    None => engine.apply(command, now(), Uuid::now_v7),
                };
                let answer = match outcome {
                    Ok(mut applied) => {
                        let rows = if applied.events.is_empty() {
                            Vec::new()
                        } else {
                            vec![applied.interaction.clone()]
                        };
                        // Even a change-less answer (an idempotent repeat) goes
                        // through the writer, so that it is given only once
                        // the original is durable.
                        let about = (applied.interaction.id, applied.created);
                        // The events go to the writer; the caller needs only
                        // the interaction.
                        let events = std::mem::take(&mut applied.events);
                        let committed = writer.send(rows, events, about).await;
                        Ok((applied, committed))
                    }
                    Err(error) => Err(error),
                };
                let _ = reply.send(answer);
            }
            Request::Snapshot {
                process,
                queue,
                limit,
                reply,
            } => {
                let _ = reply.send(engine.queue_snapshot(&process, &queue, limit, now()));
            }
            Request::SetScope { served, reply } => {
                set_scope(&mut engine, &store, served).await;
                let _ = reply.send(());
            }
            Request::Queues { reply } => {
                let now = now();
                let snapshots = engine
                    .served()
                    .processes
                    .iter()
                    .flat_map(|(process, def)| def.queues.iter().map(move |q| (process, q)))
                    .filter_map(|(process, queue)| {
                        engine.queue_snapshot(process, queue, 0, now).ok()
                    })
                    .collect();
                let _ = reply.send(snapshots);
            }
        }
    }
}

/// Makes the engine hold what the database holds of a change the writer did
/// not commit: a duplicate was never written; a refused change is reloaded.
async fn take_back(engine: &mut Engine, store: &PgStore, undo: Undo) {
    let Undo { id, why } = undo;
    if why == CommitError::Duplicate {
        engine.resync(id, None);
        return;
    }
    match store.get(id).await {
        Ok(stored) => engine.resync(id, stored),
        Err(e) => warn!(error = %error_chain(&e), %id,
            "cannot reload a refused interaction; its next change may fail too"),
    }
}

/// The time, at the database's precision (microseconds), so that what a
/// caller is told is exactly what a later read returns.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Loads the live interactions of the processes joining the scope, then
/// switches. Commands wait meanwhile: a scope change is rare, and a joining
/// process must not be served before its interactions are known.
async fn set_scope(engine: &mut Engine, store: &PgStore, served: Served) {
    let joining: Vec<String> = served
        .processes
        .keys()
        .filter(|p| !engine.served().serves(p))
        .cloned()
        .collect();
    let mut delay = Duration::from_millis(50);
    let entering = loop {
        if joining.is_empty() {
            break Vec::new();
        }
        match store.load_live(&joining).await {
            Ok(found) => break found,
            Err(e) => {
                warn!(error = %error_chain(&e), "cannot load the processes joining the scope; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    };
    let count = entering.len();
    let (left, joined) = engine.set_served(served, entering);
    if !left.is_empty() || !joined.is_empty() {
        info!(?left, ?joined, loaded = count, "scope changed");
    }
}
