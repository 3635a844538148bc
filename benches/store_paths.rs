//! Where a durable submit's time goes below HTTP: the store paths of
//! `POST /v1/interactions`, driven directly through the library, without
//! the HTTP server, the engine task or a load generator in the way.
//!
//! For each pool setting (sqlx's default `test_before_acquire(true)`, which
//! pings every connection it hands out, and `false`), 64 concurrent
//! tasks run for 8 s each:
//!
//! - `lookup`: `PgStore::by_external_id` of a new external id (the SELECT the
//!   submit handler runs first);
//! - `commit`: one new interaction and its event through the writer (group
//!   commit), waiting for the commit, as the handler does;
//! - `both`: the two in turn: the handler's database work for one submit.
//!
//! Two more settings, without the ping: the writer on a connection of its
//! own instead of queueing for the pool behind the lookups; and, on top of
//! that, the writer's transaction (BEGIN, fence check, upsert, insert
//! events, COMMIT: five round trips) done as one statement in its implicit
//! transaction (one round trip), to show what those round trips cost.
//!
//! Run: `cargo bench --bench store_paths` (about a minute and a half). The
//! database is created fresh and dropped at the end.

use anyhow::{Context, bail};
use chrono::{SubsecRound, Utc};
use ixs::engine::{Event, EventKind, Interaction, State};
use ixs::store::{
    Batch, Fence, JournalEntry, LeaseHolder, LeaseOutcome, PgStore, Purged, Store, StoreError,
    WriterHandle, WriterStats,
};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use uuid::Uuid;

const TASKS: usize = 64;
const SECS: u64 = 8;
const POOL: u32 = 8;
const MAX_OPS_PER_TASK: u64 = 1_000_000;

#[derive(Clone, Copy, Debug)]
enum Path {
    Lookup,
    Commit,
    Both,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let server = std::env::var("IXS_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let name = format!("ixs_bench_paths_{}", Uuid::now_v7().simple());
    let mut admin = PgConnection::connect(&server).await?;
    admin
        .execute(format!("CREATE DATABASE \"{name}\"").as_str())
        .await?;
    let mut url = reqwest::Url::parse(&server)?;
    url.set_path(&format!("/{name}"));
    let outcome = run(url.as_str()).await;
    admin
        .execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
        .await?;
    outcome
}

/// How the store is set up.
#[derive(Clone, Copy, Debug)]
struct Setting {
    /// sqlx's `test_before_acquire`: a ping each time a pooled connection
    /// is handed out.
    ping: bool,
    /// The writer has a connection of its own, outside the lookups' pool.
    own_connection: bool,
    /// The writer commits in one statement instead of five.
    one_trip: bool,
}

impl Setting {
    fn label(&self) -> String {
        format!(
            "ping {:<3} writer {:<15} commit in {}",
            if self.ping { "on" } else { "off" },
            if self.own_connection {
                "own connection"
            } else {
                "pooled"
            },
            if self.one_trip {
                "1 statement "
            } else {
                "5 statements"
            },
        )
    }
}

async fn run(url: &str) -> anyhow::Result<()> {
    println!("{TASKS} tasks, pool of {POOL}, {SECS} s each; ops/s (writer mean batch)");
    let settings = [
        (true, false, false),
        (false, false, false),
        (false, true, false),
        (false, true, true),
    ]
    .map(|(ping, own_connection, one_trip)| Setting {
        ping,
        own_connection,
        one_trip,
    });
    for setting in settings {
        for path in [Path::Lookup, Path::Commit, Path::Both] {
            if setting.own_connection && matches!(path, Path::Lookup) {
                continue;
            }
            let (ops, batch) = measure(url, setting, path).await?;
            println!(
                "  {} {:<7} {ops:>8.0}/s{}",
                setting.label(),
                format!("{path:?}").to_lowercase(),
                batch.map_or(String::new(), |b| format!("  (batch {b:.1})"))
            );
        }
    }
    Ok(())
}

/// Runs `path` from `TASKS` tasks for `SECS`; operations per second and,
/// when the writer ran, its mean batch.
async fn measure(url: &str, setting: Setting, path: Path) -> anyhow::Result<(f64, Option<f64>)> {
    let pool = PgPoolOptions::new()
        .max_connections(POOL)
        .test_before_acquire(setting.ping)
        .connect(url)
        .await?;
    let store = PgStore::from_pool(pool);
    let writer_store = if setting.own_connection {
        let own = PgPoolOptions::new()
            .max_connections(1)
            .test_before_acquire(setting.ping)
            .connect(url)
            .await?;
        PgStore::from_pool(own)
    } else {
        store.clone()
    };
    store.migrate().await?;
    sqlx::query("TRUNCATE interactions, interaction_events")
        .execute(store.pool())
        .await?;
    let holder = LeaseHolder::new("paths");
    let fence = match store
        .acquire_lease(&holder, Duration::from_secs(60))
        .await?
    {
        LeaseOutcome::Acquired(fence) => fence,
        held => bail!("lease {held}"),
    };
    let stats = Arc::new(WriterStats::default());
    let store = Arc::new(Paths {
        pg: store,
        writer: writer_store,
        one_trip: setting.one_trip,
    });
    let (writer, handle) =
        ixs::store::Writer::new(store.clone(), fence.clone(), 10_000, 500, stats.clone());
    let writer = tokio::spawn(writer.run());
    let end = Instant::now() + Duration::from_secs(SECS);
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let (store, handle) = (store.clone(), handle.clone());
        tasks.push(tokio::spawn(async move {
            let mut ops = 0u64;
            while Instant::now() < end && ops < MAX_OPS_PER_TASK {
                ops += 1;
                let external_id = format!("paths-{task}-{ops}");
                if matches!(path, Path::Lookup | Path::Both) {
                    let found = store.pg.by_external_id("anonymous", &external_id).await?;
                    anyhow::ensure!(found.is_none(), "a new external id was found");
                }
                if matches!(path, Path::Commit | Path::Both) {
                    submit(&handle, external_id).await?;
                }
            }
            anyhow::Ok(ops)
        }));
    }
    drop(handle);
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    writer
        .await?
        .map_err(|e| anyhow::anyhow!("writer: {e}"))
        .context("the writer stopped")?;
    store.release_lease(&fence).await?;
    store.pg.pool().close().await;
    store.writer.pool().close().await;
    let batches = stats.batches.load(Ordering::Relaxed);
    let batch =
        (batches > 0).then(|| stats.requests.load(Ordering::Relaxed) as f64 / batches as f64);
    Ok((total as f64 / SECS as f64, batch))
}

/// The PostgreSQL store, whose writer may have a connection of its own and
/// may commit in one statement.
struct Paths {
    pg: PgStore,
    /// Where the writer commits: `pg` itself, or a pool of one connection.
    writer: PgStore,
    one_trip: bool,
}

/// The writer's transaction as one statement: fence check, upsert and
/// events in one implicit transaction; nothing is written unless the fence
/// holds.
const ONE_TRIP: &str = "
WITH fence AS (
    SELECT epoch FROM instance_lease WHERE id = 1 AND holder = $1 AND epoch = $2 FOR SHARE
), upserted AS (
    INSERT INTO interactions (id, external_id, submitted_by, process, queue, workbin, state,
        media_type, type, subtype, priority, properties, agent, submitted_at,
        placed_in_queue_at, offered_at, assigned_at, stopped_at, stop_reason, version)
    SELECT * FROM UNNEST($3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[],
        $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::int4[],
        $14::jsonb[], $15::text[], $16::timestamptz[], $17::timestamptz[],
        $18::timestamptz[], $19::timestamptz[], $20::timestamptz[], $21::text[], $22::int8[])
    WHERE EXISTS (SELECT 1 FROM fence)
    ON CONFLICT (id) DO UPDATE SET
        process = EXCLUDED.process, queue = EXCLUDED.queue, workbin = EXCLUDED.workbin,
        state = EXCLUDED.state, priority = EXCLUDED.priority,
        properties = EXCLUDED.properties, agent = EXCLUDED.agent,
        placed_in_queue_at = EXCLUDED.placed_in_queue_at,
        offered_at = EXCLUDED.offered_at, assigned_at = EXCLUDED.assigned_at,
        stopped_at = EXCLUDED.stopped_at, stop_reason = EXCLUDED.stop_reason,
        version = EXCLUDED.version
    WHERE interactions.version < EXCLUDED.version
), journaled AS (
    INSERT INTO interaction_events (interaction_id, kind, process, at, data)
    SELECT interaction_id, kind, process, at, data
    FROM UNNEST($23::uuid[], $24::text[], $25::text[], $26::timestamptz[], $27::jsonb[])
        WITH ORDINALITY AS e(interaction_id, kind, process, at, data, n)
    WHERE EXISTS (SELECT 1 FROM fence)
    ORDER BY n
)
SELECT count(*) FROM fence";

impl Paths {
    async fn commit_one_trip(&self, fence: &Fence, batch: &Batch) -> Result<(), StoreError> {
        let rows = &batch.rows;
        let events = &batch.events;
        let held: i64 = sqlx::query_scalar(ONE_TRIP)
            .bind(&fence.holder)
            .bind(fence.epoch)
            .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.external_id.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|r| r.submitted_by.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.process.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.queue.as_deref()).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.workbin.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.state.as_str()).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.media_type.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.subtype.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.priority).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| serde_json::Value::Object(r.properties.clone()))
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.agent.as_deref()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.submitted_at).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.placed_in_queue_at)
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.offered_at).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.assigned_at).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.stopped_at).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.stop_reason.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.version).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.interaction_id).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>())
            .bind(
                events
                    .iter()
                    .map(|e| e.process.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(events.iter().map(|e| e.at).collect::<Vec<_>>())
            .bind(events.iter().map(|e| &e.data).collect::<Vec<_>>())
            .fetch_one(self.writer.pool())
            .await?;
        if held == 1 {
            Ok(())
        } else {
            Err(StoreError::Fenced(fence.epoch))
        }
    }
}

impl Store for Paths {
    async fn commit(&self, fence: &Fence, batch: &Batch) -> Result<Vec<uuid::Uuid>, StoreError> {
        if self.one_trip {
            self.commit_one_trip(fence, batch)
                .await
                .map(|()| Vec::new())
        } else {
            self.writer.commit(fence, batch).await
        }
    }

    async fn load_live(&self, processes: &[String]) -> Result<Vec<Interaction>, StoreError> {
        self.pg.load_live(processes).await
    }

    async fn read_journal(&self, after: i64, limit: i64) -> Result<Vec<JournalEntry>, StoreError> {
        self.pg.read_journal(after, limit).await
    }

    async fn purge(
        &self,
        fence: &Fence,
        stopped_before: chrono::DateTime<Utc>,
        events_before: chrono::DateTime<Utc>,
        batch: i64,
    ) -> Result<Purged, StoreError> {
        self.pg
            .purge(fence, stopped_before, events_before, batch)
            .await
    }

    async fn acquire_lease(
        &self,
        holder: &LeaseHolder,
        ttl: Duration,
    ) -> Result<LeaseOutcome, StoreError> {
        self.pg.acquire_lease(holder, ttl).await
    }

    async fn renew_lease(&self, fence: &Fence, ttl: Duration) -> Result<bool, StoreError> {
        self.pg.renew_lease(fence, ttl).await
    }

    async fn release_lease(&self, fence: &Fence) -> Result<(), StoreError> {
        self.pg.release_lease(fence).await
    }

    async fn get(&self, id: Uuid) -> Result<Option<Interaction>, StoreError> {
        self.pg.get(id).await
    }
}

/// What the engine hands the writer for a gateway's new e-mail.
async fn submit(writer: &WriterHandle, external_id: String) -> anyhow::Result<()> {
    let now = Utc::now().trunc_subsecs(6);
    let interaction = Interaction {
        id: Uuid::now_v7(),
        external_id: Some(external_id),
        submitted_by: "anonymous".into(),
        process: "sales-email".into(),
        queue: Some("inbound".into()),
        workbin: None,
        state: State::Queued,
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
        submitted_at: now,
        placed_in_queue_at: Some(now),
        offered_at: None,
        assigned_at: None,
        stopped_at: None,
        stop_reason: None,
        version: 1,
    };
    let event = Event {
        kind: EventKind::Submitted,
        interaction_id: interaction.id,
        process: interaction.process.clone(),
        at: now,
        data: serde_json::to_value(&interaction)?,
    };
    let about = Some((interaction.id, true));
    writer
        .send(vec![interaction], vec![event], about)
        .await
        .await
        .context("writer gone")?
        .map_err(|e| anyhow::anyhow!("commit: {e}"))
}
