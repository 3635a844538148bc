//! The engine's two routing invariants over random runs: after every
//! command and every tick of the clock, counted from the live interactions
//! rather than from the engine's own counters,
//!
//! 1. no agent holds more than its capacity, offers included: per media,
//!    and in all when it has a total;
//! 2. routing is work-conserving: no agent that could take one more
//!    interaction of a media (logged in, connected, ready for it, out of
//!    after-work, below its capacity) is eligible, at the step in force, for
//!    an interaction of that media waiting in a routed view.
//!
//! For the second, what the router says of a waiting interaction
//! ([`Router::why_waiting`], what `explain` shows) is checked too: it waits
//! in each routed view of its queue whose condition it meets, at the step
//! the timers run since it entered them give (an offer turned down or timed
//! out keeps the steps reached; anything else that queues it starts them
//! afresh), a reserved step waiting for the agent it names; eligibility at
//! that step is the step's target evaluated here.
//!
//! A command the engine refuses changes nothing.
//!
//! [`Router::why_waiting`]: super::routing::Router::why_waiting

use super::routing::config::PREFERRED_AGENT_TARGET;
use super::routing::{AgentProfile, Exhausted, RoutingConfig, Select, Subject, Timing, View};
use super::routing::{Candidate, Dispatch, Pass};
use super::scenarios::{
    PROCESS, World, at, by_priority_then_age, config, media, profile, props, secs, step, strategy,
};
use super::*;
use crate::expr::parse;
use proptest::prelude::{Strategy as Gen, *};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const AGENTS: [&str; 5] = ["ann", "bob", "cat", "dan", "eve"];
const MEDIA: [&str; 2] = ["email", "chat"];
const QUEUES: [&str; 3] = ["inbound", "overflow", "pulled"];
const CUSTOMERS: [&str; 3] = ["c1", "c2", "c3"];

fn view(queue: &str, name: &str, condition: &str, dispatch: Dispatch) -> Arc<View> {
    Arc::new(View {
        process: PROCESS.into(),
        queue: queue.into(),
        name: name.into(),
        condition: parse(condition).unwrap(),
        order: by_priority_then_age(),
        aging: None,
        dispatch,
    })
}

/// Three routed views of `inbound` (one open to the urgent, one to the
/// rest, one for chats whose target reads the interaction), two of
/// `overflow` (one that serves the preferred agent first, one that shares
/// the strategy of the rest, which runs out into `overflow` itself), and a
/// pulled queue.
fn routing() -> RoutingConfig {
    let urgent = strategy(
        vec![
            step("true", Select::LastAgent, 20),
            step("agent.skills.billing >= 8", Select::LongestIdle, 30),
            step("agent.skills.billing >= 5", Select::LeastBusy, 40),
            step("true", Select::RoundRobin, 60),
        ],
        Exhausted::PlaceInQueue("overflow".into()),
    );
    let rest = strategy(
        vec![
            step("agent.skills.billing >= 5", Select::LongestIdle, 40),
            step("agent.groups.team", Select::LeastBusy, 90),
        ],
        Exhausted::PlaceInQueue("overflow".into()),
    );
    let chats = strategy(
        vec![
            step(
                "agent.skills.billing >= properties.level",
                Select::RoundRobin,
                30,
            ),
            step("agent.skills.billing >= 1", Select::LongestIdle, 50),
        ],
        Exhausted::Stop("no agent".into()),
    );
    let overflow = strategy(
        vec![
            step(PREFERRED_AGENT_TARGET, Select::LongestIdle, 25),
            step("true", Select::LeastBusy, 120),
        ],
        Exhausted::Stop("no agent".into()),
    );
    let views = vec![
        view(
            "inbound",
            "chats",
            "media_type = 'chat'",
            Dispatch::Strategy(chats),
        ),
        view(
            "inbound",
            "rest",
            "priority < 5",
            Dispatch::Strategy(rest.clone()),
        ),
        view(
            "inbound",
            "urgent",
            "priority >= 5",
            Dispatch::Strategy(urgent),
        ),
        view(
            "overflow",
            "others",
            "properties.preferred_agent = null",
            Dispatch::Strategy(rest),
        ),
        view(
            "overflow",
            "preferred",
            "properties.preferred_agent != null",
            Dispatch::Strategy(overflow),
        ),
        view("pulled", "robot", "true", Dispatch::Pull),
    ];
    let agents: Vec<AgentProfile> = vec![
        profile(
            "ann",
            &[("billing", 9)],
            &[("email", 2), ("chat", 1)],
            Some(2),
        ),
        profile("bob", &[("billing", 5)], &[("email", 1), ("chat", 2)], None),
        profile(
            "cat",
            &[("billing", 2)],
            &[("email", 3), ("chat", 1)],
            Some(3),
        ),
        profile("dan", &[], &[("email", 1), ("chat", 1)], Some(1)),
        profile("eve", &[("billing", 7)], &[("email", 2)], None),
    ];
    let timing = Timing {
        delivery_timeout: secs(20),
        missed_offers_limit: 3,
        after_work: [("email".to_owned(), secs(15))].into(),
        desktop_grace: secs(25),
        handling_timeout: secs(200),
        routing_timeout: secs(300),
    };
    config(views, agents, timing)
}

/// Another configuration of the same agents, to change to while routing:
/// the chats' view gone (the views after it move up), and a shorter
/// strategy for the urgent.
fn rerouted() -> RoutingConfig {
    let mut config = routing();
    let urgent = strategy(
        vec![
            step("agent.skills.billing >= 5", Select::LongestIdle, 50),
            step("true", Select::LeastBusy, 100),
        ],
        Exhausted::PlaceInQueue("overflow".into()),
    );
    config.views.retain(|v| v.name != "chats");
    for v in config.views.iter_mut().filter(|v| v.name == "urgent") {
        *v = view(
            "inbound",
            "urgent",
            "priority >= 5",
            Dispatch::Strategy(urgent.clone()),
        );
    }
    config
}

/// One step of a run. Interactions are picked by an index into the live
/// ones of the kind the step needs, agents by an index into [`AGENTS`].
#[derive(Debug, Clone)]
enum Op {
    Login {
        agent: usize,
        media: u8,
    },
    Logout {
        agent: usize,
        force: bool,
    },
    Ready {
        agent: usize,
        media: Option<usize>,
        ready: bool,
    },
    Connect {
        agent: usize,
        connected: bool,
    },
    Submit {
        queue: usize,
        priority: i32,
        media: usize,
        customer: Option<usize>,
        preferred: Option<usize>,
        level: i64,
    },
    Accept {
        pick: usize,
    },
    Reject {
        pick: usize,
    },
    Advance {
        secs: i64,
    },
    Transfer {
        pick: usize,
        to: usize,
    },
    PlaceInQueue {
        pick: usize,
        queue: usize,
    },
    PlaceInWorkbin {
        pick: usize,
        own: bool,
    },
    Take {
        pick: usize,
        agent: usize,
    },
    Stop {
        pick: usize,
    },
    /// The level a chat's first step asks of an agent changes.
    ChangeLevel {
        pick: usize,
        level: i64,
    },
    /// A routing client pulls from the pulled queue (`routed`: names a
    /// routed view instead, which is refused).
    Pull {
        count: usize,
        routed: bool,
    },
    /// A routing client offers what it pulled, or what waits, to an agent.
    ClientOffer {
        pick: usize,
        to: usize,
    },
    /// The routing configuration changes to the other one.
    Reconfigure,
}

fn op() -> impl Gen<Value = Op> {
    let agent = 0..AGENTS.len();
    prop_oneof![
        3 => (agent.clone(), 1u8..4).prop_map(|(agent, media)| Op::Login { agent, media }),
        1 => (agent.clone(), any::<bool>()).prop_map(|(agent, force)| Op::Logout { agent, force }),
        4 => (
            agent.clone(),
            proptest::option::of(0..MEDIA.len()),
            proptest::bool::weighted(0.75),
        )
            .prop_map(|(agent, media, ready)| Op::Ready { agent, media, ready }),
        2 => (agent.clone(), proptest::bool::weighted(0.75))
            .prop_map(|(agent, connected)| Op::Connect { agent, connected }),
        4 => (
            prop::sample::select(vec![0usize, 0, 0, 1, 2]),
            0i32..10,
            0..MEDIA.len(),
            proptest::option::of(0..CUSTOMERS.len()),
            proptest::option::weighted(0.3, 0..AGENTS.len() + 1),
            1i64..10,
        )
            .prop_map(|(queue, priority, media, customer, preferred, level)| Op::Submit {
                queue,
                priority,
                media,
                customer,
                preferred,
                level,
            }),
        5 => any::<usize>().prop_map(|pick| Op::Accept { pick }),
        2 => any::<usize>().prop_map(|pick| Op::Reject { pick }),
        3 => prop_oneof![1i64..10, 10i64..70, 70i64..250].prop_map(|secs| Op::Advance { secs }),
        3 => (any::<usize>(), agent.clone()).prop_map(|(pick, to)| Op::Transfer { pick, to }),
        1 => (any::<usize>(), 0..QUEUES.len())
            .prop_map(|(pick, queue)| Op::PlaceInQueue { pick, queue }),
        2 => (any::<usize>(), proptest::bool::weighted(0.8))
            .prop_map(|(pick, own)| Op::PlaceInWorkbin { pick, own }),
        3 => (any::<usize>(), agent).prop_map(|(pick, agent)| Op::Take { pick, agent }),
        1 => any::<usize>().prop_map(|pick| Op::Stop { pick }),
        1 => (any::<usize>(), 1i64..10).prop_map(|(pick, level)| Op::ChangeLevel { pick, level }),
        1 => (1usize..3, proptest::bool::weighted(0.1))
            .prop_map(|(count, routed)| Op::Pull { count, routed }),
        1 => (any::<usize>(), 0..AGENTS.len()).prop_map(|(pick, to)| Op::ClientOffer { pick, to }),
        1 => Just(Op::Reconfigure),
    ]
}

/// The world of a run and what the checks need besides the engine.
struct Run {
    world: World,
    /// Customer → the agent who last took one of its interactions (whom a
    /// `last_agent` step waits for).
    last_agent: BTreeMap<String, String>,
    /// The last row written of each interaction.
    rows: BTreeMap<Uuid, Interaction>,
    /// When the clock ran the timers.
    ticks: Vec<DateTime<Utc>>,
    /// Each waiting interaction's last entry into its queue's views.
    entries: BTreeMap<Uuid, Entry>,
    /// Routed by [`rerouted`] rather than [`routing`].
    rerouted: bool,
    /// The interactions stopped in the run, which nothing may bring back.
    stopped: BTreeSet<Uuid>,
}

/// What a refused command must leave as it was.
#[derive(Debug, PartialEq)]
struct Snapshot {
    live: Live,
    agents: Vec<AgentView>,
    timeout: Option<DateTime<Utc>>,
}

/// An interaction entering the views of its queue afresh: when, and per
/// view the step it starts at (a reserved first step is skipped when it
/// has nobody to wait for) with the agent that step waits for.
#[derive(Debug)]
struct Entry {
    at: DateTime<Utc>,
    first: BTreeMap<String, (usize, Option<String>)>,
}

impl Run {
    fn new() -> Run {
        Run {
            world: World::new(routing()),
            last_agent: BTreeMap::new(),
            rows: BTreeMap::new(),
            ticks: Vec::new(),
            entries: BTreeMap::new(),
            rerouted: false,
            stopped: BTreeSet::new(),
        }
    }

    fn engine(&self) -> &Engine {
        &self.world.engine
    }

    fn now(&self) -> DateTime<Utc> {
        self.world.now
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            live: self.engine().live.clone(),
            agents: self.engine().agent_views(),
            timeout: self.engine().poll_timeout(),
        }
    }

    /// The live interactions in `state`, by id.
    fn in_state(&self, state: State) -> Vec<Interaction> {
        self.engine()
            .live
            .values()
            .filter(|i| i.state == state)
            .cloned()
            .collect()
    }

    fn pick(&self, states: &[State], pick: usize) -> Option<Interaction> {
        let all: Vec<Interaction> = states.iter().flat_map(|s| self.in_state(*s)).collect();
        (!all.is_empty()).then(|| all[pick % all.len()].clone())
    }

    /// An offer pending, routed or of a transfer: (interaction, the agent
    /// offered it).
    fn pick_offer(&self, pick: usize) -> Option<(Uuid, String)> {
        let mut offers: Vec<(Uuid, String)> = self
            .in_state(State::Offered)
            .into_iter()
            .filter_map(|i| Some((i.id, i.agent?.to_string())))
            .collect();
        offers.extend(self.transfer_offers());
        (!offers.is_empty()).then(|| offers[pick % offers.len()].clone())
    }

    /// Pending offers of transfers: (interaction, the agent offered it).
    fn transfer_offers(&self) -> Vec<(Uuid, String)> {
        AGENTS
            .iter()
            .flat_map(|agent| {
                self.engine()
                    .router()
                    .offers_of(agent)
                    .into_iter()
                    .map(move |(id, _)| (id, agent.to_string()))
            })
            .filter(|(id, agent)| {
                self.engine().live.get(id).is_some_and(|i| {
                    i.state == State::Handling && i.agent.as_deref() != Some(agent.as_str())
                })
            })
            .collect()
    }

    /// Runs one step; returns whether the engine took it (a step with
    /// nothing to act on counts as taken).
    fn step(&mut self, op: &Op) -> bool {
        let now = self.now();
        let before = self.snapshot();
        let mut client_offered = None;
        let taken = match op {
            Op::Login { agent, media: mask } => {
                let with: Vec<&str> = MEDIA
                    .iter()
                    .enumerate()
                    .filter(|(k, _)| mask & (1 << k) != 0)
                    .map(|(_, m)| *m)
                    .collect();
                let result = self.world.engine.login(AGENTS[*agent], &media(&with), now);
                result.is_ok()
            }
            Op::Logout { agent, force } => self
                .world
                .engine
                .logout(AGENTS[*agent], *force, now)
                .is_ok(),
            Op::Ready {
                agent,
                media: which,
                ready,
            } => {
                let only = which.map(|m| media(&[MEDIA[m]]));
                let reason = (!ready).then_some("break");
                self.world
                    .engine
                    .set_ready(AGENTS[*agent], only.as_deref(), *ready, reason, now)
                    .is_ok()
            }
            Op::Connect { agent, connected } => {
                self.world
                    .engine
                    .set_connected(AGENTS[*agent], *connected, now);
                true
            }
            Op::Submit {
                queue,
                priority,
                media: m,
                customer,
                preferred,
                level,
            } => {
                let mut properties = json!({ "level": level });
                if let Some(c) = customer {
                    properties["customer_id"] = json!(CUSTOMERS[*c]);
                }
                if let Some(p) = preferred {
                    properties["preferred_agent"] = json!(AGENTS.get(*p).unwrap_or(&"zed"));
                }
                // Every queue is one of the process: never refused.
                self.world
                    .submit_with(QUEUES[*queue], *priority, MEDIA[*m], properties);
                true
            }
            Op::Accept { pick } => match self.pick_offer(*pick) {
                Some((id, agent)) => self.world.act(&agent, Command::Accept { id }).is_ok(),
                None => true,
            },
            Op::Reject { pick } => match self.pick_offer(*pick) {
                Some((id, agent)) => {
                    let reason = Some("busy".into());
                    self.world
                        .act(&agent, Command::Reject { id, reason })
                        .is_ok()
                }
                None => true,
            },
            Op::Advance { secs: by } => {
                let to = (self.now() - at(0)).num_seconds() + by;
                self.world.advance_to(to);
                self.ticks.push(self.now());
                true
            }
            Op::Transfer { pick, to } => match self.pick(&[State::Handling], *pick) {
                Some(i) => {
                    let agent = i.agent.clone().unwrap_or_default();
                    let command = Command::Transfer {
                        id: i.id,
                        agent: AGENTS[*to].into(),
                    };
                    self.world.act(&agent, command).is_ok()
                }
                None => true,
            },
            Op::PlaceInQueue { pick, queue } => {
                let states = [State::Handling, State::Queued, State::Parked];
                match self.pick(&states, *pick) {
                    Some(i) => {
                        let command = Command::PlaceInQueue {
                            id: i.id,
                            process: None,
                            queue: QUEUES[*queue].into(),
                        };
                        match (i.state, &i.agent) {
                            // The agent handling it puts it back.
                            (State::Handling, Some(agent)) => {
                                self.world.act(&agent.clone(), command).is_ok()
                            }
                            _ => self.world.apply(command).is_ok(),
                        }
                    }
                    None => true,
                }
            }
            Op::PlaceInWorkbin { pick, own } => match self.pick(&[State::Handling], *pick) {
                Some(i) => {
                    let agent = i.agent.clone().unwrap_or_default();
                    // Another agent's workbin is refused.
                    let owner = (!own).then(|| AGENTS[pick % AGENTS.len()].to_owned());
                    let command = Command::PlaceInWorkbin {
                        id: i.id,
                        workbin: "later".into(),
                        owner,
                    };
                    self.world.act(&agent, command).is_ok()
                }
                None => true,
            },
            Op::Take { pick, agent } => match self.pick(&[State::Parked], *pick) {
                Some(i) => {
                    // Its owner, mostly.
                    let agent = match i.owner.as_deref() {
                        Some(owner) if pick % 4 != 0 => owner.to_owned(),
                        _ => AGENTS[*agent].to_owned(),
                    };
                    self.world.act(&agent, Command::Take { id: i.id }).is_ok()
                }
                None => true,
            },
            Op::Stop { pick } => {
                let states = [
                    State::Queued,
                    State::Offered,
                    State::Handling,
                    State::Parked,
                ];
                match self.pick(&states, *pick) {
                    Some(i) => {
                        let command = Command::Stop {
                            id: i.id,
                            reason: "done".into(),
                        };
                        self.world.apply(command).is_ok()
                    }
                    None => true,
                }
            }
            Op::ChangeLevel { pick, level } => {
                let states = [State::Queued, State::Offered, State::Handling];
                match self.pick(&states, *pick) {
                    Some(i) => {
                        let command = Command::ChangeProperties {
                            id: i.id,
                            patch: props(json!({ "level": level })),
                        };
                        self.world.apply(command).is_ok()
                    }
                    None => true,
                }
            }
            Op::Pull { count, routed } => {
                let (queue, view) = if *routed {
                    ("inbound", "rest")
                } else {
                    ("pulled", "robot")
                };
                let pulled = self.world.engine.pull(PROCESS, queue, view, *count, now);
                pulled.is_ok()
            }
            Op::ClientOffer { pick, to } => {
                match self.pick(&[State::Routing, State::Queued], *pick) {
                    Some(i) => {
                        let command = Command::Offer {
                            id: i.id,
                            agent: AGENTS[*to].into(),
                        };
                        let taken = self.world.apply(command).is_ok();
                        if taken {
                            // Out of its views for good: an end of this
                            // offer queues it afresh.
                            client_offered = Some(i.id);
                        }
                        taken
                    }
                    None => true,
                }
            }
            Op::Reconfigure => {
                self.rerouted = !self.rerouted;
                let config = if self.rerouted { rerouted() } else { routing() };
                let served = self.engine().served().clone();
                self.world
                    .engine
                    .set_served(served, Arc::new(config), [], now);
                true
            }
        };
        self.world.settle();
        let changes = self.world.drain();
        if !taken {
            assert_eq!(
                changes,
                Changes::default(),
                "a refused {op:?} wrote or told something"
            );
            assert_eq!(
                self.snapshot(),
                before,
                "a refused {op:?} changed the engine"
            );
        }
        // An offer that ends as it was made (turned down, timed out) leaves
        // the interaction at the steps it reached.
        let offer_ended: BTreeSet<Uuid> = changes
            .events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Rejected | EventKind::OfferTimedOut))
            .filter_map(|e| e.interaction_id)
            .collect();
        for row in &changes.rows {
            let before = self.rows.insert(row.id, row.clone());
            let before = before.as_ref();
            if let (State::Handling, Some(agent), Some(customer)) =
                (row.state, &row.agent, routing::customer_id(row))
            {
                if before.is_none_or(|b| b.state != State::Handling || b.agent != row.agent) {
                    self.last_agent.insert(customer, agent.to_string());
                }
            }
            if row.state == State::Offered {
                // Its steps run on meanwhile.
            } else if row.state != State::Queued {
                self.entries.remove(&row.id);
            } else {
                let afresh = match before {
                    None => true,
                    Some(b) if b.state == State::Offered => {
                        !offer_ended.contains(&row.id) || !self.entries.contains_key(&row.id)
                    }
                    Some(b) => {
                        b.state != State::Queued
                            || b.queue != row.queue
                            || b.placed_in_queue_at != row.placed_in_queue_at
                    }
                };
                if afresh {
                    let entry = self.entry(row);
                    self.entries.insert(row.id, entry);
                }
            }
            if client_offered == Some(row.id) {
                self.entries.remove(&row.id);
            }
            assert!(
                !self.stopped.contains(&row.id),
                "{} written again after it stopped: {row:?}",
                row.id
            );
            if row.state == State::Stopped {
                self.stopped.insert(row.id);
            }
        }
        if matches!(op, Op::Reconfigure) {
            // What waited entered the new views afresh (and may have been
            // offered since); what was offered will when its offer ends.
            for (id, interaction) in before.live.iter() {
                match interaction.state {
                    State::Queued => {
                        let entry = self.entry(interaction);
                        self.entries.insert(id, entry);
                    }
                    _ => {
                        self.entries.remove(&id);
                    }
                }
            }
        }
        taken
    }

    /// `interaction` enters the views of its queue now.
    fn entry(&self, interaction: &Interaction) -> Entry {
        let config = self.engine().router().config();
        let mut first = BTreeMap::new();
        for view in &config.views {
            let Some(strategy) = view.strategy() else {
                continue;
            };
            if Some(view.queue.as_str()) != interaction.queue.as_deref() {
                continue;
            }
            let step = &strategy.steps[0];
            let waits_for = if step.preferred {
                interaction
                    .properties
                    .get("preferred_agent")
                    .and_then(Value::as_str)
                    .filter(|name| config.agents.contains_key(*name))
                    .map(str::to_owned)
            } else if step.reserved() {
                routing::customer_id(interaction).and_then(|c| self.last_agent.get(&c).cloned())
            } else {
                None
            };
            let start = match (step.reserved(), &waits_for) {
                (true, None) => 1,
                _ => 0,
            };
            first.insert(view.name.clone(), (start, waits_for));
        }
        Entry {
            at: self.now(),
            first,
        }
    }

    /// The step (0-based) `id` is at now in `view` by the timers run since
    /// it entered, with the agent it waits for; `None` once its strategy
    /// ran out.
    fn expected_step(&self, id: Uuid, view: &View) -> Option<(usize, Option<String>)> {
        let entry = &self.entries[&id];
        let steps = &view.strategy()?.steps;
        let (mut step, waits_for) = entry.first.get(&view.name)?.clone();
        let mut since = entry.at;
        for &tick in self.ticks.iter().filter(|t| **t > entry.at) {
            if tick >= since + steps[step].timeout {
                step += 1;
                since = tick;
                if step == steps.len() {
                    return None;
                }
            }
        }
        Some((step, if step == 0 { waits_for } else { None }))
    }

    /// Per agent and media: the live interactions offered to it or handled
    /// by it, and the transfers offered to it.
    fn holdings(&self) -> BTreeMap<String, BTreeMap<String, u32>> {
        let mut held: BTreeMap<String, BTreeMap<String, u32>> = BTreeMap::new();
        for i in self.engine().live.values() {
            if let (State::Offered | State::Handling, Some(agent)) = (i.state, &i.agent) {
                *held
                    .entry(agent.to_string())
                    .or_default()
                    .entry(i.media_type.to_string())
                    .or_default() += 1;
            }
        }
        for (id, agent) in self.transfer_offers() {
            let media = self.engine().live[&id].media_type.to_string();
            *held.entry(agent).or_default().entry(media).or_default() += 1;
        }
        held
    }

    /// Invariant 1: nobody holds more than its capacity, offers included.
    /// What the router counts agrees with it.
    fn check_capacity(&self) {
        let held = self.holdings();
        for agent in self.engine().router().agents() {
            let capacity = &agent.profile.capacity;
            let mine = held.get(agent.name()).cloned().unwrap_or_default();
            for (media, n) in &mine {
                let max = capacity.media.get(media).copied().unwrap_or(0);
                assert!(
                    *n <= max,
                    "{} holds {n} {media} interaction(s), its capacity is {max}",
                    agent.name()
                );
            }
            let total: u32 = mine.values().sum();
            if let Some(cap) = capacity.total {
                assert!(
                    total <= cap,
                    "{} holds {total} interactions, its total is {cap}",
                    agent.name()
                );
            }
            let counted: BTreeMap<String, u32> = agent
                .load
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(m, n)| (m.clone(), *n))
                .collect();
            assert_eq!(
                counted,
                mine,
                "the load the router counts for {} is not what it holds",
                agent.name()
            );
        }
    }

    /// The agents that could take one more interaction of `media` now,
    /// their load counted from the live interactions.
    fn free_for(&self, media: &str) -> Vec<String> {
        let now = self.now();
        let held = self.holdings();
        self.engine()
            .router()
            .agents()
            .filter(|agent| {
                let Some(state) = agent.media.get(media) else {
                    return false;
                };
                let mine = held.get(agent.name()).cloned().unwrap_or_default();
                let capacity = &agent.profile.capacity;
                let of_media = mine.get(media).copied().unwrap_or(0);
                let total: u32 = mine.values().sum();
                agent.logged_in
                    && agent.connected
                    && state.ready
                    && state.after_work_until.is_none_or(|until| until <= now)
                    && of_media < capacity.media.get(media).copied().unwrap_or(0)
                    && capacity.total.is_none_or(|cap| total < cap)
            })
            .map(|agent| agent.name().to_owned())
            .collect()
    }

    /// Invariant 2: every queued interaction waits in each routed view of
    /// its queue whose condition it meets, and in none of them is an agent
    /// free for it that the step in force admits.
    fn check_work_conserving(&self) {
        let now = self.now();
        let config = self.engine().router().config().clone();
        for interaction in self.in_state(State::Queued) {
            let subject = Subject {
                interaction: &interaction,
                now,
            };
            let expected: BTreeSet<&str> = config
                .views
                .iter()
                .filter(|v| {
                    v.strategy().is_some()
                        && v.process == interaction.process
                        && Some(v.queue.as_str()) == interaction.queue.as_deref()
                        && v.condition.eval(&subject)
                })
                .map(|v| v.name.as_str())
                .collect();
            let decisions = self.engine().router().why_waiting(&interaction, now);
            let waits_in: BTreeSet<&str> = decisions.iter().map(|d| d.view.as_str()).collect();
            assert_eq!(
                waits_in, expected,
                "{} queued in {:?} waits in the wrong views",
                interaction.id, interaction.queue
            );
            let free = self.free_for(&interaction.media_type);
            for decision in &decisions {
                assert!(
                    decision.chosen.is_none(),
                    "{} waits though {:?} would be chosen",
                    interaction.id,
                    decision.chosen
                );
                let view = config
                    .views
                    .iter()
                    .find(|v| v.queue == decision.queue && v.name == decision.view)
                    .unwrap();
                let strategy = view.strategy().unwrap();
                let (at_step, waits_for) =
                    self.expected_step(interaction.id, view).unwrap_or_else(|| {
                        panic!(
                            "{} still waits in view {} after its strategy ran out",
                            interaction.id, view.name
                        )
                    });
                assert_eq!(
                    decision.step,
                    at_step + 1,
                    "{} is at the wrong step of view {}",
                    interaction.id,
                    view.name
                );
                let step = &strategy.steps[at_step];
                if step.reserved() {
                    let named: Vec<&str> = decision
                        .passed
                        .iter()
                        .filter(|p| p.reason != Pass::ReservedForAnother)
                        .map(|p| p.agent.as_str())
                        .collect();
                    assert_eq!(
                        named,
                        waits_for.iter().map(String::as_str).collect::<Vec<_>>(),
                        "step {} of {} waits for the wrong agent",
                        decision.step,
                        view.name
                    );
                }
                for agent in &free {
                    let admitted = if step.reserved() {
                        waits_for.as_ref() == Some(agent)
                    } else {
                        let profile = &config.agents[agent];
                        step.target.eval(&Candidate {
                            agent: profile,
                            interaction: Some(&subject),
                        })
                    };
                    assert!(
                        !admitted,
                        "{agent} is free for {} and step {} of view {} admits it, yet {} waits \
                         ({:?})",
                        interaction.media_type, decision.step, view.name, interaction.id, decision
                    );
                }
            }
        }
    }

    fn check(&self) {
        self.check_capacity();
        self.check_work_conserving();
    }
}

/// A run: the agents of `ready` (a bit each) start logged in with every
/// media they have, connected and ready; then `ops`.
fn run(ready: u8, ops: &[Op]) {
    let mut run = Run::new();
    for (k, agent) in AGENTS.iter().enumerate() {
        if ready & (1 << k) != 0 {
            run.step(&Op::Login {
                agent: k,
                media: if *agent == "eve" { 1 } else { 3 },
            });
            run.step(&Op::Connect {
                agent: k,
                connected: true,
            });
            run.step(&Op::Ready {
                agent: k,
                media: None,
                ready: true,
            });
        }
    }
    run.check();
    for op in ops {
        run.step(op);
        run.check();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn capacity_holds_and_no_free_eligible_agent_idles_while_work_waits(
        ready in 0u8..32,
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        run(ready, &ops);
    }
}
