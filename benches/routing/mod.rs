//! The router alone, in `cargo bench --bench engine` (group `routing`):
//! routing decisions per second, and the time per decision, with 1,000 and
//! with 1,000,000 queued interactions, 1,000 agents and 10 views whose
//! targets read only agent skills. Time and ids are injected; no runtime, no
//! database.
//!
//! Every agent is busy, so the queue stays at its depth. One timed decision
//! is one agent finishing an interaction: the router finds the interaction
//! it takes (the head of the index its skills admit it to, across the 10
//! views), offers it, and the agent accepts; a new interaction arrives in
//! its place, and the router looks for an agent for it (none is free), so
//! that the depth stays. The cost must not grow with the depth.
//!
//! Two queues of each depth:
//!
//! - `arrival_order`: one priority, so that the head of each view is the
//!   interaction that has waited longest, served in the order they came;
//! - `priorities`: seven priorities, queued one in seven of each. A freed
//!   agent takes the oldest of the highest priority waiting in its views,
//!   and the interaction that arrives in its place has the priority of
//!   the one taken, so that each priority keeps its share and the run
//!   stays in one state: the heads taken are the oldest of the highest
//!   priority, every seventh of the million in arrival order, where
//!   `arrival_order` takes every one in turn.
//!
//! The million are queued before anything is timed (about ten seconds),
//! and only when that depth is run.

use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use criterion::{BenchmarkId, Criterion, Throughput, black_box};
use ixs::engine::routing::{
    AgentProfile, Capacity, Dispatch, Exhausted, Live, OrderField, OrderKey, Router, RoutingConfig,
    Select, Step, Strategy, Timing, View,
};
use ixs::engine::{Interaction, Name, State};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

const VIEWS: usize = 10;
const AGENTS: usize = 1_000;
const DEPTHS: [usize; 2] = [1_000, 1_000_000];

fn config() -> RoutingConfig {
    let views = (0..VIEWS)
        .map(|v| {
            let steps = vec![
                Step::new(
                    ixs::expr::parse(&format!("agent.skills.s{v} >= 5")).unwrap(),
                    Select::LongestIdle,
                    Span::hours(1),
                ),
                Step::new(
                    ixs::expr::parse(&format!("agent.skills.s{v} >= 1")).unwrap(),
                    Select::LeastBusy,
                    Span::hours(24),
                ),
            ];
            Arc::new(View {
                process: "sales-email".into(),
                queue: format!("q{v}"),
                name: "all".into(),
                condition: ixs::expr::parse("true").unwrap(),
                order: vec![
                    OrderKey {
                        field: OrderField::Priority,
                        descending: true,
                    },
                    OrderKey {
                        field: OrderField::SubmittedAt,
                        descending: false,
                    },
                ],
                aging: None,
                dispatch: Dispatch::Strategy(Arc::new(Strategy {
                    name: format!("s{v}"),
                    steps,
                    on_exhausted: Exhausted::Stop("no agent".into()),
                })),
            })
        })
        .collect();
    let agents = (0..AGENTS)
        .map(|a| {
            let name = format!("agent{a:04}");
            // Each agent is skilled in three of the ten views' subjects.
            let skills = (0..3)
                .map(|k| (format!("s{}", (a + k * 3) % VIEWS), (5 + (a % 5)) as u8))
                .collect();
            (
                name.clone(),
                AgentProfile {
                    name,
                    skills,
                    groups: Default::default(),
                    capacity: Capacity {
                        media: [("email".to_owned(), 1)].into(),
                        total: None,
                    },
                },
            )
        })
        .collect();
    RoutingConfig {
        views,
        agents,
        timing: Timing {
            delivery_timeout: Span::hours(1),
            ..Timing::default()
        },
        group_workbins: Default::default(),
        service_levels: Default::default(),
    }
}

struct Bench {
    /// The queue is filled with priorities `0..priorities`, in turn.
    priorities: u128,
    /// The priority of the next arrival, when it replaces one taken.
    replace: Option<i32>,
    router: Router,
    live: Live,
    now: DateTime<Utc>,
    next_id: u128,
    /// Who holds what, to finish in turn.
    held: Vec<(Name, Uuid)>,
    turn: usize,
}

impl Bench {
    fn interaction(&mut self) -> Interaction {
        self.next_id += 1;
        let n = self.next_id;
        Interaction {
            id: Uuid::from_u128(n),
            external_id: None,
            submitted_by: "gateway".into(),
            process: "sales-email".into(),
            queue: Some(format!("q{}", n as usize % VIEWS).into()),
            workbin: None,
            owner: None,
            state: State::Queued,
            media_type: "email".into(),
            kind: "inbound".into(),
            subtype: None,
            priority: self.replace.take().unwrap_or((n % self.priorities) as i32),
            properties: Default::default(),
            agent: None,
            submitted_at: self.now,
            placed_in_queue_at: Some(self.now),
            offered_at: None,
            assigned_at: None,
            stopped_at: None,
            stop_reason: None,
            version: 1,
        }
    }

    fn arrive(&mut self) {
        let interaction = self.interaction();
        self.router.queued(&interaction, self.now);
        self.live.insert(interaction.id, interaction);
        self.settle();
    }

    /// Makes and accepts every offer the router decides on.
    fn settle(&mut self) -> usize {
        let mut made = 0;
        while let Some(offer) = self.router.next_offer(&self.live, self.now) {
            let interaction = self.live.get_mut(&offer.id).expect("live");
            interaction.state = State::Handling;
            interaction.agent = Some(offer.agent.clone());
            self.router.accepted(interaction);
            self.held.push((offer.agent, offer.id));
            made += 1;
        }
        made
    }

    /// Every agent ready and busy, `depth` interactions waiting.
    fn with_depth(depth: usize, priorities: u128) -> Bench {
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let mut bench = Bench {
            priorities,
            replace: None,
            router: Router::new(config(), now),
            live: Live::new(),
            now,
            next_id: 0,
            held: Vec::new(),
            turn: 0,
        };
        let names: Vec<String> = bench.router.agents().map(|a| a.name().to_owned()).collect();
        for name in &names {
            bench
                .router
                .login(name, &["email".to_owned()], now)
                .unwrap();
            bench.router.set_connected(name, true, now);
            bench.router.set_ready(name, None, true, None, now).unwrap();
        }
        while bench.held.len() < AGENTS || bench.live.len() < AGENTS + depth {
            bench.now += Span::milliseconds(1);
            bench.arrive();
        }
        bench
    }

    /// One agent finishes: it takes the next interaction, and a new one
    /// arrives in its place. Returns the offers made (one).
    fn finish_one(&mut self) -> usize {
        self.now += Span::milliseconds(1);
        self.turn = (self.turn + 1) % self.held.len();
        let (agent, id) = self.held.swap_remove(self.turn);
        self.live.discard(&id);
        // Stopped: its decisions are forgotten, as the engine does.
        self.router.forget(id);
        self.router.release(&agent, "email", self.now);
        let made = self.settle();
        // In place of the one taken, one of its priority.
        self.replace = self
            .held
            .last()
            .filter(|_| made > 0)
            .and_then(|(_, id)| self.live.get(id))
            .map(|taken| taken.priority);
        self.arrive();
        made
    }
}

pub fn decisions(c: &mut Criterion) {
    // `cargo test --benches` runs each benchmark once, unoptimised: not the
    // million.
    let measuring = std::env::args().any(|arg| arg == "--bench");
    let mut group = c.benchmark_group("routing");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(4));
    for (name, priorities) in [("arrival_order", 1), ("priorities", 7)] {
        for depth in DEPTHS {
            if depth > 1_000 && !measuring {
                continue;
            }
            // Filled when first run: not when a filter or `--list` leaves it
            // out.
            let mut bench = None;
            group.bench_function(BenchmarkId::new(name, depth), |b| {
                let bench = bench.get_or_insert_with(|| Bench::with_depth(depth, priorities));
                b.iter(|| black_box(bench.finish_one()))
            });
        }
    }
    group.finish();
}
