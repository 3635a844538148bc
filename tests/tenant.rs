//! The configuration server and live scope: one configuration server on a
//! scratch copy of the example tenant, and the instances `sales` and
//! `support` following it, each on its own database. Each serves exactly
//! its processes; a process moved between them in the tenant's files moves
//! live; one's outage leaves the other alone; both ride out the
//! configuration server's. Who may do what is in `tenant_refusals.rs`.
//!
//! Waits are bounded polls; nothing is asserted after a sleep.

mod common;

use common::instance::{ADMIN, settings_on_server};
use common::tenant::{
    PATIENCE, SCOPE_CHANGE, assert_out_of_scope, cached_revision, chat, held_after, ids_of,
    journal, ready_from, rows,
};
use common::{
    Answer, Solution, Tenant, TestConfigServer, TestDb, eventually, gateway, journal_gaps,
    start_on_server, tweak,
};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

// ---- 1. Each serves exactly its processes; cross-scope is refused ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_instance_serves_exactly_its_processes_and_refuses_the_others() {
    let tenant = Tenant::start().await;
    for instance in tenant.instances() {
        let solution = instance.solution;
        let scope = instance.scope().await;
        assert_eq!(scope.status, 200, "{scope}");
        assert_eq!(instance.served_processes().await, solution.processes());
        assert_eq!(scope.body["instance"], solution.name());
        assert_eq!(scope.body["application"], solution.application());
        assert_eq!(scope.body["person"], format!("svc-{}", solution.name()));
        assert_eq!(
            scope.body["access_groups"],
            json!([format!("{}-routing", solution.name())])
        );
        assert_eq!(scope.body["source"], "config_server");
        assert_eq!(scope.body["revision"], 1);
        let ready = instance.readyz().await;
        assert_eq!(ready.status, 200, "{ready}");
        assert_eq!(ready.body["source"], "config_server");
    }

    // One interaction in each process, each in its own instance.
    let mut own = Vec::new();
    for instance in tenant.instances() {
        let mut mine = Vec::new();
        for process in instance.solution.processes() {
            mine.push(instance.submit_ok(&gateway(process, "inbound")).await);
        }
        own.push(mine);
    }
    let before = tenant.counts().await;
    assert_eq!(before, [(2, 2), (2, 2)]);

    for (index, instance) in tenant.instances().into_iter().enumerate() {
        let name = instance.solution.name();
        let mine = own[index][1]["id"].as_str().unwrap();
        let theirs: Vec<&str> = own[1 - index]
            .iter()
            .map(|i| i["id"].as_str().unwrap())
            .collect();
        for process in instance.solution.other().processes() {
            let mut with_id = gateway(process, "inbound");
            with_id["external_id"] = json!(format!("mail-{process}"));
            let refused = [
                (
                    "submit",
                    instance.submit(&gateway(process, "inbound")).await,
                ),
                (
                    "submit with an external id",
                    instance.submit(&with_id).await,
                ),
                ("find", instance.find(&[("process", process)]).await),
                ("queue snapshot", instance.queue(process, "inbound").await),
                (
                    "place its own in a foreign queue",
                    instance
                        .place_in_queue(mine, &json!({ "queue": "inbound", "process": process }))
                        .await,
                ),
            ];
            for (what, answer) in &refused {
                assert_out_of_scope(&format!("{name}: {what} {process}"), answer, process);
            }
        }
        // The other instance's interactions do not exist here.
        for id in theirs {
            let refused = [
                ("get", instance.get(id).await),
                (
                    "change properties",
                    instance.change_properties(id, &json!({ "x": 1 })).await,
                ),
                (
                    "place in queue",
                    instance
                        .place_in_queue(id, &json!({ "queue": "overflow" }))
                        .await,
                ),
                ("stop", instance.stop(id, "not mine").await),
            ];
            for (what, answer) in &refused {
                assert_eq!(answer.status, 404, "{name}: {what} {id}: {answer}");
                answer.assert_error(404, "not_found");
            }
        }
        // Find without a filter sees its own interactions only.
        let mut found = instance.find_ids(&[]).await;
        found.sort();
        let mut expected: Vec<String> = own[index]
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect();
        expected.sort();
        assert_eq!(found, expected, "{name}");
    }

    assert_eq!(tenant.counts().await, before, "nothing written in either");
    for (index, instance) in tenant.instances().into_iter().enumerate() {
        for interaction in &own[index] {
            let now = instance.get(interaction["id"].as_str().unwrap()).await;
            assert_eq!(&now.body, interaction, "untouched");
        }
    }
}

// ---- 2. Moving a process between solutions, live ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_sales_chat_to_support_and_back_applies_live_within_a_second() {
    let tenant = Tenant::start().await;
    let (sales, support) = (&tenant.sales, &tenant.support);

    // sales-chat in sales: queued in both queues, changed, and in an agent's
    // hands.
    let low = sales.submit_ok(&chat("sales-chat", "inbound", 1)).await;
    let high = sales.submit_ok(&chat("sales-chat", "inbound", 5)).await;
    let mid = sales.submit_ok(&chat("sales-chat", "inbound", 3)).await;
    let over = sales.submit_ok(&chat("sales-chat", "inbound", 2)).await;
    let id = |i: &Value| i["id"].as_str().unwrap().to_owned();
    let (low, high, mid, over) = (id(&low), id(&high), id(&mid), id(&over));
    let changed = sales
        .change_properties(&mid, &json!({ "segment": "gold" }))
        .await;
    assert_eq!(changed.status, 200, "{changed}");
    let moved = sales
        .place_in_queue(&over, &json!({ "queue": "overflow" }))
        .await;
    assert_eq!(moved.status, 200, "{moved}");
    let anna = sales.token_of("anna").await;
    let held = sales
        .submit_with(&anna, &chat("sales-chat", "inbound", 0))
        .await;
    assert_eq!(held.status, 201, "{held}");
    assert_eq!(held.body["state"], "handling");
    let held = held.id().to_owned();
    let email = sales.submit_ok(&gateway("sales-email", "inbound")).await;
    let email = id(&email);

    let chats = [&low, &high, &mid, &over, &held];
    let mut stored = Vec::new();
    for id in chats {
        let answer = sales.get(id).await;
        assert_eq!(answer.status, 200, "{answer}");
        stored.push(answer.body);
    }
    let inbound = sales.queue("sales-chat", "inbound").await;
    assert_eq!(ids_of(&inbound), [high.clone(), mid.clone(), low.clone()]);
    let overflow = sales.queue("sales-chat", "overflow").await;
    assert_eq!(ids_of(&overflow), [over.as_str()]);
    let [sales_before, support_before] = tenant.counts().await;

    // Out of sales-routing, into support-routing.
    let written = Instant::now();
    tenant.server.move_sales_chat_to_support();
    let latency = held_after(
        written,
        PATIENCE,
        "sales-chat to move to support",
        || async {
            sales.served_processes().await == ["sales-email"]
                && support.served_processes().await
                    == ["sales-chat", "support-chat", "support-email"]
        },
    )
    .await;
    eprintln!("sales-chat served by support {latency:?} after the file write");
    assert!(
        latency < SCOPE_CHANGE,
        "the move took {latency:?} from the file write"
    );

    // sales no longer serves it, and writes nothing for it.
    assert_out_of_scope(
        "sales: submit",
        &sales.submit(&chat("sales-chat", "inbound", 1)).await,
        "sales-chat",
    );
    for id in chats {
        assert_out_of_scope("sales: get", &sales.get(id).await, "sales-chat");
        assert_out_of_scope("sales: stop", &sales.stop(id, "gone").await, "sales-chat");
        assert_out_of_scope(
            "sales: change properties",
            &sales.change_properties(id, &json!({ "x": 1 })).await,
            "sales-chat",
        );
        assert_out_of_scope(
            "sales: place in queue",
            &sales
                .place_in_queue(id, &json!({ "queue": "inbound" }))
                .await,
            "sales-chat",
        );
    }
    assert_out_of_scope(
        "sales: snapshot",
        &sales.queue("sales-chat", "inbound").await,
        "sales-chat",
    );
    assert_out_of_scope(
        "sales: find",
        &sales.find(&[("process", "sales-chat")]).await,
        "sales-chat",
    );
    assert_eq!(sales.find_ids(&[]).await, [email.as_str()]);
    assert_eq!(sales.readyz().await.status, 200);

    // support serves it, from its own (empty) database.
    let theirs = support.submit(&chat("sales-chat", "inbound", 4)).await;
    assert_eq!(theirs.status, 201, "{theirs}");
    let theirs = theirs.id().to_owned();
    assert_eq!(
        ids_of(&support.queue("sales-chat", "inbound").await),
        [theirs.as_str()]
    );
    support.get(&low).await.assert_error(404, "not_found");
    assert_eq!(
        sales.counts().await,
        sales_before,
        "nothing written in sales"
    );
    assert_eq!(
        support.counts().await,
        (support_before.0 + 1, support_before.1 + 1)
    );

    // And back.
    let written = Instant::now();
    tenant.server.move_sales_chat_back();
    let latency = held_after(written, PATIENCE, "sales-chat to move back", || async {
        sales.served_processes().await == Solution::Sales.processes()
            && support.served_processes().await == Solution::Support.processes()
    })
    .await;
    eprintln!("sales-chat served by sales again {latency:?} after the file write");
    assert!(
        latency < SCOPE_CHANGE,
        "the move back took {latency:?} from the file write"
    );
    assert_out_of_scope(
        "support: submit",
        &support.submit(&chat("sales-chat", "inbound", 1)).await,
        "sales-chat",
    );
    assert_out_of_scope("support: get", &support.get(&theirs).await, "sales-chat");
    assert_out_of_scope(
        "support: stop",
        &support.stop(&theirs, "gone").await,
        "sales-chat",
    );

    // sales serves its interactions again exactly where they were.
    for (id, before) in chats.iter().zip(&stored) {
        let now = sales.get(id).await;
        assert_eq!(&now.body, before, "{id} as it was");
    }
    let again = sales.queue("sales-chat", "inbound").await;
    assert_eq!(again.body["interactions"], inbound.body["interactions"]);
    assert_eq!(again.body["depth"], 3);
    let again = sales.queue("sales-chat", "overflow").await;
    assert_eq!(again.body["interactions"], overflow.body["interactions"]);
    assert_eq!(
        sales.counts().await,
        sales_before,
        "nothing written meanwhile"
    );

    // ... and changeable again.
    let answer = sales
        .change_properties(&low, &json!({ "back": true }))
        .await;
    assert_eq!(answer.status, 200, "{answer}");
    assert_eq!(answer.body["version"], 2);
    let answer = sales.stop(&high, "answered").await;
    assert_eq!(answer.status, 200, "{answer}");
    assert_eq!(answer.body["state"], "stopped");
    let answer = sales
        .place_in_queue(&over, &json!({ "queue": "inbound" }))
        .await;
    assert_eq!(answer.status, 200, "{answer}");
    let answer = sales
        .request_as(
            Some(&anna),
            Method::POST,
            &format!("/v1/interactions/{held}/stop"),
            Some(&json!({ "reason": "done" })),
        )
        .await;
    assert_eq!(answer.status, 200, "anna stops her own chat: {answer}");
    sales.submit_ok(&chat("sales-chat", "inbound", 1)).await;
    assert_eq!(
        ids_of(&sales.queue("sales-chat", "inbound").await)[..2],
        [mid.clone(), over.clone()]
    );
    assert!(journal_gaps(&sales.pool).await.is_empty());
    assert!(journal_gaps(&support.pool).await.is_empty());
}

// ---- 3. One solution's outage or new database leaves the other alone ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_sales_or_recreating_its_database_leaves_support_alone() {
    let Tenant {
        server,
        sales,
        support,
    } = Tenant::start().await;
    let mut sales_ids = Vec::new();
    for process in Solution::Sales.processes() {
        sales_ids.push(sales.submit_ok(&gateway(process, "inbound")).await);
    }
    let mut support_ids = Vec::new();
    for process in Solution::Support.processes() {
        support_ids.push(support.submit_ok(&gateway(process, "inbound")).await);
    }
    let support_scope = support.scope().await.body;
    let support_lease = support.lease().await;

    // sales stops: support goes on as before.
    let sales_db = sales.db.clone();
    sales.shutdown().await.expect("sales stops cleanly");
    let ready = support.readyz().await;
    assert_eq!(ready.status, 200, "{ready}");
    assert_eq!(support.scope().await.body, support_scope);
    let late = support
        .submit_ok(&gateway("support-chat", "overflow"))
        .await;
    for interaction in &support_ids {
        let now = support.get(interaction["id"].as_str().unwrap()).await;
        assert_eq!(&now.body, interaction);
    }
    let support_rows = rows(&support.pool).await;
    let support_journal = journal(&support.pool).await;
    assert_eq!(support_rows.len(), 3);

    // sales's database is thrown away; a new sales starts on a fresh one.
    sales_db.drop_now().await;
    assert!(!sales_db.exists().await);
    let mut sales = start_on_server(sales_db.clone(), Solution::Sales, &server.url(), |_| {}).await;
    sales.wait_ready().await;
    sales.act_as(ADMIN).await;
    assert!(sales_db.exists().await, "re-created");
    assert_eq!(sales.counts().await, (0, 0));
    assert_eq!(sales.served_processes().await, Solution::Sales.processes());
    for interaction in &sales_ids {
        let id = interaction["id"].as_str().unwrap();
        sales.get(id).await.assert_error(404, "not_found");
    }
    sales.submit_ok(&gateway("sales-email", "inbound")).await;

    // support's rows, journal and lease are exactly what they were.
    assert_eq!(rows(&support.pool).await, support_rows);
    assert_eq!(journal(&support.pool).await, support_journal);
    assert_eq!(support.lease().await, support_lease);
    assert_eq!(support.scope().await.body, support_scope);
    let answer = support.get(late["id"].as_str().unwrap()).await;
    assert_eq!(answer.body, late);
    support
        .submit_ok(&gateway("support-email", "inbound"))
        .await;
    assert_eq!(support.counts().await, (4, 4));
}

/// `GET /v1/instances` of the configuration server as `person`: each
/// instance's application, solution, address and whether it is connected.
async fn instances_as(
    server: &TestConfigServer,
    person: &str,
) -> Vec<(String, String, String, bool)> {
    let answer = server.get_as(person, "/v1/instances").await;
    assert_eq!(answer.status, 200, "{answer}");
    answer.body["instances"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {answer}"))
        .iter()
        .map(|i| {
            let text = |key: &str| {
                i[key]
                    .as_str()
                    .unwrap_or_else(|| panic!("{key}: {i}"))
                    .to_owned()
            };
            (
                text("application"),
                text("instance"),
                text("address"),
                i["connected"] == true,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configuration_server_lists_its_instances_to_their_readers_and_one_stopped_as_gone() {
    let Tenant {
        server,
        sales,
        support,
    } = Tenant::start().await;
    let (sales_addr, support_addr) = (
        format!("http://{}", sales.addr),
        format!("http://{}", support.addr),
    );
    let both = |sales_connected: bool| {
        vec![
            (
                "ixs-sales".to_owned(),
                "sales".to_owned(),
                sales_addr.clone(),
                sales_connected,
            ),
            (
                "ixs-support".to_owned(),
                "support".to_owned(),
                support_addr.clone(),
                true,
            ),
        ]
    };
    // Each follows the server once its watch is open.
    common::eventually(
        Duration::from_secs(10),
        "both instances connected",
        || async {
            let listed = instances_as(&server, "rita").await;
            (listed == both(true)).then_some(())
        },
    )
    .await;
    let answer = server.get_as("rita", "/v1/instances").await;
    let revision = server.status().await["revision"].clone();
    for instance in answer.body["instances"].as_array().unwrap() {
        assert_eq!(instance["revision"], revision, "{instance}");
    }
    // The gateway reads processes, not the applications: it sees none.
    assert_eq!(instances_as(&server, "gateway").await, []);
    // A token is required.
    let bare = reqwest::get(format!("{}/v1/instances", server.url()))
        .await
        .expect("GET /v1/instances");
    assert_eq!(bare.status(), 401);

    // sales stops: still known, with its address, and no longer connected.
    sales.shutdown().await.expect("sales stops cleanly");
    common::eventually(Duration::from_secs(10), "sales shown as gone", || async {
        let listed = instances_as(&server, "rita").await;
        (listed == both(false)).then_some(())
    })
    .await;
    drop(support);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ixs_stats_prints_every_instance_of_the_tenant_and_one_stopped_as_down() {
    let Tenant {
        server,
        sales,
        support,
    } = Tenant::start().await;
    sales.submit_ok(&gateway("sales-email", "inbound")).await;
    let url = server.url();
    let (sales_addr, support_addr) = (
        format!("http://{}", sales.addr),
        format!("http://{}", support.addr),
    );
    // Both follow the configuration server before the table is read.
    eventually(
        Duration::from_secs(10),
        "both instances connected",
        || async {
            let listed = server.get_as("rita", "/v1/instances").await;
            let all = listed.body["instances"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            (all.len() == 2 && all.iter().all(|i| i["connected"] == true)).then_some(())
        },
    )
    .await;
    let args = ["stats", "--config-server", url.as_str(), "--person", "rita"];
    let stats = || common::process::run(&args, &[("IXS_PASSWORD", "demo")], None, "");
    let printed = stats().await;
    assert_eq!(printed.code, Some(0), "{printed}");
    let text = printed.stdout.clone();
    let sales_at = text
        .find(&format!(
            "sales {sales_addr}, following the configuration server: up"
        ))
        .unwrap_or_else(|| panic!("sales is up in:\n{text}"));
    let support_at = text
        .find(&format!(
            "support {support_addr}, following the configuration server: up"
        ))
        .unwrap_or_else(|| panic!("support is up in:\n{text}"));
    let sales_block = &text[sales_at..support_at];
    let inbound = sales_block
        .lines()
        .find(|line| line.trim_start().starts_with("sales-email/inbound"))
        .unwrap_or_else(|| panic!("sales-email/inbound in:\n{sales_block}"));
    let columns: Vec<&str> = inbound.split_whitespace().collect();
    // queue, depth, oldest, entered.
    assert_eq!((columns[1], columns[3]), ("1", "1"), "{inbound}");
    assert!(sales_block.contains("anna"), "{sales_block}");
    assert!(
        text[support_at..].contains("support-email/inbound"),
        "{text}"
    );

    // support stops: shown as down, not as zeros, and the exit says so.
    support.shutdown().await.expect("support stops cleanly");
    let printed = stats().await;
    assert_eq!(printed.code, Some(1), "{printed}");
    assert!(
        printed.stdout.contains(&format!("support {support_addr}")),
        "{printed}"
    );
    let support_line = printed
        .stdout
        .lines()
        .find(|line| line.starts_with("support "))
        .unwrap_or_else(|| panic!("a line for support in {printed}"));
    assert!(
        support_line.contains(": DOWN (unreachable"),
        "{support_line}"
    );
    assert!(
        printed.stdout.contains(&format!(
            "sales {sales_addr}, following the configuration server: up"
        )),
        "{printed}"
    );
    drop(sales);
}

// ---- 4. The configuration server down, and back ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_config_server_down_both_keep_serving_and_catch_up_when_it_returns() {
    let Tenant {
        mut server,
        sales,
        mut support,
    } = Tenant::start().await;
    // Each keeps the configuration it serves in its own database.
    for instance in [&sales, &support] {
        eventually(
            PATIENCE,
            "the configuration cached in the database",
            || async { (cached_revision(&instance.pool).await == Some(1)).then_some(()) },
        )
        .await;
    }
    let mut before = Vec::new();
    for instance in [&sales, &support] {
        before.push(
            instance
                .submit_ok(&gateway(instance.solution.email(), "inbound"))
                .await,
        );
    }

    server.stop().await;
    for (instance, earlier) in [&sales, &support].into_iter().zip(&before) {
        let name = instance.solution.name();
        let ready = eventually(PATIENCE, "readyz to say cached", || async {
            let ready = instance.readyz().await;
            assert_eq!(ready.status, 200, "{name} keeps serving: {ready}");
            (ready.body["source"] == "cache").then_some(ready)
        })
        .await;
        let reason = ready.body["reason"].as_str().unwrap();
        assert!(reason.contains("unreachable"), "{name}: {ready}");
        assert_eq!(ready.body["revision"], 1, "{name}: {ready}");
        let scope = instance.scope().await;
        assert_eq!(scope.body["source"], "cache", "{name}: {scope}");
        assert_eq!(
            instance.served_processes().await,
            instance.solution.processes()
        );
        // Tokens issued before stay valid: submit and get work.
        let new = instance
            .submit_ok(&gateway(instance.solution.chat(), "inbound"))
            .await;
        assert_eq!(instance.get(new["id"].as_str().unwrap()).await.body, new);
        let id = earlier["id"].as_str().unwrap();
        assert_eq!(&instance.get(id).await.body, earlier);
    }

    // sales restarted meanwhile starts from its cache.
    let sales_db = sales.db.clone();
    sales.shutdown().await.expect("sales stops cleanly");
    let mut sales = start_on_server(sales_db, Solution::Sales, &server.url(), |_| {}).await;
    let ready = eventually(PATIENCE, "the restarted sales to be ready", || {
        ready_from(&sales, "cache")
    })
    .await;
    let reason = ready.body["reason"].as_str().unwrap();
    assert!(reason.contains("unreachable"), "{ready}");
    assert_eq!(ready.body["revision"], 1, "{ready}");
    assert_eq!(ready.body["processes"], 2, "{ready}");

    // A change made while the server is down applies when it returns on
    // the same address, and neither instance stops serving meanwhile.
    server.move_sales_chat_to_support();
    server.start().await;
    // The restarted server forgot the persons' tokens it gave, so the
    // instances can no longer re-check the sessions opened before: those
    // end as the instances reconnect, and persons log in again.
    sales.act_as(ADMIN).await;
    support.act_as(ADMIN).await;
    let returned = Instant::now();
    // Per instance: when it was first and last seen not ready, how often,
    // and what it said first.
    let mut gaps: [Option<(Duration, Duration, usize, Answer)>; 2] = [None, None];
    let deadline = returned + PATIENCE;
    let applied = loop {
        for (gap, instance) in gaps.iter_mut().zip([&sales, &support]) {
            let ready = instance.readyz().await;
            if ready.status != 200 {
                let at = returned.elapsed();
                let seen = gap.get_or_insert((at, at, 0, ready));
                seen.1 = at;
                seen.2 += 1;
            }
        }
        let moved = sales.served_processes().await == ["sales-email"]
            && support.served_processes().await == ["sales-chat", "support-chat", "support-email"];
        let live = ready_from(&sales, "config_server").await.is_some()
            && ready_from(&support, "config_server").await.is_some();
        if moved && live {
            break Some(returned.elapsed());
        }
        if Instant::now() > deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let gaps: Vec<String> = gaps
        .iter()
        .zip(["sales", "support"])
        .filter_map(|(gap, name)| {
            let (first, last, count, answer) = gap.as_ref()?;
            Some(format!(
                "{name}: not ready {count} times from {first:?} to {last:?} after the \
                 server's return, first answer: {answer}"
            ))
        })
        .collect();
    let gaps = gaps.join("\n");
    let Some(took) = applied else {
        panic!(
            "the change made while the server was down did not apply within {PATIENCE:?} of \
             its return; sales: {}, support: {}; not ready meanwhile:\n{gaps}",
            sales.scope().await,
            support.scope().await,
        );
    };
    eprintln!("the change applied {took:?} after the configuration server returned");
    assert!(
        gaps.is_empty(),
        "an instance stopped serving while the configuration server returned (the change \
         applied {took:?} after it):\n{gaps}"
    );
    support.submit_ok(&chat("sales-chat", "inbound", 1)).await;
    assert_out_of_scope(
        "sales: submit",
        &sales.submit(&chat("sales-chat", "inbound", 1)).await,
        "sales-chat",
    );
}

/// An instance that stood by for its lease (its previous holder's lease had
/// not run out yet) keeps the configuration it serves in its database too,
/// so that it can start again while the configuration server is down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_waited_for_its_lease_caches_its_configuration_too() {
    let mut server = TestConfigServer::spawn().await;
    let db = Arc::new(TestDb::create().await);
    // The database as a previous sales left it: migrated, its lease held
    // for one more second.
    ixs::daemon::migrate(&settings_on_server(Solution::Sales, &db, &server.url()))
        .await
        .expect("migrate");
    let pool = db.pool().await;
    sqlx::query(
        "UPDATE instance_lease SET holder = 'previous', instance = 'sales', epoch = epoch + 1, \
         expires_at = now() + interval '1 second'",
    )
    .execute(&pool)
    .await
    .expect("hold the lease");
    let sales = start_on_server(
        db.clone(),
        Solution::Sales,
        &server.url(),
        tweak::wait_for_lease,
    )
    .await;
    sales.wait_ready().await;
    assert_eq!(sales.lease().await.1.as_deref(), Some("sales"));
    eventually(
        PATIENCE,
        "the configuration cached in the database",
        || async { (cached_revision(&pool).await == Some(1)).then_some(()) },
    )
    .await;

    server.stop().await;
    sales.shutdown().await.expect("sales stops cleanly");
    let sales = start_on_server(db, Solution::Sales, &server.url(), |_| {}).await;
    let ready = eventually(PATIENCE, "sales to be ready from its cache", || {
        ready_from(&sales, "cache")
    })
    .await;
    assert_eq!(ready.body["processes"], 2, "{ready}");
}

/// Stopping the configuration server on request (SIGTERM, or here its
/// cancellation token) is a clean stop, whatever connections it has open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_server_asked_to_stop_reports_a_clean_stop() {
    let mut server = TestConfigServer::spawn().await;
    // A client that keeps its connection open between requests, as the
    // instances' clients do.
    let client = reqwest::Client::new();
    let mut failures = Vec::new();
    for round in 0..100 {
        let health = client
            .get(format!("{}/healthz", server.url()))
            .send()
            .await
            .expect("GET /healthz");
        assert_eq!(health.status(), 200);
        if let Err(e) = server.stop_outcome().await {
            failures.push(format!("stop {round}: {e:#}"));
        }
        server.start().await;
    }
    assert!(
        failures.is_empty(),
        "{} of 100 requested stops were reported as failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---- Scope moves while requests run ----

/// A process leaves and re-enters the scope again and again while a client
/// keeps acting on its interactions: every answer is the interaction moved
/// (200), outside the scope (403), or not servable at that moment (503) —
/// never 500, never a change lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_moving_back_and_forth_never_answers_500() {
    let tenant = Tenant::start().await;
    let sales = &tenant.sales;
    let mut chats = Vec::new();
    for n in 0..20 {
        chats.push(
            sales.submit_ok(&chat("sales-chat", "inbound", n % 5)).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let moving = std::sync::atomic::AtomicBool::new(true);
    let requests = async {
        let mut seen: std::collections::BTreeMap<(u16, String), usize> = Default::default();
        let mut n = 0usize;
        while moving.load(std::sync::atomic::Ordering::Relaxed) {
            let id = &chats[n % chats.len()];
            let queue = if n % 2 == 0 { "overflow" } else { "inbound" };
            let answer = sales.place_in_queue(id, &json!({ "queue": queue })).await;
            let code = answer.code().unwrap_or("").to_owned();
            assert!(
                matches!(
                    (answer.status, code.as_str()),
                    (200, "") | (403, "out_of_scope") | (503, "reloading" | "not_active")
                ),
                "request {n}: {answer}"
            );
            *seen.entry((answer.status, code)).or_default() += 1;
            n += 1;
        }
        seen
    };
    let moves = async {
        for _ in 0..4 {
            tenant.server.move_sales_chat_to_support();
            eventually(PATIENCE, "sales-chat to leave sales", || async {
                (sales.served_processes().await == ["sales-email"]).then_some(())
            })
            .await;
            tenant.server.move_sales_chat_back();
            eventually(PATIENCE, "sales-chat to come back", || async {
                (sales.served_processes().await == ["sales-chat", "sales-email"]).then_some(())
            })
            .await;
        }
        moving.store(false, std::sync::atomic::Ordering::Relaxed);
    };
    let (seen, ()) = tokio::join!(requests, moves);
    eprintln!("answers while sales-chat moved: {seen:?}");
    assert!(seen.contains_key(&(200, String::new())), "{seen:?}");
    assert!(
        seen.contains_key(&(403, "out_of_scope".to_owned())),
        "{seen:?}"
    );
    // What the instance answered last is what its database holds.
    for id in &chats {
        let answer = sales.get(id).await;
        assert_eq!(answer.status, 200, "{answer}");
        assert_eq!(answer.body["state"], "queued");
    }
}
