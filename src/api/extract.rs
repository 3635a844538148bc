//! Request extractors whose failures follow the API's error policy: a JSON
//! body that names the offending field, and a UUID path parameter.

use super::{ApiError, AppState};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// A JSON body deserialized with the path of the failing field.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                let essence = v.split(';').next().unwrap_or("").trim();
                essence.eq_ignore_ascii_case("application/json")
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "the body must be JSON: send 'Content-Type: application/json'".into(),
            ));
        }
        let limit = state.limits.max_body_bytes;
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::MalformedJson(format!("could not read the body: {rejection}"))
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Deserializes `bytes`, turning serde's errors into field-naming ones.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                ApiError::MalformedJson(format!("malformed JSON: {inner}"))
            }
            _ => field_error(&path, &inner.to_string()),
        }
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::MalformedJson(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// Names the field of a serde data error: its path, or the field a
/// `missing field`/`unknown field` message quotes.
fn field_error(path: &str, message: &str) -> ApiError {
    let message = strip_position(message);
    let quoted = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    };
    if let Some(field) = quoted("missing field `") {
        let field = join(path, &field);
        return ApiError::field(field, "is required");
    }
    if let Some(field) = quoted("unknown field `") {
        let field = join(path, &field);
        return ApiError::field(field, "is not a known field");
    }
    let field = if path == "." { "body" } else { path };
    ApiError::field(field, message)
}

fn join(path: &str, field: &str) -> String {
    if path == "." || path.is_empty() || path == field || path.ends_with(&format!(".{field}")) {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

/// serde_json appends " at line L column C"; the field name says more.
fn strip_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(at) => &message[..at],
        None => message,
    }
}

/// The `{id}` path parameter as a UUID.
pub struct InteractionId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for InteractionId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::field("id", e.body_text()))?;
        Uuid::parse_str(&raw).map(InteractionId).map_err(|_| {
            ApiError::field("id", format!("'{raw}' is not an interaction id (a UUID)"))
        })
    }
}
