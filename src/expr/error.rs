//! The error returned for an expression that cannot be accepted.

use thiserror::Error;

/// Why an expression was rejected, and where.
///
/// The position is where the problem was noticed: the offending character or
/// token, or the end of the expression when something is missing there.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    /// 1-based line; lines are separated by `\n`.
    pub line: usize,
    /// 1-based column, counted in characters, not bytes.
    pub column: usize,
    /// What is wrong, for the person who wrote the expression.
    pub message: String,
}

/// A place in the source: 1-based line and character column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pos {
    pub(super) line: usize,
    pub(super) column: usize,
}

impl Pos {
    pub(super) const START: Pos = Pos { line: 1, column: 1 };

    /// Moves past `c`.
    pub(super) fn advance(&mut self, c: char) {
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
    }

    pub(super) fn error(self, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line,
            column: self.column,
            message: message.into(),
        }
    }
}
