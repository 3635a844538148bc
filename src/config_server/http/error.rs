//! The config server's error policy: every failure is JSON
//! `{"error": {"code", "message"}}` with the right status. A failed login
//! gives the same answer whether the name exists or not; internal causes are
//! logged with their chain, never sent.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::error;

use crate::config_server::sessions::Refusal;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    MalformedJson(String),
    #[error("the body must be JSON: send 'Content-Type: application/json'")]
    UnsupportedMediaType,
    #[error("{message}")]
    InvalidField { field: String, message: String },
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("unknown name, or wrong secret or password")]
    InvalidCredentials,
    #[error("this request needs 'Authorization: Bearer <token>'; get one from POST /v1/login")]
    MissingToken,
    #[error("{0}")]
    Token(Refusal),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed on this path")]
    MethodNotAllowed,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl HttpError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        HttpError::InvalidField {
            message: format!("field '{field}': {}", message.into()),
            field,
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            HttpError::MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
            HttpError::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            HttpError::InvalidField { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            HttpError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            HttpError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            HttpError::MissingToken => (StatusCode::UNAUTHORIZED, "missing_token"),
            HttpError::Token(refusal) => (StatusCode::UNAUTHORIZED, refusal.code()),
            HttpError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            HttpError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            HttpError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let mut body = json!({ "code": code, "message": self.to_string() });
        match &self {
            HttpError::InvalidField { field, .. } => body["field"] = json!(field),
            HttpError::Internal(cause) => error!(error = %format!("{cause:#}"), "request failed"),
            _ => {}
        }
        let mut response = (status, Json(json!({ "error": body }))).into_response();
        if status == StatusCode::UNAUTHORIZED && !matches!(self, HttpError::InvalidCredentials) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
