//! What the run has seen so far: counters for the progress line, and, under
//! one lock, the latency histograms, the errors and the interactions in
//! flight.

use hdrhistogram::Histogram;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A latency histogram in microseconds, from 1 µs to 10 minutes.
pub(super) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds")
}

fn record(histogram: &mut Histogram<u64>, duration: Duration) {
    let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
    histogram.saturating_record(micros.max(1));
}

/// The counters, as read at one moment.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counts {
    /// Submits answered `201 Created`.
    pub submitted: u64,
    /// Offers received (a re-offer of the same interaction counts again).
    pub offered: u64,
    pub accepted: u64,
    /// Interactions of this run stopped by their agent.
    pub completed: u64,
    /// Interactions of this run that can no longer complete: their accept
    /// or stop failed.
    pub lost: u64,
    /// Offers taken back (`revoked` on the stream).
    pub revoked: u64,
    /// Offers of interactions this run did not submit (handled all the
    /// same).
    pub other_offers: u64,
    pub errors: u64,
}

#[derive(Default)]
struct Counters {
    submitted: AtomicU64,
    offered: AtomicU64,
    accepted: AtomicU64,
    completed: AtomicU64,
    lost: AtomicU64,
    revoked: AtomicU64,
    other_offers: AtomicU64,
    errors: AtomicU64,
}

/// The latency histograms (µs).
pub(super) struct Histograms {
    /// Submit sent (or scheduled) → its `201` answer.
    pub submit: Histogram<u64>,
    /// Submit sent → the offer's arrival on an agent's stream (first offer).
    pub to_offer: Histogram<u64>,
    /// Offer arrived → the accept's answer.
    pub accept: Histogram<u64>,
    /// Submit sent → the stop's answer.
    pub end_to_end: Histogram<u64>,
    /// The server's own timestamps: placed in queue → offered.
    pub queue_wait: Histogram<u64>,
}

/// One interaction of this run on its way.
struct InFlight {
    sent: Instant,
    offered: bool,
}

struct Inner {
    histograms: Histograms,
    /// By external id.
    in_flight: HashMap<String, InFlight>,
    /// By `"<status> <code>"` (or `transport`, `stream`).
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
}

pub(super) struct Tally {
    counters: Counters,
    inner: Mutex<Inner>,
}

impl Tally {
    pub fn new() -> Tally {
        Tally {
            counters: Counters::default(),
            inner: Mutex::new(Inner {
                histograms: Histograms {
                    submit: histogram(),
                    to_offer: histogram(),
                    accept: histogram(),
                    end_to_end: histogram(),
                    queue_wait: histogram(),
                },
                in_flight: HashMap::new(),
                errors: BTreeMap::new(),
                first_error: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn counts(&self) -> Counts {
        let c = &self.counters;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Counts {
            submitted: get(&c.submitted),
            offered: get(&c.offered),
            accepted: get(&c.accepted),
            completed: get(&c.completed),
            lost: get(&c.lost),
            revoked: get(&c.revoked),
            other_offers: get(&c.other_offers),
            errors: get(&c.errors),
        }
    }

    /// A submit with `external_id` is sent (or due) at `sent`: recorded
    /// before it goes, so that its offer can never arrive first.
    pub fn sending(&self, external_id: &str, sent: Instant) {
        self.lock().in_flight.insert(
            external_id.to_owned(),
            InFlight {
                sent,
                offered: false,
            },
        );
    }

    /// Its `201` arrived.
    pub fn submitted(&self, sent: Instant) {
        let now = Instant::now();
        record(&mut self.lock().histograms.submit, now - sent);
        self.counters.submitted.fetch_add(1, Ordering::Relaxed);
    }

    /// It was not created: it will never be offered.
    pub fn not_submitted(&self, external_id: &str) {
        self.lock().in_flight.remove(external_id);
    }

    /// An offer arrived at `at`. Whether the interaction is one of this
    /// run's (by its external id).
    pub fn offered(
        &self,
        external_id: Option<&str>,
        at: Instant,
        queue_wait: Option<Duration>,
    ) -> bool {
        self.counters.offered.fetch_add(1, Ordering::Relaxed);
        let mut inner = self.lock();
        let inner = &mut *inner;
        let ours = match external_id.and_then(|id| inner.in_flight.get_mut(id)) {
            Some(flight) => {
                if !flight.offered {
                    flight.offered = true;
                    record(
                        &mut inner.histograms.to_offer,
                        at.saturating_duration_since(flight.sent),
                    );
                    if let Some(wait) = queue_wait {
                        record(&mut inner.histograms.queue_wait, wait);
                    }
                }
                true
            }
            None => false,
        };
        if !ours {
            self.counters.other_offers.fetch_add(1, Ordering::Relaxed);
        }
        ours
    }

    pub fn accepted(&self, offered_at: Instant) {
        record(&mut self.lock().histograms.accept, offered_at.elapsed());
        self.counters.accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// Stopped by its agent.
    pub fn completed(&self, external_id: &str) {
        let now = Instant::now();
        let mut inner = self.lock();
        if let Some(flight) = inner.in_flight.remove(external_id) {
            record(&mut inner.histograms.end_to_end, now - flight.sent);
            self.counters.completed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Its accept or stop failed: it will not complete in this run.
    pub fn lost(&self, external_id: &str) {
        if self.lock().in_flight.remove(external_id).is_some() {
            self.counters.lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn revoked(&self) {
        self.counters.revoked.fetch_add(1, Ordering::Relaxed);
    }

    /// A request failed: `kind` is `"<status> <code>"`, `transport` or
    /// `stream`; `detail` is kept for the first one.
    pub fn error(&self, kind: String, detail: String) {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        let mut inner = self.lock();
        *inner.errors.entry(kind).or_default() += 1;
        inner.first_error.get_or_insert(detail);
    }

    /// Reads the histograms and the errors.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Histograms, &BTreeMap<String, u64>, Option<&str>) -> T,
    ) -> T {
        let inner = self.lock();
        f(
            &inner.histograms,
            &inner.errors,
            inner.first_error.as_deref(),
        )
    }
}
