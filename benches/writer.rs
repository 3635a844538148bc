//! The writer alone: durable submits per second through the real writer and
//! PostgreSQL store, without HTTP, the engine task or a load generator in
//! the way: the ceiling of the store under the HTTP benchmark.
//!
//! 64 tasks each apply a gateway's new e-mail to an engine of their own and
//! hand the writer what it made (the interaction and its `submitted`
//! event), as the instance does, and wait until it is committed, for 8 s;
//! three rounds. Printed per round: submits/s,
//! commits/s, the mean batch, the mean commit time (from sending the
//! statement to its answer), and the CPU the PostgreSQL server used.
//!
//! Run: `cargo bench --bench writer` (about 30 s). The database is created
//! fresh and dropped at the end; `IXS_BENCH_DATABASE_URL` names the server
//! (default `postgres://postgres@127.0.0.1:5432/postgres`).

mod common;

use anyhow::{Context, bail};
use chrono::{SubsecRound, Utc};
use common::{Scratch, clock_ticks, postgres_ticks};
use ixs::engine::{Command, Engine, Served, ServedProcess, Submit};
use ixs::store::{LeaseHolder, LeaseOutcome, PgStore, Store, Writer, WriterHandle, WriterStats};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The instance's allocator, so that the figures are the instance's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TASKS: usize = 64;
const SECS: u64 = 8;
const ROUNDS: usize = 3;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let server = std::env::var("IXS_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let scratch = Scratch::create(&server, "ixs_bench_writer_").await?;
    let outcome = rounds(&scratch.url).await;
    scratch.drop_database().await;
    outcome
}

async fn rounds(url: &str) -> anyhow::Result<()> {
    let store = PgStore::connect(url.parse()?, 2, Duration::from_secs(5)).await?;
    store.migrate().await?;
    println!("{TASKS} tasks, {SECS} s per round");
    for round in 1..=ROUNDS {
        println!("  {}", measure(&store, round).await?);
    }
    store.pool().close().await;
    Ok(())
}

/// Runs one round; the line to print.
async fn measure(store: &PgStore, round: usize) -> anyhow::Result<String> {
    let store = Arc::new(store.clone());
    sqlx::query("TRUNCATE interactions, interaction_events")
        .execute(store.pool())
        .await?;
    sqlx::query("CHECKPOINT").execute(store.pool()).await?;
    let fence = match store
        .acquire_lease(&LeaseHolder::new("bench"), Duration::from_secs(60))
        .await?
    {
        LeaseOutcome::Acquired(fence) => fence,
        held => bail!("lease {held}"),
    };
    let stats = Arc::new(WriterStats::default());
    let (writer, handle, _undone) =
        Writer::new(store.clone(), fence.clone(), 10_000, 500, stats.clone());
    let writer = tokio::spawn(writer.run());
    let postgres_before = postgres_ticks();
    let started = Instant::now();
    let end = started + Duration::from_secs(SECS);
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let handle = handle.clone();
        tasks.push(tokio::spawn(async move {
            let mut engine = Engine::new(served());
            let mut ops = 0u64;
            while Instant::now() < end {
                ops += 1;
                submit(&mut engine, &handle, format!("writer-{task}-{ops}")).await?;
            }
            anyhow::Ok(ops)
        }));
    }
    drop(handle);
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let postgres = (postgres_ticks() - postgres_before) as f64 / clock_ticks() / elapsed;
    writer
        .await?
        .map_err(|e| anyhow::anyhow!("writer: {e}"))
        .context("the writer stopped")?;
    store.release_lease(&fence).await?;
    let batches = stats.batches.load(Ordering::Relaxed).max(1) as f64;
    Ok(format!(
        "round {round}: {:>6.0} submits/s, {:>5.0} commits/s, mean batch {:>5.1}, \
         mean commit {:.2} ms, postgres {postgres:.2} cores",
        total as f64 / elapsed,
        batches / elapsed,
        stats.requests.load(Ordering::Relaxed) as f64 / batches,
        stats.commit_micros.load(Ordering::Relaxed) as f64 / 1000.0 / batches,
    ))
}

/// The scope the tasks' engines serve.
fn served() -> Served {
    let process = ServedProcess {
        queues: ["inbound".to_owned()].into(),
        workbins: Default::default(),
    };
    Served {
        processes: [("sales-email".to_owned(), process)].into(),
        media_types: ["email".to_owned()].into(),
        agents: Default::default(),
    }
}

/// A gateway's new e-mail through `engine`, then what the engine made of it
/// through the writer, waiting until it is committed.
async fn submit(
    engine: &mut Engine,
    writer: &WriterHandle,
    external_id: String,
) -> anyhow::Result<()> {
    let command = Command::Submit(Submit {
        external_id: Some(external_id),
        submitted_by: "gateway".into(),
        process: "sales-email".into(),
        queue: Some("inbound".into()),
        media_type: "email".into(),
        kind: "inbound".into(),
        subtype: None,
        priority: 3,
        properties: serde_json::json!({"subject": "Order 4711 arrived damaged",
            "segment": "gold", "language": "en", "customer": "c-1"})
        .as_object()
        .cloned()
        .unwrap_or_default(),
        agent: None,
    });
    let applied = engine.apply(command, Utc::now().trunc_subsecs(6), Uuid::now_v7)?;
    let about = (applied.interaction.id, applied.created);
    let changes = engine.take_changes();
    writer
        .send(changes.rows, changes.events, changes.agents, about)
        .await
        .await
        .context("writer gone")?
        .map_err(|e| anyhow::anyhow!("commit: {e}"))
}
