//! The router driven by hand-set time: fairness, capacity, widening steps,
//! offers that end, aging, reserved agents, and the reasons it gives.

use super::*;
use crate::engine::{Properties, State};
use crate::expr::parse;
use chrono::{Duration, TimeZone};
use proptest::prelude::{ProptestConfig, prop_oneof, proptest};
use proptest::strategy::Strategy as _;
use serde_json::json;
use std::sync::Arc;

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

fn step(target: &str, select: Select, secs: i64) -> Step {
    Step::new(parse(target).unwrap(), select, Duration::seconds(secs))
}

fn view(queue: &str, strategy: Strategy, aging: Option<Aging>) -> Arc<View> {
    Arc::new(View {
        process: "sales-email".into(),
        queue: queue.into(),
        name: "all".into(),
        condition: parse("true").unwrap(),
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
        aging,
        dispatch: Dispatch::Strategy(Arc::new(strategy)),
    })
}

fn strategy(steps: Vec<Step>, on_exhausted: Exhausted) -> Strategy {
    Strategy {
        name: "s".into(),
        steps,
        on_exhausted,
    }
}

fn agent(name: &str, skills: &[(&str, u8)], email: u32) -> AgentProfile {
    AgentProfile {
        name: name.into(),
        skills: skills.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        groups: Default::default(),
        capacity: Capacity {
            media: [("email".to_owned(), email), ("chat".to_owned(), 2)].into(),
            total: None,
        },
    }
}

/// The router with a live set and a clock, playing the engine's part.
struct Sim {
    router: Router,
    live: Live,
    now: DateTime<Utc>,
    next_id: u128,
    /// Every offer made, in order.
    offers: Vec<NewOffer>,
    handled: BTreeMap<String, usize>,
}

impl Sim {
    fn new(views: Vec<Arc<View>>, agents: Vec<AgentProfile>) -> Sim {
        let config = RoutingConfig {
            views,
            agents: agents.into_iter().map(|a| (a.name.clone(), a)).collect(),
            timing: Timing::default(),
            group_workbins: Default::default(),
            service_levels: Default::default(),
        };
        Sim {
            router: Router::new(config, at(0)),
            live: Live::new(),
            now: at(0),
            next_id: 0,
            offers: Vec::new(),
            handled: BTreeMap::new(),
        }
    }

    fn ready(&mut self, name: &str) {
        self.router
            .login(name, &["email".to_owned(), "chat".to_owned()], self.now)
            .unwrap();
        self.router.set_connected(name, true, self.now);
        self.router
            .set_ready(name, None, true, None, self.now)
            .unwrap();
        self.drain();
    }

    fn submit_in(&mut self, queue: &str, priority: i32, properties: Properties) -> Uuid {
        self.next_id += 1;
        let id = Uuid::from_u128(self.next_id);
        let interaction = Interaction {
            id,
            external_id: None,
            submitted_by: "gateway".into(),
            process: "sales-email".into(),
            queue: Some(queue.into()),
            workbin: None,
            owner: None,
            state: State::Queued,
            media_type: "email".into(),
            kind: "inbound".into(),
            subtype: None,
            priority,
            properties,
            agent: None,
            submitted_at: self.now,
            placed_in_queue_at: Some(self.now),
            offered_at: None,
            assigned_at: None,
            stopped_at: None,
            stop_reason: None,
            version: 1,
        };
        self.router.queued(&interaction, self.now);
        self.live.insert(id, interaction);
        self.drain();
        id
    }

    fn submit(&mut self, priority: i32) -> Uuid {
        self.submit_in("inbound", priority, Properties::new())
    }

    /// Makes every offer the router decides on.
    fn drain(&mut self) -> Vec<NewOffer> {
        let mut made = Vec::new();
        while let Some(offer) = self.router.next_offer(&self.live, self.now) {
            let interaction = self.live.get_mut(&offer.id).unwrap();
            interaction.state = State::Offered;
            interaction.agent = Some(offer.agent.as_str().into());
            made.push(offer.clone());
            self.offers.push(offer);
        }
        made
    }

    fn offered_to(&self, id: Uuid) -> Option<String> {
        self.router.offered_to(id).map(str::to_owned)
    }

    fn accept(&mut self, id: Uuid) {
        let interaction = self.live.get_mut(&id).unwrap();
        interaction.state = State::Handling;
        let interaction = interaction.clone();
        self.router.accepted(&interaction);
        *self
            .handled
            .entry(interaction.agent.as_deref().unwrap().to_owned())
            .or_default() += 1;
        self.drain();
    }

    fn finish(&mut self, id: Uuid) {
        let interaction = self.live.remove(&id).unwrap();
        self.router.gone(id, self.now);
        self.router.forget(id);
        if interaction.state == State::Handling {
            self.router
                .release(interaction.agent.as_deref().unwrap(), "email", self.now);
        }
        self.drain();
    }

    fn reject(&mut self, id: Uuid) -> Option<String> {
        self.end_offer(id).paused
    }

    /// The offer of `id` is turned down or timed out.
    fn end_offer(&mut self, id: Uuid) -> OfferEnded {
        let interaction = self.live.get_mut(&id).unwrap();
        interaction.state = State::Queued;
        interaction.agent = None;
        let ended = self.router.offer_ended(id, &self.live, self.now);
        if let Some(action) = &ended.exhausted {
            self.carry_out(id, action);
        }
        self.drain();
        ended
    }

    /// What a strategy's end says, as the engine does it.
    fn carry_out(&mut self, id: Uuid, action: &Exhausted) {
        match action {
            Exhausted::Stop(_) => {
                self.live.remove(&id);
            }
            Exhausted::PlaceInQueue(queue) => {
                let interaction = self.live.get_mut(&id).unwrap();
                interaction.queue = Some(queue.as_str().into());
                let interaction = interaction.clone();
                self.router.queued(&interaction, self.now);
            }
        }
    }

    /// Moves the clock on by `secs` and plays out what the timers bring.
    fn advance(&mut self, secs: i64) -> Vec<Expired> {
        self.now += Duration::seconds(secs);
        let expired = self.router.expire(&self.live, self.now);
        for e in &expired {
            match e {
                Expired::OfferTimedOut { id, .. } => {
                    self.reject(*id);
                }
                Expired::Exhausted { id, action } => self.carry_out(*id, action),
                Expired::Disconnected { .. } => {}
            }
        }
        self.drain();
        expired
    }

    /// No agent holds more than its capacity, and no ready agent with room
    /// is eligible for an interaction that waits.
    fn check_invariants(&self) {
        for agent in self.router.agents() {
            for (media, load) in &agent.load {
                let max = agent
                    .profile
                    .capacity
                    .media
                    .get(media)
                    .copied()
                    .unwrap_or(0);
                assert!(
                    *load <= max,
                    "{} holds {load} {media}, more than {max}",
                    agent.name()
                );
            }
        }
        for (id, interaction) in self.live.iter() {
            if interaction.state != State::Queued {
                continue;
            }
            for decision in self.router.why_waiting(interaction, self.now) {
                if decision.chosen.is_some() {
                    panic!(
                        "{id} waits while {:?} is free for it: {decision:?}",
                        decision.chosen
                    );
                }
            }
        }
    }
}

impl Sim {
    /// One inbound view routed by `steps`, stopping when they run out.
    fn with_steps(steps: Vec<Step>, agents: Vec<AgentProfile>) -> Sim {
        Sim::new(
            vec![view(
                "inbound",
                strategy(steps, Exhausted::Stop("x".into())),
                None,
            )],
            agents,
        )
    }
}

fn any_agent(secs: i64) -> Strategy {
    strategy(
        vec![step("true", Select::LongestIdle, secs)],
        Exhausted::Stop("no agent".into()),
    )
}

#[test]
fn longest_idle_shares_a_thousand_interactions_evenly() {
    let agents: Vec<AgentProfile> = (0..10).map(|n| agent(&format!("a{n}"), &[], 1)).collect();
    let mut sim = Sim::new(vec![view("inbound", any_agent(100_000), None)], agents);
    for n in 0..10 {
        sim.ready(&format!("a{n}"));
    }
    let ids: Vec<Uuid> = (0..1000).map(|_| sim.submit(1)).collect();
    let mut done = 0;
    while done < ids.len() {
        sim.now += Duration::seconds(1);
        let offered: Vec<Uuid> = ids
            .iter()
            .copied()
            .filter(|id| sim.live.get(id).is_some_and(|i| i.state == State::Offered))
            .collect();
        for id in offered {
            sim.accept(id);
            sim.finish(id);
            done += 1;
        }
        sim.check_invariants();
    }
    let counts: Vec<usize> = sim.handled.values().copied().collect();
    assert_eq!(counts.len(), 10);
    let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
    assert!(max - min <= 1, "handled counts {counts:?}");
}

#[test]
fn a_three_step_strategy_widens_then_places_in_overflow() {
    let steps = vec![
        step("agent.skills.billing >= 8", Select::LongestIdle, 60),
        step("agent.skills.billing >= 5", Select::LongestIdle, 120),
        step("agent.skills.billing >= 1", Select::LeastBusy, 300),
    ];
    let strategy = strategy(steps, Exhausted::PlaceInQueue("overflow".into()));
    let agents = vec![
        agent("weak", &[("billing", 2)], 1),
        agent("good", &[("billing", 6)], 1),
    ];
    let overflow = view("overflow", any_agent(1_000), None);
    let mut sim = Sim::new(vec![view("inbound", strategy, None), overflow], agents);
    sim.ready("weak");
    sim.ready("good");
    let id = sim.submit(1);
    assert_eq!(sim.offered_to(id), None, "step 1 admits nobody here");
    let why = sim.router.explain(&sim.live[&id], sim.now);
    let good = why[0].passed.iter().find(|p| p.agent == "good").unwrap();
    assert_eq!((good.reason, good.step), (Pass::StepNotReached, Some(2)));
    let weak = why[0].passed.iter().find(|p| p.agent == "weak").unwrap();
    assert_eq!((weak.reason, weak.step), (Pass::StepNotReached, Some(3)));

    sim.advance(59);
    assert_eq!(sim.offered_to(id), None);
    sim.advance(1);
    assert_eq!(
        sim.offered_to(id).as_deref(),
        Some("good"),
        "step 2 after 60 s"
    );
    sim.reject(id);
    assert_eq!(
        sim.offered_to(id).as_deref(),
        Some("good"),
        "nobody else is eligible"
    );
    sim.reject(id);
    sim.router
        .set_ready("good", None, false, Some("break"), sim.now)
        .unwrap();
    sim.reject(id);
    assert_eq!(sim.offered_to(id), None);
    sim.advance(120);
    assert_eq!(
        sim.offered_to(id).as_deref(),
        Some("weak"),
        "step 3 after 60 + 120 s"
    );
    sim.reject(id);
    sim.router
        .set_ready("weak", None, false, Some("break"), sim.now)
        .unwrap();
    sim.reject(id);
    let expired = sim.advance(300);
    assert_eq!(
        expired,
        vec![Expired::Exhausted {
            id,
            action: Exhausted::PlaceInQueue("overflow".into())
        }]
    );
    assert_eq!(sim.live[&id].queue.as_deref(), Some("overflow"));
}

#[test]
fn an_exhausted_strategy_can_stop_the_interaction() {
    let mut sim = Sim::new(
        vec![view("inbound", any_agent(30), None)],
        vec![agent("a", &[], 1)],
    );
    let id = sim.submit(1);
    let expired = sim.advance(30);
    assert_eq!(
        expired,
        vec![Expired::Exhausted {
            id,
            action: Exhausted::Stop("no agent".into())
        }]
    );
}

#[test]
fn a_strategy_that_runs_out_during_an_offer_ends_when_the_offer_does() {
    let mut sim = Sim::new(
        vec![view("inbound", any_agent(60), None)],
        vec![agent("a", &[], 1), agent("b", &[], 1)],
    );
    sim.ready("a");
    let id = sim.submit(1);
    sim.advance(40);
    assert_eq!(
        sim.offered_to(id).as_deref(),
        Some("a"),
        "again after a timeout"
    );
    sim.advance(20);
    assert_eq!(
        sim.offered_to(id).as_deref(),
        Some("a"),
        "the step ran out during the offer"
    );
    sim.ready("b");
    let ended = sim.end_offer(id);
    assert_eq!(ended.exhausted, Some(Exhausted::Stop("no agent".into())));
    assert_eq!(
        sim.offered_to(id),
        None,
        "not offered to b by the spent step"
    );
    assert!(sim.drain().is_empty());
    assert!(!sim.live.contains_key(&id));
    assert!(
        sim.router.poll_timeout().is_none_or(|at| at > sim.now),
        "nothing left due for it"
    );
}

#[test]
fn a_rejected_offer_goes_to_the_next_candidate_and_misses_add_up() {
    let agents = vec![agent("a", &[], 1), agent("b", &[], 1)];
    let mut sim = Sim::new(vec![view("inbound", any_agent(10_000), None)], agents);
    sim.ready("a");
    sim.now += Duration::seconds(1);
    sim.ready("b");
    let first = sim.submit(1);
    assert_eq!(sim.offered_to(first).as_deref(), Some("a"), "idle longest");
    sim.reject(first);
    assert_eq!(
        sim.offered_to(first).as_deref(),
        Some("b"),
        "not a again while b is free"
    );
    // b lets it time out: back to a, who is free again.
    sim.advance(30);
    assert_eq!(sim.offered_to(first).as_deref(), Some("a"));
    sim.reject(first);
    sim.advance(30);
    // a: rejected, rejected; b: timed out, timed out; the third miss of a
    // sets a not ready.
    assert_eq!(sim.offered_to(first).as_deref(), Some("a"));
    assert_eq!(sim.reject(first).as_deref(), Some("a"));
    let a = sim.router.agent("a").unwrap();
    assert_eq!(a.media["email"].reason.as_deref(), Some("missed_offers"));
    assert!(!a.media["email"].ready);
}

#[test]
fn a_disconnected_desktop_gets_no_offer_and_is_set_not_ready_after_its_grace() {
    let mut sim = Sim::new(
        vec![view("inbound", any_agent(10_000), None)],
        vec![agent("a", &[], 1)],
    );
    sim.ready("a");
    sim.router.set_connected("a", false, sim.now);
    let id = sim.submit(1);
    assert_eq!(sim.offered_to(id), None);
    let why = sim.router.explain(&sim.live[&id], sim.now);
    assert_eq!(why[0].passed[0].reason, Pass::Disconnected);
    assert_eq!(sim.advance(29), vec![]);
    assert_eq!(
        sim.advance(1),
        vec![Expired::Disconnected { agent: "a".into() }]
    );
    sim.router.set_connected("a", true, sim.now);
    sim.drain();
    assert_eq!(sim.offered_to(id), None, "not ready until it says so");
    sim.router
        .set_ready("a", None, true, None, sim.now)
        .unwrap();
    sim.drain();
    assert_eq!(sim.offered_to(id).as_deref(), Some("a"));
}

#[test]
fn priority_aging_lifts_an_old_low_priority_interaction_above_new_urgent_ones() {
    // One point per 10 s: priority 1 after 100 s ranks with a new 11.
    let aging = Aging {
        points: 1,
        per: Duration::seconds(10),
    };
    let mut sim = Sim::new(
        vec![view("inbound", any_agent(100_000), Some(aging))],
        vec![agent("a", &[], 1)],
    );
    let old = sim.submit(1);
    sim.now += Duration::seconds(101);
    let urgent: Vec<Uuid> = (0..5).map(|_| sim.submit(11)).collect();
    sim.ready("a");
    assert_eq!(
        sim.offered_to(old).as_deref(),
        Some("a"),
        "waited past the bound"
    );
    for id in &urgent {
        assert_eq!(sim.offered_to(*id), None);
    }
    // Not yet past it: a newer 11 comes first.
    let mut sim = Sim::new(
        vec![view("inbound", any_agent(100_000), Some(aging))],
        vec![agent("a", &[], 1)],
    );
    let old = sim.submit(1);
    sim.now += Duration::seconds(99);
    let urgent = sim.submit(11);
    sim.ready("a");
    assert_eq!(sim.offered_to(urgent).as_deref(), Some("a"));
    assert_eq!(sim.offered_to(old), None);
}

#[test]
fn an_interaction_queued_again_without_leaving_first_starts_afresh() {
    let mut sim = Sim::with_steps(
        vec![
            step("agent.skills.billing >= 5", Select::LongestIdle, 60),
            step("true", Select::LongestIdle, 600),
        ],
        vec![agent("novice", &[], 1)],
    );
    let urgent = sim.submit(9);
    let other = sim.submit(1);
    // Both widen to the second step, open to all.
    sim.advance(60);
    // Placed back in its queue while the router still routes it (the
    // engine did not say it left): it waits from the first step again,
    // which wants billing, and nowhere else.
    sim.advance(10);
    let again = sim.live[&urgent].clone();
    sim.router.queued(&again, sim.now);
    sim.drain();
    let waits: Vec<usize> = sim
        .router
        .why_waiting(&again, sim.now)
        .iter()
        .map(|d| d.step)
        .collect();
    assert_eq!(waits, vec![1]);
    // A freed agent the second step admits takes the other one: no entry
    // left behind at that step ranks the urgent one before it.
    sim.ready("novice");
    assert_eq!(sim.offered_to(other).as_deref(), Some("novice"));
    assert_eq!(sim.offered_to(urgent), None);
    sim.check_invariants();
    sim.accept(other);
    // Its steps run from the new start (the second from 130 to 730); the
    // timer of the second step it had reached before (due at 660) is gone.
    sim.advance(60);
    let expired = sim.advance(560);
    assert!(
        !expired
            .iter()
            .any(|e| matches!(e, Expired::Exhausted { id, .. } if *id == urgent)),
        "ran out by a timer of its first start: {expired:?}"
    );
    let expired = sim.advance(40);
    assert!(
        expired
            .iter()
            .any(|e| matches!(e, Expired::Exhausted { id, .. } if *id == urgent)),
        "runs out at the end of its second step: {expired:?}"
    );
}

fn customer(id: &str) -> Properties {
    json!({ "customer_id": id }).as_object().cloned().unwrap()
}

#[test]
fn last_agent_waits_for_that_agent_then_falls_back() {
    let steps = vec![
        step("true", Select::LastAgent, 60),
        step("true", Select::LongestIdle, 1_000),
    ];
    let agents = vec![agent("a", &[], 1), agent("b", &[], 1)];
    let mut sim = Sim::with_steps(steps, agents);
    sim.ready("b");
    sim.now += Duration::seconds(1);
    sim.ready("a");
    // A new customer: no last agent, the step is skipped at once.
    let first = sim.submit_in("inbound", 1, customer("c-1"));
    assert_eq!(sim.offered_to(first).as_deref(), Some("b"));
    sim.accept(first);
    sim.finish(first);
    // b handled c-1 last: the next one waits for b, even with a free.
    sim.router
        .set_ready("b", None, false, Some("break"), sim.now)
        .unwrap();
    let second = sim.submit_in("inbound", 1, customer("c-1"));
    assert_eq!(sim.offered_to(second), None);
    let why = sim.router.explain(&sim.live[&second], sim.now);
    let a = why[0].passed.iter().find(|p| p.agent == "a").unwrap();
    assert_eq!(a.reason, Pass::ReservedForAnother);
    sim.router
        .set_ready("b", None, true, None, sim.now)
        .unwrap();
    sim.drain();
    assert_eq!(sim.offered_to(second).as_deref(), Some("b"), "b is back");
    sim.reject(second);
    sim.router
        .set_ready("b", None, false, Some("break"), sim.now)
        .unwrap();
    sim.reject(second);
    sim.advance(60);
    assert_eq!(
        sim.offered_to(second).as_deref(),
        Some("a"),
        "after the step's timeout"
    );
}

#[test]
fn a_preferred_agent_is_honoured_only_while_it_is_an_agent_here() {
    let steps = vec![
        step(config::PREFERRED_AGENT_TARGET, Select::LongestIdle, 60),
        step("true", Select::LongestIdle, 1_000),
    ];
    let agents = vec![agent("a", &[], 1), agent("b", &[], 1)];
    let mut sim = Sim::with_steps(steps, agents);
    sim.ready("a");
    sim.now += Duration::seconds(1);
    sim.ready("b");
    let wants_b = json!({ "preferred_agent": "b" })
        .as_object()
        .cloned()
        .unwrap();
    let id = sim.submit_in("inbound", 1, wants_b);
    assert_eq!(
        sim.offered_to(id).as_deref(),
        Some("b"),
        "although a idled longer"
    );
    let wants_nobody = json!({ "preferred_agent": "zed" })
        .as_object()
        .cloned()
        .unwrap();
    let other = sim.submit_in("inbound", 1, wants_nobody);
    assert_eq!(
        sim.offered_to(other).as_deref(),
        Some("a"),
        "skipped at once"
    );
}

#[test]
fn explain_names_each_agent_passed_over_with_its_reason() {
    let steps = vec![step(
        "agent.skills.billing >= 5",
        Select::LongestIdle,
        1_000,
    )];
    let agents = vec![
        agent("busy", &[("billing", 9)], 1),
        agent("novice", &[("billing", 1)], 1),
        agent("resting", &[("billing", 9)], 1),
        agent("away", &[("billing", 9)], 1),
    ];
    let mut sim = Sim::with_steps(steps, agents);
    for name in ["busy", "novice", "resting"] {
        sim.ready(name);
    }
    let held = sim.submit(1);
    assert_eq!(sim.offered_to(held).as_deref(), Some("busy"));
    sim.router
        .set_ready("resting", None, false, Some("break"), sim.now)
        .unwrap();
    let id = sim.submit(1);
    let why = sim.router.explain(&sim.live[&id], sim.now);
    assert_eq!(why.len(), 1);
    let reasons: BTreeMap<&str, Pass> = why[0]
        .passed
        .iter()
        .map(|p| (p.agent.as_str(), p.reason))
        .collect();
    assert_eq!(
        reasons,
        [
            ("away", Pass::LoggedOut),
            ("busy", Pass::NoCapacity),
            ("novice", Pass::NotEligible),
            ("resting", Pass::NotReady),
        ]
        .into()
    );
    assert_eq!(why[0].chosen, None);
    // What an offer was decided on is kept.
    let kept = sim.router.explain(&sim.live[&held], sim.now);
    assert_eq!(kept[0].chosen.as_deref(), Some("busy"));
    // A dry run changes nothing.
    let before = sim.offers.len();
    let probe = sim.live[&id].clone();
    let dry = sim.router.dry_run(&probe, sim.now);
    assert_eq!(dry[0].chosen, None);
    assert_eq!(sim.drain().len(), 0);
    assert_eq!(sim.offers.len(), before);
}

#[derive(Debug, Clone)]
enum Op {
    Ready(usize),
    NotReady(usize),
    Logout(usize),
    Submit(i32),
    Accept(usize),
    Reject(usize),
    Finish(usize),
    Wait(i64),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    prop_oneof![
        (0..4usize).prop_map(Op::Ready),
        (0..4usize).prop_map(Op::NotReady),
        (0..4usize).prop_map(Op::Logout),
        (0..5i32).prop_map(Op::Submit),
        (0..50usize).prop_map(Op::Accept),
        (0..50usize).prop_map(Op::Reject),
        (0..50usize).prop_map(Op::Finish),
        (1..120i64).prop_map(Op::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Capacity is never exceeded, and no ready agent with room stays idle
    /// while an interaction it is eligible for waits, after every step.
    #[test]
    fn capacity_holds_and_routing_is_work_conserving(ops in proptest::collection::vec(op(), 1..80)) {
        let steps = vec![
            step("agent.skills.billing >= 5", Select::LongestIdle, 60),
            step("true", Select::LeastBusy, 600),
        ];
        let agents = vec![
            agent("a0", &[("billing", 9)], 2),
            agent("a1", &[("billing", 1)], 1),
            agent("a2", &[("billing", 6)], 3),
            agent("a3", &[], 1),
        ];
        let mut sim = Sim::new(
            vec![view("inbound", strategy(steps, Exhausted::PlaceInQueue("overflow".into())), None),
                 view("overflow", any_agent(100_000), None)],
            agents,
        );
        let mut ids: Vec<Uuid> = Vec::new();
        for op in ops {
            match op {
                Op::Ready(n) => sim.ready(&format!("a{n}")),
                Op::NotReady(n) => {
                    let _ = sim.router.set_ready(&format!("a{n}"), None, false, Some("break"), sim.now);
                    sim.drain();
                }
                Op::Logout(n) => {
                    let name = format!("a{n}");
                    let holding = sim.live.values().any(|i| i.agent.as_deref() == Some(name.as_str()));
                    if !holding {
                        sim.router.logout(&name, sim.now).unwrap();
                        sim.drain();
                    }
                }
                Op::Submit(p) => ids.push(sim.submit(p)),
                Op::Accept(n) | Op::Reject(n) | Op::Finish(n) if ids.is_empty() => { let _ = n; }
                Op::Accept(n) => {
                    let id = ids[n % ids.len()];
                    if sim.live.get(&id).is_some_and(|i| i.state == State::Offered) {
                        sim.accept(id);
                    }
                }
                Op::Reject(n) => {
                    let id = ids[n % ids.len()];
                    if sim.live.get(&id).is_some_and(|i| i.state == State::Offered) {
                        sim.reject(id);
                    }
                }
                Op::Finish(n) => {
                    let id = ids[n % ids.len()];
                    if sim.live.contains_key(&id) {
                        sim.finish(id);
                    }
                }
                Op::Wait(secs) => { sim.advance(secs); }
            }
            sim.check_invariants();
        }
    }
}
