//! Domain events: what happened to an interaction, appended to the journal in
//! the same transaction as the change itself.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
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
    pub const ALL: [EventKind; 4] = [
        EventKind::Submitted,
        EventKind::PlacedInQueue,
        EventKind::PropertiesChanged,
        EventKind::ProcessingStopped,
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
    pub data: EventData,
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
