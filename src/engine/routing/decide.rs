//! The decisions: which agent an interaction goes to, which interaction a
//! freed agent takes, and the reasons behind each, recorded for `explain`.

use super::explain::{Decision, Pass};
use super::subject::{Candidate, Subject};
use super::views::SortKey;
use super::{InView, Live, NewOffer, Offer, Router, Select, Timer};
use crate::engine::{Interaction, Name};
use chrono::{DateTime, Utc};
use smallvec::SmallVec;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// A waiting interaction a freed agent may take: its rank (the effective
/// priority negated, then the submission time and id: smaller first), its
/// view and its step.
type Pick = ((i128, i64, Uuid), usize, usize);

impl Router {
    /// The next offer to make, if any: looks at what changed since the last
    /// call. Call it until it answers `None` after every change.
    pub fn next_offer(&mut self, live: &Live, now: DateTime<Utc>) -> Option<NewOffer> {
        loop {
            if let Some(id) = self.dirty_interactions.pop_first() {
                if let Some(offer) = self.decide_for(id, live, now) {
                    return Some(offer);
                }
                continue;
            }
            if let Some(number) = self.dirty_agents.pop_first() {
                if let Some(offer) = self.decide_for_agent(number, live, now) {
                    // It may have room for more.
                    self.dirty_agents.insert(number);
                    return Some(offer);
                }
                continue;
            }
            return None;
        }
    }

    /// Precomputes, per view and step, the agents a target reading only
    /// `agent.*` admits, by agent number.
    pub(super) fn precompute_eligible(&self) -> Vec<Vec<Option<Vec<bool>>>> {
        self.config
            .views
            .iter()
            .map(|view| match view.strategy() {
                None => Vec::new(),
                Some(strategy) => strategy
                    .steps
                    .iter()
                    .map(|step| {
                        step.agent_only.then(|| {
                            // In name order: by number.
                            self.agents
                                .values()
                                .map(|agent| {
                                    step.target.eval(&Candidate {
                                        agent: &agent.profile,
                                        interaction: None,
                                    })
                                })
                                .collect()
                        })
                    })
                    .collect(),
            })
            .collect()
    }

    /// Brings the agent's entries in the per-media free sets up to date,
    /// and marks it for a look when it has room.
    pub(super) fn refresh_free(&mut self, name: &str, now: DateTime<Utc>) {
        // Numbers name only the agents there are (the sets are rebuilt
        // when they change): one that is not is in no set.
        let (Some(number), Some(agent)) = (self.agent_number(name), self.agents.get(name)) else {
            return;
        };
        let mut any = false;
        for media in agent.profile.capacity.media.keys() {
            let free = agent.free_for(media, now).is_ok();
            let set = match self.free.get_mut(media) {
                Some(set) => set,
                None => self.free.entry(media.clone()).or_default(),
            };
            if free {
                any |= set.insert(number);
            } else {
                set.remove(&number);
            }
        }
        if any {
            self.dirty_agents.insert(number);
        }
    }

    /// Whether `agent` rejected `id` (or let its offer time out) before.
    fn turned_down(&self, id: Uuid, agent: &str) -> bool {
        self.rejected
            .get(&id)
            .is_some_and(|by| by.iter().any(|a| a == agent))
    }

    /// Whether the agent `agent` (number `number`) is admitted by the
    /// target of `in_view`'s step.
    fn admits(
        &self,
        in_view: &InView,
        step: usize,
        (number, agent): (usize, &str),
        subject: &Subject<'_>,
    ) -> bool {
        if let Some(Some(eligible)) = self.eligible.get(in_view.view).and_then(|s| s.get(step)) {
            return eligible.get(number).copied().unwrap_or(false);
        }
        let Some(strategy) = self.config.views[in_view.view].strategy() else {
            return false;
        };
        let Some(profile) = self.agents.get(agent).map(|a| &a.profile) else {
            return false;
        };
        strategy.steps[step].target.eval(&Candidate {
            agent: profile,
            interaction: Some(subject),
        })
    }

    /// The interaction `id` looks for an agent in each of its views.
    fn decide_for(&mut self, id: Uuid, live: &Live, now: DateTime<Utc>) -> Option<NewOffer> {
        let routed = self.routed.get(&id)?;
        if routed.offered {
            return None;
        }
        let interaction = live.get(&id)?;
        // With no agent free for its media, no open step can offer it: the
        // common case of a deep queue, decided without building a decision.
        let none_free = self
            .free
            .get(interaction.media_type.as_str())
            .is_none_or(BTreeSet::is_empty);
        for in_view in &routed.in_views {
            if none_free && in_view.reserved_for.is_none() {
                continue;
            }
            let decision = self.consider(interaction, in_view, now, false);
            if let Some(agent) = decision.chosen.clone() {
                let view = in_view.view;
                return Some(self.make_offer(interaction, agent, view, decision, now));
            }
        }
        None
    }

    /// The agents `interaction` could go to at `in_view`'s step, and the
    /// one its selection picks. `full`: every agent is named with its
    /// reason (for `explain`), not only those with room.
    pub(super) fn consider(
        &self,
        interaction: &Interaction,
        in_view: &InView,
        now: DateTime<Utc>,
        full: bool,
    ) -> Decision {
        let view = &self.config.views[in_view.view];
        let strategy = view.strategy().expect("routed views have a strategy");
        let step = &strategy.steps[in_view.step];
        let mut decision = Decision {
            at: now,
            process: view.process.as_str().into(),
            queue: view.queue.as_str().into(),
            view: view.name.as_str().into(),
            strategy: strategy.name.as_str().into(),
            step: in_view.step + 1,
            select: step.select.as_str(),
            chosen: None,
            passed: Vec::new(),
            counts: BTreeMap::new(),
        };
        let subject = Subject { interaction, now };
        let media = &interaction.media_type;
        let rejected: &[String] = self
            .rejected
            .get(&interaction.id)
            .map_or(&[], Vec::as_slice);
        // By number, in name order: every agent, or the one the step waits
        // for, or those free for the media.
        let (every, only, free) = match (full, &in_view.reserved_for) {
            (true, _) => (0..self.agent_names.len(), None, None),
            (false, Some(agent)) => (0..0, self.agent_number(agent), None),
            (false, None) => (0..0, None, self.free.get(media.as_str())),
        };
        let numbers = every.chain(only).chain(free.into_iter().flatten().copied());
        // Most decisions see a few free agents: no allocation for them.
        let (mut fresh, mut again): (SmallVec<[&str; 8]>, SmallVec<[&str; 8]>) =
            (SmallVec::new(), SmallVec::new());
        for number in numbers {
            let name = &self.agent_names[number];
            let Some(agent) = self.agents.get(name) else {
                continue;
            };
            if let Some(reserved) = &in_view.reserved_for {
                if reserved != name {
                    decision.pass(name, Pass::ReservedForAnother, Some(in_view.step + 1));
                    continue;
                }
            } else if !self.admits(in_view, in_view.step, (number, name), &subject) {
                let later = (in_view.step + 1..strategy.steps.len()).find(|&k| {
                    !strategy.steps[k].reserved()
                        && self.admits(in_view, k, (number, name), &subject)
                });
                match later {
                    Some(k) => decision.pass(name, Pass::StepNotReached, Some(k + 1)),
                    None => decision.pass(name, Pass::NotEligible, Some(in_view.step + 1)),
                }
                continue;
            }
            if let Err(reason) = agent.free_for(media, now) {
                decision.pass(name, reason, None);
                continue;
            }
            if rejected.contains(name) {
                again.push(name.as_str());
            } else {
                fresh.push(name.as_str());
            }
        }
        // An agent who turned this interaction down gets it again only when
        // no other eligible agent is free; among those who all did, the
        // latest to turn it down comes last.
        let pool = if fresh.is_empty() {
            if again.len() > 1 {
                let latest = rejected
                    .iter()
                    .rev()
                    .find(|name| again.contains(&name.as_str()))
                    .map(String::as_str);
                if let Some(latest) = latest {
                    again.retain(|name| *name != latest);
                    decision.pass(latest, Pass::RejectedRecently, None);
                }
            }
            again
        } else {
            for name in again {
                decision.pass(name, Pass::RejectedRecently, None);
            }
            fresh
        };
        let chosen = self.select(step.select, in_view.view, &pool);
        for name in &pool {
            if Some(*name) != chosen {
                decision.pass(name, Pass::NotSelected, None);
            }
        }
        decision.chosen = chosen.map(Name::from);
        decision
    }

    /// The agent `select` picks among `pool` (all eligible and free).
    fn select<'a>(&self, select: Select, view: usize, pool: &[&'a str]) -> Option<&'a str> {
        let agent = |name: &str| &self.agents[name];
        match select {
            Select::LongestIdle | Select::LastAgent => pool
                .iter()
                .min_by_key(|name| (agent(name).idle_since, **name))
                .copied(),
            Select::LeastBusy => pool
                .iter()
                .min_by(|a, b| {
                    agent(a)
                        .less_busy_than(agent(b))
                        .then(agent(a).idle_since.cmp(&agent(b).idle_since))
                        .then(a.cmp(b))
                })
                .copied(),
            Select::RoundRobin => {
                let last = self.round_robin.get(&view);
                let mut sorted: Vec<&'a str> = pool.to_vec();
                sorted.sort_unstable();
                sorted
                    .iter()
                    .find(|name| last.is_none_or(|last| **name > last.as_str()))
                    .or(sorted.first())
                    .copied()
            }
        }
    }

    /// The freed agent `name` takes the waiting interaction it is eligible
    /// for with the highest effective priority, then the longest wait.
    fn decide_for_agent(
        &mut self,
        number: usize,
        live: &Live,
        now: DateTime<Utc>,
    ) -> Option<NewOffer> {
        let name = self.agent_names.get(number)?.as_str();
        let agent = self.agents.get(name)?;
        if !agent.any_free(now) {
            return None;
        }
        let mut best: Option<Pick> = None;
        let mut passed_over = Vec::new();
        let consider = |key: &SortKey, view: usize, step: usize, best: &mut Option<_>| {
            let rank = key.rank(&self.config.views[view], now);
            if best.as_ref().is_none_or(|(b, _, _): &Pick| rank < *b) {
                *best = Some((rank, view, step));
            }
        };
        for (view_number, index) in self.indexes.iter().enumerate() {
            let Some(strategy) = self.config.views[view_number].strategy() else {
                continue;
            };
            if let Some(reserved) = index.reserved.get(name) {
                if let Some(key) = reserved.iter().find(|key| {
                    live.get(&key.id())
                        .is_some_and(|i| agent.free_for(&i.media_type, now).is_ok())
                }) {
                    let step = self.routed.get(&key.id()).and_then(|r| {
                        r.in_views
                            .iter()
                            .find(|v| v.view == view_number)
                            .map(|v| v.step)
                    });
                    if let Some(step) = step {
                        consider(key, view_number, step, &mut best);
                    }
                }
            }
            for ((step, media), keys) in index.open.iter().flat_map(|(step, by_media)| {
                by_media.iter().map(move |(m, keys)| ((step, m), keys))
            }) {
                if agent.free_for(media, now).is_err() {
                    continue;
                }
                let eligible = self.eligible.get(view_number).and_then(|s| s.get(*step));
                match eligible {
                    Some(Some(admitted)) if !admitted.get(number).copied().unwrap_or(false) => {
                        continue;
                    }
                    Some(Some(_)) => {
                        // The head it may take: the first it did not turn
                        // down. Most often the head itself, read without a
                        // walk down the index.
                        if let Some(head) = keys.head() {
                            if !self.turned_down(head.id(), name) {
                                consider(head, view_number, *step, &mut best);
                                continue;
                            }
                        }
                        for key in keys.iter() {
                            let id = key.id();
                            if self.turned_down(id, name) {
                                passed_over.push(id);
                                continue;
                            }
                            consider(key, view_number, *step, &mut best);
                            break;
                        }
                    }
                    _ => {
                        // The target reads the interaction: the first, in the
                        // view's order, whose target admits this agent.
                        let target = &strategy.steps[*step].target;
                        for key in keys.iter() {
                            let id = key.id();
                            let Some(interaction) = live.get(&id) else {
                                continue;
                            };
                            let subject = Subject { interaction, now };
                            let admitted = target.eval(&Candidate {
                                agent: &agent.profile,
                                interaction: Some(&subject),
                            });
                            if !admitted {
                                continue;
                            }
                            if self.turned_down(id, name) {
                                passed_over.push(id);
                                continue;
                            }
                            consider(key, view_number, *step, &mut best);
                            break;
                        }
                    }
                }
            }
        }
        // What it turned down may still be its to take, if nobody else is
        // free for it: those decide for themselves.
        self.dirty_interactions.extend(passed_over);
        let ((_, _, id), view, _) = best?;
        let interaction = live.get(&id)?;
        let in_view = self
            .routed
            .get(&id)?
            .in_views
            .iter()
            .find(|v| v.view == view)?
            .clone();
        // The step's selection decides among every free eligible agent,
        // this one included.
        let decision = self.consider(interaction, &in_view, now, false);
        let chosen = decision.chosen.clone()?;
        Some(self.make_offer(interaction, chosen, view, decision, now))
    }

    /// Reserves the agent's capacity for `interaction`, decided in view
    /// number `view`, and starts the offer's timer.
    fn make_offer(
        &mut self,
        interaction: &Interaction,
        agent: Name,
        view: usize,
        decision: Decision,
        now: DateTime<Utc>,
    ) -> NewOffer {
        let id = interaction.id;
        if let Some(routed) = self.routed.get_mut(&id) {
            for in_view in &routed.in_views {
                self.indexes[in_view.view].remove(in_view, &routed.media);
            }
            routed.offered = true;
        }
        if let Some(a) = self.agents.get_mut(agent.as_str()) {
            a.hold(&interaction.media_type);
        }
        if decision.select == Select::RoundRobin.as_str() {
            self.round_robin.insert(view, agent.to_string());
        }
        self.refresh_free(&agent, now);
        let deadline = now + self.config.timing.delivery_timeout;
        self.timers.insert((deadline, Timer::Offer(id)));
        let media = self.media(&interaction.media_type);
        self.offers.insert(
            id,
            Offer {
                agent: agent.clone(),
                media,
                deadline,
            },
        );
        let offer = NewOffer {
            id,
            agent,
            deadline,
            view: decision.view.clone(),
            strategy: decision.strategy.clone(),
            step: decision.step,
        };
        self.explanations.record(id, decision);
        offer
    }

    /// Offers `interaction` to `agent` outside any view (a routing
    /// client's offer, a transfer): reserves the agent's capacity and
    /// starts the offer's timer, or says why the agent cannot take it now.
    /// Returns the offer's deadline.
    pub fn reserve(
        &mut self,
        interaction: &Interaction,
        agent: &str,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, Pass> {
        let id = interaction.id;
        let media = &interaction.media_type;
        let Some(a) = self.agents.get_mut(agent) else {
            return Err(Pass::NotEligible);
        };
        a.free_for(media, now)?;
        a.hold(media);
        self.refresh_free(agent, now);
        let deadline = now + self.config.timing.delivery_timeout;
        self.timers.insert((deadline, Timer::Offer(id)));
        let media = self.media(media);
        self.offers.insert(
            id,
            Offer {
                agent: agent.into(),
                media,
                deadline,
            },
        );
        Ok(deadline)
    }

    /// The offers pending for `agent`: interaction and deadline.
    pub fn offers_of(&self, agent: &str) -> Vec<(Uuid, DateTime<Utc>)> {
        self.offers
            .iter()
            .filter(|(_, offer)| offer.agent == agent)
            .map(|(id, offer)| (*id, offer.deadline))
            .collect()
    }

    /// The decisions kept about `id` (the offers made), and, while it
    /// waits, why it waits now.
    pub fn explain(&self, interaction: &Interaction, now: DateTime<Utc>) -> Vec<Decision> {
        let mut decisions = self.explanations.of(interaction.id);
        decisions.extend(self.why_waiting(interaction, now));
        decisions
    }

    /// For a waiting interaction, in each of its views: every agent and
    /// why it is not offered the interaction now.
    pub fn why_waiting(&self, interaction: &Interaction, now: DateTime<Utc>) -> Vec<Decision> {
        match self.routed.get(&interaction.id) {
            Some(routed) if !routed.offered => routed
                .in_views
                .iter()
                .map(|in_view| self.consider(interaction, in_view, now, true))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Who would get `interaction` (not submitted) now, by which view and
    /// step, and why the others would not. Changes nothing.
    pub fn dry_run(&self, interaction: &Interaction, now: DateTime<Utc>) -> Vec<Decision> {
        let Some(queue) = &interaction.queue else {
            return Vec::new();
        };
        let Some(views) = self.routed_views(&interaction.process, queue) else {
            return Vec::new();
        };
        let subject = Subject { interaction, now };
        let mut decisions = Vec::new();
        for &view in views {
            let def = &self.config.views[view];
            if !def.condition.eval(&subject) {
                continue;
            }
            let Some(strategy) = def.strategy() else {
                continue;
            };
            // The first step that applies now, as entering the view would
            // find it.
            let mut step = 0;
            let mut reserved_for = None;
            while let Some(s) = strategy.steps.get(step) {
                if !s.reserved() {
                    break;
                }
                match self.reserved_agent(interaction, step, view, now) {
                    Some(agent) => {
                        reserved_for = Some(agent);
                        break;
                    }
                    None => step += 1,
                }
            }
            if step >= strategy.steps.len() {
                continue;
            }
            let in_view = InView {
                view,
                key: super::views::sort_key(def, interaction),
                step,
                deadline: now,
                reserved_for,
                timer: None,
            };
            decisions.push(self.consider(interaction, &in_view, now, true));
        }
        decisions
    }
}
