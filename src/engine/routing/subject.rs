//! What view conditions and strategy targets read: the interaction's fields,
//! and for targets the agent being considered.

use super::config::AgentProfile;
use crate::engine::Interaction;
use crate::expr::{Context, Value};
use chrono::{DateTime, Utc};
use std::borrow::Cow;

/// An interaction as expressions see it, at a moment (for `age`).
pub struct Subject<'a> {
    pub interaction: &'a Interaction,
    pub now: DateTime<Utc>,
}

fn json(value: &serde_json::Value) -> Value<'_> {
    match value {
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => n.as_f64().map_or(Value::Null, Value::Float),
        },
        serde_json::Value::String(s) => Value::Str(Cow::Borrowed(s)),
        _ => Value::Null,
    }
}

fn text(value: &str) -> Value<'_> {
    Value::Str(Cow::Borrowed(value))
}

fn optional(value: &Option<crate::engine::Name>) -> Value<'_> {
    value.as_deref().map_or(Value::Null, text)
}

impl Context for Subject<'_> {
    fn resolve(&self, path: &[String]) -> Value<'_> {
        let i = self.interaction;
        match path {
            [field] => match field.as_str() {
                "priority" => Value::Int(i.priority.into()),
                "media_type" => text(&i.media_type),
                "type" => text(&i.kind),
                "subtype" => optional(&i.subtype),
                "process" => text(&i.process),
                "queue" => optional(&i.queue),
                "state" => text(i.state.as_str()),
                "external_id" => optional(&i.external_id),
                "submitted_by" => text(&i.submitted_by),
                "age" => Value::Int((self.now - i.submitted_at).num_seconds().max(0)),
                _ => Value::Null,
            },
            [first, key, rest @ ..] if first == "properties" => {
                let mut value = match i.properties.get(key) {
                    Some(value) => value,
                    None => return Value::Null,
                };
                for segment in rest {
                    value = match value.get(segment) {
                        Some(inner) => inner,
                        None => return Value::Null,
                    };
                }
                json(value)
            }
            _ => Value::Null,
        }
    }
}

/// An agent considered for an interaction (which targets that read only
/// `agent.*` do not need).
pub struct Candidate<'a> {
    pub agent: &'a AgentProfile,
    pub interaction: Option<&'a Subject<'a>>,
}

impl Context for Candidate<'_> {
    fn resolve(&self, path: &[String]) -> Value<'_> {
        match path {
            [first, rest @ ..] if first == "agent" => match rest {
                [field] if field == "name" => text(&self.agent.name),
                [field, skill] if field == "skills" => self
                    .agent
                    .skills
                    .get(skill)
                    .map_or(Value::Null, |level| Value::Int((*level).into())),
                [field, group] if field == "groups" => {
                    Value::Bool(self.agent.groups.contains(group))
                }
                _ => Value::Null,
            },
            _ => self
                .interaction
                .map_or(Value::Null, |subject| subject.resolve(path)),
        }
    }
}
