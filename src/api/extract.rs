//! Request extractors whose failures follow the API's error policy: a JSON
//! body that names the offending field, path parameters that name the
//! offending one, and a UUID path parameter.

use super::{ApiError, AppState};
use crate::json_body::{self, BodyError};
use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// A JSON body deserialized with the path of the failing field.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        json_body::read(req, state, state.limits.max_body_bytes)
            .await
            .map(JsonBody)
            .map_err(ApiError::from)
    }
}

/// An optional JSON body: none when the request has no body at all.
pub struct MaybeJson<T>(pub Option<T>);

impl<T: DeserializeOwned> FromRequest<AppState> for MaybeJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let headers = req.headers();
        let empty = headers
            .get(axum::http::header::CONTENT_LENGTH)
            .is_none_or(|length| length.as_bytes() == b"0")
            && !headers.contains_key(axum::http::header::TRANSFER_ENCODING);
        if empty {
            return Ok(MaybeJson(None));
        }
        let JsonBody(body) = JsonBody::from_request(req, state).await?;
        Ok(MaybeJson(Some(body)))
    }
}

impl From<BodyError> for ApiError {
    fn from(error: BodyError) -> Self {
        match error {
            BodyError::UnsupportedMediaType => ApiError::UnsupportedMediaType(
                "the body must be JSON: send 'Content-Type: application/json'".into(),
            ),
            BodyError::PayloadTooLarge { limit } => ApiError::PayloadTooLarge { limit },
            BodyError::Malformed(message) => ApiError::MalformedJson(message),
            BodyError::InvalidField { field, message } => ApiError::InvalidField { field, message },
        }
    }
}

/// Path parameters (`Path`) whose rejection names the parameter.
pub struct PathParams<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(params)) => Ok(PathParams(params)),
            Err(rejection) => Err(path_error(rejection)),
        }
    }
}

/// A client's bad path parameter (the only kind, as they are all text) as
/// the error naming it; anything else is a routing mistake of ours.
fn path_error(rejection: PathRejection) -> ApiError {
    if let PathRejection::FailedToDeserializePathParams(error) = &rejection {
        if let ErrorKind::InvalidUtf8InPathParam { key } = error.kind() {
            return ApiError::field(key.as_str(), "is not valid UTF-8 once percent-decoded");
        }
    }
    ApiError::Internal(anyhow::anyhow!(
        "path parameters: {}",
        rejection.body_text()
    ))
}

/// The `{id}` path parameter as a UUID.
pub struct InteractionId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for InteractionId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let PathParams(raw) = PathParams::<String>::from_request_parts(parts, state).await?;
        Uuid::parse_str(&raw).map(InteractionId).map_err(|_| {
            ApiError::field("id", format!("'{raw}' is not an interaction id (a UUID)"))
        })
    }
}
