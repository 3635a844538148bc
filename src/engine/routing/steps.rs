//! Where an interaction stands in each of its views: the step in force, the
//! agent a reserved step waits for, its place in the view's indexes, and
//! the timer that widens it.
//!
//! A step lasts its `timeout` from when the interaction reached it. A
//! reserved step (`last_agent`, `preferred_agent`) with no such agent here
//! is skipped at once.

use super::subject::{Candidate, Subject};
use super::{Exhausted, InView, Live, Routed, Router, Timer, customer_id};
use crate::engine::Interaction;
use chrono::{DateTime, Utc};
use uuid::Uuid;

impl Router {
    /// `in_view` at step `step` or the first one after it that applies, its
    /// timer set; `None` when no step is left.
    pub(super) fn enter_step(
        &mut self,
        interaction: &Interaction,
        mut in_view: InView,
        mut step: usize,
        now: DateTime<Utc>,
    ) -> Option<InView> {
        let view = &self.config.views[in_view.view];
        let steps = &view.strategy()?.steps;
        while let Some(def) = steps.get(step) {
            let reserved_for = if def.reserved() {
                match self.reserved_agent(interaction, step, in_view.view, now) {
                    Some(agent) => Some(agent),
                    None => {
                        step += 1;
                        continue;
                    }
                }
            } else {
                None
            };
            in_view.step = step;
            in_view.reserved_for = reserved_for;
            in_view.deadline = now + def.timeout;
            let timer = (in_view.deadline, Timer::Step(interaction.id, in_view.view));
            in_view.timer = if self.timers.contains(&timer) {
                None
            } else {
                self.step_timers
                    .push(in_view.view, step, in_view.deadline, interaction.id)
            };
            if in_view.timer.is_none() {
                self.timers.insert(timer);
            }
            return Some(in_view);
        }
        None
    }

    /// The one agent a reserved step of `view` waits for: an agent of this
    /// instance whom the step's target admits.
    pub(super) fn reserved_agent(
        &self,
        interaction: &Interaction,
        step: usize,
        view: usize,
        now: DateTime<Utc>,
    ) -> Option<String> {
        let def = &self.config.views[view].strategy()?.steps[step];
        let name = if def.preferred {
            interaction
                .properties
                .get("preferred_agent")?
                .as_str()?
                .to_owned()
        } else {
            let customer = customer_id(interaction)?;
            self.last_agent
                .get(&(interaction.process.to_string(), customer))?
                .clone()
        };
        let agent = self.agents.get(&name)?;
        let subject = Subject { interaction, now };
        let candidate = Candidate {
            agent: &agent.profile,
            interaction: Some(&subject),
        };
        def.target.eval(&candidate).then_some(name)
    }

    /// Takes `id` out of routing: out of every view, timers included, and
    /// of the routed and the turned-down interactions. Returns what was
    /// kept of it.
    pub(super) fn leave(&mut self, id: Uuid) -> Option<Box<Routed>> {
        let routed = self.routed.remove(&id)?;
        self.rejected.remove(&id);
        for in_view in &routed.in_views {
            if !routed.offered {
                self.indexes[in_view.view].remove(in_view, &routed.media);
            }
            if let Some(at) = in_view.timer {
                self.step_timers.remove(in_view.view, in_view.step, at);
            }
            self.timers
                .remove(&(in_view.deadline, Timer::Step(id, in_view.view)));
        }
        Some(routed)
    }

    /// The step timer of `id` in `view` ran out: the next step that applies,
    /// or the strategy's end. An interaction offered meanwhile moves on
    /// unseen, and meets its end when the offer ends.
    pub(super) fn next_step(
        &mut self,
        id: Uuid,
        view: usize,
        live: &Live,
        now: DateTime<Utc>,
    ) -> Option<Exhausted> {
        let interaction = live.get(&id)?;
        let routed = self.routed.get(&id)?;
        let at = routed.in_views.iter().position(|v| v.view == view)?;
        let current = routed.in_views[at].clone();
        let offered = routed.offered;
        if !offered {
            self.indexes[view].remove(&current, &routed.media);
        }
        let mut moved = current.clone();
        moved.reserved_for = None;
        match self.enter_step(interaction, moved, current.step + 1, now) {
            Some(placed) => {
                if let Some(routed) = self.routed.get_mut(&id) {
                    if !offered {
                        self.indexes[view].insert(&placed, &routed.media);
                        self.dirty_interactions.insert(id);
                    }
                    routed.in_views[at] = placed;
                }
                None
            }
            None if offered => {
                if let Some(routed) = self.routed.get_mut(&id) {
                    routed.exhausted = Some(view);
                }
                None
            }
            None => {
                let action = self.config.views[view].strategy()?.on_exhausted.clone();
                self.gone(id, now);
                Some(action)
            }
        }
    }
}
