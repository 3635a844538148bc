//! Every acknowledged change survives: a graceful restart, a kill -9 of the
//! real binary under load, and a shutdown that starts while requests are in
//! flight.

mod common;

use common::process::{ServeProcess, write_config};
use common::{Answer, Solution, TestDb, TestInstance, eventually, gateway, spawn_instance};
use futures::StreamExt;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const QUEUES: [(&str, &str); 4] = [
    ("sales-email", "inbound"),
    ("sales-email", "overflow"),
    ("sales-chat", "inbound"),
    ("sales-chat", "overflow"),
];

/// Every interaction as GET returns it, by id.
async fn read_all(instance: &TestInstance, ids: &[String]) -> BTreeMap<String, Value> {
    futures::stream::iter(ids)
        .map(|id| async move {
            let answer = instance.get(id).await;
            assert_eq!(answer.status, 200, "GET {id}: {answer}");
            (id.clone(), answer.body)
        })
        .buffer_unordered(16)
        .collect()
        .await
}

/// Depth and order of every queue.
async fn queue_orders(instance: &TestInstance) -> Vec<(u64, Vec<String>)> {
    let mut orders = Vec::new();
    for (process, queue) in QUEUES {
        orders.push(instance.queue_order(process, queue).await);
    }
    orders
}

// ---- 4. Graceful restart ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_every_acknowledged_interaction() {
    let sales = spawn_instance(Solution::Sales).await;

    // 200 submissions at once, across processes, queues and priorities; some
    // by an agent, some with an external id.
    let bodies: Vec<Value> = (0..200)
        .map(|n| {
            let (process, queue) = QUEUES[n % 4];
            let mut body = gateway(process, queue);
            body["priority"] = json!((n * 7) % 11);
            body["properties"] = json!({ "n": n });
            if n % 2 == 0 {
                body["external_id"] = json!(format!("restart-{n}"));
            }
            if n % 20 == 1 {
                body["agent"] = json!("anna");
            }
            body
        })
        .collect();
    let answers = futures::future::join_all(bodies.iter().map(|b| sales.submit(b))).await;
    for answer in &answers {
        assert_eq!(answer.status, 201, "{answer}");
    }
    let ids: Vec<String> = answers.iter().map(|a| a.id().to_owned()).collect();

    // Then change some, stop some, move some — concurrently across
    // interactions, in order for each.
    let changes = ids.iter().enumerate().map(|(n, id)| {
        let sales = &sales;
        async move {
            if n % 5 == 0 {
                let a = sales
                    .change_properties(id, &json!({ "touched": true, "n": null }))
                    .await;
                assert_eq!(a.status, 200, "{a}");
            }
            if n % 3 == 0 {
                let (process, queue) = QUEUES[(n + 1) % 4];
                let a = sales
                    .place_in_queue(id, &json!({ "process": process, "queue": queue }))
                    .await;
                assert_eq!(a.status, 200, "{a}");
            }
            if n % 7 == 0 {
                let a = sales.stop(id, &format!("reason {n}")).await;
                assert_eq!(a.status, 200, "{a}");
            }
        }
    });
    futures::future::join_all(changes).await;

    let before = read_all(&sales, &ids).await;
    let orders = queue_orders(&sales).await;
    let counts = sales.counts().await;
    let total_queued: u64 = orders.iter().map(|(depth, _)| depth).sum();
    assert!(total_queued > 100, "the queues are not trivially empty");
    assert!(before.values().any(|i| i["state"] == "stopped"));
    assert!(before.values().any(|i| i["state"] == "handling"));
    assert!(before.values().any(|i| i["version"].as_i64() >= Some(3)));

    let db = sales.db.clone();
    sales.shutdown().await.expect("a clean shutdown");
    let sales = common::start_on(db, Solution::Sales, |_| {}).await;
    sales.wait_ready().await;

    let after = read_all(&sales, &ids).await;
    for (id, was) in &before {
        assert_eq!(
            &after[id], was,
            "interaction {id} changed across the restart"
        );
    }
    // Those left alone are exactly what their submitter was told.
    for (n, answer) in answers.iter().enumerate() {
        if n % 3 != 0 && n % 5 != 0 && n % 7 != 0 {
            assert_eq!(after[answer.id()], answer.body, "submission {n}");
        }
    }
    assert_eq!(
        queue_orders(&sales).await,
        orders,
        "queue depth or order changed"
    );
    assert_eq!(sales.counts().await, counts, "recovery wrote something");
    assert_eq!(
        common::journal_gaps(&sales.pool).await,
        [],
        "one event per change"
    );

    // The restarted instance goes on where the last one stopped.
    let stopped = before.values().find(|i| i["state"] == "stopped").unwrap();
    let refused = sales.stop(stopped["id"].as_str().unwrap(), "again").await;
    refused.assert_error(409, "illegal_transition");
    assert_eq!(refused.state(), Some("stopped"));
    let live = before
        .values()
        .find(|i| i["state"] == "queued" && i["version"].as_i64() >= Some(2))
        .unwrap();
    let changed = sales
        .change_properties(live["id"].as_str().unwrap(), &json!({ "after": 1 }))
        .await;
    assert_eq!(changed.status, 200, "{changed}");
    assert_eq!(
        changed.body["version"],
        live["version"].as_i64().unwrap() + 1
    );
    let repeat = sales.submit(&bodies[0]).await;
    assert_eq!(
        (repeat.status, repeat.id()),
        (200, ids[0].as_str()),
        "{repeat}"
    );
    let repeat_live = sales.submit(&bodies[2]).await;
    assert_eq!(
        (repeat_live.status, repeat_live.id()),
        (200, ids[2].as_str())
    );
}

// ---- A change the database refuses ----

/// Makes the instance's database refuse, for good, any interaction whose
/// properties hold `poison`: the API lets it through (it is valid input), so
/// the writer's refuse, split and take-back path runs for real.
async fn refuse_poison(instance: &TestInstance) {
    sqlx::query(
        "ALTER TABLE interactions ADD CONSTRAINT test_refuses_poison \
         CHECK (NOT properties ? 'poison')",
    )
    .execute(&instance.db.pool().await)
    .await
    .unwrap();
}

/// A submit the database refuses is answered `500 not_stored`, is never
/// acknowledged later, and leaves nothing behind; the gateway's retry with
/// clean data and the same external id is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submit_the_database_refused_is_never_acknowledged_later() {
    let sales = spawn_instance(Solution::Sales).await;
    refuse_poison(&sales).await;
    let mut body = gateway("sales-email", "inbound");
    body["external_id"] = json!("poison-1");
    body["properties"] = json!({ "poison": true });
    // Alongside good submits, so that some share its batch and must still
    // commit.
    let others: Vec<Value> = (0..20)
        .map(|n| {
            let mut other = gateway("sales-email", "inbound");
            other["properties"] = json!({ "n": n });
            other
        })
        .collect();
    let (refused, good) = tokio::join!(
        sales.submit(&body),
        futures::future::join_all(others.iter().map(|o| sales.submit(o)))
    );
    refused.assert_error(500, "not_stored");
    refused.assert_no_internals();
    for answer in &good {
        assert_eq!(answer.status, 201, "{answer}");
    }
    assert_eq!(sales.counts().await, (20, 20));
    let found = sales.find(&[("external_id", "poison-1")]).await;
    assert_eq!(found.body["interactions"], json!([]), "{found}");

    // The gateway retries with clean data and the same external id.
    body["properties"] = json!({ "note": "ab" });
    let retry = sales.submit(&body).await;
    assert_eq!(retry.status, 201, "{retry}");
    let stored = sales.get(retry.id()).await;
    assert_eq!(stored.status, 200, "{stored}");
    assert_eq!(stored.body, retry.body);
    assert_eq!(stored.body["properties"], json!({ "note": "ab" }));
    // The queue holds what the database holds.
    let (depth, order) = sales.queue_order("sales-email", "inbound").await;
    assert_eq!(depth, 21);
    assert!(order.contains(&retry.id().to_owned()));
}

/// A change the database refuses is answered `500 not_stored` and taken
/// back: the interaction stays as the database has it, and changeable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_the_database_refused_does_not_poison_the_interaction() {
    let sales = spawn_instance(Solution::Sales).await;
    refuse_poison(&sales).await;
    let original = sales.submit_ok(&gateway("sales-email", "inbound")).await;
    let id = original["id"].as_str().unwrap();
    let refused = sales.change_properties(id, &json!({ "poison": 1 })).await;
    refused.assert_error(500, "not_stored");
    refused.assert_no_internals();
    assert_eq!(sales.get(id).await.body, original);

    // Taken back beside the engine: the next request may find it still
    // being reloaded (503 reloading), never acting on the refused change.
    let stopped = common::eventually(
        Duration::from_secs(10),
        "the interaction takes requests again",
        || async {
            let answer = sales.stop(id, "done").await;
            match answer.code() {
                Some("reloading") => None,
                _ => Some(answer),
            }
        },
    )
    .await;
    assert_eq!(stopped.status, 200, "{stopped}");
    assert_eq!(stopped.body["version"], 2);
    assert_eq!(stopped.body["properties"], json!({}));
    assert_eq!(sales.get(id).await.body, stopped.body);
    assert_eq!(sales.journal(id).await, ["submitted", "processing_stopped"]);
}

// ---- 9. Graceful shutdown ----

/// Requests in flight when the shutdown starts are answered, and what they
/// were told is in the database; then the lease is given up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_answers_the_requests_in_flight() {
    let sales = spawn_instance(Solution::Sales).await;
    // Hold the writer: its commit checks the lease row FOR SHARE.
    let mut lock = sales.pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM instance_lease WHERE id = 1 FOR UPDATE")
        .execute(&mut *lock)
        .await
        .unwrap();

    let in_flight: Vec<_> = (0..10)
        .map(|n| {
            let client = sales.client.clone();
            let url = sales.url("/v1/interactions");
            let token = sales.token.clone();
            let mut body = gateway("sales-email", "inbound");
            body["external_id"] = json!(format!("flight-{n}"));
            tokio::spawn(async move {
                let response = client
                    .post(url)
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await?;
                Answer::from_response(response).await
            })
        })
        .collect();
    // All ten are applied in memory and wait for their commit.
    let watched = &sales;
    eventually(Duration::from_secs(10), "10 submits in flight", || async move {
        (watched.queue_order("sales-email", "inbound").await.0 == 10).then_some(())
    })
    .await;

    sales.begin_shutdown();
    let addr = sales.addr;
    eventually(
        Duration::from_secs(10),
        "the listener to close",
        || async move {
            tokio::net::TcpStream::connect(addr)
                .await
                .is_err()
                .then_some(())
        },
    )
    .await;
    assert!(
        in_flight.iter().all(|task| !task.is_finished()),
        "the submits were answered before their commit"
    );
    assert_eq!(sales.counts().await, (0, 0));

    lock.rollback().await.unwrap();
    let mut acknowledged = Vec::new();
    for task in in_flight {
        let answer = task
            .await
            .unwrap()
            .expect("an answer, not a dropped connection");
        assert_eq!(answer.status, 201, "{answer}");
        acknowledged.push(answer.id().to_owned());
    }
    let mut sales = sales;
    sales.join().await.expect("a clean shutdown");

    for id in &acknowledged {
        let state: String = sqlx::query_scalar("SELECT state FROM interactions WHERE id = $1")
            .bind(uuid::Uuid::parse_str(id).unwrap())
            .fetch_one(&sales.pool)
            .await
            .unwrap_or_else(|e| panic!("acknowledged {id} is not in the database: {e}"));
        assert_eq!(state, "queued");
    }
    assert_eq!(sales.counts().await, (10, 10));
    let (holder, instance, _) = sales.lease().await;
    assert_eq!(holder, None, "the lease is released");
    assert_eq!(instance.as_deref(), Some("sales"));
}

// ---- 5. kill -9 under load ----

/// What a client was told about one interaction.
#[derive(Debug, Clone)]
struct Acknowledged {
    external_id: String,
    state: String,
    version: i64,
    /// A change was sent and not answered: it may or may not have committed.
    unanswered: bool,
}

type Ledger = Arc<Mutex<BTreeMap<String, Acknowledged>>>;

/// Submits, stops and changes until told to stop or the server is gone,
/// recording every acknowledged answer.
async fn load_worker(
    client: reqwest::Client,
    base: String,
    worker: usize,
    ledger: Ledger,
    acks: Arc<AtomicUsize>,
    halt: Arc<AtomicBool>,
) {
    let mut n = 0;
    while !halt.load(Ordering::Relaxed) {
        n += 1;
        let (process, queue) = QUEUES[(worker + n) % 4];
        let external_id = format!("crash-{worker}-{n}");
        let mut body = gateway(process, queue);
        body["external_id"] = json!(external_id);
        body["priority"] = json!(n % 10);
        let Ok(response) = client
            .post(format!("{base}/v1/interactions"))
            .json(&body)
            .send()
            .await
        else {
            return;
        };
        let Ok(answer) = Answer::from_response(response).await else {
            return;
        };
        assert!(matches!(answer.status, 200 | 201), "submit: {answer}");
        let id = answer.id().to_owned();
        ledger.lock().unwrap().insert(
            id.clone(),
            Acknowledged {
                external_id,
                state: "queued".into(),
                version: answer.body["version"].as_i64().unwrap(),
                unanswered: false,
            },
        );
        acks.fetch_add(1, Ordering::Relaxed);

        let change = match n % 4 {
            0 => Some(("stop", json!({ "reason": "load" }))),
            1 => Some(("properties", json!({ "n": n }))),
            _ => None,
        };
        let Some((verb, payload)) = change else {
            continue;
        };
        ledger.lock().unwrap().get_mut(&id).unwrap().unanswered = true;
        let url = format!("{base}/v1/interactions/{id}/{verb}");
        let request = if verb == "stop" {
            client.post(url)
        } else {
            client.patch(url)
        };
        let Ok(response) = request.json(&payload).send().await else {
            return;
        };
        let Ok(answer) = Answer::from_response(response).await else {
            return;
        };
        assert_eq!(answer.status, 200, "{verb}: {answer}");
        let mut ledger = ledger.lock().unwrap();
        let entry = ledger.get_mut(&id).unwrap();
        entry.state = answer.body["state"].as_str().unwrap().to_owned();
        entry.version = answer.body["version"].as_i64().unwrap();
        entry.unanswered = false;
        acks.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_under_load_loses_no_acknowledged_interaction() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), Solution::Sales, &db);
    let mut first = ServeProcess::start(&config);
    first.wait_ready(Duration::from_secs(30)).await;

    let ledger: Ledger = Ledger::default();
    let acks = Arc::new(AtomicUsize::new(0));
    let halt = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|worker| {
            tokio::spawn(load_worker(
                first.client.clone(),
                first.url(""),
                worker,
                ledger.clone(),
                acks.clone(),
                halt.clone(),
            ))
        })
        .collect();
    let counted = &acks;
    eventually(
        Duration::from_secs(60),
        "400 acknowledged changes",
        || async move { (counted.load(Ordering::Relaxed) >= 400).then_some(()) },
    )
    .await;
    assert!(
        workers.iter().all(|w| !w.is_finished()),
        "the load stopped before the kill"
    );
    first.kill9();
    halt.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.expect("a load worker failed");
    }
    let ledger = ledger.lock().unwrap().clone();
    assert!(ledger.len() >= 200, "only {} acknowledged", ledger.len());

    // The dead holder's lease runs out (2 s), then the new process takes over.
    let mut second = ServeProcess::start(&config);
    second.wait_ready(Duration::from_secs(30)).await;
    let pool = db.pool().await;
    let client = second.client.clone();
    let checks = futures::stream::iter(ledger.iter())
        .map(|(id, told)| {
            let second = &second;
            let client = client.clone();
            async move {
                let found = second.get(&format!("/v1/interactions/{id}")).await;
                assert_eq!(found.status, 200, "acknowledged {id} lost: {found}");
                let version = found.body["version"].as_i64().unwrap();
                if told.unanswered {
                    assert!(version >= told.version, "{id}: {found} vs {told:?}");
                } else {
                    assert_eq!(found.body["state"], told.state.as_str(), "{id}: {told:?}");
                    assert_eq!(version, told.version, "{id}: {found}");
                }
                // A gateway repeating its submission finds it, not a new one.
                let mut body = gateway("sales-email", "inbound");
                body["external_id"] = json!(told.external_id);
                let response = client
                    .post(second.url("/v1/interactions"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let repeat = Answer::from_response(response).await.unwrap();
                assert_eq!((repeat.status, repeat.id()), (200, id.as_str()), "{repeat}");
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>();
    checks.await;

    // What the recovered instance queues is what the database holds.
    for (process, queue) in QUEUES {
        let snapshot = second.get(&format!("/v1/queues/{process}/{queue}")).await;
        let stored: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM interactions WHERE process = $1 AND queue = $2 AND state = 'queued'",
        )
        .bind(process)
        .bind(queue)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(snapshot.body["depth"].as_i64(), Some(stored), "{snapshot}");
    }

    // Each change was committed with its journal entry, or not at all.
    assert_eq!(
        common::journal_gaps(&pool).await,
        [],
        "one event per change"
    );

    // SIGTERM: a clean exit that gives the lease up.
    let status = second.terminate(Duration::from_secs(20)).await;
    assert!(status.success(), "exit {status}:\n{}", second.log());
    let holder: Option<String> =
        sqlx::query_scalar("SELECT holder FROM instance_lease WHERE id = 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(holder, None);
    pool.close().await;
}

/// An e-mail with `external_id` submitted and stopped, then the instance
/// restarted with `configure`, ready: the restarted instance, the submit's
/// body and the stop's answer.
async fn stopped_before_a_restart(
    external_id: &str,
    configure: impl FnOnce(&mut ixs::settings::Settings),
) -> (TestInstance, Value, Answer) {
    let sales = spawn_instance(Solution::Sales).await;
    let mut body = gateway("sales-email", "inbound");
    body["external_id"] = json!(external_id);
    let original = sales.submit_ok(&body).await;
    let stopped = sales
        .stop(original["id"].as_str().unwrap(), "answered")
        .await;
    assert_eq!(stopped.status, 200, "{stopped}");
    let db = sales.db.clone();
    sales.shutdown().await.expect("a clean shutdown");
    let again = common::start_on(db, Solution::Sales, configure).await;
    again.wait_ready().await;
    (again, body, stopped)
}

/// A repeat the engine no longer remembers (the original was stopped before
/// a restart) is still answered with the original, by the database's unique
/// index, and creates nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_of_an_interaction_stopped_before_a_restart_answers_the_original() {
    let (again, mut body, stopped) = stopped_before_a_restart("old-1", |_| {}).await;
    let before = again.counts().await;
    for _ in 0..2 {
        let repeat = again.submit(&body).await;
        assert_eq!(repeat.status, 200, "{repeat}");
        assert_eq!(repeat.body, stopped.body, "the stopped original, as stored");
    }
    assert_eq!(again.counts().await, before, "nothing created");
    assert_eq!(again.queue_order("sales-email", "inbound").await.0, 0);
    // A new external id still creates.
    body["external_id"] = json!("new-1");
    assert_eq!(again.submit(&body).await.status, 201);
}

/// A caller that stops waiting does not leave the engine holding what the
/// database turned away: the writer has the engine take it back, so the
/// queue and later repeats see only the stored original.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_nobody_waits_for_is_taken_back() {
    // After a restart the engine no longer knows the original; the repeat
    // waits for a writer held up by a lock, longer than the caller waits.
    let (again, body, stopped) = stopped_before_a_restart("gave-up-1", |settings| {
        settings.listen.commit_timeout = Duration::from_millis(300);
    })
    .await;
    let mut lock = again.pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM instance_lease WHERE id = 1 FOR UPDATE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let pending = again.submit(&body).await;
    assert_eq!(pending.status, 503, "{pending}");
    assert_eq!(again.queue_order("sales-email", "inbound").await.0, 1);
    lock.rollback().await.unwrap();

    let watched = &again;
    eventually(
        Duration::from_secs(10),
        "the turned-away repeat to leave the queue",
        || async move {
            (watched.queue_order("sales-email", "inbound").await.0 == 0).then_some(())
        },
    )
    .await;
    let repeat = again.submit(&body).await;
    assert_eq!(repeat.status, 200, "{repeat}");
    assert_eq!(repeat.body, stopped.body, "the stopped original, as stored");
    assert_eq!(again.counts().await.0, 1, "nothing created");
}
