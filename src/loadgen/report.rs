//! What a run measured: the JSON of `--json`, and the text otherwise.

use super::feed::FeedReport;
use super::metrics::Writer;
use super::{Arrivals, Hold, Run};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Everything a run measured. Counts are interactions of this run unless
/// said otherwise; times are in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub url: String,
    /// `rate` (open loop) or `clients` (closed loop).
    pub mode: &'static str,
    /// Target arrivals per second (open loop).
    pub rate: Option<f64>,
    /// Concurrent gateway clients (closed loop).
    pub clients: Option<usize>,
    pub agents: usize,
    /// `fixed 0ms` or `exponential, mean 2s`.
    pub hold: String,
    /// From the first submit to the last answer of a submit.
    pub submit_secs: f64,
    /// From the first submit until every interaction completed (or the
    /// drain gave up).
    pub elapsed_secs: f64,
    /// Submits answered `201 Created`.
    pub submitted: u64,
    /// Offers received on the agents' streams (a re-offer counts again;
    /// offers of interactions this run did not submit included).
    pub offered: u64,
    pub accepted: u64,
    /// Interactions of this run stopped by their agent.
    pub completed: u64,
    /// Offers taken back from an agent (`revoked` on its stream).
    pub revoked: u64,
    /// Offers of interactions this run did not submit (handled all the
    /// same: accepted and stopped).
    pub other_offers: u64,
    pub per_sec: PerSec,
    pub latency_ms: Latencies,
    pub errors: Errors,
    /// The instance's writer during the run, from `/metrics`.
    pub writer: WriterReport,
    /// The event feed's reader, with `--feed-reader`.
    pub feed: Option<FeedReport>,
}

/// Rates: submitted over `submit_secs`, the others over `elapsed_secs`.
#[derive(Debug, Clone, Serialize)]
pub struct PerSec {
    pub submitted: f64,
    pub offered: f64,
    pub completed: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Latencies {
    /// Submit sent (open loop: due) → `201`.
    pub submit: Latency,
    /// Submit sent → the offer's arrival on the agent's stream (the first
    /// offer of each interaction).
    pub submit_to_offer: Latency,
    /// Offer arrived → the accept's answer.
    pub offer_to_accept: Latency,
    /// Submit sent → the stop's answer.
    pub end_to_end: Latency,
    /// Placed in its queue → offered, by the server's timestamps (the
    /// first offer of each interaction).
    pub queue_wait: Latency,
}

/// One latency's distribution, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    pub(super) fn of(histogram: &Histogram<u64>) -> Latency {
        let ms = |micros: u64| micros as f64 / 1000.0;
        Latency {
            count: histogram.len(),
            p50: ms(histogram.value_at_quantile(0.50)),
            p90: ms(histogram.value_at_quantile(0.90)),
            p99: ms(histogram.value_at_quantile(0.99)),
            max: ms(histogram.max()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Errors {
    pub total: u64,
    /// By `"<status> <code>"` (`409 illegal_transition`), `transport` (no
    /// answer) or `stream` (an agent's live stream failed).
    pub by_kind: BTreeMap<String, u64>,
    /// The first one, in full.
    pub first: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WriterReport {
    /// Transactions committed during the run.
    pub batches: u64,
    /// Changes they held.
    pub changes: u64,
    pub mean_batch: f64,
    /// Commits by batch size, in the buckets of `/metrics`.
    pub batch_sizes: Vec<BatchSize>,
}

/// The commits whose batch size is in `size` (`"1"`, `"2-4"`, `"257+"`).
#[derive(Debug, Clone, Serialize)]
pub struct BatchSize {
    pub size: String,
    pub commits: u64,
}

impl WriterReport {
    fn between(before: &Writer, after: &Writer) -> WriterReport {
        let batches = after.batches.saturating_sub(before.batches);
        let changes = after.changes.saturating_sub(before.changes);
        let mut batch_sizes = Vec::new();
        let (mut lower, mut previous) = (1, 0);
        for (i, (le, count)) in after.buckets.iter().enumerate() {
            let count_before = before.buckets.get(i).map_or(0, |(_, c)| *c);
            let cumulative = count.saturating_sub(count_before);
            let range = match le.parse::<u64>() {
                Ok(upper) if upper == lower => format!("{upper}"),
                Ok(upper) => format!("{lower}-{upper}"),
                Err(_) => format!("{lower}+"),
            };
            batch_sizes.push(BatchSize {
                size: range,
                commits: cumulative.saturating_sub(previous),
            });
            lower = le.parse::<u64>().map_or(lower, |upper| upper + 1);
            previous = cumulative;
        }
        WriterReport {
            batches,
            changes,
            mean_batch: if batches == 0 {
                0.0
            } else {
                changes as f64 / batches as f64
            },
            batch_sizes,
        }
    }
}

pub(super) fn build(
    run: &Run,
    submit_time: Duration,
    elapsed: Duration,
    before: &Writer,
    after: &Writer,
    feed: Option<FeedReport>,
) -> Report {
    let plan = &run.plan;
    let counts = run.tally.counts();
    let (latency_ms, errors) = run.tally.read(|h, errors, first| {
        (
            Latencies {
                submit: Latency::of(&h.submit),
                submit_to_offer: Latency::of(&h.to_offer),
                offer_to_accept: Latency::of(&h.accept),
                end_to_end: Latency::of(&h.end_to_end),
                queue_wait: Latency::of(&h.queue_wait),
            },
            Errors {
                total: errors.values().sum(),
                by_kind: errors.clone(),
                first: first.map(str::to_owned),
            },
        )
    });
    let submit_secs = submit_time.as_secs_f64();
    let elapsed_secs = elapsed.as_secs_f64();
    let per = |n: u64, secs: f64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
    Report {
        url: run.base.clone(),
        mode: match plan.arrivals {
            Arrivals::Rate(_) => "rate",
            Arrivals::Clients(_) => "clients",
        },
        rate: match plan.arrivals {
            Arrivals::Rate(rate) => Some(rate),
            Arrivals::Clients(_) => None,
        },
        clients: match plan.arrivals {
            Arrivals::Clients(clients) => Some(clients),
            Arrivals::Rate(_) => None,
        },
        agents: plan.agents.len(),
        hold: match plan.hold {
            Hold::Fixed(hold) => format!("fixed {}", humantime::format_duration(hold)),
            Hold::Exponential(mean) => {
                format!("exponential, mean {}", humantime::format_duration(mean))
            }
        },
        submit_secs,
        elapsed_secs,
        submitted: counts.submitted,
        offered: counts.offered,
        accepted: counts.accepted,
        completed: counts.completed,
        revoked: counts.revoked,
        other_offers: counts.other_offers,
        per_sec: PerSec {
            submitted: per(counts.submitted, submit_secs),
            offered: per(counts.offered, elapsed_secs),
            completed: per(counts.completed, elapsed_secs),
        },
        latency_ms,
        errors,
        writer: WriterReport::between(before, after),
        feed,
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let load = match (self.rate, self.clients) {
            (Some(rate), _) => format!("open loop, {rate}/s Poisson"),
            (_, Some(clients)) => format!("closed loop, {clients} clients"),
            _ => String::new(),
        };
        writeln!(
            f,
            "{}: {load}, {} agents, hold {}",
            self.url, self.agents, self.hold
        )?;
        writeln!(
            f,
            "submitted {} in {:.1} s ({:.0}/s); offered {}, accepted {}, completed {} in {:.1} s \
             ({:.0} offered/s, {:.0} completed/s); revoked {}, other offers {}",
            self.submitted,
            self.submit_secs,
            self.per_sec.submitted,
            self.offered,
            self.accepted,
            self.completed,
            self.elapsed_secs,
            self.per_sec.offered,
            self.per_sec.completed,
            self.revoked,
            self.other_offers,
        )?;
        writeln!(
            f,
            "latency (ms)          count      p50      p90      p99      max"
        )?;
        let l = &self.latency_ms;
        for (name, latency) in [
            ("submit", &l.submit),
            ("submit → offer", &l.submit_to_offer),
            ("offer → accept", &l.offer_to_accept),
            ("end to end", &l.end_to_end),
            ("queue wait (server)", &l.queue_wait),
        ] {
            writeln!(
                f,
                "  {name:<19} {:>7} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
                latency.count, latency.p50, latency.p90, latency.p99, latency.max
            )?;
        }
        if self.errors.total == 0 {
            writeln!(f, "errors: none")?;
        } else {
            writeln!(f, "errors: {}", self.errors.total)?;
            for (kind, n) in &self.errors.by_kind {
                writeln!(f, "  {kind}: {n}")?;
            }
            if let Some(first) = &self.errors.first {
                writeln!(f, "  first: {first}")?;
            }
        }
        let w = &self.writer;
        write!(
            f,
            "writer: {} commits of {} changes, mean batch {:.1}",
            w.batches, w.changes, w.mean_batch
        )?;
        let sizes: Vec<String> = w
            .batch_sizes
            .iter()
            .filter(|bucket| bucket.commits > 0)
            .map(|bucket| format!("{}: {}", bucket.size, bucket.commits))
            .collect();
        if !sizes.is_empty() {
            write!(f, " (by size: {})", sizes.join(", "))?;
        }
        writeln!(f)?;
        if let Some(feed) = &self.feed {
            let l = &feed.lag_ms;
            writeln!(
                f,
                "event feed ({}): {} entries, behind the change (ms): p50 {:.2}, p90 {:.2}, \
                 p99 {:.2}, max {:.2}",
                feed.person, feed.entries, l.p50, l.p90, l.p99, l.max
            )?;
            if let Some(ended) = &feed.ended {
                writeln!(f, "  its stream ended early: {ended}")?;
            }
        }
        Ok(())
    }
}
