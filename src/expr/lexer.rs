//! Splits the source into tokens, one at a time, keeping track of line and
//! column for error messages.

use super::ast::{CmpOp, Path};
use super::error::{ParseError, Pos};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum TokenKind {
    Path(Path),
    And,
    Or,
    Not,
    In,
    True,
    False,
    Null,
    Int(i64),
    Float(f64),
    Str(Box<str>),
    LParen,
    RParen,
    Comma,
    /// A comparison operator and how it was spelled (`<>` or `!=`).
    Cmp(CmpOp, &'static str),
    End,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token {
    pub(super) kind: TokenKind,
    pub(super) pos: Pos,
}

const KEYWORDS: [(&str, TokenKind); 7] = [
    ("and", TokenKind::And),
    ("or", TokenKind::Or),
    ("not", TokenKind::Not),
    ("in", TokenKind::In),
    ("true", TokenKind::True),
    ("false", TokenKind::False),
    ("null", TokenKind::Null),
];

/// Whether `word` is a keyword, in any letter case.
pub(super) fn is_keyword(word: &str) -> bool {
    keyword(word).is_some()
}

fn keyword(word: &str) -> Option<TokenKind> {
    KEYWORDS
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(word))
        .map(|(_, kind)| kind.clone())
}

/// Whether a bare identifier may start with `c`. Digits may not: they start
/// numbers.
pub(super) fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

/// Whether `c` may appear in a bare identifier segment; segments after a dot
/// may also start with these (`agent.skills.3d`).
pub(super) fn is_name_continue(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

pub(super) struct Lexer<'s> {
    src: &'s str,
    /// Byte offset of the next character.
    offset: usize,
    /// Position of the next character.
    pos: Pos,
}

impl<'s> Lexer<'s> {
    pub(super) fn new(src: &'s str) -> Self {
        Lexer {
            src,
            offset: 0,
            pos: Pos::START,
        }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.offset..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.offset += c.len_utf8();
        self.pos.advance(c);
        Some(c)
    }

    fn bump_if(&mut self, expected: char) -> bool {
        let matched = self.peek() == Some(expected);
        if matched {
            self.bump();
        }
        matched
    }

    pub(super) fn next_token(&mut self) -> Result<Token, ParseError> {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
        let pos = self.pos;
        let token = |kind| Ok(Token { kind, pos });
        let Some(c) = self.bump() else {
            return token(TokenKind::End);
        };
        match c {
            '(' => token(TokenKind::LParen),
            ')' => token(TokenKind::RParen),
            ',' => token(TokenKind::Comma),
            '=' => token(TokenKind::Cmp(CmpOp::Eq, "=")),
            '!' if self.bump_if('=') => token(TokenKind::Cmp(CmpOp::Ne, "!=")),
            '!' => Err(pos.error("unexpected '!'; 'not equal' is written '!=' or '<>'")),
            '<' if self.bump_if('=') => token(TokenKind::Cmp(CmpOp::Le, "<=")),
            '<' if self.bump_if('>') => token(TokenKind::Cmp(CmpOp::Ne, "<>")),
            '<' => token(TokenKind::Cmp(CmpOp::Lt, "<")),
            '>' if self.bump_if('=') => token(TokenKind::Cmp(CmpOp::Ge, ">=")),
            '>' => token(TokenKind::Cmp(CmpOp::Gt, ">")),
            '\'' => token(TokenKind::Str(self.quoted('\'', pos)?.into())),
            '"' => {
                let first = self.quoted_name(pos)?;
                token(TokenKind::Path(self.path_rest(first)?))
            }
            '-' if self.peek().is_some_and(|c| c.is_ascii_digit()) => token(self.number(pos)?),
            '-' => Err(pos.error("'-' must be directly followed by the digits of a number")),
            c if c.is_ascii_digit() => token(self.number(pos)?),
            c if is_name_start(c) => token(self.word(c, pos)?),
            c => Err(pos.error(format!("unexpected character {c:?}"))),
        }
    }

    /// Reads the rest of a quoted text whose opening quote (at `start`) has
    /// been consumed; a doubled quote stands for one quote character.
    fn quoted(&mut self, quote: char, start: Pos) -> Result<String, ParseError> {
        let mut text = String::new();
        loop {
            match self.bump() {
                None => {
                    let what = if quote == '\'' {
                        "string"
                    } else {
                        "quoted name"
                    };
                    return Err(
                        start.error(format!("unterminated {what}: missing closing {quote}"))
                    );
                }
                Some(c) if c == quote => {
                    if !self.bump_if(quote) {
                        return Ok(text);
                    }
                    text.push(quote);
                }
                Some(c) => text.push(c),
            }
        }
    }

    fn quoted_name(&mut self, start: Pos) -> Result<String, ParseError> {
        let name = self.quoted('"', start)?;
        if name.is_empty() {
            return Err(start.error("a quoted name may not be empty"));
        }
        Ok(name)
    }

    /// A bare word starting with `first` (already consumed at `start`): a
    /// keyword, or an identifier possibly followed by more segments.
    fn word(&mut self, first: char, start: Pos) -> Result<TokenKind, ParseError> {
        let begin = self.offset - first.len_utf8();
        while self.peek().is_some_and(is_name_continue) {
            self.bump();
        }
        let word = &self.src[begin..self.offset];
        if let Some(kind) = keyword(word) {
            if self.peek() == Some('.') {
                return Err(start.error(format!(
                    "'{word}' is a reserved word; to use it as a name, quote it: \"{word}\""
                )));
            }
            return Ok(kind);
        }
        Ok(TokenKind::Path(self.path_rest(word.to_owned())?))
    }

    /// Reads the `.segment` parts following the first segment of an
    /// identifier.
    fn path_rest(&mut self, first: String) -> Result<Path, ParseError> {
        let mut segments = vec![first];
        while self.bump_if('.') {
            let pos = self.pos;
            match self.peek() {
                Some('"') => {
                    self.bump();
                    segments.push(self.quoted_name(pos)?);
                }
                Some(c) if is_name_continue(c) => {
                    let begin = self.offset;
                    while self.peek().is_some_and(is_name_continue) {
                        self.bump();
                    }
                    segments.push(self.src[begin..self.offset].to_owned());
                }
                _ => return Err(pos.error("expected a name after '.'")),
            }
        }
        Ok(segments.into_boxed_slice())
    }

    /// Reads a number whose first character (a digit or '-') at `start` has
    /// been consumed.
    fn number(&mut self, start: Pos) -> Result<TokenKind, ParseError> {
        let begin = self.offset - 1;
        self.digits();
        let mut is_float = false;
        if self.peek() == Some('.') {
            self.bump();
            if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                return Err(self.pos.error("expected digits after the decimal point"));
            }
            self.digits();
            is_float = true;
        }
        if let Some(c) = self
            .peek()
            .filter(|&c| is_name_continue(c) || c == '.' || c == '"')
        {
            return Err(self.pos.error(format!("unexpected {c:?} after a number")));
        }
        let text = &self.src[begin..self.offset];
        if is_float {
            match text.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(TokenKind::Float(x)),
                _ => Err(start.error("number out of range")),
            }
        } else {
            text.parse::<i64>()
                .map(TokenKind::Int)
                .map_err(|_| start.error("integer out of range"))
        }
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
    }
}
