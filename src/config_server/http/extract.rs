//! Request extractors: the bearer token's caller, and a JSON body whose
//! errors name the offending field.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::{AppState, HttpError};
use crate::config_server::revisions::Revision;
use crate::config_server::sessions::{Refusal, Session, TokenHash};

/// The caller of a request with a valid bearer token, and the revision its
/// session was checked against: the handler answers from that revision.
pub struct Caller {
    pub token: TokenHash,
    pub session: Session,
    pub revision: Arc<Revision>,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HttpError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or(HttpError::MissingToken)?;
        let value = header
            .to_str()
            .map_err(|_| HttpError::Token(Refusal::Unknown))?;
        let (scheme, token) = value.split_once(' ').ok_or(HttpError::MissingToken)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(HttpError::MissingToken);
        }
        let token = TokenHash::of(token.trim()).ok_or(HttpError::Token(Refusal::Unknown))?;
        let revision = state.revisions.current();
        let session = state
            .sessions
            .check(&token, &revision.directory, Instant::now())
            .map_err(HttpError::Token)?;
        Ok(Caller {
            token,
            session,
            revision,
        })
    }
}

/// A JSON body deserialized with the path of the failing field.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, HttpError> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                let essence = v.split(';').next().unwrap_or("").trim();
                essence.eq_ignore_ascii_case("application/json")
            });
        if !is_json {
            return Err(HttpError::UnsupportedMediaType);
        }
        let limit = state.max_body_bytes;
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                HttpError::PayloadTooLarge { limit }
            } else {
                HttpError::MalformedJson(format!("could not read the body: {rejection}"))
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Deserializes `bytes`, turning serde's errors into field-naming ones.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, HttpError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                HttpError::MalformedJson(format!("malformed JSON: {inner}"))
            }
            _ => field_error(&path, &inner.to_string()),
        }
    })?;
    deserializer
        .end()
        .map_err(|e| HttpError::MalformedJson(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// Names the field of a serde data error: its path, or the field a
/// `missing field`/`unknown field` message quotes.
fn field_error(path: &str, message: &str) -> HttpError {
    let message = message
        .rfind(" at line ")
        .map_or(message, |at| &message[..at]);
    let quoted = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    };
    if let Some(field) = quoted("missing field `") {
        return HttpError::field(field, "is required");
    }
    if let Some(field) = quoted("unknown field `") {
        return HttpError::field(field, "is not a known field");
    }
    let field = if path == "." { "body" } else { path };
    HttpError::field(field, message)
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
    }

    fn field_of(error: HttpError) -> String {
        match error {
            HttpError::InvalidField { field, .. } => field,
            other => panic!("not a field error: {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(field_of(parse_json::<Body>(b"{}").unwrap_err()), "name");
        let unknown = parse_json::<Body>(br#"{"name":"a","nmae":"b"}"#).unwrap_err();
        assert_eq!(field_of(unknown), "nmae");
        assert_eq!(
            field_of(parse_json::<Body>(br#"{"name":1}"#).unwrap_err()),
            "name"
        );
        assert!(matches!(
            parse_json::<Body>(b"{").unwrap_err(),
            HttpError::MalformedJson(_)
        ));
    }
}
