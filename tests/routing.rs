//! Routing end to end over HTTP, against PostgreSQL: agents log in, open
//! their live stream and get ready; gateways submit; offers reach connected
//! agents only and are accepted, rejected, transferred; workbins, pulls by a
//! routing client, `explain` and `dry-run`; the refusals; and what a hard
//! kill leaves after a restart.
//!
//! Every wait is for an event or an answer, with a time limit that only
//! guards against a hang.

mod common;

use common::db::TestDb;
use common::instance::{ADMIN, tenant_copy, tenant_dir};
use common::process::{ServeProcess, write_config};
use common::session::Session;
use common::{Answer, Solution, gateway, spawn_instance, spawn_instance_with};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

const EMAIL: &str = "sales-email";
const CHAT: &str = "sales-chat";

/// A gateway's chat submission to `sales-chat`/`inbound`.
fn chat() -> Value {
    json!({ "process": CHAT, "queue": "inbound", "media_type": "chat" })
}

/// The interaction ids of a list of offers or holdings.
fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|item| {
            item.as_str()
                .or_else(|| item["interaction"].as_str())
                .unwrap_or_else(|| panic!("no id in {item}"))
                .to_owned()
        })
        .collect()
}

/// Asserts the agent's load in all and of `media`, and what it holds.
#[track_caller]
fn assert_load(view: &Value, media: &str, load: u64, holding: &[&str]) {
    assert_eq!(view["load"], load, "{view}");
    assert_eq!(view["media"][media]["load"], load, "{view}");
    assert_eq!(ids(&view["holding"]), holding, "{view}");
}

/// Each journal entry of `id`: its kind and agent, oldest first.
async fn journal_with_agents(pool: &sqlx::PgPool, id: &str) -> Vec<(String, Option<String>)> {
    sqlx::query_as(
        "SELECT kind, agent FROM interaction_events WHERE interaction_id = $1 ORDER BY id",
    )
    .bind(Uuid::parse_str(id).expect("interaction id"))
    .fetch_all(pool)
    .await
    .expect("read the journal")
}

fn entries(list: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    list.iter()
        .map(|(kind, agent)| ((*kind).to_owned(), agent.map(str::to_owned)))
        .collect()
}

/// Every interaction's journal holds one entry per version of it.
async fn assert_journal_whole(pool: &sqlx::PgPool) {
    assert_eq!(
        common::journal_gaps(pool).await,
        [],
        "interactions whose journal misses a change"
    );
}

/// The agent named `agent` among a decision's passed-over ones: its reason.
fn passed_reason<'a>(decision: &'a Value, agent: &str) -> Option<&'a str> {
    decision["passed"]
        .as_array()?
        .iter()
        .find(|p| p["agent"] == agent)
        .and_then(|p| p["reason"].as_str())
}

// ---- 1. The offer, the accept, the journal ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connected_ready_agent_is_offered_accepts_and_frees_its_capacity_when_it_stops() {
    let sales = spawn_instance(Solution::Sales).await;
    let anna = Session::on(&sales, "anna").await;
    let gateway_ = Session::on(&sales, "gateway").await;

    let login = anna.login(&["email"]).await;
    assert_eq!(login["logged_in"], true, "{login}");
    assert_eq!(login["connected"], false, "{login}");
    assert_eq!(login["media"]["email"]["ready"], false, "{login}");
    let mut desk = anna.stream().await;
    assert_eq!(desk.hello["name"], "anna", "{}", desk.hello);
    assert_eq!(desk.hello["connected"], true, "{}", desk.hello);
    let ready = anna.ready().await;
    assert_eq!(ready["media"]["email"]["ready"], true, "{ready}");
    let state = desk.next_of("state", &[]).await;
    assert_eq!(state["media"]["email"]["ready"], true, "{state}");

    let id = gateway_.submit(gateway(EMAIL, "inbound")).await;
    let offered = desk.offer().await;
    assert_eq!(offered["id"], id.as_str(), "{offered}");
    assert_eq!(offered["state"], "offered", "{offered}");
    assert_eq!(offered["agent"], "anna", "{offered}");
    let me = anna.me().await;
    assert_eq!(ids(&me["offers"]), [id.as_str()], "{me}");

    let accepted = anna.accept(&id).await;
    assert!(accepted["assigned_at"].is_string(), "{accepted}");
    let told = desk.next_of("interaction", &["state"]).await;
    assert_eq!(
        (&told["id"], &told["state"]),
        (&json!(id), &json!("handling"))
    );
    let me = anna.me().await;
    assert_load(&me, "email", 1, &[&id]);
    assert_eq!(ids(&me["offers"]), Vec::<String>::new(), "{me}");

    let stopped = anna
        .act(&id, "stop", Some(json!({ "reason": "answered" })))
        .await;
    assert_eq!(stopped.status, 200, "{stopped}");
    assert_eq!(stopped.body["state"], "stopped", "{stopped}");
    let told = desk.next_of("interaction", &["state"]).await;
    assert_eq!(
        (&told["id"], &told["state"]),
        (&json!(id), &json!("stopped"))
    );
    let me = anna.me().await;
    assert_load(&me, "email", 0, &[]);

    assert_eq!(
        journal_with_agents(&sales.pool, &id).await,
        entries(&[
            ("submitted", None),
            ("offered", Some("anna")),
            ("accepted", Some("anna")),
            ("processing_stopped", Some("anna")),
        ])
    );
    let own: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT kind, process, agent FROM interaction_events
         WHERE interaction_id IS NULL ORDER BY id",
    )
    .fetch_all(&sales.pool)
    .await
    .expect("read the agents' journal");
    assert_eq!(
        own,
        [
            ("agent_logged_in".to_owned(), None, Some("anna".to_owned())),
            ("agent_ready".to_owned(), None, Some("anna".to_owned())),
        ]
    );
    assert_journal_whole(&sales.pool).await;
}

// ---- 2. Only connected agents ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_agent_without_its_stream_gets_no_offer_until_the_stream_opens() {
    let sales = spawn_instance(Solution::Sales).await;
    let anna = Session::on(&sales, "anna").await;
    let admin = Session::on(&sales, ADMIN).await;
    anna.login(&["email"]).await;
    let ready = anna.ready().await;
    assert_eq!(ready["connected"], false, "{ready}");
    assert_eq!(ready["media"]["email"]["ready"], true, "{ready}");

    let id = Session::on(&sales, "gateway")
        .await
        .submit(gateway(EMAIL, "inbound"))
        .await;
    // The submit's answer came once its routing was durable too.
    let waiting = admin.interaction(&id).await;
    assert_eq!(waiting["state"], "queued", "{waiting}");
    assert_eq!(waiting["agent"], Value::Null, "{waiting}");
    assert_eq!(ids(&anna.me().await["offers"]), Vec::<String>::new());
    let explained = admin.get(&format!("/v1/interactions/{id}/explain")).await;
    assert_eq!(explained.status, 200, "{explained}");
    let now = &explained.body["decisions"][0];
    assert_eq!(now["chosen"], Value::Null, "{explained}");
    assert_eq!(
        passed_reason(now, "anna"),
        Some("disconnected"),
        "{explained}"
    );
    // Only billing specialists at this step: arno's comes third.
    assert_eq!(now["step"], 2, "{explained}");
    let arno = now["passed"]
        .as_array()
        .and_then(|passed| passed.iter().find(|p| p["agent"] == "arno"))
        .unwrap_or_else(|| panic!("arno passed over: {explained}"));
    assert_eq!(
        arno,
        &json!({ "agent": "arno", "reason": "step_not_reached", "step": 3 })
    );

    let mut desk = anna.stream().await;
    assert_eq!(desk.hello["connected"], true, "{}", desk.hello);
    assert_eq!(ids(&desk.hello["offers"]), [id.as_str()], "{}", desk.hello);
    let offered = desk.offer().await;
    assert_eq!(offered["id"], id.as_str(), "{offered}");
    let now = admin.interaction(&id).await;
    assert_eq!(
        (&now["state"], &now["agent"]),
        (&json!("offered"), &json!("anna"))
    );
    assert_journal_whole(&sales.pool).await;
}

// ---- 3. Reject ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_offer_goes_to_the_other_free_agent_and_not_back() {
    let sales = spawn_instance(Solution::Sales).await;
    let anna = Session::on(&sales, "anna").await;
    let arno = Session::on(&sales, "arno").await;
    let admin = Session::on(&sales, ADMIN).await;
    // Both are eligible for a chat's first step, which picks the longest
    // idle: anna, logged in first.
    let mut anna_desk = anna.at_work(&["chat"]).await;
    let mut arno_desk = arno.at_work(&["chat"]).await;

    let id = Session::on(&sales, "gateway").await.submit(chat()).await;
    assert_eq!(anna_desk.offer().await["id"], id.as_str());

    let rejected = anna
        .act(&id, "reject", Some(json!({ "reason": "busy" })))
        .await;
    assert_eq!(rejected.status, 200, "{rejected}");
    assert_eq!(rejected.body["state"], "queued", "{rejected}");
    assert_eq!(rejected.body["agent"], Value::Null, "{rejected}");
    let offered = arno_desk.offer().await;
    assert_eq!(offered["id"], id.as_str(), "{offered}");
    assert_eq!(offered["agent"], "arno", "{offered}");
    let now = admin.interaction(&id).await;
    assert_eq!(
        (&now["state"], &now["agent"]),
        (&json!("offered"), &json!("arno"))
    );
    let me = anna.me().await;
    assert_eq!(ids(&me["offers"]), Vec::<String>::new(), "{me}");
    assert_eq!(me["load"], 0, "{me}");
    assert_eq!(me["missed_in_row"], 1, "{me}");
    let explained = admin.get(&format!("/v1/interactions/{id}/explain")).await;
    assert_eq!(explained.status, 200, "{explained}");
    let decisions = explained.body["decisions"].as_array().expect("decisions");
    let last = decisions.last().expect("a decision");
    assert_eq!(last["chosen"], "arno", "{explained}");
    assert_eq!(
        passed_reason(last, "anna"),
        Some("rejected_recently"),
        "{explained}"
    );

    // Both turned it down: the latest to do so comes last.
    let rejected = arno.act(&id, "reject", None).await;
    assert_eq!(rejected.status, 200, "{rejected}");
    assert_eq!(anna_desk.offer().await["id"], id.as_str());
    assert_eq!(
        sales.journal(&id).await,
        [
            "submitted",
            "offered",
            "rejected",
            "offered",
            "rejected",
            "offered"
        ]
    );
    assert_journal_whole(&sales.pool).await;
}

/// The routing timers with their shortest settings, so that they fire
/// within the streams' patience: these tests wait for what the timers make
/// happen, never for a time. Their timing is tested with hand-set time in
/// the engine (`src/engine/scenarios.rs`).
fn short_timers(settings: &mut ixs::settings::Settings) {
    settings.routing.delivery_timeout = Duration::from_secs(1);
    settings.routing.desktop_grace = Duration::from_secs(1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_left_unanswered_is_revoked_offered_to_the_next_and_the_agent_set_not_ready() {
    let sales = spawn_instance_with(Solution::Sales, |settings| {
        short_timers(settings);
        settings.routing.missed_offers_limit = 1;
    })
    .await;
    let anna = Session::on(&sales, "anna").await;
    let arno = Session::on(&sales, "arno").await;
    let mut anna_desk = anna.at_work(&["chat"]).await;
    let mut arno_desk = arno.at_work(&["chat"]).await;

    let id = Session::on(&sales, "gateway").await.submit(chat()).await;
    assert_eq!(anna_desk.offer().await["id"], id.as_str());
    // anna does not answer: past the delivery timeout the offer is
    // revoked, and it was her first miss of a limit of one.
    let revoked = anna_desk
        .next_of("revoked", &["state", "interaction"])
        .await;
    assert_eq!(
        revoked,
        json!({ "interaction": id, "reason": "offer_timed_out" })
    );
    let offered = arno_desk.offer().await;
    assert_eq!(offered["id"], id.as_str(), "{offered}");
    assert_eq!(offered["agent"], "arno", "{offered}");
    let me = anna.me().await;
    assert_eq!(me["media"]["chat"]["ready"], false, "{me}");
    assert_eq!(me["media"]["chat"]["reason"], "missed_offers", "{me}");
    assert_eq!(me["load"], 0, "{me}");
    // What comes after (arno's offer may run out too by now) is not this
    // test's.
    let journal = journal_with_agents(&sales.pool, &id).await;
    assert_eq!(
        journal[..4],
        entries(&[
            ("submitted", None),
            ("offered", Some("anna")),
            ("offer_timed_out", Some("anna")),
            ("offered", Some("arno")),
        ]),
        "{journal:?}"
    );
    let agent_events: Vec<(String, String)> = sqlx::query_as(
        "SELECT kind, agent FROM interaction_events \
         WHERE interaction_id IS NULL AND agent = 'anna' ORDER BY id",
    )
    .fetch_all(&sales.pool)
    .await
    .expect("read the journal");
    assert_eq!(
        agent_events.last().map(|(kind, _)| kind.as_str()),
        Some("agent_not_ready"),
        "{agent_events:?}"
    );
    assert_journal_whole(&sales.pool).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desktop_gone_past_its_grace_is_set_not_ready_and_offered_nothing() {
    let sales = spawn_instance_with(Solution::Sales, short_timers).await;
    let anna = Session::on(&sales, "anna").await;
    let desk = anna.at_work(&["chat"]).await;
    drop(desk);
    let me = common::eventually(
        Duration::from_secs(20),
        "anna set not ready past her desktop's grace",
        || async {
            let me = anna.me().await;
            (me["media"]["chat"]["ready"] == false).then_some(me)
        },
    )
    .await;
    assert_eq!(me["connected"], false, "{me}");
    assert_eq!(me["media"]["chat"]["reason"], "disconnected", "{me}");

    // Nothing is offered to her now, even once her desktop is back: she
    // has to get ready again.
    let id = Session::on(&sales, "gateway").await.submit(chat()).await;
    let mut desk = anna.stream().await;
    assert_eq!(desk.hello["connected"], true, "{}", desk.hello);
    assert_eq!(
        desk.hello["media"]["chat"]["ready"], false,
        "{}",
        desk.hello
    );
    let admin = Session::on(&sales, ADMIN).await;
    assert_eq!(admin.interaction(&id).await["state"], "queued");
    anna.ready().await;
    assert_eq!(desk.offer().await["id"], id.as_str());
}

// ---- 4. Log-out ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_is_refused_while_handling_and_forced_places_it_back_with_its_age() {
    let sales = spawn_instance(Solution::Sales).await;
    let anna = Session::on(&sales, "anna").await;
    let arno = Session::on(&sales, "arno").await;
    let admin = Session::on(&sales, ADMIN).await;
    let mut anna_desk = anna.at_work(&["chat"]).await;
    let id = Session::on(&sales, "gateway").await.submit(chat()).await;
    assert_eq!(anna_desk.offer().await["id"], id.as_str());
    let accepted = anna.accept(&id).await;
    let submitted_at = accepted["submitted_at"].clone();

    let refused = anna.post_bare("/v1/agents/me/logout").await;
    refused.assert_error(409, "agent_busy");
    let refused = anna
        .post("/v1/agents/me/logout", json!({ "force": false }))
        .await;
    refused.assert_error(409, "agent_busy");
    let me = anna.me().await;
    assert_eq!(me["logged_in"], true, "{me}");
    assert_load(&me, "chat", 1, &[&id]);

    let mut arno_desk = arno.at_work(&["chat"]).await;
    let forced = anna
        .post("/v1/agents/me/logout", json!({ "force": true }))
        .await;
    assert_eq!(forced.status, 200, "{forced}");
    assert_eq!(forced.body["logged_in"], false, "{forced}");
    assert_eq!(
        ids(&forced.body["holding"]),
        Vec::<String>::new(),
        "{forced}"
    );
    let revoked = anna_desk
        .next_of("revoked", &["state", "interaction"])
        .await;
    assert_eq!(
        revoked,
        json!({ "interaction": id, "reason": "logged_out" })
    );

    // Back in its queue with its age, and so to the other ready agent.
    let offered = arno_desk.offer().await;
    assert_eq!(offered["id"], id.as_str(), "{offered}");
    assert_eq!(offered["submitted_at"], submitted_at, "{offered}");
    let now = admin.interaction(&id).await;
    assert_eq!(
        (&now["state"], &now["agent"]),
        (&json!("offered"), &json!("arno"))
    );
    assert_eq!(now["queue"], "inbound", "{now}");
    assert_eq!(now["submitted_at"], submitted_at, "{now}");
    assert_eq!(
        journal_with_agents(&sales.pool, &id).await,
        entries(&[
            ("submitted", None),
            ("offered", Some("anna")),
            ("accepted", Some("anna")),
            ("revoked", Some("anna")),
            ("offered", Some("arno")),
        ])
    );
    assert_journal_whole(&sales.pool).await;
}

// ---- 5. Workbins ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parking_in_a_workbin_frees_the_agent_and_taking_gives_it_back() {
    let sales = spawn_instance(Solution::Sales).await;
    let anna = Session::on(&sales, "anna").await;
    let arno = Session::on(&sales, "arno").await;
    let mut desk = anna.at_work(&["email"]).await;
    let id = Session::on(&sales, "gateway")
        .await
        .submit(gateway(EMAIL, "inbound"))
        .await;
    assert_eq!(desk.offer().await["id"], id.as_str());
    anna.accept(&id).await;
    let admin = Session::on(&sales, ADMIN).await;
    let refused = admin
        .act(
            &id,
            "place-in-workbin",
            Some(json!({ "workbin": "drafts", "owner": "nobody" })),
        )
        .await;
    refused.assert_invalid_field("owner");
    // `drafts` is one workbin per agent: her agent group cannot own one.
    anna.act(
        &id,
        "place-in-workbin",
        Some(json!({ "workbin": "drafts", "owner": "sales-agents" })),
    )
    .await
    .assert_invalid_field("owner");
    anna.act(&id, "place-in-workbin", Some(json!({ "workbin": "nope" })))
        .await
        .assert_error(404, "unknown_workbin");
    anna.act(
        &id,
        "place-in-workbin",
        Some(json!({ "workbin": "drafts", "owner": "arno" })),
    )
    .await
    .assert_error(403, "forbidden");
    assert_load(&anna.me().await, "email", 1, &[&id]);

    let parked = anna
        .act(
            &id,
            "place-in-workbin",
            Some(json!({ "workbin": "drafts" })),
        )
        .await;
    assert_eq!(parked.status, 200, "{parked}");
    assert_eq!(parked.body["state"], "parked", "{parked}");
    assert_eq!(parked.body["workbin"], "drafts", "{parked}");
    assert_eq!(parked.body["owner"], "anna", "{parked}");
    assert_eq!(parked.body["agent"], Value::Null, "{parked}");
    assert_load(&anna.me().await, "email", 0, &[]);

    let drafts = format!("/v1/workbins/{EMAIL}/drafts");
    let listed = anna.get(&drafts).await;
    assert_eq!(listed.status, 200, "{listed}");
    assert_eq!(ids_of_interactions(&listed), [id.as_str()], "{listed}");
    // Another agent's own workbin does not hold it, and anna's is not his.
    let his = arno.get(&drafts).await;
    assert_eq!(his.status, 200, "{his}");
    assert_eq!(ids_of_interactions(&his), Vec::<String>::new(), "{his}");
    arno.get(&format!("{drafts}?owner=anna"))
        .await
        .assert_error(403, "forbidden");
    arno.login(&["email"]).await;
    arno.act(&id, "take", None)
        .await
        .assert_error(403, "forbidden");

    let taken = anna.act(&id, "take", None).await;
    assert_eq!(taken.status, 200, "{taken}");
    assert_eq!(taken.body["state"], "handling", "{taken}");
    assert_eq!(taken.body["agent"], "anna", "{taken}");
    assert_eq!(taken.body["workbin"], Value::Null, "{taken}");
    assert_load(&anna.me().await, "email", 1, &[&id]);
    let listed = anna.get(&drafts).await;
    assert_eq!(
        ids_of_interactions(&listed),
        Vec::<String>::new(),
        "{listed}"
    );
    assert_eq!(
        sales.journal(&id).await,
        [
            "submitted",
            "offered",
            "accepted",
            "placed_in_workbin",
            "taken_from_workbin"
        ]
    );
    assert_journal_whole(&sales.pool).await;
}

/// The ids of an answer's `interactions`, in order.
fn ids_of_interactions(answer: &Answer) -> Vec<String> {
    answer.body["interactions"]
        .as_array()
        .unwrap_or_else(|| panic!("no interactions in {answer}"))
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect()
}

// ---- 6. Pull by a routing client ----

/// The example tenant with a queue of `sales-email` that only a routing
/// client takes from (`callbacks`, its view `router` pulled), and that
/// client: `rex`, of the group `sales-routers` with the role router.
fn tenant_with_a_router() -> tempfile::TempDir {
    let people: toml::Value = toml::from_str(
        &std::fs::read_to_string(tenant_dir().join("people.toml")).expect("people.toml"),
    )
    .expect("people.toml is TOML");
    let hash = people["person"]["anna"]["password_hash"]
        .as_str()
        .expect("anna's password hash");
    let router = format!(
        "[person.rex]\n\
         description = \"The external routing client of sales\"\n\
         folder = \"sales\"\n\
         password_hash = \"{hash}\"\n\n\
         [access_group.sales-routers]\n\
         description = \"Routing clients of the sales solution\"\n\
         folder = \"sales\"\n\
         members = [\"rex\"]\n\
         roles = [\"router\"]\n"
    );
    let queue = "[process.sales-email.queue.callbacks]\n\
         description = \"Callback requests the external router places\"\n\n\
         [process.sales-email.queue.callbacks.view.router]\n\
         description = \"Pulled by the external router, most urgent first\"\n\
         condition = \"true\"\n\
         order = \"priority desc, submitted_at asc\"\n\
         pull = true\n";
    tenant_copy(&[("people.toml", &router), ("sales.toml", queue)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_routing_client_pulls_from_its_view_and_offers_to_an_agent() {
    let tenant = tenant_with_a_router();
    let directory = tenant.path().to_owned();
    let sales = common::spawn_instance_with(Solution::Sales, |settings| {
        settings.config_server.directory = Some(directory);
    })
    .await;
    let rex = Session::on(&sales, "rex").await;
    let anna = Session::on(&sales, "anna").await;
    let rita = Session::on(&sales, "rita").await;
    let gateway_ = Session::on(&sales, "gateway").await;
    let mut desk = anna.at_work(&["email"]).await;

    let mut callback = gateway(EMAIL, "callbacks");
    callback["priority"] = json!(1);
    let low = gateway_.submit(callback.clone()).await;
    callback["priority"] = json!(5);
    let high = gateway_.submit(callback).await;
    // No strategy routes the queue: both wait for the routing client.
    for id in [&low, &high] {
        let waiting = rex.interaction(id).await;
        assert_eq!(waiting["state"], "queued", "{waiting}");
    }

    let pull = format!("/v1/views/{EMAIL}/callbacks/router/pull");
    anna.post(&pull, json!({ "count": 1 }))
        .await
        .assert_error(403, "forbidden");
    rita.post(&pull, json!({ "count": 1 }))
        .await
        .assert_error(403, "forbidden");
    rex.post(
        &format!("/v1/views/{EMAIL}/inbound/all/pull"),
        json!({ "count": 1 }),
    )
    .await
    .assert_error(409, "not_pulled");
    rex.post(
        &format!("/v1/views/{EMAIL}/callbacks/nope/pull"),
        json!({ "count": 1 }),
    )
    .await
    .assert_error(404, "unknown_view");
    let pulled = rex.post(&pull, json!({ "count": 1 })).await;
    assert_eq!(pulled.status, 200, "{pulled}");
    assert_eq!(ids_of_interactions(&pulled), [high.as_str()], "{pulled}");
    assert_eq!(
        pulled.body["interactions"][0]["state"], "routing",
        "{pulled}"
    );

    anna.act(&high, "offer", Some(json!({ "agent": "anna" })))
        .await
        .assert_error(403, "forbidden");
    let offered = rex
        .act(&high, "offer", Some(json!({ "agent": "anna" })))
        .await;
    assert_eq!(offered.status, 200, "{offered}");
    assert_eq!(offered.body["state"], "offered", "{offered}");
    assert_eq!(offered.body["agent"], "anna", "{offered}");
    assert_eq!(desk.offer().await["id"], high.as_str());
    anna.accept(&high).await;
    assert_load(&anna.me().await, "email", 1, &[&high]);
    assert_eq!(rex.interaction(&low).await["state"], "queued");
    assert_eq!(
        sales.journal(&high).await,
        ["submitted", "pulled", "offered", "accepted"]
    );
    assert_journal_whole(&sales.pool).await;
}

// ---- 7. Transfers ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_to_an_agent_stays_with_the_first_until_accepted_and_one_to_a_queue_queues() {
    let sales = spawn_instance(Solution::Sales).await;
    let anna = Session::on(&sales, "anna").await;
    let arno = Session::on(&sales, "arno").await;
    let admin = Session::on(&sales, ADMIN).await;
    // Only anna is eligible for an e-mail's first steps.
    let mut anna_desk = anna.at_work(&["email"]).await;
    let mut arno_desk = arno.at_work(&["email"]).await;
    let id = Session::on(&sales, "gateway")
        .await
        .submit(gateway(EMAIL, "inbound"))
        .await;
    assert_eq!(anna_desk.offer().await["id"], id.as_str());
    anna.accept(&id).await;

    anna.act(
        &id,
        "transfer",
        Some(json!({ "agent": "arno", "queue": "inbound" })),
    )
    .await
    .assert_invalid_field("agent");
    anna.act(&id, "transfer", Some(json!({ "agent": "nobody" })))
        .await
        .assert_invalid_field("agent");
    let transferred = anna
        .act(&id, "transfer", Some(json!({ "agent": "arno" })))
        .await;
    assert_eq!(transferred.status, 200, "{transferred}");
    assert_eq!(transferred.body["state"], "handling", "{transferred}");
    assert_eq!(transferred.body["agent"], "anna", "{transferred}");
    let offered = arno_desk.offer().await;
    assert_eq!(offered["id"], id.as_str(), "{offered}");
    let now = admin.interaction(&id).await;
    assert_eq!(
        (&now["state"], &now["agent"]),
        (&json!("handling"), &json!("anna"))
    );
    assert_load(&anna.me().await, "email", 1, &[&id]);
    let his = arno.me().await;
    assert_eq!(ids(&his["offers"]), [id.as_str()], "{his}");
    // The offer is arno's to answer, not anna's.
    let own = anna.act(&id, "accept", None).await;
    own.assert_error(409, "illegal_transition");
    assert_eq!(own.state(), Some("handling"), "{own}");

    arno.accept(&id).await;
    let revoked = anna_desk
        .next_of("revoked", &["state", "interaction"])
        .await;
    assert_eq!(
        revoked,
        json!({ "interaction": id, "reason": "transferred" })
    );
    assert_load(&anna.me().await, "email", 0, &[]);
    assert_load(&arno.me().await, "email", 1, &[&id]);
    let now = admin.interaction(&id).await;
    assert_eq!(
        (&now["state"], &now["agent"]),
        (&json!("handling"), &json!("arno"))
    );

    // To a queue: anna, the one agent its first steps take, is on a break.
    anna.not_ready("break").await;
    let queued = arno
        .act(&id, "transfer", Some(json!({ "queue": "inbound" })))
        .await;
    assert_eq!(queued.status, 200, "{queued}");
    assert_eq!(queued.body["state"], "queued", "{queued}");
    assert_eq!(queued.body["queue"], "inbound", "{queued}");
    assert_eq!(queued.body["agent"], Value::Null, "{queued}");
    let now = admin.interaction(&id).await;
    assert_eq!(
        (&now["state"], &now["agent"]),
        (&json!("queued"), &Value::Null)
    );
    assert_load(&arno.me().await, "email", 0, &[]);
    assert_eq!(
        sales.journal(&id).await,
        [
            "submitted",
            "offered",
            "accepted",
            "transferred",
            "accepted",
            "placed_in_queue"
        ]
    );
    assert_journal_whole(&sales.pool).await;
}

// ---- 8. Explain and dry-run ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_names_who_was_passed_over_and_dry_run_changes_nothing() {
    let sales = spawn_instance(Solution::Sales).await;
    let anna = Session::on(&sales, "anna").await;
    let admin = Session::on(&sales, ADMIN).await;
    let rita = Session::on(&sales, "rita").await;
    // anna logged in and connected, not ready yet; arno logged out.
    anna.login(&["chat"]).await;
    let mut desk = anna.stream().await;
    let id = Session::on(&sales, "gateway").await.submit(chat()).await;

    let explain = format!("/v1/interactions/{id}/explain");
    let explained = rita.get(&explain).await;
    assert_eq!(explained.status, 200, "{explained}");
    assert_eq!(explained.body["interaction"], id.as_str(), "{explained}");
    let decisions = explained.body["decisions"].as_array().expect("decisions");
    assert_eq!(decisions.len(), 1, "{explained}");
    let waiting = &decisions[0];
    assert_eq!(
        (
            &waiting["queue"],
            &waiting["view"],
            &waiting["strategy"],
            &waiting["step"],
            &waiting["chosen"],
        ),
        (
            &json!("inbound"),
            &json!("all"),
            &json!("fast-answer"),
            &json!(1),
            &Value::Null,
        ),
        "{explained}"
    );
    assert_eq!(
        passed_reason(waiting, "anna"),
        Some("not_ready"),
        "{explained}"
    );
    assert_eq!(
        passed_reason(waiting, "arno"),
        Some("logged_out"),
        "{explained}"
    );
    assert_eq!(
        waiting["counts"],
        json!({ "not_ready": 1, "logged_out": 1 }),
        "{explained}"
    );
    // An agent explains only what is offered to or handled by it.
    anna.get(&explain).await.assert_error(403, "forbidden");

    anna.ready().await;
    assert_eq!(desk.offer().await["id"], id.as_str());
    anna.accept(&id).await;
    let explained = anna.get(&explain).await;
    assert_eq!(explained.status, 200, "{explained}");
    let decisions = explained.body["decisions"].as_array().expect("decisions");
    assert_eq!(decisions.len(), 1, "{explained}");
    assert_eq!(
        (&decisions[0]["chosen"], &decisions[0]["step"]),
        (&json!("anna"), &json!(1)),
        "{explained}"
    );

    let listed = rita.get("/v1/agents").await;
    assert_eq!(listed.status, 200, "{listed}");
    let names: Vec<&str> = listed.body["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .map(|a| a["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["anna", "arno"], "{listed}");
    anna.get("/v1/agents").await.assert_error(403, "forbidden");

    let before = sales.counts().await;
    let me_before = anna.me().await;
    rita.post("/v1/route/dry-run", chat())
        .await
        .assert_error(403, "forbidden");
    let dry = admin.post("/v1/route/dry-run", chat()).await;
    assert_eq!(dry.status, 200, "{dry}");
    assert_eq!(dry.body["agent"], "anna", "{dry}");
    assert_eq!(dry.body["decisions"][0]["chosen"], "anna", "{dry}");
    assert_eq!(
        passed_reason(&dry.body["decisions"][0], "arno"),
        Some("logged_out"),
        "{dry}"
    );
    assert_eq!(sales.counts().await, before, "a dry run wrote nothing");
    let me_after = anna.me().await;
    assert_eq!(me_after["offers"], me_before["offers"], "{me_after}");
    assert_eq!(me_after["load"], 1, "{me_after}");
    assert_journal_whole(&sales.pool).await;
}

// ---- 9. Refusals ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_requests_are_refused_with_their_codes() {
    let sales = spawn_instance(Solution::Sales).await;
    let anna = Session::on(&sales, "anna").await;
    let arno = Session::on(&sales, "arno").await;
    let gateway_ = Session::on(&sales, "gateway").await;

    gateway_
        .post("/v1/agents/me/login", json!({ "media": ["email"] }))
        .await
        .assert_error(403, "forbidden");
    arno.post("/v1/agents/me/ready", json!({}))
        .await
        .assert_error(409, "not_logged_in");
    arno.post("/v1/agents/me/login", json!({ "media": ["fax"] }))
        .await
        .assert_invalid_field("media");
    arno.post("/v1/agents/me/login", json!({ "media": [] }))
        .await
        .assert_invalid_field("media");
    // Nothing of it stuck.
    let his = arno.me().await;
    assert_eq!(his["logged_in"], false, "{his}");
    // A person who is no agent here is told so by every agent request,
    // about itself or (as an administrator) about another.
    let admin = Session::on(&sales, ADMIN).await;
    for (path, who) in [
        ("/v1/agents/me", "admin"),
        ("/v1/agents/me/events", "admin"),
        ("/v1/agents/nobody", "nobody"),
    ] {
        let refused = admin.get(path).await;
        refused.assert_error(403, "not_an_agent");
        assert_eq!(
            refused.body["error"]["message"],
            format!("'{who}' is not an agent of this instance"),
            "{refused}"
        );
    }
    for path in ["/v1/agents/me/login", "/v1/agents/nobody/login"] {
        admin
            .post(path, json!({ "media": ["email"] }))
            .await
            .assert_error(403, "not_an_agent");
    }
    for action in ["ready", "logout"] {
        admin
            .post_bare(&format!("/v1/agents/me/{action}"))
            .await
            .assert_error(403, "not_an_agent");
    }

    let mut desk = anna.at_work(&["email"]).await;
    let id = gateway_.submit(gateway(EMAIL, "inbound")).await;
    assert_eq!(desk.offer().await["id"], id.as_str());
    arno.act(&id, "accept", None)
        .await
        .assert_error(403, "forbidden");
    gateway_
        .act(&id, "accept", None)
        .await
        .assert_error(403, "forbidden");
    arno.act(&Uuid::now_v7().to_string(), "accept", None)
        .await
        .assert_error(404, "not_found");
    anna.act("not-a-uuid", "accept", None)
        .await
        .assert_invalid_field("id");
    // Still anna's to take.
    anna.accept(&id).await;
    // Accepting or rejecting it again, as a desktop repeating a request
    // whose answer it lost does, is refused for the state it is in.
    for action in ["accept", "reject"] {
        let again = anna.act(&id, action, None).await;
        again.assert_error(409, "illegal_transition");
        assert_eq!(again.state(), Some("handling"), "{again}");
    }
    assert_load(&anna.me().await, "email", 1, &[&id]);
}

// ---- 10. Recovery after kill -9 ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_hard_kill_offers_go_back_to_the_queue_and_handled_ones_stay() {
    let db = Arc::new(TestDb::create().await);
    let dir = tempfile::tempdir().expect("scratch folder");
    let config = write_config(dir.path(), Solution::Sales, &db);
    let mut first = ServeProcess::start(&config);
    first.wait_ready(Duration::from_secs(30)).await;
    let base = format!("http://{}", first.addr);
    let anna = Session::at(base.clone(), "anna").await;
    let gateway_ = Session::at(base, "gateway").await;
    let mut desk = anna.at_work(&["email"]).await;
    let handled = gateway_.submit(gateway(EMAIL, "inbound")).await;
    assert_eq!(desk.offer().await["id"], handled.as_str());
    anna.accept(&handled).await;
    let parked = gateway_.submit(gateway(EMAIL, "inbound")).await;
    assert_eq!(desk.offer().await["id"], parked.as_str());
    anna.accept(&parked).await;
    let answer = anna
        .act(
            &parked,
            "place-in-workbin",
            Some(json!({ "workbin": "drafts" })),
        )
        .await;
    assert_eq!(answer.status, 200, "{answer}");
    let pending = gateway_.submit(gateway(EMAIL, "inbound")).await;
    // Told once durable: the offer is in the database.
    let offered = desk.offer().await;
    assert_eq!(offered["id"], pending.as_str(), "{offered}");
    let submitted_at = offered["submitted_at"].clone();
    let before = anna.me().await;
    assert_eq!(before["load"], 2, "{before}");

    first.kill9();
    drop(desk);
    let mut second = ServeProcess::start(&config);
    second.wait_ready(Duration::from_secs(30)).await;

    let requeued = second.get(&format!("/v1/interactions/{pending}")).await;
    assert_eq!(requeued.status, 200, "{requeued}");
    assert_eq!(requeued.body["state"], "queued", "{requeued}");
    assert_eq!(requeued.body["queue"], "inbound", "{requeued}");
    assert_eq!(requeued.body["agent"], Value::Null, "{requeued}");
    assert_eq!(requeued.body["submitted_at"], submitted_at, "{requeued}");
    let still = second.get(&format!("/v1/interactions/{handled}")).await;
    assert_eq!(still.status, 200, "{still}");
    assert_eq!(
        (&still.body["state"], &still.body["agent"]),
        (&json!("handling"), &json!("anna")),
        "{still}"
    );
    let drafts = second
        .get(&format!("/v1/workbins/{EMAIL}/drafts?owner=anna"))
        .await;
    assert_eq!(drafts.status, 200, "{drafts}");
    assert_eq!(ids_of_interactions(&drafts), [parked.as_str()], "{drafts}");
    let agent = second.get("/v1/agents/anna").await;
    assert_eq!(agent.status, 200, "{agent}");
    assert_eq!(agent.body["logged_in"], true, "{agent}");
    assert_eq!(
        agent.body["media"]["email"]["ready"], before["media"]["email"]["ready"],
        "{agent}"
    );
    assert_eq!(agent.body["media"]["email"]["ready"], true, "{agent}");
    assert_eq!(agent.body["connected"], false, "{agent}");
    assert_load(&agent.body, "email", 1, &[&handled]);
    assert_eq!(ids(&agent.body["offers"]), Vec::<String>::new(), "{agent}");
    assert_eq!(
        journal_with_agents(&db.pool().await, &pending).await,
        entries(&[
            ("submitted", None),
            ("offered", Some("anna")),
            ("placed_in_queue", None),
        ])
    );

    // Her desktop comes back within the grace period, with a new session:
    // she holds what she held, and what waits is offered to her again.
    let anna = Session::at(format!("http://{}", second.addr), "anna").await;
    let mut desk = anna.stream().await;
    assert_eq!(
        ids(&desk.hello["holding"]),
        [handled.as_str()],
        "{}",
        desk.hello
    );
    let offered = desk.offer().await;
    assert_eq!(offered["id"], pending.as_str(), "{offered}");
    assert_eq!(offered["submitted_at"], submitted_at, "{offered}");
    assert_journal_whole(&db.pool().await).await;
}
