//! What expressions mean.

use super::super::Value;
use super::{MapContext, expr, holds};

fn interaction() -> MapContext {
    MapContext::default()
        .with("priority", 7_i64)
        .with("age", 420_i64)
        .with("type", "inbound")
        .with("media_type", "chat")
        .with("properties.segment", "gold")
        .with("properties.score", 2.5)
        .with("properties.vip", true)
        .with("properties.blocked", false)
        .with("agent.skills.billing", 3_i64)
        .with("agent.skills.french", 0_i64)
}

#[track_caller]
fn check(ctx: &MapContext, cases: &[(&str, bool)]) {
    for &(src, expected) in cases {
        assert_eq!(holds(src, ctx), expected, "{src}");
    }
}

#[test]
fn product_examples() {
    let ctx = interaction();
    check(
        &ctx,
        &[
            (
                "priority >= 5 and properties.segment = 'gold' and media_type in ('chat','email')",
                true,
            ),
            (
                "agent.skills.billing >= 3 and agent.skills.french > 0",
                false,
            ),
            (
                "agent.skills.billing >= 3 and agent.skills.french >= 0",
                true,
            ),
            ("age > 300 or not (type = 'inbound')", true),
            ("age > 500 or not (type = 'inbound')", false),
            ("true", true),
            ("false", false),
            ("properties.vip != null", true),
            ("properties.missing != null", false),
        ],
    );
}

#[test]
fn equality_on_each_kind() {
    let ctx = interaction();
    check(
        &ctx,
        &[
            ("priority = 7", true),
            ("priority = 8", false),
            ("7 = priority", true),
            ("properties.segment = 'gold'", true),
            ("properties.segment = 'Gold'", false),
            ("properties.score = 2.5", true),
            ("properties.score = 2.4", false),
            ("properties.vip = true", true),
            ("properties.vip = false", false),
            ("priority != 8", true),
            ("priority != 7", false),
            ("priority <> 8", true),
            ("properties.segment != 'silver'", true),
            ("properties.segment <> 'gold'", false),
            ("properties.blocked != true", true),
        ],
    );
}

#[test]
fn ordering_on_numbers_and_strings() {
    let ctx = interaction();
    check(
        &ctx,
        &[
            ("priority < 8", true),
            ("priority < 7", false),
            ("priority <= 7", true),
            ("priority <= 6", false),
            ("priority > 6", true),
            ("priority > 7", false),
            ("priority >= 7", true),
            ("priority >= 8", false),
            ("properties.score > 2", true),
            ("properties.score < 3", true),
            ("properties.score >= 2.6", false),
            ("priority > 6.5", true),
            ("priority < 7.25", true),
            ("priority = 7.0", true),
            ("priority != 7.0", false),
            ("media_type < 'email'", true),
            ("media_type > 'email'", false),
            ("media_type >= 'chat'", true),
            ("media_type <= 'cha'", false),
            // By code point: upper case sorts before lower case.
            ("'B' < 'a'", true),
            ("'' < 'a'", true),
        ],
    );
}

#[test]
fn comparisons_across_kinds_do_not_hold_either_way() {
    let ctx = interaction();
    check(
        &ctx,
        &[
            ("priority = '7'", false),
            ("priority != '7'", false),
            ("not (priority = '7')", false),
            ("properties.vip = 1", false),
            ("properties.vip != 1", false),
            ("media_type > 1", false),
            ("media_type <= 1", false),
            ("properties.vip = properties.blocked", false),
            ("properties.vip != properties.blocked", true),
        ],
    );
}

#[test]
fn null_tests_presence_and_absent_values_compare_unknown() {
    let ctx = interaction().with("properties.nothing", Value::Null);
    check(
        &ctx,
        &[
            ("properties.vip = null", false),
            ("properties.missing = null", true),
            ("properties.nothing = null", true),
            ("properties.nothing != null", false),
            ("null = null", true),
            ("null != null", false),
            ("'x' = null", false),
            ("properties.missing = 1", false),
            ("properties.missing != 1", false),
            ("properties.missing < 1", false),
            ("properties.missing >= 1", false),
            ("not (properties.missing = 1)", false),
            ("properties.missing = properties.other", false),
            (
                "properties.missing != 'gold' or properties.missing = null",
                true,
            ),
        ],
    );
}

#[test]
fn in_and_not_in() {
    let ctx = interaction();
    check(
        &ctx,
        &[
            ("media_type in ('chat', 'email')", true),
            ("media_type in ('email', 'chat')", true),
            ("media_type in ('email', 'voice')", false),
            ("media_type not in ('email', 'voice')", true),
            ("media_type not in ('chat')", false),
            ("priority in (1, 7.0)", true),
            ("priority in (1, 2)", false),
            // Absent: unknown unless null is listed.
            ("properties.missing in ('a')", false),
            ("properties.missing not in ('a')", false),
            ("properties.missing in ('a', null)", true),
            ("properties.missing not in ('a', null)", false),
            ("media_type in (null)", false),
            ("media_type not in (null)", true),
            // A match decides even when other entries are of another kind...
            ("media_type in (1, 'chat')", true),
            ("media_type not in (1, 'chat')", false),
            // ...but without one the kind mismatch leaves it unknown.
            ("media_type in (1, 'email')", false),
            ("media_type not in (1, 'email')", false),
        ],
    );
}

#[test]
fn identifiers_alone_hold_only_when_true() {
    let ctx = interaction();
    check(
        &ctx,
        &[
            ("properties.vip", true),
            ("not properties.vip", false),
            ("properties.blocked", false),
            ("not properties.blocked", true),
            ("priority", false),
            ("not priority", false),
            ("properties.missing", false),
            ("not properties.missing", false),
        ],
    );
}

#[test]
fn boolean_connectives_follow_three_valued_logic() {
    let ctx = interaction();
    // `u` is unknown: the identifier is absent.
    let u = "properties.missing = 1";
    let cases: Vec<(String, bool)> = vec![
        ("true and true".into(), true),
        ("true and false".into(), false),
        ("false and true".into(), false),
        ("true or false".into(), true),
        ("false or true".into(), true),
        ("false or false".into(), false),
        ("not true".into(), false),
        ("not false".into(), true),
        ("not not true".into(), true),
        (format!("{u} or true"), true),
        (format!("true or {u}"), true),
        (format!("{u} or false"), false),
        (format!("not ({u} or false)"), false),
        (format!("not ({u} and false)"), true),
        (format!("not (false and {u})"), true),
        (format!("not ({u} and true)"), false),
        (format!("not ({u} or true)"), false),
    ];
    for (src, expected) in cases {
        assert_eq!(holds(&src, &ctx), expected, "{src}");
    }
}

#[test]
fn precedence_shows_in_results() {
    let ctx = MapContext::default();
    // If `or` bound tighter than `and` this would be false.
    assert!(holds("true or false and false", &ctx));
    // If `not` applied to the whole `and` this would be true.
    assert!(!holds("not false and false", &ctx));
    assert!(holds("(true or false) and true", &ctx));
    assert!(!holds("(true or false) and false", &ctx));
}

#[test]
fn numbers_compare_exactly_across_int_and_float() {
    let two_53 = 9_007_199_254_740_992_i64;
    let ctx = MapContext::default()
        .with("big", two_53 + 1)
        .with("max", i64::MAX)
        .with("min", i64::MIN)
        .with("nan", f64::NAN)
        .with("inf", f64::INFINITY)
        .with("neg_half", -0.5)
        .with("neg_zero", -0.0);
    check(
        &ctx,
        &[
            // 2^53 + 1 rounds to 2^53 as a float, yet is greater.
            ("big > 9007199254740992.0", true),
            ("big = 9007199254740992.0", false),
            ("big = 9007199254740993", true),
            // i64::MAX is below 2^63.
            ("max < 9223372036854775808.0", true),
            ("max >= 9223372036854775808.0", false),
            ("min = -9223372036854775808.0", true),
            ("min > -9223372036854777856.0", true),
            ("neg_half < 0", true),
            ("neg_half > -1", true),
            ("neg_half = 0", false),
            ("neg_zero = 0", true),
            ("neg_zero = 0.0", true),
            ("inf > max", true),
            ("min < inf", true),
            ("nan = nan", false),
            ("nan != nan", false),
            ("nan < 1", false),
            ("nan >= 1", false),
            ("nan > 0.5", false),
        ],
    );
}

#[test]
fn borrowed_values_need_no_copy() {
    struct Borrowing {
        segment: String,
    }
    impl super::Context for Borrowing {
        fn resolve(&self, path: &[String]) -> Value<'_> {
            match path {
                [p, key] if p == "properties" && key == "segment" => {
                    Value::from(self.segment.as_str())
                }
                _ => Value::Null,
            }
        }
    }
    let e = expr("properties.segment = 'gold'");
    assert!(e.eval(&Borrowing {
        segment: "gold".into()
    }));
    assert!(!e.eval(&Borrowing {
        segment: "silver".into()
    }));
    // Evaluation also works through a trait object.
    let dynamic: &dyn super::Context = &Borrowing {
        segment: "gold".into(),
    };
    assert!(e.eval(dynamic));
}
