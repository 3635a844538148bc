//! Tests of the expression language: parsing, errors and limits.

mod errors;
mod parse;

use super::{Expr, ParseError, parse};

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
