//! Domain events: what happened to an interaction, appended to the journal in
//! the same transaction as the change itself.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::{Interaction, Name};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Submitted,
    PlacedInQueue,
    PropertiesChanged,
    ProcessingStopped,
    /// Taken by a routing client from a `pull` view.
    Pulled,
    /// Reserved for an agent, who is invited to take it.
    Offered,
    Accepted,
    Rejected,
    OfferTimedOut,
    /// Taken from its agent (an offer withdrawn, or a handled interaction
    /// idle past the handling timeout, or a forced log-out).
    Revoked,
    /// Offered by its agent to another agent.
    Transferred,
    PlacedInWorkbin,
    TakenFromWorkbin,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentReady,
    AgentNotReady,
}

impl EventKind {
    pub const ALL: [EventKind; 17] = [
        EventKind::Submitted,
        EventKind::PlacedInQueue,
        EventKind::PropertiesChanged,
        EventKind::ProcessingStopped,
        EventKind::Pulled,
        EventKind::Offered,
        EventKind::Accepted,
        EventKind::Rejected,
        EventKind::OfferTimedOut,
        EventKind::Revoked,
        EventKind::Transferred,
        EventKind::PlacedInWorkbin,
        EventKind::TakenFromWorkbin,
        EventKind::AgentLoggedIn,
        EventKind::AgentLoggedOut,
        EventKind::AgentReady,
        EventKind::AgentNotReady,
    ];

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|kind| kind.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Submitted => "submitted",
            EventKind::PlacedInQueue => "placed_in_queue",
            EventKind::PropertiesChanged => "properties_changed",
            EventKind::ProcessingStopped => "processing_stopped",
            EventKind::Pulled => "pulled",
            EventKind::Offered => "offered",
            EventKind::Accepted => "accepted",
            EventKind::Rejected => "rejected",
            EventKind::OfferTimedOut => "offer_timed_out",
            EventKind::Revoked => "revoked",
            EventKind::Transferred => "transferred",
            EventKind::PlacedInWorkbin => "placed_in_workbin",
            EventKind::TakenFromWorkbin => "taken_from_workbin",
            EventKind::AgentLoggedIn => "agent_logged_in",
            EventKind::AgentLoggedOut => "agent_logged_out",
            EventKind::AgentReady => "agent_ready",
            EventKind::AgentNotReady => "agent_not_ready",
        }
    }
}

/// One journal entry. Its position (`id`) is assigned by the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub kind: EventKind,
    /// The interaction it is about; `None` for an agent's own events.
    pub interaction_id: Option<Uuid>,
    pub process: Option<Name>,
    /// The interaction's queue and media type after the change; `None` for
    /// an agent's own events (and the queue also while it is in none).
    #[serde(default)]
    pub queue: Option<Name>,
    #[serde(default)]
    pub media_type: Option<Name>,
    /// The agent involved, where one is.
    pub agent: Option<Name>,
    pub at: DateTime<Utc>,
    /// Details of the change (the submitted interaction, the patch, the queues,
    /// the stop reason).
    pub data: EventData,
}

impl Event {
    /// An event of `interaction`, involving its agent if it has one.
    pub fn about(
        kind: EventKind,
        interaction: &Interaction,
        at: DateTime<Utc>,
        data: EventData,
    ) -> Self {
        Event {
            kind,
            interaction_id: Some(interaction.id),
            process: Some(interaction.process.clone()),
            queue: interaction.queue.clone(),
            media_type: Some(interaction.media_type.clone()),
            agent: interaction.agent.clone(),
            at,
            data,
        }
    }

    /// An interaction's event naming `agent`, which need not be the one
    /// it is with now: the agent it left, or was offered to.
    pub fn about_agent(
        kind: EventKind,
        interaction: &Interaction,
        agent: Option<Name>,
        at: DateTime<Utc>,
        data: EventData,
    ) -> Self {
        Event {
            agent,
            ..Event::about(kind, interaction, at, data)
        }
    }

    /// An agent's own event (log-in, readiness).
    pub fn of_agent(kind: EventKind, agent: &str, at: DateTime<Utc>, data: EventData) -> Self {
        Event {
            kind,
            interaction_id: None,
            process: None,
            queue: None,
            media_type: None,
            agent: Some(agent.into()),
            at,
            data,
        }
    }
}

/// An event's details as JSON text, serialized once when the event is made
/// and stored as that text. The submitted and properties-changed details
/// (the big ones) are serialized straight from the interaction, without a
/// JSON tree in between.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventData(Box<RawValue>);

impl EventData {
    /// The JSON of `details`.
    pub fn of(details: &impl Serialize) -> Self {
        // Only a map with non-string keys fails to serialize; events hold
        // none, and a detail lost is better than a change refused.
        EventData(
            serde_json::value::to_raw_value(details).unwrap_or_else(|_| RawValue::NULL.to_owned()),
        )
    }

    /// From stored JSON text.
    pub fn from_raw(raw: Box<RawValue>) -> Self {
        EventData(raw)
    }

    pub fn as_raw(&self) -> &RawValue {
        &self.0
    }

    /// The details as a JSON value.
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.0.get()).unwrap_or_default()
    }
}

/// Equal when the JSON says the same, whatever its spacing or key order.
impl PartialEq for EventData {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get() || self.to_value() == other.to_value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_data_keeps_the_json_it_was_given() {
        let details = json!({ "reason": "spam", "from": "queued", "n": [1, 2.5, null] });
        let data = EventData::of(&details);
        assert_eq!(data.to_value(), details);
        let stored: Box<RawValue> =
            serde_json::from_str(r#"{"n": [1, 2.5, null], "from": "queued", "reason": "spam"}"#)
                .unwrap();
        assert_eq!(
            EventData::from_raw(stored),
            data,
            "equal whatever the key order or spacing"
        );
        assert_ne!(EventData::of(&json!({ "reason": "other" })), data);
    }
}
