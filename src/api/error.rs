//! The API's error policy: every failure is JSON
//! `{"error": {"code", "message"}}` with the right status. Messages name the
//! offending field; internal causes (SQL, I/O) are logged with their chain and
//! never sent to a client.

use crate::engine::routing::{AgentError, PullError};
use crate::engine::{EngineError, State};
use crate::store::{CommitError, StoreError};
use crate::telemetry::error_chain;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::error;

/// What `Retry-After` tells a client turned away as busy, in seconds.
pub const RETRY_AFTER_SECS: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    MalformedJson(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    InvalidField { field: String, message: String },
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    NotFound(String),
    #[error("this method is not allowed on this path")]
    MethodNotAllowed,
    #[error("{0}")]
    Unauthorized(String),
    #[error("wrong person or password")]
    InvalidCredentials,
    #[error(
        "the session was ended by a change in the directory (password, roles or the person): \
         log in again"
    )]
    TokenRevoked,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    UnknownQueue(String),
    #[error("business process '{0}' is outside this instance's scope")]
    OutOfScope(String),
    #[error("{message}")]
    Illegal { state: State, message: String },
    #[error("{0}")]
    Unavailable(&'static str, String),
    /// The database refused to store the change; nothing was changed.
    #[error("the database refused to store this change; nothing was changed")]
    NotStored,
    /// Too much work of one kind in flight; the client may retry after
    /// [`RETRY_AFTER_SECS`].
    #[error("too many log-ins are being checked at once; try again shortly")]
    Busy,
    /// The event feed was asked for entries retention deleted.
    #[error(
        "the events after position {after} are purged up to position {purged_through}; \
         resume after {purged_through} (the oldest kept is in 'oldest_position')"
    )]
    Purged {
        after: i64,
        purged_through: i64,
        oldest: Option<i64>,
    },
    /// Any other refusal: its status, code and message.
    #[error("{2}")]
    Coded(StatusCode, &'static str, String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        ApiError::InvalidField {
            message: format!("field '{field}': {}", message.into()),
            field,
        }
    }

    pub fn not_active() -> Self {
        ApiError::Unavailable(
            "not_active",
            "this instance is not active (standby, starting or stopping); try again shortly".into(),
        )
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::InvalidField { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            ApiError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            ApiError::TokenRevoked => (StatusCode::UNAUTHORIZED, "token_revoked"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::UnknownQueue(_) => (StatusCode::NOT_FOUND, "unknown_queue"),
            ApiError::OutOfScope(_) => (StatusCode::FORBIDDEN, "out_of_scope"),
            ApiError::Illegal { .. } => (StatusCode::CONFLICT, "illegal_transition"),
            ApiError::Unavailable(code, _) => (StatusCode::SERVICE_UNAVAILABLE, code),
            ApiError::NotStored => (StatusCode::INTERNAL_SERVER_ERROR, "not_stored"),
            ApiError::Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            ApiError::Purged { .. } => (StatusCode::GONE, "purged"),
            ApiError::Coded(status, code, _) => (*status, code),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let mut body = json!({ "code": code, "message": self.to_string() });
        match &self {
            ApiError::Illegal { state, .. } => body["state"] = json!(state),
            ApiError::InvalidField { field, .. } => body["field"] = json!(field),
            ApiError::Purged {
                purged_through,
                oldest,
                ..
            } => {
                body["oldest_position"] = json!(oldest);
                body["resume_after"] = json!(purged_through);
            }
            ApiError::Internal(cause) => {
                error!(error = %format!("{cause:#}"), "request failed");
            }
            _ => {}
        }
        let mut response = (status, Json(json!({ "error": body }))).into_response();
        if matches!(self, ApiError::Busy) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        if error.is_transient() {
            error!(error = %error_chain(&error), "database unavailable");
            ApiError::Unavailable(
                "database_unavailable",
                "the database is not reachable; try again shortly".into(),
            )
        } else {
            ApiError::Internal(anyhow::Error::new(error))
        }
    }
}

impl From<CommitError> for ApiError {
    fn from(error: CommitError) -> Self {
        match error {
            CommitError::Fenced | CommitError::Stopped => ApiError::not_active(),
            CommitError::Unknown => ApiError::Unavailable(
                "commit_pending",
                "this instance lost its database lease before the change's outcome was known; \
                 repeat the request (with the same external_id for a submit) to learn it"
                    .into(),
            ),
            CommitError::Refused => ApiError::NotStored,
            CommitError::NotApplied => ApiError::Unavailable(
                "not_applied",
                "the interaction changed while this request ran; nothing was changed: repeat \
                 the request"
                    .into(),
            ),
            CommitError::Duplicate => ApiError::Internal(anyhow::Error::new(error)),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        let message = error.to_string();
        match error {
            EngineError::OutOfScope { process } => ApiError::OutOfScope(process),
            EngineError::UnknownQueue { .. } => ApiError::UnknownQueue(message),
            EngineError::UnknownMediaType(_) => ApiError::field("media_type", message),
            EngineError::UnknownAgent(_) => ApiError::field("agent", message),
            EngineError::UnknownOwner(_) => ApiError::field("owner", message),
            EngineError::QueueRequired => ApiError::field("queue", "is required"),
            EngineError::PropertiesTooLarge { .. } => ApiError::field("properties", message),
            EngineError::Illegal { state, .. } => ApiError::Illegal { state, message },
            EngineError::NotLive(id) => ApiError::NotFound(format!("no interaction {id}")),
            EngineError::NotYours(_) => ApiError::Forbidden(message),
            EngineError::Reloading(_) => ApiError::Unavailable("reloading", message),
            EngineError::UnknownWorkbin { .. } => {
                ApiError::Coded(StatusCode::NOT_FOUND, "unknown_workbin", message)
            }
            EngineError::AgentOnly(_) | EngineError::NotYourWorkbin { .. } => {
                ApiError::Forbidden(message)
            }
            EngineError::Agent(AgentError::NotAnAgent(_)) => {
                ApiError::Coded(StatusCode::FORBIDDEN, "not_an_agent", message)
            }
            EngineError::Agent(AgentError::NotLoggedIn(_)) => {
                ApiError::Coded(StatusCode::CONFLICT, "not_logged_in", message)
            }
            EngineError::Agent(AgentError::NoSuchMedia { .. }) => ApiError::field("media", message),
            EngineError::Unavailable { .. } => {
                ApiError::Coded(StatusCode::CONFLICT, "agent_unavailable", message)
            }
            EngineError::AgentBusy { .. } => {
                ApiError::Coded(StatusCode::CONFLICT, "agent_busy", message)
            }
            EngineError::Pull(PullError::UnknownView { .. }) => {
                ApiError::Coded(StatusCode::NOT_FOUND, "unknown_view", message)
            }
            EngineError::Pull(PullError::NotPulled(_)) => {
                ApiError::Coded(StatusCode::CONFLICT, "not_pulled", message)
            }
        }
    }
}
