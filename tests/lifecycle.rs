//! The interaction lifecycle over HTTP: every transition this API offers,
//! legal and illegal, with its journal; idempotent submit; find, queue
//! snapshots and the scope.

mod common;

use common::{Solution, TestInstance, gateway, spawn_instance};
use serde_json::{Value, json};

const EMAIL: &str = "sales-email";
const CHAT: &str = "sales-chat";

async fn sales() -> TestInstance {
    spawn_instance(Solution::Sales).await
}

/// A gateway submission with extra fields.
fn submission(process: &str, queue: &str, extra: Value) -> Value {
    let mut body = gateway(process, queue);
    for (key, value) in extra.as_object().expect("extra fields").clone() {
        body[key] = value;
    }
    body
}

fn agent_submission(queue: Option<&str>) -> Value {
    let mut body = json!({
        "process": EMAIL,
        "media_type": "chat",
        "agent": "anna",
        "properties": { "topic": "callback" },
    });
    if let Some(queue) = queue {
        body["queue"] = json!(queue);
    }
    body
}

fn timestamp(value: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().expect("a timestamp"))
        .expect("an RFC 3339 timestamp")
}

/// What the caller was told is what a later read returns.
async fn assert_stored(sales: &TestInstance, told: &Value) {
    let read = sales.get(told["id"].as_str().expect("id")).await;
    assert_eq!(read.status, 200, "{read}");
    assert_eq!(&read.body, told, "GET differs from the answer");
}

// ---- 1. Legal transitions ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_submit_is_queued() {
    let sales = sales().await;
    let body = submission(
        EMAIL,
        "inbound",
        json!({ "priority": 7, "type": "inbound", "subtype": "request",
                "external_id": "mail-1", "properties": { "segment": "gold" } }),
    );
    let gateway = sales.token_of("gateway").await;
    let answer = sales.submit_with(&gateway, &body).await;
    assert_eq!(answer.status, 201, "{answer}");
    let i = &answer.body;
    assert_eq!(i["state"], "queued");
    assert_eq!(i["process"], EMAIL);
    assert_eq!(i["queue"], "inbound");
    assert_eq!(i["media_type"], "email");
    assert_eq!(i["type"], "inbound");
    assert_eq!(i["subtype"], "request");
    assert_eq!(i["priority"], 7);
    assert_eq!(i["external_id"], "mail-1");
    assert_eq!(i["submitted_by"], "gateway", "the submitter is the caller");
    assert_eq!(i["properties"], json!({ "segment": "gold" }));
    assert_eq!(i["agent"], Value::Null);
    assert_eq!(i["version"], 1);
    assert_eq!(i["placed_in_queue_at"], i["submitted_at"]);
    assert_eq!(i["stopped_at"], Value::Null);
    assert_stored(&sales, i).await;
    assert_eq!(sales.journal(answer.id()).await, ["submitted"]);
    let (depth, order) = sales.queue_order(EMAIL, "inbound").await;
    assert_eq!((depth, order), (1, vec![answer.id().to_owned()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_submit_starts_in_the_agents_hands() {
    let sales = sales().await;
    let anna = sales.token_of("anna").await;
    for queue in [None, Some("inbound")] {
        let answer = sales.submit_with(&anna, &agent_submission(queue)).await;
        assert_eq!(answer.status, 201, "queue {queue:?}: {answer}");
        let i = &answer.body;
        assert_eq!(i["state"], "handling", "queue {queue:?}");
        assert_eq!(i["agent"], "anna");
        assert_eq!(i["submitted_by"], "anna");
        assert_eq!(i["queue"], json!(queue));
        assert_eq!(i["assigned_at"], i["submitted_at"]);
        assert_eq!(i["placed_in_queue_at"], Value::Null);
        assert_eq!(i["version"], 1);
        assert_stored(&sales, i).await;
        assert_eq!(sales.journal(answer.id()).await, ["submitted"]);
    }
    // Being handled, neither is waiting in a queue.
    assert_eq!(sales.queue_order(EMAIL, "inbound").await.0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_properties_merges_deletes_and_counts_versions() {
    let sales = sales().await;
    let queued = sales
        .submit_ok(&submission(
            EMAIL,
            "inbound",
            json!({ "properties": { "a": 1, "b": "x", "keep": true } }),
        ))
        .await;
    let handled = sales.submit_ok(&agent_submission(None)).await;
    for (before, state) in [(queued, "queued"), (handled, "handling")] {
        let id = before["id"].as_str().expect("id");
        let first = sales
            .change_properties(id, &json!({ "a": 2, "b": null, "c": [1, 2] }))
            .await;
        assert_eq!(first.status, 200, "{first}");
        let mut expected = before["properties"].as_object().cloned().expect("props");
        expected.insert("a".into(), json!(2));
        expected.remove("b");
        expected.insert("c".into(), json!([1, 2]));
        assert_eq!(first.body["properties"], Value::Object(expected.clone()));
        assert_eq!(first.body["version"], 2);
        assert_eq!(first.body["state"], state, "the state stays");
        assert_eq!(first.body["queue"], before["queue"]);
        assert_eq!(first.body["agent"], before["agent"]);
        assert_eq!(first.body["submitted_at"], before["submitted_at"]);

        let second = sales
            .change_properties(id, &json!({ "c": null, "nested": { "x": 1 } }))
            .await;
        assert_eq!(second.status, 200, "{second}");
        expected.remove("c");
        expected.insert("nested".into(), json!({ "x": 1 }));
        assert_eq!(second.body["properties"], Value::Object(expected));
        assert_eq!(second.body["version"], 3);
        assert_stored(&sales, &second.body).await;
        assert_eq!(
            sales.journal(id).await,
            ["submitted", "properties_changed", "properties_changed"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn place_in_queue_moves_without_losing_age_or_place() {
    let sales = sales().await;
    let old = sales.submit_ok(&gateway(EMAIL, "inbound")).await;
    let young = sales.submit_ok(&gateway(EMAIL, "overflow")).await;
    let (old_id, young_id) = (old["id"].as_str().unwrap(), young["id"].as_str().unwrap());

    // queued → queued in another queue: it keeps its submission time, so it
    // goes ahead of the younger one already waiting there.
    let moved = sales
        .place_in_queue(old_id, &json!({ "queue": "overflow" }))
        .await;
    assert_eq!(moved.status, 200, "{moved}");
    assert_eq!(moved.body["state"], "queued");
    assert_eq!(moved.body["queue"], "overflow");
    assert_eq!(moved.body["process"], EMAIL);
    assert_eq!(moved.body["version"], 2);
    assert_eq!(moved.body["submitted_at"], old["submitted_at"]);
    assert_ne!(moved.body["placed_in_queue_at"], old["placed_in_queue_at"]);
    assert_stored(&sales, &moved.body).await;
    assert_eq!(
        sales.queue_order(EMAIL, "overflow").await,
        (2, vec![old_id.to_owned(), young_id.to_owned()])
    );
    assert_eq!(sales.queue_order(EMAIL, "inbound").await.0, 0);

    // The same queue again: a no-op that keeps everything, journal included.
    let again = sales
        .place_in_queue(old_id, &json!({ "queue": "overflow", "process": EMAIL }))
        .await;
    assert_eq!(again.status, 200, "{again}");
    assert_eq!(again.body, moved.body, "a no-op changes nothing");
    assert_eq!(
        sales.journal(old_id).await,
        ["submitted", "placed_in_queue"]
    );

    // Across processes of the same instance.
    let across = sales
        .place_in_queue(old_id, &json!({ "queue": "inbound", "process": CHAT }))
        .await;
    assert_eq!(across.status, 200, "{across}");
    assert_eq!(across.body["process"], CHAT);
    assert_eq!(across.body["queue"], "inbound");
    assert_eq!(across.body["version"], 3);
    assert_eq!(across.body["submitted_at"], old["submitted_at"]);
    assert_stored(&sales, &across.body).await;
    assert_eq!(
        sales.queue_order(CHAT, "inbound").await,
        (1, vec![old_id.to_owned()])
    );
    assert_eq!(
        sales.queue_order(EMAIL, "overflow").await,
        (1, vec![young_id.to_owned()])
    );
    assert_eq!(
        sales.journal(old_id).await,
        ["submitted", "placed_in_queue", "placed_in_queue"]
    );
    let process: String = sqlx::query_scalar(
        "SELECT process FROM interaction_events WHERE interaction_id = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(uuid::Uuid::parse_str(old_id).unwrap())
    .fetch_one(&sales.pool)
    .await
    .unwrap();
    assert_eq!(process, CHAT, "the event belongs to the new process");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handling_is_placed_back_in_a_queue() {
    let sales = sales().await;
    let handled = sales.submit_ok(&agent_submission(None)).await;
    let id = handled["id"].as_str().unwrap();
    let queued = sales
        .place_in_queue(id, &json!({ "queue": "inbound" }))
        .await;
    assert_eq!(queued.status, 200, "{queued}");
    assert_eq!(queued.body["state"], "queued");
    assert_eq!(queued.body["queue"], "inbound");
    assert_eq!(
        queued.body["agent"],
        Value::Null,
        "no longer in anna's hands"
    );
    assert_eq!(queued.body["version"], 2);
    assert_eq!(queued.body["submitted_at"], handled["submitted_at"]);
    assert_stored(&sales, &queued.body).await;
    assert_eq!(
        sales.queue_order(EMAIL, "inbound").await,
        (1, vec![id.to_owned()])
    );
    assert_eq!(sales.journal(id).await, ["submitted", "placed_in_queue"]);

    // Handled in a queue already: placing it in that same queue is a real
    // transition, not a no-op.
    let handled = sales.submit_ok(&agent_submission(Some("inbound"))).await;
    let id = handled["id"].as_str().unwrap();
    let queued = sales
        .place_in_queue(id, &json!({ "queue": "inbound" }))
        .await;
    assert_eq!(queued.status, 200, "{queued}");
    assert_eq!(queued.body["state"], "queued");
    assert_eq!(queued.body["version"], 2);
    assert_eq!(sales.journal(id).await, ["submitted", "placed_in_queue"]);
    assert_eq!(sales.queue_order(EMAIL, "inbound").await.0, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_from_queued_and_from_handling_records_the_reason() {
    let sales = sales().await;
    let queued = sales.submit_ok(&gateway(EMAIL, "inbound")).await;
    let handled = sales.submit_ok(&agent_submission(None)).await;
    for (before, reason) in [(queued, "spam"), (handled, "answered")] {
        let id = before["id"].as_str().unwrap();
        let stopped = sales.stop(id, reason).await;
        assert_eq!(stopped.status, 200, "{stopped}");
        assert_eq!(stopped.body["state"], "stopped");
        assert_eq!(stopped.body["stop_reason"], reason);
        assert!(stopped.body["stopped_at"].is_string(), "{stopped}");
        assert_eq!(stopped.body["version"], 2);
        assert_eq!(stopped.body["properties"], before["properties"]);
        assert_stored(&sales, &stopped.body).await;
        assert_eq!(sales.journal(id).await, ["submitted", "processing_stopped"]);
        let data: Value = sqlx::query_scalar(
            "SELECT data FROM interaction_events WHERE interaction_id = $1 AND kind = 'processing_stopped'",
        )
        .bind(uuid::Uuid::parse_str(id).unwrap())
        .fetch_one(&sales.pool)
        .await
        .unwrap();
        assert_eq!(data["reason"], reason, "the journal records the reason");
    }
    assert_eq!(sales.queue_order(EMAIL, "inbound").await.0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_reads_back_what_each_change_wrote() {
    use ixs::engine::EventKind;
    use ixs::store::{PgStore, Store};
    let sales = sales().await;
    let submitted = sales
        .submit_ok(&submission(
            EMAIL,
            "inbound",
            json!({ "properties": { "subject": "Ünïcode \"quoted\"", "n": 1 } }),
        ))
        .await;
    let id = submitted["id"].as_str().expect("id");
    let patched = sales.change_properties(id, &json!({ "n": 2 })).await;
    assert_eq!(patched.status, 200, "{patched}");
    let moved = sales
        .place_in_queue(id, &json!({ "queue": "overflow" }))
        .await;
    assert_eq!(moved.status, 200, "{moved}");
    let stopped = sales.stop(id, "answered").await;
    assert_eq!(stopped.status, 200, "{stopped}");

    let journal = PgStore::from_pool(sales.pool.clone())
        .read_journal(0, 100)
        .await
        .expect("the journal reads");
    let uuid = uuid::Uuid::parse_str(id).expect("uuid");
    let mine: Vec<_> = journal
        .iter()
        .filter(|entry| entry.event.interaction_id == Some(uuid))
        .collect();
    let kinds: Vec<EventKind> = mine.iter().map(|entry| entry.event.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Submitted,
            EventKind::PropertiesChanged,
            EventKind::PlacedInQueue,
            EventKind::ProcessingStopped
        ]
    );
    assert!(
        mine.windows(2).all(|w| w[0].position < w[1].position),
        "positions grow"
    );
    let data: Vec<Value> = mine
        .iter()
        .map(|entry| entry.event.data.to_value())
        .collect();
    assert_eq!(
        data[0], submitted,
        "the submitted event holds the interaction"
    );
    assert_eq!(data[1]["changes"], json!({ "n": 2 }));
    assert_eq!(data[1]["properties"], patched.body["properties"]);
    assert_eq!(data[2]["queue"], "overflow");
    assert_eq!(data[2]["from"]["queue"], "inbound");
    assert_eq!(data[3]["reason"], "answered");
    assert_eq!(data[3]["from"], "queued");
}

// ---- 1. Illegal transitions ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_interaction_refuses_every_change_with_409() {
    let sales = sales().await;
    let id = sales.submit_ok(&gateway(EMAIL, "inbound")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let stopped = sales.stop(&id, "done").await;
    assert_eq!(stopped.status, 200, "{stopped}");
    let counts = sales.counts().await;
    assert_eq!(counts, (1, 2));

    let refused = [
        ("stop", sales.stop(&id, "again").await),
        (
            "change properties",
            sales.change_properties(&id, &json!({ "a": 1 })).await,
        ),
        (
            "place in the same queue",
            sales
                .place_in_queue(&id, &json!({ "queue": "inbound" }))
                .await,
        ),
        (
            "place in another queue",
            sales
                .place_in_queue(&id, &json!({ "queue": "overflow" }))
                .await,
        ),
        (
            "place in another process",
            sales
                .place_in_queue(&id, &json!({ "queue": "inbound", "process": CHAT }))
                .await,
        ),
    ];
    for (what, answer) in refused {
        answer.assert_error(409, "illegal_transition");
        assert_eq!(answer.state(), Some("stopped"), "{what}: {answer}");
    }
    assert_eq!(
        sales.counts().await,
        counts,
        "a refused change writes nothing"
    );
    assert_eq!(
        sales.journal(&id).await,
        ["submitted", "processing_stopped"]
    );
    assert_stored(&sales, &stopped.body).await;
}

// ---- 2. Idempotent submit ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_submit_answers_the_original() {
    let sales = sales().await;
    let original = sales
        .submit_ok(&submission(
            EMAIL,
            "inbound",
            json!({ "external_id": "m-1", "priority": 5, "properties": { "a": 1 } }),
        ))
        .await;
    let repeat = sales
        .submit(&submission(
            CHAT,
            "overflow",
            json!({ "external_id": "m-1", "priority": 9, "media_type": "chat",
                    "properties": { "a": 2, "b": 3 } }),
        ))
        .await;
    assert_eq!(repeat.status, 200, "{repeat}");
    assert_eq!(
        repeat.body, original,
        "the original, not the repeat's fields"
    );
    assert_eq!(sales.counts().await, (1, 1));
    assert_eq!(
        sales.queue_order(EMAIL, "inbound").await.1,
        [original["id"].as_str().unwrap()]
    );
    assert_eq!(sales.queue_order(CHAT, "overflow").await.0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicates_make_one_interaction() {
    let sales = sales().await;
    let body = submission(EMAIL, "inbound", json!({ "external_id": "burst-1" }));
    let answers = futures::future::join_all((0..20).map(|_| sales.submit(&body))).await;
    let created = answers.iter().filter(|a| a.status == 201).count();
    let repeated = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!((created, repeated), (1, 19), "{answers:?}");
    let id = answers[0].id().to_owned();
    for answer in &answers {
        assert_eq!(answer.id(), id, "every answer names the one interaction");
        assert_eq!(answer.body["version"], 1);
    }
    assert_eq!(sales.counts().await, (1, 1));
    assert_eq!(sales.queue_order(EMAIL, "inbound").await.0, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_external_id_from_another_submitter_is_another_interaction() {
    let sales = sales().await;
    let body = submission(EMAIL, "inbound", json!({ "external_id": "shared-7" }));
    let first = sales.submit_ok(&body).await;
    let gateway = sales.token_of("gateway").await;
    let second = sales.submit_with(&gateway, &body).await;
    assert_eq!(second.status, 201, "{second}");
    assert_ne!(second.id(), first["id"].as_str().unwrap());
    assert_eq!(second.body["submitted_by"], "gateway");
    assert_eq!(sales.counts().await, (2, 2));
    // Each submitter's repeat finds its own.
    let again = sales.submit_with(&gateway, &body).await;
    assert_eq!((again.status, again.id()), (200, second.id()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_after_stop_answers_the_stopped_original() {
    let sales = sales().await;
    let body = submission(EMAIL, "inbound", json!({ "external_id": "late-1" }));
    let id = sales.submit_ok(&body).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let stopped = sales.stop(&id, "answered").await;
    assert_eq!(stopped.status, 200, "{stopped}");
    let repeat = sales.submit(&body).await;
    assert_eq!(repeat.status, 200, "{repeat}");
    assert_eq!(repeat.body, stopped.body);
    assert_eq!(sales.counts().await, (1, 2));
    assert_eq!(sales.queue_order(EMAIL, "inbound").await.0, 0);
}

// ---- 10. Find, queue snapshot, scope ----

/// A find query and the ids it must return, in order.
type FindCase<'a> = (Vec<(&'a str, &'a str)>, Vec<&'a String>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_returns_exactly_the_matching_interactions() {
    let sales = sales().await;
    let mut ids = Vec::new();
    for body in [
        submission(EMAIL, "inbound", json!({ "external_id": "f-1" })),
        submission(EMAIL, "overflow", json!({})),
        submission(CHAT, "inbound", json!({ "external_id": "f-3" })),
        submission(EMAIL, "inbound", json!({})),
        agent_submission(None),
    ] {
        ids.push(
            sales.submit_ok(&body).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let [e1, e2, c3, e4, h5] = [0, 1, 2, 3, 4].map(|i| ids[i].clone());
    assert_eq!(sales.stop(&e4, "spam").await.status, 200);

    let cases: Vec<FindCase> = vec![
        (vec![], vec![&e1, &e2, &c3, &e4, &h5]),
        (vec![("process", EMAIL)], vec![&e1, &e2, &e4, &h5]),
        (vec![("process", CHAT)], vec![&c3]),
        (vec![("queue", "inbound")], vec![&e1, &c3, &e4]),
        (vec![("queue", "overflow")], vec![&e2]),
        (vec![("state", "stopped")], vec![&e4]),
        (vec![("state", "handling")], vec![&h5]),
        (vec![("state", "queued")], vec![&e1, &e2, &c3]),
        (vec![("state", "offered")], vec![]),
        (vec![("external_id", "f-3")], vec![&c3]),
        (vec![("external_id", "none-such")], vec![]),
        (
            vec![
                ("process", EMAIL),
                ("queue", "inbound"),
                ("state", "queued"),
            ],
            vec![&e1],
        ),
        (vec![("limit", "2")], vec![&e1, &e2]),
        (vec![("state", "queued"), ("limit", "1")], vec![&e1]),
    ];
    for (query, expected) in cases {
        let found = sales.find_ids(&query).await;
        let expected: Vec<String> = expected.into_iter().cloned().collect();
        assert_eq!(found, expected, "find {query:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_snapshot_is_in_priority_then_age_order() {
    let sales = sales().await;
    let mut submitted = Vec::new();
    for priority in [5, 10, 5, 0, 10, 7, 5] {
        let i = sales
            .submit_ok(&submission(
                EMAIL,
                "inbound",
                json!({ "priority": priority }),
            ))
            .await;
        submitted.push(i);
    }
    // Elsewhere: not in this queue's snapshot.
    sales.submit_ok(&gateway(EMAIL, "overflow")).await;
    sales.submit_ok(&gateway(CHAT, "inbound")).await;

    let mut expected = submitted.clone();
    expected.sort_by(|a, b| {
        let key = |i: &Value| {
            (
                -i["priority"].as_i64().unwrap(),
                timestamp(&i["submitted_at"]),
                uuid::Uuid::parse_str(i["id"].as_str().unwrap()).unwrap(),
            )
        };
        key(a).cmp(&key(b))
    });
    let expected: Vec<&str> = expected.iter().map(|i| i["id"].as_str().unwrap()).collect();
    let priorities: Vec<i64> = expected
        .iter()
        .map(|id| {
            submitted.iter().find(|i| i["id"] == *id).unwrap()["priority"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        priorities,
        [10, 10, 7, 5, 5, 5, 0],
        "the expectation itself"
    );

    let snapshot = sales.queue(EMAIL, "inbound").await;
    assert_eq!(snapshot.status, 200, "{snapshot}");
    assert_eq!(snapshot.body["process"], EMAIL);
    assert_eq!(snapshot.body["queue"], "inbound");
    assert_eq!(snapshot.body["depth"], 7);
    let oldest = snapshot.body["oldest_age_secs"]
        .as_i64()
        .expect("oldest age");
    assert!((0..60).contains(&oldest), "{snapshot}");
    let order: Vec<&str> = snapshot.body["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(order, expected);

    let head = sales
        .get_path(&format!("/v1/queues/{EMAIL}/inbound?limit=3"))
        .await;
    assert_eq!(head.status, 200, "{head}");
    assert_eq!(head.body["depth"], 7, "depth counts the whole queue");
    let head: Vec<&str> = head.body["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(head, expected[..3]);

    let empty = sales.queue(CHAT, "overflow").await;
    assert_eq!(empty.status, 200, "{empty}");
    assert_eq!(empty.body["depth"], 0);
    assert_eq!(empty.body["oldest_age_secs"], 0);
    assert_eq!(empty.body["interactions"], json!([]));
}

/// Interactions submitted long ago (written to the database before the
/// instance starts, so no clock needs to move) report their age.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_snapshot_reports_the_oldest_age() {
    let first = sales().await;
    let db = first.db.clone();
    first.shutdown().await.expect("clean shutdown");
    let pool = db.pool().await;
    let mut ids = Vec::new();
    for (age_secs, priority) in [(90, 0), (30, 5), (600, 0)] {
        let id = uuid::Uuid::now_v7();
        let process = if age_secs == 600 { CHAT } else { EMAIL };
        sqlx::query(
            "INSERT INTO interactions (id, submitted_by, process, queue, state, media_type, type,
                 priority, properties, submitted_at, placed_in_queue_at, version)
             VALUES ($1, 'gw-mail', $2, 'inbound', 'queued', 'email', 'inbound', $3, '{}',
                 now() - make_interval(secs => $4), now() - make_interval(secs => $4), 1)",
        )
        .bind(id)
        .bind(process)
        .bind(priority)
        .bind(f64::from(age_secs))
        .execute(&pool)
        .await
        .unwrap();
        ids.push(id.to_string());
    }
    let sales = common::start_on(db, Solution::Sales, |_| {}).await;
    sales.wait_ready().await;
    let snapshot = sales.queue(EMAIL, "inbound").await;
    assert_eq!(snapshot.status, 200, "{snapshot}");
    assert_eq!(snapshot.body["depth"], 2);
    let oldest = snapshot.body["oldest_age_secs"].as_i64().unwrap();
    assert!(
        (90..150).contains(&oldest),
        "oldest age {oldest}: {snapshot}"
    );
    let (_, order) = sales.queue_order(EMAIL, "inbound").await;
    assert_eq!(order, [ids[1].clone(), ids[0].clone()], "priority first");
    let chat = sales.queue(CHAT, "inbound").await;
    let oldest = chat.body["oldest_age_secs"].as_i64().unwrap();
    assert!((600..660).contains(&oldest), "{chat}");

    let list = sales.get_path("/v1/queues").await;
    assert_eq!(list.status, 200, "{list}");
    let email_inbound = list.body["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["process"] == EMAIL && q["queue"] == "inbound")
        .cloned()
        .expect("sales-email/inbound listed");
    assert_eq!(email_inbound["depth"], 2);
    assert!(email_inbound["oldest_age_secs"].as_i64().unwrap() >= 90);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scope_lists_exactly_the_instances_processes() {
    let sales = sales().await;
    let scope = sales.scope().await;
    assert_eq!(scope.status, 200, "{scope}");
    assert_eq!(scope.body["instance"], "sales");
    assert_eq!(scope.body["application"], "ixs-sales");
    let processes = scope.body["processes"].as_array().expect("processes");
    let mut names: Vec<&str> = processes
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, Solution::Sales.processes());
    for process in processes {
        let queues: Vec<&str> = process["queues"]
            .as_array()
            .expect("queues")
            .iter()
            .map(|q| q.as_str().unwrap())
            .collect();
        for queue in ["inbound", "overflow"] {
            assert!(queues.contains(&queue), "{process}");
        }
    }

    // /v1/queues lists only what is in scope.
    let list = sales.get_path("/v1/queues").await;
    assert_eq!(list.status, 200, "{list}");
    for queue in list.body["queues"].as_array().unwrap() {
        let process = queue["process"].as_str().unwrap();
        assert!(Solution::Sales.processes().contains(&process), "{queue}");
    }
}

// ---- Metrics ----

/// The value of the series `name` (any labels) in a Prometheus text page.
fn metric(page: &str, name: &str) -> f64 {
    page.lines()
        .find(|line| line.starts_with(&format!("{name}{{")))
        .and_then(|line| line.rsplit_once(' '))
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{page}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_the_writer_committed() {
    let sales = sales().await;
    let page = sales.get_path("/metrics").await.text;
    let (changes_before, batches_before) = (
        metric(&page, "ixs_writer_changes_total"),
        metric(&page, "ixs_writer_batches_total"),
    );
    let body = gateway(EMAIL, "inbound");
    futures::future::join_all((0..10).map(|_| sales.submit_ok(&body))).await;

    let answer = sales.get_path("/metrics").await;
    assert_eq!(answer.status, 200, "{answer}");
    let page = answer.text;
    let changes = metric(&page, "ixs_writer_changes_total") - changes_before;
    let batches = metric(&page, "ixs_writer_batches_total") - batches_before;
    assert_eq!(changes, 10.0, "each submit is one committed change");
    assert!((1.0..=10.0).contains(&batches), "{batches} batches");
    assert!(metric(&page, "ixs_writer_commit_seconds_total") > 0.0);
    assert_eq!(
        metric(&page, "ixs_writer_batch_size_count"),
        metric(&page, "ixs_writer_batches_total")
    );
    assert_eq!(
        metric(&page, "ixs_writer_batch_size_sum"),
        metric(&page, "ixs_writer_changes_total")
    );
    assert_eq!(metric(&page, "ixs_active"), 1.0);
}
