//! Live statistics over HTTP, against PostgreSQL: a known sequence of
//! submits, offers, a reject, accepts and stops gives exact figures per
//! queue and per agent, with the engine's depth and load; who may read
//! them; and the same window after a restart, rebuilt from the journal.
//!
//! Every wait is for an event or an answer, with a time limit that only
//! guards against a hang.

mod common;

use common::instance::http_client;
use common::session::Session;
use common::{Answer, LiveStream, Solution, gateway, spawn_instance};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const EMAIL: &str = "sales-email";

/// What these tests ask of a person's session: changes that must succeed,
/// and the statistics.
trait Asks {
    async fn post_ok(&self, path: &str, body: Value) -> Answer;
    async fn submit_mail(&self) -> String;
    async fn act_ok(&self, id: &str, action: &str, body: Value) -> Answer;
    async fn stats(&self) -> Value;
}

impl Asks for Session {
    async fn post_ok(&self, path: &str, body: Value) -> Answer {
        let answer = self.post(path, body).await;
        assert_eq!(answer.status / 100, 2, "{answer}");
        answer
    }

    async fn submit_mail(&self) -> String {
        self.submit(gateway(EMAIL, "inbound")).await
    }

    async fn act_ok(&self, id: &str, action: &str, body: Value) -> Answer {
        self.post_ok(&format!("/v1/interactions/{id}/{action}"), body)
            .await
    }

    async fn stats(&self) -> Value {
        let answer = self.get("/v1/stats").await;
        assert_eq!(answer.status, 200, "{answer}");
        answer.body
    }
}

fn queue<'a>(stats: &'a Value, process: &str, name: &str) -> &'a Value {
    stats["queues"]
        .as_array()
        .expect("queues")
        .iter()
        .find(|q| q["process"] == process && q["queue"] == name)
        .unwrap_or_else(|| panic!("no queue {process}/{name} in {stats}"))
}

fn agent<'a>(stats: &'a Value, name: &str) -> &'a Value {
    stats["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no agent {name} in {stats}"))
}

/// The figures of the window that come from the journal.
fn window_figures(stats: &Value) -> Value {
    let q = queue(stats, EMAIL, "inbound");
    let anna = agent(stats, "anna");
    json!({
        "queue": [
            &q["entered"], &q["offered"], &q["accepted"], &q["rejected"],
            &q["offer_timed_out"], &q["abandoned"], &q["stopped"],
            &q["wait_avg_secs"], &q["wait_p90_secs"], &q["service_level"],
        ],
        "anna": [&anna["handled"], &anna["missed"]],
        "position": &stats["position"],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_sequence_gives_exact_figures_which_a_restart_rebuilds() {
    let sales = spawn_instance(Solution::Sales).await;
    let anna = Session::on(&sales, "anna").await;
    let gateway_ = Session::on(&sales, "gateway").await;
    let rita = Session::on(&sales, "rita").await;

    // Nothing yet: every queue of the processes served, at zero.
    let empty = rita.stats().await;
    assert_eq!(empty["window_secs"], 900, "{empty}");
    let chat = queue(&empty, "sales-chat", "inbound");
    assert_eq!(chat["service_level_target_secs"], 20, "{chat}");
    let inbound = queue(&empty, EMAIL, "inbound");
    assert_eq!(inbound["service_level_target_secs"], 60, "{inbound}");
    assert_eq!(
        (&inbound["entered"], &inbound["depth"]),
        (&json!(0), &json!(0))
    );
    assert_eq!(inbound["service_level"], Value::Null, "{inbound}");

    anna.post_ok("/v1/agents/me/login", json!({ "media": ["email"] }))
        .await;
    let mut desk =
        LiveStream::open(&format!("{}/v1/agents/me/events", anna.base), &anna.token).await;
    anna.post_ok("/v1/agents/me/ready", json!({})).await;

    // 1. Offered to anna, rejected, offered to her again (nobody else is
    // free), accepted.
    let first = gateway_.submit_mail().await;
    assert_eq!(desk.offer().await["id"], first.as_str());
    anna.act_ok(&first, "reject", json!({ "reason": "not now" }))
        .await;
    assert_eq!(desk.offer().await["id"], first.as_str());
    anna.act_ok(&first, "accept", json!({})).await;
    // 2. Offered to her, stopped by the gateway while it waits.
    let second = gateway_.submit_mail().await;
    assert_eq!(desk.offer().await["id"], second.as_str());
    gateway_
        .act_ok(&second, "stop", json!({ "reason": "customer gone" }))
        .await;
    // 3. She is done with the first.
    anna.act_ok(&first, "stop", json!({ "reason": "answered" }))
        .await;
    // 4. Offered and accepted: she holds it.
    let third = gateway_.submit_mail().await;
    // Past the withdrawal of the second.
    let offer = desk
        .next_of("offer", &["state", "interaction", "revoked"])
        .await;
    assert_eq!(offer["interaction"]["id"], third.as_str());
    anna.act_ok(&third, "accept", json!({})).await;
    // 5. Not ready: the fourth waits.
    anna.post_ok("/v1/agents/me/not-ready", json!({ "reason": "break" }))
        .await;
    gateway_.submit_mail().await;

    let stats = rita.stats().await;
    let q = queue(&stats, EMAIL, "inbound");
    assert_eq!(q["entered"], 4, "{q}");
    assert_eq!(q["offered"], 4, "{q}");
    assert_eq!(q["accepted"], 2, "{q}");
    assert_eq!(q["rejected"], 1, "{q}");
    assert_eq!(q["offer_timed_out"], 0, "{q}");
    assert_eq!(q["abandoned"], 1, "{q}");
    assert_eq!(q["stopped"], 2, "{q}");
    assert_eq!(q["depth"], 1, "{q}");
    assert!(q["oldest_age_secs"].as_i64().is_some(), "{q}");
    // Both accepted within seconds of arriving.
    let p90 = q["wait_p90_secs"].as_f64().expect("a p90 wait");
    let avg = q["wait_avg_secs"].as_f64().expect("a mean wait");
    assert!((0.0..60.0).contains(&p90) && avg <= p90, "{q}");
    assert_eq!(q["service_level"], 1.0, "{q}");
    let chat = queue(&stats, "sales-chat", "inbound");
    assert_eq!((&chat["entered"], &chat["depth"]), (&json!(0), &json!(0)));

    let a = agent(&stats, "anna");
    assert_eq!(a["handled"], 2, "{a}");
    assert_eq!(a["missed"], 1, "{a}");
    assert_eq!(a["logged_in"], true, "{a}");
    assert_eq!(
        (&a["load"], &a["media"]["email"]["load"]),
        (&json!(1), &json!(1))
    );
    assert_eq!(a["media"]["email"]["ready"], false, "{a}");
    let occupancy = a["occupancy"].as_f64().expect("an occupancy");
    assert!((0.0..=1.0).contains(&occupancy), "{a}");
    let arno = agent(&stats, "arno");
    assert_eq!(
        (&arno["handled"], &arno["missed"], &arno["logged_in"]),
        (&json!(0), &json!(0), &json!(false)),
        "{arno}"
    );
    assert_eq!(arno["occupancy"], Value::Null, "{arno}");

    // The stream starts with the same figures.
    let streamed = first_streamed(&rita).await;
    assert_eq!(window_figures(&streamed), window_figures(&stats));

    // Only reporters, routers and administrators.
    let anonymous = Answer::of(
        http_client().get(format!("{}/v1/stats", rita.base)),
        "GET /v1/stats without a token",
    )
    .await;
    anonymous.assert_error(401, "unauthorized");
    for who in [&anna, &gateway_] {
        for path in ["/v1/stats", "/v1/stats/stream"] {
            who.call(Method::GET, path, None)
                .await
                .assert_error(403, "forbidden");
        }
    }

    // A restart on the same database: the window read again from the
    // journal gives the same figures; the engine the same depth and load.
    drop(desk);
    let db = sales.db.clone();
    sales.shutdown().await.expect("a clean shutdown");
    let sales = common::start_on(db, Solution::Sales, |_| {}).await;
    sales.wait_ready().await;
    let rita = Session::on(&sales, "rita").await;
    let again = rita.stats().await;
    assert_eq!(window_figures(&again), window_figures(&stats));
    assert_eq!(queue(&again, EMAIL, "inbound")["depth"], 1, "{again}");
    let a = agent(&again, "anna");
    assert_eq!(
        (&a["logged_in"], &a["load"]),
        (&json!(true), &json!(1)),
        "{a}"
    );
}

type Events = std::pin::Pin<
    Box<
        dyn futures::Stream<
                Item = Result<
                    eventsource_stream::Event,
                    eventsource_stream::EventStreamError<reqwest::Error>,
                >,
            > + Send,
    >,
>;

/// `GET /v1/stats/stream`, asserted 200.
async fn open_stream(session: &Session) -> Events {
    let response = session
        .client
        .get(format!("{}/v1/stats/stream", session.base))
        .bearer_auth(&session.token)
        .send()
        .await
        .expect("GET /v1/stats/stream");
    assert_eq!(response.status(), 200);
    Box::pin(response.bytes_stream().eventsource())
}

/// The next event of a statistics stream, which must be `stats`; `None`
/// when the stream ended.
async fn next_stats(events: &mut Events) -> Option<Value> {
    let next = tokio::time::timeout(Duration::from_secs(15), events.next())
        .await
        .expect("statistics or the end within 15 s")?;
    let event = next.ok()?;
    assert_eq!(event.event, "stats", "{event:?}");
    Some(serde_json::from_str(&event.data).expect("JSON figures"))
}

/// The first event of `GET /v1/stats/stream`.
async fn first_streamed(session: &Session) -> Value {
    let mut events = open_stream(session).await;
    next_stats(&mut events).await.expect("the first statistics")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_follows_each_commit_and_ends_with_the_instance() {
    let sales = spawn_instance(Solution::Sales).await;
    let gateway_ = Session::on(&sales, "gateway").await;
    let rita = Session::on(&sales, "rita").await;
    let mut events = open_stream(&rita).await;
    let first = next_stats(&mut events).await.expect("the first statistics");
    assert_eq!(queue(&first, EMAIL, "inbound")["entered"], 0, "{first}");

    gateway_.submit_mail().await;
    let next = next_stats(&mut events)
        .await
        .expect("statistics after a submit");
    let q = queue(&next, EMAIL, "inbound");
    assert_eq!((&q["entered"], &q["depth"]), (&json!(1), &json!(1)), "{q}");

    // The instance stops: the stream ends rather than holding it up.
    sales.shutdown().await.expect("a clean shutdown");
    while let Some(figures) = next_stats(&mut events).await {
        assert_eq!(queue(&figures, EMAIL, "inbound")["entered"], 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_lies_before_the_window_is_not_read_again_at_start() {
    let sales = spawn_instance(Solution::Sales).await;
    let gateway_ = Session::on(&sales, "gateway").await;
    let old = gateway_.submit_mail().await;
    gateway_.submit_mail().await;
    gateway_.submit_mail().await;
    let rita = Session::on(&sales, "rita").await;
    let stats = rita.stats().await;
    assert_eq!(queue(&stats, EMAIL, "inbound")["entered"], 3, "{stats}");

    // The first arrived an hour ago, as far as the journal says: outside
    // the 15-minute window once the instance reads it again.
    let moved = sqlx::query(
        "UPDATE interaction_events SET at = at - interval '1 hour' \
         WHERE interaction_id = $1",
    )
    .bind(uuid::Uuid::parse_str(&old).expect("an id"))
    .execute(&sales.pool)
    .await
    .expect("move the first back")
    .rows_affected();
    assert_eq!(moved, 1);
    let db = sales.db.clone();
    sales.shutdown().await.expect("a clean shutdown");
    let sales = common::start_on(db, Solution::Sales, |_| {}).await;
    sales.wait_ready().await;
    let rita = Session::on(&sales, "rita").await;
    let stats = rita.stats().await;
    let q = queue(&stats, EMAIL, "inbound");
    assert_eq!((&q["entered"], &q["depth"]), (&json!(2), &json!(3)), "{q}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queues_service_level_follows_the_tenants_files_and_a_bad_one_is_refused() {
    let tenant = common::Tenant::start().await;
    let (server, sales) = (&tenant.server, &tenant.sales);
    let target =
        |stats: &Value| queue(stats, EMAIL, "inbound")["service_level_target_secs"].clone();
    let stats = sales.get_path("/v1/stats").await;
    assert_eq!(stats.status, 200, "{stats}");
    assert_eq!(target(&stats.body), 60, "the default");

    // A bad value is refused with its file, line, object and reason; the
    // revision in force stays.
    let header = "[process.sales-email.queue.inbound]\n";
    let text = server.read("sales.toml");
    let line = text[..text.find(header).expect("the queue's table")]
        .matches('\n')
        .count()
        + 2;
    let with =
        |value: &str| text.replacen(header, &format!("{header}service_level = {value}\n"), 1);
    server.write("sales.toml", &with("\"soon\""));
    let refused = common::eventually(common::tenant::PATIENCE, "the refusal", || async {
        let status = server.status().await;
        (!status["last_error"].is_null()).then_some(status)
    })
    .await;
    assert_eq!(refused["revision"], 1, "{refused}");
    let problem = &refused["last_error"]["problems"][0];
    assert!(
        problem["file"].as_str().unwrap().ends_with("sales.toml"),
        "{problem}"
    );
    assert_eq!(problem["line"], line, "{problem}");
    assert_eq!(
        problem["object"], "business process 'sales-email', queue 'inbound'",
        "{problem}"
    );
    let reason = problem["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("service_level: invalid duration 'soon'"),
        "{problem}"
    );

    // A good one applies live.
    server.write("sales.toml", &with("\"90s\""));
    common::eventually(
        common::tenant::PATIENCE,
        "the new target in the statistics",
        || async {
            let answer = sales.get_path("/v1/stats").await;
            (answer.status == 200 && target(&answer.body) == 90).then_some(())
        },
    )
    .await;
}
