//! Agents as the engine sees them: log-in with media, readiness, log-out
//! (placing back what the agent holds when forced), their desktops' live
//! streams, and the state shown to them and to supervisors.

use super::routing::{Agent, AgentError};
use super::{
    AgentRecord, AgentView, Engine, EngineError, Event, EventData, EventKind, Interaction,
    MediaView, Notice, OfferView,
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;

impl Engine {
    /// Logs `agent` in with `media`; it is not ready until it says so.
    pub fn login(
        &mut self,
        agent: &str,
        media: &[String],
        now: DateTime<Utc>,
    ) -> Result<AgentView, EngineError> {
        self.router.login(agent, media, now)?;
        self.agent_changed(
            agent,
            EventKind::AgentLoggedIn,
            json!({ "media": media }),
            now,
        );
        self.route(now);
        self.agent_view(agent)
    }

    /// `current`, offered to or handled by `agent` as it is forced to log
    /// out, goes back to its queue keeping its age.
    fn logged_out_from(&mut self, agent: &str, current: &Interaction, now: DateTime<Utc>) {
        let changed = current.back_to_queue();
        self.changes.events.push(Event::about_agent(
            EventKind::Revoked,
            &changed,
            Some(agent.into()),
            now,
            EventData::of(&json!({
                "reason": "logged_out", "from": { "state": current.state }, "queue": changed.queue
            })),
        ));
        self.revoked(agent, current.id, "logged_out");
        self.update(changed, "logged_out", now);
    }

    /// Sets `media` (all of the agent's when `None`) ready, or not ready
    /// with `reason`.
    pub fn set_ready(
        &mut self,
        agent: &str,
        media: Option<&[String]>,
        ready: bool,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<AgentView, EngineError> {
        self.router.set_ready(agent, media, ready, reason, now)?;
        let kind = if ready {
            EventKind::AgentReady
        } else {
            EventKind::AgentNotReady
        };
        self.agent_changed(
            agent,
            kind,
            json!({ "media": media, "reason": reason }),
            now,
        );
        self.route(now);
        self.agent_view(agent)
    }

    /// Logs `agent` out. While it holds interactions or offers this is
    /// refused, unless `force`: then its offers are withdrawn and what it
    /// handles goes back to its queue keeping its age (what came from no
    /// queue stays with it).
    pub fn logout(
        &mut self,
        agent: &str,
        force: bool,
        now: DateTime<Utc>,
    ) -> Result<AgentView, EngineError> {
        if self.router.agent(agent).is_none() {
            return Err(not_an_agent(agent));
        }
        let offers = self.router.offers_of(agent);
        let handled: Vec<_> = self
            .held
            .get(agent)
            .map(|set| set.iter().copied().collect())
            .unwrap_or_default();
        let held = offers.len() + handled.len();
        if held > 0 && !force {
            return Err(EngineError::AgentBusy {
                agent: agent.to_owned(),
                held,
            });
        }
        for (id, _) in offers {
            let Some(current) = self.live.get(&id).cloned() else {
                self.router.gone(id, now);
                continue;
            };
            if self.transfers.get(&id).is_some_and(|to| to == agent) {
                self.transfers.remove(&id);
                self.router.gone(id, now);
                continue;
            }
            // Withdrawn without counting as missed.
            self.router.gone(id, now);
            self.logged_out_from(agent, &current, now);
        }
        for id in handled {
            let Some(current) = self.live.get(&id).cloned() else {
                continue;
            };
            if current.queue.is_none() {
                continue;
            }
            self.logged_out_from(agent, &current, now);
        }
        self.router.logout(agent, now)?;
        self.agent_changed(
            agent,
            EventKind::AgentLoggedOut,
            json!({ "forced": force }),
            now,
        );
        self.route(now);
        self.agent_view(agent)
    }

    /// The agent's desktop opened (or closed) its live stream.
    pub fn set_connected(&mut self, agent: &str, connected: bool, now: DateTime<Utc>) {
        self.router.set_connected(agent, connected, now);
        self.route(now);
    }

    /// An agent's state as recovered from the store.
    pub(super) fn restore_agent(&mut self, record: AgentRecord, now: DateTime<Utc>) {
        if !record.logged_in {
            return;
        }
        let media: Vec<String> = record.media.keys().cloned().collect();
        if self.router.login(&record.name, &media, now).is_err() {
            // No longer an agent here, or its capacity rule changed: it
            // logs in again.
            return;
        }
        for (name, state) in &record.media {
            let _ = self.router.set_ready(
                &record.name,
                Some(std::slice::from_ref(name)),
                state.ready,
                state.reason.as_deref(),
                now,
            );
        }
        // Its desktop has the grace period to come back.
        self.router.set_connected(&record.name, false, now);
    }

    /// Records a change of the agent's log-in or readiness: its state is to
    /// be written, the journal gets `kind`, its desktop is told.
    pub(super) fn agent_changed(
        &mut self,
        agent: &str,
        kind: EventKind,
        data: Value,
        now: DateTime<Utc>,
    ) {
        let Some(state) = self.router.agent(agent) else {
            return;
        };
        self.changes.agents.push(AgentRecord::of(state));
        self.changes
            .events
            .push(Event::of_agent(kind, agent, now, EventData::of(&data)));
        if let Ok(view) = self.agent_view(agent) {
            self.changes.notices.push(Notice::State {
                agent: agent.into(),
                state: view,
            });
        }
    }

    /// One agent's state.
    pub fn agent_view(&self, agent: &str) -> Result<AgentView, EngineError> {
        let state = self
            .router
            .agent(agent)
            .ok_or_else(|| not_an_agent(agent))?;
        Ok(self.view_of(state))
    }

    /// Every agent of this instance, by name.
    pub fn agent_views(&self) -> Vec<AgentView> {
        self.router.agents().map(|a| self.view_of(a)).collect()
    }

    /// How many logged-in agents are ready for each media: every media type
    /// the instance knows (0 when none is), and any other an agent is
    /// ready for.
    pub fn ready_by_media(&self) -> BTreeMap<String, u64> {
        let mut ready: BTreeMap<String, u64> = self
            .served
            .media_types
            .iter()
            .map(|media| (media.clone(), 0))
            .collect();
        for agent in self.router.agents().filter(|a| a.logged_in) {
            for (media, state) in &agent.media {
                if state.ready {
                    *ready.entry(media.clone()).or_default() += 1;
                }
            }
        }
        ready
    }

    fn view_of(&self, agent: &Agent) -> AgentView {
        let name = agent.name();
        let capacity = &agent.profile.capacity;
        let media = agent
            .media
            .iter()
            .map(|(m, state)| {
                (
                    m.clone(),
                    MediaView {
                        ready: state.ready,
                        reason: state.reason.clone(),
                        after_work_until: state.after_work_until,
                        load: agent.load_of(m),
                        capacity: capacity.media.get(m).copied().unwrap_or(0),
                    },
                )
            })
            .collect();
        AgentView {
            name: name.to_owned(),
            logged_in: agent.logged_in,
            connected: agent.connected,
            media,
            load: agent.total_load(),
            capacity: capacity.overall(),
            idle_since: agent.idle_since,
            missed_in_row: agent.missed_in_row,
            offers: self
                .router
                .offers_of(name)
                .into_iter()
                .map(|(interaction, deadline)| OfferView {
                    interaction,
                    deadline,
                })
                .collect(),
            holding: self
                .held
                .get(name)
                .map(|set| set.iter().copied().collect())
                .unwrap_or_default(),
        }
    }
}

/// Asked about, or for, `agent`, who is no agent of this instance: refused
/// as a log-in or a change of readiness is (an unknown agent named in a
/// request's body is another refusal, naming that field).
fn not_an_agent(agent: &str) -> EngineError {
    EngineError::Agent(AgentError::NotAnAgent(agent.to_owned()))
}
