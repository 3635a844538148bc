//! The config server's HTTP API under `/v1`: JSON in and out, a bearer token
//! on every request but login, errors as `{"error": {"code", "message"}}`.
//!
//! | | |
//! |---|---|
//! | `POST /v1/login` | `{"application","secret","instance"?}` or `{"person","password"}` → `{"token","expires_at","revision"}` |
//! | `GET /v1/whoami` | `{"application","person","access_groups","roles","revision"}` |
//! | `GET /v1/objects` | `{"revision","directory"}`: the directory as the caller may read it |
//! | `GET /v1/watch?after=REV` | Server-Sent Events of the caller's changes (see `watch`) |
//! | `GET /v1/status` | `{"revision","loaded_at","last_error"}` |
//! | `GET /v1/instances` | `{"instances": [...]}`: the interaction servers whose application the caller may read |
//! | `GET /healthz` | liveness, no token |
//!
//! A request head too large or malformed is answered before routing, in the
//! same shape (`crate::http_serve`): `414 uri_too_long`,
//! `431 headers_too_large`, `400 malformed_request`.

mod error;
mod extract;
mod login;
mod read;
mod watch;

pub use error::HttpError;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::routing::{get, post};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;
use tracing::{Span, info_span};

use super::instances::Instances;
use super::revisions::Revisions;
use super::sessions::Sessions;

/// What every handler shares.
#[derive(Debug)]
pub struct Shared {
    pub revisions: Arc<Revisions>,
    pub sessions: Arc<Sessions>,
    /// The interaction servers that logged in and said where they serve.
    pub instances: Arc<Instances>,
    pub max_body_bytes: usize,
    /// Bounds the password checks running at once.
    pub logins: Semaphore,
    /// Ends the watch streams when the server shuts down.
    pub stop: CancellationToken,
    /// The server's span: every request's span is inside it.
    pub span: Span,
}

pub type AppState = Arc<Shared>;

pub fn router(state: AppState) -> Router {
    let body_limit = state.max_body_bytes;
    let server_span = state.span.clone();
    let trace = TraceLayer::new_for_http().make_span_with(move |request: &Request| {
        info_span!(
            parent: &server_span,
            "request",
            method = %request.method(),
            path = %request.uri().path(),
        )
    });
    let v1 = Router::new()
        .route("/login", post(login::login))
        .route("/whoami", get(read::whoami))
        .route("/objects", get(read::objects))
        .route("/watch", get(watch::watch))
        .route("/status", get(read::status))
        .route("/instances", get(read::instances));
    Router::new()
        .nest("/v1", v1)
        .route("/healthz", get(read::healthz))
        .fallback(read::not_found)
        .method_not_allowed_fallback(read::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(trace)
        .with_state(state)
}
