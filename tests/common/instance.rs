//! One `ixs serve` instance inside the test process: built on its own (or a
//! shared) test database, port 0, serving until `shutdown`.

use super::answer::Answer;
use super::db::TestDb;
use ixs::daemon::{Daemon, RunError};
use ixs::settings::{OnLeaseHeld, Settings};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The solutions of the example tenant, as `config/tenant/` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Solution {
    Sales,
    Support,
}

impl Solution {
    pub fn name(self) -> &'static str {
        match self {
            Solution::Sales => "sales",
            Solution::Support => "support",
        }
    }

    pub fn application(self) -> &'static str {
        match self {
            Solution::Sales => "ixs-sales",
            Solution::Support => "ixs-support",
        }
    }

    /// The business processes it serves, sorted.
    pub fn processes(self) -> [&'static str; 2] {
        match self {
            Solution::Sales => ["sales-chat", "sales-email"],
            Solution::Support => ["support-chat", "support-email"],
        }
    }

    pub fn email(self) -> &'static str {
        self.processes()[1]
    }

    pub fn chat(self) -> &'static str {
        self.processes()[0]
    }

    pub fn other(self) -> Solution {
        match self {
            Solution::Sales => Solution::Support,
            Solution::Support => Solution::Sales,
        }
    }
}

/// The tenant's directory files.
pub fn tenant_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/config/tenant"))
}

/// A copy of the tenant's directory files in a scratch folder, with each
/// `(file, text)` of `additions` appended to its file, for an instance whose
/// tenant differs from the example's.
pub fn tenant_copy(additions: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("scratch folder for the tenant");
    for entry in std::fs::read_dir(tenant_dir()).expect("the example tenant") {
        let path = entry.expect("a tenant file").path();
        if path.extension().is_some_and(|e| e == "toml") {
            std::fs::copy(&path, dir.path().join(path.file_name().expect("a name")))
                .expect("copy a tenant file");
        }
    }
    for (file, text) in additions {
        let path = dir.path().join(file);
        let mut whole = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        whole.push('\n');
        whole.push_str(text);
        std::fs::write(&path, whole).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
    dir
}

/// The settings of `solution` on `db`, port 0, everything else at its
/// default.
pub fn settings_for(solution: Solution, db: &TestDb) -> Settings {
    ixs::settings::for_instance(
        solution.name(),
        solution.application(),
        "127.0.0.1:0".parse().expect("socket address"),
        db.url(),
        ixs::settings::ScopeFrom::Directory(tenant_dir()),
    )
}

/// Settings overrides used by several tests.
pub mod tweak {
    use super::*;

    /// Stand by as a hot backup instead of exiting when the lease is held,
    /// and look for the free lease often.
    pub fn wait_for_lease(settings: &mut Settings) {
        settings.database.on_lease_held = OnLeaseHeld::Wait;
        settings.database.lease_renew = Duration::from_millis(100);
        settings.database.lease_ttl = Duration::from_secs(2);
    }

    /// Renew (and so notice a lost lease) every 100 ms.
    pub fn renew_often(settings: &mut Settings) {
        settings.database.lease_renew = Duration::from_millis(100);
        settings.database.lease_ttl = Duration::from_secs(2);
    }

    /// Renew only every 30 s, so that a lease stolen in a test is found out
    /// by the writer's fencing, not by the renewal.
    pub fn renew_rarely(settings: &mut Settings) {
        settings.database.lease_renew = Duration::from_secs(30);
        settings.database.lease_ttl = Duration::from_secs(60);
    }

    /// Bodies of at most 1 KiB.
    pub fn small_bodies(settings: &mut Settings) {
        settings.listen.max_body_bytes = 1024;
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .with_ansi(false)
        .try_init();
}

/// A running instance and what a test needs to talk to it.
pub struct TestInstance {
    pub solution: Solution,
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    /// A pool of the test's own on the instance's database.
    pub pool: PgPool,
    pub db: Arc<TestDb>,
    /// The bearer token of the person the helpers act as (`admin` unless
    /// changed with `act_as`).
    pub token: String,
    cancel: CancellationToken,
    run: Option<JoinHandle<Result<(), RunError>>>,
}

/// A fresh database and an instance of `solution` on it, ready.
pub async fn spawn_instance(solution: Solution) -> TestInstance {
    spawn_instance_with(solution, |_| {}).await
}

/// Like [`spawn_instance`], with settings overrides.
pub async fn spawn_instance_with(
    solution: Solution,
    configure: impl FnOnce(&mut Settings),
) -> TestInstance {
    let db = Arc::new(TestDb::create().await);
    let instance = start_on(db, solution, configure).await;
    instance.wait_ready().await;
    instance
}

/// Builds and starts an instance of `solution` on `db` without waiting for
/// it to be ready (it may stand by, or fail to take the lease), acting as
/// `admin` once it holds the lease. One started while another holds the
/// lease issues no token: its token is empty.
pub async fn start_on(
    db: Arc<TestDb>,
    solution: Solution,
    configure: impl FnOnce(&mut Settings),
) -> TestInstance {
    let mut settings = settings_for(solution, &db);
    configure(&mut settings);
    let held = lease_held(&db).await;
    let mut instance = launch(db, solution, settings).await;
    if !held {
        instance.token = instance.log_in_or_empty(ADMIN).await;
    }
    instance
}

/// Whether an instance holds the lease of `db` now (a database not yet
/// migrated has none).
async fn lease_held(db: &TestDb) -> bool {
    let pool = db.pool().await;
    let held: Result<bool, sqlx::Error> = sqlx::query_scalar(
        "SELECT holder IS NOT NULL AND expires_at > now() FROM instance_lease WHERE id = 1",
    )
    .fetch_one(&pool)
    .await;
    pool.close().await;
    held.unwrap_or(false)
}

/// The settings of `solution` on `db`, port 0, following the configuration
/// server at `url` with the demo secret, everything else at its default.
pub fn settings_on_server(solution: Solution, db: &TestDb, url: &str) -> Settings {
    ixs::settings::for_instance(
        solution.name(),
        solution.application(),
        "127.0.0.1:0".parse().expect("socket address"),
        db.url(),
        ixs::settings::ScopeFrom::Server {
            url: url.to_owned(),
            secret: super::config_server::DEMO_SECRET.to_owned(),
        },
    )
}

/// A fresh database and an instance of `solution` on it that follows the
/// configuration server at `url`; ready, acting as `admin`.
pub async fn spawn_instance_on_server(
    solution: Solution,
    url: &str,
    configure: impl FnOnce(&mut Settings),
) -> TestInstance {
    let db = Arc::new(TestDb::create().await);
    let mut instance = start_on_server(db, solution, url, configure).await;
    instance.wait_ready().await;
    instance.act_as(ADMIN).await;
    instance
}

/// Builds and starts an instance of `solution` on `db` that follows the
/// configuration server at `url`, without waiting for anything and without
/// logging in (which needs the configuration server): its token is empty.
pub async fn start_on_server(
    db: Arc<TestDb>,
    solution: Solution,
    url: &str,
    configure: impl FnOnce(&mut Settings),
) -> TestInstance {
    let mut settings = settings_on_server(solution, &db, url);
    configure(&mut settings);
    launch(db, solution, settings).await
}

/// Builds and starts an instance with `settings`; its token is empty.
async fn launch(db: Arc<TestDb>, solution: Solution, settings: Settings) -> TestInstance {
    init_tracing();
    let daemon = Daemon::build(settings)
        .await
        .unwrap_or_else(|e| panic!("cannot build instance {}: {e:#}", solution.name()));
    let addr = daemon.local_addr();
    let cancel = CancellationToken::new();
    let run = tokio::spawn(daemon.run(cancel.clone()));
    TestInstance {
        solution,
        addr,
        client: http_client(),
        pool: db.pool().await,
        db,
        token: String::new(),
        cancel,
        run: Some(run),
    }
}

/// The demo tenant's administrator: every role.
pub const ADMIN: &str = "admin";
/// Every demo person's password.
pub const PASSWORD: &str = "demo";

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

/// A gateway's submission to `process`/`queue`.
pub fn gateway(process: &str, queue: &str) -> Value {
    json!({ "process": process, "queue": queue, "media_type": "email" })
}

impl TestInstance {
    /// Another instance of the same solution on the same database, started
    /// but not awaited.
    pub async fn start_sibling(&self, configure: impl FnOnce(&mut Settings)) -> TestInstance {
        start_on(self.db.clone(), self.solution, configure).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Logs `person` in (password `demo`); the answer of `POST /v1/sessions`.
    pub async fn log_in(&self, person: &str, password: &str) -> Answer {
        let request = self
            .client
            .post(self.url("/v1/sessions"))
            .json(&json!({ "person": person, "password": password }));
        Answer::of(request, format!("log in {person}")).await
    }

    /// A token of `person` once the instance holds its lease (only then
    /// does it issue tokens), or empty if it stopped before (as one refused
    /// its lease does).
    async fn log_in_or_empty(&self, person: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while tokio::time::Instant::now() < deadline && !self.is_finished() {
            let response = self
                .client
                .post(self.url("/v1/sessions"))
                .json(&json!({ "person": person, "password": PASSWORD }))
                .send()
                .await;
            if let Ok(response) = response {
                if let Ok(answer) = Answer::from_response(response).await {
                    let starting = answer.status == 503 && answer.code() == Some("not_active");
                    if !starting {
                        assert_eq!(answer.status, 201, "log in {person}: {answer}");
                        return answer.body["token"].as_str().expect("token").to_owned();
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        String::new()
    }

    /// From now on the helpers act as `person`.
    pub async fn act_as(&mut self, person: &str) {
        self.token = self.token_of(person).await;
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.client.request(method, self.url(path));
        if self.token.is_empty() {
            request
        } else {
            request.bearer_auth(&self.token)
        }
    }

    /// Polls `/readyz` until it answers 200; panics after 15 s, or at once
    /// if the instance stopped.
    pub async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(answer) = self.try_get("/readyz").await {
                if answer.status == 200 {
                    return;
                }
            }
            if self.run.as_ref().is_some_and(|run| run.is_finished()) {
                panic!(
                    "instance {} stopped before it was ready",
                    self.solution.name()
                );
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "instance {} not ready within 15 s",
                self.solution.name()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether `run` has returned.
    pub fn is_finished(&self) -> bool {
        self.run.as_ref().is_none_or(|run| run.is_finished())
    }

    /// Cancels the instance and returns what `run` returned.
    pub async fn shutdown(mut self) -> Result<(), RunError> {
        self.cancel.cancel();
        self.join().await
    }

    /// Starts the graceful shutdown without waiting for it.
    pub fn begin_shutdown(&self) {
        self.cancel.cancel();
    }

    /// Waits (at most 20 s) for `run` to return by itself.
    pub async fn join(&mut self) -> Result<(), RunError> {
        let run = self.run.take().expect("the instance was already joined");
        tokio::time::timeout(Duration::from_secs(20), run)
            .await
            .unwrap_or_else(|_| {
                panic!("instance {} did not stop within 20 s", self.solution.name())
            })
            .expect("the instance's run task panicked")
    }

    // ---- HTTP helpers: each returns the status and the JSON body ----

    pub async fn try_get(&self, path: &str) -> reqwest::Result<Answer> {
        Answer::from_response(self.request(reqwest::Method::GET, path).send().await?).await
    }

    pub async fn get_path(&self, path: &str) -> Answer {
        self.try_get(path)
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub async fn send_json(&self, method: reqwest::Method, path: &str, body: &Value) -> Answer {
        let request = self.request(method.clone(), path).json(body);
        Answer::of(request, format!("{method} {path}")).await
    }

    /// Sends raw bytes with the given content type (or none).
    pub async fn send_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Answer {
        let mut request = self.request(method.clone(), path);
        if let Some(content_type) = content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        Answer::of(request.body(body), format!("{method} {path}")).await
    }

    pub async fn submit(&self, body: &Value) -> Answer {
        self.send_json(reqwest::Method::POST, "/v1/interactions", body)
            .await
    }

    /// The live stream of the agent holding `token`, opened: its first
    /// `state` event read.
    pub async fn live_stream(&self, token: &str) -> super::sse::LiveStream {
        super::sse::LiveStream::open(&self.url("/v1/agents/me/events"), token).await
    }

    /// A token of `person` (password `demo`).
    pub async fn token_of(&self, person: &str) -> String {
        let answer = self.log_in(person, PASSWORD).await;
        assert_eq!(answer.status, 201, "log in {person}: {answer}");
        answer.body["token"].as_str().expect("token").to_owned()
    }

    /// Submits as the holder of `token`.
    pub async fn submit_with(&self, token: &str, body: &Value) -> Answer {
        let request = self
            .client
            .post(self.url("/v1/interactions"))
            .bearer_auth(token)
            .json(body);
        Answer::of(request, format!("submit {body}")).await
    }

    /// Submits and asserts 201; returns the interaction.
    pub async fn submit_ok(&self, body: &Value) -> Value {
        let answer = self.submit(body).await;
        assert_eq!(answer.status, 201, "submit {body}: {answer}");
        answer.body
    }

    pub async fn get(&self, id: &str) -> Answer {
        self.get_path(&format!("/v1/interactions/{id}")).await
    }

    pub async fn find(&self, query: &[(&str, &str)]) -> Answer {
        let request = self
            .request(reqwest::Method::GET, "/v1/interactions")
            .query(query);
        Answer::of(request, format!("find {query:?}")).await
    }

    /// The ids a successful find returned, in order.
    pub async fn find_ids(&self, query: &[(&str, &str)]) -> Vec<String> {
        let answer = self.find(query).await;
        assert_eq!(answer.status, 200, "find {query:?}: {answer}");
        answer.body["interactions"]
            .as_array()
            .expect("interactions array")
            .iter()
            .map(|i| i["id"].as_str().expect("id").to_owned())
            .collect()
    }

    pub async fn change_properties(&self, id: &str, patch: &Value) -> Answer {
        self.send_json(
            reqwest::Method::PATCH,
            &format!("/v1/interactions/{id}/properties"),
            patch,
        )
        .await
    }

    pub async fn place_in_queue(&self, id: &str, body: &Value) -> Answer {
        self.send_json(
            reqwest::Method::POST,
            &format!("/v1/interactions/{id}/place-in-queue"),
            body,
        )
        .await
    }

    pub async fn stop(&self, id: &str, reason: &str) -> Answer {
        self.send_json(
            reqwest::Method::POST,
            &format!("/v1/interactions/{id}/stop"),
            &json!({ "reason": reason }),
        )
        .await
    }

    pub async fn queue(&self, process: &str, queue: &str) -> Answer {
        self.get_path(&format!("/v1/queues/{process}/{queue}"))
            .await
    }

    /// Depth and the ids in routing order of a queue the instance serves.
    pub async fn queue_order(&self, process: &str, queue: &str) -> (u64, Vec<String>) {
        let answer = self.queue(process, queue).await;
        assert_eq!(answer.status, 200, "queue {process}/{queue}: {answer}");
        let ids = answer.body["interactions"]
            .as_array()
            .expect("interactions array")
            .iter()
            .map(|i| i["id"].as_str().expect("id").to_owned())
            .collect();
        (answer.body["depth"].as_u64().expect("depth"), ids)
    }

    pub async fn scope(&self) -> Answer {
        self.get_path("/v1/scope").await
    }

    /// The names of the processes `/v1/scope` lists, in its order.
    pub async fn served_processes(&self) -> Vec<String> {
        let answer = self.scope().await;
        assert_eq!(
            answer.status,
            200,
            "{} /v1/scope: {answer}",
            self.solution.name()
        );
        answer.body["processes"]
            .as_array()
            .expect("processes array")
            .iter()
            .map(|p| p["name"].as_str().expect("process name").to_owned())
            .collect()
    }

    /// Any request as the holder of `token` (none: no Authorization header).
    pub async fn request_as(
        &self,
        token: Option<&str>,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Answer {
        let mut request = self.client.request(method.clone(), self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        Answer::of(request, format!("{method} {path}")).await
    }

    pub async fn readyz(&self) -> Answer {
        self.get_path("/readyz").await
    }

    // ---- Database assertions ----

    /// Rows of `interactions` and `interaction_events`.
    pub async fn counts(&self) -> (i64, i64) {
        counts(&self.pool).await
    }

    /// The journal of one interaction: its event kinds, oldest first.
    pub async fn journal(&self, id: &str) -> Vec<String> {
        let id = Uuid::parse_str(id).expect("interaction id");
        sqlx::query_scalar(
            "SELECT kind FROM interaction_events WHERE interaction_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .expect("read the journal")
    }

    /// `(holder, instance, epoch)` of the lease row.
    pub async fn lease(&self) -> (Option<String>, Option<String>, i64) {
        sqlx::query_as("SELECT holder, instance, epoch FROM instance_lease WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .expect("read the lease")
    }
}

/// Interactions whose journal does not hold exactly one event per version
/// (one for the submit, one for each change since).
pub async fn journal_gaps(pool: &PgPool) -> Vec<(Uuid, i64, i64)> {
    sqlx::query_as(
        "SELECT i.id, i.version, count(e.id)
         FROM interactions i LEFT JOIN interaction_events e ON e.interaction_id = i.id
         GROUP BY i.id, i.version
         HAVING i.version <> count(e.id)",
    )
    .fetch_all(pool)
    .await
    .expect("compare versions with the journal")
}

/// Rows of `interactions` and `interaction_events` in the database of `pool`.
pub async fn counts(pool: &PgPool) -> (i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM interactions), (SELECT count(*) FROM interaction_events)",
    )
    .fetch_one(pool)
    .await
    .expect("count rows")
}

impl Drop for TestInstance {
    /// A test that fails half-way still stops its instance.
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
