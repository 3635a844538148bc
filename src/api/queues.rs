//! Queues: depth, oldest age and the head of each queue.

use super::access::Action;
use super::extract::PathParams;
use super::openapi::schemas;
use super::{ApiError, AppState, Caller};
use crate::engine::QueueSnapshot;
use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

/// Every served queue with its depth and oldest age.
#[utoipa::path(
    get,
    path = "/queues",
    operation_id = "list_queues",
    tag = "queues",
    summary = "Every served queue",
    responses((status = 200, description = "Each queue's depth and oldest age", body = schemas::Queues)),
    extensions(("x-roles" = json!(["router", "reporter"])))
)]
pub async fn list(State(shared): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.may(Action::SeeQueues)?;
    let live = shared.live()?;
    let queues = live.queues().await.map_err(|_| ApiError::not_active())?;
    let queues: Vec<Value> = queues
        .into_iter()
        .map(|q| {
            json!({
                "process": q.process,
                "queue": q.queue,
                "depth": q.depth,
                "oldest_age_secs": q.oldest_age_secs,
            })
        })
        .collect();
    Ok(Json(json!({ "queues": queues })))
}

/// The path of one queue: `/v1/queues/{process}/{queue}`.
#[derive(Debug, Deserialize)]
pub struct QueuePath {
    process: String,
    queue: String,
}

/// Depth, oldest age and the first `limit` interactions in routing order
/// (`priority desc, submitted_at asc`).
#[utoipa::path(
    get,
    path = "/queues/{process}/{queue}",
    operation_id = "queue_snapshot",
    tag = "queues",
    summary = "One queue's depth and head",
    params(
        ("process" = String, Path, description = "The business process"),
        ("queue" = String, Path, description = "The queue"),
        ("limit" = Option<u64>, Query, description = "How many of the first interactions (0 to `listen.snapshot_max`)"),
    ),
    responses((status = 200, description = "Its depth, oldest age and first interactions", body = schemas::QueueSnapshot)),
    extensions(
        ("x-roles" = json!(["router", "reporter"])),
        ("x-error-codes" = json!(["invalid_field", "out_of_scope", "unknown_queue"])),
    )
)]
pub async fn snapshot(
    State(shared): State<AppState>,
    caller: Caller,
    PathParams(QueuePath { process, queue }): PathParams<QueuePath>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<QueueSnapshot>, ApiError> {
    caller.may(Action::SeeQueues)?;
    let limits = &shared.limits;
    let mut limit = limits.snapshot_default;
    for (key, value) in params {
        match key.as_str() {
            "limit" => {
                limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (0..=limits.snapshot_max).contains(n))
                    .ok_or_else(|| {
                        ApiError::field(
                            "limit",
                            format!("must be a number from 0 to {}", limits.snapshot_max),
                        )
                    })?
            }
            other => return Err(ApiError::field(other, "is not a parameter (limit)")),
        }
    }
    shared.check_scope(&process)?;
    let live = shared.live()?;
    let snapshot = live
        .snapshot(&process, &queue, limit)
        .await
        .map_err(|_| ApiError::not_active())??;
    Ok(Json(snapshot))
}
