//! Load generator: durable submits per second through HTTP.
//!
//! Creates a fresh database on the PostgreSQL server of
//! `IXS_BENCH_DATABASE_URL`, starts an ixs `sales` instance on it (by default
//! the real `ixs serve` binary in its own process, with `config/sales.toml`;
//! `--instance in-process` builds a `Daemon` in this process instead), and
//! then, over loopback only:
//!
//! 1. latency probe: one client submitting sequentially (`--probe-secs`). Its
//!    p50 is one submit's round trip through HTTP, the engine and a writer
//!    commit; a Nagle/delayed-ACK regression on the database sockets (sqlx
//!    0.9.0 without TCP_NODELAY, DESIGN §8) would show here as ~40 ms.
//! 2. load: `--clients` concurrent clients (one keep-alive connection each)
//!    submitting as fast as they are answered, for `--warmup-secs` not
//!    counted, then `--secs` counted. Only `201 Created` counts; anything
//!    else is an error, reported (and the exit code is 1).
//!
//! It reports submits/s, latency p50/p99/max, the writer's batch size under
//! that load (from `/metrics` before and after the counted window), and the
//! CPU each party used; the last line, `RESULT key=value ...`, is for
//! `benches/run-submit-bench.sh`. The database is dropped at the end.
//!
//! Run: `cargo bench --bench submit_load -- --clients 64 --secs 20`.

mod common;

use anyhow::{Context, bail, ensure};
use clap::{Parser, ValueEnum};
use common::{Scratch, clock_ticks, postgres_ticks, process_ticks, redact};
use hdrhistogram::Histogram;
use sqlx::{Connection, PgConnection};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

/// No client sends more than this, whatever the duration.
const MAX_REQUESTS_PER_CLIENT: u64 = 2_000_000;
/// Prefix of the databases this benchmark creates (and sweeps if left over).
const DB_PREFIX: &str = "ixs_bench_";

#[derive(Debug, Parser)]
#[command(about = "Durable submits per second through ixs's HTTP API")]
struct Args {
    /// The PostgreSQL server (any database on it): the benchmark creates its
    /// own database there and drops it at the end.
    #[arg(
        long,
        env = "IXS_BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    database_url: String,
    /// Concurrent clients, one HTTP connection each.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Counted duration of the load phase, in seconds.
    #[arg(long, default_value_t = 20)]
    secs: u64,
    /// Uncounted warm-up before it, in seconds.
    #[arg(long, default_value_t = 3)]
    warmup_secs: u64,
    /// Duration of the single-client latency probe, in seconds (0: skip).
    #[arg(long, default_value_t = 2)]
    probe_secs: u64,
    /// How the instance runs.
    #[arg(long, value_enum, default_value_t = InstanceKind::Binary)]
    instance: InstanceKind,
    /// The `ixs` executable for `--instance binary`.
    #[arg(long, default_value = env!("CARGO_BIN_EXE_ixs"))]
    ixs_bin: PathBuf,
    /// A setting of the instance, as `section.key=value` (binary only; e.g.
    /// `database.max_connections=16`), passed as `IXS__SECTION__KEY`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    settings: Vec<String>,
    /// Submit without an external id (which spares the handler its lookup
    /// by external id before the submit), to measure what that lookup costs.
    #[arg(long)]
    no_external_id: bool,
    /// Sample the instance's database sessions in `pg_stat_activity` during
    /// the counted window and report where they spend their time.
    #[arg(long)]
    pg_waits: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum InstanceKind {
    /// `ixs serve --config config/sales.toml` in a child process.
    Binary,
    /// `Daemon::build` + `run` inside this process.
    InProcess,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(
        args.settings.is_empty() || args.instance == InstanceKind::Binary,
        "--set works with --instance binary only"
    );
    ensure!(
        args.clients > 0 && args.secs > 0,
        "--clients and --secs must be positive"
    );
    let scratch = Scratch::create(&args.database_url, DB_PREFIX).await?;
    let outcome = bench(&args, &scratch.url).await;
    scratch.drop_database().await;
    let report = outcome?;
    if report.errors > 0 {
        bail!("{} requests were not answered 201 Created", report.errors);
    }
    Ok(())
}

struct Report {
    errors: u64,
}

async fn bench(args: &Args, database_url: &str) -> anyhow::Result<Report> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let instance = Instance::start(args, manifest, database_url).await?;
    let base = format!("http://{}", instance.addr());
    let outcome = async {
        wait_ready(&base).await?;
        println!(
            "ixs instance 'sales' ({}) at {base}, database {}",
            match args.instance {
                InstanceKind::Binary => "binary, separate process",
                InstanceKind::InProcess => "in-process daemon",
            },
            redact(database_url)
        );
        let run = uuid::Uuid::now_v7().simple().to_string();
        let probe = if args.probe_secs > 0 {
            let window = Window::starting_now(Duration::ZERO, secs(args.probe_secs));
            let outcome = run_clients(&base, &run, "probe", 1, window, args).await?;
            print_latency("latency probe (1 client, sequential)", &outcome);
            Some(outcome)
        } else {
            None
        };
        let window = Window::starting_now(secs(args.warmup_secs), secs(args.secs));
        let cpu_pid = instance.pid();
        let scrape = tokio::spawn(scrape_window(base.clone(), window, cpu_pid));
        let waits = args
            .pg_waits
            .then(|| tokio::spawn(sample_waits(database_url.to_owned(), window)));
        let load = run_clients(&base, &run, "load", args.clients, window, args).await?;
        let (before, after, cpu) = scrape.await??;
        print_load(args, &load, &before, &after, &cpu);
        if let Some(waits) = waits {
            print_waits(&waits.await??);
        }
        let errors = probe.as_ref().map_or(0, |p| p.error_count()) + load.error_count();
        let others = cpu.others(args.instance == InstanceKind::Binary) / load.window.as_secs_f64();
        print_result_line(
            args,
            probe.as_ref(),
            &load,
            (&before, &after),
            others,
            errors,
        );
        anyhow::Ok(Report { errors })
    }
    .await;
    instance.stop().await;
    outcome
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

// ---------------------------------------------------------------- instance

/// The ixs instance under test.
enum Instance {
    Binary {
        child: Child,
        addr: std::net::SocketAddr,
    },
    InProcess {
        cancel: CancellationToken,
        task: tokio::task::JoinHandle<()>,
        addr: std::net::SocketAddr,
    },
}

impl Instance {
    async fn start(args: &Args, manifest: &Path, database_url: &str) -> anyhow::Result<Instance> {
        match args.instance {
            InstanceKind::Binary => {
                let overrides = args
                    .settings
                    .iter()
                    .map(|setting| {
                        let (key, value) = setting
                            .split_once('=')
                            .with_context(|| format!("--set {setting}: not KEY=VALUE"))?;
                        let key = format!("IXS__{}", key.to_uppercase().replace('.', "__"));
                        Ok((key, value.to_owned()))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                Self::spawn_binary(&args.ixs_bin, manifest, database_url, &overrides).await
            }
            InstanceKind::InProcess => {
                ixs::telemetry::init(Some("warn,tower_http=off"), false);
                let settings = ixs::settings::for_instance(
                    "sales",
                    "ixs-sales",
                    "127.0.0.1:0".parse()?,
                    database_url,
                    ixs::settings::ScopeFrom::Directory(manifest.join("config/tenant")),
                );
                let daemon = ixs::daemon::Daemon::build(settings).await?;
                let addr = daemon.local_addr();
                let cancel = CancellationToken::new();
                let run = daemon.run(cancel.clone());
                let task = tokio::spawn(async move {
                    if let Err(e) = run.await {
                        eprintln!("the instance stopped: {e}");
                    }
                });
                Ok(Instance::InProcess { cancel, task, addr })
            }
        }
    }

    /// `ixs serve` with `config/sales.toml`, on the scratch database and a
    /// free port: its address is read from its "built" log line, and it is
    /// ready once it logs "serving" (it holds its lease and has recovered).
    async fn spawn_binary(
        bin: &Path,
        manifest: &Path,
        database_url: &str,
        overrides: &[(String, String)],
    ) -> anyhow::Result<Instance> {
        // config/sales.toml as it is, but reading the tenant's files
        // directly: the benchmark measures the instance, not the
        // configuration server.
        let example = std::fs::read_to_string(manifest.join("config/sales.toml"))?;
        let settings = example.replace(
            "url = \"http://127.0.0.1:7200\"\nsecret_file = \"config/secrets/ixs-sales.secret\"",
            "directory = \"config/tenant\"",
        );
        anyhow::ensure!(settings != example, "config/sales.toml changed shape");
        let file =
            std::env::temp_dir().join(format!("ixs-bench-sales-{}.toml", std::process::id()));
        std::fs::write(&file, settings)?;
        let mut child = Command::new(bin)
            .current_dir(manifest)
            .args(["--log-format", "json", "serve", "--config"])
            .arg(&file)
            .env("IXS__DATABASE__URL", database_url)
            .env("IXS__LISTEN__HTTP", "127.0.0.1:0")
            .env("RUST_LOG", "info,sqlx=warn")
            .envs(overrides.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let stderr = child.stderr.take().context("no stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let started = tokio::time::timeout(Duration::from_secs(30), async {
            let mut addr = None;
            while let Some(line) = lines.next_line().await? {
                match log_message(&line) {
                    Some((message, fields)) if message == "built" => {
                        addr = fields
                            .get("addr")
                            .and_then(|a| a.as_str())
                            .and_then(|a| a.parse().ok());
                    }
                    Some((message, _)) if message == "serving" => {
                        return addr.context("ixs served before it said where");
                    }
                    Some(_) if line.contains("\"level\":\"INFO\"") => {}
                    _ => eprintln!("ixs: {line}"),
                }
            }
            bail!("ixs exited before it was serving")
        })
        .await;
        let addr = match started {
            Ok(Ok(addr)) => addr,
            Ok(Err(e)) => return Err(e),
            Err(_) => bail!("ixs was not serving within 30 s"),
        };
        // Keep draining its log so that it never blocks on a full pipe; show
        // what is not routine.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if !line.contains("\"level\":\"INFO\"") {
                    eprintln!("ixs: {line}");
                }
            }
        });
        Ok(Instance::Binary { child, addr })
    }

    fn pid(&self) -> Option<u32> {
        match self {
            Instance::Binary { child, .. } => child.id(),
            Instance::InProcess { .. } => Some(std::process::id()),
        }
    }

    /// Stops it as an operator would: SIGTERM (or cancel), then waits.
    async fn stop(self) {
        match self {
            Instance::Binary { mut child, .. } => {
                if let Some(pid) = child.id() {
                    let _ = Command::new("kill")
                        .args(["-TERM", &pid.to_string()])
                        .status()
                        .await;
                }
                if tokio::time::timeout(Duration::from_secs(15), child.wait())
                    .await
                    .is_err()
                {
                    eprintln!("ixs did not stop within 15 s; killing it");
                    let _ = child.kill().await;
                }
            }
            Instance::InProcess { cancel, task, .. } => {
                cancel.cancel();
                let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
            }
        }
    }

    fn addr(&self) -> std::net::SocketAddr {
        match self {
            Instance::Binary { addr, .. } | Instance::InProcess { addr, .. } => *addr,
        }
    }
}

/// The message and fields of one of the daemon's JSON log lines.
fn log_message(line: &str) -> Option<(String, serde_json::Value)> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = value.get("fields")?.clone();
    let message = fields.get("message")?.as_str()?.to_owned();
    Some((message, fields))
}

async fn wait_ready(base: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = client.get(format!("{base}/readyz")).send().await {
            if response.status() == reqwest::StatusCode::OK {
                return Ok(());
            }
        }
        ensure!(Instant::now() < deadline, "ixs was not ready within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------- clients

/// When requests are sent and when they count.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// Answers from here on are counted.
    counted_from: Instant,
    /// No request is sent from here on; answers after it are not counted.
    end: Instant,
}

impl Window {
    fn starting_now(warmup: Duration, counted: Duration) -> Window {
        let counted_from = Instant::now() + warmup;
        Window {
            counted_from,
            end: counted_from + counted,
        }
    }

    fn counted(&self) -> Duration {
        self.end - self.counted_from
    }
}

/// What the clients of one phase saw.
struct Outcome {
    /// Latency of counted 201 answers, in microseconds.
    latency: Histogram<u64>,
    created: u64,
    /// Every other answer (any phase), by status or transport error.
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
    window: Duration,
}

impl Outcome {
    fn new(window: Duration) -> Outcome {
        Outcome {
            latency: Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid bounds"),
            created: 0,
            errors: BTreeMap::new(),
            first_error: None,
            window,
        }
    }

    fn error(&mut self, kind: String, detail: String) {
        *self.errors.entry(kind).or_default() += 1;
        self.first_error.get_or_insert(detail);
    }

    fn merge(&mut self, other: Outcome) {
        self.latency.add(&other.latency).expect("same bounds");
        self.created += other.created;
        for (kind, n) in other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    fn per_sec(&self) -> f64 {
        self.created as f64 / self.window.as_secs_f64()
    }

    fn ms(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }

    fn max_ms(&self) -> f64 {
        self.latency.max() as f64 / 1000.0
    }
}

async fn run_clients(
    base: &str,
    run: &str,
    phase: &str,
    clients: usize,
    window: Window,
    args: &Args,
) -> anyhow::Result<Outcome> {
    let url = format!("{base}/v1/interactions");
    let token = log_in(base, "gateway").await?;
    let mut tasks = Vec::with_capacity(clients);
    for client in 0..clients {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .tcp_nodelay(true)
            .build()?;
        let url = url.clone();
        let prefix = (!args.no_external_id).then(|| format!("bench-{run}-{phase}-{client}-"));
        let auth = format!("Bearer {token}");
        tasks.push(tokio::spawn(client_loop(
            http, url, auth, prefix, client, window,
        )));
    }
    let mut total = Outcome::new(window.counted());
    for task in tasks {
        total.merge(task.await?);
    }
    Ok(total)
}

/// A token of `person` (the demo tenant's password) on the instance at
/// `base`.
async fn log_in(base: &str, person: &str) -> anyhow::Result<String> {
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/v1/sessions"))
        .json(&serde_json::json!({ "person": person, "password": "demo" }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    answer["token"]
        .as_str()
        .map(str::to_owned)
        .context("no token in the log-in answer")
}

/// One client: submit, wait for the answer, submit again, until the window
/// ends.
async fn client_loop(
    http: reqwest::Client,
    url: String,
    auth: String,
    prefix: Option<String>,
    client: usize,
    window: Window,
) -> Outcome {
    let mut outcome = Outcome::new(window.counted());
    let mut seq: u64 = 0;
    while Instant::now() < window.end && seq < MAX_REQUESTS_PER_CLIENT {
        seq += 1;
        let external_id = match &prefix {
            Some(prefix) => format!(r#""external_id":"{prefix}{seq}","#),
            None => String::new(),
        };
        let body = format!(
            r#"{{"process":"sales-email","queue":"inbound","media_type":"email","priority":{},{external_id}"properties":{{"subject":"Order 4711 arrived damaged","segment":"gold","language":"en","customer":"c-{client}"}}}}"#,
            (seq + client as u64) % 10
        );
        let sent = Instant::now();
        let answer = http
            .post(&url)
            .header(reqwest::header::AUTHORIZATION, &auth)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        match answer {
            Ok(response) => {
                let status = response.status();
                // Read the body so that the connection is reused.
                let text = response.text().await.unwrap_or_default();
                if status != reqwest::StatusCode::CREATED {
                    outcome.error(status.to_string(), format!("{status}: {text}"));
                    continue;
                }
            }
            Err(e) => {
                outcome.error("transport".into(), e.to_string());
                continue;
            }
        }
        let done = Instant::now();
        if done >= window.counted_from && done < window.end {
            outcome.created += 1;
            let micros = (done - sent).as_micros() as u64;
            let _ = outcome.latency.record(micros.max(1));
        }
    }
    outcome
}

// ---------------------------------------------------------------- metrics

/// The writer's counters from `/metrics`.
#[derive(Debug, Default, Clone)]
struct Writer {
    batches: u64,
    changes: u64,
    /// Seconds spent committing.
    commit_secs: f64,
    /// Cumulative batch-size buckets: (upper bound label, count).
    buckets: Vec<(String, u64)>,
}

async fn scrape(base: &str) -> anyhow::Result<Writer> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await?
        .error_for_status()?
        .text()
        .await?;
    Ok(parse_metrics(&text))
}

fn parse_metrics(text: &str) -> Writer {
    let mut writer = Writer::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (Some((series, value)), Some(name)) = (line.rsplit_once(' '), line.split('{').next())
        else {
            continue;
        };
        if name == "ixs_writer_commit_seconds_total" {
            writer.commit_secs = value.parse().unwrap_or_default();
            continue;
        }
        let Ok(value) = value.parse::<u64>() else {
            continue;
        };
        match name {
            "ixs_writer_batches_total" => writer.batches = value,
            "ixs_writer_changes_total" => writer.changes = value,
            "ixs_writer_batch_size_bucket" => {
                if let Some(le) = series
                    .split("le=\"")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                {
                    writer.buckets.push((le.to_owned(), value));
                }
            }
            _ => {}
        }
    }
    writer
}

/// CPU time used, in seconds, by the instance, the rest of this process (in
/// binary mode: the load generator), the PostgreSQL server, and the whole
/// machine (busy, and all).
#[derive(Debug, Default, Clone, Copy)]
struct Cpu {
    instance: f64,
    this: f64,
    postgres: f64,
    busy: f64,
    all: f64,
}

impl Cpu {
    /// Cores used by everything else (other processes, and interrupts not
    /// charged to a process): high values mean the run was disturbed.
    fn others(&self, separate_instance: bool) -> f64 {
        let ours = self.this
            + self.postgres
            + if separate_instance {
                self.instance
            } else {
                0.0
            };
        (self.busy - ours).max(0.0)
    }

    fn read(instance: Option<u32>) -> Cpu {
        let tick = clock_ticks();
        let (busy, all) = machine_ticks();
        Cpu {
            instance: instance.map_or(0.0, |pid| process_ticks(pid) as f64 / tick),
            this: process_ticks(std::process::id()) as f64 / tick,
            postgres: postgres_ticks() as f64 / tick,
            busy: busy as f64 / tick,
            all: all as f64 / tick,
        }
    }

    fn since(self, before: Cpu) -> Cpu {
        Cpu {
            instance: self.instance - before.instance,
            this: self.this - before.this,
            postgres: self.postgres - before.postgres,
            busy: self.busy - before.busy,
            all: self.all - before.all,
        }
    }
}

/// (busy, all) ticks of all CPUs since boot; idle and iowait are not busy.
fn machine_ticks() -> (u64, u64) {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return (0, 0);
    };
    let Some(line) = stat.lines().next() else {
        return (0, 0);
    };
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let all: u64 = values.iter().take(8).sum();
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    (all - idle, all)
}

/// Scrapes `/metrics` and CPU counters at the start and the end of the
/// counted window.
async fn scrape_window(
    base: String,
    window: Window,
    instance: Option<u32>,
) -> anyhow::Result<(Writer, Writer, Cpu)> {
    tokio::time::sleep_until(window.counted_from.into()).await;
    let cpu = Cpu::read(instance);
    let before = scrape(&base).await?;
    tokio::time::sleep_until(window.end.into()).await;
    let after = scrape(&base).await?;
    let cpu = Cpu::read(instance).since(cpu);
    Ok((before, after, cpu))
}

// ---------------------------------------------------------------- waits

/// How the instance's database sessions spent the counted window: for each
/// (state, wait event, statement), the number of sessions found in it,
/// added over all samples.
struct Waits {
    samples: u64,
    by_kind: BTreeMap<String, u64>,
}

/// One session in `pg_stat_activity`: state, wait event type, wait event,
/// last statement.
type Activity = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Samples `pg_stat_activity` for the instance's database every few
/// milliseconds during the counted window, from a session of its own.
async fn sample_waits(database_url: String, window: Window) -> anyhow::Result<Waits> {
    let mut conn = PgConnection::connect(&database_url).await?;
    let mut waits = Waits {
        samples: 0,
        by_kind: BTreeMap::new(),
    };
    tokio::time::sleep_until(window.counted_from.into()).await;
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    while Instant::now() < window.end {
        tick.tick().await;
        let rows: Vec<Activity> = sqlx::query_as(
            "SELECT state, wait_event_type, wait_event, query FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid()
                   AND backend_type = 'client backend'",
        )
        .fetch_all(&mut conn)
        .await?;
        waits.samples += 1;
        for (state, wait_type, wait, query) in rows {
            let state = state.unwrap_or_default();
            let statement = statement_kind(query.as_deref().unwrap_or(""));
            let kind = match (state.as_str(), wait_type, wait) {
                ("idle", ..) => "idle (in the pool)".to_owned(),
                ("idle in transaction", ..) => {
                    format!("idle in transaction, after {statement} (waiting on ixs)")
                }
                ("active", Some(kind), Some(event)) => {
                    format!("active, waiting {kind}/{event}: {statement}")
                }
                ("active", ..) => format!("active, running: {statement}"),
                (other, ..) => other.to_owned(),
            };
            *waits.by_kind.entry(kind).or_default() += 1;
        }
    }
    conn.close().await?;
    Ok(waits)
}

/// A short name for one of the store's statements.
fn statement_kind(query: &str) -> &'static str {
    let query = query.trim_start();
    let known = [
        ("BEGIN", "BEGIN"),
        ("COMMIT", "COMMIT"),
        ("ROLLBACK", "ROLLBACK"),
        (
            "SELECT epoch FROM instance_lease",
            "fence check (SELECT FOR SHARE)",
        ),
        ("INSERT INTO interactions ", "upsert interactions"),
        ("INSERT INTO interaction_events", "insert events"),
        ("UPDATE instance_lease", "lease renewal"),
    ];
    for (prefix, name) in known {
        if query.starts_with(prefix) {
            return name;
        }
    }
    if query.starts_with("SELECT") && query.contains("external_id = $2") {
        return "lookup by external id (SELECT)";
    }
    if query.starts_with("SELECT") {
        return "other SELECT";
    }
    "other"
}

fn print_waits(waits: &Waits) {
    println!(
        "database sessions of ixs ({} samples of pg_stat_activity; average sessions in each state):",
        waits.samples
    );
    let mut kinds: Vec<(&String, &u64)> = waits.by_kind.iter().collect();
    kinds.sort_by(|a, b| b.1.cmp(a.1));
    for (kind, count) in kinds {
        println!(
            "  {:6.2}  {kind}",
            *count as f64 / waits.samples.max(1) as f64
        );
    }
}

// ---------------------------------------------------------------- report

fn print_latency(title: &str, outcome: &Outcome) {
    println!(
        "{title}: {} submits in {:.1} s ({:.0}/s); latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        outcome.created,
        outcome.window.as_secs_f64(),
        outcome.per_sec(),
        outcome.ms(0.50),
        outcome.ms(0.99),
        outcome.max_ms(),
    );
    print_errors(outcome);
}

fn print_errors(outcome: &Outcome) {
    if outcome.errors.is_empty() {
        return;
    }
    println!("  ERRORS (not 201): {:?}", outcome.errors);
    if let Some(first) = &outcome.first_error {
        println!("  first: {first}");
    }
}

/// Mean changes per committed batch between two scrapes.
fn mean_batch(before: &Writer, after: &Writer) -> f64 {
    let batches = after.batches.saturating_sub(before.batches);
    let changes = after.changes.saturating_sub(before.changes);
    if batches == 0 {
        0.0
    } else {
        changes as f64 / batches as f64
    }
}

fn print_load(args: &Args, load: &Outcome, before: &Writer, after: &Writer, cpu: &Cpu) {
    print_latency(
        &format!(
            "load ({} clients, after {} s warm-up)",
            args.clients, args.warmup_secs
        ),
        load,
    );
    let batches = after.batches.saturating_sub(before.batches);
    println!(
        "writer: {} commits of {} changes in the window: mean batch {:.1}; {:.0} commits/s; \
         mean commit {:.2} ms",
        batches,
        after.changes.saturating_sub(before.changes),
        mean_batch(before, after),
        batches as f64 / load.window.as_secs_f64(),
        if batches == 0 {
            0.0
        } else {
            1000.0 * (after.commit_secs - before.commit_secs) / batches as f64
        }
    );
    let mut lower = 1;
    let mut previous = 0;
    let mut previous_before = 0;
    for ((le, count), (_, count_before)) in after.buckets.iter().zip(&before.buckets) {
        let in_bucket = (count - previous) - (count_before - previous_before);
        let range = match le.parse::<u64>() {
            Ok(upper) if upper == lower => format!("{upper}"),
            Ok(upper) => format!("{lower}-{upper}"),
            Err(_) => format!("{lower}+"),
        };
        let share = if batches == 0 {
            0.0
        } else {
            100.0 * in_bucket as f64 / batches as f64
        };
        println!("  batch size {range:>8}: {in_bucket:>7} commits ({share:5.1}%)");
        lower = le.parse::<u64>().map_or(lower, |u| u + 1);
        previous = *count;
        previous_before = *count_before;
    }
    let window = load.window.as_secs_f64();
    let cores = |seconds: f64| seconds / window;
    match args.instance {
        InstanceKind::Binary => println!(
            "cpu (cores busy on average): ixs {:.2}, load generator {:.2}, postgres {:.2}, \
             others {:.2}; machine {:.2} of {:.0}",
            cores(cpu.instance),
            cores(cpu.this),
            cores(cpu.postgres),
            cores(cpu.others(true)),
            cores(cpu.busy),
            cores(cpu.all)
        ),
        InstanceKind::InProcess => println!(
            "cpu (cores busy on average): ixs + load generator {:.2}, postgres {:.2}, \
             others {:.2}; machine {:.2} of {:.0}",
            cores(cpu.this),
            cores(cpu.postgres),
            cores(cpu.others(false)),
            cores(cpu.busy),
            cores(cpu.all)
        ),
    }
}

fn print_result_line(
    args: &Args,
    probe: Option<&Outcome>,
    load: &Outcome,
    (before, after): (&Writer, &Writer),
    other_cores: f64,
    errors: u64,
) {
    let instance = match args.instance {
        InstanceKind::Binary => "binary",
        InstanceKind::InProcess => "in-process",
    };
    println!(
        "RESULT instance={instance} clients={} secs={} submits={} submits_per_sec={:.0} \
         p50_ms={:.2} p99_ms={:.2} max_ms={:.2} mean_batch={:.1} batches={} \
         probe_p50_ms={:.2} probe_p99_ms={:.2} other_cores={other_cores:.2} errors={errors}",
        args.clients,
        args.secs,
        load.created,
        load.per_sec(),
        load.ms(0.50),
        load.ms(0.99),
        load.max_ms(),
        mean_batch(before, after),
        after.batches.saturating_sub(before.batches),
        probe.map_or(0.0, |p| p.ms(0.50)),
        probe.map_or(0.0, |p| p.ms(0.99)),
    );
}
