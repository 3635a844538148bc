//! Tests of the expression language: parsing, errors and limits,
//! evaluation, and properties over generated inputs.

mod errors;
mod eval;
mod parse;
mod props;

use std::collections::HashMap;

use super::{Context, Expr, ParseError, Value, parse};

/// A context backed by a map from dotted identifier to value.
#[derive(Debug, Default, Clone)]
struct MapContext(HashMap<Vec<String>, Value<'static>>);

impl MapContext {
    fn with(mut self, path: &str, value: impl Into<Value<'static>>) -> Self {
        self.0.insert(split(path), value.into());
        self
    }
}

impl Context for MapContext {
    fn resolve(&self, path: &[String]) -> Value<'_> {
        self.0.get(path).map_or(Value::Null, Value::reborrow)
    }
}

fn split(path: &str) -> Vec<String> {
    path.split('.').map(str::to_owned).collect()
}

fn expr(src: &str) -> Expr {
    parse(src).unwrap_or_else(|e| panic!("{src:?} should parse: {e}"))
}

/// The canonical form of `src`.
fn canonical(src: &str) -> String {
    expr(src).to_string()
}

fn error(src: &str) -> ParseError {
    match parse(src) {
        Ok(e) => panic!("{src:?} should not parse, but gave {e}"),
        Err(e) => e,
    }
}

fn holds(src: &str, ctx: &MapContext) -> bool {
    expr(src).eval(ctx)
}
