use super::*;
use chrono::TimeZone;
use serde_json::json;

fn served() -> Served {
    let process = |queues: &[&str]| ServedProcess {
        queues: queues.iter().map(|q| q.to_string()).collect(),
        workbins: Default::default(),
    };
    Served {
        processes: [
            ("sales-email".to_owned(), process(&["inbound", "overflow"])),
            ("sales-chat".to_owned(), process(&["inbound"])),
        ]
        .into(),
        media_types: ["email".to_owned(), "chat".to_owned()].into(),
        agents: ["anna".to_owned()].into(),
    }
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

struct Ids(u128);
impl Ids {
    fn next(&mut self) -> Uuid {
        self.0 += 1;
        Uuid::from_u128(self.0)
    }
}

fn submit(process: &str, queue: &str, priority: i32, external_id: Option<&str>) -> Command {
    Command::Submit(Submit {
        external_id: external_id.map(str::to_owned),
        submitted_by: "gateway".into(),
        process: process.into(),
        queue: Some(queue.into()),
        media_type: "email".into(),
        kind: "inbound".into(),
        subtype: None,
        priority,
        properties: object(json!({"segment": "gold"})),
        agent: None,
    })
}

fn object(value: serde_json::Value) -> Properties {
    value.as_object().cloned().unwrap()
}

fn stop(id: Uuid, reason: &str) -> Command {
    Command::Stop {
        id,
        reason: reason.into(),
    }
}

fn setup() -> (Engine, Ids) {
    (Engine::new(served()), Ids(0))
}

fn apply(
    engine: &mut Engine,
    ids: &mut Ids,
    command: Command,
    t: i64,
) -> Result<Applied, EngineError> {
    engine.apply(command, at(t), || ids.next())
}

/// Applies `command`, which must be taken: the interaction after it.
fn applied(engine: &mut Engine, ids: &mut Ids, command: Command, t: i64) -> Interaction {
    apply(engine, ids, command, t).unwrap().interaction
}

/// A gateway's submit to `queue` of sales-email at `t`, taken.
fn queued(engine: &mut Engine, ids: &mut Ids, queue: &str, priority: i32, t: i64) -> Interaction {
    applied(engine, ids, submit("sales-email", queue, priority, None), t)
}

#[test]
fn gateway_submit_queues_and_journals() {
    let (mut engine, mut ids) = setup();
    let applied = apply(
        &mut engine,
        &mut ids,
        submit("sales-email", "inbound", 3, None),
        0,
    )
    .unwrap();
    assert!(applied.created);
    assert_eq!(applied.interaction.state, State::Queued);
    assert_eq!(applied.interaction.version, 1);
    let changes = engine.take_changes();
    assert_eq!(changes.events.len(), 1);
    assert_eq!(changes.events[0].kind, EventKind::Submitted);
    assert_eq!(changes.rows, vec![applied.interaction.clone()]);
    let snap = engine
        .queue_snapshot("sales-email", "inbound", 10, at(30))
        .unwrap();
    assert_eq!(snap.depth, 1);
    assert_eq!(snap.oldest_age_secs, 30);
}

#[test]
fn agent_submit_starts_in_handling_out_of_any_queue() {
    let (mut engine, mut ids) = setup();
    let mut cmd = submit("sales-email", "inbound", 0, None);
    if let Command::Submit(s) = &mut cmd {
        s.agent = Some("anna".into());
        s.queue = None;
    }
    let applied = apply(&mut engine, &mut ids, cmd, 0).unwrap();
    assert_eq!(applied.interaction.state, State::Handling);
    assert_eq!(applied.interaction.agent.as_deref(), Some("anna"));
    assert_eq!(
        engine
            .queue_snapshot("sales-email", "inbound", 10, at(0))
            .unwrap()
            .depth,
        0
    );
}

#[test]
fn idempotent_submit_returns_the_original() {
    let (mut engine, mut ids) = setup();
    let first = apply(
        &mut engine,
        &mut ids,
        submit("sales-email", "inbound", 0, Some("m-1")),
        0,
    )
    .unwrap();
    engine.take_changes();
    let again = apply(
        &mut engine,
        &mut ids,
        submit("sales-email", "inbound", 9, Some("m-1")),
        1,
    )
    .unwrap();
    assert!(!again.created);
    assert!(engine.take_changes().is_empty());
    assert_eq!(again.interaction, first.interaction);
    assert_eq!(engine.live_count(), 1);
    // Still the original after it was stopped, while it is remembered.
    let id = first.interaction.id;
    apply(&mut engine, &mut ids, stop(id, "done"), 2).unwrap();
    let late = apply(
        &mut engine,
        &mut ids,
        submit("sales-email", "inbound", 0, Some("m-1")),
        3,
    )
    .unwrap();
    assert_eq!(late.interaction.id, id);
    assert_eq!(late.interaction.state, State::Stopped);
}

#[test]
fn external_ids_are_per_submitter() {
    let (mut engine, mut ids) = setup();
    apply(
        &mut engine,
        &mut ids,
        submit("sales-email", "inbound", 0, Some("m-1")),
        0,
    )
    .unwrap();
    let mut other = submit("sales-email", "inbound", 0, Some("m-1"));
    if let Command::Submit(s) = &mut other {
        s.submitted_by = "other-gateway".into();
    }
    assert!(apply(&mut engine, &mut ids, other, 1).unwrap().created);
    assert_eq!(engine.live_count(), 2);
}

#[test]
fn refusals_change_nothing() {
    let (mut engine, mut ids) = setup();
    assert_eq!(
        apply(
            &mut engine,
            &mut ids,
            submit("support-email", "inbound", 0, None),
            0
        ),
        Err(EngineError::OutOfScope {
            process: "support-email".into()
        })
    );
    assert_eq!(
        apply(
            &mut engine,
            &mut ids,
            submit("sales-chat", "overflow", 0, None),
            0
        ),
        Err(EngineError::UnknownQueue {
            process: "sales-chat".into(),
            queue: "overflow".into()
        })
    );
    let mut bad_media = submit("sales-email", "inbound", 0, None);
    if let Command::Submit(s) = &mut bad_media {
        s.media_type = "fax".into();
    }
    assert_eq!(
        apply(&mut engine, &mut ids, bad_media, 0),
        Err(EngineError::UnknownMediaType("fax".into()))
    );
    assert_eq!(engine.live_count(), 0);
    assert_eq!(ids.0, 0, "no id was drawn for a refused submit");
}

#[test]
fn change_properties_merges_and_deletes() {
    let (mut engine, mut ids) = setup();
    let id = queued(&mut engine, &mut ids, "inbound", 0, 0).id;
    let patch = object(json!({"segment": null, "lang": "fr"}));
    let applied = apply(
        &mut engine,
        &mut ids,
        Command::ChangeProperties { id, patch },
        1,
    )
    .unwrap();
    assert_eq!(
        serde_json::Value::Object(applied.interaction.properties),
        json!({"lang": "fr"})
    );
    assert_eq!(applied.interaction.version, 2);
    let events = engine.take_changes().events;
    assert_eq!(events.last().unwrap().kind, EventKind::PropertiesChanged);
}

#[test]
fn place_in_queue_keeps_original_age_and_order() {
    let (mut engine, mut ids) = setup();
    let old = queued(&mut engine, &mut ids, "inbound", 0, 0).id;
    let young = queued(&mut engine, &mut ids, "overflow", 0, 100).id;
    let moved = apply(
        &mut engine,
        &mut ids,
        Command::PlaceInQueue {
            id: old,
            process: None,
            queue: "overflow".into(),
        },
        200,
    )
    .unwrap();
    assert_eq!(moved.interaction.queue.as_deref(), Some("overflow"));
    assert_eq!(moved.interaction.submitted_at, at(0));
    let snap = engine
        .queue_snapshot("sales-email", "overflow", 10, at(300))
        .unwrap();
    let order: Vec<_> = snap.interactions.iter().map(|i| i.id).collect();
    assert_eq!(
        order,
        vec![old, young],
        "the moved one keeps its place by age"
    );
    assert_eq!(snap.oldest_age_secs, 300);
    assert_eq!(
        engine
            .queue_snapshot("sales-email", "inbound", 10, at(300))
            .unwrap()
            .depth,
        0
    );
}

#[test]
fn place_in_queue_across_processes_within_scope_only() {
    let (mut engine, mut ids) = setup();
    let id = queued(&mut engine, &mut ids, "inbound", 0, 0).id;
    let err = apply(
        &mut engine,
        &mut ids,
        Command::PlaceInQueue {
            id,
            process: Some("support-chat".into()),
            queue: "inbound".into(),
        },
        1,
    );
    assert_eq!(
        err,
        Err(EngineError::OutOfScope {
            process: "support-chat".into()
        })
    );
    let moved = apply(
        &mut engine,
        &mut ids,
        Command::PlaceInQueue {
            id,
            process: Some("sales-chat".into()),
            queue: "inbound".into(),
        },
        1,
    )
    .unwrap();
    assert_eq!(moved.interaction.process, "sales-chat");
}

#[test]
fn stopped_refuses_everything_with_its_state() {
    let (mut engine, mut ids) = setup();
    let id = queued(&mut engine, &mut ids, "inbound", 0, 0).id;
    let stopped = apply(&mut engine, &mut ids, stop(id, "answered"), 5).unwrap();
    assert_eq!(stopped.interaction.stop_reason.as_deref(), Some("answered"));
    assert_eq!(
        engine
            .queue_snapshot("sales-email", "inbound", 10, at(5))
            .unwrap()
            .depth,
        0
    );
    for command in [
        stop(id, "again"),
        Command::ChangeProperties {
            id,
            patch: Properties::new(),
        },
        Command::PlaceInQueue {
            id,
            process: None,
            queue: "inbound".into(),
        },
    ] {
        match apply(&mut engine, &mut ids, command, 6) {
            Err(EngineError::Illegal {
                state: State::Stopped,
                ..
            }) => {}
            other => panic!("expected illegal on stopped, got {other:?}"),
        }
    }
}

#[test]
fn stopped_interactions_are_forgotten_after_a_while() {
    let (mut engine, mut ids) = setup();
    let id = applied(
        &mut engine,
        &mut ids,
        submit("sales-email", "inbound", 0, Some("x")),
        0,
    )
    .id;
    apply(&mut engine, &mut ids, stop(id, "r"), 1).unwrap();
    let later = 1 + KEEP_STOPPED.num_seconds() + 1;
    assert_eq!(
        apply(&mut engine, &mut ids, stop(id, "r"), later),
        Err(EngineError::NotLive(id))
    );
    assert!(engine.get(id).is_none());
}

#[test]
fn restore_requeues_pending_offers() {
    let (mut engine, mut ids) = setup();
    let id = queued(&mut engine, &mut ids, "inbound", 0, 0);
    let mut offered = id.clone();
    offered.state = State::Offered;
    offered.agent = Some("anna".into());
    let mut fresh = Engine::new(served());
    fresh.restore([offered], [], at(50));
    let changed = fresh.take_changes().rows;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].state, State::Queued);
    assert_eq!(changed[0].agent, None);
    let snap = fresh
        .queue_snapshot("sales-email", "inbound", 10, at(60))
        .unwrap();
    assert_eq!(snap.depth, 1);
    assert_eq!(snap.oldest_age_secs, 60, "keeps its original age");
}

#[test]
fn snapshot_orders_by_priority_then_age_and_limits() {
    let (mut engine, mut ids) = setup();
    let low = queued(&mut engine, &mut ids, "inbound", 1, 0).id;
    let high_late = queued(&mut engine, &mut ids, "inbound", 9, 10).id;
    let high_early = queued(&mut engine, &mut ids, "inbound", 9, 5).id;
    let snap = engine
        .queue_snapshot("sales-email", "inbound", 2, at(20))
        .unwrap();
    assert_eq!(snap.depth, 3);
    let order: Vec<_> = snap.interactions.iter().map(|i| i.id).collect();
    assert_eq!(order, vec![high_early, high_late]);
    let _ = low;
}

#[test]
fn scope_changes_apply_live_and_come_back_where_they_were() {
    let (mut engine, mut ids) = setup();
    let chat = applied(
        &mut engine,
        &mut ids,
        submit("sales-chat", "inbound", 0, Some("c-1")),
        0,
    );
    apply(
        &mut engine,
        &mut ids,
        submit("sales-email", "inbound", 0, None),
        1,
    )
    .unwrap();
    let mut narrower = served();
    narrower.processes.remove("sales-chat");
    let (left, joined) = engine.set_served(narrower, Default::default(), [], at(1));
    assert_eq!((left, joined), (vec!["sales-chat".to_owned()], vec![]));
    assert_eq!(engine.live_count(), 1);
    assert_eq!(
        apply(&mut engine, &mut ids, stop(chat.id, "x"), 2),
        Err(EngineError::NotLive(chat.id))
    );
    assert_eq!(
        engine.queue_snapshot("sales-chat", "inbound", 10, at(2)),
        Err(EngineError::OutOfScope {
            process: "sales-chat".into()
        })
    );
    // Back in scope, with its interactions as the store kept them.
    let (left, joined) = engine.set_served(served(), Default::default(), [chat.clone()], at(2));
    assert_eq!((left, joined), (vec![], vec!["sales-chat".to_owned()]));
    let snap = engine
        .queue_snapshot("sales-chat", "inbound", 10, at(3))
        .unwrap();
    assert_eq!(snap.interactions, vec![chat.clone()]);
    let again = apply(
        &mut engine,
        &mut ids,
        submit("sales-chat", "inbound", 0, Some("c-1")),
        4,
    )
    .unwrap();
    assert_eq!(
        again.interaction.id, chat.id,
        "idempotency survives the round trip"
    );
}

#[test]
fn properties_cannot_grow_past_the_bound_by_patches() {
    let (mut engine, mut ids) = setup();
    let id = queued(&mut engine, &mut ids, "inbound", 0, 0).id;
    let chunk = "x".repeat(MAX_PROPERTIES_BYTES / 3);
    for key in ["a", "b"] {
        let patch = object(json!({ key: chunk }));
        apply(
            &mut engine,
            &mut ids,
            Command::ChangeProperties { id, patch },
            1,
        )
        .unwrap();
    }
    let patch = object(json!({ "c": chunk, "d": chunk }));
    match apply(
        &mut engine,
        &mut ids,
        Command::ChangeProperties { id, patch },
        2,
    ) {
        Err(EngineError::PropertiesTooLarge { size }) => assert!(size > MAX_PROPERTIES_BYTES),
        other => panic!("expected too large, got {other:?}"),
    }
    assert_eq!(
        engine.get(id).unwrap().version,
        3,
        "the refused patch changed nothing"
    );
}

#[test]
fn resync_takes_the_store_s_word() {
    let (mut engine, mut ids) = setup();
    let phantom = applied(
        &mut engine,
        &mut ids,
        submit("sales-email", "inbound", 0, Some("p")),
        0,
    );
    engine.resync(phantom.id, None, at(1));
    assert!(engine.get(phantom.id).is_none());
    assert_eq!(
        engine
            .queue_snapshot("sales-email", "inbound", 10, at(1))
            .unwrap()
            .depth,
        0
    );
    let again = apply(
        &mut engine,
        &mut ids,
        submit("sales-email", "inbound", 0, Some("p")),
        2,
    )
    .unwrap();
    assert!(again.created, "the external id is free again");

    let id = again.interaction.id;
    let stored = again.interaction.clone();
    let patch = object(json!({"k": 1}));
    apply(
        &mut engine,
        &mut ids,
        Command::ChangeProperties { id, patch },
        3,
    )
    .unwrap();
    engine.resync(id, Some(stored.clone()), at(3));
    assert_eq!(engine.get(id), Some(&stored));
}

#[test]
fn an_agent_acts_only_on_its_own() {
    let (mut engine, mut ids) = setup();
    let queued = queued(&mut engine, &mut ids, "inbound", 0, 0).id;
    let mut mine = submit("sales-email", "inbound", 0, None);
    if let Command::Submit(s) = &mut mine {
        s.agent = Some("anna".into());
    }
    let mine = apply(&mut engine, &mut ids, mine, 1)
        .unwrap()
        .interaction
        .id;
    let stop = |id| stop(id, "done");
    assert_eq!(
        engine.apply_as_agent("anna", stop(queued), at(2), || ids.next()),
        Err(EngineError::NotYours(queued))
    );
    assert_eq!(
        engine.apply_as_agent("arno", stop(mine), at(2), || ids.next()),
        Err(EngineError::NotYours(mine))
    );
    assert!(
        engine
            .apply_as_agent("anna", stop(mine), at(2), || ids.next())
            .is_ok()
    );
}

mod routed {
    use super::*;
    use crate::engine::routing::{
        AgentProfile, Capacity, Dispatch, Exhausted, RoutingConfig, Select, Step, Strategy, View,
    };

    fn routing() -> Arc<RoutingConfig> {
        let strategy = Strategy {
            name: "any".into(),
            steps: vec![Step::new(
                crate::expr::parse("true").unwrap(),
                Select::LongestIdle,
                Duration::minutes(10),
            )],
            on_exhausted: Exhausted::Stop("unanswered".into()),
        };
        let view = View {
            process: "sales-email".into(),
            queue: "inbound".into(),
            name: "all".into(),
            condition: crate::expr::parse("true").unwrap(),
            order: Vec::new(),
            aging: None,
            dispatch: Dispatch::Strategy(Arc::new(strategy)),
        };
        let anna = AgentProfile {
            name: "anna".into(),
            capacity: Capacity {
                media: [("email".to_owned(), 1)].into(),
                total: None,
            },
            ..AgentProfile::default()
        };
        Arc::new(RoutingConfig {
            views: vec![Arc::new(view)],
            agents: [("anna".to_owned(), anna)].into(),
            timing: Default::default(),
            group_workbins: Default::default(),
            service_levels: Default::default(),
        })
    }

    #[test]
    fn a_change_of_properties_keeps_a_pending_offer() {
        let mut engine = Engine::with_routing(served(), routing(), at(0));
        let mut ids = Ids(0);
        engine.login("anna", &["email".into()], at(0)).unwrap();
        engine.set_ready("anna", None, true, None, at(0)).unwrap();
        engine.set_connected("anna", true, at(0));
        let id = queued(&mut engine, &mut ids, "inbound", 0, 1).id;
        assert_eq!(engine.get(id).unwrap().state, State::Offered);
        let patch = object(json!({"lang": "fr"}));
        apply(
            &mut engine,
            &mut ids,
            Command::ChangeProperties { id, patch },
            2,
        )
        .unwrap();
        assert_eq!(engine.get(id).unwrap().state, State::Offered);
        assert_eq!(engine.router().offered_to(id), Some("anna"));
        let applied = engine
            .apply_as_agent("anna", Command::Accept { id }, at(3), || ids.next())
            .unwrap();
        assert_eq!(applied.interaction.state, State::Handling);
    }

    #[test]
    fn agents_ready_are_counted_per_media_every_known_media_listed() {
        let mut engine = Engine::with_routing(served(), routing(), at(0));
        let zero = [("chat".to_owned(), 0), ("email".to_owned(), 0)].into();
        assert_eq!(engine.ready_by_media(), zero);
        engine.login("anna", &["email".into()], at(0)).unwrap();
        assert_eq!(engine.ready_by_media(), zero, "logged in, not ready");
        engine.set_ready("anna", None, true, None, at(0)).unwrap();
        assert_eq!(
            engine.ready_by_media(),
            [("chat".to_owned(), 0), ("email".to_owned(), 1)].into()
        );
        engine.logout("anna", false, at(1)).unwrap();
        assert_eq!(engine.ready_by_media(), zero, "logged out");
    }
}
