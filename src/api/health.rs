//! Liveness, readiness, metrics and the instance's scope.

use super::{ApiError, AppState, Caller};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// Alive: the process answers.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "alive" }))
}

/// Ready only while this instance holds its database lease and serves a
/// non-empty scope.
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

/// Prometheus text exposition.
pub async fn metrics(State(shared): State<AppState>) -> impl IntoResponse {
    let stats = &shared.writer_stats;
    let scope = shared.scope();
    let instance = &scope.identity.instance;
    let mut out = String::new();
    let counter = |out: &mut String, name: &str, help: &str, value: u64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        let _ = writeln!(out, "{name}{{instance=\"{instance}\"}} {value}");
    };
    counter(
        &mut out,
        "ixs_writer_batches_total",
        "Transactions committed by the writer.",
        stats.batches.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "ixs_writer_changes_total",
        "Changes committed by the writer.",
        stats.requests.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "ixs_writer_retries_total",
        "Commits retried after a transient database failure.",
        stats.retries.load(Ordering::Relaxed),
    );
    let _ = writeln!(
        out,
        "# HELP ixs_writer_commit_seconds_total Time spent on committed batches, from taking a connection to the answer (successful attempts only).\n# TYPE ixs_writer_commit_seconds_total counter\nixs_writer_commit_seconds_total{{instance=\"{instance}\"}} {:.6}",
        stats.commit_micros.load(Ordering::Relaxed) as f64 / 1e6
    );
    let _ = writeln!(
        out,
        "# HELP ixs_writer_batch_size Changes per committed transaction.\n# TYPE ixs_writer_batch_size histogram"
    );
    let mut cumulative = 0;
    for (bucket, le) in stats
        .batch_sizes
        .iter()
        .zip(crate::store::WriterStats::BUCKETS)
    {
        cumulative += bucket.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "ixs_writer_batch_size_bucket{{instance=\"{instance}\",le=\"{le}\"}} {cumulative}"
        );
    }
    let _ = writeln!(
        out,
        "ixs_writer_batch_size_sum{{instance=\"{instance}\"}} {}",
        stats.requests.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "ixs_writer_batch_size_count{{instance=\"{instance}\"}} {}",
        stats.batches.load(Ordering::Relaxed)
    );
    let active = u8::from(shared.live.borrow().is_some());
    let _ = writeln!(
        out,
        "# HELP ixs_active 1 while this instance holds its database lease.\n# TYPE ixs_active gauge\nixs_active{{instance=\"{instance}\"}} {active}"
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
