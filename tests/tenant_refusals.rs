//! Who may do what, against one configuration server and the instances
//! `sales` and `support` following it: wrong secrets, passwords and tokens,
//! missing roles, an invalid tenant file, and revoked identities. Each
//! refusal writes nothing, in either database.
//!
//! Waits are bounded polls; nothing is asserted after a sleep.

mod common;

use common::config_server::{SALES_CHAT_FOR_SUPPORT, SALES_CHAT_IN_SALES};
use common::instance::{ADMIN, PASSWORD};
use common::tenant::{PATIENCE, assert_out_of_scope, chat, ids_of};
use common::{
    Solution, Tenant, TestConfigServer, TestDb, eventually, gateway, spawn_instance_on_server,
    start_on_server,
};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

// ---- 5. Refusals, each with nothing written ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_with_a_wrong_secret_serves_nothing_and_says_why() {
    let tenant = Tenant::start().await;
    let before = tenant.counts().await;
    let db = Arc::new(TestDb::create().await);
    let mut wrong = start_on_server(db, Solution::Sales, &tenant.server.url(), |s| {
        s.config_server.secret = Some(secrecy::SecretString::from("wrong-secret".to_owned()));
    })
    .await;
    let ready = eventually(PATIENCE, "readyz to say why it serves nothing", || async {
        let ready = wrong.readyz().await;
        let reason = ready.body["reason"].as_str().unwrap_or_default().to_owned();
        reason.contains("serving nothing").then_some(ready)
    })
    .await;
    assert_eq!(ready.status, 503, "{ready}");
    assert_eq!(ready.body["ready"], false);
    assert_eq!(ready.body["processes"], 0);
    let reason = ready.body["reason"].as_str().unwrap();
    assert!(
        reason.contains("configuration server refused application 'ixs-sales'"),
        "{ready}"
    );
    assert!(
        !reason.contains("wrong-secret"),
        "the secret leaked: {ready}"
    );

    // Persons still log in (the server checks them), but there is nothing
    // to act on.
    wrong.act_as(ADMIN).await;
    let scope = wrong.scope().await;
    assert_eq!(scope.body["processes"], json!([]), "{scope}");
    assert!(
        scope.body["problem"].as_str().unwrap().contains("refused"),
        "{scope}"
    );
    for process in Solution::Sales.processes() {
        let answer = wrong.submit(&gateway(process, "inbound")).await;
        assert!(
            [403, 503].contains(&answer.status),
            "submit {process}: {answer}"
        );
        answer.assert_no_internals();
        assert_out_of_scope("find", &wrong.find(&[("process", process)]).await, process);
    }
    assert_eq!(wrong.counts().await, (0, 0));
    assert_eq!(tenant.counts().await, before);
    // The real sales is not affected by an impostor.
    assert_eq!(tenant.sales.readyz().await.status, 200);
    tenant
        .sales
        .submit_ok(&gateway("sales-email", "inbound"))
        .await;
}

/// A random token of the right shape: 64 hex digits.
fn forged_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_and_foreign_forged_or_missing_tokens_get_401() {
    let tenant = Tenant::start().await;
    let (sales, support) = (&tenant.sales, &tenant.support);
    let queued = sales.submit_ok(&gateway("sales-email", "inbound")).await;
    let id = queued["id"].as_str().unwrap().to_owned();
    let support_gateway = support.token_of("gateway").await;
    let before = tenant.counts().await;

    for (person, password) in [
        ("gateway", "wrong"),
        ("anna", "Demo"),
        ("nobody", PASSWORD),
        // Has no password: nobody logs in as the server's identity.
        ("svc-sales", PASSWORD),
    ] {
        let answer = sales.log_in(person, password).await;
        answer.assert_error(401, "invalid_credentials");
        assert!(answer.body.get("token").is_none(), "{answer}");
    }

    let requests: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::POST,
            "/v1/interactions".into(),
            Some(gateway("sales-email", "inbound")),
        ),
        (Method::GET, format!("/v1/interactions/{id}"), None),
        (
            Method::GET,
            "/v1/interactions?process=sales-email".into(),
            None,
        ),
        (
            Method::PATCH,
            format!("/v1/interactions/{id}/properties"),
            Some(json!({ "x": 1 })),
        ),
        (
            Method::POST,
            format!("/v1/interactions/{id}/place-in-queue"),
            Some(json!({ "queue": "overflow" })),
        ),
        (
            Method::POST,
            format!("/v1/interactions/{id}/stop"),
            Some(json!({ "reason": "forged" })),
        ),
        (Method::GET, "/v1/queues".into(), None),
        (Method::GET, "/v1/queues/sales-email/inbound".into(), None),
        (Method::GET, "/v1/scope".into(), None),
    ];
    let forged = forged_token();
    let tokens = [
        ("no token", None),
        ("a forged token", Some(forged.as_str())),
        ("a token of support", Some(support_gateway.as_str())),
        ("a malformed token", Some("not a token")),
    ];
    for (what, token) in tokens {
        for (method, path, body) in &requests {
            let answer = sales
                .request_as(token, method.clone(), path, body.as_ref())
                .await;
            assert_eq!(answer.status, 401, "{what}: {method} {path}: {answer}");
            answer.assert_error(401, "unauthorized");
        }
    }
    assert_eq!(tenant.counts().await, before, "nothing written");
    assert_eq!(sales.get(&id).await.body, queued);
    // The support token is good where it was issued.
    let answer = support
        .submit_with(&support_gateway, &gateway("support-email", "inbound"))
        .await;
    assert_eq!(answer.status, 201, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_gets_401_and_writes_nothing() {
    let server = TestConfigServer::spawn().await;
    let ttl = Duration::from_secs(2);
    let sales = spawn_instance_on_server(Solution::Sales, &server.url(), |s| {
        s.auth.session_ttl = ttl;
    })
    .await;
    let token = sales.token_of("gateway").await;
    let first = sales
        .submit_with(&token, &gateway("sales-email", "inbound"))
        .await;
    assert_eq!(first.status, 201, "a fresh token works: {first}");
    let id = first.id().to_owned();
    let before = sales.counts().await;

    eventually(ttl + PATIENCE, "the token to expire", || async {
        let answer = sales
            .request_as(Some(&token), Method::GET, "/v1/scope", None)
            .await;
        (answer.status == 401).then_some(())
    })
    .await;
    let answer = sales
        .submit_with(&token, &gateway("sales-email", "inbound"))
        .await;
    answer.assert_error(401, "unauthorized");
    let answer = sales
        .request_as(
            Some(&token),
            Method::POST,
            &format!("/v1/interactions/{id}/stop"),
            Some(&json!({ "reason": "late" })),
        )
        .await;
    answer.assert_error(401, "unauthorized");
    assert_eq!(sales.counts().await, before, "nothing written");

    // Logging in again gives a working token.
    let fresh = sales.token_of("gateway").await;
    let answer = sales
        .request_as(
            Some(&fresh),
            Method::GET,
            &format!("/v1/interactions/{id}"),
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{answer}");
    assert_eq!(answer.body["state"], "queued");
    assert_eq!(answer.body["version"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_role_gets_403_and_writes_nothing() {
    let tenant = Tenant::start().await;
    let sales = &tenant.sales;
    let gateway_token = sales.token_of("gateway").await;
    let anna = sales.token_of("anna").await;
    let arno = sales.token_of("arno").await;
    let rita = sales.token_of("rita").await;
    let queued = sales
        .submit_with(&gateway_token, &gateway("sales-email", "inbound"))
        .await;
    assert_eq!(queued.status, 201, "{queued}");
    let arnos = sales
        .submit_with(&arno, &chat("sales-chat", "inbound", 1))
        .await;
    assert_eq!(arnos.status, 201, "{arnos}");
    assert_eq!(arnos.body["agent"], "arno");
    let (queued_id, arnos_id) = (queued.id().to_owned(), arnos.id().to_owned());
    let before = tenant.counts().await;

    let stop = json!({ "reason": "not mine" });
    let cases: Vec<(&str, &str, Method, String, Option<Value>)> = vec![
        (
            "gateway reads a queue",
            gateway_token.as_str(),
            Method::GET,
            "/v1/queues/sales-email/inbound".into(),
            None,
        ),
        (
            "gateway lists queues",
            gateway_token.as_str(),
            Method::GET,
            "/v1/queues".into(),
            None,
        ),
        (
            "gateway places in a queue",
            gateway_token.as_str(),
            Method::POST,
            format!("/v1/interactions/{queued_id}/place-in-queue"),
            Some(json!({ "queue": "overflow" })),
        ),
        (
            "anna stops a queued interaction",
            anna.as_str(),
            Method::POST,
            format!("/v1/interactions/{queued_id}/stop"),
            Some(stop.clone()),
        ),
        (
            "anna stops arno's",
            anna.as_str(),
            Method::POST,
            format!("/v1/interactions/{arnos_id}/stop"),
            Some(stop.clone()),
        ),
        (
            "anna changes arno's",
            anna.as_str(),
            Method::PATCH,
            format!("/v1/interactions/{arnos_id}/properties"),
            Some(json!({ "x": 1 })),
        ),
        (
            "anna reads arno's",
            anna.as_str(),
            Method::GET,
            format!("/v1/interactions/{arnos_id}"),
            None,
        ),
        (
            "anna reads a queue",
            anna.as_str(),
            Method::GET,
            "/v1/queues/sales-chat/inbound".into(),
            None,
        ),
        (
            "anna submits into arno's hands",
            anna.as_str(),
            Method::POST,
            "/v1/interactions".into(),
            Some(
                json!({ "process": "sales-chat", "queue": "inbound", "media_type": "chat", "agent": "arno" }),
            ),
        ),
        (
            "rita submits",
            rita.as_str(),
            Method::POST,
            "/v1/interactions".into(),
            Some(gateway("sales-email", "inbound")),
        ),
        (
            "rita stops",
            rita.as_str(),
            Method::POST,
            format!("/v1/interactions/{queued_id}/stop"),
            Some(stop.clone()),
        ),
        (
            "rita changes properties",
            rita.as_str(),
            Method::PATCH,
            format!("/v1/interactions/{queued_id}/properties"),
            Some(json!({ "x": 1 })),
        ),
    ];
    for (what, token, method, path, body) in &cases {
        let answer = sales
            .request_as(Some(token), method.clone(), path, body.as_ref())
            .await;
        assert_eq!(answer.status, 403, "{what}: {answer}");
        answer.assert_error(403, "forbidden");
    }
    assert_eq!(tenant.counts().await, before, "nothing written");
    assert_eq!(sales.get(&queued_id).await.body, queued.body);
    assert_eq!(sales.get(&arnos_id).await.body, arnos.body);

    // What each role may do, it does.
    let answer = sales
        .request_as(
            Some(&rita),
            Method::GET,
            "/v1/queues/sales-email/inbound",
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "rita reads a queue: {answer}");
    assert_eq!(ids_of(&answer), [queued_id.as_str()]);
    let answer = sales
        .request_as(Some(&anna), Method::GET, "/v1/interactions", None)
        .await;
    assert_eq!(answer.status, 200, "{answer}");
    assert_eq!(answer.body["interactions"], json!([]), "anna sees none");
    let answer = sales
        .request_as(
            Some(&arno),
            Method::POST,
            &format!("/v1/interactions/{arnos_id}/stop"),
            Some(&json!({ "reason": "done" })),
        )
        .await;
    assert_eq!(answer.status, 200, "arno stops his own: {answer}");
}

// ---- 6. An invalid tenant file ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_tenant_file_is_refused_and_the_instances_keep_their_scope() {
    let tenant = Tenant::start().await;
    let (server, sales, support) = (&tenant.server, &tenant.sales, &tenant.support);
    let status = server.status().await;
    assert_eq!(status["revision"], 1);
    assert_eq!(status["last_error"], Value::Null);
    let scopes = [sales.scope().await.body, support.scope().await.body];

    // One write of sales.toml: sales-chat moved to support, and an unknown
    // order field in sales-email. The whole load is refused.
    let valid_order = "order = \"priority desc, submitted_at asc\"\nstrategy = \"skilled-first\"";
    let text = server.read("sales.toml");
    assert_eq!(text.matches(valid_order).count(), 1);
    let text = text
        .replacen(SALES_CHAT_IN_SALES, SALES_CHAT_FOR_SUPPORT, 1)
        .replacen(valid_order, &valid_order.replace("priority", "prio"), 1);
    let bad_line = text[..text.find("order = \"prio desc").unwrap()]
        .matches('\n')
        .count()
        + 1;
    server.write("sales.toml", &text);

    let refused = eventually(PATIENCE, "the refusal in /v1/status", || async {
        let status = server.status().await;
        (!status["last_error"].is_null()).then_some(status)
    })
    .await;
    assert_eq!(refused["revision"], 1, "the revision in force stays");
    let problems = refused["last_error"]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{refused}");
    let problem = &problems[0];
    assert!(
        problem["file"].as_str().unwrap().ends_with("sales.toml"),
        "{problem}"
    );
    assert_eq!(problem["line"], bad_line, "{problem}");
    assert!(problem["column"].as_u64().is_some(), "{problem}");
    assert!(
        problem["object"].as_str().unwrap().contains("sales-email"),
        "{problem}"
    );
    assert!(
        problem["reason"].as_str().unwrap().contains("prio"),
        "{problem}"
    );

    // Both keep the revision in force, and serve as before.
    let watched = Instant::now();
    while watched.elapsed() < Duration::from_millis(500) {
        for (instance, scope) in [sales, support].into_iter().zip(&scopes) {
            assert_eq!(&instance.scope().await.body, scope);
            assert_eq!(instance.readyz().await.status, 200);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    sales.submit_ok(&chat("sales-chat", "inbound", 1)).await;
    assert_out_of_scope(
        "support: submit",
        &support.submit(&chat("sales-chat", "inbound", 1)).await,
        "sales-chat",
    );
    assert_eq!(server.status().await["revision"], 1);

    // Fixing the file applies it, the move included.
    server.edit("sales.toml", "prio desc", "priority desc");
    eventually(PATIENCE, "the fixed revision on both instances", || async {
        let moved = sales.served_processes().await == ["sales-email"]
            && support.served_processes().await == ["sales-chat", "support-chat", "support-email"];
        let revisions = [
            sales.scope().await.body["revision"].clone(),
            support.scope().await.body["revision"].clone(),
        ];
        (moved && revisions == [json!(2), json!(2)]).then_some(())
    })
    .await;
    let status = server.status().await;
    assert_eq!(status["revision"], 2);
    assert_eq!(status["last_error"], Value::Null);
    support.submit_ok(&chat("sales-chat", "inbound", 1)).await;
}

// ---- 7. Revocation ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_secret_stops_sales_and_leaves_support_alone() {
    let tenant = Tenant::start().await;
    let (server, sales, support) = (&tenant.server, &tenant.sales, &tenant.support);
    let queued = sales.submit_ok(&gateway("sales-email", "inbound")).await;
    let id = queued["id"].as_str().unwrap().to_owned();
    let support_processes = support.served_processes().await;
    let before = tenant.counts().await;

    let old = ixs::directory::Directory::load(server.dir())
        .expect("the tenant loads")
        .applications["ixs-sales"]
        .secret_hash
        .clone()
        .expect("ixs-sales has a secret");
    server.edit(
        "people.toml",
        old.as_str(),
        &ixs::directory::hash_secret("other"),
    );

    let ready = eventually(PATIENCE, "sales to stop serving", || async {
        let ready = sales.readyz().await;
        (ready.status == 503).then_some(ready)
    })
    .await;
    let reason = ready.body["reason"].as_str().unwrap();
    assert!(
        reason.contains("serving nothing")
            && reason.contains("configuration server refused application 'ixs-sales'"),
        "{ready}"
    );
    assert_eq!(ready.body["processes"], 0, "{ready}");
    let scope = sales.scope().await;
    assert_eq!(scope.body["processes"], json!([]), "{scope}");
    assert!(
        scope.body["problem"].as_str().unwrap().contains("refused"),
        "{scope}"
    );
    for process in Solution::Sales.processes() {
        let answer = sales.submit(&gateway(process, "inbound")).await;
        assert!([403, 503].contains(&answer.status), "{answer}");
        answer.assert_no_internals();
    }
    assert_out_of_scope("get", &sales.get(&id).await, "sales-email");
    assert_out_of_scope("stop", &sales.stop(&id, "revoked").await, "sales-email");
    assert_out_of_scope(
        "change properties",
        &sales.change_properties(&id, &json!({ "x": 1 })).await,
        "sales-email",
    );
    assert_eq!(tenant.counts().await, before, "nothing written");

    // support is untouched.
    let ready = support.readyz().await;
    assert_eq!(ready.status, 200, "{ready}");
    assert_eq!(ready.body["source"], "config_server");
    assert_eq!(support.served_processes().await, support_processes);
    support
        .submit_ok(&gateway("support-email", "inbound"))
        .await;

    // Still refused a while later: the old secret stays wrong.
    let ready = sales.readyz().await;
    assert_eq!(ready.status, 503, "{ready}");
    let row: (String, i64) =
        sqlx::query_as("SELECT state, version FROM interactions WHERE id = $1")
            .bind(uuid::Uuid::parse_str(&id).unwrap())
            .fetch_one(&sales.pool)
            .await
            .unwrap();
    assert_eq!(row, ("queued".to_owned(), 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_without_log_on_as_serves_nothing_and_says_why() {
    let tenant = Tenant::start().await;
    let (server, sales, support) = (&tenant.server, &tenant.sales, &tenant.support);
    let queued = support
        .submit_ok(&gateway("support-email", "inbound"))
        .await;
    let id = queued["id"].as_str().unwrap().to_owned();
    let before = tenant.counts().await;

    let original = server.read("people.toml");
    server.edit("people.toml", "log_on_as = \"svc-support\"\n", "");
    let ready = eventually(PATIENCE, "support to stop serving", || async {
        let ready = support.readyz().await;
        (ready.status == 503).then_some(ready)
    })
    .await;
    let reason = ready.body["reason"].as_str().unwrap();
    assert!(
        reason.contains("serving nothing") && reason.contains("no log-on-as person"),
        "{ready}"
    );
    let scope = support.scope().await;
    assert_eq!(scope.body["processes"], json!([]), "{scope}");
    assert_eq!(scope.body["person"], Value::Null, "{scope}");
    assert!(
        scope.body["problem"]
            .as_str()
            .unwrap()
            .contains("'ixs-support' has no log-on-as person"),
        "{scope}"
    );
    let answer = support.submit(&gateway("support-email", "inbound")).await;
    assert!([403, 503].contains(&answer.status), "{answer}");
    assert_out_of_scope("get", &support.get(&id).await, "support-email");
    assert_out_of_scope("stop", &support.stop(&id, "nobody").await, "support-email");
    assert_eq!(tenant.counts().await, before, "nothing written");

    // sales is untouched.
    assert_eq!(sales.readyz().await.status, 200);
    assert_eq!(sales.served_processes().await, Solution::Sales.processes());
    sales.submit_ok(&gateway("sales-email", "inbound")).await;

    // Given back its identity, support serves again what it had.
    server.write("people.toml", &original);
    eventually(PATIENCE, "support to serve again", || async {
        (support.readyz().await.status == 200).then_some(())
    })
    .await;
    assert_eq!(
        support.served_processes().await,
        Solution::Support.processes()
    );
    assert_eq!(support.get(&id).await.body, queued);
}
