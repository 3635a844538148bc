//! `ixs bench`: a load generator of the whole lifecycle, driving a running
//! instance over HTTP exactly as its real clients do.
//!
//! Gateways submit e-mails (open loop: Poisson arrivals at a target rate;
//! or closed loop: clients submitting as fast as they are answered).
//! Simulated agents log in, keep their live stream open, take each offer
//! from it, accept it, hold it, and stop it. The run measures every step
//! from the client's side ([`Report`]) and reads the writer's batch sizes
//! from `/metrics` before and after.
//!
//! The engine knows nothing of this module: it only speaks the public
//! `/v1` API.

mod agent;
mod answer;
mod feed;
mod gateway;
mod metrics;
mod report;
mod tally;
mod tenant;

pub use feed::FeedReport;
pub use report::{Errors, Latencies, Latency, PerSec, Report, WriterReport};
pub use tenant::{BACKLOG_QUEUE, TenantPlan, write_tenant};

use anyhow::{Context, bail, ensure};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tally::Tally;
use tokio_util::sync::CancellationToken;

/// What one run does.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The instance, e.g. `http://127.0.0.1:7201`.
    pub url: String,
    /// Allow a URL whose host is not a loopback address.
    pub allow_remote: bool,
    /// The person the gateways log in as.
    pub gateway: String,
    /// The password of the gateway and of every agent.
    pub password: String,
    /// Where the interactions are submitted.
    pub process: String,
    pub queue: String,
    /// Their media type; the agents log in with it.
    pub media: String,
    pub arrivals: Arrivals,
    /// The agents' login names (empty: nobody handles what is submitted).
    pub agents: Vec<String>,
    /// How long an agent holds an interaction between accept and stop.
    pub hold: Hold,
    /// How long the gateways submit.
    pub duration: Option<Duration>,
    /// How many interactions the gateways submit.
    pub count: Option<u64>,
    /// After the last submit, how long to wait for the agents to finish.
    pub drain: Duration,
    /// Show a progress line on standard error.
    pub progress: bool,
    /// Each submit's `customer_id` is one of this many customers, who come
    /// back (a `last_agent` step then waits for the agent who last had
    /// them); 0: each interaction is a new customer's.
    pub returning_customers: u64,
    /// A person (role reporter) who reads the event feed during the run,
    /// measuring how far behind the changes it reads them.
    pub feed_reader: Option<String>,
}

/// How the gateways submit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrivals {
    /// Open loop: Poisson arrivals at this many per second, whatever the
    /// answers take. Latencies count from the scheduled time, so that a
    /// server (or generator) falling behind shows in them.
    Rate(f64),
    /// Closed loop: this many clients, each submitting again as soon as it
    /// is answered.
    Clients(usize),
}

/// An agent's handling time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Hold {
    Fixed(Duration),
    /// Exponentially distributed with this mean.
    Exponential(Duration),
}

impl Hold {
    fn sample(self) -> Duration {
        match self {
            Hold::Fixed(hold) => hold,
            Hold::Exponential(mean) => mean.mul_f64(exponential()),
        }
    }
}

/// A draw of the exponential distribution of mean 1.
fn exponential() -> f64 {
    let uniform: f64 = rand::Rng::r#gen(&mut rand::thread_rng());
    -(1.0 - uniform).ln()
}

/// Agent names from a pattern: `{n}` replaced by 1 to `count`.
pub fn names_from_pattern(pattern: &str, count: usize) -> anyhow::Result<Vec<String>> {
    ensure!(
        pattern.contains("{n}"),
        "agent name pattern {pattern:?} has no {{n}}"
    );
    Ok((1..=count)
        .map(|n| pattern.replace("{n}", &n.to_string()))
        .collect())
}

/// What every task of a run shares.
struct Run {
    plan: Plan,
    base: String,
    tally: Tally,
    /// Distinguishes this run's external ids from any other run's.
    run_id: String,
    /// Numbers claimed for submits.
    claimed: std::sync::atomic::AtomicU64,
    /// No submit is sent from here on.
    deadline: Option<Instant>,
}

impl Run {
    /// The next submit's number, or `None` once the count or the duration
    /// is reached.
    fn claim(&self) -> Option<u64> {
        if self
            .deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
        {
            return None;
        }
        let n = self
            .claimed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match self.plan.count {
            Some(count) if n >= count => None,
            _ => Some(n + 1),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Runs `plan` against its instance and reports what it measured. Fails
/// only when the run cannot start (the URL, a log-in, an agent's stream);
/// errors during the run are counted in the report.
pub async fn run(plan: Plan) -> anyhow::Result<Report> {
    let base = check_url(&plan.url, plan.allow_remote)?;
    ensure!(
        plan.duration.is_some() || plan.count.is_some(),
        "a run needs a duration or a count, or both"
    );
    match plan.arrivals {
        Arrivals::Rate(rate) => {
            ensure!(rate.is_finite() && rate > 0.0, "the rate must be positive")
        }
        Arrivals::Clients(clients) => ensure!(clients > 0, "at least one client"),
    }
    let mut names = plan.agents.clone();
    names.sort();
    names.dedup();
    ensure!(names.len() == plan.agents.len(), "an agent is named twice");

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let before = metrics::scrape(&http, &base)
        .await
        .with_context(|| format!("{base}/metrics"))?;
    let token = answer::log_in(&http, &base, &plan.gateway, &plan.password)
        .await
        .with_context(|| format!("log-in of the gateway {:?}", plan.gateway))?;

    let progress = progress_bar(plan.progress);
    progress.set_message(format!("{} agents logging in", plan.agents.len()));
    let agents = agent::log_in_all(&base, &plan).await?;
    let feed_reader = match &plan.feed_reader {
        Some(person) => Some(feed::FeedReader::start(&base, person, &plan.password).await?),
        None => None,
    };

    let started = Instant::now();
    let run = Arc::new(Run {
        deadline: plan.duration.map(|d| started + d),
        base,
        tally: Tally::new(),
        run_id: uuid::Uuid::now_v7().simple().to_string(),
        claimed: 0.into(),
        plan,
    });
    let stop_agents = CancellationToken::new();
    let agent_tasks: Vec<_> = agents
        .into_iter()
        .map(|agent| tokio::spawn(agent.serve(run.clone(), stop_agents.clone())))
        .collect();
    let ticker = tokio::spawn(show_progress(run.clone(), progress.clone(), started));

    gateway::submit_all(run.clone(), token).await?;
    let submitted_at = Instant::now();
    if !run.plan.agents.is_empty() {
        drain(&run, submitted_at + run.plan.drain).await;
    }
    let finished = Instant::now();
    stop_agents.cancel();
    for task in agent_tasks {
        task.await.context("an agent's task")?;
    }
    ticker.abort();
    progress.finish_and_clear();
    let feed = match feed_reader {
        Some(reader) => Some(reader.finish().await?),
        None => None,
    };

    let after = metrics::scrape(&http, &run.base).await?;
    Ok(report::build(
        &run,
        submitted_at - started,
        finished - started,
        &before,
        &after,
        feed,
    ))
}

/// `url` without a trailing slash, if its host is a loopback address (or
/// `allow_remote`).
fn check_url(url: &str, allow_remote: bool) -> anyhow::Result<String> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("URL {url:?}"))?;
    ensure!(
        matches!(parsed.scheme(), "http" | "https"),
        "URL {url:?}: http or https only"
    );
    let Some(host) = parsed.host_str() else {
        bail!("URL {url:?} has no host");
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback && !allow_remote {
        bail!(
            "URL {url:?} is not a loopback address; a load test of another machine needs --remote"
        );
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// Waits until every interaction submitted is completed, or until
/// `deadline`.
async fn drain(run: &Run, deadline: Instant) {
    while Instant::now() < deadline {
        let counts = run.tally.counts();
        if counts.completed + counts.lost >= counts.submitted {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn progress_bar(shown: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        None,
        if shown {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("a valid template"));
    bar
}

/// Updates the progress line five times a second.
async fn show_progress(run: Arc<Run>, bar: ProgressBar, started: Instant) {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tick.tick().await;
        let secs = started.elapsed().as_secs_f64();
        let c = run.tally.counts();
        bar.set_message(format!(
            "{secs:5.1} s  submitted {} ({:.0}/s)  offered {}  completed {} ({:.0}/s)  errors {}",
            c.submitted,
            c.submitted as f64 / secs.max(0.001),
            c.offered,
            c.completed,
            c.completed as f64 / secs.max(0.001),
            c.errors,
        ));
        bar.tick();
    }
}
