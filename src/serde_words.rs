//! serde's error messages in an operator's words: "must be an integer"
//! rather than "invalid type: string \"x\", expected i64". The settings
//! files and the JSON bodies of both APIs say what they expect this way.
//!
//! serde's messages are fixed phrases (`unknown field`, `missing field`,
//! `unknown variant`, `invalid type`, `invalid value`); anything else is a
//! type's own message and is kept as it is.

/// The format a value was written in: it decides what a map and a list are
/// called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Toml,
    Json,
}

/// What a serde data error says is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Complaint {
    /// A key that is not one of `expected`.
    UnknownField {
        field: String,
        expected: Vec<String>,
    },
    /// A required key is absent.
    MissingField(String),
    /// The value is wrong; `reason` says what it must be ("must be an
    /// integer").
    Value(String),
}

/// Reads serde's `message` (without serde_json's " at line L column C").
pub fn classify(message: &str, dialect: Dialect) -> Complaint {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, rest) = rest.split_once('`').unwrap_or((rest, ""));
        return Complaint::UnknownField {
            field: field.to_owned(),
            expected: quoted(rest),
        };
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or(rest);
        return Complaint::MissingField(field.to_owned());
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (variant, rest) = rest.split_once('`').unwrap_or((rest, ""));
        let allowed: Vec<String> = quoted(rest).iter().map(|v| format!("\"{v}\"")).collect();
        return Complaint::Value(format!("must be {}, not \"{variant}\"", either(&allowed)));
    }
    // A struct written as a list ("invalid length 0, expected struct X with
    // 4 elements") is refused as not written as a table.
    if let Some(rest) = message.strip_prefix("invalid length ") {
        if let Some((_, expected)) = rest.split_once(", expected ") {
            let expected = if expected.starts_with("struct ") {
                "a map"
            } else {
                expected
            };
            return Complaint::Value(format!("must be {}", expected_words(expected, dialect)));
        }
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            if let Some((_, expected)) = rest.rsplit_once(", expected ") {
                return Complaint::Value(format!("must be {}", expected_words(expected, dialect)));
            }
        }
    }
    if message == "invalid socket address syntax" {
        return Complaint::Value(format!(
            "must be {}",
            expected_words("socket address", dialect)
        ));
    }
    Complaint::Value(message.to_owned())
}

/// The names between backticks in `text`: serde's list of what it expected.
fn quoted(text: &str) -> Vec<String> {
    text.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, name)| name.to_owned())
        .collect()
}

/// `a`, `a or b`, `a, b or c`.
pub fn either(items: &[String]) -> String {
    match items {
        [] => "nothing".to_owned(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// What serde calls an expected type, as an operator would say it.
fn expected_words(expected: &str, dialect: Dialect) -> String {
    let (map, list, string) = match dialect {
        Dialect::Toml => ("a table", "a list", "a string in quotes"),
        Dialect::Json => ("an object", "an array", "a string"),
    };
    match expected {
        "u8" => "a whole number from 0 to 255".to_owned(),
        "u16" => "a whole number from 0 to 65535".to_owned(),
        "u32" => "a whole number from 0 to 4294967295".to_owned(),
        "u64" | "u128" | "usize" => "a whole number (0 or more)".to_owned(),
        "i32" => "an integer from -2147483648 to 2147483647".to_owned(),
        "i8" | "i16" | "i64" | "i128" | "isize" => "an integer".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "a boolean" => "true or false".to_owned(),
        "a string" | "a borrowed string" | "path string" | "a string or bytes" => string.to_owned(),
        "a character" => "a single character".to_owned(),
        "a duration" => "a duration such as \"10s\", \"5m\", \"8h\" or \"30days\"".to_owned(),
        "socket address" => "an address and port such as \"127.0.0.1:7201\"".to_owned(),
        "a map" => map.to_owned(),
        "a sequence" | "a tuple" => list.to_owned(),
        other if other.starts_with("struct ") => map.to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(message: &str, dialect: Dialect) -> String {
        match classify(message, dialect) {
            Complaint::Value(reason) => reason,
            other => panic!("not a value complaint: {other:?}"),
        }
    }

    #[test]
    fn types_are_named_in_plain_words() {
        let cases = [
            (
                "invalid type: string \"x\", expected i64",
                "must be an integer",
            ),
            (
                "invalid value: integer `-1`, expected u32",
                "must be a whole number from 0 to 4294967295",
            ),
            (
                "invalid type: integer `1`, expected a boolean",
                "must be true or false",
            ),
            (
                "invalid value: string \"3 bananas\", expected a duration",
                "must be a duration such as \"10s\", \"5m\", \"8h\" or \"30days\"",
            ),
            (
                "invalid socket address syntax",
                "must be an address and port such as \"127.0.0.1:7201\"",
            ),
            (
                "unknown variant `exot`, expected `exit` or `wait`",
                "must be \"exit\" or \"wait\", not \"exot\"",
            ),
            (
                "unknown variant `x`, expected one of `a`, `b`, `c`",
                "must be \"a\", \"b\" or \"c\", not \"x\"",
            ),
            ("something a type says", "something a type says"),
        ];
        for (message, expected) in cases {
            assert_eq!(value(message, Dialect::Toml), expected, "{message}");
        }
        assert_eq!(
            value(
                "invalid type: integer `5`, expected struct Db",
                Dialect::Toml
            ),
            "must be a table"
        );
        assert_eq!(
            value("invalid type: integer `5`, expected a map", Dialect::Json),
            "must be an object"
        );
        assert_eq!(
            value(
                "invalid type: integer `5`, expected a string",
                Dialect::Json
            ),
            "must be a string"
        );
    }

    #[test]
    fn keys_are_told_apart_from_values() {
        assert_eq!(
            classify(
                "unknown field `max_conections`, expected one of `url`, `max_connections`",
                Dialect::Toml
            ),
            Complaint::UnknownField {
                field: "max_conections".into(),
                expected: vec!["url".into(), "max_connections".into()],
            }
        );
        assert_eq!(
            classify("unknown field `x`, there are no fields", Dialect::Json),
            Complaint::UnknownField {
                field: "x".into(),
                expected: vec![],
            }
        );
        assert_eq!(
            classify("missing field `name`", Dialect::Json),
            Complaint::MissingField("name".into())
        );
    }
}
