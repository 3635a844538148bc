//! Why a request head was refused before routing, and its answer: the same
//! `{"error": {"code", "message"}}` as every other error of both servers.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the request target (path and query) is longer than {limit} bytes")]
    UriTooLong { limit: usize },
    #[error("the request's headers are larger than {limit} bytes in all{}", at_header(.name))]
    HeadersTooLarge { limit: usize, name: Option<String> },
    #[error("the request has more than {limit} headers")]
    TooManyHeaders { limit: usize },
    #[error("the request head is not valid HTTP/1.1: {0}")]
    Malformed(String),
}

fn at_header(name: &Option<String>) -> String {
    name.as_ref()
        .map(|name| format!(" (at header '{name}')"))
        .unwrap_or_default()
}

impl Refusal {
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Refusal::UriTooLong { .. } => (StatusCode::URI_TOO_LONG, "uri_too_long"),
            Refusal::HeadersTooLarge { .. } | Refusal::TooManyHeaders { .. } => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
            ),
            Refusal::Malformed(_) => (StatusCode::BAD_REQUEST, "malformed_request"),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let body = json!({ "error": { "code": code, "message": self.to_string() } });
        (status, Json(body)).into_response()
    }
}
