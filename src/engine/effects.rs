//! What the engine's commands and timers bring about, polled out by its
//! owner after every call ([`super::Engine::take_changes`]): the
//! interactions and agents to persist, the journal entries, and what to tell
//! agents' desktops once all of it is committed.

use super::routing::{Agent, MediaState};
use super::{Event, Interaction, Name};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Everything one call changed, to be committed together.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Changes {
    /// Every interaction changed, in the order of the changes (an
    /// interaction changed twice appears twice; the last one counts).
    pub rows: Vec<Interaction>,
    pub events: Vec<Event>,
    /// Agents whose log-in or readiness changed.
    pub agents: Vec<AgentRecord>,
    /// For agents' live streams, after the commit.
    pub notices: Vec<Notice>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
            && self.events.is_empty()
            && self.agents.is_empty()
            && self.notices.is_empty()
    }
}

/// What an agent's desktop is told on its live stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// An interaction is offered to the agent until `deadline`.
    Offer {
        agent: Name,
        interaction: Interaction,
        deadline: DateTime<Utc>,
    },
    /// An offer or a handled interaction was taken from the agent.
    Revoked {
        agent: Name,
        id: Uuid,
        reason: String,
    },
    /// The agent's own state changed.
    State { agent: Name, state: AgentView },
    /// An interaction the agent holds changed.
    Interaction {
        agent: Name,
        interaction: Interaction,
    },
}

impl Notice {
    pub fn agent(&self) -> &str {
        match self {
            Notice::Offer { agent, .. }
            | Notice::Revoked { agent, .. }
            | Notice::State { agent, .. }
            | Notice::Interaction { agent, .. } => agent,
        }
    }
}

/// What is kept of an agent across restarts: its log-in and readiness.
/// Its load is not kept: it follows from the interactions it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRecord {
    pub name: String,
    pub logged_in: bool,
    pub media: BTreeMap<String, MediaState>,
}

impl AgentRecord {
    pub fn of(agent: &Agent) -> Self {
        AgentRecord {
            name: agent.name().to_owned(),
            logged_in: agent.logged_in,
            media: agent.media.clone(),
        }
    }
}

/// One media of an agent, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MediaView {
    pub ready: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_work_until: Option<DateTime<Utc>>,
    /// Offers pending and interactions handled, of this media.
    pub load: u32,
    pub capacity: u32,
}

/// A pending offer, as the agent's state shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OfferView {
    pub interaction: Uuid,
    pub deadline: DateTime<Utc>,
}

/// An agent's state: per media readiness and load against capacity, the
/// offers pending and the interactions held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentView {
    pub name: String,
    pub logged_in: bool,
    /// Whether its desktop's live stream is connected.
    pub connected: bool,
    pub media: BTreeMap<String, MediaView>,
    pub load: u32,
    /// What it may hold in all.
    pub capacity: u32,
    pub idle_since: DateTime<Utc>,
    /// Offers rejected or timed out in a row.
    pub missed_in_row: u32,
    pub offers: Vec<OfferView>,
    /// Interactions it handles.
    pub holding: Vec<Uuid>,
}
