//! Liveness, readiness, metrics and the instance's scope.

use super::openapi::schemas;
use super::{ApiError, AppState, Caller};
use crate::metrics::{self, Levels};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

/// Alive: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "instance",
    summary = "Liveness",
    responses((status = 200, description = "The process answers", body = schemas::Alive)),
    extensions(("x-roles" = json!([])))
)]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "alive" }))
}

/// Ready only while this instance holds its database lease and serves a
/// non-empty scope.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "instance",
    summary = "Readiness",
    responses(
        (status = 200, description = "Holding its database lease and serving a non-empty scope", body = schemas::Readiness),
        (status = 503, description = "Not ready: the reason says why", body = schemas::Readiness),
    ),
    extensions(("x-roles" = json!([])))
)]
pub async fn readyz(State(shared): State<AppState>) -> (StatusCode, Json<Value>) {
    let active = shared.live.borrow().is_some();
    let scope = shared.scope();
    let processes = scope.served.processes.len();
    let (status, reason) = match (active, processes) {
        (false, _) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not holding the database lease (standby, starting or stopping)".to_owned(),
        ),
        (true, 0) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "serving nothing: {}",
                scope.problem.as_deref().unwrap_or("the scope is empty")
            ),
        ),
        (true, _) => (
            StatusCode::OK,
            match scope.revision {
                Some(revision) => format!("serving revision {revision} from {}", scope.source),
                None => format!("serving from {}", scope.source),
            },
        ),
    };
    (
        status,
        Json(json!({
            "ready": status == StatusCode::OK,
            "reason": reason,
            "instance": scope.identity.instance,
            "processes": processes,
            "revision": scope.revision,
            "source": scope.source,
        })),
    )
}

/// What this instance serves and as whom.
#[utoipa::path(
    get,
    path = "/scope",
    tag = "instance",
    summary = "What this instance serves and as whom",
    responses((status = 200, description = "Its identity and scope", body = schemas::Scope)),
    extensions(("x-roles" = json!(["any role"])))
)]
pub async fn scope(State(shared): State<AppState>, _caller: Caller) -> Json<Value> {
    let scope = shared.scope();
    let processes: Vec<Value> = scope
        .served
        .processes
        .iter()
        .map(|(name, process)| {
            json!({ "name": name, "queues": process.queues, "workbins": process.workbins })
        })
        .collect();
    let identity = &scope.identity;
    Json(json!({
        "instance": identity.instance,
        "application": identity.application,
        "person": identity.person,
        "access_groups": identity.access_groups,
        "processes": processes,
        "revision": scope.revision,
        "source": scope.source,
        "problem": scope.problem,
    }))
}

/// Prometheus text exposition: this instance's registry, with the levels
/// read now from their owners (the live task's by a request to it, as the
/// queue endpoints do).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "instance",
    summary = "Prometheus metrics",
    description = "The Prometheus text format: requests, the writer, offers, queues, agents \
        ready, the lease and the configuration in force.",
    responses((status = 200, description = "The metrics", content_type = "text/plain; version=0.0.4", body = String)),
    extensions(("x-roles" = json!([])))
)]
pub async fn metrics(State(shared): State<AppState>) -> impl IntoResponse {
    let scope = shared.scope();
    let live = shared.live.borrow().clone();
    let gauges = match &live {
        Some(live) => live.gauges().await.ok(),
        None => None,
    };
    let levels = Levels {
        lease_held: live.is_some(),
        source: Some(scope.source),
        revision: scope.revision,
        live: gauges,
    };
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        shared.metrics.render(levels),
    )
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
