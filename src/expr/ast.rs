//! The parsed form of an expression and its canonical text.
//!
//! The canonical text is what `Display` prints: lower-case keywords, `!=`
//! for `<>`, single spaces, and only the parentheses that change the
//! structure. Parsing it gives back an equal tree.

use std::fmt::{self, Display, Formatter, Write};

use super::lexer::{is_keyword, is_name_continue, is_name_start};

/// An identifier: its dot-separated segments.
pub(super) type Path = Box<[String]>;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    /// `true` or `false` used as a condition.
    Bool(bool),
    /// An identifier used as a condition: true only if it holds `true`.
    Path(Path),
    Not(Box<Node>),
    /// Two or more conditions, all of which must hold.
    And(Vec<Node>),
    /// Two or more conditions, one of which must hold.
    Or(Vec<Node>),
    /// A comparison; neither side is the `null` literal (see `IsNull`).
    Compare {
        left: Operand,
        op: CmpOp,
        right: Operand,
    },
    /// `x = null` (or, when `negated`, `x != null`): a presence test.
    IsNull {
        operand: Operand,
        negated: bool,
    },
    /// `x in (...)` or, when `negated`, `x not in (...)`; never empty.
    In {
        operand: Operand,
        list: Box<[Literal]>,
        negated: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Operand {
    Path(Path),
    Literal(Literal),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Literal {
    Null,
    Bool(bool),
    Int(i64),
    /// Always finite.
    Float(f64),
    Str(Box<str>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// The canonical spelling.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// Whether the operator orders its operands rather than testing equality.
    pub(super) fn is_ordering(self) -> bool {
        !matches!(self, CmpOp::Eq | CmpOp::Ne)
    }
}

impl Node {
    /// Appends every identifier the expression reads, in source order.
    pub(super) fn collect_paths<'a>(&'a self, out: &mut Vec<&'a [String]>) {
        match self {
            Node::Bool(_) => {}
            Node::Path(p) => out.push(p),
            Node::Not(n) => n.collect_paths(out),
            Node::And(ns) | Node::Or(ns) => ns.iter().for_each(|n| n.collect_paths(out)),
            Node::Compare { left, right, .. } => {
                left.collect_path(out);
                right.collect_path(out);
            }
            Node::IsNull { operand, .. } | Node::In { operand, .. } => operand.collect_path(out),
        }
    }
}

impl Operand {
    fn collect_path<'a>(&'a self, out: &mut Vec<&'a [String]>) {
        if let Operand::Path(p) = self {
            out.push(p);
        }
    }
}

impl Display for Node {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Node::Bool(b) => write!(f, "{b}"),
            Node::Path(p) => write_path(f, p),
            Node::Not(n) => {
                f.write_str("not ")?;
                match **n {
                    Node::Bool(_) | Node::Path(_) | Node::Not(_) => write!(f, "{n}"),
                    _ => write!(f, "({n})"),
                }
            }
            Node::And(ns) => {
                write_joined(f, ns, " and ", |n| matches!(n, Node::And(_) | Node::Or(_)))
            }
            Node::Or(ns) => write_joined(f, ns, " or ", |n| matches!(n, Node::Or(_))),
            Node::Compare { left, op, right } => write!(f, "{left} {} {right}", op.as_str()),
            Node::IsNull { operand, negated } => {
                write!(f, "{operand} {} null", if *negated { "!=" } else { "=" })
            }
            Node::In {
                operand,
                list,
                negated,
            } => {
                write!(f, "{operand} {}in (", if *negated { "not " } else { "" })?;
                for (i, lit) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{lit}")?;
                }
                f.write_char(')')
            }
        }
    }
}

fn write_joined(
    f: &mut Formatter<'_>,
    nodes: &[Node],
    separator: &str,
    needs_parens: impl Fn(&Node) -> bool,
) -> fmt::Result {
    for (i, n) in nodes.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        if needs_parens(n) {
            write!(f, "({n})")?;
        } else {
            write!(f, "{n}")?;
        }
    }
    Ok(())
}

impl Display for Operand {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Path(p) => write_path(f, p),
            Operand::Literal(l) => write!(f, "{l}"),
        }
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("null"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Float(x) => {
                // `Display` for f64 never uses an exponent and prints the
                // shortest digits that read back to the same number; it only
                // omits the fraction of whole numbers, which would then read
                // back as integers.
                let text = x.to_string();
                f.write_str(&text)?;
                if text.contains('.') {
                    Ok(())
                } else {
                    f.write_str(".0")
                }
            }
            Literal::Str(s) => write_quoted(f, s, '\''),
        }
    }
}

/// Writes an identifier, quoting the segments that would not read back as a
/// bare name.
pub(super) fn write_path(f: &mut impl Write, path: &[String]) -> fmt::Result {
    for (i, segment) in path.iter().enumerate() {
        if i > 0 {
            f.write_char('.')?;
        }
        if is_bare_segment(segment, i == 0) {
            f.write_str(segment)?;
        } else {
            write_quoted(f, segment, '"')?;
        }
    }
    Ok(())
}

fn is_bare_segment(segment: &str, first: bool) -> bool {
    let mut chars = segment.chars();
    let Some(c) = chars.next() else {
        return false;
    };
    let starts_well = if first {
        is_name_start(c)
    } else {
        is_name_continue(c)
    };
    starts_well && chars.all(is_name_continue) && !(first && is_keyword(segment))
}

fn write_quoted(f: &mut impl Write, text: &str, quote: char) -> fmt::Result {
    f.write_char(quote)?;
    for c in text.chars() {
        if c == quote {
            f.write_char(quote)?;
        }
        f.write_char(c)?;
    }
    f.write_char(quote)
}
