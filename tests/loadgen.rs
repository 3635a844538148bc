//! `ixs bench`'s load generator, through its library entry point, against
//! an instance of the test harness: every interaction it submits goes the
//! whole way (offered, accepted, stopped) by the agents anna and arno, a
//! reporter reads it all on the event feed, and its JSON report has the
//! fields the README documents.

mod common;

use common::{Solution, spawn_instance};
use ixs::loadgen::{Arrivals, Hold, Plan, Report};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

const README: &str = include_str!("../README.md");

fn plan(url: String) -> Plan {
    Plan {
        url,
        allow_remote: false,
        gateway: "gateway".into(),
        password: "demo".into(),
        process: "sales-email".into(),
        queue: "inbound".into(),
        media: "email".into(),
        arrivals: Arrivals::Clients(4),
        agents: vec!["anna".into(), "arno".into()],
        hold: Hold::Fixed(Duration::ZERO),
        duration: None,
        count: Some(200),
        drain: Duration::from_secs(30),
        progress: false,
        feed_reader: Some("rita".into()),
        returning_customers: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_interaction_submitted_is_offered_accepted_and_stopped() {
    let instance = spawn_instance(Solution::Sales).await;
    let report: Report = ixs::loadgen::run(plan(instance.url("")))
        .await
        .expect("the run starts");

    assert_eq!(report.errors.total, 0, "errors: {:?}", report.errors);
    assert_eq!(report.submitted, 200, "{report}");
    assert_eq!(report.accepted, 200, "{report}");
    assert_eq!(report.completed, report.submitted, "{report}");
    assert_eq!(report.other_offers, 0, "{report}");
    // Every offer was accepted: none was revoked and offered again.
    assert_eq!(report.offered, report.accepted, "{report}");
    let l = &report.latency_ms;
    for (name, latency) in [
        ("submit", &l.submit),
        ("submit_to_offer", &l.submit_to_offer),
        ("offer_to_accept", &l.offer_to_accept),
        ("end_to_end", &l.end_to_end),
        ("queue_wait", &l.queue_wait),
    ] {
        assert_eq!(latency.count, 200, "{name}: {latency:?}");
        assert!(
            latency.p50 <= latency.p90 && latency.p90 <= latency.p99 && latency.p99 <= latency.max,
            "{name}: {latency:?}"
        );
    }
    assert!(l.submit.p50 > 0.0 && l.end_to_end.p50 >= l.submit_to_offer.p50);
    // Each interaction's submit, accept and stop were committed, in
    // batches.
    assert!(report.writer.changes >= 600, "{:?}", report.writer);
    assert!(report.writer.batches > 0 && report.writer.mean_batch >= 1.0);
    // The feed's reader, from the end of the journal at the start, read
    // every interaction's submit, offer, accept and stop.
    let feed = report.feed.as_ref().expect("the feed reader's report");
    assert_eq!(feed.ended, None, "{feed:?}");
    assert!(feed.entries >= 800, "{feed:?}");
    assert_eq!(feed.lag_ms.count, feed.entries, "{feed:?}");

    // The JSON report has exactly the fields of the README's example.
    let json = serde_json::to_value(&report).expect("the report as JSON");
    assert_eq!(
        keys(&json),
        keys(&readme_example()),
        "JSON report vs README"
    );
    // Nothing is left with the agents: they logged out.
    let agents = instance.get_path("/v1/agents").await;
    for agent in agents.body["agents"].as_array().expect("agents") {
        assert_eq!(agent["logged_in"], Value::Bool(false), "{agent}");
    }
    instance.shutdown().await.expect("a clean shutdown");
}

#[tokio::test]
async fn a_url_that_is_not_loopback_is_refused_without_remote() {
    let refused = ixs::loadgen::run(plan("http://192.0.2.1:7201".into()))
        .await
        .expect_err("refused");
    assert!(refused.to_string().contains("--remote"), "{refused}");
}

/// The JSON example of the README's `ixs bench` section.
fn readme_example() -> Value {
    let section = README
        .split("\n### `ixs bench`")
        .nth(1)
        .expect("a section ### `ixs bench` in the README");
    let json = section
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("a JSON example in it");
    serde_json::from_str(json).expect("the README's example is JSON")
}

/// Every object key of `value`, as paths (`latency_ms.submit.p50`).
fn keys(value: &Value) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    collect(value, "", &mut keys);
    keys
}

fn collect(value: &Value, prefix: &str, keys: &mut BTreeSet<String>) {
    if let Value::Object(map) = value {
        for (key, inner) in map {
            // The error kinds are data, not fields.
            if prefix == "errors." && key == "by_kind" {
                keys.insert(format!("{prefix}{key}"));
                continue;
            }
            let path = format!("{prefix}{key}");
            collect(inner, &format!("{path}."), keys);
            keys.insert(path);
        }
    }
}
