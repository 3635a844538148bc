//! The router: who gets which interaction, and why.
//!
//! Pure and driven from outside, like the rest of the engine: the engine
//! tells it which interactions are queued and what agents do, asks it for
//! the next offer to make ([`Router::next_offer`]) until there is none, and
//! calls [`Router::expire`] at the time [`Router::poll_timeout`] names.
//!
//! Routing is work-conserving: whatever may have opened a match (an
//! interaction entering a view or reaching a wider step, an agent freeing
//! capacity, becoming ready, logging in, connecting, ending its after-work)
//! marks the interaction or the agent dirty, and `next_offer` looks again at
//! exactly those. At rest no ready agent with free capacity is eligible for
//! a waiting interaction. The cost of a look does not grow with the queue:
//! an interaction is matched against the agents, and an agent against the
//! head of each (view, step, media) index it is eligible for.

mod agents;
pub mod config;
mod decide;
mod explain;
mod live;
mod pull;
mod steps;
mod subject;
mod timers;
mod views;

#[cfg(test)]
mod tests;

pub use agents::{Agent, MediaState};
pub use config::{
    AgentProfile, Aging, Capacity, Dispatch, Exhausted, OrderField, OrderKey, RoutingConfig,
    Select, Step, Strategy, Timing, View,
};
pub use explain::{Decision, Pass, Passed};
pub use live::Live;
pub use pull::PullError;
pub use subject::{Candidate, Subject};

use crate::engine::{Interaction, Name};
use chrono::{DateTime, Utc};
use explain::Explanations;
use smallvec::SmallVec;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use uuid::Uuid;
use views::{SortKey, ViewIndex, sort_key};

/// Why an agent request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    #[error("'{0}' is not an agent of this instance")]
    NotAnAgent(String),
    #[error("agent '{0}' is not logged in")]
    NotLoggedIn(String),
    #[error("agent '{agent}' cannot handle media '{media}': its capacity rule allows none")]
    NoSuchMedia { agent: String, media: String },
}

/// An offer the router decided on; the engine makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOffer {
    pub id: Uuid,
    pub agent: Name,
    pub deadline: DateTime<Utc>,
    /// Where the decision was made: the view, its strategy and the step
    /// (1-based). The decision itself is kept for `explain`.
    pub view: Name,
    pub strategy: Name,
    pub step: usize,
}

/// What the end of an offer (rejected or timed out) brought about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfferEnded {
    /// The agent the misses in a row set not ready (`missed_offers`).
    pub paused: Option<String>,
    /// The interaction's strategy ran out during the offer: it left its
    /// views, and this is for the engine to carry out now.
    pub exhausted: Option<Exhausted>,
}

/// Something a timer brought about that the engine must carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expired {
    /// Nobody answered the offer in time.
    OfferTimedOut { id: Uuid, agent: String },
    /// The last step's timeout passed.
    Exhausted { id: Uuid, action: Exhausted },
    /// The agent's live stream was gone for the whole grace period; it is
    /// now not ready.
    Disconnected { agent: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Step(Uuid, usize),
    Offer(Uuid),
    AfterWork(usize),
    Grace(usize),
}

/// An interaction in one routed view.
#[derive(Debug, Clone)]
struct InView {
    view: usize,
    key: SortKey,
    /// 0-based step in force.
    step: usize,
    deadline: DateTime<Utc>,
    /// The one agent the step waits for.
    reserved_for: Option<String>,
    /// Where its step timer is in the (view, step)'s queue of timers;
    /// `None`: in the router's ordered set.
    timer: Option<u64>,
}

#[derive(Debug, Clone, Default)]
struct Routed {
    /// Shared with every interaction of the media ([`Router::media`]).
    media: Arc<str>,
    /// Most interactions wait in one view: held in place, not in an
    /// allocation of their own.
    in_views: SmallVec<[InView; 1]>,
    offered: bool,
    /// The last step of this view ran out while the interaction was
    /// offered.
    exhausted: Option<usize>,
}

/// The routed interactions, by id: every waiting interaction is here.
/// Keyed by the id's 128-bit value, which orders as the id does, so that
/// each of the comparisons a lookup makes in a map of a million is two
/// integer comparisons rather than a byte-wise one.
#[derive(Debug, Default)]
struct RoutedMap(BTreeMap<u128, Box<Routed>>);

impl RoutedMap {
    fn get(&self, id: &Uuid) -> Option<&Routed> {
        self.0.get(&id.as_u128()).map(|boxed| &**boxed)
    }

    fn get_mut(&mut self, id: &Uuid) -> Option<&mut Routed> {
        self.0.get_mut(&id.as_u128()).map(|boxed| &mut **boxed)
    }

    fn insert(&mut self, id: Uuid, routed: Routed) {
        self.0.insert(id.as_u128(), Box::new(routed));
    }

    fn remove(&mut self, id: &Uuid) -> Option<Box<Routed>> {
        self.0.remove(&id.as_u128())
    }

    /// In the order of the ids.
    fn iter(&self) -> impl Iterator<Item = (Uuid, &Routed)> {
        self.0
            .iter()
            .map(|(id, routed)| (Uuid::from_u128(*id), &**routed))
    }
}

#[derive(Debug, Clone)]
struct Offer {
    agent: Name,
    media: Arc<str>,
    deadline: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct Router {
    config: RoutingConfig,
    indexes: Vec<ViewIndex>,
    /// process → queue → its routed views (nested, so that a lookup
    /// borrows the names instead of building a key).
    by_queue: BTreeMap<String, BTreeMap<String, Vec<usize>>>,
    agents: BTreeMap<String, Agent>,
    /// Agent names by their number (the names sorted: numbers order as
    /// names do), for timers and the sets below.
    agent_names: Vec<String>,
    routed: RoutedMap,
    offers: BTreeMap<Uuid, Offer>,
    /// Every timer but the step timers in their queues.
    timers: BTreeSet<(DateTime<Utc>, Timer)>,
    step_timers: timers::StepTimers,
    dirty_interactions: BTreeSet<Uuid>,
    /// By agent number.
    dirty_agents: BTreeSet<usize>,
    /// View → the agent its round robin chose last.
    round_robin: BTreeMap<usize, String>,
    /// (process, customer_id) → the agent who last took one of theirs.
    last_agent: BTreeMap<(String, String), String>,
    explanations: Explanations,
    /// Per view, per step: by agent number, whether its target admits the
    /// agent, when the target reads only `agent.*` (`None`: it reads the
    /// interaction too).
    eligible: Vec<Vec<Option<Vec<bool>>>>,
    /// Media → the numbers of the agents that could take one more of it
    /// now.
    free: BTreeMap<String, BTreeSet<usize>>,
    /// The routed interactions some agent turned down (a small set, so that
    /// most decisions need not look), with the agents who rejected each or
    /// let its offer time out, the most recent last. Here rather than in
    /// [`Routed`], which every waiting interaction has.
    rejected: BTreeMap<Uuid, Vec<String>>,
    /// The names of the media routed interactions and offers are of, each
    /// held once.
    media_names: BTreeSet<Arc<str>>,
}

impl Router {
    pub fn new(config: RoutingConfig, now: DateTime<Utc>) -> Self {
        let mut router = Router::default();
        router.reconfigure(config, &Live::new(), now);
        router
    }

    /// Serves a new configuration. Agents keep their state (those no longer
    /// agents here are logged out); waiting interactions enter the new
    /// views at their first step. One offered keeps its offer, and enters
    /// them afresh if the offer ends: the views and steps it had reached
    /// are the old configuration's.
    pub fn reconfigure(&mut self, config: RoutingConfig, live: &Live, now: DateTime<Utc>) {
        let waiting: Vec<Uuid> = self
            .routed
            .iter()
            .filter(|(_, r)| !r.offered)
            .map(|(id, _)| id)
            .collect();
        let routed: Vec<Uuid> = self.routed.iter().map(|(id, _)| id).collect();
        for id in &routed {
            self.leave(*id);
        }
        self.dirty_interactions.clear();
        self.step_timers = timers::StepTimers::default();
        self.by_queue.clear();
        for (n, view) in config.views.iter().enumerate() {
            if view.strategy().is_some() {
                self.by_queue
                    .entry(view.process.clone())
                    .or_default()
                    .entry(view.queue.clone())
                    .or_default()
                    .push(n);
            }
        }
        self.indexes = config.views.iter().map(|_| ViewIndex::default()).collect();
        self.round_robin.clear();
        self.agents
            .retain(|name, _| config.agents.contains_key(name));
        for (name, profile) in &config.agents {
            match self.agents.get_mut(name) {
                Some(agent) => agent.profile = profile.clone(),
                None => {
                    self.agents
                        .insert(name.clone(), Agent::new(profile.clone(), now));
                }
            }
        }
        let old_names =
            std::mem::replace(&mut self.agent_names, self.agents.keys().cloned().collect());
        self.renumber_timers(&old_names);
        self.dirty_agents = (0..self.agent_names.len()).collect();
        self.config = config;
        self.eligible = self.precompute_eligible();
        self.free.clear();
        for name in self.agent_names.clone() {
            self.refresh_free(&name, now);
        }
        for id in waiting {
            if let Some(interaction) = live.get(&id) {
                self.queued(interaction, now);
            }
        }
    }

    /// The agents' timers (after-work, desktop grace) name agents by their
    /// number, which a new set of agents changes: each timer follows its
    /// agent to its new number, and those of agents no longer here go.
    fn renumber_timers(&mut self, old_names: &[String]) {
        let numbers: BTreeMap<&str, usize> = self
            .agent_names
            .iter()
            .enumerate()
            .map(|(n, name)| (name.as_str(), n))
            .collect();
        let renumber = |old: usize| numbers.get(old_names.get(old)?.as_str()).copied();
        self.timers = std::mem::take(&mut self.timers)
            .into_iter()
            .filter_map(|(at, timer)| {
                let timer = match timer {
                    Timer::AfterWork(n) => Timer::AfterWork(renumber(n)?),
                    Timer::Grace(n) => Timer::Grace(renumber(n)?),
                    other => other,
                };
                Some((at, timer))
            })
            .collect();
    }

    pub fn config(&self) -> &RoutingConfig {
        &self.config
    }

    pub fn agent(&self, name: &str) -> Option<&Agent> {
        self.agents.get(name)
    }

    pub fn agents(&self) -> impl Iterator<Item = &Agent> {
        self.agents.values()
    }

    /// The agent an offer of `id` is pending for.
    pub fn offered_to(&self, id: Uuid) -> Option<&str> {
        self.offers.get(&id).map(|offer| offer.agent.as_str())
    }

    // ---- Interactions ----

    /// `interaction` is queued in its queue: it enters the queue's routed
    /// views whose condition it meets, at their first step. Queued again
    /// without leaving first, it starts afresh: what the router kept of it
    /// (its places in the views' indexes, its step timers, who turned it
    /// down) goes; an offer of it still pending stays.
    pub fn queued(&mut self, interaction: &Interaction, now: DateTime<Utc>) {
        let id = interaction.id;
        if self.leave(id).is_some() {
            self.dirty_interactions.remove(&id);
        }
        let Some(queue) = &interaction.queue else {
            return;
        };
        let Some(views) = self.routed_views(&interaction.process, queue) else {
            return;
        };
        let subject = Subject { interaction, now };
        let mut in_views: SmallVec<[InView; 1]> = SmallVec::new();
        for &view in views {
            let def = &self.config.views[view];
            if def.condition.eval(&subject) {
                in_views.push(InView {
                    view,
                    key: sort_key(def, interaction),
                    step: 0,
                    deadline: now,
                    reserved_for: None,
                    timer: None,
                });
            }
        }
        if in_views.is_empty() {
            return;
        }
        // Not offered again while an offer of it is pending: it takes its
        // places in the indexes when that offer ends. Only the views it
        // reached a step of: one is held in place, more in a vector of
        // that size, kept for as long as the interaction waits.
        let offered = self.offers.contains_key(&id);
        let mut placed_views: SmallVec<[InView; 1]> = SmallVec::new();
        for in_view in in_views {
            if let Some(placed) = self.enter_step(interaction, in_view, 0, now) {
                if !offered {
                    self.indexes[placed.view].insert(&placed, &interaction.media_type);
                }
                placed_views.push(placed);
            }
        }
        placed_views.shrink_to_fit();
        let media = self.media(&interaction.media_type);
        self.routed.insert(
            id,
            Routed {
                media,
                in_views: placed_views,
                offered,
                ..Routed::default()
            },
        );
        if !offered {
            self.dirty_interactions.insert(id);
        }
    }

    /// The name `media`, shared rather than copied for each interaction.
    fn media(&mut self, media: &str) -> Arc<str> {
        if let Some(name) = self.media_names.get(media) {
            return name.clone();
        }
        let name: Arc<str> = media.into();
        self.media_names.insert(name.clone());
        name
    }

    /// The routed views of `queue` in `process`.
    fn routed_views(&self, process: &str, queue: &str) -> Option<&Vec<usize>> {
        self.by_queue.get(process)?.get(queue)
    }

    /// `id` leaves routing (accepted, stopped, moved, parked, pulled). A
    /// pending offer of it is revoked: the agent it was for is returned.
    pub fn gone(&mut self, id: Uuid, now: DateTime<Utc>) -> Option<String> {
        self.leave(id);
        self.dirty_interactions.remove(&id);
        let offer = self.offers.remove(&id)?;
        self.timers.remove(&(offer.deadline, Timer::Offer(id)));
        if let Some(agent) = self.agents.get_mut(offer.agent.as_str()) {
            agent.release(&offer.media);
        }
        self.refresh_free(&offer.agent, now);
        Some(offer.agent.to_string())
    }

    /// The properties of `interaction`, waiting where it was, changed: a
    /// step's target that reads them may now admit an agent who is free,
    /// so it is looked at again. (Which views hold it, and the agent a
    /// reserved step waits for, were settled when it entered them.)
    pub fn changed(&mut self, interaction: &Interaction) {
        let id = interaction.id;
        if self.routed.get(&id).is_some_and(|r| !r.offered) {
            self.dirty_interactions.insert(id);
        }
    }

    /// `id` stopped: of its decisions only the latest is kept, until it is
    /// forgotten, so that the stopped interactions kept for a while hold
    /// one decision each rather than up to
    /// [`KEPT_DECISIONS`](explain::KEPT_DECISIONS).
    pub fn stopped(&mut self, id: Uuid) {
        self.explanations.keep_last(id);
    }

    /// Forgets the decisions kept about `id`.
    pub fn forget(&mut self, id: Uuid) {
        self.explanations.forget(id);
    }

    /// The offer of `id` was accepted by its agent: the capacity it
    /// reserved now holds the interaction.
    pub fn accepted(&mut self, interaction: &Interaction) {
        let id = interaction.id;
        let Some(offer) = self.offers.remove(&id) else {
            return;
        };
        self.timers.remove(&(offer.deadline, Timer::Offer(id)));
        self.leave(id);
        if let Some(agent) = self.agents.get_mut(offer.agent.as_str()) {
            agent.missed_in_row = 0;
        }
        self.remember_agent(interaction, &offer.agent);
    }

    /// The agent who took an interaction of this customer, for
    /// `last_agent` steps.
    pub fn remember_agent(&mut self, interaction: &Interaction, agent: &str) {
        if let Some(customer) = customer_id(interaction) {
            self.last_agent.insert(
                (interaction.process.to_string(), customer),
                agent.to_owned(),
            );
        }
    }

    /// The offer of `id` was rejected (`missed`: or timed out): the agent's
    /// capacity frees and the interaction goes back to its views at the
    /// steps it reached, or, if its strategy ran out during the offer,
    /// leaves them for the engine to carry out the strategy's end.
    pub fn offer_ended(&mut self, id: Uuid, live: &Live, now: DateTime<Utc>) -> OfferEnded {
        let Some(offer) = self.offers.remove(&id) else {
            return OfferEnded::default();
        };
        self.timers.remove(&(offer.deadline, Timer::Offer(id)));
        let limit = self.config.timing.missed_offers_limit;
        let mut paused = None;
        if let Some(agent) = self.agents.get_mut(offer.agent.as_str()) {
            agent.release(&offer.media);
            agent.missed_in_row += 1;
            if limit > 0 && agent.missed_in_row >= limit {
                agent.set_ready(None, false, Some("missed_offers"));
                agent.missed_in_row = 0;
                paused = Some(offer.agent.to_string());
            }
        }
        self.refresh_free(&offer.agent, now);
        if let Some(view) = self.routed.get(&id).and_then(|r| r.exhausted) {
            // Its last step ran out during the offer: that applies now,
            // before any step of the spent strategy offers it again.
            let exhausted = self.config.views[view]
                .strategy()
                .map(|s| s.on_exhausted.clone());
            self.gone(id, now);
            return OfferEnded { paused, exhausted };
        }
        if let Some(routed) = self.routed.get_mut(&id) {
            routed.offered = false;
            let rejected_by = self.rejected.entry(id).or_default();
            rejected_by.retain(|a| offer.agent != a.as_str());
            rejected_by.push(offer.agent.to_string());
            for in_view in &routed.in_views {
                self.indexes[in_view.view].insert(in_view, &routed.media);
            }
            self.dirty_interactions.insert(id);
        } else if let Some(interaction) = live.get(&id) {
            self.queued(interaction, now);
        }
        OfferEnded {
            paused,
            exhausted: None,
        }
    }

    // ---- Agents ----

    /// The agent's number, for its timers (names are kept sorted).
    fn agent_number(&self, name: &str) -> Option<usize> {
        self.agent_names
            .binary_search_by(|n| n.as_str().cmp(name))
            .ok()
    }

    fn agent_mut(&mut self, name: &str) -> Result<&mut Agent, AgentError> {
        self.agents
            .get_mut(name)
            .ok_or_else(|| AgentError::NotAnAgent(name.to_owned()))
    }

    /// Logs `name` in with `media`, not ready until it says so.
    pub fn login(
        &mut self,
        name: &str,
        media: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), AgentError> {
        let agent = self.agent_mut(name)?;
        for m in media {
            if !agent.profile.capacity.media.contains_key(m) {
                return Err(AgentError::NoSuchMedia {
                    agent: name.to_owned(),
                    media: m.clone(),
                });
            }
        }
        if !agent.logged_in {
            agent.idle_since = now;
        }
        agent.logged_in = true;
        agent.media.retain(|m, _| media.contains(m));
        for m in media {
            agent.media.entry(m.clone()).or_insert(MediaState {
                ready: false,
                reason: Some("logged_in".into()),
                after_work_until: None,
            });
        }
        self.refresh_free(name, now);
        Ok(())
    }

    /// Logs `name` out. What it holds is the engine's to place back first.
    pub fn logout(&mut self, name: &str, now: DateTime<Utc>) -> Result<(), AgentError> {
        let agent = self.agent_mut(name)?;
        agent.logged_in = false;
        agent.media.clear();
        agent.missed_in_row = 0;
        self.refresh_free(name, now);
        Ok(())
    }

    /// Sets `media` (all when `None`) ready or not ready with `reason`.
    pub fn set_ready(
        &mut self,
        name: &str,
        media: Option<&[String]>,
        ready: bool,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), AgentError> {
        let agent = self.agent_mut(name)?;
        if !agent.logged_in {
            return Err(AgentError::NotLoggedIn(name.to_owned()));
        }
        if let Some(media) = media {
            if let Some(unknown) = media.iter().find(|m| !agent.media.contains_key(*m)) {
                return Err(AgentError::NoSuchMedia {
                    agent: name.to_owned(),
                    media: unknown.clone(),
                });
            }
        }
        agent.set_ready(media, ready, reason);
        if ready {
            agent.missed_in_row = 0;
        }
        self.refresh_free(name, now);
        Ok(())
    }

    /// The agent's live stream connected or went away. Offers go only to
    /// connected agents; one gone for the grace period is set not ready.
    pub fn set_connected(&mut self, name: &str, connected: bool, now: DateTime<Utc>) {
        let grace = self.config.timing.desktop_grace;
        let Some(number) = self.agent_number(name) else {
            return;
        };
        let Some(agent) = self.agents.get_mut(name) else {
            return;
        };
        if let Some(until) = agent.grace_until.take() {
            self.timers.remove(&(until, Timer::Grace(number)));
        }
        agent.connected = connected;
        if !connected {
            let until = now + grace;
            agent.grace_until = Some(until);
            self.timers.insert((until, Timer::Grace(number)));
        }
        self.refresh_free(name, now);
    }

    /// The agent now holds an interaction of `media` it was not offered
    /// (submitted by it, taken from a workbin, restored after a restart).
    pub fn hold(&mut self, name: &str, media: &str, now: DateTime<Utc>) {
        if let Some(agent) = self.agents.get_mut(name) {
            agent.hold(media);
        }
        self.refresh_free(name, now);
    }

    /// The agent finished an interaction of `media`: its capacity frees,
    /// after the media's after-work time.
    pub fn release(&mut self, name: &str, media: &str, now: DateTime<Utc>) {
        let after_work = self.config.timing.after_work.get(media).copied();
        let number = self.agent_number(name);
        let Some(agent) = self.agents.get_mut(name) else {
            return;
        };
        agent.release(media);
        agent.idle_since = now;
        if let (Some(after_work), Some(number), Some(state)) =
            (after_work, number, agent.media.get_mut(media))
        {
            if after_work > chrono::Duration::zero() {
                let until = now + after_work;
                state.after_work_until = Some(until);
                self.timers.insert((until, Timer::AfterWork(number)));
            }
        }
        self.refresh_free(name, now);
    }

    // ---- Time ----

    /// When [`Router::expire`] must be called next. (Looks pending after a
    /// change are not timers: drain [`Router::next_offer`] after every
    /// change.)
    pub fn poll_timeout(&self) -> Option<DateTime<Utc>> {
        let step = self.step_timers.first().map(|(at, _, _)| at);
        let other = self.timers.first().map(|(at, _)| *at);
        match (step, other) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The timer due first, taken out if it is due at `now`.
    fn pop_due(&mut self, now: DateTime<Utc>) -> Option<Timer> {
        let step = self
            .step_timers
            .first()
            .map(|(at, id, view)| (at, Timer::Step(id, view)));
        let other = self.timers.first().copied();
        let (at, timer) = match (step, other) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        if at > now {
            return None;
        }
        if step == Some((at, timer)) {
            self.step_timers.pop_first();
        }
        if other == Some((at, timer)) {
            self.timers.pop_first();
        }
        Some(timer)
    }

    /// Runs every timer due at `now`: steps widen (marking their
    /// interactions for another look), after-work ends, and what the engine
    /// must carry out is returned.
    pub fn expire(&mut self, live: &Live, now: DateTime<Utc>) -> Vec<Expired> {
        let mut out = Vec::new();
        while let Some(timer) = self.pop_due(now) {
            match timer {
                Timer::Step(id, view) => {
                    if let Some(action) = self.next_step(id, view, live, now) {
                        out.push(Expired::Exhausted { id, action });
                    }
                }
                Timer::Offer(id) => {
                    if let Some(offer) = self.offers.get(&id) {
                        out.push(Expired::OfferTimedOut {
                            id,
                            agent: offer.agent.to_string(),
                        });
                    }
                }
                Timer::AfterWork(number) => {
                    let name = self.agent_names[number].clone();
                    if let Some(agent) = self.agents.get_mut(&name) {
                        for state in agent.media.values_mut() {
                            if state.after_work_until.is_some_and(|until| until <= now) {
                                state.after_work_until = None;
                            }
                        }
                    }
                    self.refresh_free(&name, now);
                }
                Timer::Grace(number) => {
                    let name = self.agent_names[number].clone();
                    if let Some(agent) = self.agents.get_mut(&name) {
                        if !agent.connected && agent.grace_until.is_some_and(|u| u <= now) {
                            agent.grace_until = None;
                            agent.set_ready(None, false, Some("disconnected"));
                            self.refresh_free(&name, now);
                            out.push(Expired::Disconnected { agent: name });
                        }
                    }
                }
            }
        }
        out
    }
}

pub(crate) fn customer_id(interaction: &Interaction) -> Option<String> {
    match interaction.properties.get("customer_id")? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
