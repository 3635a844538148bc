//! Reading a JSON request body so that every failure says what is wrong and
//! names the offending field. Shared by the instance's API and the
//! configuration server; each maps [`BodyError`] into its own error policy.

use crate::serde_words::{Complaint, Dialect, classify};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Why a body was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Not sent as `application/json`.
    UnsupportedMediaType,
    /// Larger than `limit` bytes.
    PayloadTooLarge { limit: usize },
    /// Not JSON at all.
    Malformed(String),
    /// JSON, but a field is missing, unknown or of the wrong type.
    InvalidField { field: String, message: String },
}

/// How much of a body declared too large is read and thrown away before
/// it is refused, and for how long at most.
const DRAIN_BYTES: usize = 4 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Reads the body of `req` (at most `limit` bytes, which the router's body
/// limit enforces) and deserializes it.
///
/// A body whose declared length is over the limit is read (up to
/// [`DRAIN_BYTES`], for [`DRAIN_TIME`] at most) and thrown away before the
/// refusal: answered while the client still sends it, the connection would
/// close with the body unread, the client's side would be reset, and the
/// client would see a broken connection instead of the `413`.
pub async fn read<T: DeserializeOwned, S: Send + Sync>(
    req: Request,
    state: &S,
    limit: usize,
) -> Result<T, BodyError> {
    let is_json = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let essence = v.split(';').next().unwrap_or("").trim();
            essence.eq_ignore_ascii_case("application/json")
        });
    if !is_json {
        return Err(BodyError::UnsupportedMediaType);
    }
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        drain(req).await;
        return Err(BodyError::PayloadTooLarge { limit });
    }
    let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            BodyError::PayloadTooLarge { limit }
        } else {
            BodyError::Malformed(format!("could not read the body: {rejection}"))
        }
    })?;
    parse(&bytes)
}

/// Reads and throws away what the client sends of `req`'s body, within
/// bounds.
async fn drain(req: Request) {
    let mut chunks = req.into_body().into_data_stream();
    let mut read = 0;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while let Some(Ok(chunk)) = chunks.next().await {
            read += chunk.len();
            if read > DRAIN_BYTES {
                break;
            }
        }
    })
    .await;
}

/// Deserializes `bytes`, turning serde's errors into field-naming ones.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BodyError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                BodyError::Malformed(format!("malformed JSON: {inner}"))
            }
            _ => field_error(&path, &inner.to_string()),
        }
    })?;
    deserializer
        .end()
        .map_err(|e| BodyError::Malformed(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// Names the field of a serde data error (its path, or the field a
/// `missing field`/`unknown field` message quotes) and says what is wrong in
/// plain words.
fn field_error(path: &str, message: &str) -> BodyError {
    // serde_json appends " at line L column C"; the field name says more.
    let message = message
        .rfind(" at line ")
        .map_or(message, |at| &message[..at]);
    let invalid = |field: String, message: &str| BodyError::InvalidField {
        message: format!("field '{field}': {message}"),
        field,
    };
    match classify(message, Dialect::Json) {
        Complaint::MissingField(field) => invalid(join(path, &field), "is required"),
        Complaint::UnknownField { field, .. } => {
            invalid(join(path, &field), "is not a known field")
        }
        Complaint::Value(reason) => {
            let field = if path == "." { "body" } else { path };
            invalid(field.to_owned(), &reason)
        }
    }
}

fn join(path: &str, field: &str) -> String {
    if path == "." || path.is_empty() || path == field || path.ends_with(&format!(".{field}")) {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        #[serde(default)]
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        level: u8,
    }

    fn field_of(error: BodyError) -> String {
        match error {
            BodyError::InvalidField { field, .. } => field,
            other => panic!("not a field error: {other:?}"),
        }
    }

    fn message_of(error: BodyError) -> String {
        match error {
            BodyError::InvalidField { message, .. } => message,
            other => panic!("not a field error: {other:?}"),
        }
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Typed {
        priority: Option<i64>,
        urgent: Option<bool>,
        tags: Option<Vec<String>>,
        level: Option<u8>,
    }

    #[test]
    fn what_a_field_must_be_is_said_in_plain_words() {
        let cases = [
            (
                r#"{"priority":"high"}"#,
                "field 'priority': must be an integer",
            ),
            (
                r#"{"priority":1.5}"#,
                "field 'priority': must be an integer",
            ),
            (
                r#"{"urgent":"yes"}"#,
                "field 'urgent': must be true or false",
            ),
            (r#"{"tags":"a"}"#, "field 'tags': must be an array"),
            (r#"{"tags":[1]}"#, "field 'tags[0]': must be a string"),
            (
                r#"{"level":300}"#,
                "field 'level': must be a whole number from 0 to 255",
            ),
            ("[]", "field 'body': must be an object"),
        ];
        for (body, expected) in cases {
            let error = parse::<Typed>(body.as_bytes()).unwrap_err();
            assert_eq!(message_of(error), expected, "{body}");
        }
        assert_eq!(
            message_of(parse::<Body>(br#"{"name":"a","nmae":"b"}"#).unwrap_err()),
            "field 'nmae': is not a known field"
        );
        assert_eq!(
            message_of(parse::<Body>(b"{}").unwrap_err()),
            "field 'name': is required"
        );
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(field_of(parse::<Body>(b"{}").unwrap_err()), "name");
        let unknown = parse::<Body>(br#"{"name":"a","nmae":"b"}"#).unwrap_err();
        assert_eq!(field_of(unknown), "nmae");
        assert_eq!(
            field_of(parse::<Body>(br#"{"name":1}"#).unwrap_err()),
            "name"
        );
        let nested = parse::<Body>(br#"{"name":"a","inner":{"level":"x"}}"#).unwrap_err();
        assert_eq!(field_of(nested), "inner.level");
        let missing = parse::<Body>(br#"{"name":"a","inner":{}}"#).unwrap_err();
        assert_eq!(field_of(missing), "inner.level");
        assert!(matches!(
            parse::<Body>(b"{").unwrap_err(),
            BodyError::Malformed(_)
        ));
        assert!(matches!(
            parse::<Body>(br#"{"name":"a"} x"#).unwrap_err(),
            BodyError::Malformed(_)
        ));
    }
}
