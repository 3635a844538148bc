//! The instance's metrics, served at `/metrics` in the Prometheus text
//! format by the Prometheus project's client (`prometheus-client`).
//!
//! Each instance has its own registry, created with the instance (no
//! process-global registry: two instances in one process keep their counts
//! apart), and every series carries its `instance` label.
//!
//! - HTTP requests are counted as they are answered, in the registry's own
//!   types ([`HttpMetrics`], a middleware around every route).
//! - The writer keeps plain atomics ([`WriterStats`]: no lock on its hot
//!   path); a collector reads them at scrape time, the offers among the
//!   journal entries it committed too.
//! - Levels owned elsewhere — queues and agents (the live task), the lease,
//!   the configuration in force — are read for each scrape ([`Levels`]) and
//!   encoded by a collector of that scrape alone.

use crate::engine::EventKind;
use crate::live::{Gauges, ScopeSource};
use crate::store::WriterStats;
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::prometheus_text::encode;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric, LabelValueEncoder,
    NoLabelSet,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// The `Content-Type` of the page (the Prometheus text format, 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The `route` of a request that no route matched: one value for all of
/// them, whatever their path.
pub const UNMATCHED: &str = "unmatched";

/// One instance's registry and the metrics it updates as it serves.
#[derive(Debug)]
pub struct Metrics {
    instance: String,
    registry: Registry,
    http: HttpMetrics,
    feed_readers: Gauge,
}

impl Metrics {
    /// The registry of `instance`; the writer's counters are read from
    /// `writer` at each scrape.
    pub fn new(instance: &str, writer: Arc<WriterStats>) -> Metrics {
        let mut registry = labelled(instance);
        let http = HttpMetrics::new();
        registry.register(
            "ixs_http_requests",
            "HTTP requests answered, by method, route template (`unmatched` when no route \
             matched) and status",
            http.requests.clone(),
        );
        registry.register(
            "ixs_http_request_duration_seconds",
            "Time to answer an HTTP request, up to its response head, by method and route \
             template",
            http.duration.clone(),
        );
        let feed_readers = Gauge::default();
        registry.register(
            "ixs_feed_readers",
            "Readers connected to the event feed (GET /v1/events).",
            feed_readers.clone(),
        );
        registry.register_collector(Box::new(WriterCollector(writer)));
        Metrics {
            instance: instance.to_owned(),
            registry,
            http,
            feed_readers,
        }
    }

    /// Counts one reader of the event feed as connected for as long as the
    /// guard lives.
    pub fn feed_reader(&self) -> FeedReaderGuard {
        self.feed_readers.inc();
        FeedReaderGuard(self.feed_readers.clone())
    }

    /// What the HTTP middleware counts into.
    pub fn http(&self) -> HttpMetrics {
        self.http.clone()
    }

    /// The page: the registry, then the levels read for this scrape.
    pub fn render(&self, levels: Levels) -> String {
        let mut scrape = labelled(&self.instance);
        scrape.register_collector(Box::new(levels));
        let mut page = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut page, &self.registry);
        let _ = encode(&mut page, &scrape);
        page
    }
}

/// One connected reader of the event feed, counted until dropped.
#[derive(Debug)]
pub struct FeedReaderGuard(Gauge);

impl Drop for FeedReaderGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn labelled(instance: &str) -> Registry {
    Registry::with_labels(std::iter::once((
        "instance".into(),
        instance.to_owned().into(),
    )))
}

// ---- HTTP ----

/// Upper bounds of the request-latency buckets, in seconds.
const REQUEST_SECONDS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn request_histogram() -> Histogram {
    Histogram::new(REQUEST_SECONDS)
}

/// Requests by method, route template and status, and their latency by
/// method and route template. Cheap to clone (shared families).
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
}

impl HttpMetrics {
    fn new() -> HttpMetrics {
        HttpMetrics {
            requests: Family::default(),
            duration: Family::new_with_constructor(request_histogram),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: Route,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: Route,
    status: u16,
}

/// The route template a request matched (`/v1/interactions/{id}`), never
/// its path: a label whose values the router bounds. Holds axum's shared
/// string, so that counting a request copies no text.
#[derive(Debug, Clone)]
struct Route(Option<MatchedPath>);

impl Route {
    fn as_str(&self) -> &str {
        self.0.as_ref().map_or(UNMATCHED, MatchedPath::as_str)
    }
}

impl PartialEq for Route {
    fn eq(&self, other: &Route) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Route {}

impl Hash for Route {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for Route {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> fmt::Result {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// The method as a label: the standard ones, anything else as `other` (a
/// client chooses the method, and must not choose the label's values).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// The middleware: counts each request by the route it matched (axum
/// puts the template in the request before a route's layers run) and the
/// status of its answer.
pub async fn track(State(http): State<HttpMetrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = Route(request.extensions().get::<MatchedPath>().cloned());
    let response = next.run(request).await;
    let took = started.elapsed().as_secs_f64();
    http.duration
        .get_or_create(&RouteLabels {
            method,
            route: route.clone(),
        })
        .observe(took);
    http.requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

// ---- The writer ----

/// Reads the writer's atomics at scrape time.
#[derive(Debug)]
struct WriterCollector(Arc<WriterStats>);

impl Collector for WriterCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let stats = &self.0;
        let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
        let batches = load(&stats.batches);
        let changes = load(&stats.requests);
        let commit_seconds = load(&stats.commit_micros) as f64 / 1e6;
        counter(
            &mut encoder,
            "ixs_writer_batches",
            "Transactions committed by the writer.",
            batches,
        )?;
        counter(
            &mut encoder,
            "ixs_writer_changes",
            "Changes committed by the writer.",
            changes,
        )?;
        counter(
            &mut encoder,
            "ixs_writer_retries",
            "Commits retried after a transient database failure.",
            load(&stats.retries),
        )?;
        let metric = encoder.encode_descriptor(
            "ixs_writer_commit_seconds",
            "Time spent on committed batches, from taking a connection to the answer \
             (successful attempts only).",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(commit_seconds).encode(metric)?;

        let bounds = WriterStats::BATCH_SIZES.iter().map(|&le| le as f64);
        let buckets = histogram_buckets(bounds, &stats.batch_sizes);
        let mut metric = encoder.encode_descriptor(
            "ixs_writer_batch_size",
            "Changes per committed transaction.",
            None,
            MetricType::Histogram,
        )?;
        metric.encode_histogram::<NoLabelSet>(changes as f64, batches, &buckets, None)?;

        let bounds = WriterStats::COMMIT_MICROS.iter().map(|&le| le as f64 / 1e6);
        let buckets = histogram_buckets(bounds, &stats.commit_times);
        let mut metric = encoder.encode_descriptor(
            "ixs_writer_commit_duration_seconds",
            "Time to commit one batch, from taking a connection to the answer (successful \
             attempts only).",
            None,
            MetricType::Histogram,
        )?;
        metric.encode_histogram::<NoLabelSet>(commit_seconds, batches, &buckets, None)?;

        let offers = [
            (
                "ixs_offers_made",
                "Offers made to agents (by routing, a routing client or a transfer), committed.",
                stats.events_of(EventKind::Offered) + stats.events_of(EventKind::Transferred),
            ),
            (
                "ixs_offers_accepted",
                "Offers accepted by their agent, committed.",
                stats.events_of(EventKind::Accepted),
            ),
            (
                "ixs_offers_rejected",
                "Offers rejected by their agent, committed.",
                stats.events_of(EventKind::Rejected),
            ),
            (
                "ixs_offers_timed_out",
                "Offers their agent left unanswered past the delivery timeout, committed.",
                stats.events_of(EventKind::OfferTimedOut),
            ),
        ];
        for (name, help, value) in offers {
            counter(&mut encoder, name, help, value)?;
        }
        Ok(())
    }
}

/// `(upper bound, count)` per bucket, the last one `+Inf`, from counts that
/// are not cumulative (the encoder adds them up).
fn histogram_buckets(
    bounds: impl Iterator<Item = f64>,
    counts: &[std::sync::atomic::AtomicU64],
) -> Vec<(f64, u64)> {
    bounds
        .chain(std::iter::once(f64::INFINITY))
        .zip(counts)
        .map(|(le, count)| (le, count.load(Ordering::Relaxed)))
        .collect()
}

fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(value).encode(metric)
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> fmt::Result {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(metric)
}

// ---- Levels, read for each scrape ----

/// What `/metrics` reads from their owners when it is scraped.
#[derive(Debug, Default)]
pub struct Levels {
    /// Whether this instance holds its database lease (and serves).
    pub lease_held: bool,
    /// Where the configuration in force comes from.
    pub source: Option<ScopeSource>,
    /// The configuration server's revision in force.
    pub revision: Option<u64>,
    /// The live task's levels; `None` while it does not run (standby,
    /// starting, stopping).
    pub live: Option<Gauges>,
}

impl Collector for Levels {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        gauge(
            &mut encoder,
            "ixs_active",
            "1 while this instance holds its database lease.",
            i64::from(self.lease_held),
        )?;
        // Only an instance that follows a configuration server has a
        // connection to it; one reading the tenant's files has neither.
        let connected = match self.source {
            Some(ScopeSource::ConfigServer) => Some(1),
            Some(ScopeSource::Cache) => Some(0),
            Some(ScopeSource::Directory) | None => None,
        };
        if let Some(connected) = connected {
            gauge(
                &mut encoder,
                "ixs_config_server_connected",
                "1 while the configuration in force follows the configuration server, 0 while \
                 it is the snapshot cached in the database (the server is unreachable).",
                connected,
            )?;
        }
        if let Some(revision) = self.revision {
            gauge(
                &mut encoder,
                "ixs_config_revision",
                "The configuration server's revision in force.",
                i64::try_from(revision).unwrap_or(i64::MAX),
            )?;
        }
        let Some(live) = &self.live else {
            return Ok(());
        };
        let mut metric = encoder.encode_descriptor(
            "ixs_queue_depth",
            "Interactions waiting in the queue.",
            None,
            MetricType::Gauge,
        )?;
        for queue in &live.queues {
            let labels = [
                ("process", queue.process.as_str()),
                ("queue", queue.queue.as_str()),
            ];
            ConstGauge::new(queue.depth as i64).encode(metric.encode_family(&labels)?)?;
        }
        let mut metric = encoder.encode_descriptor(
            "ixs_queue_oldest_age_seconds",
            "How long the longest-waiting interaction of the queue has waited (0 when empty).",
            None,
            MetricType::Gauge,
        )?;
        for queue in &live.queues {
            let labels = [
                ("process", queue.process.as_str()),
                ("queue", queue.queue.as_str()),
            ];
            ConstGauge::new(queue.oldest_age_secs).encode(metric.encode_family(&labels)?)?;
        }
        let mut metric = encoder.encode_descriptor(
            "ixs_agents_ready",
            "Logged-in agents ready for the media.",
            None,
            MetricType::Gauge,
        )?;
        for (media, ready) in &live.ready_by_media {
            let labels = [("media", media.as_str())];
            ConstGauge::new(*ready as i64).encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::QueueSnapshot;

    #[test]
    fn two_registries_keep_their_counts_and_labels_apart() {
        let (a, b) = (Arc::new(WriterStats::default()), Arc::default());
        a.batches.fetch_add(3, Ordering::Relaxed);
        let sales = Metrics::new("sales", a).render(Levels::default());
        let support = Metrics::new("support", b).render(Levels::default());
        assert!(
            sales.contains("ixs_writer_batches_total{instance=\"sales\"} 3\n"),
            "{sales}"
        );
        assert!(
            support.contains("ixs_writer_batches_total{instance=\"support\"} 0\n"),
            "{support}"
        );
    }

    #[test]
    fn levels_are_encoded_with_their_labels() {
        let metrics = Metrics::new("sales", Arc::default());
        let page = metrics.render(Levels {
            lease_held: true,
            source: Some(ScopeSource::Cache),
            revision: Some(7),
            live: Some(Gauges {
                queues: vec![QueueSnapshot {
                    process: "sales-email".into(),
                    queue: "inbound".into(),
                    depth: 2,
                    oldest_age_secs: 5,
                    interactions: Vec::new(),
                }],
                ready_by_media: [("chat".to_owned(), 1), ("email".to_owned(), 0)].into(),
            }),
        });
        for line in [
            "# HELP ixs_active 1 while this instance holds its database lease.",
            "# TYPE ixs_active gauge",
            "ixs_active{instance=\"sales\"} 1",
            "ixs_config_server_connected{instance=\"sales\"} 0",
            "ixs_config_revision{instance=\"sales\"} 7",
            "ixs_queue_depth{instance=\"sales\",process=\"sales-email\",queue=\"inbound\"} 2",
            "ixs_queue_oldest_age_seconds{instance=\"sales\",process=\"sales-email\",queue=\"inbound\"} 5",
            "ixs_agents_ready{instance=\"sales\",media=\"chat\"} 1",
            "ixs_agents_ready{instance=\"sales\",media=\"email\"} 0",
            "# TYPE ixs_writer_batches_total counter",
            "ixs_writer_batch_size_bucket{instance=\"sales\",le=\"+Inf\"} 0",
        ] {
            assert!(page.lines().any(|l| l == line), "no {line:?} in\n{page}");
        }
    }

    #[test]
    fn a_directory_instance_shows_no_config_server_connection() {
        let page = Metrics::new("sales", Arc::default()).render(Levels {
            source: Some(ScopeSource::Directory),
            ..Levels::default()
        });
        assert!(!page.contains("ixs_config_server_connected"), "{page}");
        assert!(!page.contains("ixs_queue_depth"), "{page}");
    }
}
