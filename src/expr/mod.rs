//! The expression language of queue view conditions and routing strategy
//! targets.
//!
//! An expression is parsed once, when a view or strategy is saved or loaded,
//! and evaluated in memory many times against interactions (and agents); it
//! is never turned into SQL.
//!
//! ```text
//! priority >= 5 and properties.segment = 'gold' and media_type in ('chat', 'email')
//! agent.skills.billing >= 3 and agent.skills.french > 0
//! age > 300 or not (type = 'inbound')
//! properties.vip != null
//! ```
//!
//! # API
//!
//! - [`parse`]`(src: &str) -> Result<Expr, ParseError>`, also `src.parse::<Expr>()`.
//! - [`Expr::eval`]`(&self, ctx: &impl Context) -> bool`: whether the condition holds.
//! - [`Expr::paths`]`(&self) -> impl Iterator<Item = &[String]>`: the identifiers
//!   it reads, so callers can restrict them (a view condition may not read
//!   `agent.*`).
//! - `Display` prints a canonical form that parses back to an equal `Expr`;
//!   serde reads and writes an `Expr` as that string.
//! - [`Context::resolve`]`(&self, path: &[String]) -> Value<'_>` is implemented
//!   by the caller; [`Value`] is `Null | Bool | Int | Float | Str(Cow<str>)`.
//! - [`ParseError`] has a 1-based `line`, a 1-based `column` counted in
//!   characters, and a `message`; it displays as
//!   `line 1, column 13: expected a value after '>='`.
//!
//! # Grammar
//!
//! - Conditions combine with `or`, `and` and `not`; keywords are
//!   case-insensitive. Precedence, tightest first: `not`, comparison, `and`,
//!   `or`; parentheses group. Because `not` binds tightest, `not a = 1` is
//!   rejected rather than silently read as `(not a) = 1`: write
//!   `not (a = 1)` or `a != 1`.
//! - Comparisons: `= != <> < <= > >=`, `x in (v, ...)`, `x not in (v, ...)`.
//!   The list holds literals only and may not be empty.
//! - Literals: integers (`42`, `-7`), decimals (`2.5`, `-0.25`; no exponent),
//!   single-quoted strings (`'it''s'`: a doubled quote stands for one),
//!   `true`, `false`, `null`.
//! - Identifiers are dotted paths: `priority`, `properties.segment`,
//!   `agent.skills.billing`. A segment is letters, digits and `_` (the first
//!   segment may not start with a digit or be a keyword); any other segment
//!   is written in double quotes: `properties."order-id"`. Identifiers are
//!   case-sensitive and the language gives them no meaning: the [`Context`]
//!   does.
//! - An identifier alone, `true` or `false` is a condition too; an identifier
//!   alone holds only when it resolves to `Bool(true)`.
//!
//! # Meaning
//!
//! - `x = null` holds when `x` is absent, `x != null` when it is present.
//!   `null` cannot be used with `<`, `<=`, `>`, `>=`, nor `true` / `false`.
//! - Integers and decimals compare numerically and exactly; strings compare
//!   by code point, case-sensitively; booleans are only equal or not. There
//!   is no conversion between kinds: `priority = '5'` does not hold.
//! - Any other comparison with an absent value, or between different kinds,
//!   is *unknown*. `not` of unknown is unknown; `false and unknown` is false,
//!   `true or unknown` is true (SQL's three-valued logic), and an expression
//!   that ends up unknown does not hold. So `properties.segment != 'gold'`
//!   does not hold for an interaction without a segment, exactly like
//!   `not (properties.segment = 'gold')`; add `or properties.segment = null`
//!   to include it.
//! - `x in (a, b)` is `x = a or x = b`; `x not in (a, b)` is
//!   `not (x in (a, b))`.
//!
//! # Limits
//!
//! The source, and its canonical form, may be at most [`MAX_SOURCE_LEN`]
//! bytes, and parentheses plus `not` may nest at most [`MAX_DEPTH`] deep;
//! beyond that parsing fails with a [`ParseError`]. Parsing and evaluation
//! never panic.
//!
//! # Cost
//!
//! Evaluation does not allocate: literals are stored ready to compare, and
//! strings are borrowed from the [`Context`] when it lends them
//! ([`Value::Str`] holds a `Cow`).

mod ast;
mod error;
mod eval;
mod lexer;
mod parser;
mod value;

#[cfg(test)]
mod tests;

use std::fmt::{self, Display, Formatter};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use error::ParseError;
pub use value::{Context, Value};

/// The longest accepted source, in bytes.
pub const MAX_SOURCE_LEN: usize = 4096;

/// How deeply parentheses and `not` may nest.
pub const MAX_DEPTH: usize = 64;

/// A parsed expression. See the [module documentation](self).
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    root: ast::Node,
}

/// Parses an expression.
pub fn parse(src: &str) -> Result<Expr, ParseError> {
    parser::parse(src).map(|root| Expr { root })
}

impl Expr {
    /// Whether the condition holds in `ctx`. Unknown counts as not holding.
    pub fn eval(&self, ctx: &(impl Context + ?Sized)) -> bool {
        self.root.eval(ctx) == Some(true)
    }

    /// The identifiers the expression reads, in source order, repeated as
    /// often as they appear.
    pub fn paths(&self) -> impl Iterator<Item = &[String]> + '_ {
        let mut paths = Vec::new();
        self.root.collect_paths(&mut paths);
        paths.into_iter()
    }
}

impl FromStr for Expr {
    type Err = ParseError;

    fn from_str(src: &str) -> Result<Self, Self::Err> {
        parse(src)
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.root.fmt(f)
    }
}

impl Serialize for Expr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Expr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let src = String::deserialize(deserializer)?;
        parse(&src).map_err(serde::de::Error::custom)
    }
}
