//! Properties over generated sources, trees and contexts: parsing never
//! panics and reports positions inside the source, printing and parsing are
//! inverse, and evaluation is total and logically consistent.

use proptest::prelude::*;

use super::super::ast::{CmpOp, Literal, Node, Operand, Path};
use super::super::{Expr, MAX_SOURCE_LEN, Value, parse};
use super::MapContext;

/// Checks what holds for any source: an error points inside it (or just past
/// its end), and an accepted expression prints to a source that parses back
/// to the same tree.
fn check_source(src: &str) -> Result<(), TestCaseError> {
    match parse(src) {
        Err(e) => {
            let lines: Vec<&str> = src.split('\n').collect();
            prop_assert!(e.line >= 1 && e.line <= lines.len(), "{e} for {src:?}");
            let width = lines[e.line - 1].chars().count();
            prop_assert!(e.column >= 1 && e.column <= width + 1, "{e} for {src:?}");
            prop_assert!(!e.message.is_empty());
        }
        Ok(expr) => {
            let printed = expr.to_string();
            prop_assert!(printed.len() <= MAX_SOURCE_LEN);
            let reparsed = parse(&printed);
            prop_assert_eq!(reparsed.as_ref(), Ok(&expr), "printed as {}", printed);
        }
    }
    Ok(())
}

/// Pieces that make up expressions, valid and not, to be strung together.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "and",
            "or",
            "not",
            "in",
            "true",
            "false",
            "null",
            "AND",
            "Not",
            "(",
            ")",
            ",",
            "=",
            "!=",
            "<>",
            "<",
            "<=",
            ">",
            ">=",
            "!",
            "-",
            ".",
            "'",
            "\"",
            "''",
            "\"\"",
            "priority",
            "properties.segment",
            "agent.skills.billing",
            "properties.\"a b\"",
            "null.x",
            "'gold'",
            "'it''s'",
            "0",
            "-1",
            "2.5",
            "1.",
            "99999999999999999999",
        ])
        .prop_map(str::to_owned),
        "[a-z_]{1,4}(\\.[a-z0-9_]{1,3}){0,2}",
        "-?[0-9]{1,4}(\\.[0-9]{0,3})?",
        "'[a-z' ]{0,4}'?",
        "\\PC",
    ]
}

fn separator() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![" ", " ", " ", "", "\n", "\t", "\r\n"])
}

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec((token(), separator()), 0..40).prop_map(|parts| {
        parts
            .into_iter()
            .flat_map(|(t, s)| [t, s.to_owned()])
            .collect()
    })
}

/// The canonical form of a generated tree, then cut, spliced and patched:
/// sources that are nearly valid reach deeper into the parser than random
/// tokens do.
fn mangled_source() -> impl Strategy<Value = String> {
    let edit = (
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        token(),
        0..4_u8,
    );
    (
        any_node(any_path(), any_literal()),
        prop::collection::vec(edit, 0..4),
    )
        .prop_map(|(node, edits)| {
            let mut chars: Vec<char> = Expr { root: node }.to_string().chars().collect();
            for (a, b, token, kind) in edits {
                let a = a.index(chars.len() + 1);
                let b = b.index(chars.len() + 1);
                let (from, to) = (a.min(b), a.max(b));
                match kind {
                    0 => {
                        chars.drain(from..to);
                    }
                    1 => {
                        chars.splice(a..a, token.chars());
                    }
                    2 => chars.truncate(a),
                    _ => {
                        let copy: Vec<char> = chars[from..to].to_vec();
                        chars.splice(to..to, copy);
                    }
                }
            }
            chars.into_iter().collect()
        })
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z_][a-z0-9_]{0,6}",
        1 => "[0-9][a-z0-9]{0,3}",
        1 => prop::sample::select(vec!["and", "OR", "Not", "in", "true", "False", "null"])
            .prop_map(str::to_owned),
        1 => "(?s).{1,5}",
    ]
}

fn any_path() -> BoxedStrategy<Path> {
    prop::collection::vec(segment(), 1..4)
        .prop_map(Vec::into_boxed_slice)
        .boxed()
}

fn any_literal() -> BoxedStrategy<Literal> {
    prop_oneof![
        Just(Literal::Null),
        any::<bool>().prop_map(Literal::Bool),
        any::<i64>().prop_map(Literal::Int),
        prop_oneof![
            -1e12..1e12_f64,
            -1.0..1.0_f64,
            (-1000_i32..1000).prop_map(f64::from),
            prop::sample::select(vec![
                -0.0,
                0.1,
                1e-9,
                123_456_789.125,
                9_007_199_254_740_993.0
            ]),
        ]
        .prop_map(Literal::Float),
        "(?s).{0,8}".prop_map(|s| Literal::Str(s.into())),
    ]
    .boxed()
}

fn operand(paths: BoxedStrategy<Path>, literals: BoxedStrategy<Literal>) -> BoxedStrategy<Operand> {
    prop_oneof![
        paths.prop_map(Operand::Path),
        literals.prop_map(Operand::Literal)
    ]
    .boxed()
}

fn cmp_op() -> impl Strategy<Value = CmpOp> {
    prop::sample::select(vec![
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ])
}

/// A tree as the parser could produce it: comparisons never involve the
/// `null` literal (that is `IsNull`), nor order booleans.
fn any_node(paths: BoxedStrategy<Path>, literals: BoxedStrategy<Literal>) -> BoxedStrategy<Node> {
    let operands = operand(paths.clone(), literals.clone());
    let not_null = operands
        .clone()
        .prop_filter("null compares as IsNull", |o| {
            !matches!(o, Operand::Literal(Literal::Null))
        });
    let compare = (not_null.clone(), cmp_op(), not_null).prop_map(|(left, op, right)| {
        let is_bool = |o: &Operand| matches!(o, Operand::Literal(Literal::Bool(_)));
        let op = if op.is_ordering() && (is_bool(&left) || is_bool(&right)) {
            CmpOp::Eq
        } else {
            op
        };
        Node::Compare { left, op, right }
    });
    let leaf = prop_oneof![
        1 => any::<bool>().prop_map(Node::Bool),
        1 => paths.prop_map(Node::Path),
        3 => compare,
        1 => (operands.clone(), any::<bool>())
            .prop_map(|(operand, negated)| Node::IsNull { operand, negated }),
        1 => (operands, prop::collection::vec(literals, 1..4), any::<bool>()).prop_map(
            |(operand, list, negated)| Node::In {
                operand,
                list: list.into_boxed_slice(),
                negated,
            }
        ),
    ];
    leaf.prop_recursive(5, 48, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|n| Node::Not(Box::new(n))),
            prop::collection::vec(inner.clone(), 2..5).prop_map(Node::And),
            prop::collection::vec(inner, 2..5).prop_map(Node::Or),
        ]
    })
    .boxed()
}

/// The identifiers evaluation tests read, so that contexts define them.
const POOL: [&str; 4] = ["a", "b", "properties.x", "agent.skills.y"];

fn pool_path() -> BoxedStrategy<Path> {
    prop::sample::select(POOL.to_vec())
        .prop_map(|p| super::split(p).into_boxed_slice())
        .boxed()
}

/// Literals close to the values in generated contexts, so comparisons go
/// both ways.
fn small_literal() -> BoxedStrategy<Literal> {
    prop_oneof![
        Just(Literal::Null),
        any::<bool>().prop_map(Literal::Bool),
        (-3_i64..3).prop_map(Literal::Int),
        prop::sample::select(vec![-1.5, 0.0, 0.5, 2.0]).prop_map(Literal::Float),
        prop::sample::select(vec!["", "a", "b", "gold"]).prop_map(|s| Literal::Str(s.into())),
    ]
    .boxed()
}

fn any_value() -> impl Strategy<Value = Value<'static>> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3_i64..3).prop_map(Value::Int),
        any::<i64>().prop_map(Value::Int),
        prop::sample::select(vec![-1.5, 0.0, -0.0, 0.5, 2.0]).prop_map(Value::Float),
        any::<f64>().prop_map(Value::Float),
        prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY])
            .prop_map(Value::Float),
        prop::sample::select(vec!["", "a", "b", "gold"]).prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ]
}

fn any_context() -> impl Strategy<Value = MapContext> {
    prop::collection::vec(prop::option::of(any_value()), POOL.len()).prop_map(|values| {
        POOL.iter()
            .zip(values)
            .fold(MapContext::default(), |ctx, (path, value)| match value {
                Some(v) => ctx.with(path, v),
                None => ctx,
            })
    })
}

fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        same => same,
    }
}

fn opposite(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Eq => CmpOp::Ne,
        CmpOp::Ne => CmpOp::Eq,
        CmpOp::Lt => CmpOp::Ge,
        CmpOp::Le => CmpOp::Gt,
        CmpOp::Gt => CmpOp::Le,
        CmpOp::Ge => CmpOp::Lt,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_never_panics_on_arbitrary_text(src in any::<String>()) {
        check_source(&src)?;
    }

    #[test]
    fn parse_never_panics_on_token_soup(src in token_soup()) {
        check_source(&src)?;
    }

    #[test]
    fn parse_never_panics_on_mangled_expressions(src in mangled_source()) {
        check_source(&src)?;
    }

    #[test]
    fn printing_then_parsing_gives_the_same_tree(node in any_node(any_path(), any_literal())) {
        let expr = Expr { root: node };
        let printed = expr.to_string();
        let reparsed = parse(&printed);
        prop_assert_eq!(reparsed.as_ref(), Ok(&expr), "printed as {}", printed);
        // The canonical form is a fixed point.
        prop_assert_eq!(reparsed.map(|e| e.to_string()), Ok(printed));
    }

    #[test]
    fn eval_is_total_and_consistent(
        node in any_node(pool_path(), small_literal()),
        other in any_node(pool_path(), small_literal()),
        ctx in any_context(),
    ) {
        let truth = node.eval(&ctx);
        let expr = Expr { root: node.clone() };
        prop_assert_eq!(expr.eval(&ctx), truth == Some(true));

        // The canonical form means the same.
        let reparsed = parse(&expr.to_string()).expect("canonical form parses");
        prop_assert_eq!(reparsed.root.eval(&ctx), truth);

        // A condition and its negation never both hold.
        let negated = Node::Not(Box::new(node.clone()));
        prop_assert_eq!(negated.eval(&ctx), truth.map(|b| !b));

        // De Morgan, in three-valued logic.
        let not = |n: &Node| Node::Not(Box::new(n.clone()));
        let not_and = not(&Node::And(vec![node.clone(), other.clone()]));
        let or_not = Node::Or(vec![not(&node), not(&other)]);
        prop_assert_eq!(not_and.eval(&ctx), or_not.eval(&ctx));
    }

    #[test]
    fn comparisons_are_symmetric_and_complementary(
        left in operand(pool_path(), small_literal()),
        right in operand(pool_path(), small_literal()),
        op in cmp_op(),
        ctx in any_context(),
    ) {
        let cmp = |left: &Operand, op, right: &Operand| Node::Compare {
            left: left.clone(),
            op,
            right: right.clone(),
        }
        .eval(&ctx);
        let truth = cmp(&left, op, &right);
        // a < b exactly when b > a.
        prop_assert_eq!(truth, cmp(&right, flip(op), &left));
        // a < b exactly when not a >= b, unless unknown.
        prop_assert_eq!(truth, cmp(&left, opposite(op), &right).map(|b| !b));
        // Known exactly when both sides are present and comparable.
        let value = |o: &Operand| match o {
            Operand::Path(p) => ctx.0.get(&p[..]).cloned().unwrap_or(Value::Null),
            Operand::Literal(l) => match l {
                Literal::Null => Value::Null,
                Literal::Bool(b) => Value::Bool(*b),
                Literal::Int(i) => Value::Int(*i),
                Literal::Float(x) => Value::Float(*x),
                Literal::Str(s) => Value::from(s.to_string()),
            },
        };
        let comparable = match (value(&left), value(&right)) {
            (Value::Bool(_), Value::Bool(_)) => !op.is_ordering(),
            (Value::Str(_), Value::Str(_)) | (Value::Int(_), Value::Int(_)) => true,
            (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
                !matches!(value(&left), Value::Float(x) if x.is_nan())
                    && !matches!(value(&right), Value::Float(x) if x.is_nan())
            }
            _ => false,
        };
        prop_assert_eq!(truth.is_some(), comparable);
    }

    #[test]
    fn in_is_a_chain_of_equalities(
        operand in operand(pool_path(), small_literal()),
        list in prop::collection::vec(small_literal(), 1..5),
        negated in any::<bool>(),
        ctx in any_context(),
    ) {
        let node = Node::In { operand: operand.clone(), list: list.clone().into_boxed_slice(), negated };
        let equalities = Node::Or(
            list.into_iter()
                .map(|l| match l {
                    Literal::Null => Node::IsNull { operand: operand.clone(), negated: false },
                    l => Node::Compare {
                        left: operand.clone(),
                        op: CmpOp::Eq,
                        right: Operand::Literal(l),
                    },
                })
                .collect(),
        );
        let expected = if negated {
            Node::Not(Box::new(equalities))
        } else {
            equalities
        };
        prop_assert_eq!(node.eval(&ctx), expected.eval(&ctx));
    }
}
