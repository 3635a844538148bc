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
use axum::routing::{get, patch, post};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

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

pub fn router(state: AppState) -> Router {
    let body_limit = state.limits.max_body_bytes;
    let http_metrics = state.metrics.http();
    let v1 = Router::new()
        .route(
            "/interactions",
            post(interactions::submit).get(interactions::find),
        )
        .route("/interactions/{id}", get(interactions::get_one))
        .route(
            "/interactions/{id}/properties",
            patch(interactions::change_properties),
        )
        .route(
            "/interactions/{id}/place-in-queue",
            post(interactions::place_in_queue),
        )
        .route("/interactions/{id}/stop", post(interactions::stop))
        .route("/interactions/{id}/accept", post(routing::accept))
        .route("/interactions/{id}/reject", post(routing::reject))
        .route("/interactions/{id}/transfer", post(routing::transfer))
        .route("/interactions/{id}/offer", post(routing::offer))
        .route(
            "/interactions/{id}/place-in-workbin",
            post(routing::place_in_workbin),
        )
        .route("/interactions/{id}/take", post(routing::take))
        .route("/interactions/{id}/explain", get(routing::explain))
        .route("/workbins/{process}/{workbin}", get(routing::workbin))
        .route("/views/{process}/{queue}/{view}/pull", post(routing::pull))
        .route("/route/dry-run", post(routing::dry_run))
        .route("/agents", get(agents::list))
        .route("/agents/{name}", get(agents::get_one))
        .route("/agents/{name}/login", post(agents::login))
        .route("/agents/{name}/ready", post(agents::ready))
        .route("/agents/{name}/not-ready", post(agents::not_ready))
        .route("/agents/{name}/logout", post(agents::logout))
        .route("/agents/{name}/events", get(agents::events))
        .route("/events", get(events::feed))
        .route("/queues", get(queues::list))
        .route("/stats", get(stats::get))
        .route("/stats/stream", get(stats::stream))
        .route("/queues/{process}/{queue}", get(queues::snapshot))
        .route("/scope", get(health::scope))
        .route("/sessions", post(sessions::log_in))
        // Not around /readyz and the others: their 503 is the answer
        // working as designed, not a failure to log as an error.
        .layer(tower_http::trace::TraceLayer::new_for_http());
    Router::new()
        .nest("/v1", v1)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .fallback(health::not_found)
        .method_not_allowed_fallback(health::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        // Outermost, around the fallbacks too: every answer is counted, by
        // the route template it matched.
        .layer(axum::middleware::from_fn_with_state(
            http_metrics,
            crate::metrics::track,
        ))
        .with_state(state)
}
