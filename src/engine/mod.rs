//! The routing core: the live state of one instance and every change to it.
//!
//! Plain Rust with no I/O: the caller injects the time and new ids, so the
//! engine runs the same in tests, benchmarks and the daemon. Each command is
//! validated against the live state, applied in memory, and answered with the
//! changed interaction and the events to persist; the store's writer makes
//! them durable before anyone is told.

mod event;
mod interaction;
mod queue;
pub mod routing;
mod scope;
pub mod state;

pub use event::{Event, EventData, EventKind};
pub use interaction::{Interaction, Properties, json_size, merge_properties};
pub use queue::QueueIndex;
pub use scope::{Served, ServedProcess};
pub use state::{Action, State};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeMap, VecDeque};
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
}

impl Command {
    /// The interaction the command acts on; `None` for a submit.
    pub fn target(&self) -> Option<Uuid> {
        match self {
            Command::Submit(_) => None,
            Command::ChangeProperties { id, .. }
            | Command::PlaceInQueue { id, .. }
            | Command::Stop { id, .. } => Some(*id),
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
    #[error("unknown media type '{0}'")]
    UnknownMediaType(String),
    #[error("unknown agent '{0}'")]
    UnknownAgent(String),
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
}

/// What a successful command did.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The interaction after the command.
    pub interaction: Interaction,
    /// Events to append; empty when nothing changed (an idempotent repeat).
    pub events: Vec<Event>,
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

/// The live state of one instance.
#[derive(Debug, Default)]
pub struct Engine {
    served: Served,
    /// B-trees, not hash maps, for the sets that grow with the backlog: a
    /// hash map doubles its table all at once, which held every command up
    /// for 377 ms at the 458 753rd live interaction; a B-tree grows a node
    /// at a time.
    live: BTreeMap<Uuid, Interaction>,
    /// (submitted_by, external_id) → id, for live and recently stopped ones.
    external: BTreeMap<(String, String), Uuid>,
    queues: BTreeMap<(String, String), QueueIndex>,
    recently_stopped: BTreeMap<Uuid, Interaction>,
    stopped_order: VecDeque<(DateTime<Utc>, Uuid)>,
    /// Interactions set aside until the store's version of them is loaded
    /// back ([`Engine::suspend`], [`Engine::resync`]), with how many loads
    /// are awaited.
    suspended: BTreeMap<Uuid, u32>,
}

impl Engine {
    pub fn new(served: Served) -> Self {
        Engine {
            served,
            ..Engine::default()
        }
    }

    pub fn served(&self) -> &Served {
        &self.served
    }

    /// Loads interactions recovered from the store. Stopped ones are ignored.
    /// Offers that were pending, and interactions held by a routing client,
    /// go back to their queue with their original age, since the invitation or
    /// the hold died with the previous run; those changes are returned, to be
    /// persisted like any other.
    pub fn restore(
        &mut self,
        interactions: impl IntoIterator<Item = Interaction>,
        now: DateTime<Utc>,
    ) -> Vec<Applied> {
        let mut requeued = Vec::new();
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
                interaction.placed_in_queue_at = Some(now);
                interaction.version += 1;
                requeued.push(Applied {
                    events: vec![Event {
                        kind: EventKind::PlacedInQueue,
                        interaction_id: interaction.id,
                        process: interaction.process.clone(),
                        at: now,
                        data: EventData::of(&json!({ "from": { "state": from }, "queue": interaction.queue, "reason": "recovery" })),
                    }],
                    interaction: interaction.clone(),
                    created: false,
                });
            }
            self.insert_live(interaction);
        }
        requeued
    }

    /// Changes what the engine serves, live. Interactions of processes that
    /// left the scope are dropped from memory (they stay untouched in the
    /// store); `entering` must hold the live interactions, loaded from the
    /// store, of the processes that joined it. Returns the names of the
    /// processes that left and joined.
    pub fn set_served(
        &mut self,
        served: Served,
        entering: impl IntoIterator<Item = Interaction>,
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
                .filter(|i| left.contains(&i.process))
                .map(|i| i.id)
                .collect();
            for id in gone {
                if let Some(interaction) = self.live.remove(&id) {
                    self.unindex(&interaction);
                    self.forget_external(interaction);
                }
            }
            self.queues
                .retain(|(process, _), _| !left.contains(process));
        }
        self.served = served;
        for interaction in entering {
            if joined.contains(&interaction.process)
                && interaction.state.is_live()
                && !self.live.contains_key(&interaction.id)
            {
                self.insert_live(interaction);
            }
        }
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
    /// must be offered to or handled by that agent.
    pub fn apply_as_agent(
        &mut self,
        agent: &str,
        command: Command,
        now: DateTime<Utc>,
        new_id: impl FnOnce() -> Uuid,
    ) -> Result<Applied, EngineError> {
        if let Some(id) = command.target() {
            let current = self.held(id)?;
            if current.agent.as_deref() != Some(agent) {
                return Err(EngineError::NotYours(id));
            }
        }
        self.apply(command, now, new_id)
    }

    /// Applies one command at `now`; `new_id` is called once if it creates an
    /// interaction.
    pub fn apply(
        &mut self,
        command: Command,
        now: DateTime<Utc>,
        new_id: impl FnOnce() -> Uuid,
    ) -> Result<Applied, EngineError> {
        self.expire_stopped(now);
        match command {
            Command::Submit(submit) => self.submit(submit, now, new_id),
            Command::ChangeProperties { id, patch } => self.change_properties(id, patch, now),
            Command::PlaceInQueue { id, process, queue } => {
                self.place_in_queue(id, process, queue, now)
            }
            Command::Stop { id, reason } => self.stop(id, reason, now),
        }
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
        let index = self.queues.get(&(process.to_owned(), queue.to_owned()));
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

    fn submit(
        &mut self,
        submit: Submit,
        now: DateTime<Utc>,
        new_id: impl FnOnce() -> Uuid,
    ) -> Result<Applied, EngineError> {
        if let Some(external_id) = &submit.external_id {
            let key = (submit.submitted_by.clone(), external_id.clone());
            if let Some(existing) = self.external.get(&key).and_then(|id| self.get(*id)) {
                return Ok(Applied {
                    interaction: existing.clone(),
                    events: Vec::new(),
                    created: false,
                });
            }
        }
        if !self.served.serves(&submit.process) {
            return Err(EngineError::OutOfScope {
                process: submit.process,
            });
        }
        match (&submit.queue, &submit.agent) {
            (Some(queue), _) => self.check_queue(&submit.process, queue)?,
            (None, None) => return Err(EngineError::QueueRequired),
            (None, Some(_)) => {}
        }
        check_properties_size(&submit.properties)?;
        if !self.served.media_types.contains(&submit.media_type) {
            return Err(EngineError::UnknownMediaType(submit.media_type));
        }
        if let Some(agent) = &submit.agent {
            if !self.served.agents.contains(agent) {
                return Err(EngineError::UnknownAgent(agent.clone()));
            }
        }
        let by_agent = submit.agent.is_some();
        let interaction = Interaction {
            id: new_id(),
            external_id: submit.external_id,
            submitted_by: submit.submitted_by,
            process: submit.process,
            queue: submit.queue,
            workbin: None,
            state: if by_agent {
                State::Handling
            } else {
                State::Queued
            },
            media_type: submit.media_type,
            kind: submit.kind,
            subtype: submit.subtype,
            priority: submit.priority,
            properties: submit.properties,
            agent: submit.agent,
            submitted_at: now,
            placed_in_queue_at: (!by_agent).then_some(now),
            offered_at: None,
            assigned_at: by_agent.then_some(now),
            stopped_at: None,
            stop_reason: None,
            version: 1,
        };
        let event = Event {
            kind: EventKind::Submitted,
            interaction_id: interaction.id,
            process: interaction.process.clone(),
            at: now,
            data: EventData::of(&interaction),
        };
        self.insert_live(interaction.clone());
        Ok(Applied {
            interaction,
            events: vec![event],
            created: true,
        })
    }

    fn change_properties(
        &mut self,
        id: Uuid,
        patch: Properties,
        now: DateTime<Utc>,
    ) -> Result<Applied, EngineError> {
        let current = self.check(id, Action::ChangeProperties)?;
        let mut changed = current.clone();
        merge_properties(&mut changed.properties, patch.clone());
        check_properties_size(&changed.properties)?;
        changed.version += 1;
        let event = Event {
            kind: EventKind::PropertiesChanged,
            interaction_id: id,
            process: changed.process.clone(),
            at: now,
            data: EventData::of(&PropertiesChangedData {
                changes: &patch,
                properties: &changed.properties,
            }),
        };
        self.replace_live(changed.clone());
        Ok(Applied {
            interaction: changed,
            events: vec![event],
            created: false,
        })
    }

    fn place_in_queue(
        &mut self,
        id: Uuid,
        process: Option<String>,
        queue: String,
        now: DateTime<Utc>,
    ) -> Result<Applied, EngineError> {
        let current = self.check(id, Action::PlaceInQueue)?;
        let process = process.unwrap_or_else(|| current.process.clone());
        self.check_queue(&process, &queue)?;
        if current.state == State::Queued
            && current.process == process
            && current.queue.as_deref() == Some(queue.as_str())
        {
            // Already there: keeping its place is the whole point.
            return Ok(Applied {
                interaction: current.clone(),
                events: Vec::new(),
                created: false,
            });
        }
        let mut changed = current.clone();
        let from =
            json!({ "process": changed.process, "queue": changed.queue, "state": changed.state });
        changed.process = process;
        changed.queue = Some(queue);
        changed.workbin = None;
        changed.state = State::Queued;
        changed.agent = None;
        changed.placed_in_queue_at = Some(now);
        changed.version += 1;
        let event = Event {
            kind: EventKind::PlacedInQueue,
            interaction_id: id,
            process: changed.process.clone(),
            at: now,
            data: EventData::of(&json!({ "from": from, "queue": changed.queue })),
        };
        self.replace_live(changed.clone());
        Ok(Applied {
            interaction: changed,
            events: vec![event],
            created: false,
        })
    }

    fn stop(
        &mut self,
        id: Uuid,
        reason: String,
        now: DateTime<Utc>,
    ) -> Result<Applied, EngineError> {
        let current = self.check(id, Action::Stop)?;
        let mut changed = current.clone();
        changed.state = State::Stopped;
        changed.stopped_at = Some(now);
        changed.stop_reason = Some(reason.clone());
        changed.version += 1;
        let event = Event {
            kind: EventKind::ProcessingStopped,
            interaction_id: id,
            process: changed.process.clone(),
            at: now,
            data: EventData::of(&json!({ "reason": reason, "from": current.state })),
        };
        self.replace_live(changed.clone());
        Ok(Applied {
            interaction: changed,
            events: vec![event],
            created: false,
        })
    }

    /// The interaction `id` as the engine holds it.
    fn held(&self, id: Uuid) -> Result<&Interaction, EngineError> {
        if self.suspended.contains_key(&id) {
            return Err(EngineError::Reloading(id));
        }
        self.get(id).ok_or(EngineError::NotLive(id))
    }

    /// The live interaction `id`, if `action` is legal on it now.
    fn check(&self, id: Uuid, action: Action) -> Result<&Interaction, EngineError> {
        let current = self.held(id)?;
        if !self.served.serves(&current.process) {
            return Err(EngineError::OutOfScope {
                process: current.process.clone(),
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

    fn insert_live(&mut self, interaction: Interaction) {
        if let Some(external_id) = &interaction.external_id {
            self.external.insert(
                (interaction.submitted_by.clone(), external_id.clone()),
                interaction.id,
            );
        }
        self.index(&interaction);
        self.live.insert(interaction.id, interaction);
    }

    /// Sets `ids` aside while the store's version of them is loaded: a
    /// change of theirs was not committed, so what the engine holds may not
    /// be what the store holds. Requests on them are answered
    /// [`EngineError::Reloading`] until [`Engine::resync`].
    pub fn suspend(&mut self, ids: &[Uuid]) {
        for &id in ids {
            self.forget(id);
            *self.suspended.entry(id).or_default() += 1;
        }
    }

    /// Replaces what the engine holds of `id` with what the store holds
    /// (`None`: the store has no such interaction): after the store refused
    /// or did not apply a change, the engine must not keep it.
    pub fn resync(&mut self, id: Uuid, stored: Option<Interaction>) {
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
        self.forget(id);
        if let Some(stored) = stored {
            if stored.state.is_live() && self.served.serves(&stored.process) {
                self.insert_live(stored);
            }
        }
    }

    /// Drops whatever the engine holds of `id`.
    fn forget(&mut self, id: Uuid) {
        let known = self
            .live
            .remove(&id)
            .or_else(|| self.recently_stopped.remove(&id));
        if let Some(old) = known {
            self.unindex(&old);
            self.forget_external(old);
        }
    }

    /// Swaps in the new version of a live interaction, keeping the queue
    /// indexes and the stopped set in step.
    fn replace_live(&mut self, changed: Interaction) {
        if let Some(old) = self.live.remove(&changed.id) {
            self.unindex(&old);
        }
        if changed.state.is_live() {
            self.index(&changed);
            self.live.insert(changed.id, changed);
        } else {
            let at = changed.stopped_at.unwrap_or_default();
            self.stopped_order.push_back((at, changed.id));
            self.recently_stopped.insert(changed.id, changed);
        }
    }

    fn index(&mut self, interaction: &Interaction) {
        if let (State::Queued, Some(queue)) = (interaction.state, &interaction.queue) {
            self.queues
                .entry((interaction.process.clone(), queue.clone()))
                .or_default()
                .insert(
                    interaction.id,
                    interaction.priority,
                    interaction.submitted_at,
                );
        }
    }

    fn unindex(&mut self, interaction: &Interaction) {
        if let (State::Queued, Some(queue)) = (interaction.state, &interaction.queue) {
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
    }

    /// Forgets the external id of `interaction`, which the engine no longer
    /// holds.
    fn forget_external(&mut self, interaction: Interaction) {
        if let Some(external_id) = interaction.external_id {
            self.external
                .remove(&(interaction.submitted_by, external_id));
        }
    }

    fn expire_stopped(&mut self, now: DateTime<Utc>) {
        while let Some(&(at, id)) = self.stopped_order.front() {
            if now - at < KEEP_STOPPED {
                break;
            }
            self.stopped_order.pop_front();
            if let Some(gone) = self.recently_stopped.remove(&id) {
                self.forget_external(gone);
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
mod tests;
