//! The interaction record the engine keeps and the store persists.

use super::state::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// A short text an interaction names (a process, a queue, an agent, a
/// media type…): held in place when short, as most are, so that an
/// interaction and its copies are one allocation rather than one per name.
pub type Name = compact_str::CompactString;

/// Attached data of an interaction: a JSON object.
pub type Properties = Map<String, Value>;

/// The current state of one interaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    pub id: Uuid,
    /// The submitter's own id for it; unique per submitter.
    pub external_id: Option<Name>,
    /// Who submitted it (a gateway or an agent).
    pub submitted_by: Name,
    pub process: Name,
    pub queue: Option<Name>,
    pub workbin: Option<Name>,
    /// Whose workbin it is parked in: an agent, or an agent group.
    #[serde(default)]
    pub owner: Option<Name>,
    pub state: State,
    pub media_type: Name,
    #[serde(rename = "type")]
    pub kind: Name,
    pub subtype: Option<Name>,
    pub priority: i32,
    pub properties: Properties,
    /// The agent it is offered to or handled by.
    pub agent: Option<Name>,
    pub submitted_at: DateTime<Utc>,
    pub placed_in_queue_at: Option<DateTime<Utc>>,
    pub offered_at: Option<DateTime<Utc>>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub stop_reason: Option<Name>,
    /// Incremented by every change; 1 after submit.
    pub version: i64,
}

impl Interaction {
    /// The same, as its next version.
    pub fn next_version(&self) -> Interaction {
        Interaction {
            version: self.version + 1,
            ..self.clone()
        }
    }

    /// Its next version, back in its queue from an agent's hands (offered
    /// or handled), keeping its age: it is nobody's and offered to nobody.
    pub fn back_to_queue(&self) -> Interaction {
        Interaction {
            state: State::Queued,
            agent: None,
            offered_at: None,
            ..self.next_version()
        }
    }
}

/// The size of `value` as JSON, in bytes, counted without building the text;
/// `usize::MAX` if it cannot be serialized.
pub fn json_size(value: &impl Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).map_or(usize::MAX, |()| count.0)
}

/// Merges `patch` into `properties`: a `null` value deletes the key.
pub fn merge_properties(properties: &mut Properties, patch: Properties) {
    for (key, value) in patch {
        if value.is_null() {
            properties.remove(&key);
        } else {
            properties.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_sets_replaces_and_deletes() {
        let mut props = json!({"a": 1, "b": "x", "c": true})
            .as_object()
            .cloned()
            .unwrap();
        let patch = json!({"a": 2, "b": null, "d": [1]})
            .as_object()
            .cloned()
            .unwrap();
        merge_properties(&mut props, patch);
        assert_eq!(Value::Object(props), json!({"a": 2, "c": true, "d": [1]}));
    }
}
