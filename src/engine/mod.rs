//! The routing core: the live state of one instance and every change to it.
//!
//! Plain Rust with no I/O, in the sans-I/O way: the owner hands in commands
//! (with the time and new ids injected), calls [`Engine::handle_timeout`] at
//! the time [`Engine::poll_timeout`] names, and after every call polls out
//! what changed ([`Engine::take_changes`]): the interactions and agents to
//! persist, the journal entries, and what to tell agents once the store's
//! writer made all of it durable. Nothing inside keeps a timer.
//!
//! The rooms: `lifecycle` (submit, change, place, stop, pull, workbins),
//! `offers` (how each change of an interaction reaches the router, offers
//! made, accepted, rejected, timed out, transfers, the engine's own
//! timers), `agents` (log-in, readiness, what an agent holds) and `routing`
//! (the router: views, strategies, decisions and why).

mod agents;
mod effects;
mod event;
mod interaction;
mod lifecycle;
mod offers;
mod queue;
pub mod routing;
mod scope;
pub mod state;

pub use effects::{AgentRecord, AgentView, Changes, MediaView, Notice, OfferView};
pub use event::{Event, EventData, EventKind};
pub use interaction::{Interaction, Name, Properties, json_size, merge_properties};
pub use queue::QueueIndex;
pub use scope::{Served, ServedProcess};
pub use state::{Action, State};

use chrono::{DateTime, Duration, Utc};
use routing::{Decision, Live, Pass, Router, RoutingConfig};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use uuid::Uuid;

/// The most an interaction's properties may hold, as JSON, however many
/// patches built them.
pub const MAX_PROPERTIES_BYTES: usize = 64 * 1024;

/// How long a stopped interaction stays in memory, so that a repeated submit
/// with its external id, or a late request on it, is answered without the
/// database.
const KEEP_STOPPED: Duration = Duration::minutes(10);

/// A new interaction, already validated for shape by the API.
#[derive(Debug, Clone, PartialEq)]
pub struct Submit {
    pub external_id: Option<String>,
    pub submitted_by: String,
    pub process: String,
    /// Required from a gateway; optional when an agent submits.
    pub queue: Option<String>,
    pub media_type: String,
    pub kind: String,
    pub subtype: Option<String>,
    pub priority: i32,
    pub properties: Properties,
    /// Set when an agent submits: the interaction starts in its hands.
    pub agent: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Submit(Submit),
    ChangeProperties {
        id: Uuid,
        patch: Properties,
    },
    PlaceInQueue {
        id: Uuid,
        process: Option<String>,
        queue: String,
    },
    Stop {
        id: Uuid,
        reason: String,
    },
    /// The agent takes the interaction offered to it.
    Accept {
        id: Uuid,
    },
    /// The agent turns the offer down.
    Reject {
        id: Uuid,
        reason: Option<String>,
    },
    /// The agent handling it offers it to another agent; it stays with the
    /// first until the other accepts.
    Transfer {
        id: Uuid,
        agent: String,
    },
    /// Parked in a workbin of the process, owned by an agent or an agent
    /// group (the acting agent's own when `None`).
    PlaceInWorkbin {
        id: Uuid,
        workbin: String,
        owner: Option<String>,
    },
    /// The acting agent takes a parked interaction from a workbin it may
    /// read.
    Take {
        id: Uuid,
    },
    /// A routing client offers an interaction it pulled to an agent.
    Offer {
        id: Uuid,
        agent: String,
    },
}

impl Command {
    /// The interaction the command acts on; `None` for a submit.
    pub fn target(&self) -> Option<Uuid> {
        match self {
            Command::Submit(_) => None,
            Command::ChangeProperties { id, .. }
            | Command::PlaceInQueue { id, .. }
            | Command::Stop { id, .. }
            | Command::Accept { id }
            | Command::Reject { id, .. }
            | Command::Transfer { id, .. }
            | Command::PlaceInWorkbin { id, .. }
            | Command::Take { id }
            | Command::Offer { id, .. } => Some(*id),
        }
    }
}

/// Why a command was refused. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("business process '{process}' is outside this instance's scope")]
    OutOfScope { process: String },
    #[error("business process '{process}' has no queue '{queue}'")]
    UnknownQueue { process: String, queue: String },
    #[error("business process '{process}' has no workbin '{workbin}'")]
    UnknownWorkbin { process: String, workbin: String },
    #[error("unknown media type '{0}'")]
    UnknownMediaType(String),
    #[error("unknown agent '{0}'")]
    UnknownAgent(String),
    /// The owner named for a workbin is neither an agent nor an agent
    /// group here.
    #[error(
        "'{0}' cannot own this workbin: a workbin is one per agent of this instance, or, when \
         shared, one per agent group"
    )]
    UnknownOwner(String),
    #[error("a submission from a gateway needs a queue")]
    QueueRequired,
    #[error("the properties would hold {size} bytes of JSON, more than {MAX_PROPERTIES_BYTES}")]
    PropertiesTooLarge { size: usize },
    /// Not in the live set: unknown, stopped long ago, or outside scope. The
    /// caller decides which by asking the store.
    #[error("interaction {0} is not in this instance's live set")]
    NotLive(Uuid),
    #[error("'{action}' is not allowed: the interaction is {state}", action = .action.as_str())]
    Illegal { state: State, action: Action },
    /// The interaction is being reloaded from the store after a change of
    /// it was not committed; it takes requests again once reloaded.
    #[error(
        "interaction {0} is being reloaded after a change that was not stored; try again shortly"
    )]
    Reloading(Uuid),
    /// The command was made on behalf of an agent, and the interaction is
    /// neither offered to nor handled by that agent.
    #[error("interaction {0} is not offered to or handled by you")]
    NotYours(Uuid),
    /// Only an agent, acting for itself, may do this.
    #[error("only an agent may {0}")]
    AgentOnly(&'static str),
    #[error(transparent)]
    Agent(#[from] routing::AgentError),
    /// The agent cannot take the interaction now.
    #[error("agent '{agent}' cannot take it now: {}", .reason.as_str())]
    Unavailable { agent: String, reason: Pass },
    /// A log-out without `force` while the agent holds interactions.
    #[error(
        "agent '{agent}' holds {held} interaction(s) or offer(s); log out with force to place them back in their queues"
    )]
    AgentBusy { agent: String, held: usize },
    /// The workbin belongs to someone the acting agent is not.
    #[error("workbin '{workbin}' of '{owner}' is not yours")]
    NotYourWorkbin { workbin: String, owner: String },
    #[error(transparent)]
    Pull(#[from] routing::PullError),
}

/// What a successful command did to the interaction it targets (what it
/// changed in all is polled with [`Engine::take_changes`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The interaction after the command.
    pub interaction: Interaction,
    /// True when the command created the interaction.
    pub created: bool,
}

/// Depth and head of one queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueSnapshot {
    pub process: String,
    pub queue: String,
    pub depth: usize,
    /// Seconds the longest-waiting interaction has waited, 0 when empty.
    pub oldest_age_secs: i64,
    pub interactions: Vec<Interaction>,
}

/// Why the engine's own timer of an interaction runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Deadline {
    /// Handled with no request by its agent since: revoked at the end.
    Handling,
    /// Pulled by a routing client and not offered, placed nor stopped.
    Routing,
}

/// The live state of one instance.
#[derive(Debug, Default)]
pub struct Engine {
    served: Served,
    /// B-trees, not hash maps, for the sets that grow with the backlog: a
    /// hash map doubles its table all at once, which held every command up
    /// for 377 ms at the 458 753rd live interaction; a B-tree grows a node
    /// at a time.
    live: Live,
    /// (submitted_by, external_id) → id, for live and recently stopped ones.
    external: BTreeMap<(Name, Name), Uuid>,
    queues: BTreeMap<(Name, Name), QueueIndex>,
    recently_stopped: BTreeMap<Uuid, Interaction>,
    stopped_order: VecDeque<(DateTime<Utc>, Uuid)>,
    /// Interactions set aside until the store's version of them is loaded
    /// back ([`Engine::suspend`], [`Engine::resync`]), with how many loads
    /// are awaited.
    suspended: BTreeMap<Uuid, u32>,
    router: Router,
    /// Agent → the interactions it handles.
    held: BTreeMap<Name, BTreeSet<Uuid>>,
    /// Handled interactions offered on to another agent: id → that agent.
    transfers: BTreeMap<Uuid, String>,
    /// The handling and routing timeouts: when each runs out.
    deadlines: BTreeMap<Uuid, (DateTime<Utc>, Deadline)>,
    timers: BTreeSet<(DateTime<Utc>, Uuid)>,
    /// (process, workbin) → the interactions parked in it.
    parked: BTreeMap<(Name, Name), BTreeSet<Uuid>>,
    /// What the calls since the last [`Engine::take_changes`] changed.
    changes: Changes,
}

impl Engine {
    /// An engine that serves `served` and routes nothing.
    pub fn new(served: Served) -> Self {
        Engine {
            served,
            ..Engine::default()
        }
    }

    /// An engine that serves `served` and routes by `routing`.
    pub fn with_routing(served: Served, routing: Arc<RoutingConfig>, now: DateTime<Utc>) -> Self {
        Engine {
            served,
            router: Router::new((*routing).clone(), now),
            ..Engine::default()
        }
    }

    pub fn served(&self) -> &Served {
        &self.served
    }

    pub fn router(&self) -> &Router {
        &self.router
    }

    /// What every call since the last one changed: to commit, and once
    /// committed, to tell.
    pub fn take_changes(&mut self) -> Changes {
        std::mem::take(&mut self.changes)
    }

    /// When [`Engine::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<DateTime<Utc>> {
        let own = self.timers.first().map(|(at, _)| *at);
        // A stopped interaction, and what is kept of its routing, is let go
        // on time even when nothing else happens.
        let stopped = self.stopped_order.front().map(|(at, _)| *at + KEEP_STOPPED);
        [own, self.router.poll_timeout(), stopped]
            .into_iter()
            .flatten()
            .min()
    }

    /// Loads what was recovered from the store. Stopped interactions are
    /// ignored. Offers that were pending, and interactions held by a
    /// routing client, go back to their queue with their original age,
    /// since the invitation or the hold died with the previous run; handled
    /// ones stay with their agent. Agents are logged in and ready as they
    /// were, their desktops not connected yet (given the grace period to
    /// come back). The changes go to [`Engine::take_changes`].
    pub fn restore(
        &mut self,
        interactions: impl IntoIterator<Item = Interaction>,
        agents: impl IntoIterator<Item = AgentRecord>,
        now: DateTime<Utc>,
    ) {
        for record in agents {
            self.restore_agent(record, now);
        }
        for mut interaction in interactions {
            if !interaction.state.is_live() {
                continue;
            }
            if matches!(interaction.state, State::Offered | State::Routing)
                && interaction.queue.is_some()
            {
                let from = interaction.state;
                interaction.state = State::Queued;
                interaction.agent = None;
                interaction.offered_at = None;
                interaction.version += 1;
                self.changes.events.push(Event::about(
                    EventKind::PlacedInQueue,
                    &interaction,
                    now,
                    EventData::of(&serde_json::json!({
                        "from": { "state": from }, "queue": interaction.queue, "reason": "recovery"
                    })),
                ));
                self.changes.rows.push(interaction.clone());
            }
            self.insert_live(interaction, now);
        }
        self.route(now);
    }

    /// Changes what the engine serves, live. Interactions of processes that
    /// left the scope are dropped from memory (they stay untouched in the
    /// store); `entering` must hold the live interactions, loaded from the
    /// store, of the processes that joined it. Returns the names of the
    /// processes that left and joined.
    pub fn set_served(
        &mut self,
        served: Served,
        routing: Arc<RoutingConfig>,
        entering: impl IntoIterator<Item = Interaction>,
        now: DateTime<Utc>,
    ) -> (Vec<String>, Vec<String>) {
        let left: Vec<String> = self
            .served
            .processes
            .keys()
            .filter(|p| !served.serves(p))
            .cloned()
            .collect();
        let joined: Vec<String> = served
            .processes
            .keys()
            .filter(|p| !self.served.serves(p))
            .cloned()
            .collect();
        if !left.is_empty() {
            let gone: Vec<Uuid> = self
                .live
                .values()
                .filter(|i| left.iter().any(|p| *p == i.process))
                .map(|i| i.id)
                .collect();
            for id in gone {
                self.drop_live(id, now);
            }
            self.queues
                .retain(|(process, _), _| !left.iter().any(|p| p == process));
        }
        self.served = served;
        if *routing != *self.router.config() {
            // Every waiting interaction enters the new views afresh.
            self.router
                .reconfigure((*routing).clone(), &routing::Live::new(), now);
            for index in self.queues.values() {
                for id in index.in_order() {
                    if let Some(interaction) = self.live.get(&id) {
                        self.router.queued(interaction, now);
                    }
                }
            }
        }
        for interaction in entering {
            if joined.iter().any(|p| *p == interaction.process)
                && interaction.state.is_live()
                && !self.live.contains_key(&interaction.id)
            {
                self.insert_live(interaction, now);
            }
        }
        self.route(now);
        (left, joined)
    }

    pub fn live_count(&self) -> usize {
        self.live.len()
    }

    /// A live (or recently stopped) interaction.
    pub fn get(&self, id: Uuid) -> Option<&Interaction> {
        self.live
            .get(&id)
            .or_else(|| self.recently_stopped.get(&id))
    }

    /// Applies one command on behalf of `agent`: the interaction it targets
    /// must be offered to or handled by that agent (a take: in a workbin it
    /// may read).
    pub fn apply_as_agent(
        &mut self,
        agent: &str,
        command: Command,
        now: DateTime<Utc>,
        new_id: impl FnOnce() -> Uuid,
    ) -> Result<Applied, EngineError> {
        if let Some(id) = command.target() {
            let current = self.held_interaction(id)?;
            let mine = match &command {
                // What it handles is its own too: accepting or rejecting
                // that again is refused for its state, not as another's.
                Command::Accept { .. } | Command::Reject { .. } => {
                    self.router.offered_to(id) == Some(agent)
                        || current.agent.as_deref() == Some(agent)
                }
                Command::Take { .. } => true,
                _ => current.agent.as_deref() == Some(agent),
            };
            if !mine {
                return Err(EngineError::NotYours(id));
            }
        }
        self.execute(command, Some(agent), now, new_id)
    }

    /// Applies one command at `now`; `new_id` is called once if it creates an
    /// interaction.
    pub fn apply(
        &mut self,
        command: Command,
        now: DateTime<Utc>,
        new_id: impl FnOnce() -> Uuid,
    ) -> Result<Applied, EngineError> {
        self.execute(command, None, now, new_id)
    }

    fn execute(
        &mut self,
        command: Command,
        agent: Option<&str>,
        now: DateTime<Utc>,
        new_id: impl FnOnce() -> Uuid,
    ) -> Result<Applied, EngineError> {
        self.expire_stopped(now);
        let applied = match command {
            Command::Submit(submit) => self.submit(submit, now, new_id),
            Command::ChangeProperties { id, patch } => self.change_properties(id, patch, now),
            Command::PlaceInQueue { id, process, queue } => {
                self.place_in_queue(id, process, queue, now)
            }
            Command::Stop { id, reason } => self.stop(id, reason, now),
            Command::Accept { id } => {
                let agent = agent.ok_or(EngineError::AgentOnly("accept an offer"))?;
                self.accept(id, agent, now)
            }
            Command::Reject { id, reason } => {
                let agent = agent.ok_or(EngineError::AgentOnly("reject an offer"))?;
                self.reject(id, agent, reason, now)
            }
            Command::Transfer { id, agent: to } => {
                let agent = agent.ok_or(EngineError::AgentOnly("transfer to an agent"))?;
                self.transfer(id, agent, &to, now)
            }
            Command::PlaceInWorkbin { id, workbin, owner } => {
                self.place_in_workbin(id, agent, workbin, owner, now)
            }
            Command::Take { id } => {
                let agent = agent.ok_or(EngineError::AgentOnly("take from a workbin"))?;
                self.take(id, agent, now)
            }
            Command::Offer { id, agent: to } => self.offer(id, &to, now),
        }?;
        if let Some(agent) = agent {
            self.touch(applied.interaction.id, agent, now);
        }
        self.route(now);
        Ok(applied)
    }

    /// Why `id` went where it did, and while it waits, why it waits.
    pub fn explain(&self, id: Uuid, now: DateTime<Utc>) -> Result<Vec<Decision>, EngineError> {
        let interaction = self.held_interaction(id)?;
        Ok(self.router.explain(interaction, now))
    }

    /// Who would get `submit` now, by which step, and why the others would
    /// not. Changes nothing.
    pub fn dry_run(
        &self,
        submit: Submit,
        now: DateTime<Utc>,
    ) -> Result<Vec<Decision>, EngineError> {
        let interaction = self.validate_submit(submit, Uuid::nil(), now)?;
        Ok(self.router.dry_run(&interaction, now))
    }

    /// The depth, oldest age and first `limit` interactions of a queue.
    pub fn queue_snapshot(
        &self,
        process: &str,
        queue: &str,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<QueueSnapshot, EngineError> {
        self.check_queue(process, queue)?;
        let index = self.queues.get(&(Name::from(process), Name::from(queue)));
        let (depth, oldest, interactions) = match index {
            None => (0, None, Vec::new()),
            Some(index) => (
                index.len(),
                index.oldest(),
                index
                    .in_order()
                    .take(limit)
                    .filter_map(|id| self.live.get(&id).cloned())
                    .collect(),
            ),
        };
        Ok(QueueSnapshot {
            process: process.to_owned(),
            queue: queue.to_owned(),
            depth,
            oldest_age_secs: oldest.map_or(0, |at| (now - at).num_seconds().max(0)),
            interactions,
        })
    }

    /// The interaction `id` as the engine holds it.
    fn held_interaction(&self, id: Uuid) -> Result<&Interaction, EngineError> {
        if self.suspended.contains_key(&id) {
            return Err(EngineError::Reloading(id));
        }
        self.get(id).ok_or(EngineError::NotLive(id))
    }

    /// The live interaction `id`, if `action` is legal on it now.
    fn check(&self, id: Uuid, action: Action) -> Result<&Interaction, EngineError> {
        let current = self.held_interaction(id)?;
        if !self.served.serves(&current.process) {
            return Err(EngineError::OutOfScope {
                process: current.process.to_string(),
            });
        }
        match state::next(current.state, action) {
            Some(_) => Ok(current),
            None => Err(EngineError::Illegal {
                state: current.state,
                action,
            }),
        }
    }

    fn check_queue(&self, process: &str, queue: &str) -> Result<(), EngineError> {
        if !self.served.serves(process) {
            return Err(EngineError::OutOfScope {
                process: process.to_owned(),
            });
        }
        if !self.served.has_queue(process, queue) {
            return Err(EngineError::UnknownQueue {
                process: process.to_owned(),
                queue: queue.to_owned(),
            });
        }
        Ok(())
    }

    /// Takes in an interaction the engine did not hold (submitted,
    /// recovered, loaded), and tells the router what it is.
    fn insert_live(&mut self, interaction: Interaction, now: DateTime<Utc>) {
        if let Some(external_id) = &interaction.external_id {
            self.external.insert(
                (interaction.submitted_by.clone(), external_id.clone()),
                interaction.id,
            );
        }
        self.index(&interaction);
        match (interaction.state, interaction.agent.clone()) {
            (State::Queued, _) => self.router.queued(&interaction, now),
            (State::Handling, Some(agent)) => {
                self.router.hold(&agent, &interaction.media_type, now);
                self.router.remember_agent(&interaction, &agent);
                self.held.entry(agent).or_default().insert(interaction.id);
                self.set_deadline(interaction.id, Deadline::Handling, now);
            }
            (State::Routing, _) => self.set_deadline(interaction.id, Deadline::Routing, now),
            _ => {}
        }
        self.live.insert(interaction.id, interaction);
    }

    /// Sets `ids` aside while the store's version of them is loaded: a
    /// change of theirs was not committed, so what the engine holds may not
    /// be what the store holds. Requests on them are answered
    /// [`EngineError::Reloading`] until [`Engine::resync`].
    pub fn suspend(&mut self, ids: &[Uuid], now: DateTime<Utc>) {
        for &id in ids {
            self.forget(id, now);
            *self.suspended.entry(id).or_default() += 1;
        }
    }

    /// Replaces what the engine holds of `id` with what the store holds
    /// (`None`: the store has no such interaction): after the store refused
    /// or did not apply a change, the engine must not keep it.
    pub fn resync(&mut self, id: Uuid, stored: Option<Interaction>, now: DateTime<Utc>) {
        match self.suspended.get_mut(&id) {
            // Another load of it is awaited: every one of them read the
            // store after the same changes, and the last one puts it back.
            Some(awaited) if *awaited > 1 => {
                *awaited -= 1;
                return;
            }
            Some(_) => {
                self.suspended.remove(&id);
            }
            None => {}
        }
        self.forget(id, now);
        if let Some(stored) = stored {
            if stored.state.is_live() && self.served.serves(&stored.process) {
                let stored = match stored.state {
                    // The offer the engine made is gone with the change
                    // taken back: the interaction waits again.
                    State::Offered => Interaction {
                        state: State::Queued,
                        agent: None,
                        offered_at: None,
                        ..stored
                    },
                    _ => stored,
                };
                self.insert_live(stored, now);
            }
        }
        self.route(now);
    }

    /// Drops whatever the engine holds of `id`.
    fn forget(&mut self, id: Uuid, now: DateTime<Utc>) {
        self.drop_live(id, now);
        if let Some(old) = self.recently_stopped.remove(&id) {
            self.router.forget(id);
            self.forget_external(&old);
        }
    }

    /// Removes a live interaction from memory alone (nothing is written):
    /// its process left the scope, or the store's version replaces it. An
    /// offer of it is withdrawn, and its agent's capacity freed.
    fn drop_live(&mut self, id: Uuid, now: DateTime<Utc>) {
        let Some(old) = self.live.remove(&id) else {
            return;
        };
        self.unindex(&old);
        if let Some(agent) = self.router.gone(id, now) {
            self.revoked(&agent, id, "withdrawn");
        }
        self.transfers.remove(&id);
        if let (State::Handling, Some(agent)) = (old.state, &old.agent) {
            self.unhold(agent, id, &old.media_type, now);
        }
        self.clear_deadline(id);
        self.router.forget(id);
        self.forget_external(&old);
        self.live.recycle(old);
    }

    /// Puts the new version of a live interaction in place, keeping the
    /// queue indexes and the stopped set in step, without telling the
    /// router (which made the change itself). The row is to be written.
    fn put(&mut self, changed: Interaction) {
        if let Some(old) = self.live.remove(&changed.id) {
            self.unindex(&old);
            self.live.recycle(old);
        }
        self.changes.rows.push(changed.clone());
        if changed.state.is_live() {
            self.index(&changed);
            self.live.insert(changed.id, changed);
        } else {
            let at = changed.stopped_at.unwrap_or_default();
            // Its latest routing decision is kept as long as it is: why it
            // went where it went can still be asked once it is done.
            self.router.stopped(changed.id);
            self.stopped_order.push_back((at, changed.id));
            self.recently_stopped.insert(changed.id, changed);
        }
    }

    fn index(&mut self, interaction: &Interaction) {
        match (interaction.state, &interaction.queue, &interaction.workbin) {
            (State::Queued, Some(queue), _) => {
                self.queues
                    .entry((interaction.process.clone(), queue.clone()))
                    .or_default()
                    .insert(
                        interaction.id,
                        interaction.priority,
                        interaction.submitted_at,
                    );
            }
            (State::Parked, _, Some(workbin)) => {
                self.parked
                    .entry((interaction.process.clone(), workbin.clone()))
                    .or_default()
                    .insert(interaction.id);
            }
            _ => {}
        }
    }

    fn unindex(&mut self, interaction: &Interaction) {
        match (interaction.state, &interaction.queue, &interaction.workbin) {
            (State::Queued, Some(queue), _) => {
                if let Some(index) = self
                    .queues
                    .get_mut(&(interaction.process.clone(), queue.clone()))
                {
                    index.remove(
                        interaction.id,
                        interaction.priority,
                        interaction.submitted_at,
                    );
                }
            }
            (State::Parked, _, Some(workbin)) => {
                if let Some(set) = self
                    .parked
                    .get_mut(&(interaction.process.clone(), workbin.clone()))
                {
                    set.remove(&interaction.id);
                }
            }
            _ => {}
        }
    }

    /// Forgets the external id of `interaction`, which the engine no longer
    /// holds.
    fn forget_external(&mut self, interaction: &Interaction) {
        if let Some(external_id) = &interaction.external_id {
            self.external
                .remove(&(interaction.submitted_by.clone(), external_id.clone()));
        }
    }

    fn expire_stopped(&mut self, now: DateTime<Utc>) {
        while let Some(&(at, id)) = self.stopped_order.front() {
            if now - at < KEEP_STOPPED {
                break;
            }
            self.stopped_order.pop_front();
            if let Some(gone) = self.recently_stopped.remove(&id) {
                self.router.forget(id);
                self.forget_external(&gone);
            }
        }
    }
}

fn check_properties_size(properties: &Properties) -> Result<(), EngineError> {
    let size = json_size(properties);
    if size > MAX_PROPERTIES_BYTES {
        return Err(EngineError::PropertiesTooLarge { size });
    }
    Ok(())
}

/// The details of a `properties_changed` event: the patch and the result.
#[derive(Serialize)]
struct PropertiesChangedData<'a> {
    changes: &'a Properties,
    properties: &'a Properties,
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod scenarios;
#[cfg(test)]
mod tests;
