//! What an instance refuses: business processes outside its scope and bad
//! input, each with a 4xx that says why and nothing written; and two
//! instances of one tenant side by side.

mod common;

use common::{Answer, Solution, gateway, spawn_instance, spawn_instance_with, tweak};
use reqwest::Method;
use serde_json::{Value, json};

const EMAIL: &str = "sales-email";

// ---- 3. Out of scope ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sales_refuses_the_support_processes_and_writes_nothing() {
    let sales = spawn_instance(Solution::Sales).await;
    let mine = sales.submit_ok(&gateway(EMAIL, "inbound")).await;
    let id = mine["id"].as_str().unwrap();
    let before = sales.counts().await;
    assert_eq!(before, (1, 1));

    let mut foreign_with_id = gateway("support-email", "inbound");
    foreign_with_id["external_id"] = json!("x-1");
    let refused: Vec<(&str, Answer)> = vec![
        (
            "submit",
            sales.submit(&gateway("support-email", "inbound")).await,
        ),
        (
            "submit with an external id",
            sales.submit(&foreign_with_id).await,
        ),
        ("find", sales.find(&[("process", "support-email")]).await),
        (
            "place in queue",
            sales
                .place_in_queue(
                    id,
                    &json!({ "queue": "inbound", "process": "support-chat" }),
                )
                .await,
        ),
        (
            "queue snapshot",
            sales.queue("support-email", "inbound").await,
        ),
    ];
    for (what, answer) in &refused {
        answer.assert_error(403, "out_of_scope");
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("support-"),
            "{what}: the message names the process: {answer}"
        );
    }
    assert_eq!(sales.counts().await, before, "nothing written");
    let after = sales.get(id).await;
    assert_eq!(after.body, mine, "the interaction did not move");
    assert_eq!(sales.queue_order(EMAIL, "inbound").await.0, 1);
}

// ---- 7. Bad input ----

const JSON: Option<&str> = Some("application/json");

/// What a refusal must look like.
#[derive(Debug, Clone, Copy)]
struct Refusal {
    status: u16,
    code: &'static str,
    field: Option<&'static str>,
}

fn invalid(field: &'static str) -> Refusal {
    Refusal {
        status: 422,
        code: "invalid_field",
        field: Some(field),
    }
}

fn refused(status: u16, code: &'static str) -> Refusal {
    Refusal {
        status,
        code,
        field: None,
    }
}

impl Refusal {
    #[track_caller]
    fn check(self, what: &str, answer: &Answer) {
        assert_eq!(answer.status, self.status, "{what}: {answer}");
        answer.assert_error(self.status, self.code);
        assert_eq!(answer.field(), self.field, "{what}: {answer}");
    }
}

/// A bad request: what it is, its content type and body, and the refusal.
struct Bad {
    what: &'static str,
    content_type: Option<&'static str>,
    body: String,
    refusal: Refusal,
}

fn bad(what: &'static str, body: impl Into<String>, refusal: Refusal) -> Bad {
    Bad {
        what,
        content_type: JSON,
        body: body.into(),
        refusal,
    }
}

fn bad_typed(what: &'static str, content_type: Option<&'static str>, body: String) -> Bad {
    Bad {
        what,
        content_type,
        body,
        refusal: refused(415, "unsupported_media_type"),
    }
}

/// A valid submission with some fields changed (`null` removes one).
fn with(change: Value) -> String {
    let mut body = gateway(EMAIL, "inbound");
    for (key, value) in change.as_object().expect("an object").clone() {
        if value.is_null() {
            body.as_object_mut().unwrap().remove(&key);
        } else {
            body[key] = value;
        }
    }
    body.to_string()
}

/// Submissions that must be refused before anything is written.
fn bad_submissions() -> Vec<Bad> {
    let valid = gateway(EMAIL, "inbound").to_string();
    let malformed = refused(400, "malformed_json");
    vec![
        bad(
            "malformed JSON",
            r#"{"process": "sales-email", "#,
            malformed,
        ),
        bad("trailing garbage", format!("{valid} x"), malformed),
        bad("empty body", "", malformed),
        bad(
            "missing process",
            with(json!({ "process": null })),
            invalid("process"),
        ),
        bad(
            "missing media_type",
            with(json!({ "media_type": null })),
            invalid("media_type"),
        ),
        bad(
            "null process",
            r#"{"process": null, "queue": "inbound", "media_type": "email"}"#,
            invalid("process"),
        ),
        bad(
            "blank process",
            with(json!({ "process": "  " })),
            invalid("process"),
        ),
        bad(
            "control character in process",
            with(json!({ "process": "sales\u{7}email" })),
            invalid("process"),
        ),
        bad(
            "priority as a string",
            with(json!({ "priority": "high" })),
            invalid("priority"),
        ),
        bad(
            "fractional priority",
            with(json!({ "priority": 1.5 })),
            invalid("priority"),
        ),
        bad(
            "priority above the range",
            with(json!({ "priority": 101 })),
            invalid("priority"),
        ),
        bad(
            "priority below the range",
            with(json!({ "priority": -1 })),
            invalid("priority"),
        ),
        bad(
            "huge priority",
            with(json!({ "priority": 4_294_967_396_i64 })),
            invalid("priority"),
        ),
        bad(
            "properties as an array",
            with(json!({ "properties": [1, 2] })),
            invalid("properties"),
        ),
        bad(
            "properties as a string",
            with(json!({ "properties": "a=1" })),
            invalid("properties"),
        ),
        bad(
            "properties over 64 KiB",
            with(json!({ "properties": { "blob": "x".repeat(70_000) } })),
            invalid("properties"),
        ),
        bad(
            "unknown field",
            with(json!({ "colour": "blue" })),
            invalid("colour"),
        ),
        bad("a JSON array", "[]", invalid("body")),
        bad(
            "external_id of 256 characters",
            with(json!({ "external_id": "e".repeat(256) })),
            invalid("external_id"),
        ),
        bad(
            "queue of 129 characters",
            with(json!({ "queue": "q".repeat(129) })),
            invalid("queue"),
        ),
        bad(
            "process of 129 characters",
            with(json!({ "process": "p".repeat(129) })),
            invalid("process"),
        ),
        bad(
            "no queue from a gateway",
            with(json!({ "queue": null })),
            invalid("queue"),
        ),
        bad(
            "unknown media type",
            with(json!({ "media_type": "fax" })),
            invalid("media_type"),
        ),
        bad(
            "unknown agent",
            with(json!({ "agent": "nobody-such" })),
            invalid("agent"),
        ),
        bad(
            "unknown queue",
            with(json!({ "queue": "nowhere" })),
            refused(404, "unknown_queue"),
        ),
        bad(
            "unknown process",
            with(json!({ "process": "billing" })),
            refused(403, "out_of_scope"),
        ),
        bad(
            "over 256 KiB",
            with(json!({ "properties": { "blob": "x".repeat(300 * 1024) } })),
            refused(413, "payload_too_large"),
        ),
        bad_typed("text/plain", Some("text/plain"), valid.clone()),
        bad_typed(
            "form data",
            Some("application/x-www-form-urlencoded"),
            "process=sales-email".into(),
        ),
        bad_typed("no content type", None, valid),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_4xx_naming_the_field_and_writes_nothing() {
    let sales = spawn_instance(Solution::Sales).await;
    for case in bad_submissions() {
        let answer = sales
            .send_raw(
                Method::POST,
                "/v1/interactions",
                case.content_type,
                case.body,
            )
            .await;
        case.refusal.check(case.what, &answer);
    }

    // Reads with bad parameters.
    let long_queue = format!("/v1/interactions?queue={}", "q".repeat(129));
    let unknown = "0190d6c8-0000-7000-8000-000000000000";
    let unknown_path = format!("/v1/interactions/{unknown}");
    let bad_reads = [
        (
            "bad state filter",
            "/v1/interactions?state=done",
            invalid("state"),
        ),
        ("limit 0", "/v1/interactions?limit=0", invalid("limit")),
        (
            "limit not a number",
            "/v1/interactions?limit=ten",
            invalid("limit"),
        ),
        (
            "limit too large",
            "/v1/interactions?limit=1001",
            invalid("limit"),
        ),
        (
            "unknown filter",
            "/v1/interactions?colour=blue",
            invalid("colour"),
        ),
        ("over-long queue filter", &long_queue, invalid("queue")),
        (
            "find out of scope",
            "/v1/interactions?process=billing",
            refused(403, "out_of_scope"),
        ),
        ("bad UUID", "/v1/interactions/not-a-uuid", invalid("id")),
        ("unknown id", &unknown_path, refused(404, "not_found")),
        (
            "unknown queue",
            "/v1/queues/sales-email/nowhere",
            refused(404, "unknown_queue"),
        ),
        (
            "snapshot limit",
            "/v1/queues/sales-email/inbound?limit=ten",
            invalid("limit"),
        ),
        (
            "unknown route",
            "/v1/nothing-here",
            refused(404, "not_found"),
        ),
    ];
    for (what, path, refusal) in bad_reads {
        refusal.check(what, &sales.get_path(path).await);
    }

    // Changes to an interaction that does not exist, or named wrongly.
    refused(404, "not_found").check("stop unknown", &sales.stop(unknown, "x").await);
    invalid("id").check("stop bad id", &sales.stop("not-a-uuid", "x").await);
    let patch = sales.change_properties("42", &json!({ "a": 1 })).await;
    invalid("id").check("change bad id", &patch);

    assert_eq!(sales.counts().await, (0, 0), "bad input wrote something");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_changes_to_an_interaction_get_a_4xx_and_write_nothing() {
    let sales = spawn_instance(Solution::Sales).await;
    let original = sales.submit_ok(&gateway(EMAIL, "inbound")).await;
    let id = original["id"].as_str().unwrap();
    let blob = json!({ "blob": "x".repeat(70_000) }).to_string();
    let cases = [
        (
            Method::PATCH,
            "properties",
            bad("properties as an array", "[1]", invalid("body")),
        ),
        (
            Method::PATCH,
            "properties",
            bad("properties malformed", "{", refused(400, "malformed_json")),
        ),
        (
            Method::PATCH,
            "properties",
            bad_typed("properties as text", Some("text/plain"), "{}".into()),
        ),
        (
            Method::PATCH,
            "properties",
            bad("properties over 64 KiB", blob, invalid("properties")),
        ),
        (
            Method::POST,
            "place-in-queue",
            bad("place without a queue", "{}", invalid("queue")),
        ),
        (
            Method::POST,
            "place-in-queue",
            bad(
                "place in an unknown queue",
                json!({ "queue": "nowhere" }).to_string(),
                refused(404, "unknown_queue"),
            ),
        ),
        (
            Method::POST,
            "place-in-queue",
            bad(
                "place with an unknown field",
                json!({ "queue": "inbound", "colour": 1 }).to_string(),
                invalid("colour"),
            ),
        ),
        (
            Method::POST,
            "place-in-queue",
            bad(
                "place with a queue of 129 characters",
                json!({ "queue": "q".repeat(129) }).to_string(),
                invalid("queue"),
            ),
        ),
        (
            Method::POST,
            "place-in-queue",
            bad(
                "place in an unknown process",
                json!({ "queue": "inbound", "process": "billing" }).to_string(),
                refused(403, "out_of_scope"),
            ),
        ),
        (
            Method::POST,
            "stop",
            bad("stop without a reason", "{}", invalid("reason")),
        ),
        (
            Method::POST,
            "stop",
            bad(
                "stop with an empty reason",
                json!({ "reason": "" }).to_string(),
                invalid("reason"),
            ),
        ),
        (
            Method::POST,
            "stop",
            bad(
                "stop with a numeric reason",
                json!({ "reason": 5 }).to_string(),
                invalid("reason"),
            ),
        ),
        (
            Method::POST,
            "stop",
            bad(
                "stop with a reason over 1024 characters",
                json!({ "reason": "r".repeat(1025) }).to_string(),
                invalid("reason"),
            ),
        ),
    ];
    for (method, verb, case) in cases {
        let path = format!("/v1/interactions/{id}/{verb}");
        let answer = sales
            .send_raw(method, &path, case.content_type, case.body)
            .await;
        case.refusal.check(case.what, &answer);
    }
    assert_eq!(sales.counts().await, (1, 1), "bad input wrote something");
    assert_eq!(
        sales.get(id).await.body,
        original,
        "the interaction is unchanged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_the_boundaries_not_below_them() {
    let sales = spawn_instance(Solution::Sales).await;
    let mut body = gateway(EMAIL, "inbound");
    body["external_id"] = json!("e".repeat(255));
    body["priority"] = json!(100);
    body["queue"] = json!("inbound");
    let at_limit = sales.submit(&body).await;
    assert_eq!(at_limit.status, 201, "{at_limit}");
    body["external_id"] = json!("f");
    body["priority"] = json!(0);
    assert_eq!(sales.submit(&body).await.status, 201);
    assert_eq!(sales.counts().await, (2, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_max_body_bytes_gets_413() {
    let sales = spawn_instance_with(Solution::Sales, tweak::small_bodies).await;
    let mut body = gateway(EMAIL, "inbound");
    body["properties"] = json!({ "note": "n".repeat(2000) });
    let answer = sales.submit(&body).await;
    answer.assert_error(413, "payload_too_large");
    let id_patch = sales
        .change_properties(
            "0190d6c8-0000-7000-8000-000000000000",
            &json!({ "n": "n".repeat(2000) }),
        )
        .await;
    id_patch.assert_error(413, "payload_too_large");
    assert_eq!(sales.counts().await, (0, 0));
    // Just under the limit is fine.
    body["properties"] = json!({ "note": "n".repeat(800) });
    let fits = sales.submit(&body).await;
    assert_eq!(fits.status, 201, "{fits}");
    assert_eq!(sales.counts().await, (1, 1));
}

/// PostgreSQL's `jsonb` cannot hold U+0000: a property holding it is bad
/// input, to be refused like any other before anything is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_character_in_properties_gets_422_and_writes_nothing() {
    let sales = spawn_instance(Solution::Sales).await;
    let existing = sales.submit_ok(&gateway(EMAIL, "inbound")).await;
    let id = existing["id"].as_str().unwrap();

    let mut body = gateway(EMAIL, "inbound");
    body["properties"] = json!({ "note": "a\u{0}b" });
    let answers = [
        ("submit, in a value", sales.submit(&body).await),
        (
            "change, in a key",
            sales.change_properties(id, &json!({ "k\u{0}": 1 })).await,
        ),
        (
            "change, in a nested value",
            sales
                .change_properties(id, &json!({ "k": { "deep": ["\u{0}"] } }))
                .await,
        ),
    ];
    for (what, answer) in answers {
        assert_eq!(answer.status, 422, "{what}: {answer}");
        answer.assert_error(422, "invalid_field");
        assert!(
            answer.field().is_some_and(|f| f.starts_with("properties")),
            "{what}: {answer}"
        );
    }
    assert_eq!(sales.counts().await, (1, 1));
    assert_eq!(sales.get(id).await.body, existing);
    assert_eq!(sales.queue_order(EMAIL, "inbound").await.0, 1);
}

/// The 64 KiB bound on properties holds for what is stored, not only for one
/// request: patches cannot grow them past it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn properties_cannot_grow_past_64_kib_by_patches() {
    let sales = spawn_instance(Solution::Sales).await;
    let id = sales.submit_ok(&gateway(EMAIL, "inbound")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let half = "x".repeat(40_000);
    let first = sales.change_properties(&id, &json!({ "a": half })).await;
    assert_eq!(first.status, 200, "{first}");
    let second = sales.change_properties(&id, &json!({ "b": half })).await;
    second.assert_invalid_field("properties");
    let stored: i64 =
        sqlx::query_scalar("SELECT octet_length(properties::text)::int8 FROM interactions")
            .fetch_one(&sales.pool)
            .await
            .unwrap();
    assert!(stored <= 64 * 1024, "{stored} bytes of properties stored");
    assert_eq!(sales.counts().await, (1, 2));
    // Replacing a big value with another stays within the bound.
    let replaced = sales
        .change_properties(&id, &json!({ "a": "small", "b": half }))
        .await;
    assert_eq!(replaced.status, 200, "{replaced}");
}

/// Every error is JSON with a code, including a method the route does not
/// take.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_gets_a_json_error() {
    let sales = spawn_instance(Solution::Sales).await;
    let id = sales.submit_ok(&gateway(EMAIL, "inbound")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (method, path) in [
        (Method::PUT, "/v1/interactions".to_owned()),
        (Method::DELETE, format!("/v1/interactions/{id}")),
        (Method::GET, format!("/v1/interactions/{id}/stop")),
    ] {
        let answer = sales
            .send_raw(method.clone(), &path, Some("application/json"), "{}")
            .await;
        assert_eq!(answer.status, 405, "{method} {path}: {answer}");
        assert!(
            answer.code().is_some() && answer.body["error"]["message"].is_string(),
            "{method} {path}: not a JSON error: {answer:?}"
        );
    }
    assert_eq!(sales.counts().await, (1, 1));
}

// ---- 8. Two instances in one process ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sales_and_support_run_side_by_side_on_separate_databases() {
    let (sales, support) = tokio::join!(
        spawn_instance(Solution::Sales),
        spawn_instance(Solution::Support)
    );
    assert_ne!(sales.db.name(), support.db.name());
    assert_ne!(sales.addr, support.addr);

    let mut own = Vec::new();
    for instance in [&sales, &support] {
        let solution = instance.solution;
        let other = solution.other();
        for process in solution.processes() {
            let answer = instance.submit(&gateway(process, "inbound")).await;
            assert_eq!(
                answer.status,
                201,
                "{} {process}: {answer}",
                solution.name()
            );
            own.push((solution, answer.id().to_owned()));
        }
        for process in other.processes() {
            let answer = instance.submit(&gateway(process, "inbound")).await;
            answer.assert_error(403, "out_of_scope");
            instance
                .queue(process, "inbound")
                .await
                .assert_error(403, "out_of_scope");
        }
        assert_eq!(instance.scope().await.body["instance"], solution.name());
    }

    // Each database holds its own instance's rows and nothing else.
    for instance in [&sales, &support] {
        let processes: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT process FROM interactions ORDER BY process")
                .fetch_all(&instance.pool)
                .await
                .unwrap();
        assert_eq!(processes, instance.solution.processes());
        let event_processes: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT process FROM interaction_events ORDER BY process")
                .fetch_all(&instance.pool)
                .await
                .unwrap();
        assert_eq!(event_processes, instance.solution.processes());
        assert_eq!(instance.counts().await, (2, 2));
        let lease = instance.lease().await;
        assert_eq!(lease.1.as_deref(), Some(instance.solution.name()));
    }
    // One cannot see the other's interactions, even by id.
    for (solution, id) in &own {
        let (mine, theirs) = if *solution == Solution::Sales {
            (&sales, &support)
        } else {
            (&support, &sales)
        };
        assert_eq!(mine.get(id).await.status, 200);
        theirs.get(id).await.assert_error(404, "not_found");
    }

    // Stopping one leaves the other serving.
    let support_lease = support.lease().await;
    sales.shutdown().await.expect("sales stops cleanly");
    assert_eq!(support.readyz().await.status, 200);
    let late = support
        .submit_ok(&gateway("support-chat", "overflow"))
        .await;
    assert_eq!(late["state"], "queued");
    for (solution, id) in own.iter().filter(|(s, _)| *s == Solution::Support) {
        let answer = support.get(id).await;
        assert_eq!(answer.status, 200, "{} {id}: {answer}", solution.name());
    }
    assert_eq!(
        support.lease().await,
        support_lease,
        "its lease is untouched"
    );
}

// ---- The harness itself ----

#[test]
fn the_sweep_drops_only_suite_databases_older_than_an_hour() {
    let now = 1_800_000_000;
    assert!(common::db::is_stale("ixs_test_1799990000_0123abcd", now));
    assert!(
        !common::db::is_stale("ixs_test_1799999000_0123abcd", now),
        "younger than 1 h"
    );
    assert!(
        !common::db::is_stale("ixs_test_1799990000_0123abc", now),
        "not 8 hex"
    );
    assert!(!common::db::is_stale("ixs_test_abc_0123abcd", now));
    assert!(!common::db::is_stale("ixs_sales", now));
    assert_eq!(
        common::db::with_database("postgres://u:p@h:1/postgres?sslmode=disable", "x"),
        "postgres://u:p@h:1/x?sslmode=disable"
    );
    assert_eq!(
        common::db::with_database("postgres://postgres@127.0.0.1", "x"),
        "postgres://postgres@127.0.0.1/x"
    );
}
