//! The configuration server and both example instances started exactly as
//! their systemd units start them — `ixs config-server --config
//! config/config-server.toml`, `ixs serve --config config/sales.toml`,
//! `ixs serve --config config/support.toml`, from the repository's folder —
//! serve the README's walk-through, log-in included. Only the addresses and
//! databases are overridden, through the environment, as an operator would.

mod common;

use common::Answer;
use common::process::ExampleTenant;
use serde_json::{Value, json};
use std::time::Duration;

async fn send(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    Answer::of(request, "the walk-through's request").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_units_commands_serve_the_walk_through() {
    let ExampleTenant {
        mut config,
        mut sales,
        mut support,
        databases: _databases,
    } = ExampleTenant::launch().await;

    let http = reqwest::Client::new();
    let at = |path: &str| sales.url(path);
    use reqwest::Method as M;

    // Each instance serves its own solution, as its configuration server says.
    let scope = sales.get("/v1/scope").await;
    assert_eq!(scope.status, 200, "{scope}");
    assert_eq!(scope.body["source"], "config_server");
    assert_eq!(
        scope.body["processes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["sales-chat", "sales-email"]
    );

    // Log in as the gateway.
    let login = send(
        &http,
        M::POST,
        at("/v1/sessions"),
        None,
        Some(json!({"person": "gateway", "password": "demo"})),
    )
    .await;
    assert_eq!(login.status, 201, "{login}");
    let token = login.body["token"].as_str().unwrap().to_owned();
    let gateway = Some(token.as_str());

    // Submit, and again with the same external id.
    let mail = json!({"process": "sales-email", "queue": "inbound", "media_type": "email",
        "priority": 5, "external_id": "mail-0001",
        "properties": {"from": "ann@example.com", "segment": "gold"}});
    let created = send(
        &http,
        M::POST,
        at("/v1/interactions"),
        gateway,
        Some(mail.clone()),
    )
    .await;
    assert_eq!(created.status, 201, "{created}");
    let id = created.id().to_owned();
    let again = send(&http, M::POST, at("/v1/interactions"), gateway, Some(mail)).await;
    assert_eq!((again.status, again.id()), (200, id.as_str()));

    // Get it, change its properties, see the queue, stop it, twice.
    let got = send(
        &http,
        M::GET,
        at(&format!("/v1/interactions/{id}")),
        gateway,
        None,
    )
    .await;
    assert_eq!(got.body, created.body);
    let patched = send(
        &http,
        M::PATCH,
        at(&format!("/v1/interactions/{id}/properties")),
        gateway,
        Some(json!({"segment": null, "language": "fr"})),
    )
    .await;
    assert_eq!(patched.status, 200, "{patched}");
    assert_eq!(
        patched.body["properties"],
        json!({"from": "ann@example.com", "language": "fr"})
    );
    let queue = sales.get("/v1/queues/sales-email/inbound").await;
    assert_eq!(queue.status, 200, "{queue}");
    assert_eq!(queue.body["depth"], 1);
    let stop = |reason: &str| {
        send(
            &http,
            M::POST,
            at(&format!("/v1/interactions/{id}/stop")),
            gateway,
            Some(json!({"reason": reason})),
        )
    };
    let stopped = stop("answered").await;
    assert_eq!(stopped.status, 200, "{stopped}");
    assert_eq!(stopped.body["state"], "stopped");
    let twice = stop("again").await;
    twice.assert_error(409, "illegal_transition");
    assert_eq!(twice.body["error"]["state"], "stopped");

    // The support instance refuses sales' processes; its token is its own.
    let support_login = send(
        &http,
        M::POST,
        support.url("/v1/sessions"),
        None,
        Some(json!({"person": "gateway", "password": "demo"})),
    )
    .await;
    let support_token = support_login.body["token"].as_str().unwrap().to_owned();
    let refused = send(
        &http,
        M::POST,
        support.url("/v1/interactions"),
        Some(&support_token),
        Some(json!({"process": "sales-email", "queue": "inbound", "media_type": "email"})),
    )
    .await;
    refused.assert_error(403, "out_of_scope");
    let foreign = send(
        &http,
        M::GET,
        support.url(&format!("/v1/interactions/{id}")),
        gateway,
        None,
    )
    .await;
    foreign.assert_error(401, "unauthorized");

    // Stopped as systemd stops them.
    for process in [&mut sales, &mut support, &mut config] {
        let status = process.terminate(Duration::from_secs(15)).await;
        assert!(status.success(), "{status}:\n{}", process.log());
    }
}
