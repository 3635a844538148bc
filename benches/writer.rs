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

use anyhow::{Context, bail};
use chrono::{SubsecRound, Utc};
use ixs::engine::{Command, Engine, Served, ServedProcess, Submit};
use ixs::store::{LeaseHolder, LeaseOutcome, PgStore, Store, Writer, WriterHandle, WriterStats};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection};
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
    let name = format!("ixs_bench_writer_{}", Uuid::now_v7().simple());
    let mut admin = PgConnection::connect(&server)
        .await
        .with_context(|| format!("cannot connect to {server}"))?;
    admin
        .execute(format!("CREATE DATABASE \"{name}\"").as_str())
        .await?;
    let mut url = reqwest::Url::parse(&server)?;
    url.set_path(&format!("/{name}"));
    println!("{TASKS} tasks, {SECS} s per round");
    let mut outcome = Ok(());
    for round in 1..=ROUNDS {
        match measure(url.as_str(), round).await {
            Ok(line) => println!("  {line}"),
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    admin
        .execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
        .await?;
    outcome
}

/// Runs one round; the line to print.
async fn measure(url: &str, round: usize) -> anyhow::Result<String> {
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .test_before_acquire(false)
        .connect(url)
        .await?;
    let store = Arc::new(PgStore::from_pool(pool));
    store.migrate().await?;
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
    let postgres_before = postgres_cpu_secs()?;
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
    let postgres = (postgres_cpu_secs()? - postgres_before) / elapsed;
    writer
        .await?
        .map_err(|e| anyhow::anyhow!("writer: {e}"))
        .context("the writer stopped")?;
    store.release_lease(&fence).await?;
    store.pool().close().await;
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

/// CPU seconds used so far by every process named `postgres`.
fn postgres_cpu_secs() -> anyhow::Result<f64> {
    let ticks = 100.0; // USER_HZ on Linux
    let mut total = 0u64;
    for entry in std::fs::read_dir("/proc")? {
        let path = entry?.path();
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        if !head.ends_with("(postgres") {
            continue;
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of stat, 12 and 13 after
        // the command name.
        if let (Some(user), Some(system)) = (fields.get(11), fields.get(12)) {
            total += user.parse::<u64>().unwrap_or(0) + system.parse::<u64>().unwrap_or(0);
        }
    }
    Ok(total as f64 / ticks)
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
    writer
        .send(vec![applied.interaction], applied.events, about)
        .await
        .await
        .context("writer gone")?
        .map_err(|e| anyhow::anyhow!("commit: {e}"))
}
