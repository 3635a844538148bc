//! Evaluation, in three-valued logic.
//!
//! A comparison involving an absent value, or values of different kinds, is
//! *unknown* (`None`); `not` keeps it unknown, `and` / `or` follow SQL (false
//! and anything is false, true or anything is true). The caller sees
//! unknown as false. This keeps `not (a = b)` and `a != b` equivalent.

use std::borrow::Cow;
use std::cmp::Ordering;

use super::ast::{CmpOp, Literal, Node, Operand};
use super::value::{Context, Value};

/// `Some(true)`, `Some(false)` or unknown.
type Truth = Option<bool>;

impl Node {
    pub(super) fn eval<C: Context + ?Sized>(&self, ctx: &C) -> Truth {
        match self {
            Node::Bool(b) => Some(*b),
            Node::Path(p) => match ctx.resolve(p) {
                Value::Bool(b) => Some(b),
                _ => None,
            },
            Node::Not(n) => n.eval(ctx).map(|b| !b),
            Node::And(nodes) => {
                let mut all = Some(true);
                for n in nodes {
                    match n.eval(ctx) {
                        Some(false) => return Some(false),
                        None => all = None,
                        Some(true) => {}
                    }
                }
                all
            }
            Node::Or(nodes) => {
                let mut any = Some(false);
                for n in nodes {
                    match n.eval(ctx) {
                        Some(true) => return Some(true),
                        None => any = None,
                        Some(false) => {}
                    }
                }
                any
            }
            Node::Compare { left, op, right } => compare(*op, &left.value(ctx), &right.value(ctx)),
            Node::IsNull { operand, negated } => {
                Some(matches!(operand.value(ctx), Value::Null) != *negated)
            }
            Node::In {
                operand,
                list,
                negated,
            } => {
                let value = operand.value(ctx);
                let mut found = Some(false);
                for literal in list.iter() {
                    let equal = match literal {
                        Literal::Null => Some(matches!(value, Value::Null)),
                        _ => compare(CmpOp::Eq, &value, &literal.value()),
                    };
                    match equal {
                        Some(true) => {
                            found = Some(true);
                            break;
                        }
                        None => found = None,
                        Some(false) => {}
                    }
                }
                found.map(|b| b != *negated)
            }
        }
    }
}

impl Operand {
    fn value<'a, C: Context + ?Sized>(&'a self, ctx: &'a C) -> Value<'a> {
        match self {
            Operand::Path(p) => ctx.resolve(p),
            Operand::Literal(l) => l.value(),
        }
    }
}

impl Literal {
    fn value(&self) -> Value<'_> {
        match self {
            Literal::Null => Value::Null,
            Literal::Bool(b) => Value::Bool(*b),
            Literal::Int(i) => Value::Int(*i),
            Literal::Float(x) => Value::Float(*x),
            Literal::Str(s) => Value::Str(Cow::Borrowed(s)),
        }
    }
}

/// Compares two present values of the same kind; numbers compare across
/// `Int` and `Float`, booleans only for equality.
fn compare(op: CmpOp, left: &Value<'_>, right: &Value<'_>) -> Truth {
    let ordering = match (left, right) {
        (Value::Bool(l), Value::Bool(r)) if !op.is_ordering() => l.cmp(r),
        (Value::Str(l), Value::Str(r)) => l.cmp(r),
        (Value::Int(l), Value::Int(r)) => l.cmp(r),
        (Value::Float(l), Value::Float(r)) => l.partial_cmp(r)?,
        (Value::Int(l), Value::Float(r)) => int_float(*l, *r)?,
        (Value::Float(l), Value::Int(r)) => int_float(*r, *l)?.reverse(),
        _ => return None,
    };
    Some(match op {
        CmpOp::Eq => ordering.is_eq(),
        CmpOp::Ne => ordering.is_ne(),
        CmpOp::Lt => ordering.is_lt(),
        CmpOp::Le => ordering.is_le(),
        CmpOp::Gt => ordering.is_gt(),
        CmpOp::Ge => ordering.is_ge(),
    })
}

/// Orders an integer against a float exactly, without rounding the integer
/// to the nearest float (which would make 2^53 + 1 equal 2^53). NaN has no
/// order.
fn int_float(i: i64, x: f64) -> Option<Ordering> {
    /// 2^63, the first float above every i64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if x.is_nan() {
        return None;
    }
    if x >= LIMIT {
        return Some(Ordering::Less);
    }
    if x < -LIMIT {
        return Some(Ordering::Greater);
    }
    // In [-2^63, 2^63) the whole part of x is exactly an i64.
    let whole = x.trunc();
    match i.cmp(&(whole as i64)) {
        Ordering::Equal => 0.0_f64.partial_cmp(&(x - whole)),
        unequal => Some(unequal),
    }
}
