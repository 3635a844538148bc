//! How each change of an interaction reaches the router, and the offers:
//! made by the router or a routing client, accepted, rejected, timed out,
//! transferred to another agent; and the engine's own timers (handling and
//! routing timeouts).

use super::routing::{Exhausted, Expired};
use super::{
    Applied, Deadline, Engine, EngineError, Event, EventData, EventKind, Interaction, Notice, State,
};
use crate::engine::state::Action;
use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

impl Engine {
    /// Puts `changed` in place of the live interaction of its id and tells
    /// the router what the change means: it left or entered a queue, an
    /// offer of it ended (`why` is the reason given to an agent whose offer
    /// is withdrawn), an agent took or released it. The row is to be
    /// written; its agent, if it holds it, is told.
    pub(super) fn update(&mut self, changed: Interaction, why: &str, now: DateTime<Utc>) {
        let id = changed.id;
        let old = self.live.remove(&id);
        if let Some(old) = &old {
            self.unindex(old);
        }
        let new = &changed;
        let same_place = |o: &Interaction| {
            o.state == State::Queued
                && new.state == State::Queued
                && o.process == new.process
                && o.queue == new.queue
        };
        let mut accepted = false;
        if let Some(old) = &old {
            match old.state {
                State::Offered => {
                    if new.state == State::Handling && new.agent == old.agent {
                        self.router.accepted(new);
                        accepted = true;
                    } else if new.state == State::Offered && new.agent == old.agent {
                        // Still offered (its properties changed).
                    } else if new.state != State::Queued {
                        if let Some(agent) = self.router.gone(id, now) {
                            self.revoked(&agent, id, why);
                        }
                    }
                }
                State::Handling => {
                    let still = new.state == State::Handling && new.agent == old.agent;
                    if let Some(to) = self.transfers.get(&id).cloned() {
                        if new.state == State::Handling && new.agent.as_deref() == Some(&to) {
                            self.transfers.remove(&id);
                            self.router.accepted(new);
                            accepted = true;
                        } else if !still {
                            self.transfers.remove(&id);
                            if let Some(agent) = self.router.gone(id, now) {
                                self.revoked(&agent, id, why);
                            }
                        }
                    }
                    if !still {
                        let agent = old.agent.clone().unwrap_or_default();
                        self.unhold(&agent, id, &old.media_type, now);
                        self.clear_deadline(id);
                    }
                }
                State::Queued if !same_place(old) => {
                    self.router.gone(id, now);
                }
                State::Routing if new.state != State::Routing => self.clear_deadline(id),
                _ => {}
            }
        }
        self.put(changed.clone());
        let new = &changed;
        match (new.state, &new.agent) {
            (State::Queued, _) => match &old {
                Some(old)
                    if old.state == State::Offered && self.router.offered_to(id).is_none() =>
                {
                    // The offer was withdrawn already: it waits afresh.
                    self.router.queued(new, now);
                }
                Some(old) if old.state == State::Offered => {
                    let ended = self.router.offer_ended(id, &self.live, now);
                    if let Some(agent) = ended.paused {
                        self.agent_changed(
                            &agent,
                            EventKind::AgentNotReady,
                            json!({ "reason": "missed_offers" }),
                            now,
                        );
                    }
                    if let Some(action) = ended.exhausted {
                        self.exhausted(id, action, now);
                    }
                }
                Some(old) if same_place(old) => {
                    if old.properties != new.properties {
                        self.router.changed(new);
                    }
                }
                _ => self.router.queued(new, now),
            },
            (State::Handling, Some(agent)) => {
                let already = old
                    .as_ref()
                    .is_some_and(|o| o.state == State::Handling && o.agent == new.agent);
                if !already {
                    if !accepted {
                        self.router.hold(agent, &new.media_type, now);
                        self.router.remember_agent(new, agent);
                    }
                    self.held.entry(agent.clone()).or_default().insert(id);
                    self.set_deadline(id, Deadline::Handling, now);
                }
                self.changes.notices.push(Notice::Interaction {
                    agent: agent.clone(),
                    interaction: new.clone(),
                });
            }
            (State::Routing, _) if old.as_ref().is_none_or(|o| o.state != State::Routing) => {
                self.set_deadline(id, Deadline::Routing, now);
            }
            _ => {}
        }
        // The agent it left is told where it went.
        if let Some(old) = &old {
            if old.state == State::Handling
                && (new.state != State::Handling || new.agent != old.agent)
            {
                if let Some(agent) = &old.agent {
                    self.changes.notices.push(Notice::Interaction {
                        agent: agent.clone(),
                        interaction: new.clone(),
                    });
                }
            }
        }
        if let Some(old) = old {
            self.live.recycle(old);
        }
    }

    /// Makes every offer the router now finds, until it finds none.
    pub(super) fn route(&mut self, now: DateTime<Utc>) {
        while let Some(offer) = self.router.next_offer(&self.live, now) {
            let Some(current) = self.live.get(&offer.id) else {
                continue;
            };
            let mut changed = current.clone();
            changed.state = State::Offered;
            changed.agent = Some(offer.agent.clone());
            changed.offered_at = Some(now);
            changed.version += 1;
            self.changes.events.push(Event::about(
                EventKind::Offered,
                &changed,
                now,
                EventData::of(&json!({
                    "view": offer.view,
                    "strategy": offer.strategy,
                    "step": offer.step,
                    "deadline": offer.deadline,
                })),
            ));
            self.changes.notices.push(Notice::Offer {
                agent: offer.agent.clone(),
                interaction: changed.clone(),
                deadline: offer.deadline,
            });
            self.put(changed);
        }
    }

    pub(super) fn revoked(&mut self, agent: &str, id: Uuid, reason: &str) {
        self.changes.notices.push(Notice::Revoked {
            agent: agent.into(),
            id,
            reason: reason.to_owned(),
        });
    }

    /// `agent` no longer handles `id`: its capacity frees.
    pub(super) fn unhold(&mut self, agent: &str, id: Uuid, media: &str, now: DateTime<Utc>) {
        if let Some(set) = self.held.get_mut(agent) {
            set.remove(&id);
            if set.is_empty() {
                self.held.remove(agent);
            }
        }
        self.router.release(agent, media, now);
    }

    pub(super) fn accept(
        &mut self,
        id: Uuid,
        agent: &str,
        now: DateTime<Utc>,
    ) -> Result<Applied, EngineError> {
        let current = self.held_interaction(id)?;
        let transfer_from = match self.transfers.get(&id) {
            Some(to) if to == agent => current.agent.clone(),
            _ => {
                self.check(id, Action::Accept)?;
                None
            }
        };
        let mut changed = current.clone();
        changed.state = State::Handling;
        changed.agent = Some(agent.into());
        changed.assigned_at = Some(now);
        changed.version += 1;
        self.changes.events.push(Event::about(
            EventKind::Accepted,
            &changed,
            now,
            // Since when it waited in its queue: the wait to accept, which
            // the live statistics read from the journal alone.
            EventData::of(&json!({
                "queue": changed.queue,
                "transferred_from": transfer_from,
                "placed_in_queue_at": changed.placed_in_queue_at,
            })),
        ));
        if let Some(from) = transfer_from {
            self.revoked(&from, id, "transferred");
        }
        self.update(changed.clone(), "accepted", now);
        Ok(Applied {
            interaction: changed,
            created: false,
        })
    }

    pub(super) fn reject(
        &mut self,
        id: Uuid,
        agent: &str,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Applied, EngineError> {
        let current = self.held_interaction(id)?.clone();
        let changed;
        if self.transfers.get(&id).is_some_and(|to| to == agent) {
            // A transfer turned down: it stays with the agent who offered it.
            self.transfers.remove(&id);
            self.router.gone(id, now);
            changed = current.next_version();
            self.changes.events.push(Event::about_agent(
                EventKind::Rejected,
                &changed,
                Some(agent.into()),
                now,
                EventData::of(&json!({ "reason": reason, "transfer": true })),
            ));
        } else {
            self.check(id, Action::Reject)?;
            changed = current.back_to_queue();
            self.changes.events.push(Event::about_agent(
                EventKind::Rejected,
                &changed,
                Some(agent.into()),
                now,
                EventData::of(&json!({ "reason": reason, "queue": changed.queue })),
            ));
        }
        self.update(changed.clone(), "rejected", now);
        Ok(Applied {
            interaction: changed,
            created: false,
        })
    }

    /// The agent handling `id` offers it to `to`; it stays with the agent
    /// until `to` accepts, and is back in its hands alone if `to` turns it
    /// down or lets the offer time out.
    pub(super) fn transfer(
        &mut self,
        id: Uuid,
        agent: &str,
        to: &str,
        now: DateTime<Utc>,
    ) -> Result<Applied, EngineError> {
        let current = self.held_interaction(id)?;
        if current.state != State::Handling || self.transfers.contains_key(&id) {
            return Err(EngineError::Illegal {
                state: current.state,
                action: Action::Offer,
            });
        }
        if self.router.agent(to).is_none() {
            return Err(EngineError::UnknownAgent(to.to_owned()));
        }
        if to == agent {
            return Err(EngineError::Unavailable {
                agent: to.to_owned(),
                reason: super::routing::Pass::NoCapacity,
            });
        }
        let mut changed = current.clone();
        let deadline =
            self.router
                .reserve(&changed, to, now)
                .map_err(|reason| EngineError::Unavailable {
                    agent: to.to_owned(),
                    reason,
                })?;
        self.transfers.insert(id, to.to_owned());
        changed.version += 1;
        self.changes.events.push(Event::about(
            EventKind::Transferred,
            &changed,
            now,
            EventData::of(&json!({ "from": agent, "to": to, "deadline": deadline })),
        ));
        self.changes.notices.push(Notice::Offer {
            agent: to.into(),
            interaction: changed.clone(),
            deadline,
        });
        self.put(changed.clone());
        Ok(Applied {
            interaction: changed,
            created: false,
        })
    }

    /// A routing client offers `id` (pulled, or queued) to `to`.
    pub(super) fn offer(
        &mut self,
        id: Uuid,
        to: &str,
        now: DateTime<Utc>,
    ) -> Result<Applied, EngineError> {
        let current = self.check(id, Action::Offer)?;
        let agent = self
            .router
            .agent(to)
            .ok_or_else(|| EngineError::UnknownAgent(to.to_owned()))?;
        agent
            .free_for(&current.media_type, now)
            .map_err(|reason| EngineError::Unavailable {
                agent: to.to_owned(),
                reason,
            })?;
        let mut changed = current.clone();
        changed.state = State::Offered;
        changed.agent = Some(to.into());
        changed.offered_at = Some(now);
        changed.version += 1;
        self.update(changed.clone(), "offered", now);
        let deadline =
            self.router
                .reserve(&changed, to, now)
                .map_err(|reason| EngineError::Unavailable {
                    agent: to.to_owned(),
                    reason,
                })?;
        self.changes.events.push(Event::about(
            EventKind::Offered,
            &changed,
            now,
            EventData::of(&json!({ "by": "routing_client", "deadline": deadline })),
        ));
        self.changes.notices.push(Notice::Offer {
            agent: to.into(),
            interaction: changed.clone(),
            deadline,
        });
        Ok(Applied {
            interaction: changed,
            created: false,
        })
    }

    // ---- Time ----

    pub(super) fn set_deadline(&mut self, id: Uuid, why: Deadline, now: DateTime<Utc>) {
        self.clear_deadline(id);
        let timing = &self.router.config().timing;
        let at = now
            + match why {
                Deadline::Handling => timing.handling_timeout,
                Deadline::Routing => timing.routing_timeout,
            };
        self.deadlines.insert(id, (at, why));
        self.timers.insert((at, id));
    }

    pub(super) fn clear_deadline(&mut self, id: Uuid) {
        if let Some((at, _)) = self.deadlines.remove(&id) {
            self.timers.remove(&(at, id));
        }
    }

    /// A request on `id` by `agent`: if it handles it, its handling timeout
    /// starts again.
    pub(super) fn touch(&mut self, id: Uuid, agent: &str, now: DateTime<Utc>) {
        let handled = self
            .live
            .get(&id)
            .is_some_and(|i| i.state == State::Handling && i.agent.as_deref() == Some(agent));
        if handled {
            self.set_deadline(id, Deadline::Handling, now);
        }
    }

    /// Runs every timer due at `now`: offers not answered, strategies'
    /// steps widening or running out, after-work ending, desktops gone past
    /// their grace, handled interactions idle past the handling timeout,
    /// pulled ones past the routing timeout. The changes go to
    /// [`Engine::take_changes`].
    pub fn handle_timeout(&mut self, now: DateTime<Utc>) {
        self.expire_stopped(now);
        for expired in self.router.expire(&self.live, now) {
            match expired {
                Expired::OfferTimedOut { id, agent } => self.offer_timed_out(id, agent, now),
                Expired::Exhausted { id, action } => self.exhausted(id, action, now),
                Expired::Disconnected { agent } => self.agent_changed(
                    &agent,
                    EventKind::AgentNotReady,
                    json!({ "reason": "disconnected" }),
                    now,
                ),
            }
        }
        while let Some(&(at, id)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            let Some((_, why)) = self.deadlines.remove(&id) else {
                continue;
            };
            let Some(current) = self.live.get(&id) else {
                continue;
            };
            if current.queue.is_none() {
                // Nowhere to go back to: it stays where it is.
                continue;
            }
            let (from, agent) = (current.state, current.agent.clone());
            let changed = current.back_to_queue();
            let (kind, reason) = match why {
                Deadline::Handling => (EventKind::Revoked, "handling_timeout"),
                Deadline::Routing => (EventKind::PlacedInQueue, "routing_timeout"),
            };
            self.changes.events.push(Event::about_agent(
                kind,
                &changed,
                agent.clone(),
                now,
                EventData::of(&json!({
                    "reason": reason, "from": { "state": from }, "queue": changed.queue
                })),
            ));
            if let Some(agent) = agent {
                self.revoked(&agent, id, reason);
            }
            self.update(changed, reason, now);
        }
        self.route(now);
    }

    fn offer_timed_out(&mut self, id: Uuid, agent: String, now: DateTime<Utc>) {
        let Some(current) = self.live.get(&id).cloned() else {
            self.router.gone(id, now);
            return;
        };
        let transfer = self.transfers.get(&id) == Some(&agent);
        let changed = if transfer {
            // It stays with the agent who offered it.
            self.transfers.remove(&id);
            self.router.gone(id, now);
            current.next_version()
        } else {
            current.back_to_queue()
        };
        self.changes.events.push(Event::about_agent(
            EventKind::OfferTimedOut,
            &changed,
            Some(agent.as_str().into()),
            now,
            EventData::of(&json!({ "transfer": transfer, "queue": changed.queue })),
        ));
        self.revoked(&agent, id, "offer_timed_out");
        self.update(changed, "offer_timed_out", now);
    }

    /// The last step of a strategy ran out.
    fn exhausted(&mut self, id: Uuid, action: Exhausted, now: DateTime<Utc>) {
        let Some(current) = self.live.get(&id).cloned() else {
            return;
        };
        if current.state != State::Queued {
            return;
        }
        let mut changed = current.clone();
        changed.version += 1;
        // Its strategy ran out into the queue it waits in: the router let it
        // go, and it waits there afresh, as if placed in from elsewhere.
        let again = matches!(&action, Exhausted::PlaceInQueue(queue)
            if current.queue.as_deref() == Some(queue.as_str()));
        match action {
            Exhausted::PlaceInQueue(queue) if self.served.has_queue(&current.process, &queue) => {
                changed.queue = Some(queue.into());
                changed.placed_in_queue_at = Some(now);
                self.changes.events.push(Event::about(
                    EventKind::PlacedInQueue,
                    &changed,
                    now,
                    EventData::of(&json!({
                        "from": { "queue": current.queue, "state": current.state },
                        "queue": changed.queue,
                        "reason": "strategy_exhausted",
                    })),
                ));
            }
            Exhausted::PlaceInQueue(queue) => {
                // The configured queue is not (or no longer) there: stopping
                // says so, where waiting on would hide it.
                let reason = format!("strategy_exhausted: no queue '{queue}'");
                self.stopped(&mut changed, &reason, now);
            }
            Exhausted::Stop(reason) => self.stopped(&mut changed, &reason, now),
        }
        self.update(changed.clone(), "strategy_exhausted", now);
        if again && changed.state == State::Queued {
            self.router.queued(&changed, now);
        }
    }

    /// Makes `changed` stopped with `reason`, with its event.
    pub(super) fn stopped(&mut self, changed: &mut Interaction, reason: &str, now: DateTime<Utc>) {
        let from = changed.state;
        changed.state = State::Stopped;
        changed.stopped_at = Some(now);
        changed.stop_reason = Some(reason.into());
        self.changes.events.push(Event::about(
            EventKind::ProcessingStopped,
            changed,
            now,
            EventData::of(&json!({ "reason": reason, "from": from })),
        ));
    }
}
