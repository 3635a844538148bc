//! The HTTP API under `/v1`: JSON in and out, every input validated before
//! anything is written, errors as `{"error": {"code", "message"}}`.

mod access;
mod agents;
mod auth;
mod error;
mod events;
mod extract;
mod health;
mod interactions;
mod openapi;
mod queues;
mod routing;
mod sessions;
mod sse;
mod stats;
mod tokens;

pub use auth::{Caller, Verifier};
pub use error::ApiError;
pub use tokens::{InDatabase, Keeper, Restored, Sessions};

use crate::live::{LiveHandle, ScopeState};
use crate::metrics::Metrics;
use crate::store::{Feed, PgStore};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Request limits from the settings.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub commit_timeout: Duration,
    pub min_priority: i32,
    pub max_priority: i32,
    pub snapshot_default: usize,
    pub snapshot_max: usize,
}

/// What every handler shares.
#[derive(Debug)]
pub struct Shared {
    /// The identity and scope in force; changes live.
    pub scope: watch::Receiver<Arc<ScopeState>>,
    pub store: PgStore,
    /// The live state while this instance holds its lease; `None` while it
    /// waits as a backup, starts or stops.
    pub live: watch::Receiver<Option<LiveHandle>>,
    pub limits: Limits,
    /// The journal's live tail, for the event feed.
    pub feed: Arc<Feed>,
    /// This instance's registry for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// This instance's sessions, kept in its database while it holds its
    /// lease; the scope watcher re-checks them at each revision. In file
    /// mode nothing changes while the instance runs, and nothing re-checks
    /// them.
    pub sessions: Arc<Sessions>,
    /// Checks persons' credentials at log-in.
    pub verifier: Verifier,
    /// The live statistics' window, kept by the daemon's statistics task
    /// from the journal while the instance holds its lease.
    pub stats: Arc<crate::stats::Board>,
}

pub type AppState = Arc<Shared>;

impl Shared {
    fn live(&self) -> Result<LiveHandle, ApiError> {
        self.live.borrow().clone().ok_or_else(ApiError::not_active)
    }

    fn scope(&self) -> Arc<ScopeState> {
        self.scope.borrow().clone()
    }

    fn check_scope(&self, process: &str) -> Result<(), ApiError> {
        if self.scope.borrow().served.serves(process) {
            Ok(())
        } else {
            Err(ApiError::OutOfScope(process.to_owned()))
        }
    }
}

/// Every route of the server with its documentation: each handler is
/// registered together with its `#[utoipa::path]`, so that the OpenAPI
/// document (`openapi::document`) covers what the server answers.
fn documented() -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::new()
        .routes(routes!(interactions::submit, interactions::find))
        .routes(routes!(interactions::get_one))
        .routes(routes!(interactions::change_properties))
        .routes(routes!(interactions::place_in_queue))
        .routes(routes!(interactions::stop))
        .routes(routes!(routing::accept))
        .routes(routes!(routing::reject))
        .routes(routes!(routing::transfer))
        .routes(routes!(routing::offer))
        .routes(routes!(routing::place_in_workbin))
        .routes(routes!(routing::take))
        .routes(routes!(routing::explain))
        .routes(routes!(routing::workbin))
        .routes(routes!(routing::pull))
        .routes(routes!(routing::dry_run))
        .routes(routes!(agents::list))
        .routes(routes!(agents::get_one))
        .routes(routes!(agents::login))
        .routes(routes!(agents::ready))
        .routes(routes!(agents::not_ready))
        .routes(routes!(agents::logout))
        .routes(routes!(agents::events))
        .routes(routes!(events::feed))
        .routes(routes!(queues::list))
        .routes(routes!(stats::get))
        .routes(routes!(stats::stream))
        .routes(routes!(queues::snapshot))
        .routes(routes!(health::scope))
        .routes(routes!(sessions::log_in))
        .routes(routes!(openapi::served))
        // Not around /readyz and the others: their 503 is the answer
        // working as designed, not a failure to log as an error.
        .layer(tower_http::trace::TraceLayer::new_for_http());
    OpenApiRouter::new()
        .nest("/v1", v1)
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
}

/// The server's routes, fallbacks and layers, before the state is given.
fn app(body_limit: usize, http_metrics: crate::metrics::HttpMetrics) -> Router<AppState> {
    let (routes, _) = documented().split_for_parts();
    routes
        .fallback(health::not_found)
        .method_not_allowed_fallback(health::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        // Outermost, around the fallbacks too: every answer is counted, by
        // the route template it matched.
        .layer(axum::middleware::from_fn_with_state(
            http_metrics,
            crate::metrics::track,
        ))
}

pub fn router(state: AppState) -> Router {
    app(state.limits.max_body_bytes, state.metrics.http()).with_state(state)
}
