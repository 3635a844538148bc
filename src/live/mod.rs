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

mod notify;

pub use notify::{StreamItem, Subscription};

use crate::backoff::Backoff;
use crate::engine::routing::Decision;
use crate::engine::{
    AgentView, Applied, Changes, Command, Engine, EngineError, Interaction, QueueSnapshot, Submit,
};
use crate::store::{CommitError, Store, StoreError, Undo, WriterHandle};
use crate::telemetry::error_chain;
use chrono::{DateTime, SubsecRound, Utc};
use notify::Notifier;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::sleep_until;
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

/// What an agent asks of its own state.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentCommand {
    Login {
        media: Vec<String>,
    },
    /// Ready (`ready`) or not ready with `reason`, for `media` (all of the
    /// agent's when `None`).
    Ready {
        media: Option<Vec<String>>,
        ready: bool,
        reason: Option<String>,
    },
    Logout {
        force: bool,
    },
}

/// A read of the live state that changes nothing.
pub enum Query {
    Agent(String),
    Agents,
    Explain(Uuid),
    DryRun(Submit),
    Workbin {
        process: String,
        workbin: String,
        owner: Option<String>,
    },
}

/// What a [`Query`] answers.
#[derive(Debug)]
pub enum Answered {
    Agent(AgentView),
    Agents(Vec<AgentView>),
    Decisions(Vec<Decision>),
    Interactions(Vec<Interaction>),
}

enum Request {
    Apply {
        command: Command,
        /// On behalf of this agent: only its own interactions.
        agent: Option<String>,
        reply: oneshot::Sender<Answer>,
    },
    Agent {
        agent: String,
        command: AgentCommand,
        reply: oneshot::Sender<Result<(AgentView, Committed), Refusal>>,
    },
    Pull {
        process: String,
        queue: String,
        view: String,
        count: usize,
        reply: oneshot::Sender<Result<(Vec<Interaction>, Committed), Refusal>>,
    },
    Query {
        query: Query,
        reply: oneshot::Sender<Result<Answered, Refusal>>,
    },
    /// An agent's desktop opens its live stream.
    Connect {
        agent: String,
        reply: oneshot::Sender<Result<Subscription, Refusal>>,
    },
    /// One of the agent's live streams ended.
    Disconnect {
        agent: String,
        stream: u64,
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
    Gauges {
        reply: oneshot::Sender<Gauges>,
    },
}

/// The live state's levels, read when `/metrics` is scraped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gauges {
    /// Depth and oldest age of every served queue (no interactions listed).
    pub queues: Vec<QueueSnapshot>,
    /// Logged-in agents ready for each media, every known media listed.
    pub ready_by_media: BTreeMap<String, u64>,
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

    /// The levels `/metrics` shows: queues, agents ready per media.
    pub async fn gauges(&self) -> Result<Gauges, Gone> {
        self.ask(|reply| Request::Gauges { reply }).await
    }

    /// Changes `agent`'s log-in or readiness; on success, its state and a
    /// receiver that resolves once the change is durable.
    pub async fn agent(
        &self,
        agent: &str,
        command: AgentCommand,
    ) -> Result<Result<(AgentView, Committed), Refusal>, Gone> {
        self.ask(|reply| Request::Agent {
            agent: agent.to_owned(),
            command,
            reply,
        })
        .await
    }

    /// Takes up to `count` interactions from a pull view for a routing
    /// client.
    pub async fn pull(
        &self,
        process: &str,
        queue: &str,
        view: &str,
        count: usize,
    ) -> Result<Result<(Vec<Interaction>, Committed), Refusal>, Gone> {
        self.ask(|reply| Request::Pull {
            process: process.to_owned(),
            queue: queue.to_owned(),
            view: view.to_owned(),
            count,
            reply,
        })
        .await
    }

    pub async fn query(&self, query: Query) -> Result<Result<Answered, Refusal>, Gone> {
        self.ask(|reply| Request::Query { query, reply }).await
    }

    /// Opens a live stream for `agent`'s desktop: what it is told from now
    /// on, starting with its state and pending offers.
    pub async fn connect(&self, agent: &str) -> Result<Result<Subscription, Refusal>, Gone> {
        self.ask(|reply| Request::Connect {
            agent: agent.to_owned(),
            reply,
        })
        .await
    }

    /// The stream `stream` of `agent` ended (its desktop went away).
    pub fn disconnect(&self, agent: &str, stream: u64) {
        let request = Request::Disconnect {
            agent: agent.to_owned(),
            stream,
        };
        if let Err(mpsc::error::TrySendError::Full(request)) = self.tx.try_send(request) {
            let tx = self.tx.clone();
            tokio::spawn(async move {
                let _ = tx.send(request).await;
            });
        }
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
    notifier: Notifier,
    /// Agent → its open live streams.
    streams: BTreeMap<String, BTreeSet<u64>>,
    next_stream: u64,
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
        notifier: Notifier::spawn(),
        streams: BTreeMap::new(),
        next_stream: 0,
    };
    // What recovery changed (interactions placed back in their queues,
    // offers made to agents restored as ready) is written first.
    live.flush(Uuid::nil()).await;
    let mut proposing = true;
    loop {
        let wake = live.engine.poll_timeout().map(|at| {
            let wait = (at - Utc::now()).to_std().unwrap_or_default();
            tokio::time::Instant::now() + wait
        });
        tokio::select! {
            // A take-back first: it was sent before its caller was
            // answered, so it precedes whatever that caller sends next.
            biased;
            Some(undo) = undone.recv() => {
                live.take_back(undo);
                live.flush(Uuid::nil()).await;
            }
            Some(loaded) = live.loads.join_next(), if !live.loads.is_empty() => match loaded {
                Ok(loaded) => {
                    live.loaded(loaded);
                    live.flush(Uuid::nil()).await;
                }
                Err(e) => error!(error = %e, "a load beside the engine failed"),
            },
            changed = proposals.changed(), if proposing => match changed {
                Ok(()) => {
                    let state = proposals.borrow_and_update().clone();
                    live.propose(state);
                    live.flush(Uuid::nil()).await;
                }
                Err(_) => proposing = false,
            },
            request = rx.recv() => match request {
                Some(request) => live.handle(request).await,
                None => break,
            },
            () = sleep_until(wake.unwrap_or_else(tokio::time::Instant::now)), if wake.is_some() => {
                live.engine.handle_timeout(now());
                live.flush(Uuid::nil()).await;
            }
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
                    Ok(applied) => {
                        // Even a change-less answer (an idempotent repeat) goes
                        // through the writer, so that it is given only once
                        // the original is durable.
                        let about = (applied.interaction.id, applied.created);
                        let committed = self.send(about).await;
                        Ok((applied, committed))
                    }
                    Err(error) => Err(self.refusal(error)),
                };
                let _ = reply.send(answer);
            }
            Request::Agent {
                agent,
                command,
                reply,
            } => {
                let now = now();
                let outcome = match command {
                    AgentCommand::Login { media } => self.engine.login(&agent, &media, now),
                    AgentCommand::Ready {
                        media,
                        ready,
                        reason,
                    } => self.engine.set_ready(
                        &agent,
                        media.as_deref(),
                        ready,
                        reason.as_deref(),
                        now,
                    ),
                    AgentCommand::Logout { force } => self.engine.logout(&agent, force, now),
                };
                let answer = match outcome {
                    Ok(view) => Ok((view, self.send((Uuid::nil(), false)).await)),
                    Err(error) => Err(self.refusal(error)),
                };
                let _ = reply.send(answer);
            }
            Request::Pull {
                process,
                queue,
                view,
                count,
                reply,
            } => {
                let answer = match self.engine.pull(&process, &queue, &view, count, now()) {
                    Ok(pulled) => Ok((pulled, self.send((Uuid::nil(), false)).await)),
                    Err(error) => Err(self.refusal(error)),
                };
                let _ = reply.send(answer);
            }
            Request::Query { query, reply } => {
                let now = now();
                let engine = &self.engine;
                let answer = match query {
                    Query::Agent(agent) => engine.agent_view(&agent).map(Answered::Agent),
                    Query::Agents => Ok(Answered::Agents(engine.agent_views())),
                    Query::Explain(id) => engine.explain(id, now).map(Answered::Decisions),
                    Query::DryRun(submit) => engine.dry_run(submit, now).map(Answered::Decisions),
                    Query::Workbin {
                        process,
                        workbin,
                        owner,
                    } => engine
                        .workbin(&process, &workbin, owner.as_deref())
                        .map(Answered::Interactions),
                };
                let _ = reply.send(answer.map_err(|error| self.refusal(error)));
            }
            Request::Connect { agent, reply } => {
                if let Err(error) = self.engine.agent_view(&agent) {
                    let _ = reply.send(Err(self.refusal(error)));
                    return;
                }
                let first = !self.streams.contains_key(&agent);
                if first {
                    // Connected before its state is read: the stream starts
                    // with the offers this makes, once they are committed.
                    self.engine.set_connected(&agent, true, now());
                    self.flush(Uuid::nil()).await;
                }
                let Ok(view) = self.engine.agent_view(&agent) else {
                    return;
                };
                self.next_stream += 1;
                let stream = self.next_stream;
                let offers = view
                    .offers
                    .iter()
                    .filter_map(|offer| {
                        let interaction = self.engine.get(offer.interaction)?.clone();
                        Some((interaction, offer.deadline))
                    })
                    .collect();
                // The stream starts once everything sent before is
                // committed: it is told nothing that is not durable.
                let committed = self
                    .writer
                    .send(Vec::new(), Vec::new(), Vec::new(), (Uuid::nil(), false))
                    .await;
                let subscription = self
                    .notifier
                    .subscribe(&agent, stream, view, offers, committed)
                    .await;
                if reply.send(Ok(subscription)).is_err() {
                    // Its request went away before it was answered: no
                    // stream started, and none will end to say so.
                    if first {
                        self.engine.set_connected(&agent, false, now());
                        self.flush(Uuid::nil()).await;
                    }
                    return;
                }
                self.streams.entry(agent).or_default().insert(stream);
            }
            Request::Disconnect { agent, stream } => {
                let Some(open) = self.streams.get_mut(&agent) else {
                    return;
                };
                open.remove(&stream);
                if open.is_empty() {
                    self.streams.remove(&agent);
                    self.engine.set_connected(&agent, false, now());
                    self.flush(Uuid::nil()).await;
                }
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
                let _ = reply.send(self.queues());
            }
            Request::Gauges { reply } => {
                let _ = reply.send(Gauges {
                    queues: self.queues(),
                    ready_by_media: self.engine.ready_by_media(),
                });
            }
        }
    }

    /// Depth and oldest age of every served queue.
    fn queues(&self) -> Vec<QueueSnapshot> {
        let now = now();
        let engine = &self.engine;
        engine
            .served()
            .processes
            .iter()
            .flat_map(|(process, def)| def.queues.iter().map(move |q| (process, q)))
            .filter_map(|(process, queue)| engine.queue_snapshot(process, queue, 0, now).ok())
            .collect()
    }

    fn refusal(&self, error: EngineError) -> Refusal {
        Refusal {
            error,
            scope: self.in_force.clone(),
        }
    }

    /// Hands what the engine changed to the writer, and what agents are to
    /// be told to the notifier, which tells them once it is committed.
    /// Returns what resolves once it is committed.
    async fn send(&mut self, about: (Uuid, bool)) -> Committed {
        let changes = self.engine.take_changes();
        self.write(changes, about).await
    }

    async fn write(&mut self, changes: Changes, about: (Uuid, bool)) -> Committed {
        let Changes {
            rows,
            events,
            agents,
            notices,
        } = changes;
        let committed = self.writer.send(rows, events, agents, about).await;
        if notices.is_empty() {
            committed
        } else {
            self.notifier.deliver(committed, notices).await
        }
    }

    /// Writes what a timer or a change of scope brought about; nobody waits
    /// for it but the agents it tells.
    /// A timer tick or a connect that changed nothing goes no further than
    /// here: there is nothing to write and nobody to tell.
    async fn flush(&mut self, about: Uuid) {
        let changes = self.engine.take_changes();
        if changes.is_empty() {
            return;
        }
        drop(self.write(changes, (about, false)).await);
    }

    /// Makes the engine hold what the database holds of a change the writer
    /// did not commit: a duplicate was never written, so it is forgotten at
    /// once; a refused or unapplied change is set aside and reloaded beside
    /// the engine.
    fn take_back(&mut self, undo: Undo) {
        let Undo { ids, why } = undo;
        if why == CommitError::Duplicate {
            for id in ids {
                self.engine.resync(id, None, now());
            }
            return;
        }
        self.engine.suspend(&ids, now());
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
                    self.engine.resync(id, found, now());
                }
            }
        }
    }

    /// Serves `state` from now on, and makes it the scope in force.
    fn switch(&mut self, state: Arc<ScopeState>, entering: Vec<Interaction>) {
        let count = entering.len();
        let (left, joined) =
            self.engine
                .set_served(state.served.clone(), state.routing.clone(), entering, now());
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
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
    loop {
        match read().await {
            Ok(value) => return value,
            Err(e) => {
                let wait = backoff.next_wait();
                warn!(error = %error_chain(&e), retry_in_ms = wait.as_millis() as u64,
                    "cannot {what}; retrying");
                tokio::time::sleep(wait).await;
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
