//! The pure engine's hot path, with time and ids injected: no database, no
//! runtime, no clock.
//!
//! Each engine benchmark runs against a queue already holding `N`
//! interactions (1 000 and 100 000), and puts the queue back to `N` between
//! timed chunks, so that the figure for 100k next to the one for 1k shows
//! whether the cost grows with depth (the design says it must not: routing
//! state lives in ordered in-memory indexes).
//!
//! Then the router alone (group `routing`, in `routing/mod.rs`): routing
//! decisions with 1 000 and with 1 000 000 interactions queued.
//!
//! Then, once, the longest single submit while the backlog grows from empty
//! to 500 000 interactions.
//!
//! Run: `cargo bench --bench engine` (about two minutes); a filter runs a
//! part, e.g. `cargo bench --bench engine -- routing`.

use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use criterion::{BenchmarkId, Criterion, black_box, criterion_group};
use ixs::engine::{Command, Engine, Served, ServedProcess, Submit};
use serde_json::json;
use std::time::{Duration, Instant};
use uuid::Uuid;

mod routing;

/// The instance's allocator, so that the figures are the instance's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PROCESS: &str = "sales-email";
const INBOUND: &str = "inbound";
const OVERFLOW: &str = "overflow";
const DEPTHS: [usize; 2] = [1_000, 100_000];
/// Operations timed back to back before the queue is put back to its depth.
const CHUNK: u64 = 1_000;

fn served() -> Served {
    let process = ServedProcess {
        queues: [INBOUND.to_owned(), OVERFLOW.to_owned()].into(),
        workbins: Default::default(),
    };
    Served {
        processes: [(PROCESS.to_owned(), process)].into(),
        media_types: ["email".to_owned(), "chat".to_owned()].into(),
        agents: ["anna".to_owned()].into(),
    }
}

/// An engine, its injected clock and id source.
struct Bench {
    engine: Engine,
    next_id: u128,
    /// Numbers the external ids of submitted commands.
    next_mail: u64,
    now: DateTime<Utc>,
}

impl Bench {
    /// An engine whose inbound queue holds `depth` interactions of mixed
    /// priority, submitted one millisecond apart.
    fn with_depth(depth: usize) -> Bench {
        let mut bench = Bench {
            engine: Engine::new(served()),
            next_id: 0,
            next_mail: 0,
            now: Utc.timestamp_opt(1_800_000_000, 0).unwrap(),
        };
        for _ in 0..depth {
            bench.tick();
            let command = bench.submit_command();
            bench.apply(command);
        }
        bench
    }

    /// Advances the clock by one millisecond.
    fn tick(&mut self) {
        self.now += Span::milliseconds(1);
    }

    /// What a gateway sends: an e-mail with an external id and two
    /// properties, priority spread over 0..10 so that inserts land all over
    /// the ordered index.
    fn submit_command(&mut self) -> Command {
        self.next_mail += 1;
        let n = self.next_mail;
        Command::Submit(Submit {
            external_id: Some(format!("mail-{n}")),
            submitted_by: "gateway".into(),
            process: PROCESS.into(),
            queue: Some(INBOUND.into()),
            media_type: "email".into(),
            kind: "inbound".into(),
            subtype: None,
            priority: (n % 10) as i32,
            properties: json!({"segment": "gold", "subject": "order 4711"})
                .as_object()
                .cloned()
                .unwrap(),
            agent: None,
        })
    }

    /// Applies `command` at the current time; panics if the engine refuses.
    fn apply(&mut self, command: Command) -> Uuid {
        let next_id = &mut self.next_id;
        let applied = self
            .engine
            .apply(command, self.now, || {
                *next_id += 1;
                Uuid::from_u128(*next_id)
            })
            .expect("the engine refused a benchmark command");
        applied.interaction.id
    }

    /// Stops `ids`, then lets the clock pass the time stopped interactions
    /// are kept, and makes the engine forget them, so that the live set is as
    /// it was before they were submitted.
    fn stop_and_forget(&mut self, ids: &[Uuid]) {
        for &id in ids {
            self.apply(stop(id));
        }
        self.now += Span::minutes(11);
        // Any command expires the stopped ones first; one on an unknown id
        // changes nothing else.
        let _ = self.engine.apply(stop(Uuid::nil()), self.now, Uuid::nil);
    }

    /// `count` ids from the head of the inbound queue.
    fn head(&self, count: usize) -> Vec<Uuid> {
        self.engine
            .queue_snapshot(PROCESS, INBOUND, count, self.now)
            .unwrap()
            .interactions
            .iter()
            .map(|i| i.id)
            .collect()
    }
}

fn stop(id: Uuid) -> Command {
    Command::Stop {
        id,
        reason: "done".into(),
    }
}

fn place(id: Uuid, queue: &str) -> Command {
    Command::PlaceInQueue {
        id,
        process: None,
        queue: queue.into(),
    }
}

/// Times `iters` operations in chunks of at most `size`; `chunk` runs one
/// chunk of the given length and returns only the time of its timed part.
fn chunked(iters: u64, size: u64, mut chunk: impl FnMut(u64) -> Duration) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(size);
        total += chunk(n);
        left -= n;
    }
    total
}

fn submit(c: &mut Criterion) {
    let mut group = c.benchmark_group("submit");
    for depth in DEPTHS {
        let mut bench = Bench::with_depth(depth);
        group.bench_function(BenchmarkId::from_parameter(depth), |b| {
            b.iter_custom(|iters| {
                chunked(iters, CHUNK, |n| {
                    let mut commands = Vec::with_capacity(n as usize);
                    let mut created = Vec::with_capacity(n as usize);
                    for _ in 0..n {
                        commands.push(bench.submit_command());
                    }
                    bench.tick();
                    let start = Instant::now();
                    for command in commands {
                        created.push(black_box(bench.apply(command)));
                    }
                    let elapsed = start.elapsed();
                    bench.stop_and_forget(&created);
                    elapsed
                })
            })
        });
        assert_eq!(bench.engine.live_count(), depth, "depth drifted");
    }
    group.finish();
}

fn place_in_queue(c: &mut Criterion) {
    let mut group = c.benchmark_group("place_in_queue");
    for depth in DEPTHS {
        let mut bench = Bench::with_depth(depth);
        // A tenth of the queue at most, from all over it, moved to the
        // overflow queue and back: each move takes one out of an index and
        // puts it in another, keeping its age.
        let size = (depth as u64 / 10).min(CHUNK);
        let movers: Vec<Uuid> = bench
            .head(depth)
            .into_iter()
            .step_by(depth / size as usize)
            .take(size as usize)
            .collect();
        group.bench_function(BenchmarkId::from_parameter(depth), |b| {
            b.iter_custom(|iters| {
                chunked(iters, size, |n| {
                    let ids = &movers[..n as usize];
                    bench.tick();
                    let start = Instant::now();
                    for &id in ids {
                        black_box(bench.apply(place(id, OVERFLOW)));
                    }
                    let elapsed = start.elapsed();
                    for &id in ids {
                        bench.apply(place(id, INBOUND));
                    }
                    elapsed
                })
            })
        });
    }
    group.finish();
}

fn stop_interaction(c: &mut Criterion) {
    let mut group = c.benchmark_group("stop");
    for depth in DEPTHS {
        let mut bench = Bench::with_depth(depth);
        group.bench_function(BenchmarkId::from_parameter(depth), |b| {
            b.iter_custom(|iters| {
                chunked(iters, CHUNK, |n| {
                    // Top the queue up by `n` fresh interactions, stop those
                    // (timed), then forget them: the depth stays `depth` to
                    // `depth + n`.
                    let mut fresh = Vec::with_capacity(n as usize);
                    for _ in 0..n {
                        bench.tick();
                        let command = bench.submit_command();
                        fresh.push(bench.apply(command));
                    }
                    let commands: Vec<Command> = fresh.iter().map(|&id| stop(id)).collect();
                    let start = Instant::now();
                    for command in commands {
                        black_box(bench.apply(command));
                    }
                    let elapsed = start.elapsed();
                    bench.now += Span::minutes(11);
                    let _ = bench.engine.apply(stop(Uuid::nil()), bench.now, Uuid::nil);
                    elapsed
                })
            })
        });
        assert_eq!(bench.engine.live_count(), depth, "depth drifted");
    }
    group.finish();
}

fn snapshot(c: &mut Criterion) {
    let bench = Bench::with_depth(100_000);
    c.bench_function("queue_snapshot/first_500_of_100000", |b| {
        b.iter(|| {
            black_box(
                bench
                    .engine
                    .queue_snapshot(PROCESS, INBOUND, 500, bench.now)
                    .unwrap(),
            )
        })
    });
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = engine;
    config = config();
    targets = submit, place_in_queue, stop_interaction, snapshot, routing::decisions
}
/// Interactions submitted in the growth measurement.
const GROWTH: usize = 500_000;

/// The longest single submit while the backlog grows from empty to
/// `GROWTH`: the engine takes commands one at a time, so a pause here holds
/// up every request of the instance (a hash map that doubles its table all
/// at once shows up here as a pause of hundreds of milliseconds).
fn growth_pause() {
    let mut bench = Bench::with_depth(0);
    let (mut worst, mut at, mut total) = (Duration::ZERO, 0, Duration::ZERO);
    for n in 0..GROWTH {
        bench.tick();
        let command = bench.submit_command();
        let started = Instant::now();
        black_box(bench.apply(command));
        let took = started.elapsed();
        total += took;
        if took > worst {
            (worst, at) = (took, n);
        }
    }
    println!(
        "growth/0_to_{GROWTH}: mean submit {:.2} µs, longest {:.2} ms (the {}th)",
        total.as_secs_f64() * 1e6 / GROWTH as f64,
        worst.as_secs_f64() * 1e3,
        at + 1
    );
}

fn main() {
    engine();
    // Only when measuring, and unless a filter leaves it out.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filter = args.iter().find(|arg| !arg.starts_with('-'));
    let measuring = args.iter().any(|arg| arg == "--bench")
        && !args.iter().any(|arg| arg == "--test" || arg == "--list");
    if measuring && filter.is_none_or(|f| format!("growth/0_to_{GROWTH}").contains(f.as_str())) {
        growth_pause();
    }
    Criterion::default().configure_from_args().final_summary();
}
