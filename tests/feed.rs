//! The reporting feed (`GET /v1/events`) over HTTP against PostgreSQL: a
//! reader that keeps disconnecting reassembles the journal exactly, in
//! commit order, while gateways and agents work; a stalled reader is cut
//! off with where to resume, without holding the writer up; filters, the
//! batch export, refusals, and positions retention purged.
//!
//! Every wait is for an event or an answer, with a time limit that only
//! guards against a hang.

mod common;

use chrono::Utc;
use common::instance::http_client;
use common::session::Session;
use common::{Answer, Solution, TestInstance, eventually, gateway, spawn_instance_with};
use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use ixs::store::{Fence, PgStore, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{Value, json};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const EMAIL: &str = "sales-email";
const CHAT: &str = "sales-chat";

/// How long an event that should come may take.
const PATIENCE: Duration = Duration::from_secs(10);

/// The event feed, as a person's session reads it.
trait Feeds {
    async fn feed(&self, query: &str, last: Option<i64>) -> Result<FeedStream, Answer>;
    async fn export(&self, query: &str, last: Option<i64>) -> Vec<Item>;
}

impl Feeds for Session {
    /// Opens the feed with `query`, resuming after `last` with
    /// `Last-Event-ID` when given: the stream, or the refusal.
    async fn feed(&self, query: &str, last: Option<i64>) -> Result<FeedStream, Answer> {
        // No overall timeout: a stream lives as long as the test wants it.
        let client = reqwest::Client::builder()
            .connect_timeout(PATIENCE)
            .build()
            .expect("HTTP client");
        let url = format!("{}/v1/events{query}", self.base);
        let mut request = client.get(&url).bearer_auth(&self.token);
        if let Some(last) = last {
            request = request.header("Last-Event-ID", last.to_string());
        }
        let response = tokio::time::timeout(PATIENCE, request.send())
            .await
            .unwrap_or_else(|_| panic!("GET {url}: no answer within {PATIENCE:?}"))
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        if response.status() != 200 {
            return Err(Answer::from_response(response)
                .await
                .unwrap_or_else(|e| panic!("GET {url}: {e}")));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            content_type.starts_with("text/event-stream"),
            "GET {url}: content type {content_type:?}"
        );
        Ok(FeedStream {
            url,
            events: response.bytes_stream().eventsource().boxed(),
        })
    }

    /// The whole feed for `query` without following: every item until the
    /// stream ends.
    async fn export(&self, query: &str, last: Option<i64>) -> Vec<Item> {
        let mut stream = self
            .feed(query, last)
            .await
            .unwrap_or_else(|refused| panic!("GET /v1/events{query}: {refused}"));
        let mut items = Vec::new();
        while let Some(item) = stream.next(PATIENCE).await {
            items.push(item);
        }
        items
    }
}

type Events = Pin<
    Box<
        dyn Stream<
                Item = Result<
                    eventsource_stream::Event,
                    eventsource_stream::EventStreamError<reqwest::Error>,
                >,
            > + Send,
    >,
>;

/// An open feed. Dropping it disconnects.
struct FeedStream {
    url: String,
    events: Events,
}

/// What the feed sends.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Entry(Entry),
    /// The final event of a reader too slow for the tail.
    Lagged(i64),
    /// The final event of a reader behind retention.
    Purged(i64),
}

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    position: i64,
    kind: String,
    interaction: Option<Uuid>,
    data: Value,
}

impl FeedStream {
    /// The next item, or `None` when the stream ends or sends nothing
    /// within `wait`.
    async fn next(&mut self, wait: Duration) -> Option<Item> {
        let event = match tokio::time::timeout(wait, self.events.next()).await {
            Ok(Some(Ok(event))) => event,
            Ok(Some(Err(e))) => panic!("{}: {e}", self.url),
            Ok(None) | Err(_) => return None,
        };
        let data: Value = serde_json::from_str(&event.data)
            .unwrap_or_else(|e| panic!("{}: event data is not JSON ({e}): {event:?}", self.url));
        Some(match event.event.as_str() {
            "message" => {
                let position: i64 = event
                    .id
                    .parse()
                    .unwrap_or_else(|_| panic!("{}: id of {event:?}", self.url));
                assert_eq!(data["position"], position, "{data}");
                Item::Entry(Entry {
                    position,
                    kind: data["kind"].as_str().expect("kind").to_owned(),
                    interaction: data["interaction_id"]
                        .as_str()
                        .map(|id| Uuid::parse_str(id).expect("interaction id")),
                    data,
                })
            }
            "lagged" => Item::Lagged(data["resume_after"].as_i64().expect("resume_after")),
            "purged" => Item::Purged(data["resume_after"].as_i64().expect("resume_after")),
            other => panic!("{}: unexpected event {other}: {event:?}", self.url),
        })
    }
}

/// The journal as the database holds it.
async fn journal(pool: &sqlx::PgPool) -> Vec<(i64, String, Option<Uuid>)> {
    sqlx::query_as("SELECT id, kind, interaction_id FROM interaction_events ORDER BY id")
        .fetch_all(pool)
        .await
        .expect("read the journal")
}

fn entries(items: &[Item]) -> Vec<Entry> {
    items
        .iter()
        .map(|item| match item {
            Item::Entry(entry) => entry.clone(),
            other => panic!("not an entry: {other:?}"),
        })
        .collect()
}

fn as_rows(entries: &[Entry]) -> Vec<(i64, String, Option<Uuid>)> {
    entries
        .iter()
        .map(|e| (e.position, e.kind.clone(), e.interaction))
        .collect()
}

/// Asserts that `got` is exactly `journal`, naming the first difference.
#[track_caller]
fn assert_same(got: &[(i64, String, Option<Uuid>)], journal: &[(i64, String, Option<Uuid>)]) {
    if let Some(at) = (0..got.len().min(journal.len())).find(|&i| got[i] != journal[i]) {
        panic!(
            "entry {at} differs: the feed gave {:?}, the journal holds {:?}",
            got[at], journal[at]
        );
    }
    assert_eq!(
        got.len(),
        journal.len(),
        "the feed gave {} entries, the journal holds {}",
        got.len(),
        journal.len()
    );
}

fn kinds(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(|e| e.kind.as_str()).collect()
}

// ---- 1. A reader that keeps disconnecting, under load ----

/// Gateways submit e-mails and chats, change them, and stop a third of them
/// at once; two agents accept what they are offered and stop it.
async fn drive(sales: &TestInstance, stop: CancellationToken) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for worker in 0..6u64 {
        let gateway_ = Session::on(sales, "gateway").await;
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.is_cancelled() {
                n += 1;
                let (process, media) = if n % 2 == 0 {
                    (EMAIL, "email")
                } else {
                    (CHAT, "chat")
                };
                let id = gateway_
                    .submit(json!({
                        "process": process, "queue": "inbound", "media_type": media,
                        "properties": { "worker": worker, "n": n },
                    }))
                    .await;
                let changed = gateway_
                    .call(
                        Method::PATCH,
                        &format!("/v1/interactions/{id}/properties"),
                        Some(&json!({ "segment": "gold" })),
                    )
                    .await;
                // Offered or handled meanwhile: a change is allowed in any
                // live state, stopped by an agent already is refused.
                assert!(matches!(changed.status, 200 | 409), "{changed}");
                if n % 3 == 0 {
                    let stopped = gateway_
                        .act(&id, "stop", Some(json!({ "reason": "spam" })))
                        .await;
                    assert!(matches!(stopped.status, 200 | 409), "{stopped}");
                }
            }
        }));
    }
    for person in ["anna", "arno"] {
        let agent = Session::on(sales, person).await;
        let mut desk = agent.at_work(&["email", "chat"]).await;
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                // Shorter than the stream's own patience: a quiet spell is
                // not a failure here.
                let offer = tokio::select! {
                    () = stop.cancelled() => return,
                    event = tokio::time::timeout(Duration::from_secs(5), desk.next()) => {
                        match event {
                            Ok(event) => event,
                            Err(_) => continue,
                        }
                    }
                };
                if offer.event != "offer" {
                    continue;
                }
                let id = offer.data["interaction"]["id"]
                    .as_str()
                    .expect("offered id")
                    .to_owned();
                // The gateway may have stopped it meanwhile.
                let accepted = agent.act(&id, "accept", None).await;
                if accepted.status != 200 {
                    continue;
                }
                let stopped = agent
                    .act(&id, "stop", Some(json!({ "reason": "answered" })))
                    .await;
                assert!(matches!(stopped.status, 200 | 409), "{stopped}");
            }
        }));
    }
    tasks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_keeps_disconnecting_reassembles_the_journal_in_commit_order() {
    const EVENTS: i64 = 10_000;
    const SEED: u64 = 0x1c5_feed;
    let sales = spawn_instance_with(Solution::Sales, |_| {}).await;
    let rita = Session::on(&sales, "rita").await;

    let started = std::time::Instant::now();
    let stop = CancellationToken::new();
    let drivers = drive(&sales, stop.clone()).await;
    let done = CancellationToken::new();
    let end = Arc::new(AtomicU64::new(0));
    let reader = {
        let (done, end) = (done.clone(), end.clone());
        tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(SEED);
            let mut got: Vec<Entry> = Vec::new();
            let mut last: Option<i64> = None;
            let (mut connections, mut lagged) = (0u32, 0u32);
            loop {
                let finished = done.is_cancelled();
                if finished && last.unwrap_or(0) >= end.load(Ordering::SeqCst) as i64 {
                    break;
                }
                // Resume with the header or with `after`, at random.
                let (query, header) = match (last, rng.gen_bool(0.5)) {
                    (Some(last), true) => (format!("?after={last}"), None),
                    (last, _) => (String::new(), last),
                };
                let mut stream = rita
                    .feed(&query, header)
                    .await
                    .unwrap_or_else(|refused| panic!("open the feed: {refused}"));
                connections += 1;
                let take = rng.gen_range(1..=700);
                // A quiet second only means reconnecting, which is what
                // this reader does anyway.
                let wait = Duration::from_secs(1);
                for _ in 0..take {
                    match stream.next(wait).await {
                        Some(Item::Entry(entry)) => {
                            assert!(
                                last.is_none_or(|last| entry.position > last),
                                "position {} after {last:?}",
                                entry.position
                            );
                            last = Some(entry.position);
                            got.push(entry);
                        }
                        Some(Item::Lagged(resume)) => {
                            assert_eq!(Some(resume), last, "lagged names the last sent");
                            lagged += 1;
                            break;
                        }
                        Some(Item::Purged(_)) => panic!("nothing was purged"),
                        None => break,
                    }
                }
                // Disconnects here.
            }
            (got, connections, lagged)
        })
    };

    common::eventually(Duration::from_secs(120), "10,000 journal entries", || {
        let pool = sales.pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM interaction_events")
                .fetch_one(&pool)
                .await
                .expect("count the journal");
            (n >= EVENTS).then_some(())
        }
    })
    .await;
    let produced = started.elapsed();
    stop.cancel();
    for driver in drivers {
        driver.await.expect("a driver failed");
    }
    let max: Option<i64> = sqlx::query_scalar("SELECT max(id) FROM interaction_events")
        .fetch_one(&sales.pool)
        .await
        .expect("the journal's end");
    end.store(max.expect("a journal") as u64, Ordering::SeqCst);
    done.cancel();
    let (got, connections, lagged) = tokio::time::timeout(Duration::from_secs(120), reader)
        .await
        .expect("the reader catches up")
        .expect("the reader failed");
    let journal = journal(&sales.pool).await;
    assert!(journal.len() as i64 >= EVENTS, "{} entries", journal.len());
    let kinds: std::collections::BTreeSet<&str> = journal.iter().map(|e| e.1.as_str()).collect();
    for kind in [
        "submitted",
        "properties_changed",
        "offered",
        "accepted",
        "processing_stopped",
    ] {
        assert!(kinds.contains(kind), "no {kind} in {kinds:?}");
    }
    assert_same(&as_rows(&got), &journal);
    assert!(connections > 20, "{connections} connections");
    // The same in one batch export.
    let exporting = std::time::Instant::now();
    let rita = Session::on(&sales, "rita").await;
    let export = entries(&rita.export("?follow=false", None).await);
    assert_same(&as_rows(&export), &journal);
    eprintln!(
        "exported {} entries in {:?}",
        export.len(),
        exporting.elapsed()
    );
    eprintln!(
        "{} entries reassembled over {connections} connections ({lagged} lagged); \
         made in {produced:?}, read by {:?}",
        got.len(),
        started.elapsed()
    );
}

// ---- 2. A stalled reader ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_reader_is_cut_off_with_where_to_resume_and_never_holds_the_writer_up() {
    const WHILE_STALLED: usize = 800;
    const WORKERS: usize = 8;
    let sales = spawn_instance_with(Solution::Sales, |settings| {
        settings.reporting.feed_buffer = 64;
    })
    .await;
    let rita = Session::on(&sales, "rita").await;
    let gateway_ = Session::on(&sales, "gateway").await;
    gateway_.submit(gateway(EMAIL, "inbound")).await;
    let mut stream = rita.feed("", None).await.expect("the feed");
    let Some(Item::Entry(first)) = stream.next(PATIENCE).await else {
        panic!("the first entry");
    };
    assert_eq!(first.kind, "submitted");

    // The reader reads nothing more while hundreds of entries commit, each
    // of 32 KiB, more than the sockets' buffers (a few MiB) and the tail
    // (64) hold together.
    let before = journal(&sales.pool).await.len();
    let padding = "x".repeat(32 * 1024);
    let mut workers = Vec::new();
    for worker in 0..WORKERS {
        let gateway_ = gateway_.clone();
        let padding = padding.clone();
        workers.push(tokio::spawn(async move {
            for n in 0..WHILE_STALLED / WORKERS {
                gateway_
                    .submit(json!({
                        "process": EMAIL, "queue": "inbound", "media_type": "email",
                        "properties": { "worker": worker, "n": n, "padding": padding },
                    }))
                    .await;
            }
        }));
    }
    for worker in workers {
        worker.await.expect("a gateway failed");
    }
    // Every submit was answered, so committed, while the reader read
    // nothing: the writer did not wait for it.
    let committed = journal(&sales.pool).await.len() - before;
    assert_eq!(committed, WHILE_STALLED);
    // Still connected, and counted as such (the cut comes as it reads on).
    assert_eq!(feed_readers(&sales).await, 1);

    // It reads again: what was on its way, then `lagged` naming where to
    // resume, and the end of the stream.
    let mut got = vec![first];
    let resume = loop {
        match stream.next(PATIENCE).await {
            Some(Item::Entry(entry)) => got.push(entry),
            Some(Item::Lagged(resume)) => break resume,
            other => panic!("after {} entries: {other:?}", got.len()),
        }
    };
    assert!(stream.next(PATIENCE).await.is_none(), "the stream ends");
    eventually(PATIENCE, "no feed reader counted", || async {
        (feed_readers(&sales).await == 0).then_some(())
    })
    .await;
    assert_eq!(Some(resume), got.last().map(|e| e.position));
    assert!(
        got.len() < committed,
        "{} of {committed} arrived before the cut",
        got.len()
    );
    // Resuming from there gives the rest, without a gap.
    let rest = rita.export("?follow=false", Some(resume)).await;
    got.extend(entries(&rest));
    assert_same(&as_rows(&got), &journal(&sales.pool).await);
    eprintln!(
        "{committed} entries committed while the reader was stalled; {} arrived before the cut",
        got.len() - rest.len()
    );
}

/// `ixs_feed_readers` on the instance's `/metrics` page.
async fn feed_readers(sales: &TestInstance) -> u64 {
    let page = http_client()
        .get(format!("http://{}/metrics", sales.addr))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("the page");
    let series = "ixs_feed_readers{instance=\"sales\"} ";
    page.lines()
        .find_map(|line| line.strip_prefix(series))
        .unwrap_or_else(|| panic!("no {series} in\n{page}"))
        .parse()
        .expect("a count")
}

// ---- 3. Filters and the batch export ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_and_the_batch_export() {
    let sales = spawn_instance_with(Solution::Sales, |_| {}).await;
    let rita = Session::on(&sales, "rita").await;
    let gateway_ = Session::on(&sales, "gateway").await;
    let admin = Session::on(&sales, "admin").await;
    let anna = Session::on(&sales, "anna").await;
    let mut desk = anna.at_work(&["email"]).await;

    // An e-mail anna is offered, accepts and stops.
    let mail = gateway_.submit(gateway(EMAIL, "inbound")).await;
    let offered = desk.offer().await;
    assert_eq!(offered["id"], mail.as_str());
    assert_eq!(anna.act(&mail, "accept", None).await.status, 200);
    let stopped = anna
        .act(&mail, "stop", Some(json!({ "reason": "answered" })))
        .await;
    assert_eq!(stopped.status, 200, "{stopped}");
    // A chat nobody takes, moved to the overflow queue and stopped.
    let chat = gateway_
        .submit(json!({ "process": CHAT, "queue": "inbound", "media_type": "chat" }))
        .await;
    let placed = admin
        .act(
            &chat,
            "place-in-queue",
            Some(json!({ "queue": "overflow" })),
        )
        .await;
    assert_eq!(placed.status, 200, "{placed}");
    let stopped = gateway_
        .act(&chat, "stop", Some(json!({ "reason": "abandoned" })))
        .await;
    assert_eq!(stopped.status, 200, "{stopped}");

    // Everything, in the journal's order, and the stream ends.
    let all = entries(&rita.export("?follow=false", None).await);
    let journal = journal(&sales.pool).await;
    assert_same(&as_rows(&all), &journal);
    let mail_id = Uuid::parse_str(&mail).unwrap();
    let chat_id = Uuid::parse_str(&chat).unwrap();
    // Each entry says what a report needs.
    let submitted = all
        .iter()
        .find(|e| e.interaction == Some(mail_id) && e.kind == "submitted")
        .expect("the e-mail's submission");
    let data = &submitted.data;
    assert_eq!(data["process"], EMAIL, "{data}");
    assert_eq!(data["queue"], "inbound", "{data}");
    assert_eq!(data["media_type"], "email", "{data}");
    assert!(data["at"].is_string(), "{data}");
    assert_eq!(data["data"]["id"], mail.as_str(), "the details: {data}");
    let accepted = all
        .iter()
        .find(|e| e.kind == "accepted")
        .expect("the acceptance");
    assert_eq!(accepted.data["agent"], "anna", "{}", accepted.data);
    assert_eq!(
        all.iter()
            .find(|e| e.interaction == Some(chat_id) && e.kind == "processing_stopped")
            .expect("the chat's stop")
            .data["queue"],
        "overflow"
    );

    // By process, by queue, by agent, by kinds (repeated: any of them).
    let of_chat = entries(&rita.export("?follow=false&process=sales-chat", None).await);
    assert_eq!(
        kinds(&of_chat),
        ["submitted", "placed_in_queue", "processing_stopped"]
    );
    assert!(of_chat.iter().all(|e| e.interaction == Some(chat_id)));
    let overflow = entries(&rita.export("?follow=false&queue=overflow", None).await);
    assert_eq!(kinds(&overflow), ["placed_in_queue", "processing_stopped"]);
    let of_anna = entries(&rita.export("?follow=false&agent=anna", None).await);
    assert_eq!(
        kinds(&of_anna),
        [
            "agent_logged_in",
            "agent_ready",
            "offered",
            "accepted",
            "processing_stopped"
        ]
    );
    let ends = entries(
        &rita
            .export("?follow=false&kind=submitted&kind=processing_stopped", None)
            .await,
    );
    assert_eq!(ends.len(), 4);
    assert!(
        ends.iter()
            .all(|e| e.kind == "submitted" || e.kind == "processing_stopped")
    );
    let both = entries(
        &rita
            .export("?follow=false&process=sales-email&kind=accepted", None)
            .await,
    );
    assert_eq!(
        as_rows(&both),
        [(accepted.position, "accepted".into(), Some(mail_id))]
    );

    // After a position; the header wins over `after` (a client
    // reconnecting sends its URL again).
    let middle = all[all.len() / 2].position;
    let later = entries(
        &rita
            .export(&format!("?follow=false&after={middle}"), None)
            .await,
    );
    assert_same(
        &as_rows(&later),
        &journal
            .iter()
            .filter(|e| e.0 > middle)
            .cloned()
            .collect::<Vec<_>>(),
    );
    let header = entries(&rita.export("?follow=false&after=0", Some(middle)).await);
    assert_eq!(header, later);

    // Following: the history, then what commits next, after commit.
    let mut live = rita
        .feed("?process=sales-email", Some(all.last().unwrap().position))
        .await
        .expect("the feed");
    let next = gateway_.submit(gateway(EMAIL, "inbound")).await;
    let Some(Item::Entry(entry)) = live.next(PATIENCE).await else {
        panic!("the next entry");
    };
    assert_eq!(
        (entry.kind.as_str(), entry.interaction),
        ("submitted", Some(Uuid::parse_str(&next).unwrap()))
    );
    // From the end: only what commits from now on.
    assert!(
        rita.export("?follow=false&after=end", None)
            .await
            .is_empty()
    );
    let mut tail = rita.feed("?after=end", None).await.expect("the feed");
    let newest = gateway_.submit(gateway(EMAIL, "inbound")).await;
    let Some(Item::Entry(entry)) = tail.next(PATIENCE).await else {
        panic!("the entry after the end");
    };
    assert_eq!(
        (entry.kind.as_str(), entry.interaction),
        ("submitted", Some(Uuid::parse_str(&newest).unwrap()))
    );
    // An administrator reads it too.
    assert!(!admin.export("?follow=false", None).await.is_empty());
}

// ---- 4. Refusals ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_and_roles_are_refused() {
    let sales = spawn_instance_with(Solution::Sales, |_| {}).await;
    let rita = Session::on(&sales, "rita").await;
    for (query, field) in [
        ("?kind=bogus", "kind"),
        ("?kind=submitted&kind=", "kind"),
        ("?after=-1", "after"),
        ("?after=abc", "after"),
        ("?follow=maybe", "follow"),
        ("?queue=", "queue"),
        ("?since=3", "since"),
    ] {
        let refused = rita.feed(query, None).await.err().expect(query);
        refused.assert_invalid_field(field);
        assert_eq!(refused.status, 422, "{query}: {refused}");
    }
    let refused = rita.feed("", None).await;
    assert!(refused.is_ok(), "no position: from the oldest kept");
    let client = http_client();
    let bad_header = Answer::of(
        client
            .get(sales.url("/v1/events"))
            .bearer_auth(&rita.token)
            .header("Last-Event-ID", "12x"),
        "a bad Last-Event-ID",
    )
    .await;
    bad_header.assert_invalid_field("Last-Event-ID");
    let kind = rita.feed("?kind=bogus", None).await.err().unwrap();
    assert!(
        kind.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("submitted"),
        "the message lists the kinds: {kind}"
    );
    // A process this instance does not serve.
    rita.feed("?process=support-email", None)
        .await
        .err()
        .unwrap()
        .assert_error(403, "out_of_scope");
    // Without a token; as an agent; as a gateway.
    let anonymous = Answer::of(client.get(sales.url("/v1/events")), "no token").await;
    anonymous.assert_error(401, "unauthorized");
    for person in ["anna", "gateway"] {
        let refused = Session::on(&sales, person)
            .await
            .feed("?follow=false", None)
            .await
            .err()
            .unwrap_or_else(|| panic!("{person} reads the feed"));
        refused.assert_error(403, "forbidden");
    }
}

// ---- 5. Retention ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positions_retention_purged_are_gone() {
    let sales = spawn_instance_with(Solution::Sales, |_| {}).await;
    let rita = Session::on(&sales, "rita").await;
    let gateway_ = Session::on(&sales, "gateway").await;
    // Nothing purged yet: position 0 is fine.
    assert!(rita.export("?follow=false&after=0", None).await.is_empty());
    for _ in 0..10 {
        gateway_.submit(gateway(EMAIL, "inbound")).await;
    }
    let before = journal(&sales.pool).await;
    assert_eq!(before.len(), 10);

    // Retention deletes the oldest four, as the instance's own sweep would.
    let (holder, epoch): (String, i64) =
        sqlx::query_as("SELECT holder, epoch FROM instance_lease WHERE id = 1")
            .fetch_one(&sales.pool)
            .await
            .expect("the lease");
    let store = PgStore::from_pool(sales.pool.clone());
    let now = Utc::now();
    let purged = store
        .purge(
            &Fence { holder, epoch },
            now - chrono::Duration::days(1),
            now + chrono::Duration::days(1),
            4,
        )
        .await
        .expect("purge");
    assert_eq!(purged.events, 4);
    let (gone, kept) = before.split_at(4);
    let mark = gone.last().unwrap().0;

    for (query, header) in [("?after=0", None), ("", Some(mark - 1))] {
        let refused = rita.feed(query, header).await.err().expect("410");
        refused.assert_error(410, "purged");
        assert_eq!(
            refused.body["error"]["oldest_position"], kept[0].0,
            "{refused}"
        );
        assert_eq!(refused.body["error"]["resume_after"], mark, "{refused}");
    }
    // From the mark on, and without a position (from the oldest kept).
    let rest = entries(&rita.export("?follow=false", Some(mark)).await);
    assert_same(&as_rows(&rest), kept);
    let oldest = entries(&rita.export("?follow=false", None).await);
    assert_same(&as_rows(&oldest), kept);
    // A reader following from the mark is unaffected.
    let mut live = rita.feed("", Some(mark)).await.expect("the feed");
    for expected in kept {
        let Some(Item::Entry(entry)) = live.next(PATIENCE).await else {
            panic!("entry {expected:?}");
        };
        assert_eq!(entry.position, expected.0);
    }
}

// ---- 6. Stopping ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_following_stream_ends_when_the_instance_stops_and_does_not_hold_it_up() {
    let sales = spawn_instance_with(Solution::Sales, |_| {}).await;
    let rita = Session::on(&sales, "rita").await;
    let gateway_ = Session::on(&sales, "gateway").await;
    gateway_.submit(gateway(EMAIL, "inbound")).await;
    let mut stream = rita.feed("", None).await.expect("the feed");
    assert!(matches!(stream.next(PATIENCE).await, Some(Item::Entry(_))));
    // The grace period is 10 s: a stream holding the stop up would take it.
    let stopping = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(5), sales.shutdown())
        .await
        .expect("the instance stops without waiting for the stream")
        .expect("a clean stop");
    assert!(stream.next(PATIENCE).await.is_none());
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "the stream ended with the instance: {:?}",
        stopping.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_following_stream_ends_when_the_lease_is_lost() {
    let sales = spawn_instance_with(Solution::Sales, common::tweak::renew_often).await;
    let rita = Session::on(&sales, "rita").await;
    let gateway_ = Session::on(&sales, "gateway").await;
    gateway_.submit(gateway(EMAIL, "inbound")).await;
    let mut stream = rita.feed("", None).await.expect("the feed");
    assert!(matches!(stream.next(PATIENCE).await, Some(Item::Entry(_))));
    sqlx::query("UPDATE instance_lease SET epoch = epoch + 1, holder = 'thief'")
        .execute(&sales.pool)
        .await
        .expect("steal the lease");
    // This instance may no longer write: nothing more comes from it.
    let waiting = std::time::Instant::now();
    assert!(stream.next(PATIENCE).await.is_none());
    assert!(
        waiting.elapsed() < PATIENCE,
        "the stream ended: {:?}",
        waiting.elapsed()
    );
}
