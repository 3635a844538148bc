//! The one owner of an instance's live state: a task that holds the engine
//! and takes every change as a message, in arrival order. It applies each
//! command in memory and hands the outcome to the writer without waiting for
//! the commit, so commands pipeline while the caller alone waits for
//! durability.
//!
//! The task does no I/O of its own. What needs the database — the live
//! interactions of a process joining the scope, the stored version of an
//! interaction whose change was not committed — is read by a task beside it,
//! after a writer barrier (so that every change sent before is in the
//! database), and handed to the engine when it arrives. Meanwhile every other
//! command goes on.

mod desk;
mod scope;

pub use desk::ScopeDesk;
pub use scope::{Identity, ScopeSource, ScopeState};

use crate::engine::{Applied, Command, Engine, EngineError, Interaction, QueueSnapshot};
use crate::store::{CommitError, Store, StoreError, Undo, WriterHandle};
use crate::telemetry::error_chain;
use chrono::{DateTime, SubsecRound, Utc};
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tracing::{error, info, warn};
use uuid::Uuid;

/// Resolves once the change is committed.
pub type Committed = oneshot::Receiver<Result<(), CommitError>>;

/// A command the engine refused, with the scope in force when it did: a
/// caller that must tell why an interaction is not live judges by the scope
/// the engine answered in, not by one that changed since.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub error: EngineError,
    pub scope: Arc<ScopeState>,
}

type Answer = Result<(Applied, Committed), Refusal>;

enum Request {
    Apply {
        command: Command,
        /// On behalf of this agent: only its own interactions.
        agent: Option<String>,
        reply: oneshot::Sender<Answer>,
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
    async fn ask<T>(&self, request: impl FnOnce(oneshot::Sender<T>) -> Request) -> Result<T, Gone> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(request(reply)).await.map_err(|_| Gone)?;
        rx.await.map_err(|_| Gone)
    }

    /// Applies `command`; on success, the outcome and a receiver that
    /// resolves once it is durable.
    pub async fn apply(&self, command: Command, agent: Option<String>) -> Result<Answer, Gone> {
        self.ask(|reply| Request::Apply {
            command,
            agent,
            reply,
        })
        .await
    }

    pub async fn snapshot(
        &self,
        process: &str,
        queue: &str,
        limit: usize,
    ) -> Result<Result<QueueSnapshot, EngineError>, Gone> {
        self.ask(|reply| Request::Snapshot {
            process: process.to_owned(),
            queue: queue.to_owned(),
            limit,
            reply,
        })
        .await
    }

    /// Depth and oldest age of every served queue.
    pub async fn queues(&self) -> Result<Vec<QueueSnapshot>, Gone> {
        self.ask(|reply| Request::Queues { reply }).await
    }
}

/// What the task beside the engine read from the store.
enum Loaded {
    /// The live interactions of the processes joining the scope, for the
    /// proposal numbered `generation` (the one pending).
    Scope {
        generation: u64,
        interactions: Vec<Interaction>,
    },
    /// The stored version of interactions whose change was not committed.
    Reload(Vec<(Uuid, Option<Interaction>)>),
}

/// What the live task is started with.
pub struct Start<S> {
    /// The engine, recovered for `scope`.
    pub engine: Engine,
    pub scope: Arc<ScopeState>,
    /// Proposals of the scope from the desk, attached before `engine` was
    /// recovered.
    pub proposals: watch::Receiver<Arc<ScopeState>>,
    pub desk: Arc<ScopeDesk>,
    pub store: Arc<S>,
    pub writer: WriterHandle,
    /// What the writer did not commit, to be taken back before any later
    /// command.
    pub undone: mpsc::UnboundedReceiver<Undo>,
}

/// Starts the owner of the engine; it runs until every handle is dropped,
/// then drops its writer handle so that the writer can flush and stop, and
/// gives the scope back to the desk.
pub fn spawn<S: Store>(
    start: Start<S>,
    capacity: usize,
    tracker: &tokio_util::task::TaskTracker,
    span: tracing::Span,
) -> LiveHandle {
    use tracing::Instrument;
    let (tx, rx) = mpsc::channel(capacity);
    tracker.spawn(run(start, rx).instrument(span));
    LiveHandle { tx }
}

struct Live<S> {
    engine: Engine,
    in_force: Arc<ScopeState>,
    desk: Arc<ScopeDesk>,
    store: Arc<S>,
    writer: WriterHandle,
    /// The number of the latest proposal; a load for an older one is
    /// dropped.
    generation: u64,
    /// The proposal whose joining processes are being loaded.
    pending: Option<Arc<ScopeState>>,
    loads: JoinSet<Loaded>,
}

async fn run<S: Store>(start: Start<S>, mut rx: mpsc::Receiver<Request>) {
    let Start {
        engine,
        scope,
        mut proposals,
        desk,
        store,
        writer,
        mut undone,
    } = start;
    desk.publish(scope.clone());
    let mut live = Live {
        engine,
        in_force: scope,
        desk,
        store,
        writer,
        generation: 0,
        pending: None,
        loads: JoinSet::new(),
    };
    let mut proposing = true;
    loop {
        tokio::select! {
            // A take-back first: it was sent before its caller was
            // answered, so it precedes whatever that caller sends next.
            biased;
            Some(undo) = undone.recv() => live.take_back(undo),
            Some(loaded) = live.loads.join_next(), if !live.loads.is_empty() => match loaded {
                Ok(loaded) => live.loaded(loaded),
                Err(e) => error!(error = %e, "a load beside the engine failed"),
            },
            changed = proposals.changed(), if proposing => match changed {
                Ok(()) => {
                    let state = proposals.borrow_and_update().clone();
                    live.propose(state);
                }
                Err(_) => proposing = false,
            },
            request = rx.recv() => match request {
                Some(request) => live.handle(request).await,
                None => break,
            },
        }
    }
    live.desk.detach();
}

impl<S: Store> Live<S> {
    async fn handle(&mut self, request: Request) {
        match request {
            Request::Apply {
                command,
                agent,
                reply,
            } => {
                let outcome = match agent {
                    Some(agent) => self
                        .engine
                        .apply_as_agent(&agent, command, now(), Uuid::now_v7),
                    None => self.engine.apply(command, now(), Uuid::now_v7),
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
                        let committed = self.writer.send(rows, events, about).await;
                        Ok((applied, committed))
                    }
                    Err(error) => Err(Refusal {
                        error,
                        scope: self.in_force.clone(),
                    }),
                };
                let _ = reply.send(answer);
            }
            Request::Snapshot {
                process,
                queue,
                limit,
                reply,
            } => {
                let _ = reply.send(self.engine.queue_snapshot(&process, &queue, limit, now()));
            }
            Request::Queues { reply } => {
                let now = now();
                let engine = &self.engine;
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

    /// Makes the engine hold what the database holds of a change the writer
    /// did not commit: a duplicate was never written, so it is forgotten at
    /// once; a refused or unapplied change is set aside and reloaded beside
    /// the engine.
    fn take_back(&mut self, undo: Undo) {
        let Undo { ids, why } = undo;
        if why == CommitError::Duplicate {
            for id in ids {
                self.engine.resync(id, None);
            }
            return;
        }
        self.engine.suspend(&ids);
        let (store, writer) = (self.store.clone(), self.writer.clone());
        self.loads.spawn(async move {
            // Every change sent before the refused one is answered once the
            // barrier passes (those built on it without being written);
            // none of the set-aside ones is sent after it.
            let _ = writer.barrier(ids.clone()).await;
            let mut stored = Vec::with_capacity(ids.len());
            for id in ids {
                let found = retrying("reload an interaction whose change was not stored", || {
                    store.get(id)
                })
                .await;
                stored.push((id, found));
            }
            Loaded::Reload(stored)
        });
    }

    /// A new scope from the configuration: processes leaving it stop being
    /// served at once; those joining it are served once their live
    /// interactions are loaded beside the engine.
    fn propose(&mut self, state: Arc<ScopeState>) {
        if let Some(pending) = &self.pending {
            if pending.served == state.served {
                // The same scope again (a revision that changed nothing
                // here): the load under way serves it.
                self.pending = Some(state);
                return;
            }
        }
        self.generation += 1;
        self.pending = None;
        let joining: BTreeSet<String> = state
            .served
            .processes
            .keys()
            .filter(|p| !self.engine.served().serves(p))
            .cloned()
            .collect();
        if joining.is_empty() {
            self.switch(state, Vec::new());
            return;
        }
        let mut meanwhile = (*state).clone();
        meanwhile
            .served
            .processes
            .retain(|process, _| !joining.contains(process));
        self.switch(Arc::new(meanwhile), Vec::new());
        self.pending = Some(state);
        let (store, writer, generation) =
            (self.store.clone(), self.writer.clone(), self.generation);
        let joining: Vec<String> = joining.into_iter().collect();
        self.loads.spawn(async move {
            // Changes of these processes made before they left the scope
            // may still be on their way to the database.
            let _ = writer.barrier(Vec::new()).await;
            let interactions = retrying("load the processes joining the scope", || {
                store.load_live(&joining)
            })
            .await;
            Loaded::Scope {
                generation,
                interactions,
            }
        });
    }

    fn loaded(&mut self, loaded: Loaded) {
        match loaded {
            Loaded::Scope {
                generation,
                interactions,
            } if generation == self.generation => {
                if let Some(state) = self.pending.take() {
                    self.switch(state, interactions);
                }
            }
            // A newer proposal is being loaded.
            Loaded::Scope { .. } => {}
            Loaded::Reload(stored) => {
                for (id, found) in stored {
                    self.engine.resync(id, found);
                }
            }
        }
    }

    /// Serves `state` from now on, and makes it the scope in force.
    fn switch(&mut self, state: Arc<ScopeState>, entering: Vec<Interaction>) {
        let count = entering.len();
        let (left, joined) = self.engine.set_served(state.served.clone(), entering);
        if !left.is_empty() || !joined.is_empty() {
            info!(?left, ?joined, loaded = count, "scope changed");
        }
        self.in_force = state.clone();
        self.desk.publish(state);
    }
}

/// Calls `read` until it answers, with capped exponential backoff.
async fn retrying<T, F, Fut>(what: &str, mut read: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut delay = Duration::from_millis(50);
    loop {
        match read().await {
            Ok(value) => return value,
            Err(e) => {
                warn!(error = %error_chain(&e), retry_in_ms = delay.as_millis() as u64,
                    "cannot {what}; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// The time, at the database's precision (microseconds), so that what a
/// caller is told is exactly what a later read returns.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

#[cfg(test)]
mod tests;
