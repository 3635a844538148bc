//! What parses, into which structure, and how it prints back.

use super::super::ast::{CmpOp, Literal, Node, Operand};
use super::{canonical, expr, split};

fn path(p: &str) -> Operand {
    Operand::Path(split(p).into_boxed_slice())
}

fn int(i: i64) -> Operand {
    Operand::Literal(Literal::Int(i))
}

fn cond(p: &str) -> Node {
    Node::Path(split(p).into_boxed_slice())
}

#[test]
fn product_examples_parse_to_their_canonical_form() {
    for (src, canon) in [
        (
            "priority >= 5 and properties.segment = 'gold' and media_type in ('chat','email')",
            "priority >= 5 and properties.segment = 'gold' and media_type in ('chat', 'email')",
        ),
        (
            "agent.skills.billing >= 3 and agent.skills.french > 0",
            "agent.skills.billing >= 3 and agent.skills.french > 0",
        ),
        (
            "age > 300 or not (type = 'inbound')",
            "age > 300 or not (type = 'inbound')",
        ),
        ("true", "true"),
        ("properties.vip != null", "properties.vip != null"),
    ] {
        assert_eq!(canonical(src), canon, "for {src:?}");
    }
}

#[test]
fn keywords_are_case_insensitive_identifiers_are_not() {
    assert_eq!(
        canonical("Age > 300 OR Not (Type = 'inbound') AnD x In (TRUE, False, NULL)"),
        "Age > 300 or not (Type = 'inbound') and x in (true, false, null)"
    );
    assert_ne!(expr("age = 1"), expr("AGE = 1"));
}

#[test]
fn every_comparison_operator_parses_and_not_equal_has_two_spellings() {
    for (op, node_op) in [
        ("=", CmpOp::Eq),
        ("!=", CmpOp::Ne),
        ("<>", CmpOp::Ne),
        ("<", CmpOp::Lt),
        ("<=", CmpOp::Le),
        (">", CmpOp::Gt),
        (">=", CmpOp::Ge),
    ] {
        let parsed = expr(&format!("priority{op}5"));
        assert_eq!(
            parsed.root,
            Node::Compare {
                left: path("priority"),
                op: node_op,
                right: int(5),
            },
            "for {op}"
        );
    }
    assert_eq!(canonical("a <> 1"), "a != 1");
}

#[test]
fn in_and_not_in_hold_literal_lists() {
    assert_eq!(
        expr("media_type not in ('chat', -2, 1.5, true, null)").root,
        Node::In {
            operand: path("media_type"),
            list: vec![
                Literal::Str("chat".into()),
                Literal::Int(-2),
                Literal::Float(1.5),
                Literal::Bool(true),
                Literal::Null,
            ]
            .into_boxed_slice(),
            negated: true,
        }
    );
    assert_eq!(canonical("x IN(1)"), "x in (1)");
    assert_eq!(canonical("x NOT   IN(1,2)"), "x not in (1, 2)");
}

#[test]
fn or_binds_looser_than_and() {
    assert_eq!(expr("a or b and c"), expr("a or (b and c)"));
    assert_ne!(expr("a or b and c"), expr("(a or b) and c"));
    assert_eq!(
        expr("a = 1 and b = 2 or c = 3"),
        expr("(a = 1 and b = 2) or c = 3")
    );
    assert_eq!(
        expr("a or b and c").root,
        Node::Or(vec![cond("a"), Node::And(vec![cond("b"), cond("c")])])
    );
}

#[test]
fn and_binds_looser_than_comparison() {
    assert_eq!(
        expr("a = 1 and b").root,
        Node::And(vec![
            Node::Compare {
                left: path("a"),
                op: CmpOp::Eq,
                right: int(1),
            },
            cond("b"),
        ])
    );
}

#[test]
fn not_binds_tightest() {
    assert_eq!(expr("not a and b"), expr("(not a) and b"));
    assert_ne!(expr("not a and b"), expr("not (a and b)"));
    assert_eq!(expr("not a or b"), expr("(not a) or b"));
    assert_eq!(
        expr("not not a").root,
        Node::Not(Box::new(Node::Not(Box::new(cond("a")))))
    );
    // The comparison must be parenthesised to be negated.
    assert_eq!(
        expr("not (a = 1)").root,
        Node::Not(Box::new(Node::Compare {
            left: path("a"),
            op: CmpOp::Eq,
            right: int(1),
        }))
    );
}

#[test]
fn chains_are_flat_but_parentheses_are_kept_where_they_group() {
    assert_eq!(
        expr("a and b and c").root,
        Node::And(vec![cond("a"), cond("b"), cond("c")])
    );
    assert_eq!(canonical("((a)) and (((b = 1)))"), "a and b = 1");
    assert_eq!(canonical("(a and b) and c"), "(a and b) and c");
    assert_eq!(canonical("a or (b or c)"), "a or (b or c)");
    assert_eq!(
        canonical("(a or b) and not (c and d)"),
        "(a or b) and not (c and d)"
    );
}

#[test]
fn literals_read_as_written() {
    let lit = |src: &str| match expr(&format!("x = {src}")).root {
        Node::Compare {
            right: Operand::Literal(l),
            ..
        } => l,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(lit("42"), Literal::Int(42));
    assert_eq!(lit("007"), Literal::Int(7));
    assert_eq!(lit("-7"), Literal::Int(-7));
    assert_eq!(lit("9223372036854775807"), Literal::Int(i64::MAX));
    assert_eq!(lit("-9223372036854775808"), Literal::Int(i64::MIN));
    assert_eq!(lit("2.50"), Literal::Float(2.5));
    assert_eq!(lit("-0.25"), Literal::Float(-0.25));
    assert_eq!(lit("3.0"), Literal::Float(3.0));
    assert_eq!(lit("'it''s'"), Literal::Str("it's".into()));
    assert_eq!(lit("''''''"), Literal::Str("''".into()));
    assert_eq!(lit("''"), Literal::Str("".into()));
    assert_eq!(lit("'two\nlines'"), Literal::Str("two\nlines".into()));
    assert_eq!(lit("true"), Literal::Bool(true));
    assert_eq!(lit("FALSE"), Literal::Bool(false));
}

#[test]
fn numbers_print_so_that_they_read_back_as_the_same_kind() {
    assert_eq!(canonical("x = 3.0"), "x = 3.0");
    assert_eq!(canonical("x = 2.50"), "x = 2.5");
    assert_eq!(canonical("x = -0.0"), "x = -0.0");
    assert_eq!(canonical("x = 007"), "x = 7");
    assert_eq!(canonical("x = 0.000001"), "x = 0.000001");
    for src in [
        format!("x = {}.0", f64::MAX),
        format!("x = {}", f64::MIN_POSITIVE),
        format!("x = {}", 5e-324),
        format!("x = {}", i64::MIN),
    ] {
        let parsed = expr(&src);
        assert_eq!(expr(&parsed.to_string()), parsed, "for {src}");
    }
}

#[test]
fn identifiers_are_dotted_paths_with_quoted_segments_when_needed() {
    assert_eq!(
        expr("properties.\"order-id\" = 1").root,
        Node::Compare {
            left: Operand::Path(vec!["properties".into(), "order-id".into()].into_boxed_slice()),
            op: CmpOp::Eq,
            right: int(1),
        }
    );
    assert_eq!(canonical("\"priority\" = 1"), "priority = 1");
    assert_eq!(canonical("\"and\" = 1"), "\"and\" = 1");
    assert_eq!(canonical("\"3d\" = 1"), "\"3d\" = 1");
    assert_eq!(canonical("agent.skills.3d > 0"), "agent.skills.3d > 0");
    assert_eq!(canonical("properties.and = 1"), "properties.and = 1");
    assert_eq!(
        canonical("properties.\"a\"\"b\" = 1"),
        "properties.\"a\"\"b\" = 1"
    );
    assert_eq!(
        canonical("properties.\"a.b\" = 1"),
        "properties.\"a.b\" = 1"
    );
    assert_eq!(
        canonical("propriétés.ville = 'Zürich'"),
        "propriétés.ville = 'Zürich'"
    );
    assert_ne!(expr("properties.\"a.b\" = 1"), expr("properties.a.b = 1"));
}

#[test]
fn null_comparisons_become_presence_tests() {
    let is_null = |operand, negated| Node::IsNull { operand, negated };
    assert_eq!(expr("a = null").root, is_null(path("a"), false));
    assert_eq!(expr("null = a").root, is_null(path("a"), false));
    assert_eq!(expr("a <> NULL").root, is_null(path("a"), true));
    assert_eq!(canonical("null != a"), "a != null");
    assert_eq!(canonical("null = null"), "null = null");
}

#[test]
fn literal_and_bare_conditions() {
    assert_eq!(expr("true").root, Node::Bool(true));
    assert_eq!(
        expr("not false").root,
        Node::Not(Box::new(Node::Bool(false)))
    );
    assert_eq!(expr("properties.vip").root, cond("properties.vip"));
    assert_eq!(canonical("1 = priority"), "1 = priority");
    assert_eq!(canonical("true = properties.vip"), "true = properties.vip");
}

#[test]
fn whitespace_is_free_between_tokens() {
    assert_eq!(
        canonical("\n\t priority>=5\r\n AND\u{a0}(a=1)  "),
        "priority >= 5 and a = 1"
    );
    assert_eq!(canonical("x in(1,2)and y"), "x in (1, 2) and y");
}

#[test]
fn paths_lists_every_identifier_in_source_order() {
    let e = expr(
        "priority >= 5 and (agent.skills.billing > properties.min or not vip) \
         and media_type in ('chat') and priority != null and 1 = 1",
    );
    let paths: Vec<Vec<String>> = e.paths().map(<[String]>::to_vec).collect();
    assert_eq!(
        paths,
        vec![
            split("priority"),
            split("agent.skills.billing"),
            split("properties.min"),
            split("vip"),
            split("media_type"),
            split("priority"),
        ]
    );
    assert_eq!(expr("true and 1 < 2").paths().count(), 0);
}

#[test]
fn from_str_matches_parse() {
    let e: super::Expr = "a = 1".parse().expect("parses");
    assert_eq!(e, expr("a = 1"));
    assert!("a =".parse::<super::Expr>().is_err());
}

#[test]
fn serde_uses_the_canonical_string() {
    let e = expr("priority>=5 AND media_type IN ('chat')");
    let json = serde_json::to_string(&e).expect("serialises");
    assert_eq!(json, r#""priority >= 5 and media_type in ('chat')""#);
    let back: super::Expr = serde_json::from_str(&json).expect("deserialises");
    assert_eq!(back, e);

    let err = serde_json::from_str::<super::Expr>(r#""priority >=""#)
        .expect_err("an invalid expression is refused");
    assert!(
        err.to_string()
            .contains("line 1, column 12: expected a value after '>='"),
        "{err}"
    );
    assert!(serde_json::from_str::<super::Expr>("5").is_err());
}
