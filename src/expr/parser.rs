//! Recursive-descent parser. Precedence, loosest first: `or`, `and`,
//! comparison, `not`.
//!
//! ```text
//! expr       := and ("or" and)*
//! and        := unary ("and" unary)*
//! unary      := "not" negated | comparison
//! negated    := "not" negated | "(" expr ")" | path | "true" | "false"
//! comparison := "(" expr ")"
//!             | operand [ cmp_op operand | ["not"] "in" "(" literal ("," literal)* ")" ]
//! operand    := path | literal
//! ```
//!
//! Recursion only happens through `(` and `not`, and both count towards
//! [`MAX_DEPTH`], so the parser's stack use is bounded whatever the input.

use std::fmt::{self, Write};

use super::ast::{CmpOp, Literal, Node, Operand, write_path};
use super::error::{ParseError, Pos};
use super::lexer::{Lexer, Token, TokenKind};
use super::{MAX_DEPTH, MAX_SOURCE_LEN};

pub(super) fn parse(src: &str) -> Result<Node, ParseError> {
    if src.len() > MAX_SOURCE_LEN {
        return Err(position_of_byte(src, MAX_SOURCE_LEN).error(format!(
            "expression too long: the limit is {MAX_SOURCE_LEN} bytes"
        )));
    }
    let mut parser = Parser::new(src)?;
    let node = parser.expr()?;
    if parser.tok.kind != TokenKind::End {
        return Err(parser.found("expected 'and', 'or' or the end of the expression"));
    }
    // The canonical form may be longer than the source (it adds spaces);
    // refusing such expressions here guarantees that whatever was accepted
    // can be printed, stored and parsed again.
    let mut canonical = ByteCount(0);
    // Writing to a counter cannot fail.
    let _ = write!(canonical, "{node}");
    if canonical.0 > MAX_SOURCE_LEN {
        return Err(parser.tok.pos.error(format!(
            "expression too long: written in canonical form it takes {} bytes, the limit is \
             {MAX_SOURCE_LEN}",
            canonical.0
        )));
    }
    Ok(node)
}

/// The position of the character that contains or follows byte `limit`.
fn position_of_byte(src: &str, limit: usize) -> Pos {
    let mut pos = Pos::START;
    for (offset, c) in src.char_indices() {
        if offset + c.len_utf8() > limit {
            break;
        }
        pos.advance(c);
    }
    pos
}

struct ByteCount(usize);

impl Write for ByteCount {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

struct Parser<'s> {
    lexer: Lexer<'s>,
    /// The current, not yet consumed, token.
    tok: Token,
    /// How many `(` and `not` enclose the current token.
    depth: usize,
}

impl<'s> Parser<'s> {
    fn new(src: &'s str) -> Result<Self, ParseError> {
        let mut lexer = Lexer::new(src);
        let tok = lexer.next_token()?;
        Ok(Parser {
            lexer,
            tok,
            depth: 0,
        })
    }

    /// Consumes the current token and returns it.
    fn advance(&mut self) -> Result<Token, ParseError> {
        let next = self.lexer.next_token()?;
        Ok(std::mem::replace(&mut self.tok, next))
    }

    /// An error at the current token, saying what was expected there.
    fn found(&self, expected: &str) -> ParseError {
        self.tok
            .pos
            .error(format!("{expected}, found {}", describe(&self.tok.kind)))
    }

    fn descend(&mut self, at: Pos) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(at.error(format!(
                "nested too deeply: at most {MAX_DEPTH} levels of parentheses and 'not' are \
                 allowed"
            )));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Node, ParseError> {
        let first = self.and()?;
        if self.tok.kind != TokenKind::Or {
            return Ok(first);
        }
        let mut nodes = vec![first];
        while self.tok.kind == TokenKind::Or {
            self.advance()?;
            nodes.push(self.and()?);
        }
        Ok(Node::Or(nodes))
    }

    fn and(&mut self) -> Result<Node, ParseError> {
        let first = self.unary()?;
        if self.tok.kind != TokenKind::And {
            return Ok(first);
        }
        let mut nodes = vec![first];
        while self.tok.kind == TokenKind::And {
            self.advance()?;
            nodes.push(self.unary()?);
        }
        Ok(Node::And(nodes))
    }

    fn unary(&mut self) -> Result<Node, ParseError> {
        if self.tok.kind != TokenKind::Not {
            return self.comparison();
        }
        let not = self.advance()?;
        self.descend(not.pos)?;
        let negated = match self.tok.kind {
            TokenKind::Not => self.unary()?,
            TokenKind::LParen => self.group()?,
            TokenKind::True | TokenKind::False => {
                let value = self.tok.kind == TokenKind::True;
                self.advance()?;
                Node::Bool(value)
            }
            TokenKind::Path(ref mut path) => {
                let path = std::mem::take(path);
                self.advance()?;
                Node::Path(path)
            }
            _ => return Err(self.found("expected a condition after 'not'")),
        };
        self.depth -= 1;
        if let Some(op) = comparison_ahead(&self.tok.kind) {
            return Err(self.tok.pos.error(format!(
                "'not' binds tighter than {op}; to negate a comparison, put it in parentheses: \
                 not (...)"
            )));
        }
        Ok(Node::Not(Box::new(negated)))
    }

    /// A parenthesised condition; the current token is the `(`.
    fn group(&mut self) -> Result<Node, ParseError> {
        let open = self.advance()?;
        self.descend(open.pos)?;
        let inner = self.expr()?;
        if self.tok.kind != TokenKind::RParen {
            return Err(self.found(&format!(
                "expected ')' to close the '(' at line {}, column {}",
                open.pos.line, open.pos.column
            )));
        }
        self.advance()?;
        self.depth -= 1;
        Ok(inner)
    }

    fn comparison(&mut self) -> Result<Node, ParseError> {
        if self.tok.kind == TokenKind::LParen {
            let inner = self.group()?;
            if let Some(op) = comparison_ahead(&self.tok.kind) {
                return Err(self.tok.pos.error(format!(
                    "a condition in parentheses cannot be the left side of {op}"
                )));
            }
            return Ok(inner);
        }
        let Some(left) = self.operand()? else {
            return Err(self.found("expected a condition"));
        };
        match self.tok.kind {
            TokenKind::Cmp(op, spelling) => {
                let op_pos = self.advance()?.pos;
                let Some(right) = self.operand()? else {
                    return Err(self
                        .tok
                        .pos
                        .error(format!("expected a value after '{spelling}'")));
                };
                compare(left, op, spelling, op_pos, right)
            }
            TokenKind::In => {
                self.advance()?;
                self.list(left, false)
            }
            TokenKind::Not => {
                self.advance()?;
                if self.tok.kind != TokenKind::In {
                    return Err(self.found("expected 'in' after 'not'"));
                }
                self.advance()?;
                self.list(left, true)
            }
            _ => match left {
                Operand::Path(p) => Ok(Node::Path(p)),
                Operand::Literal(Literal::Bool(b)) => Ok(Node::Bool(b)),
                Operand::Literal(l) => Err(self.found(&format!(
                    "a value alone is not a condition: expected a comparison operator after {l}"
                ))),
            },
        }
    }

    /// Consumes the current token if it is an identifier or a literal.
    fn operand(&mut self) -> Result<Option<Operand>, ParseError> {
        if !is_operand(&self.tok.kind) {
            return Ok(None);
        }
        Ok(into_operand(self.advance()?.kind))
    }

    /// The parenthesised list after `in`, which must be the current token.
    fn list(&mut self, operand: Operand, negated: bool) -> Result<Node, ParseError> {
        let keyword = if negated { "not in" } else { "in" };
        if self.tok.kind != TokenKind::LParen {
            return Err(self.found(&format!("expected '(' after '{keyword}'")));
        }
        self.advance()?;
        let mut list = Vec::new();
        loop {
            if let TokenKind::Path(_) = self.tok.kind {
                return Err(self.tok.pos.error(format!(
                    "the list after '{keyword}' may contain only literal values, not names"
                )));
            }
            match self.operand()? {
                Some(Operand::Literal(l)) => list.push(l),
                _ => return Err(self.found("expected a value in the list")),
            }
            match self.tok.kind {
                TokenKind::Comma => {
                    self.advance()?;
                }
                TokenKind::RParen => {
                    self.advance()?;
                    break;
                }
                _ => return Err(self.found("expected ',' or ')' in the list")),
            }
        }
        Ok(Node::In {
            operand,
            list: list.into_boxed_slice(),
            negated,
        })
    }
}

fn compare(
    left: Operand,
    op: CmpOp,
    spelling: &str,
    op_pos: Pos,
    right: Operand,
) -> Result<Node, ParseError> {
    let is = |operand: &Operand, wanted: fn(&Literal) -> bool| matches!(operand, Operand::Literal(l) if wanted(l));
    let is_null = |o: &Operand| is(o, |l| *l == Literal::Null);
    let is_bool = |o: &Operand| is(o, |l| matches!(l, Literal::Bool(_)));
    if is_null(&left) || is_null(&right) {
        if op.is_ordering() {
            return Err(op_pos.error(format!(
                "'{spelling}' cannot be used with null; test presence with '= null' or '!= null'"
            )));
        }
        let operand = if is_null(&right) { left } else { right };
        return Ok(Node::IsNull {
            operand,
            negated: op == CmpOp::Ne,
        });
    }
    if op.is_ordering() && (is_bool(&left) || is_bool(&right)) {
        return Err(op_pos.error(format!(
            "'{spelling}' cannot be used with true or false, which are only equal or not"
        )));
    }
    Ok(Node::Compare { left, op, right })
}

fn is_operand(kind: &TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::Path(_)
            | TokenKind::Int(_)
            | TokenKind::Float(_)
            | TokenKind::Str(_)
            | TokenKind::True
            | TokenKind::False
            | TokenKind::Null
    )
}

fn into_operand(kind: TokenKind) -> Option<Operand> {
    let literal = match kind {
        TokenKind::Path(p) => return Some(Operand::Path(p)),
        TokenKind::Int(i) => Literal::Int(i),
        TokenKind::Float(x) => Literal::Float(x),
        TokenKind::Str(s) => Literal::Str(s),
        TokenKind::True => Literal::Bool(true),
        TokenKind::False => Literal::Bool(false),
        TokenKind::Null => Literal::Null,
        _ => return None,
    };
    Some(Operand::Literal(literal))
}

/// If `kind` would start the right-hand side of a comparison, how to name it
/// in a message.
fn comparison_ahead(kind: &TokenKind) -> Option<String> {
    match kind {
        TokenKind::Cmp(_, spelling) => Some(format!("'{spelling}'")),
        TokenKind::In => Some("'in'".to_owned()),
        _ => None,
    }
}

/// Names a token in an error message.
fn describe(kind: &TokenKind) -> String {
    let text = match kind {
        TokenKind::Path(p) => {
            let mut name = String::new();
            // Writing to a String cannot fail.
            let _ = write_path(&mut name, p);
            return format!("'{name}'");
        }
        TokenKind::Int(i) => return format!("the number {i}"),
        TokenKind::Float(x) => return format!("the number {}", Literal::Float(*x)),
        TokenKind::Str(_) => return "a string".to_owned(),
        TokenKind::End => return "the end of the expression".to_owned(),
        TokenKind::Cmp(_, spelling) => spelling,
        TokenKind::And => "and",
        TokenKind::Or => "or",
        TokenKind::Not => "not",
        TokenKind::In => "in",
        TokenKind::True => "true",
        TokenKind::False => "false",
        TokenKind::Null => "null",
        TokenKind::LParen => "(",
        TokenKind::RParen => ")",
        TokenKind::Comma => ",",
    };
    format!("'{text}'")
}
