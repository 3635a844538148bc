//! The commands of an interaction's life outside offers: submit, change its
//! properties, place it in a queue, stop it, pull it for a routing client,
//! park it in a workbin and take it from there.

use super::routing::Pass;
use super::{
    Applied, Engine, EngineError, Event, EventData, EventKind, Interaction, Name, Properties,
    PropertiesChangedData, State, Submit, check_properties_size, merge_properties,
};
use crate::engine::state::Action;
use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

impl Engine {
    /// The interaction `submit` would create, with the id `id`, if it is
    /// valid here.
    pub(super) fn validate_submit(
        &self,
        submit: Submit,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Interaction, EngineError> {
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
        Ok(Interaction {
            id,
            external_id: submit.external_id.map(Name::from),
            submitted_by: submit.submitted_by.into(),
            process: submit.process.into(),
            queue: submit.queue.map(Name::from),
            workbin: None,
            owner: None,
            state: if by_agent {
                State::Handling
            } else {
                State::Queued
            },
            media_type: submit.media_type.into(),
            kind: submit.kind.into(),
            subtype: submit.subtype.map(Name::from),
            priority: submit.priority,
            properties: submit.properties,
            agent: submit.agent.map(Name::from),
            submitted_at: now,
            placed_in_queue_at: (!by_agent).then_some(now),
            offered_at: None,
            assigned_at: by_agent.then_some(now),
            stopped_at: None,
            stop_reason: None,
            version: 1,
        })
    }

    pub(super) fn submit(
        &mut self,
        submit: Submit,
        now: DateTime<Utc>,
        new_id: impl FnOnce() -> Uuid,
    ) -> Result<Applied, EngineError> {
        if let Some(external_id) = &submit.external_id {
            let key = (
                Name::from(submit.submitted_by.as_str()),
                Name::from(external_id.as_str()),
            );
            if let Some(existing) = self.external.get(&key).and_then(|id| self.get(*id)) {
                return Ok(Applied {
                    interaction: existing.clone(),
                    created: false,
                });
            }
        }
        // Validated before an id is drawn: a refusal uses none.
        let probe = self.validate_submit(submit, Uuid::nil(), now)?;
        let interaction = Interaction {
            id: new_id(),
            ..probe
        };
        self.changes.events.push(Event::about(
            EventKind::Submitted,
            &interaction,
            now,
            EventData::of(&interaction),
        ));
        self.changes.rows.push(interaction.clone());
        self.insert_live(interaction.clone(), now);
        Ok(Applied {
            interaction,
            created: true,
        })
    }

    pub(super) fn change_properties(
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
        self.changes.events.push(Event::about(
            EventKind::PropertiesChanged,
            &changed,
            now,
            EventData::of(&PropertiesChangedData {
                changes: &patch,
                properties: &changed.properties,
            }),
        ));
        self.update(changed.clone(), "properties_changed", now);
        Ok(Applied {
            interaction: changed,
            created: false,
        })
    }

    pub(super) fn place_in_queue(
        &mut self,
        id: Uuid,
        process: Option<String>,
        queue: String,
        now: DateTime<Utc>,
    ) -> Result<Applied, EngineError> {
        let current = self.check(id, Action::PlaceInQueue)?;
        let process = process.unwrap_or_else(|| current.process.to_string());
        self.check_queue(&process, &queue)?;
        if current.state == State::Queued
            && current.process == process
            && current.queue.as_deref() == Some(queue.as_str())
        {
            // Already there: keeping its place is the whole point.
            return Ok(Applied {
                interaction: current.clone(),
                created: false,
            });
        }
        if self.transfers.contains_key(&id) {
            return Err(EngineError::Illegal {
                state: State::Offered,
                action: Action::PlaceInQueue,
            });
        }
        let mut changed = current.clone();
        let from = json!({ "process": changed.process, "queue": changed.queue,
            "state": changed.state, "agent": changed.agent });
        changed.process = process.into();
        changed.queue = Some(queue.into());
        changed.workbin = None;
        changed.owner = None;
        changed.state = State::Queued;
        changed.agent = None;
        changed.placed_in_queue_at = Some(now);
        changed.version += 1;
        self.changes.events.push(Event::about(
            EventKind::PlacedInQueue,
            &changed,
            now,
            EventData::of(&json!({ "from": from, "queue": changed.queue })),
        ));
        self.update(changed.clone(), "placed_in_queue", now);
        Ok(Applied {
            interaction: changed,
            created: false,
        })
    }

    pub(super) fn stop(
        &mut self,
        id: Uuid,
        reason: String,
        now: DateTime<Utc>,
    ) -> Result<Applied, EngineError> {
        let current = self.check(id, Action::Stop)?;
        let mut changed = current.clone();
        changed.version += 1;
        self.stopped(&mut changed, &reason, now);
        self.update(changed.clone(), "stopped", now);
        Ok(Applied {
            interaction: changed,
            created: false,
        })
    }

    /// A routing client takes up to `count` interactions from the pull view
    /// `view` of (`process`, `queue`), in the view's order: they are
    /// `routing`, for it to offer, place or stop within the routing
    /// timeout.
    pub fn pull(
        &mut self,
        process: &str,
        queue: &str,
        view: &str,
        count: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<Interaction>, EngineError> {
        self.expire_stopped(now);
        self.check_queue(process, queue)?;
        let waiting = self
            .queues
            .get(&(Name::from(process), Name::from(queue)))
            .map(|index| index.in_order().collect::<Vec<_>>())
            .unwrap_or_default();
        let ids = self.router.pull(
            (process, queue, view),
            waiting.into_iter(),
            &self.live,
            count,
            now,
        )?;
        let mut pulled = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(current) = self.live.get(&id) else {
                continue;
            };
            let mut changed = current.clone();
            changed.state = State::Routing;
            changed.version += 1;
            self.changes.events.push(Event::about(
                EventKind::Pulled,
                &changed,
                now,
                EventData::of(&json!({ "queue": changed.queue, "view": view })),
            ));
            self.update(changed.clone(), "pulled", now);
            pulled.push(changed);
        }
        self.route(now);
        Ok(pulled)
    }

    /// Whether `agent` may use the workbin of `owner`: its own, or one of
    /// its groups'.
    pub(super) fn may_use(&self, agent: &str, owner: &str) -> bool {
        agent == owner
            || self
                .router
                .agent(agent)
                .is_some_and(|a| a.profile.groups.contains(owner))
    }

    pub(super) fn place_in_workbin(
        &mut self,
        id: Uuid,
        agent: Option<&str>,
        workbin: String,
        owner: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Applied, EngineError> {
        let current = self.check(id, Action::PlaceInWorkbin)?;
        if self.transfers.contains_key(&id) {
            return Err(EngineError::Illegal {
                state: State::Offered,
                action: Action::PlaceInWorkbin,
            });
        }
        let has_workbin = self
            .served
            .process(&current.process)
            .is_some_and(|p| p.workbins.contains(&workbin));
        if !has_workbin {
            return Err(EngineError::UnknownWorkbin {
                process: current.process.to_string(),
                workbin,
            });
        }
        let owner = match (owner, agent) {
            (Some(owner), Some(agent)) if !self.may_use(agent, &owner) => {
                return Err(EngineError::NotYourWorkbin { workbin, owner });
            }
            (Some(owner), _) => owner,
            (None, Some(agent)) => agent.to_owned(),
            (None, None) => {
                return Err(EngineError::AgentOnly(
                    "place in a workbin without naming its owner",
                ));
            }
        };
        let shared = self
            .router
            .config()
            .group_workbins
            .contains(&(current.process.to_string(), workbin.clone()));
        // A workbin is one per agent, or one per agent group: the owner
        // must be of that kind.
        let known = if shared {
            self.router
                .agents()
                .any(|a| a.profile.groups.contains(&owner))
        } else {
            self.router.agent(&owner).is_some()
        };
        if !known {
            return Err(EngineError::UnknownOwner(owner));
        }
        let mut changed = current.clone();
        let from =
            json!({ "queue": changed.queue, "state": changed.state, "agent": changed.agent });
        changed.state = State::Parked;
        changed.workbin = Some(workbin.into());
        changed.owner = Some(owner.into());
        changed.agent = None;
        changed.version += 1;
        self.changes.events.push(Event {
            agent: agent.map(Name::from),
            ..Event::about(
                EventKind::PlacedInWorkbin,
                &changed,
                now,
                EventData::of(
                    &json!({ "workbin": changed.workbin, "owner": changed.owner, "from": from }),
                ),
            )
        });
        self.update(changed.clone(), "placed_in_workbin", now);
        Ok(Applied {
            interaction: changed,
            created: false,
        })
    }

    pub(super) fn take(
        &mut self,
        id: Uuid,
        agent: &str,
        now: DateTime<Utc>,
    ) -> Result<Applied, EngineError> {
        let current = self.check(id, Action::TakeFromWorkbin)?;
        let owner = current.owner.as_deref().unwrap_or_default().to_owned();
        if !self.may_use(agent, &owner) {
            return Err(EngineError::NotYourWorkbin {
                workbin: current.workbin.as_deref().unwrap_or_default().to_owned(),
                owner,
            });
        }
        let Some(state) = self.router.agent(agent) else {
            return Err(EngineError::UnknownAgent(agent.to_owned()));
        };
        state
            .room_for(&current.media_type)
            .map_err(|reason: Pass| EngineError::Unavailable {
                agent: agent.to_owned(),
                reason,
            })?;
        let mut changed = current.clone();
        let workbin = changed.workbin.take();
        changed.owner = None;
        changed.state = State::Handling;
        changed.agent = Some(agent.into());
        changed.assigned_at = Some(now);
        changed.version += 1;
        self.changes.events.push(Event::about(
            EventKind::TakenFromWorkbin,
            &changed,
            now,
            EventData::of(&json!({ "workbin": workbin, "owner": owner })),
        ));
        self.update(changed.clone(), "taken_from_workbin", now);
        Ok(Applied {
            interaction: changed,
            created: false,
        })
    }

    /// What a workbin of `process` holds, of `owner` (every owner when
    /// `None`), oldest first.
    pub fn workbin(
        &self,
        process: &str,
        workbin: &str,
        owner: Option<&str>,
    ) -> Result<Vec<Interaction>, EngineError> {
        let has_workbin = self
            .served
            .process(process)
            .ok_or_else(|| EngineError::OutOfScope {
                process: process.to_owned(),
            })?
            .workbins
            .contains(workbin);
        if !has_workbin {
            return Err(EngineError::UnknownWorkbin {
                process: process.to_owned(),
                workbin: workbin.to_owned(),
            });
        }
        let mut held: Vec<Interaction> = self
            .parked
            .get(&(Name::from(process), Name::from(workbin)))
            .into_iter()
            .flatten()
            .filter_map(|id| self.live.get(id))
            .filter(|i| owner.is_none_or(|o| i.owner.as_deref() == Some(o)))
            .cloned()
            .collect();
        held.sort_by_key(|i| (i.submitted_at, i.id));
        Ok(held)
    }
}
