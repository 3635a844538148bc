//! Request extractors: the bearer token's caller, and a JSON body whose
//! errors name the offending field.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::{AppState, HttpError};
use crate::config_server::revisions::Revision;
use crate::config_server::sessions::{Refusal, Session, TokenHash};
use crate::json_body::{self, BodyError};

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
        let token = crate::bearer::token(value).ok_or(HttpError::MissingToken)?;
        let token = TokenHash::of(token).ok_or(HttpError::Token(Refusal::Unknown))?;
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
        json_body::read(req, state, state.max_body_bytes)
            .await
            .map(JsonBody)
            .map_err(|error| match error {
                BodyError::UnsupportedMediaType => HttpError::UnsupportedMediaType,
                BodyError::PayloadTooLarge { limit } => HttpError::PayloadTooLarge { limit },
                BodyError::Malformed(message) => HttpError::MalformedJson(message),
                BodyError::InvalidField { field, message } => {
                    HttpError::InvalidField { field, message }
                }
            })
    }
}
