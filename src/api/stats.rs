//! Live statistics: `GET /v1/stats` and its stream `GET /v1/stats/stream`.
//!
//! Each queue's depth and oldest age, and each agent's state and load, come
//! from the engine; the figures over `reporting.window` (entered, offered,
//! accepted…, waits, service level, handled, missed, occupancy) from the
//! committed journal, kept by the daemon's statistics task
//! (`stats::Window`). A request waits until that task has counted every
//! entry committed before it, so that a caller sees its own changes.

use super::access::Action;
use super::agents::query;
use super::openapi::schemas;
use super::{ApiError, AppState, Caller, Shared};
use crate::directory::Queue;
use crate::live::{Answered, Query};
use crate::stats::{AgentFigures, Live};
use axum::Json;
use axum::extract::State;
use axum::response::Response;
use axum::response::sse::Event;
use chrono::Utc;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The least time between two updates of a stream.
const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// A stream sends the figures again after this even when nothing was
/// committed: the window rolls on.
const REFRESH: Duration = Duration::from_secs(10);
/// `GET /v1/stats`.
#[utoipa::path(
    get,
    path = "/stats",
    operation_id = "get_stats",
    tag = "reporting",
    summary = "The live statistics",
    description = "Each queue of the processes served and each agent: their state now and \
        their figures over the last `reporting.window` (15 minutes by default), from the \
        journal; a request sees every change committed before it.",
    responses((status = 200, description = "The figures", body = schemas::Stats)),
    extensions(("x-roles" = json!(["router", "reporter"])), ("x-error-codes" = json!(["database_unavailable"])))
)]
pub async fn get(State(shared): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.may(Action::SeeStats)?;
    Ok(Json(gather(&shared).await?))
}

/// `GET /v1/stats/stream`: the same figures as Server-Sent Events
/// (`event: stats`), at first and then when something was committed, at
/// most once a second, and every ten seconds anyway; ends when the
/// instance stops.
#[utoipa::path(
    get,
    path = "/stats/stream",
    operation_id = "stats_stream",
    tag = "reporting",
    summary = "The live statistics as a stream",
    description = "Server-Sent Events `stats` (a `Stats`): at once, then after each commit (at \
        most once a second) and every 10 s; a comment every 15 s; ends when the instance stops.",
    responses((status = 200, description = "The stream of figures", content_type = "text/event-stream", body = String)),
    extensions(
        ("x-roles" = json!(["router", "reporter"])),
        ("x-error-codes" = json!(["database_unavailable"])),
        ("x-sse-events" = json!({"stats": {"$ref": "#/components/schemas/Stats"}})),
    )
)]
pub async fn stream(State(shared): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.may(Action::SeeStats)?;
    let first = gather(&shared).await?;
    let (out, events) = mpsc::channel::<Event>(4);
    let closing = shared.feed.closing();
    let mut changes = shared.stats.changes();
    changes.mark_unchanged();
    tokio::spawn(async move {
        let mut figures = first;
        loop {
            let event = Event::default().event("stats").data(figures.to_string());
            let sent = Instant::now();
            tokio::select! {
                result = out.send(event) => if result.is_err() { return },
                () = closing.cancelled() => return,
            }
            tokio::select! {
                () = tokio::time::sleep_until(sent + MIN_INTERVAL) => {}
                () = out.closed() => return,
                () = closing.cancelled() => return,
            }
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                () = tokio::time::sleep_until(sent + REFRESH) => {}
                () = out.closed() => return,
                () = closing.cancelled() => return,
            }
            changes.mark_unchanged();
            figures = match gather(&shared).await {
                Ok(figures) => figures,
                // The instance no longer serves.
                Err(_) => return,
            };
        }
    });
    Ok(super::sse::from_channel(events))
}

/// The figures now: the window's, with the engine's gauges.
async fn gather(shared: &Shared) -> Result<Value, ApiError> {
    let live = shared.live()?;
    // Every entry committed before this request counted, or the
    // statistics are not there (yet).
    let published = shared.feed.published();
    let board = &shared.stats;
    let mut changes = board.changes();
    let caught_up = changes.wait_for(|_| board.position().is_some_and(|p| p >= published));
    match tokio::time::timeout(shared.limits.commit_timeout, caught_up).await {
        Ok(Ok(_)) => {}
        // Behind, but counting: the figures as they are.
        Err(_) if board.position().is_some() => {}
        _ => return Err(ApiError::not_active()),
    }
    let queues = live.queues().await.map_err(|_| ApiError::not_active())?;
    let agents = match query(shared, Query::Agents).await? {
        Answered::Agents(views) => views,
        _ => {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "the agents query answered otherwise"
            )));
        }
    };
    let scope = shared.scope();
    let service_levels = &scope.routing.service_levels;
    let view = Live {
        queues: queues
            .iter()
            .map(|q| {
                let key = (q.process.clone(), q.queue.clone());
                let target = service_levels
                    .get(&key)
                    .copied()
                    .unwrap_or(Queue::DEFAULT_SERVICE_LEVEL);
                (key, target)
            })
            .collect(),
        agents: agents
            .iter()
            .filter(|agent| agent.logged_in)
            .map(|agent| (agent.name.clone(), agent.holding.clone()))
            .collect(),
    };
    let snapshot = board
        .snapshot(Utc::now(), &view)
        .ok_or_else(ApiError::not_active)?;

    let gauges: BTreeMap<(&str, &str), _> = queues
        .iter()
        .map(|q| ((q.process.as_str(), q.queue.as_str()), q))
        .collect();
    let queues: Vec<Value> = snapshot
        .queues
        .iter()
        .map(|figures| {
            let mut object = as_object(figures);
            if let Some(q) = gauges.get(&(figures.process.as_str(), figures.queue.as_str())) {
                object.insert("depth".into(), json!(q.depth));
                object.insert("oldest_age_secs".into(), json!(q.oldest_age_secs));
            }
            Value::Object(object)
        })
        .collect();
    let mut figures: BTreeMap<&str, &AgentFigures> = snapshot
        .agents
        .iter()
        .map(|figures| (figures.name.as_str(), figures))
        .collect();
    let mut listed: Vec<Value> = agents
        .iter()
        .map(|agent| {
            let mut object = Map::new();
            object.insert("name".into(), json!(agent.name));
            object.insert("logged_in".into(), json!(agent.logged_in));
            object.insert("connected".into(), json!(agent.connected));
            object.insert("media".into(), json!(agent.media));
            object.insert("load".into(), json!(agent.load));
            object.insert("capacity".into(), json!(agent.capacity));
            let own = figures.remove(agent.name.as_str()).cloned();
            let own = own.unwrap_or_else(|| AgentFigures {
                name: agent.name.clone(),
                handled: 0,
                missed: 0,
                logged_in_secs: 0.0,
                holding_secs: 0.0,
                occupancy: None,
            });
            object.extend(as_object(&own));
            Value::Object(object)
        })
        .collect();
    // Agents of the window the engine no longer knows.
    listed.extend(figures.into_values().map(|f| Value::Object(as_object(f))));
    Ok(json!({
        "at": snapshot.at,
        "window_secs": snapshot.window_secs,
        "position": snapshot.position,
        "queues": queues,
        "agents": listed,
    }))
}

fn as_object(value: &impl serde::Serialize) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(object)) => object,
        _ => Map::new(),
    }
}
