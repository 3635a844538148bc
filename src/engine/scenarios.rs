//! The engine routing, driven as its owner drives it, with hand-set time:
//! every command and timer through [`Engine`], every batch of changes
//! taken and checked, and what agents hold counted from the live
//! interactions rather than from the engine's own counters.

use super::routing::{
    AgentProfile, Aging, Capacity, Decision, Dispatch, Exhausted, OrderField, OrderKey, Pass,
    RoutingConfig, Select, Step, Strategy, Timing, View,
};
use super::*;
use crate::expr::parse;
use chrono::TimeZone;
use serde_json::{Value, json};

pub(super) const PROCESS: &str = "sales";

pub(super) fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

pub(super) fn secs(n: i64) -> Duration {
    Duration::seconds(n)
}

pub(super) fn step(target: &str, select: Select, timeout: i64) -> Step {
    Step::new(parse(target).unwrap(), select, secs(timeout))
}

pub(super) fn strategy(steps: Vec<Step>, on_exhausted: Exhausted) -> Arc<Strategy> {
    Arc::new(Strategy {
        name: "s".into(),
        steps,
        on_exhausted,
    })
}

/// One step open to every agent, for `timeout` seconds, then stopped.
fn any_agent(select: Select, timeout: i64) -> Arc<Strategy> {
    strategy(
        vec![step("true", select, timeout)],
        Exhausted::Stop("no agent".into()),
    )
}

pub(super) fn by_priority_then_age() -> Vec<OrderKey> {
    vec![
        OrderKey {
            field: OrderField::Priority,
            descending: true,
        },
        OrderKey {
            field: OrderField::SubmittedAt,
            descending: false,
        },
    ]
}

/// The view `all` of `queue`, holding all of it, routed by `strategy`.
fn routed(queue: &str, strategy: Arc<Strategy>, aging: Option<Aging>) -> Arc<View> {
    Arc::new(View {
        process: PROCESS.into(),
        queue: queue.into(),
        name: "all".into(),
        condition: parse("true").unwrap(),
        order: by_priority_then_age(),
        aging,
        dispatch: Dispatch::Strategy(strategy),
    })
}

/// The world of one view of `inbound` whose one step is open to every
/// agent for long, and `agents`.
fn one_view(agents: Vec<AgentProfile>) -> World {
    let views = vec![routed(
        "inbound",
        any_agent(Select::LongestIdle, 10_000),
        None,
    )];
    World::new(config(views, agents, timing()))
}

/// The view `all` of `inbound` routed by `steps`, stopped when they run
/// out.
fn inbound_by(steps: Vec<Step>) -> Vec<Arc<View>> {
    let stop = Exhausted::Stop("no agent".into());
    vec![routed("inbound", strategy(steps, stop), None)]
}

/// The view `robot` of `queue`, pulled by routing clients.
fn pulled(queue: &str) -> Arc<View> {
    Arc::new(View {
        process: PROCESS.into(),
        queue: queue.into(),
        name: "robot".into(),
        condition: parse("true").unwrap(),
        order: by_priority_then_age(),
        aging: None,
        dispatch: Dispatch::Pull,
    })
}

pub(super) fn profile(
    name: &str,
    skills: &[(&str, u8)],
    media: &[(&str, u32)],
    total: Option<u32>,
) -> AgentProfile {
    AgentProfile {
        name: name.into(),
        skills: skills.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        groups: ["team".to_owned()].into(),
        capacity: Capacity {
            media: media.iter().map(|(m, n)| (m.to_string(), *n)).collect(),
            total,
        },
    }
}

/// An agent who may hold `email` e-mails and one chat.
fn agent(name: &str, skills: &[(&str, u8)], email: u32) -> AgentProfile {
    profile(name, skills, &[("email", email), ("chat", 1)], None)
}

pub(super) fn config(
    views: Vec<Arc<View>>,
    agents: Vec<AgentProfile>,
    timing: Timing,
) -> RoutingConfig {
    RoutingConfig {
        views,
        agents: agents.into_iter().map(|a| (a.name.clone(), a)).collect(),
        timing,
        group_workbins: Default::default(),
        service_levels: Default::default(),
    }
}

fn served(config: &RoutingConfig) -> Served {
    Served {
        processes: [(
            PROCESS.to_owned(),
            ServedProcess {
                queues: ["inbound", "overflow", "pulled"].map(str::to_owned).into(),
                workbins: ["later".to_owned()].into(),
            },
        )]
        .into(),
        media_types: ["email".to_owned(), "chat".to_owned()].into(),
        agents: config.agents.keys().cloned().collect(),
    }
}

pub(super) fn props(value: Value) -> Properties {
    value.as_object().cloned().unwrap()
}

pub(super) fn media(names: &[&str]) -> Vec<String> {
    names.iter().map(|m| m.to_string()).collect()
}

/// The engine, its clock, and what the store would hold: the last row
/// written of every interaction.
pub(super) struct World {
    pub(super) engine: Engine,
    config: Arc<RoutingConfig>,
    pub(super) now: DateTime<Utc>,
    next_id: u128,
    rows: BTreeMap<Uuid, Interaction>,
    /// What the calls since the last [`World::drain`] changed.
    seen: Changes,
}

impl World {
    pub(super) fn new(config: RoutingConfig) -> World {
        let config = Arc::new(config);
        World {
            engine: Engine::with_routing(served(&config), config.clone(), at(0)),
            config,
            now: at(0),
            next_id: 0,
            rows: BTreeMap::new(),
            seen: Changes::default(),
        }
    }

    /// Takes the engine's changes, checks them and keeps them for
    /// [`World::drain`].
    pub(super) fn settle(&mut self) {
        let changes = self.engine.take_changes();
        self.check_batch(&changes);
        self.seen.rows.extend(changes.rows);
        self.seen.events.extend(changes.events);
        self.seen.agents.extend(changes.agents);
        self.seen.notices.extend(changes.notices);
    }

    /// Every batch: each row a newer version than the one before it, each
    /// offer (event and notice) for the agent its row names, and the
    /// engine holding what was last written.
    fn check_batch(&mut self, changes: &Changes) {
        for row in &changes.rows {
            if let Some(before) = self.rows.get(&row.id) {
                assert!(
                    row.version > before.version,
                    "{} written at version {} after {}",
                    row.id,
                    row.version,
                    before.version
                );
            }
            self.rows.insert(row.id, row.clone());
        }
        for event in &changes.events {
            if event.kind != EventKind::Offered {
                continue;
            }
            let id = event.interaction_id.expect("an offer is of an interaction");
            assert!(
                changes.rows.iter().any(|row| row.id == id
                    && row.state == State::Offered
                    && row.agent.is_some()
                    && row.agent == event.agent),
                "offered event {event:?} has no row offered to that agent"
            );
        }
        for notice in &changes.notices {
            if let Notice::Offer {
                agent, interaction, ..
            } = notice
            {
                assert!(
                    changes.rows.contains(interaction),
                    "offer notice of a version not written: {interaction:?}"
                );
                match interaction.state {
                    State::Offered => {
                        assert_eq!(interaction.agent.as_deref(), Some(agent.as_str()))
                    }
                    // A transfer: it stays with the agent who offers it on.
                    State::Handling => {
                        assert!(interaction.agent.is_some());
                        assert_ne!(interaction.agent.as_deref(), Some(agent.as_str()));
                    }
                    other => panic!("an offer notice of an interaction {other}"),
                }
            }
        }
        for id in changes.rows.iter().map(|row| row.id) {
            if let Some(held) = self.engine.get(id) {
                assert_eq!(held, &self.rows[&id], "the engine holds what it wrote last");
            }
        }
    }

    /// What changed since the last call.
    pub(super) fn drain(&mut self) -> Changes {
        std::mem::take(&mut self.seen)
    }

    pub(super) fn apply(&mut self, command: Command) -> Result<Applied, EngineError> {
        let mut next = self.next_id;
        let result = self.engine.apply(command, self.now, || {
            next += 1;
            Uuid::from_u128(next)
        });
        self.next_id = next;
        self.settle();
        result
    }

    pub(super) fn act(&mut self, agent: &str, command: Command) -> Result<Applied, EngineError> {
        let mut next = self.next_id;
        let result = self.engine.apply_as_agent(agent, command, self.now, || {
            next += 1;
            Uuid::from_u128(next)
        });
        self.next_id = next;
        self.settle();
        result
    }

    pub(super) fn submit_with(
        &mut self,
        queue: &str,
        priority: i32,
        media: &str,
        properties: Value,
    ) -> Uuid {
        let submit = Submit {
            external_id: None,
            submitted_by: "gateway".into(),
            process: PROCESS.into(),
            queue: Some(queue.into()),
            media_type: media.into(),
            kind: "inbound".into(),
            subtype: None,
            priority,
            properties: props(properties),
            agent: None,
        };
        self.apply(Command::Submit(submit)).unwrap().interaction.id
    }

    fn submit(&mut self, priority: i32) -> Uuid {
        self.submit_with("inbound", priority, "email", json!({}))
    }

    /// Logs `name` in with `media`, connects its desktop and makes it ready.
    fn ready_with(&mut self, name: &str, with: &[&str]) {
        self.engine.login(name, &media(with), self.now).unwrap();
        self.engine.set_connected(name, true, self.now);
        self.engine
            .set_ready(name, None, true, None, self.now)
            .unwrap();
        self.settle();
    }

    fn ready(&mut self, name: &str) {
        self.ready_with(name, &["email", "chat"]);
    }

    fn set_ready(&mut self, name: &str, ready: bool) {
        let reason = (!ready).then_some("break");
        self.engine
            .set_ready(name, None, ready, reason, self.now)
            .unwrap();
        self.settle();
    }

    fn connect(&mut self, name: &str, connected: bool) {
        self.engine.set_connected(name, connected, self.now);
        self.settle();
    }

    /// Moves the clock to `at(t)` and runs the timers due.
    pub(super) fn advance_to(&mut self, t: i64) {
        assert!(at(t) >= self.now, "time runs forward");
        self.now = at(t);
        self.engine.handle_timeout(self.now);
        self.settle();
    }

    fn get(&self, id: Uuid) -> &Interaction {
        self.engine.get(id).expect("held by the engine")
    }

    fn state(&self, id: Uuid) -> State {
        self.get(id).state
    }

    /// The agent `id` is offered to by routing, if it is.
    fn offered_to(&self, id: Uuid) -> Option<String> {
        let interaction = self.get(id);
        (interaction.state == State::Offered)
            .then(|| interaction.agent.as_deref().map(str::to_owned))
            .flatten()
    }

    fn handled_by(&self, id: Uuid) -> Option<String> {
        let interaction = self.get(id);
        (interaction.state == State::Handling)
            .then(|| interaction.agent.as_deref().map(str::to_owned))
            .flatten()
    }

    /// The agent it is offered to accepts; returns that agent.
    fn accept(&mut self, id: Uuid) -> String {
        let agent = self.offered_to(id).expect("offered");
        self.act(&agent, Command::Accept { id }).unwrap();
        agent
    }

    /// The agent it is offered to turns it down; returns that agent.
    fn reject(&mut self, id: Uuid) -> String {
        let agent = self.offered_to(id).expect("offered");
        self.act(
            &agent,
            Command::Reject {
                id,
                reason: Some("busy".into()),
            },
        )
        .unwrap();
        agent
    }

    fn stop(&mut self, id: Uuid) {
        self.apply(Command::Stop {
            id,
            reason: "done".into(),
        })
        .unwrap();
    }

    fn view(&self, agent: &str) -> AgentView {
        self.engine.agent_view(agent).unwrap()
    }

    fn queued_in(&self, queue: &str) -> Vec<Uuid> {
        self.engine
            .queue_snapshot(PROCESS, queue, usize::MAX, self.now)
            .unwrap()
            .interactions
            .iter()
            .map(|i| i.id)
            .collect()
    }

    fn explain(&self, id: Uuid) -> Vec<Decision> {
        self.engine.explain(id, self.now).unwrap()
    }
}

fn reason_of(decision: &Decision, agent: &str) -> (Pass, Option<usize>) {
    let passed = decision
        .passed
        .iter()
        .find(|p| p.agent == agent)
        .unwrap_or_else(|| panic!("{agent} is not named in {decision:?}"));
    (passed.reason, passed.step)
}

fn events_of(changes: &Changes, kind: EventKind) -> Vec<&Event> {
    changes.events.iter().filter(|e| e.kind == kind).collect()
}

fn timing() -> Timing {
    Timing::default()
}

// ---- Fairness ----

#[test]
fn longest_idle_shares_a_thousand_interactions_evenly() {
    let agents: Vec<AgentProfile> = (0..10).map(|n| agent(&format!("a{n}"), &[], 1)).collect();
    let views = vec![routed(
        "inbound",
        any_agent(Select::LongestIdle, 1_000_000),
        None,
    )];
    let mut w = World::new(config(views, agents, timing()));
    for n in 0..10 {
        w.ready(&format!("a{n}"));
        w.advance_to(n + 1);
    }
    let ids: Vec<Uuid> = (0..1000).map(|_| w.submit(1)).collect();
    let mut handled: BTreeMap<String, usize> = BTreeMap::new();
    let mut t = 10;
    for _ in 0..ids.len() {
        // The offer made longest ago is answered first, one at a time.
        let next = ids
            .iter()
            .filter(|id| {
                w.engine
                    .get(**id)
                    .is_some_and(|i| i.state == State::Offered)
            })
            .min_by_key(|id| (w.get(**id).offered_at, **id))
            .copied()
            .expect("someone is offered one while any waits");
        t += 1;
        w.advance_to(t);
        let agent = w.accept(next);
        w.stop(next);
        *handled.entry(agent).or_default() += 1;
    }
    assert!(ids.iter().all(|id| w.rows[id].state == State::Stopped));
    let counts: Vec<usize> = handled.values().copied().collect();
    assert_eq!(counts.len(), 10, "every agent handled some: {handled:?}");
    let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
    assert!(max - min <= 1, "handled counts {handled:?}");
}

#[test]
fn round_robin_takes_agents_in_name_order_in_each_view_on_its_own() {
    let agents: Vec<AgentProfile> = ["a0", "a1", "a2"]
        .iter()
        .map(|name| agent(name, &[], 1))
        .collect();
    let views = vec![
        routed("inbound", any_agent(Select::RoundRobin, 10_000), None),
        routed("overflow", any_agent(Select::RoundRobin, 10_000), None),
    ];
    let mut w = World::new(config(views, agents, timing()));
    // Idle longest in the reverse of name order: not what round robin
    // goes by.
    for (t, name) in ["a2", "a1", "a0"].into_iter().enumerate() {
        w.advance_to(t as i64 + 1);
        w.ready(name);
    }
    let mut t = 10;
    let mut handle = |w: &mut World, queue: &str| {
        let id = w.submit_with(queue, 1, "email", json!({}));
        t += 1;
        w.advance_to(t);
        let agent = w.accept(id);
        w.stop(id);
        agent
    };
    let inbound: Vec<String> = (0..4).map(|_| handle(&mut w, "inbound")).collect();
    assert_eq!(inbound, ["a0", "a1", "a2", "a0"]);
    // The other view keeps its own turn: it starts from the first name.
    assert_eq!(handle(&mut w, "overflow"), "a0");
    assert_eq!(handle(&mut w, "overflow"), "a1");
    // And the first view carries on after its own last.
    assert_eq!(handle(&mut w, "inbound"), "a1");
}

// ---- Strategies: steps, exhaustion, rejects, timeouts ----

/// Billing skill 8, then 5, then 1, then `on_exhausted`.
fn widening(on_exhausted: Exhausted) -> Arc<Strategy> {
    strategy(
        vec![
            step("agent.skills.billing >= 8", Select::LongestIdle, 60),
            step("agent.skills.billing >= 5", Select::LongestIdle, 120),
            step("agent.skills.billing >= 1", Select::LeastBusy, 300),
        ],
        on_exhausted,
    )
}

#[test]
fn a_three_step_strategy_widens_after_each_timeout_then_places_in_overflow() {
    let views = vec![
        routed(
            "inbound",
            widening(Exhausted::PlaceInQueue("overflow".into())),
            None,
        ),
        routed("overflow", any_agent(Select::LongestIdle, 10_000), None),
    ];
    let agents = vec![
        agent("weak", &[("billing", 2)], 1),
        agent("good", &[("billing", 6)], 1),
    ];
    let mut w = World::new(config(views, agents, timing()));
    w.ready("weak");
    w.ready("good");
    let id = w.submit(1);
    assert_eq!(w.offered_to(id), None, "step 1 admits nobody here");
    let why = w.explain(id);
    assert_eq!(why.len(), 1);
    assert_eq!((why[0].step, why[0].chosen.as_deref()), (1, None));
    assert_eq!(reason_of(&why[0], "good"), (Pass::StepNotReached, Some(2)));
    assert_eq!(reason_of(&why[0], "weak"), (Pass::StepNotReached, Some(3)));
    assert_eq!(w.engine.poll_timeout(), Some(at(60)));

    w.drain();
    w.advance_to(59);
    assert!(w.drain().is_empty(), "nothing is due before the step ends");
    w.advance_to(60);
    assert_eq!(
        w.offered_to(id).as_deref(),
        Some("good"),
        "step 2 after 60 s"
    );
    let offered = w.drain();
    let event = events_of(&offered, EventKind::Offered)[0].data.to_value();
    assert_eq!(event["step"], 2);
    w.reject(id);
    assert_eq!(
        w.offered_to(id).as_deref(),
        Some("good"),
        "offered again: nobody else is eligible at step 2"
    );
    w.set_ready("good", false);
    w.reject(id);
    assert_eq!(w.offered_to(id), None);
    assert_eq!(
        w.explain(id).last().unwrap().step,
        2,
        "a reject keeps the step"
    );

    w.advance_to(179);
    assert_eq!(w.offered_to(id), None);
    w.advance_to(180);
    assert_eq!(
        w.offered_to(id).as_deref(),
        Some("weak"),
        "step 3 after 60 + 120 s"
    );
    w.set_ready("weak", false);
    w.reject(id);
    w.drain();

    w.advance_to(479);
    assert_eq!(w.get(id).queue.as_deref(), Some("inbound"));
    w.advance_to(480);
    let moved = w.get(id).clone();
    assert_eq!(
        (moved.state, moved.queue.as_deref()),
        (State::Queued, Some("overflow"))
    );
    assert_eq!(moved.submitted_at, at(0), "keeps its age");
    assert_eq!(moved.placed_in_queue_at, Some(at(480)));
    let changes = w.drain();
    let placed = events_of(&changes, EventKind::PlacedInQueue);
    assert_eq!(placed.len(), 1);
    assert_eq!(placed[0].data.to_value()["reason"], "strategy_exhausted");
    assert_eq!(w.queued_in("overflow"), vec![id]);
    assert!(w.queued_in("inbound").is_empty());
    // The overflow's own strategy takes it from there.
    w.set_ready("weak", true);
    assert_eq!(w.offered_to(id).as_deref(), Some("weak"));
}

#[test]
fn an_exhausted_strategy_can_stop_the_interaction_with_its_reason() {
    let views = vec![routed(
        "inbound",
        widening(Exhausted::Stop("nobody skilled in time".into())),
        None,
    )];
    let mut w = World::new(config(views, vec![agent("a", &[], 1)], timing()));
    w.ready("a");
    let id = w.submit(1);
    w.advance_to(60);
    w.advance_to(180);
    assert_eq!(w.state(id), State::Queued);
    w.advance_to(480);
    let stopped = w.get(id).clone();
    assert_eq!(stopped.state, State::Stopped);
    assert_eq!(
        stopped.stop_reason.as_deref(),
        Some("nobody skilled in time")
    );
    assert_eq!(stopped.stopped_at, Some(at(480)));
    let changes = w.drain();
    let events = events_of(&changes, EventKind::ProcessingStopped);
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].data.to_value()["reason"],
        "nobody skilled in time"
    );
    assert!(w.queued_in("inbound").is_empty());
    // No timer is left for it but the one that lets the stopped
    // interaction go.
    assert_eq!(w.engine.poll_timeout(), Some(at(480) + KEEP_STOPPED));
}

#[test]
fn a_reject_and_a_delivery_timeout_go_to_the_next_candidate() {
    let mut w = one_view(vec![agent("a", &[], 1), agent("b", &[], 1)]);
    w.ready("a");
    w.advance_to(1);
    w.ready("b");
    w.advance_to(2);
    let id = w.submit(1);
    assert_eq!(w.offered_to(id).as_deref(), Some("a"), "idle longest");
    w.drain();
    w.reject(id);
    assert_eq!(w.offered_to(id).as_deref(), Some("b"), "the next candidate");
    let changes = w.drain();
    let rejected = events_of(&changes, EventKind::Rejected);
    assert_eq!(rejected[0].agent.as_deref(), Some("a"));
    let deadline = match changes.notices.iter().find(|n| n.agent() == "b") {
        Some(Notice::Offer { deadline, .. }) => *deadline,
        other => panic!("b is offered it: {other:?}"),
    };
    assert_eq!(deadline, at(2 + 30), "the delivery timeout");
    assert_eq!(w.view("b").offers[0].deadline, deadline);

    w.advance_to(31);
    assert!(w.drain().is_empty(), "not due yet");
    w.advance_to(32);
    assert_eq!(
        w.offered_to(id).as_deref(),
        Some("a"),
        "b let it time out: back to a, free again"
    );
    let changes = w.drain();
    let timed_out = events_of(&changes, EventKind::OfferTimedOut);
    assert_eq!(timed_out.len(), 1);
    assert_eq!(timed_out[0].agent.as_deref(), Some("b"));
    assert!(changes.notices.contains(&Notice::Revoked {
        agent: "b".into(),
        id,
        reason: "offer_timed_out".into()
    }));
    assert_eq!(w.view("b").load, 0, "b's capacity is free again");
    assert_eq!(w.view("b").missed_in_row, 1);
}

#[test]
fn consecutive_missed_offers_set_the_agent_not_ready() {
    let mut w = one_view(vec![agent("a", &[], 1)]);
    w.ready("a");
    // Two misses, then an accept: the count starts again.
    let first = w.submit(1);
    w.reject(first);
    w.reject(first);
    assert_eq!(w.view("a").missed_in_row, 2);
    w.accept(first);
    assert_eq!(w.view("a").missed_in_row, 0);
    w.stop(first);
    let second = w.submit(1);
    w.reject(second);
    w.reject(second);
    w.drain();
    assert!(w.view("a").media["email"].ready, "two misses in a row only");
    // The third in a row, a timeout: not ready.
    assert_eq!(w.offered_to(second).as_deref(), Some("a"));
    w.advance_to(30);
    let view = w.view("a");
    assert!(!view.media["email"].ready && !view.media["chat"].ready);
    assert_eq!(view.media["email"].reason.as_deref(), Some("missed_offers"));
    assert_eq!(w.offered_to(second), None);
    assert_eq!(w.state(second), State::Queued);
    let changes = w.drain();
    let paused = events_of(&changes, EventKind::AgentNotReady);
    assert_eq!(paused.len(), 1);
    assert_eq!(paused[0].agent.as_deref(), Some("a"));
    assert_eq!(paused[0].data.to_value()["reason"], "missed_offers");
    let record = changes.agents.last().expect("the agent's state is written");
    assert_eq!(record.name, "a");
    assert_eq!(
        record.media["email"].reason.as_deref(),
        Some("missed_offers")
    );
    // Ready again, it gets the offer.
    w.set_ready("a", true);
    assert_eq!(w.offered_to(second).as_deref(), Some("a"));
}

#[test]
fn a_desktop_gone_past_its_grace_makes_the_agent_not_ready() {
    let mut w = one_view(vec![agent("a", &[], 1), agent("b", &[], 1)]);
    w.ready("a");
    w.ready("b");
    w.set_ready("b", false);
    w.advance_to(10);
    w.connect("a", false);
    w.advance_to(11);
    let id = w.submit(1);
    assert_eq!(w.offered_to(id), None, "no offer to a desktop not there");
    assert_eq!(
        reason_of(w.explain(id).last().unwrap(), "a"),
        (Pass::Disconnected, None)
    );
    w.drain();
    w.advance_to(39);
    assert!(w.drain().is_empty(), "within the grace");
    w.advance_to(40);
    let view = w.view("a");
    assert!(!view.connected);
    assert_eq!(view.media["email"].reason.as_deref(), Some("disconnected"));
    let changes = w.drain();
    let events = events_of(&changes, EventKind::AgentNotReady);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].agent.as_deref(), Some("a"));
    assert_eq!(events[0].data.to_value()["reason"], "disconnected");
    assert_eq!(changes.agents.last().unwrap().name, "a");
    // Back, it is not ready until it says so.
    w.connect("a", true);
    assert_eq!(w.offered_to(id), None);
    w.set_ready("a", true);
    assert_eq!(w.offered_to(id).as_deref(), Some("a"));

    // A desktop back within its grace stays ready.
    w.set_ready("b", true);
    w.connect("b", false);
    w.advance_to(50);
    w.connect("b", true);
    w.advance_to(100);
    assert!(w.view("b").media["email"].ready);
}

// ---- Order: aging, reserved agents, a re-queued interaction's place ----

#[test]
fn priority_aging_lifts_an_old_low_priority_interaction_above_a_stream_of_urgent_ones() {
    // One point per 10 s: 1 lifted by 10 points, to a new 11's rank, takes
    // 100 s of waiting.
    let aging = Aging {
        points: 1,
        per: secs(10),
    };
    let views = vec![routed(
        "inbound",
        any_agent(Select::LongestIdle, 100_000),
        Some(aging),
    )];
    let mut w = World::new(config(views, vec![agent("a", &[], 1)], timing()));
    w.ready("a");
    let mut current = w.submit(11);
    w.accept(current);
    let old = w.submit(1);
    // Every 5 s a new 11 comes in, and a finishes what it holds and takes
    // the next offered.
    let mut t = 0;
    loop {
        t += 5;
        w.advance_to(t);
        let urgent = w.submit(11);
        w.stop(current);
        if w.offered_to(old).is_some() {
            assert_eq!(t, 100, "offered when it has waited 100 s, not before");
            assert_eq!(w.state(urgent), State::Queued);
            break;
        }
        assert!(t < 100, "still waiting after {t} s");
        assert_eq!(w.offered_to(urgent).as_deref(), Some("a"), "at {t} s");
        current = urgent;
        w.accept(current);
    }
}

fn customer(id: &str) -> Value {
    json!({ "customer_id": id })
}

#[test]
fn last_agent_brings_a_customer_back_to_its_agent_and_falls_back_while_it_is_busy() {
    let views = inbound_by(vec![
        step("true", Select::LastAgent, 60),
        step("true", Select::LongestIdle, 1_000),
    ]);
    let agents = vec![agent("a", &[], 1), agent("b", &[], 1)];
    let mut w = World::new(config(views, agents, timing()));
    w.ready("b");
    w.advance_to(1);
    w.ready("a");
    w.advance_to(2);
    // A new customer: no last agent, the step is skipped at once.
    let first = w.submit_with("inbound", 1, "email", customer("c-1"));
    assert_eq!(w.offered_to(first).as_deref(), Some("b"), "idle longest");
    w.accept(first);
    w.advance_to(3);
    w.stop(first);
    // b now idled for less time than a, and still gets c-1 back.
    let second = w.submit_with("inbound", 1, "email", customer("c-1"));
    assert_eq!(w.offered_to(second).as_deref(), Some("b"), "its last agent");
    let other = w.submit_with("inbound", 1, "email", customer("c-2"));
    assert_eq!(
        w.offered_to(other).as_deref(),
        Some("a"),
        "another customer"
    );
    w.accept(second);
    w.accept(other);
    w.stop(other);
    // b busy: the next of c-1 waits for b while a is free, for the step.
    w.advance_to(10);
    let third = w.submit_with("inbound", 1, "email", customer("c-1"));
    assert_eq!(w.offered_to(third), None);
    let why = w.explain(third);
    assert_eq!(why.last().unwrap().step, 1);
    assert_eq!(
        reason_of(why.last().unwrap(), "a").0,
        Pass::ReservedForAnother
    );
    assert_eq!(reason_of(why.last().unwrap(), "b").0, Pass::NoCapacity);
    w.advance_to(69);
    assert_eq!(w.offered_to(third), None);
    w.advance_to(70);
    assert_eq!(
        w.offered_to(third).as_deref(),
        Some("a"),
        "after the step's timeout"
    );
}

#[test]
fn a_preferred_agent_is_offered_first_and_fallen_back_from() {
    let views = inbound_by(vec![
        step(
            routing::config::PREFERRED_AGENT_TARGET,
            Select::LongestIdle,
            60,
        ),
        step("true", Select::LongestIdle, 1_000),
    ]);
    let agents = vec![agent("a", &[], 1), agent("b", &[], 1)];
    let mut w = World::new(config(views, agents, timing()));
    w.ready("a");
    w.advance_to(1);
    w.ready("b");
    let wants_b = w.submit_with("inbound", 1, "email", json!({ "preferred_agent": "b" }));
    assert_eq!(
        w.offered_to(wants_b).as_deref(),
        Some("b"),
        "although a idled longer"
    );
    let wants_nobody = w.submit_with("inbound", 1, "email", json!({ "preferred_agent": "zed" }));
    assert_eq!(
        w.offered_to(wants_nobody).as_deref(),
        Some("a"),
        "no such agent: the step is skipped at once"
    );
    w.accept(wants_b);
    w.stop(wants_nobody);
    w.advance_to(10);
    // b busy: a is passed over for the step's time.
    let waits = w.submit_with("inbound", 1, "email", json!({ "preferred_agent": "b" }));
    assert_eq!(w.offered_to(waits), None);
    w.advance_to(70);
    assert_eq!(w.offered_to(waits).as_deref(), Some("a"));
}

#[test]
fn a_rejected_interaction_keeps_its_place_ahead_of_later_ones() {
    let mut w = one_view(vec![agent("a", &[], 1), agent("b", &[], 1)]);
    w.ready("a");
    let first = w.submit(1);
    assert_eq!(w.offered_to(first).as_deref(), Some("a"));
    w.advance_to(1);
    let second = w.submit(1);
    w.advance_to(2);
    let third = w.submit(1);
    w.set_ready("a", false);
    w.reject(first);
    assert_eq!(w.queued_in("inbound"), vec![first, second, third]);
    assert_eq!(w.get(first).submitted_at, at(0));
    w.ready("b");
    assert_eq!(w.offered_to(first).as_deref(), Some("b"), "first in line");
    assert_eq!(w.offered_to(second), None);
}

// ---- Workbins, pulls, transfers, handling timeouts ----

#[test]
fn a_workbin_frees_capacity_and_a_take_is_held_to_it() {
    let mut w = one_view(vec![agent("a", &[], 1), {
        let mut loner = agent("loner", &[], 1);
        loner.groups.clear();
        loner
    }]);
    w.ready("a");
    w.ready("loner");
    w.set_ready("loner", false);
    let parked = w.submit(1);
    w.accept(parked);
    assert_eq!(w.view("a").load, 1);
    w.act(
        "a",
        Command::PlaceInWorkbin {
            id: parked,
            workbin: "later".into(),
            owner: None,
        },
    )
    .unwrap();
    let held = w.get(parked).clone();
    assert_eq!(
        (held.state, held.owner.as_deref(), held.agent.as_deref()),
        (State::Parked, Some("a"), None)
    );
    assert_eq!(w.view("a").load, 0, "parked frees the agent's capacity");
    assert!(w.view("a").holding.is_empty());
    assert_eq!(
        w.engine
            .workbin(PROCESS, "later", Some("a"))
            .unwrap()
            .iter()
            .map(|i| i.id)
            .collect::<Vec<_>>(),
        vec![parked]
    );
    // The freed capacity takes the next one.
    let next = w.submit(1);
    assert_eq!(w.offered_to(next).as_deref(), Some("a"));
    w.accept(next);
    w.drain();
    assert_eq!(
        w.act("a", Command::Take { id: parked }),
        Err(EngineError::Unavailable {
            agent: "a".into(),
            reason: Pass::NoCapacity
        }),
        "a take beyond capacity is refused"
    );
    assert!(w.drain().is_empty(), "a refusal changes nothing");
    assert_eq!(
        w.act("loner", Command::Take { id: parked }),
        Err(EngineError::NotYourWorkbin {
            workbin: "later".into(),
            owner: "a".into()
        })
    );
    w.stop(next);
    // Not ready, but with room: a take is the agent's own choice.
    w.set_ready("a", false);
    let taken = w
        .act("a", Command::Take { id: parked })
        .unwrap()
        .interaction;
    assert_eq!(
        (
            taken.state,
            taken.agent.as_deref(),
            taken.workbin.as_deref()
        ),
        (State::Handling, Some("a"), None)
    );
    assert_eq!(w.view("a").load, 1);
    assert_eq!(w.view("a").holding, vec![parked]);
    assert!(w.engine.workbin(PROCESS, "later", None).unwrap().is_empty());
}

#[test]
fn a_routing_client_pulls_offers_and_its_routing_timeout_brings_it_back() {
    let views = vec![
        routed("inbound", any_agent(Select::LongestIdle, 10_000), None),
        pulled("pulled"),
    ];
    let timing = Timing {
        routing_timeout: secs(300),
        ..timing()
    };
    let mut w = World::new(config(views, vec![agent("a", &[], 1)], timing));
    w.ready("a");
    let low = w.submit_with("pulled", 1, "email", json!({}));
    let high = w.submit_with("pulled", 5, "email", json!({}));
    let rest = w.submit_with("pulled", 3, "email", json!({}));
    assert_eq!(w.view("a").load, 0, "a pull view is not routed by ixs");
    w.advance_to(10);
    let pulled = w.engine.pull(PROCESS, "pulled", "robot", 2, w.now).unwrap();
    w.settle();
    assert_eq!(
        pulled.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![high, rest],
        "in the view's order"
    );
    assert!(pulled.iter().all(|i| i.state == State::Routing));
    assert_eq!(w.queued_in("pulled"), vec![low]);
    assert_eq!(w.engine.poll_timeout(), Some(at(310)));
    assert!(matches!(
        w.engine.pull(PROCESS, "inbound", "all", 1, w.now),
        Err(EngineError::Pull(routing::PullError::NotPulled(_)))
    ));
    // Offered by the client, accepted by the agent.
    let offered = w
        .apply(Command::Offer {
            id: high,
            agent: "a".into(),
        })
        .unwrap()
        .interaction;
    assert_eq!(
        (offered.state, offered.agent.as_deref()),
        (State::Offered, Some("a"))
    );
    assert_eq!(w.view("a").load, 1);
    w.accept(high);
    assert_eq!(w.handled_by(high).as_deref(), Some("a"));
    // The other one was neither offered, placed nor stopped in time.
    w.drain();
    w.advance_to(309);
    assert_eq!(w.state(rest), State::Routing);
    w.advance_to(310);
    let back = w.get(rest).clone();
    assert_eq!(
        (back.state, back.queue.as_deref()),
        (State::Queued, Some("pulled"))
    );
    assert_eq!(back.submitted_at, at(0));
    let changes = w.drain();
    let events = events_of(&changes, EventKind::PlacedInQueue);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data.to_value()["reason"], "routing_timeout");
    assert_eq!(w.queued_in("pulled"), vec![rest, low]);
    assert_eq!(w.state(high), State::Handling, "the accepted one stays");
}

/// `a` handles one interaction, `b` is ready with room; returns its id.
fn handled_by_a() -> (World, Uuid) {
    let views = vec![
        routed("inbound", any_agent(Select::LongestIdle, 10_000), None),
        routed("overflow", any_agent(Select::LongestIdle, 10_000), None),
    ];
    let agents = vec![agent("a", &[], 1), agent("b", &[], 1)];
    let mut w = World::new(config(views, agents, timing()));
    w.ready("a");
    let id = w.submit(1);
    w.accept(id);
    w.ready("b");
    w.drain();
    (w, id)
}

fn transfer(w: &mut World, id: Uuid, to: &str) -> Result<Applied, EngineError> {
    w.act(
        "a",
        Command::Transfer {
            id,
            agent: to.into(),
        },
    )
}

#[test]
fn a_transfer_stays_with_the_first_agent_until_the_other_accepts() {
    let (mut w, id) = handled_by_a();
    transfer(&mut w, id, "b").unwrap();
    assert_eq!(w.handled_by(id).as_deref(), Some("a"), "still a's");
    assert_eq!(w.view("a").load, 1);
    assert_eq!(w.view("b").load, 1, "b's room is held for it");
    assert_eq!(w.view("b").offers.len(), 1);
    assert_eq!(w.view("b").offers[0].interaction, id);
    let changes = w.drain();
    assert!(matches!(
        changes.notices.iter().find(|n| n.agent() == "b"),
        Some(Notice::Offer { deadline, .. }) if *deadline == at(30)
    ));
    // A second transfer while one is pending is refused.
    assert!(matches!(
        transfer(&mut w, id, "b"),
        Err(EngineError::Illegal { .. })
    ));
    w.act("b", Command::Accept { id }).unwrap();
    assert_eq!(w.handled_by(id).as_deref(), Some("b"));
    assert_eq!((w.view("a").load, w.view("b").load), (0, 1));
    assert!(w.view("b").offers.is_empty());
    assert_eq!(w.view("b").holding, vec![id]);
    let changes = w.drain();
    assert!(changes.notices.contains(&Notice::Revoked {
        agent: "a".into(),
        id,
        reason: "transferred".into()
    }));
    assert_eq!(
        events_of(&changes, EventKind::Accepted)[0].data.to_value()["transferred_from"],
        "a"
    );
}

#[test]
fn a_transfer_turned_down_or_timed_out_returns_to_the_first_agent() {
    let (mut w, id) = handled_by_a();
    transfer(&mut w, id, "b").unwrap();
    w.act("b", Command::Reject { id, reason: None }).unwrap();
    assert_eq!(w.handled_by(id).as_deref(), Some("a"));
    assert_eq!((w.view("a").load, w.view("b").load), (1, 0));
    assert!(w.view("b").offers.is_empty());
    assert_eq!(w.view("a").holding, vec![id]);
    assert_eq!(
        w.act("b", Command::Accept { id }),
        Err(EngineError::NotYours(id)),
        "nothing left to accept"
    );

    w.advance_to(100);
    transfer(&mut w, id, "b").unwrap();
    w.drain();
    w.advance_to(129);
    assert!(w.drain().is_empty());
    w.advance_to(130);
    assert_eq!(w.handled_by(id).as_deref(), Some("a"));
    assert_eq!((w.view("a").load, w.view("b").load), (1, 0));
    let changes = w.drain();
    let timed_out = events_of(&changes, EventKind::OfferTimedOut);
    assert_eq!(timed_out.len(), 1);
    assert_eq!(timed_out[0].data.to_value()["transfer"], true);
    assert!(changes.notices.contains(&Notice::Revoked {
        agent: "b".into(),
        id,
        reason: "offer_timed_out".into()
    }));
    // And a can still finish it.
    w.act(
        "a",
        Command::Stop {
            id,
            reason: "done".into(),
        },
    )
    .unwrap();
    assert_eq!(w.view("a").load, 0);
}

#[test]
fn a_transfer_to_a_queue_frees_the_agent_and_routes_it_there() {
    let (mut w, id) = handled_by_a();
    w.advance_to(10);
    w.act(
        "a",
        Command::PlaceInQueue {
            id,
            process: None,
            queue: "overflow".into(),
        },
    )
    .unwrap();
    assert_eq!(w.view("a").load, 0);
    let moved = w.get(id).clone();
    assert_eq!(moved.queue.as_deref(), Some("overflow"));
    assert_eq!(moved.submitted_at, at(0));
    assert_eq!(
        w.offered_to(id).as_deref(),
        Some("b"),
        "the overflow's view routes it"
    );
}

#[test]
fn the_handling_timeout_revokes_an_interaction_back_to_its_queue() {
    let views = vec![routed(
        "inbound",
        any_agent(Select::LongestIdle, 100_000),
        None,
    )];
    let timing = Timing {
        handling_timeout: secs(600),
        ..timing()
    };
    let agents = vec![agent("a", &[], 1), agent("b", &[], 1)];
    let mut w = World::new(config(views, agents, timing));
    w.ready("a");
    let id = w.submit(1);
    w.accept(id);
    assert_eq!(w.engine.poll_timeout(), Some(at(600)));
    // A request by its agent starts the timeout again.
    w.advance_to(300);
    w.act(
        "a",
        Command::ChangeProperties {
            id,
            patch: props(json!({ "note": "working on it" })),
        },
    )
    .unwrap();
    assert_eq!(w.engine.poll_timeout(), Some(at(900)));
    w.ready("b");
    w.set_ready("a", false);
    w.drain();
    w.advance_to(899);
    assert!(w.drain().is_empty());
    w.advance_to(900);
    assert_eq!(w.view("a").load, 0);
    assert!(w.view("a").holding.is_empty());
    let changes = w.drain();
    let revoked = events_of(&changes, EventKind::Revoked);
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].agent.as_deref(), Some("a"));
    assert_eq!(revoked[0].data.to_value()["reason"], "handling_timeout");
    assert!(changes.notices.contains(&Notice::Revoked {
        agent: "a".into(),
        id,
        reason: "handling_timeout".into()
    }));
    assert_eq!(
        w.offered_to(id).as_deref(),
        Some("b"),
        "back in its queue and routed"
    );
    assert_eq!(w.get(id).submitted_at, at(0));
}

#[test]
fn a_strategy_that_ran_out_during_an_offer_applies_its_end_when_the_offer_ends() {
    let views = vec![
        routed(
            "inbound",
            strategy(
                vec![step("true", Select::LongestIdle, 60)],
                Exhausted::PlaceInQueue("overflow".into()),
            ),
            None,
        ),
        routed("overflow", any_agent(Select::LongestIdle, 10_000), None),
    ];
    let agents = vec![agent("a", &[], 1), agent("b", &[], 1)];
    let mut w = World::new(config(views, agents, timing()));
    let rejected = w.submit(1);
    w.advance_to(10);
    let timed_out = w.submit(1);
    w.advance_to(50);
    w.ready("a");
    w.ready("b");
    assert_eq!(w.offered_to(rejected).as_deref(), Some("a"));
    assert_eq!(w.offered_to(timed_out).as_deref(), Some("b"));
    // Both strategies run out while the offers are pending: nothing moves.
    w.advance_to(70);
    assert_eq!(w.offered_to(rejected).as_deref(), Some("a"));
    assert_eq!(w.offered_to(timed_out).as_deref(), Some("b"));
    assert_eq!(w.get(rejected).queue.as_deref(), Some("inbound"));
    // Turned down: it goes where the strategy's end says, at once, and
    // the overflow's strategy routes it from there.
    w.set_ready("a", false);
    w.reject(rejected);
    let moved = w.get(rejected).clone();
    assert_eq!(moved.queue.as_deref(), Some("overflow"));
    assert_eq!(moved.state, State::Queued, "nobody is free for it");
    assert_eq!(moved.submitted_at, at(0));
    // Timed out: the same.
    w.advance_to(80);
    let moved = w.get(timed_out).clone();
    assert_eq!(moved.queue.as_deref(), Some("overflow"));
    assert!(
        w.engine.poll_timeout() > Some(w.now),
        "no timer is left due after handle_timeout"
    );
}

#[test]
fn a_strategy_that_runs_out_into_its_own_queue_routes_it_there_afresh() {
    // One strategy for the views of both queues: its end places what it
    // could not route in the overflow, the overflow's own queue included.
    let retry = strategy(
        vec![
            step("agent.skills.billing >= 5", Select::LongestIdle, 60),
            step("true", Select::LongestIdle, 60),
        ],
        Exhausted::PlaceInQueue("overflow".into()),
    );
    let views = vec![
        routed("inbound", retry.clone(), None),
        routed("overflow", retry, None),
    ];
    let agents = vec![agent("a", &[], 1), agent("b", &[("billing", 9)], 1)];
    let timing = Timing {
        delivery_timeout: secs(1_000),
        ..timing()
    };
    let mut w = World::new(config(views, agents, timing));
    let id = w.submit_with("overflow", 1, "email", json!({}));
    w.advance_to(60);
    w.advance_to(120);
    let placed = w.get(id).clone();
    assert_eq!(placed.state, State::Queued);
    assert_eq!(placed.queue.as_deref(), Some("overflow"));
    assert_eq!(placed.placed_in_queue_at, Some(at(120)));
    assert_eq!(
        w.explain(id).first().map(|d| d.step),
        Some(1),
        "it waits in the overflow's view, at the first step again"
    );
    // A free agent its first step admits gets it.
    w.ready("a");
    assert_eq!(w.offered_to(id), None, "the first step wants billing");
    w.ready("b");
    assert_eq!(w.offered_to(id).as_deref(), Some("b"));
    // Ran out again during the offer: placed there afresh when it ends.
    w.advance_to(180);
    w.advance_to(240);
    w.set_ready("b", false);
    w.reject(id);
    assert_eq!(w.get(id).placed_in_queue_at, Some(at(240)));
    assert_eq!(w.offered_to(id), None, "the first step wants billing");
    w.advance_to(300);
    assert_eq!(
        w.offered_to(id).as_deref(),
        Some("a"),
        "the second step is open to all"
    );
}

#[test]
fn a_waiting_interaction_whose_properties_change_is_looked_at_again() {
    let views = inbound_by(vec![step(
        "agent.skills.billing >= properties.level",
        Select::LongestIdle,
        1_000,
    )]);
    let agents = vec![agent("junior", &[("billing", 2)], 1)];
    let mut w = World::new(config(views, agents, timing()));
    w.ready("junior");
    let id = w.submit_with("inbound", 1, "chat", json!({ "level": 3 }));
    assert_eq!(w.offered_to(id), None, "junior is below level 3");
    // The level asked drops to what junior has: its step now admits junior,
    // who is free.
    w.apply(Command::ChangeProperties {
        id,
        patch: props(json!({ "level": 2 })),
    })
    .unwrap();
    assert_eq!(w.offered_to(id).as_deref(), Some("junior"));
}

#[test]
fn an_offer_pending_across_a_new_routing_configuration_ends_in_the_new_views() {
    let before = config(
        vec![
            routed("inbound", any_agent(Select::LongestIdle, 1_000), None),
            routed("overflow", any_agent(Select::LongestIdle, 1_000), None),
        ],
        vec![agent("a", &[], 1), agent("b", &[("billing", 9)], 1)],
        timing(),
    );
    let mut after = before.clone();
    after.views = vec![routed(
        "overflow",
        strategy(
            vec![step(
                "agent.skills.billing >= 5",
                Select::LongestIdle,
                1_000,
            )],
            Exhausted::Stop("no agent".into()),
        ),
        None,
    )];
    let mut w = World::new(before);
    w.ready("a");
    let id = w.submit_with("overflow", 1, "email", json!({}));
    assert_eq!(w.offered_to(id).as_deref(), Some("a"));
    // The views change while the offer is pending: the overflow's only
    // view is now the first, and wants billing.
    w.advance_to(10);
    w.engine
        .set_served(served(&after), Arc::new(after.clone()), [], w.now);
    w.settle();
    assert_eq!(w.offered_to(id).as_deref(), Some("a"), "the offer stands");
    // Turned down: it waits in the new view, at its first step.
    w.set_ready("a", false);
    w.reject(id);
    assert_eq!(w.state(id), State::Queued);
    let waits: Vec<(String, usize)> = w
        .engine
        .router()
        .why_waiting(w.get(id), w.now)
        .iter()
        .map(|d| (d.view.to_string(), d.step))
        .collect();
    assert_eq!(waits, vec![("all".to_owned(), 1)]);
    w.ready("a");
    assert_eq!(w.offered_to(id), None, "a has no billing");
    w.ready("b");
    assert_eq!(w.offered_to(id).as_deref(), Some("b"));
}

// ---- Explain, dry run, timers, recovery ----

#[test]
fn explain_names_each_agent_passed_over_with_its_reason() {
    let views = inbound_by(vec![
        step("agent.skills.billing >= 5", Select::LongestIdle, 1_000),
        step("agent.skills.billing >= 1", Select::LongestIdle, 1_000),
    ]);
    let skilled = [("billing", 9)];
    let agents = vec![
        agent("away", &skilled, 1),
        agent("busy", &skilled, 1),
        agent("chatting", &skilled, 1),
        agent("gone", &skilled, 1),
        agent("junior", &[("billing", 2)], 1),
        agent("novice", &[], 1),
        agent("resting", &skilled, 1),
        agent("wrapping", &skilled, 1),
    ];
    let timing = Timing {
        after_work: [("email".to_owned(), secs(60))].into(),
        ..timing()
    };
    let mut w = World::new(config(views, agents, timing));
    // wrapping finished an e-mail just now; busy holds one.
    w.ready("wrapping");
    let done = w.submit(1);
    assert_eq!(w.accept(done), "wrapping");
    w.stop(done);
    w.ready("busy");
    let held = w.submit(1);
    assert_eq!(w.accept(held), "busy");
    w.ready_with("chatting", &["chat"]);
    w.ready("resting");
    w.set_ready("resting", false);
    w.engine.login("gone", &media(&["email"]), w.now).unwrap();
    w.engine.set_ready("gone", None, true, None, w.now).unwrap();
    w.settle();
    w.ready("junior");
    w.ready("novice");

    let id = w.submit(1);
    assert_eq!(w.offered_to(id), None);
    let why = w.explain(id);
    assert_eq!(why.len(), 1, "no offer was made: only why it waits");
    let decision = &why[0];
    assert_eq!(
        (
            decision.view.as_str(),
            decision.step,
            decision.chosen.as_deref()
        ),
        ("all", 1, None)
    );
    let reasons: BTreeMap<&str, (Pass, Option<usize>)> = decision
        .passed
        .iter()
        .map(|p| (p.agent.as_str(), (p.reason, p.step)))
        .collect();
    assert_eq!(
        reasons,
        [
            ("away", (Pass::LoggedOut, None)),
            ("busy", (Pass::NoCapacity, None)),
            ("chatting", (Pass::MediaNotLoggedIn, None)),
            ("gone", (Pass::Disconnected, None)),
            ("junior", (Pass::StepNotReached, Some(2))),
            ("novice", (Pass::NotEligible, Some(1))),
            ("resting", (Pass::NotReady, None)),
            ("wrapping", (Pass::AfterWork, None)),
        ]
        .into()
    );
    assert_eq!(decision.counts.values().sum::<usize>(), 8);
    // After-work over, wrapping takes it; what was decided is kept.
    w.advance_to(60);
    assert_eq!(w.offered_to(id).as_deref(), Some("wrapping"));
    let why = w.explain(id);
    assert_eq!(why.len(), 1);
    assert_eq!(why[0].chosen.as_deref(), Some("wrapping"));
}

#[test]
fn explain_keeps_the_offers_made_with_who_was_not_selected_and_who_turned_it_down() {
    let mut w = one_view(vec![
        agent("p", &[], 1),
        agent("q", &[], 1),
        agent("r", &[], 1),
    ]);
    for (t, name) in ["p", "q", "r"].into_iter().enumerate() {
        w.ready(name);
        w.advance_to(t as i64 + 1);
    }
    let id = w.submit(1);
    assert_eq!(w.reject(id), "p");
    assert_eq!(w.offered_to(id).as_deref(), Some("q"));
    let why = w.explain(id);
    assert_eq!(why.len(), 2, "the two offers, the newest last");
    assert_eq!(why[0].chosen.as_deref(), Some("p"));
    assert_eq!(reason_of(&why[0], "q").0, Pass::NotSelected);
    assert_eq!(reason_of(&why[0], "r").0, Pass::NotSelected);
    assert_eq!(why[1].chosen.as_deref(), Some("q"));
    assert_eq!(reason_of(&why[1], "p").0, Pass::RejectedRecently);
    assert_eq!(reason_of(&why[1], "r").0, Pass::NotSelected);
}

#[test]
fn a_dry_run_changes_nothing() {
    let mut w = one_view(vec![agent("a", &[], 1), agent("b", &[], 1)]);
    w.ready("a");
    w.advance_to(1);
    w.ready("b");
    let first = w.submit(1);
    assert_eq!(w.offered_to(first).as_deref(), Some("a"));
    w.drain();
    let probe = Submit {
        external_id: Some("probe".into()),
        submitted_by: "gateway".into(),
        process: PROCESS.into(),
        queue: Some("inbound".into()),
        media_type: "email".into(),
        kind: "inbound".into(),
        subtype: None,
        priority: 1,
        properties: Properties::new(),
        agent: None,
    };
    let before = (
        w.engine.agent_views(),
        w.queued_in("inbound"),
        w.engine.poll_timeout(),
        w.engine.live_count(),
        w.explain(first),
    );
    let decisions = w.engine.dry_run(probe.clone(), w.now).unwrap();
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].chosen.as_deref(), Some("b"));
    assert_eq!(reason_of(&decisions[0], "a").0, Pass::NoCapacity);
    assert!(w.engine.take_changes().is_empty());
    let after = (
        w.engine.agent_views(),
        w.queued_in("inbound"),
        w.engine.poll_timeout(),
        w.engine.live_count(),
        w.explain(first),
    );
    assert_eq!(after, before);
    // The submit it stood for goes where it said, as if it never ran.
    let id = w.apply(Command::Submit(probe)).unwrap();
    assert!(id.created, "the external id was not taken by the dry run");
    assert_eq!(w.offered_to(id.interaction.id).as_deref(), Some("b"));
    let unknown = Submit {
        queue: Some("nowhere".into()),
        ..id_submit()
    };
    assert_eq!(
        w.engine.dry_run(unknown, w.now),
        Err(EngineError::UnknownQueue {
            process: PROCESS.into(),
            queue: "nowhere".into()
        })
    );
}

fn id_submit() -> Submit {
    Submit {
        external_id: None,
        submitted_by: "gateway".into(),
        process: PROCESS.into(),
        queue: Some("inbound".into()),
        media_type: "email".into(),
        kind: "inbound".into(),
        subtype: None,
        priority: 1,
        properties: Properties::new(),
        agent: None,
    }
}

#[test]
fn poll_timeout_names_the_earliest_timer_and_nothing_happens_before_it() {
    let views = vec![routed(
        "inbound",
        strategy(
            vec![step("true", Select::LongestIdle, 60)],
            Exhausted::PlaceInQueue("overflow".into()),
        ),
        None,
    )];
    let mut w = World::new(config(views, vec![agent("a", &[], 1)], timing()));
    assert_eq!(w.engine.poll_timeout(), None);
    let id = w.submit(1);
    assert_eq!(w.engine.poll_timeout(), Some(at(60)), "the step's end");
    w.drain();
    w.advance_to(10);
    assert!(w.drain().is_empty());
    w.ready("a");
    assert_eq!(w.offered_to(id).as_deref(), Some("a"));
    assert_eq!(
        w.engine.poll_timeout(),
        Some(at(40)),
        "the offer's delivery timeout comes first"
    );
    w.drain();
    w.advance_to(39);
    assert!(w.drain().is_empty(), "nothing is due before it");
    assert_eq!(w.offered_to(id).as_deref(), Some("a"));
    w.advance_to(40);
    assert!(!events_of(&w.drain(), EventKind::OfferTimedOut).is_empty());
    assert_eq!(w.offered_to(id).as_deref(), Some("a"), "offered again");
    assert_eq!(w.engine.poll_timeout(), Some(at(60)), "the step ends first");
}

#[test]
fn restore_after_a_crash_requeues_offers_keeps_what_agents_handle_and_waits_for_desktops() {
    let mut w = one_view(vec![
        agent("a", &[], 1),
        agent("b", &[], 1),
        agent("c", &[], 1),
    ]);
    w.ready("a");
    let offered = w.submit(1);
    assert_eq!(w.offered_to(offered).as_deref(), Some("a"));
    w.advance_to(1);
    w.ready("b");
    let handled = w.submit(1);
    assert_eq!(w.accept(handled), "b");
    w.ready("c");
    w.set_ready("c", false);
    w.advance_to(2);
    let queued = w.submit(1);
    w.advance_to(50);
    // What the store holds at the crash: the rows last written, and the
    // agents' records as last written.
    let mut records: BTreeMap<String, AgentRecord> = BTreeMap::new();
    for record in w.drain().agents {
        records.insert(record.name.clone(), record);
    }
    for (name, record) in &records {
        let agent = w.engine.router().agent(name).unwrap();
        assert_eq!(&AgentRecord::of(agent), record, "written as it is");
    }
    let stored: Vec<Interaction> = [offered, handled, queued]
        .iter()
        .map(|id| w.rows[id].clone())
        .collect();

    let mut fresh = World::new((*w.config).clone());
    fresh.now = at(50);
    fresh.rows = w.rows.clone();
    fresh
        .engine
        .restore(stored.clone(), records.into_values(), fresh.now);
    fresh.settle();
    let w = &mut fresh;

    let back = w.get(offered).clone();
    assert_eq!(
        (back.state, back.agent.as_deref()),
        (State::Queued, None),
        "the offer died with the crash"
    );
    assert_eq!(back.submitted_at, at(0));
    assert_eq!(back.version, stored[0].version + 1);
    assert_eq!(w.queued_in("inbound"), vec![offered, queued], "by age");
    assert_eq!(w.handled_by(handled).as_deref(), Some("b"));
    let b = w.view("b");
    assert_eq!((b.load, b.holding.clone()), (1, vec![handled]));
    for name in ["a", "b"] {
        let view = w.view(name);
        assert!(view.logged_in && !view.connected, "{name}: {view:?}");
        assert!(view.media["email"].ready, "{name} is ready as it was");
    }
    let c = w.view("c");
    assert!(c.logged_in && !c.media["email"].ready);
    assert_eq!(c.media["email"].reason.as_deref(), Some("break"));
    let changes = w.drain();
    let placed = events_of(&changes, EventKind::PlacedInQueue);
    assert_eq!(placed.len(), 1);
    assert_eq!(placed[0].data.to_value()["reason"], "recovery");
    assert!(
        events_of(&changes, EventKind::Offered).is_empty(),
        "no desktop"
    );
    assert_eq!(w.engine.poll_timeout(), Some(at(80)), "the desktops' grace");

    // a comes back within its grace; b does not.
    w.advance_to(51);
    w.connect("a", true);
    assert_eq!(w.offered_to(offered).as_deref(), Some("a"), "oldest first");
    w.drain();
    w.advance_to(80);
    let b = w.view("b");
    assert!(!b.media["email"].ready);
    assert_eq!(b.media["email"].reason.as_deref(), Some("disconnected"));
    let changes = w.drain();
    let events: Vec<&Event> = events_of(&changes, EventKind::AgentNotReady)
        .into_iter()
        .filter(|e| e.agent.as_deref() == Some("b"))
        .collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data.to_value()["reason"], "disconnected");
    assert!(w.view("a").media["email"].ready);
    // What b handles counts against it once it is back.
    w.connect("b", true);
    w.set_ready("b", true);
    assert_eq!(w.offered_to(queued), None);
    assert_eq!(
        reason_of(w.explain(queued).last().unwrap(), "b").0,
        Pass::NoCapacity
    );
    w.stop(handled);
    assert_eq!(w.offered_to(queued).as_deref(), Some("b"));
}

// ---- Why, after the fact ----

#[test]
fn why_a_stopped_interaction_went_to_its_agent_is_told_while_it_is_kept() {
    let views = vec![routed("inbound", any_agent(Select::LongestIdle, 60), None)];
    let agents = vec![agent("a", &[], 1), agent("b", &[], 1)];
    let mut w = World::new(config(views, agents, timing()));
    w.ready("a");
    w.ready("b");
    w.advance_to(1);
    let id = w.submit(1);
    assert_eq!(w.reject(id), "a");
    assert_eq!(w.accept(id), "b");
    assert_eq!(w.explain(id).len(), 2, "offered to a, then to b");
    w.stop(id);
    // Stopped, it keeps the decision that sent it where it went.
    let why = w.explain(id);
    assert_eq!(why.len(), 1, "{why:?}");
    assert_eq!(why[0].chosen.as_deref(), Some("b"), "{why:?}");
    assert_eq!(why[0].step, 1, "{why:?}");

    // Once the engine lets the stopped interaction go, its decisions go
    // with it; the owner is told when, with nothing else to wake it.
    assert_eq!(w.engine.poll_timeout(), Some(w.now + KEEP_STOPPED));
    w.advance_to(1 + KEEP_STOPPED.num_seconds() + 1);
    assert!(w.engine.get(id).is_none());
    assert!(w.engine.router.explain(&w.rows[&id], w.now).is_empty());
}

// ---- A new configuration with other agents ----

/// a, b and c ready, c's desktop gone; then a configuration with
/// `change` made to its agents. c's grace still runs out.
fn grace_across(agents: &[&str], change: impl FnOnce(&mut RoutingConfig)) {
    let before = config(
        vec![routed(
            "inbound",
            any_agent(Select::LongestIdle, 1_000),
            None,
        )],
        agents.iter().map(|name| agent(name, &[], 1)).collect(),
        timing(),
    );
    let mut after = before.clone();
    change(&mut after);
    let mut w = World::new(before);
    for name in agents {
        w.ready(name);
    }
    w.connect("c", false);
    w.advance_to(1);
    w.engine
        .set_served(served(&after), Arc::new(after.clone()), [], w.now);
    w.settle();
    w.advance_to(10_000);
    let c = w.view("c");
    assert!(!c.media["email"].ready, "{c:?}");
    assert_eq!(c.media["email"].reason.as_deref(), Some("disconnected"));
}

#[test]
fn a_desktops_grace_runs_out_across_a_configuration_without_an_agent_before_it() {
    grace_across(&["a", "b", "c"], |config| {
        config.agents.remove("a");
    });
}

#[test]
fn a_desktops_grace_runs_out_across_a_configuration_with_a_new_agent_before_it() {
    grace_across(&["a", "c"], |config| {
        config.agents.insert("b".into(), agent("b", &[], 1));
    });
}
