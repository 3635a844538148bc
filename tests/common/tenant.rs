//! The example tenant as it runs in production: one configuration server on
//! a scratch copy of the tenant's files, and the instances `sales` and
//! `support`, each on its own database, following it.

use super::answer::Answer;
use super::config_server::TestConfigServer;
use super::instance::{Solution, TestInstance, counts, spawn_instance_on_server};
use ixs::settings::Settings;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

/// How long something that should follow at once may take.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// The longest a scope change may take, from the file write to being served.
pub const SCOPE_CHANGE: Duration = Duration::from_secs(1);

/// A gateway's chat submission.
pub fn chat(process: &str, queue: &str, priority: i64) -> Value {
    json!({ "process": process, "queue": queue, "media_type": "chat", "priority": priority })
}

/// The ids of a queue snapshot's interactions, in order.
pub fn ids_of(snapshot: &Answer) -> Vec<String> {
    snapshot.body["interactions"]
        .as_array()
        .unwrap_or_else(|| panic!("not a snapshot: {snapshot}"))
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Asserts a 403 `out_of_scope` that names `process`.
#[track_caller]
pub fn assert_out_of_scope(what: &str, answer: &Answer, process: &str) {
    assert_eq!(answer.status, 403, "{what}: {answer}");
    answer.assert_error(403, "out_of_scope");
    let message = answer.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(process),
        "{what}: names {process}: {answer}"
    );
}

/// `/readyz` if the instance is ready and says it serves from `source`
/// (`config_server`, `cache`).
pub async fn ready_from(instance: &TestInstance, source: &str) -> Option<Answer> {
    let ready = instance.readyz().await;
    (ready.status == 200 && ready.body["source"] == source).then_some(ready)
}

pub struct Tenant {
    pub server: TestConfigServer,
    pub sales: TestInstance,
    pub support: TestInstance,
}

impl Tenant {
    /// The configuration server with its default settings, and both
    /// instances ready and acting as `admin`.
    pub async fn start() -> Tenant {
        let server = TestConfigServer::spawn_with(|_| {}).await;
        let url = server.url();
        let (sales, support) = tokio::join!(
            spawn_instance_on_server(Solution::Sales, &url, |_| {}),
            spawn_instance_on_server(Solution::Support, &url, |_| {}),
        );
        assert_ne!(sales.db.name(), support.db.name());
        Tenant {
            server,
            sales,
            support,
        }
    }

    pub fn instances(&self) -> [&TestInstance; 2] {
        [&self.sales, &self.support]
    }

    /// Rows of `interactions` and `interaction_events` of `sales`, then of
    /// `support`.
    pub async fn counts(&self) -> [(i64, i64); 2] {
        [
            counts(&self.sales.pool).await,
            counts(&self.support.pool).await,
        ]
    }
}

/// Every interaction row of a database: `(id, process, state, version)`,
/// by id.
pub async fn rows(pool: &PgPool) -> Vec<(Uuid, String, String, i64)> {
    sqlx::query_as("SELECT id, process, state, version FROM interactions ORDER BY id")
        .fetch_all(pool)
        .await
        .expect("read the interactions")
}

/// Every journal entry of a database: `(position, interaction, kind)`.
pub async fn journal(pool: &PgPool) -> Vec<(i64, Uuid, String)> {
    sqlx::query_as("SELECT id, interaction_id, kind FROM interaction_events ORDER BY id")
        .fetch_all(pool)
        .await
        .expect("read the journal")
}

/// The revision of the configuration snapshot an instance keeps in its
/// database, if it keeps one.
pub async fn cached_revision(pool: &PgPool) -> Option<i64> {
    sqlx::query_scalar("SELECT revision FROM config_cache WHERE id = 1")
        .fetch_optional(pool)
        .await
        .expect("read the configuration cache")
}

/// Polls `check` every 5 ms until it holds; returns how long after `since`
/// it first did. Panics with `what` after `limit`.
pub async fn held_after<F, Fut>(
    since: Instant,
    limit: Duration,
    what: &str,
    mut check: F,
) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = since + limit;
    loop {
        if check().await {
            return since.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
