//! `/metrics` over HTTP against real instances: after known traffic (submits,
//! a 404, a 405, agents ready, an offer timed out and one accepted), the page
//! holds the exact counts by route template and status, the queue depth,
//! the agents ready per media, the offers, the lease and the configuration
//! server's state; each instance's page only its own; and every page
//! passes `promtool check metrics`.

mod common;

use common::instance::{PASSWORD, http_client};
use common::tenant::PATIENCE;
use common::{Answer, LiveStream, Solution, Tenant, TestInstance, eventually, spawn_instance_with};
use reqwest::Method;
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The value of the series written exactly `series` (name and labels as
/// the page writes them), if the page has it.
fn value(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{series}: not a number: {v}"))
        })
}

/// The value of `series`, which the page must have.
#[track_caller]
fn must(page: &str, series: &str) -> f64 {
    value(page, series).unwrap_or_else(|| panic!("no {series} in:\n{page}"))
}

/// `ixs_http_requests_total` of one method, route template and status.
fn requests(instance: &str, method: &str, route: &str, status: u16) -> String {
    format!(
        "ixs_http_requests_total{{instance=\"{instance}\",method=\"{method}\",route=\"{route}\",status=\"{status}\"}}"
    )
}

/// Pipes `page` through `promtool check metrics`, which must find nothing
/// to say.
#[track_caller]
fn assert_promtool_passes(page: &str) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "promtool is not installed, and this test checks the page with it: \
             `apt-get install prometheus` (Debian's package ships /usr/bin/promtool; \
             .ci/run installs it)"
        ),
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    child
        .stdin
        .take()
        .expect("promtool's stdin")
        .write_all(page.as_bytes())
        .expect("write the page to promtool");
    let out = child.wait_with_output().expect("promtool's answer");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}\n{}{}\nthe page:\n{page}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
}

/// `GET /metrics`, asserted 200 in the Prometheus text format.
async fn scrape(instance: &TestInstance) -> String {
    let response = http_client()
        .get(instance.url("/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("content type")
        .to_owned();
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    response.text().await.expect("the page")
}

/// A person's session on an instance.
struct Session {
    base: String,
    client: reqwest::Client,
    token: String,
}

impl Session {
    async fn on(instance: &TestInstance, person: &str) -> Session {
        let client = http_client();
        let base = format!("http://{}", instance.addr);
        let request = client
            .post(format!("{base}/v1/sessions"))
            .json(&json!({ "person": person, "password": PASSWORD }));
        let answer = Answer::of(request, format!("log in {person}")).await;
        assert_eq!(answer.status, 201, "log in {person}: {answer}");
        let token = answer.body["token"].as_str().expect("token").to_owned();
        Session {
            base,
            client,
            token,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        Answer::of(request, format!("{method} {path}")).await
    }

    /// POSTs `body` to `path`, asserted `status`; the answer's body.
    async fn post(&self, path: &str, body: Value, status: u16) -> Value {
        let answer = self.call(Method::POST, path, Some(body)).await;
        assert_eq!(answer.status, status, "POST {path}: {answer}");
        answer.body
    }

    async fn stream(&self) -> LiveStream {
        LiveStream::open(&format!("{}/v1/agents/me/events", self.base), &self.token).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_counts_requests_by_route_and_shows_queues_agents_offers_and_the_lease() {
    let sales = spawn_instance_with(Solution::Sales, |settings| {
        // Long enough to accept an offer on a busy machine, short enough
        // to wait for one left unanswered.
        settings.routing.delivery_timeout = Duration::from_secs(2);
        settings.routing.missed_offers_limit = 1;
    })
    .await;
    let gateway = Session::on(&sales, "gateway").await;
    let anna = Session::on(&sales, "anna").await;
    let arno = Session::on(&sales, "arno").await;

    // anna takes chats, her desktop open; arno is ready for e-mails but has
    // no desktop open, so nothing is offered to him.
    anna.post("/v1/agents/me/login", json!({ "media": ["chat"] }), 200)
        .await;
    let mut desk = anna.stream().await;
    anna.post("/v1/agents/me/ready", json!({}), 200).await;
    arno.post("/v1/agents/me/login", json!({ "media": ["email"] }), 200)
        .await;
    arno.post("/v1/agents/me/ready", json!({}), 200).await;

    let email = json!({ "process": "sales-email", "queue": "inbound", "media_type": "email" });
    for _ in 0..3 {
        gateway.post("/v1/interactions", email.clone(), 201).await;
    }
    let chat = json!({ "process": "sales-chat", "queue": "inbound", "media_type": "chat" });
    let chat = gateway.post("/v1/interactions", chat, 201).await;
    let id = chat["id"].as_str().expect("id").to_owned();
    // Offered to anna, who lets it time out (and is set not ready), then
    // gets ready again and accepts it.
    assert_eq!(desk.offer().await["id"], id.as_str());
    let revoked = desk.next_of("revoked", &["state", "interaction"]).await;
    assert_eq!(revoked["reason"], "offer_timed_out", "{revoked}");
    anna.post("/v1/agents/me/ready", json!({}), 200).await;
    assert_eq!(desk.offer().await["id"], id.as_str());
    anna.post(&format!("/v1/interactions/{id}/accept"), json!({}), 200)
        .await;

    // Refusals: paths no route has (under /v1 too), an interaction that
    // does not exist, a method a route does not take.
    for path in ["/no/such/path", "/v1/no/such/path"] {
        let nowhere = sales.get_path(path).await;
        assert_eq!(nowhere.status, 404, "{path}: {nowhere}");
    }
    let unknown = uuid::Uuid::now_v7();
    let missing = sales.get_path(&format!("/v1/interactions/{unknown}")).await;
    assert_eq!(missing.status, 404, "{missing}");
    let wrong = sales
        .send_json(Method::DELETE, "/v1/queues", &json!({}))
        .await;
    assert_eq!(wrong.status, 405, "{wrong}");

    scrape(&sales).await;
    let page = scrape(&sales).await;
    assert_promtool_passes(&page);
    let s = "sales";

    // Requests, by route template and status; every answer counted.
    assert_eq!(
        must(&page, &requests(s, "POST", "/v1/interactions", 201)),
        4.0
    );
    assert_eq!(must(&page, &requests(s, "GET", "unmatched", 404)), 2.0);
    assert_eq!(
        must(&page, &requests(s, "GET", "/v1/interactions/{id}", 404)),
        1.0
    );
    assert_eq!(must(&page, &requests(s, "DELETE", "/v1/queues", 405)), 1.0);
    assert_eq!(
        must(&page, &requests(s, "POST", "/v1/agents/{name}/ready", 200)),
        3.0
    );
    assert_eq!(
        must(
            &page,
            &requests(s, "POST", "/v1/interactions/{id}/accept", 200)
        ),
        1.0
    );
    // The scrapes before this one (this one is counted once answered).
    assert_eq!(must(&page, &requests(s, "GET", "/metrics", 200)), 1.0);
    assert_eq!(
        must(
            &page,
            "ixs_http_request_duration_seconds_count{instance=\"sales\",method=\"POST\",route=\"/v1/interactions\"}"
        ),
        4.0
    );
    assert_eq!(
        must(
            &page,
            "ixs_http_request_duration_seconds_bucket{instance=\"sales\",method=\"POST\",route=\"/v1/interactions\",le=\"+Inf\"}"
        ),
        4.0
    );
    // Never a raw path or an id as a label.
    for raw in ["/no/such".to_owned(), unknown.to_string(), id.clone()] {
        assert!(!page.contains(&raw), "{raw} on the page:\n{page}");
    }

    // The queues, as the live task has them.
    let queue = |process: &str, queue: &str| {
        format!("{{instance=\"sales\",process=\"{process}\",queue=\"{queue}\"}}")
    };
    assert_eq!(
        must(
            &page,
            &format!("ixs_queue_depth{}", queue("sales-email", "inbound"))
        ),
        3.0
    );
    assert_eq!(
        must(
            &page,
            &format!("ixs_queue_depth{}", queue("sales-chat", "inbound"))
        ),
        0.0,
        "the chat is handled, not waiting"
    );
    let oldest = must(
        &page,
        &format!(
            "ixs_queue_oldest_age_seconds{}",
            queue("sales-email", "inbound")
        ),
    );
    assert!((0.0..60.0).contains(&oldest), "oldest age {oldest}");

    // Agents ready per media.
    assert_eq!(
        must(&page, "ixs_agents_ready{instance=\"sales\",media=\"chat\"}"),
        1.0
    );
    assert_eq!(
        must(
            &page,
            "ixs_agents_ready{instance=\"sales\",media=\"email\"}"
        ),
        1.0
    );

    // Offers, from the committed journal.
    assert_eq!(
        must(&page, "ixs_offers_made_total{instance=\"sales\"}"),
        2.0
    );
    assert_eq!(
        must(&page, "ixs_offers_timed_out_total{instance=\"sales\"}"),
        1.0
    );
    assert_eq!(
        must(&page, "ixs_offers_accepted_total{instance=\"sales\"}"),
        1.0
    );
    assert_eq!(
        must(&page, "ixs_offers_rejected_total{instance=\"sales\"}"),
        0.0
    );

    // The writer: its histograms agree with its counters.
    let batches = must(&page, "ixs_writer_batches_total{instance=\"sales\"}");
    assert!(batches >= 1.0, "{batches} batches");
    assert_eq!(
        must(
            &page,
            "ixs_writer_commit_duration_seconds_count{instance=\"sales\"}"
        ),
        batches
    );
    assert_eq!(
        must(&page, "ixs_writer_batch_size_count{instance=\"sales\"}"),
        batches
    );
    assert_eq!(
        must(&page, "ixs_writer_batch_size_sum{instance=\"sales\"}"),
        must(&page, "ixs_writer_changes_total{instance=\"sales\"}")
    );
    assert_eq!(
        must(
            &page,
            "ixs_writer_commit_duration_seconds_sum{instance=\"sales\"}"
        ),
        must(&page, "ixs_writer_commit_seconds_total{instance=\"sales\"}")
    );

    // The lease; no configuration server (it reads the tenant's files).
    assert_eq!(must(&page, "ixs_active{instance=\"sales\"}"), 1.0);
    assert_eq!(
        value(&page, "ixs_config_server_connected{instance=\"sales\"}"),
        None
    );
    for name in [
        "ixs_http_requests_total",
        "ixs_queue_depth",
        "ixs_agents_ready",
        "ixs_offers_made_total",
        "ixs_writer_commit_duration_seconds",
    ] {
        assert!(
            page.contains(&format!("# HELP {name} ")),
            "no HELP of {name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_instance_has_its_own_page_and_shows_whether_it_follows_the_config_server() {
    let Tenant {
        mut server,
        sales,
        support,
    } = Tenant::start().await;
    let email =
        |process: &str| json!({ "process": process, "queue": "inbound", "media_type": "email" });
    sales.submit_ok(&email("sales-email")).await;
    sales.submit_ok(&email("sales-email")).await;
    support.submit_ok(&email("support-email")).await;

    for (instance, name, other, submitted) in [
        (&sales, "sales", "support", 2.0),
        (&support, "support", "sales", 1.0),
    ] {
        let page = scrape(instance).await;
        assert_promtool_passes(&page);
        assert_eq!(
            must(&page, &requests(name, "POST", "/v1/interactions", 201)),
            submitted
        );
        assert!(
            !page.contains(&format!("instance=\"{other}\"")),
            "{other} on {name}'s page:\n{page}"
        );
        let process = format!("{name}-email");
        assert_eq!(
            must(
                &page,
                &format!(
                    "ixs_queue_depth{{instance=\"{name}\",process=\"{process}\",queue=\"inbound\"}}"
                )
            ),
            submitted
        );
        assert_eq!(
            must(
                &page,
                &format!("ixs_config_server_connected{{instance=\"{name}\"}}")
            ),
            1.0
        );
        assert_eq!(
            must(
                &page,
                &format!("ixs_config_revision{{instance=\"{name}\"}}")
            ),
            1.0
        );
        assert_eq!(
            must(&page, &format!("ixs_active{{instance=\"{name}\"}}")),
            1.0
        );
    }

    // The configuration server goes away: sales runs from its cache.
    server.stop().await;
    let page = eventually(PATIENCE, "sales to run from its cache", || async {
        let page = scrape(&sales).await;
        (value(&page, "ixs_config_server_connected{instance=\"sales\"}") == Some(0.0))
            .then_some(page)
    })
    .await;
    assert_promtool_passes(&page);
    assert_eq!(
        must(&page, "ixs_config_revision{instance=\"sales\"}"),
        1.0,
        "the cached revision"
    );
    assert_eq!(must(&page, "ixs_active{instance=\"sales\"}"), 1.0);
}
