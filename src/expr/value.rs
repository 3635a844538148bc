//! What identifiers resolve to, and the trait the caller implements to
//! resolve them.

use std::borrow::Cow;

/// The value of an identifier, or of a literal, during evaluation.
///
/// Strings are `Cow` so that a [`Context`] can lend strings it already holds
/// instead of copying them on every evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// Absent or unknown.
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
}

impl Value<'_> {
    /// The same value, borrowing its string rather than cloning it.
    pub fn reborrow(&self) -> Value<'_> {
        match self {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(*b),
            Value::Int(i) => Value::Int(*i),
            Value::Float(f) => Value::Float(*f),
            Value::Str(s) => Value::Str(Cow::Borrowed(s)),
        }
    }
}

impl From<bool> for Value<'_> {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value<'_> {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<f64> for Value<'_> {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(s: &'a str) -> Self {
        Value::Str(Cow::Borrowed(s))
    }
}

impl From<String> for Value<'_> {
    fn from(s: String) -> Self {
        Value::Str(Cow::Owned(s))
    }
}

/// Resolves identifiers for one evaluation: an interaction, and for strategy
/// targets also the agent being considered.
pub trait Context {
    /// The value of the identifier whose dot-separated segments are `path`
    /// (`properties.segment` arrives as `["properties", "segment"]`).
    /// Unknown identifiers and absent values are [`Value::Null`].
    fn resolve(&self, path: &[String]) -> Value<'_>;
}
