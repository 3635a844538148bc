//! Rejected expressions: the message, and the line and column it points at.

use super::super::{MAX_DEPTH, MAX_SOURCE_LEN, ParseError};
use super::{error, expr};

/// Asserts that `src` fails at `line`:`column` with a message containing
/// `message`.
#[track_caller]
fn fails_at(src: &str, line: usize, column: usize, message: &str) {
    let e = error(src);
    assert_eq!(
        (e.line, e.column),
        (line, column),
        "position for {src:?} ({e})"
    );
    assert!(
        e.message.contains(message),
        "message for {src:?} should contain {message:?}: {e}"
    );
}

#[test]
fn displays_as_line_column_and_message() {
    let e = error("priority >= )");
    assert_eq!(
        e,
        ParseError {
            line: 1,
            column: 13,
            message: "expected a value after '>='".into(),
        }
    );
    assert_eq!(
        e.to_string(),
        "line 1, column 13: expected a value after '>='"
    );
    let as_std: &dyn std::error::Error = &e;
    assert!(as_std.source().is_none());
}

#[test]
fn missing_right_operand_points_at_what_came_instead() {
    fails_at("priority >=", 1, 12, "expected a value after '>='");
    fails_at("a <> and", 1, 6, "expected a value after '<>'");
    fails_at("a = (1)", 1, 5, "expected a value after '='");
}

#[test]
fn positions_count_lines_and_characters() {
    fails_at(
        "priority >= 5\nand properties.segment = \n  )",
        3,
        3,
        "expected a value after '='",
    );
    // A string spanning lines moves the line count on.
    fails_at("a = 'x\ny' and\n b >", 3, 5, "expected a value after '>'");
    // Columns count characters, not bytes.
    fails_at("名前 = 'é' ?", 1, 10, "unexpected character '?'");
    fails_at("a = 1\r\nor #", 2, 4, "unexpected character '#'");
    fails_at(
        "  \n  ",
        2,
        3,
        "expected a condition, found the end of the expression",
    );
}

#[test]
fn empty_input_needs_a_condition() {
    fails_at("", 1, 1, "expected a condition");
}

#[test]
fn lexical_errors() {
    fails_at("a = 'abc", 1, 5, "unterminated string");
    fails_at("\"abc = 1", 1, 1, "unterminated quoted name");
    fails_at("a.\"\" = 1", 1, 3, "quoted name may not be empty");
    fails_at("a ! b", 1, 3, "unexpected '!'");
    fails_at(
        "a = - 1",
        1,
        5,
        "'-' must be directly followed by the digits",
    );
    fails_at("a = 5abc", 1, 6, "unexpected 'a' after a number");
    fails_at("a = 1.", 1, 7, "expected digits after the decimal point");
    fails_at("a = 1.x", 1, 7, "expected digits after the decimal point");
    fails_at("a = 1.2.3", 1, 8, "unexpected '.' after a number");
    fails_at("a. = 1", 1, 3, "expected a name after '.'");
    fails_at("a..b = 1", 1, 3, "expected a name after '.'");
    fails_at("x = 1 # comment", 1, 7, "unexpected character '#'");
    fails_at("null.x = 1", 1, 1, "'null' is a reserved word");
    fails_at("x = 99999999999999999999", 1, 5, "integer out of range");
    fails_at("x = -9223372036854775809", 1, 5, "integer out of range");
    let huge = format!("x = 1{}.0", "0".repeat(400));
    fails_at(&huge, 1, 5, "number out of range");
}

#[test]
fn structural_errors() {
    fails_at(
        "a = 1 )",
        1,
        7,
        "expected 'and', 'or' or the end of the expression, found ')'",
    );
    fails_at("a = 1 b", 1, 7, "found 'b'");
    fails_at(
        "(a = 1\n and b",
        2,
        7,
        "expected ')' to close the '(' at line 1, column 1",
    );
    fails_at("a and", 1, 6, "expected a condition, found the end");
    fails_at("or a", 1, 1, "expected a condition, found 'or'");
    fails_at("a = 1 and = 2", 1, 11, "expected a condition, found '='");
    fails_at("()", 1, 2, "expected a condition, found ')'");
    fails_at("a = b = c", 1, 7, "found '='");
}

#[test]
fn a_literal_alone_is_not_a_condition() {
    fails_at("5", 1, 2, "expected a comparison operator after 5");
    fails_at(
        "a = 1 and 'gold'",
        1,
        17,
        "expected a comparison operator after 'gold'",
    );
    fails_at("null", 1, 5, "expected a comparison operator after null");
    fails_at("not 5", 1, 5, "expected a condition after 'not'");
}

#[test]
fn not_must_be_parenthesised_to_negate_a_comparison() {
    fails_at("not a = 1", 1, 7, "'not' binds tighter than '='");
    fails_at("not a in (1)", 1, 7, "'not' binds tighter than 'in'");
    fails_at(
        "x and not not a >= 1",
        1,
        17,
        "'not' binds tighter than '>='",
    );
    fails_at("not (a) = 1", 1, 9, "'not' binds tighter than '='");
    fails_at(
        "(a or b) = true",
        1,
        10,
        "a condition in parentheses cannot be the left side of '='",
    );
}

#[test]
fn in_list_errors() {
    fails_at("a in ()", 1, 7, "expected a value in the list, found ')'");
    fails_at("a in (1,)", 1, 9, "expected a value in the list");
    fails_at("a in (1 2)", 1, 9, "expected ',' or ')' in the list");
    fails_at(
        "a in (1",
        1,
        8,
        "expected ',' or ')' in the list, found the end",
    );
    fails_at("a in 1", 1, 6, "expected '(' after 'in'");
    fails_at("a not in 1", 1, 10, "expected '(' after 'not in'");
    fails_at(
        "a in (b)",
        1,
        7,
        "may contain only literal values, not names",
    );
    fails_at("a not b", 1, 7, "expected 'in' after 'not'");
}

#[test]
fn null_and_booleans_only_take_equality() {
    fails_at("a < null", 1, 3, "'<' cannot be used with null");
    fails_at("null >= a", 1, 6, "'>=' cannot be used with null");
    fails_at("a > true", 1, 3, "'>' cannot be used with true or false");
    fails_at("false <= a", 1, 7, "'<=' cannot be used with true or false");
}

#[test]
fn nesting_is_limited_without_exhausting_the_stack() {
    let parens = |n: usize| format!("{}a{}", "(".repeat(n), ")".repeat(n));
    expr(&parens(MAX_DEPTH));
    fails_at(
        &parens(MAX_DEPTH + 1),
        1,
        MAX_DEPTH + 1,
        "nested too deeply",
    );

    let nots = |n: usize| format!("{}a", "not ".repeat(n));
    expr(&nots(MAX_DEPTH));
    fails_at(
        &nots(MAX_DEPTH + 1),
        1,
        4 * MAX_DEPTH + 1,
        "nested too deeply",
    );

    let mixed = |n: usize| format!("{}a{}", "not (".repeat(n), ")".repeat(n));
    expr(&mixed(MAX_DEPTH / 2));
    fails_at(
        &mixed(MAX_DEPTH / 2 + 1),
        1,
        5 * (MAX_DEPTH / 2) + 1,
        "nested too deeply",
    );

    // As deep as the length limit allows, unbalanced.
    fails_at(
        &"(".repeat(MAX_SOURCE_LEN),
        1,
        MAX_DEPTH + 1,
        "nested too deeply",
    );
}

#[test]
fn long_flat_chains_are_fine() {
    let src = vec!["a"; MAX_SOURCE_LEN / 5].join(" or ");
    assert!(src.len() <= MAX_SOURCE_LEN);
    assert_eq!(expr(&src).to_string(), src);
}

#[test]
fn source_length_is_limited() {
    // Exactly at the limit: a string literal filling it.
    let at_limit = format!("x = '{}'", "y".repeat(MAX_SOURCE_LEN - 6));
    assert_eq!(at_limit.len(), MAX_SOURCE_LEN);
    expr(&at_limit);

    let over = format!("x = '{}'", "y".repeat(MAX_SOURCE_LEN - 5));
    fails_at(&over, 1, MAX_SOURCE_LEN + 1, "expression too long");

    // The position is counted in characters, on the right line.
    let multibyte = format!("a = 1 or\nb = '{}'", "é".repeat(MAX_SOURCE_LEN));
    let e = error(&multibyte);
    assert_eq!(e.line, 2);
    // "a = 1 or\n" and "b = '" take 14 bytes, each 'é' two.
    assert_eq!(e.column, 6 + (MAX_SOURCE_LEN - 14) / 2);

    // Huge input is refused before being read.
    fails_at(
        &"(".repeat(1 << 20),
        1,
        MAX_SOURCE_LEN + 1,
        "expression too long",
    );
}

#[test]
fn canonical_form_must_also_fit_the_limit() {
    // "a=1 or " is 7 bytes and prints as "a = 1 or ", 9 bytes.
    let src = vec!["a=1"; MAX_SOURCE_LEN / 7].join(" or ");
    assert!(src.len() <= MAX_SOURCE_LEN);
    let e = error(&src);
    assert!(e.message.contains("canonical form"), "{e}");

    let fits = vec!["a=1"; MAX_SOURCE_LEN / 9].join(" or ");
    assert!(expr(&fits).to_string().len() <= MAX_SOURCE_LEN);
}
