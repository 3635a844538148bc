//! Domain events: what happened to an interaction, appended to the journal in
//! the same transaction as the change itself.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Submitted,
    PlacedInQueue,
    PropertiesChanged,
    ProcessingStopped,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Submitted => "submitted",
            EventKind::PlacedInQueue => "placed_in_queue",
            EventKind::PropertiesChanged => "properties_changed",
            EventKind::ProcessingStopped => "processing_stopped",
        }
    }
}

/// One journal entry. Its position (`id`) is assigned by the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub kind: EventKind,
    pub interaction_id: Uuid,
    pub process: String,
    pub at: DateTime<Utc>,
    /// Details of the change (the submitted interaction, the patch, the queues,
    /// the stop reason).
    pub data: Value,
}
