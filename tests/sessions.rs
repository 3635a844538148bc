//! Sessions on an instance, tried as a hostile client would: a person
//! holding several roles acts on another's interactions only where one of
//! her roles other than agent allows it; a change in the tenant's files
//! that changes her password, takes a role away or deletes her ends or
//! narrows her sessions at the next revision; log-ins checked against the
//! tenant's files are bounded; the authentication scheme is
//! case-insensitive; sessions survive a restart, kill -9 included, kept in
//! the instance's database by the SHA-256 of their token, never the token.
//!
//! Waits are bounded polls; nothing is asserted after a sleep.

mod common;

use common::instance::PASSWORD;
use common::process::{ServeProcess, write_config};
use common::tenant::{PATIENCE, chat};
use common::{
    Answer, Solution, TestConfigServer, TestDb, TestInstance, eventually, gateway, spawn_instance,
    spawn_instance_on_server, start_on, start_on_server,
};
use ixs::config_server::ReloadOutcome;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::Duration;

/// The reporters' group of `config/tenant/people.toml`, and the same group
/// with anna in it too.
const REPORTERS: &str = "members = [\"rita\"]";
const REPORTERS_WITH_ANNA: &str = "members = [\"rita\", \"anna\"]";
/// The sales agents' group, and the same group without anna.
const SALES_AGENTS: &str = "members = [\"anna\", \"arno\"]";
const SALES_AGENTS_WITHOUT_ANNA: &str = "members = [\"arno\"]";
const SALES_AGENTS_WITHOUT_ARNO: &str = "members = [\"anna\"]";

/// Reloads the tenant's files now and waits until `instance` serves the
/// revision in force; returns its number.
async fn next_revision(server: &TestConfigServer, instance: &TestInstance) -> u64 {
    let revision = match server.handle().reload_now().await {
        ReloadOutcome::Loaded(revision) | ReloadOutcome::Unchanged(revision) => revision.number,
        ReloadOutcome::Refused(failure) => panic!("the tenant's files were refused: {failure:?}"),
    };
    eventually(PATIENCE, "the instance to apply the revision", || async {
        let scope = instance.scope().await;
        (scope.status == 200 && scope.body["revision"] == revision).then_some(())
    })
    .await;
    revision
}

/// The configuration server, with anna an agent and a reporter, and the
/// sales instance following it, acting as `admin`.
async fn anna_also_reports() -> (TestConfigServer, TestInstance) {
    let server = TestConfigServer::spawn().await;
    server.edit("people.toml", REPORTERS, REPORTERS_WITH_ANNA);
    let sales = spawn_instance_on_server(Solution::Sales, &server.url(), |_| {}).await;
    next_revision(&server, &sales).await;
    (server, sales)
}

/// `request` as the holder of `token`.
async fn as_holder(
    instance: &TestInstance,
    token: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Answer {
    instance.request_as(Some(token), method, path, body).await
}

/// The lines of `people.toml` with `person`'s password hash replaced by
/// `hash`.
fn with_password_hash(people: &str, person: &str, hash: &str) -> String {
    let section = format!("[person.{person}]");
    let start = people.find(&section).expect("the person's section");
    let at = start + people[start..].find("password_hash = \"").expect("a hash");
    let value = at + "password_hash = \"".len();
    let end = value + people[value..].find('"').expect("the hash's end");
    format!("{}{hash}{}", &people[..value], &people[end..])
}

// ---- Several roles: each role's allowances; "only its own" for agent ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_who_is_also_a_reporter_acts_only_on_her_own_interactions() {
    let (_server, sales) = anna_also_reports().await;
    let login = sales.log_in("anna", PASSWORD).await;
    assert_eq!(login.status, 201, "{login}");
    assert_eq!(login.body["roles"], json!(["agent", "reporter"]));
    let anna = login.body["token"].as_str().unwrap().to_owned();
    let arno = sales.token_of("arno").await;
    let arnos = sales
        .submit_with(&arno, &chat("sales-chat", "inbound", 1))
        .await;
    assert_eq!(arnos.status, 201, "{arnos}");
    let queued = sales.submit_ok(&gateway("sales-email", "inbound")).await;
    let (arnos_id, queued_id) = (arnos.id().to_owned(), queued["id"].as_str().unwrap());
    let before = sales.counts().await;

    let stop = json!({ "reason": "not hers" });
    let refused = [
        (
            "stops arno's",
            Method::POST,
            format!("/v1/interactions/{arnos_id}/stop"),
            Some(stop.clone()),
        ),
        (
            "changes arno's",
            Method::PATCH,
            format!("/v1/interactions/{arnos_id}/properties"),
            Some(json!({ "x": 1 })),
        ),
        (
            "places arno's in a queue",
            Method::POST,
            format!("/v1/interactions/{arnos_id}/place-in-queue"),
            Some(json!({ "queue": "overflow" })),
        ),
        (
            "stops a queued one",
            Method::POST,
            format!("/v1/interactions/{queued_id}/stop"),
            Some(stop.clone()),
        ),
        (
            "changes a queued one",
            Method::PATCH,
            format!("/v1/interactions/{queued_id}/properties"),
            Some(json!({ "x": 1 })),
        ),
        (
            "submits into arno's hands",
            Method::POST,
            "/v1/interactions".into(),
            Some(json!({
                "process": "sales-chat", "queue": "inbound", "media_type": "chat",
                "agent": "arno",
            })),
        ),
    ];
    for (what, method, path, body) in &refused {
        let answer = as_holder(&sales, &anna, method.clone(), path, body.as_ref()).await;
        assert_eq!(answer.status, 403, "anna {what}: {answer}");
        answer.assert_error(403, "forbidden");
    }
    assert_eq!(sales.counts().await, before, "nothing written");
    assert_eq!(sales.get(&arnos_id).await.body, arnos.body);
    assert_eq!(&sales.get(queued_id).await.body, &queued);

    // What the reporter role allows, she does: read anyone's.
    let read = as_holder(
        &sales,
        &anna,
        Method::GET,
        &format!("/v1/interactions/{arnos_id}"),
        None,
    )
    .await;
    assert_eq!(read.status, 200, "{read}");
    // What the agent role allows, she does on her own: a submission lands
    // in her hands, and she stops it.
    let hers = sales
        .submit_with(&anna, &chat("sales-chat", "inbound", 1))
        .await;
    assert_eq!(hers.status, 201, "{hers}");
    assert_eq!(hers.body["agent"], "anna", "{hers}");
    assert_eq!(hers.body["state"], "handling", "{hers}");
    let stopped = as_holder(
        &sales,
        &anna,
        Method::POST,
        &format!("/v1/interactions/{}/stop", hers.id()),
        Some(&json!({ "reason": "done" })),
    )
    .await;
    assert_eq!(stopped.status, 200, "{stopped}");
}

// ---- A change in the directory ends or narrows her sessions ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_password_ends_her_sessions_at_the_next_revision() {
    let server = TestConfigServer::spawn().await;
    let sales = spawn_instance_on_server(Solution::Sales, &server.url(), |_| {}).await;
    let anna = sales.token_of("anna").await;
    let arno = sales.token_of("arno").await;
    let hers = sales
        .submit_with(&anna, &chat("sales-chat", "inbound", 1))
        .await;
    assert_eq!(hers.status, 201, "{hers}");
    let id = hers.id().to_owned();
    let path = format!("/v1/interactions/{id}/properties");

    let new_hash = ixs::directory::hash_secret("a new password");
    let people = server.read("people.toml");
    server.write(
        "people.toml",
        &with_password_hash(&people, "anna", &new_hash),
    );
    next_revision(&server, &sales).await;

    let answer = eventually(PATIENCE, "anna's session to end", || async {
        let answer = as_holder(&sales, &anna, Method::GET, "/v1/scope", None).await;
        (answer.status != 200).then_some(answer)
    })
    .await;
    answer.assert_error(401, "token_revoked");
    let before = sales.counts().await;
    let answer = as_holder(
        &sales,
        &anna,
        Method::PATCH,
        &path,
        Some(&json!({ "x": 1 })),
    )
    .await;
    answer.assert_error(401, "token_revoked");
    let answer = as_holder(
        &sales,
        &anna,
        Method::GET,
        &format!("/v1/interactions/{id}"),
        None,
    )
    .await;
    answer.assert_error(401, "token_revoked");
    assert_eq!(sales.counts().await, before, "nothing written");

    // Only hers: arno's session goes on.
    let answer = as_holder(&sales, &arno, Method::GET, "/v1/interactions", None).await;
    assert_eq!(answer.status, 200, "{answer}");
    // The old password no longer logs in; the new one does.
    sales
        .log_in("anna", PASSWORD)
        .await
        .assert_error(401, "invalid_credentials");
    let again = sales.log_in("anna", "a new password").await;
    assert_eq!(again.status, 201, "{again}");
    let token = again.body["token"].as_str().unwrap();
    let answer = as_holder(
        &sales,
        token,
        Method::PATCH,
        &path,
        Some(&json!({ "x": 1 })),
    )
    .await;
    assert_eq!(answer.status, 200, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_her_access_groups_narrows_then_ends_her_sessions() {
    let (server, sales) = anna_also_reports().await;
    let anna = sales.token_of("anna").await;
    let hers = sales
        .submit_with(&anna, &chat("sales-chat", "inbound", 1))
        .await;
    assert_eq!(hers.status, 201, "{hers}");
    let queued = sales.submit_ok(&gateway("sales-email", "inbound")).await;
    let others = format!("/v1/interactions/{}", queued["id"].as_str().unwrap());
    let own = format!("/v1/interactions/{}", hers.id());
    let answer = as_holder(&sales, &anna, Method::GET, &others, None).await;
    assert_eq!(answer.status, 200, "a reporter reads anyone's: {answer}");

    // Out of the reporters: an agent only.
    server.edit("people.toml", REPORTERS_WITH_ANNA, REPORTERS);
    next_revision(&server, &sales).await;
    let answer = eventually(PATIENCE, "anna's roles to narrow", || async {
        let answer = as_holder(&sales, &anna, Method::GET, &others, None).await;
        (answer.status != 200).then_some(answer)
    })
    .await;
    answer.assert_error(403, "forbidden");
    let answer = as_holder(&sales, &anna, Method::GET, &own, None).await;
    assert_eq!(answer.status, 200, "an agent reads her own: {answer}");
    let answer = as_holder(&sales, &anna, Method::GET, "/v1/queues", None).await;
    answer.assert_error(403, "forbidden");

    // Out of the agents too: no role remains, and the session ends.
    server.edit("people.toml", SALES_AGENTS, SALES_AGENTS_WITHOUT_ANNA);
    next_revision(&server, &sales).await;
    let answer = eventually(PATIENCE, "anna's session to end", || async {
        let answer = as_holder(&sales, &anna, Method::GET, &own, None).await;
        (answer.status != 200).then_some(answer)
    })
    .await;
    answer.assert_error(401, "token_revoked");
    let before = sales.counts().await;
    let answer = as_holder(
        &sales,
        &anna,
        Method::PATCH,
        &format!("{own}/properties"),
        Some(&json!({ "x": 1 })),
    )
    .await;
    answer.assert_error(401, "token_revoked");
    assert_eq!(sales.counts().await, before, "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_her_person_ends_her_sessions_at_the_next_revision() {
    let server = TestConfigServer::spawn().await;
    let sales = spawn_instance_on_server(Solution::Sales, &server.url(), |_| {}).await;
    let anna = sales.token_of("anna").await;
    let hers = sales
        .submit_with(&anna, &chat("sales-chat", "inbound", 1))
        .await;
    assert_eq!(hers.status, 201, "{hers}");
    let own = format!("/v1/interactions/{}", hers.id());

    let people = server.read("people.toml");
    let start = people.find("[person.anna]").expect("anna's section");
    let end = start
        + people[start..]
            .find("[person.arno]")
            .expect("arno's section");
    let people = format!("{}{}", &people[..start], &people[end..]).replacen(
        SALES_AGENTS,
        SALES_AGENTS_WITHOUT_ANNA,
        1,
    );
    server.write("people.toml", &people);
    next_revision(&server, &sales).await;

    let answer = eventually(PATIENCE, "anna's session to end", || async {
        let answer = as_holder(&sales, &anna, Method::GET, &own, None).await;
        (answer.status != 200).then_some(answer)
    })
    .await;
    answer.assert_error(401, "token_revoked");
    let before = sales.counts().await;
    let answer = as_holder(
        &sales,
        &anna,
        Method::POST,
        &format!("{own}/stop"),
        Some(&json!({ "reason": "gone" })),
    )
    .await;
    answer.assert_error(401, "token_revoked");
    assert_eq!(sales.counts().await, before, "nothing written");
    sales
        .log_in("anna", PASSWORD)
        .await
        .assert_error(401, "invalid_credentials");
}

// ---- Log-ins checked against the tenant's files are bounded ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_ins_beyond_the_bound_get_503_with_retry_after() {
    let sales = spawn_instance(Solution::Sales).await;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let attempts = (cores * 8).max(16);
    let burst = (0..attempts).map(|_| async {
        let response = sales
            .client
            .post(sales.url("/v1/sessions"))
            .json(&json!({ "person": "gateway", "password": PASSWORD }))
            .send()
            .await
            .expect("log in");
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .map(|v| v.to_str().expect("Retry-After is text").to_owned());
        let answer = Answer::from_response(response).await.expect("log in");
        (answer, retry_after)
    });
    let answers = futures::future::join_all(burst).await;
    let (mut admitted, mut busy) = (0, 0);
    for (answer, retry_after) in &answers {
        match answer.status {
            201 => {
                admitted += 1;
                assert!(retry_after.is_none(), "{answer}");
            }
            _ => {
                busy += 1;
                answer.assert_error(503, "busy");
                let seconds: u64 = retry_after
                    .as_deref()
                    .unwrap_or_else(|| panic!("no Retry-After: {answer}"))
                    .parse()
                    .expect("Retry-After in seconds");
                assert!(seconds >= 1, "{answer}");
            }
        }
    }
    assert!(admitted >= 1, "some log-ins are checked");
    assert!(
        busy >= 1,
        "{attempts} log-ins at once with {cores} cores: none was turned away"
    );
    // The bound frees as checks end.
    let answer = sales.log_in("gateway", PASSWORD).await;
    assert_eq!(answer.status, 201, "{answer}");
}

// ---- The authentication scheme is case-insensitive (RFC 9110 §11.1) ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_scheme_is_case_insensitive() {
    let sales = spawn_instance(Solution::Sales).await;
    let token = sales.token_of("gateway").await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let answer = Answer::of(
            sales
                .client
                .get(sales.url("/v1/scope"))
                .header(reqwest::header::AUTHORIZATION, format!("{scheme} {token}")),
            format!("GET /v1/scope with {scheme}"),
        )
        .await;
        assert_eq!(answer.status, 200, "{scheme}: {answer}");
    }
    for header in [
        format!("Basic {token}"),
        format!("Bearer{token}"),
        token.clone(),
        "Bearer".to_owned(),
    ] {
        let answer = Answer::of(
            sales
                .client
                .get(sales.url("/v1/scope"))
                .header(reqwest::header::AUTHORIZATION, &header),
            "GET /v1/scope",
        )
        .await;
        answer.assert_error(401, "unauthorized");
    }
}

// ---- Sessions survive a restart, kept as digests ----

/// The tables of the instance's database that hold `text` anywhere in a
/// row.
async fn tables_holding(pool: &PgPool, text: &str) -> Vec<String> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .expect("list the tables");
    let mut holding = Vec::new();
    for table in tables {
        let found: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM \"{table}\" AS t WHERE strpos(t::text, $1) > 0"
        ))
        .bind(text)
        .fetch_one(pool)
        .await
        .expect("search a table");
        if found > 0 {
            holding.push(table);
        }
    }
    holding
}

/// Asserts that the database keeps the session of `token` by the SHA-256
/// of the token, for `person`, and holds the token itself nowhere.
async fn assert_kept_as_digest(pool: &PgPool, token: &str, person: &str) {
    let kept: Vec<String> = sqlx::query_scalar(
        "SELECT person FROM instance_sessions WHERE digest = sha256(convert_to($1, 'UTF8'))",
    )
    .bind(token)
    .fetch_all(pool)
    .await
    .expect("read the sessions");
    assert_eq!(kept, [person], "kept under the SHA-256 of the token");
    assert_eq!(
        tables_holding(pool, token).await,
        Vec::<String>::new(),
        "the database holds the token itself"
    );
}

/// An answer to `GET path` as the holder of `token` from a client of its own.
async fn get_as(base: &str, token: &str, path: &str) -> Answer {
    let request = common::instance::http_client()
        .get(format!("{base}{path}"))
        .bearer_auth(token);
    Answer::of(request, format!("GET {path}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desktop_carries_on_with_its_token_after_kill_9_and_a_restart() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), Solution::Sales, &db);
    let mut first = ServeProcess::start(&config);
    first.wait_ready(PATIENCE).await;
    let login = Answer::of(
        common::instance::http_client()
            .post(first.url("/v1/sessions"))
            .json(&json!({ "person": "anna", "password": PASSWORD })),
        "log in anna",
    )
    .await;
    assert_eq!(login.status, 201, "{login}");
    let anna = login.body["token"].as_str().unwrap().to_owned();
    let hers = Answer::of(
        common::instance::http_client()
            .post(first.url("/v1/interactions"))
            .bearer_auth(&anna)
            .json(&chat("sales-chat", "inbound", 1)),
        "submit as anna",
    )
    .await;
    assert_eq!(hers.status, 201, "{hers}");
    let own = format!("/v1/interactions/{}", hers.id());
    let pool = db.pool().await;
    assert_kept_as_digest(&pool, &anna, "anna").await;

    // No drain, no lease release: the next one takes over once the dead
    // holder's lease runs out.
    first.kill9();
    let mut second = ServeProcess::start(&config);
    second.wait_ready(Duration::from_secs(30)).await;
    let base = second.url("");
    let answer = get_as(&base, &anna, &own).await;
    assert_eq!(
        answer.status, 200,
        "anna's token after the restart: {answer}"
    );
    assert_eq!(answer.body["agent"], "anna", "{answer}");
    let stopped = Answer::of(
        common::instance::http_client()
            .post(second.url(&format!("{own}/stop")))
            .bearer_auth(&anna)
            .json(&json!({ "reason": "done" })),
        "stop as anna",
    )
    .await;
    assert_eq!(stopped.status, 200, "{stopped}");
    // Still an agent, no more: reading another's is refused.
    get_as(&base, &anna, "/v1/queues")
        .await
        .assert_error(403, "forbidden");
    assert_kept_as_digest(&pool, &anna, "anna").await;
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_is_refused_after_a_restart_and_then_removed() {
    fn short_sessions(settings: &mut ixs::settings::Settings) {
        settings.auth.session_ttl = Duration::from_secs(2);
        settings.retention.interval = Duration::from_millis(100);
    }
    let sales = common::spawn_instance_with(Solution::Sales, short_sessions).await;
    let login = sales.log_in("anna", PASSWORD).await;
    assert_eq!(login.status, 201, "{login}");
    let anna = login.body["token"].as_str().unwrap().to_owned();
    assert_kept_as_digest(&sales.pool, &anna, "anna").await;
    let db = sales.db.clone();
    sales.shutdown().await.expect("a clean shutdown");

    let sales = start_on(db, Solution::Sales, short_sessions).await;
    sales.wait_ready().await;
    let answer = eventually(PATIENCE, "anna's session to expire", || async {
        let answer = as_holder(&sales, &anna, Method::GET, "/v1/scope", None).await;
        (answer.status != 200).then_some(answer)
    })
    .await;
    answer.assert_error(401, "unauthorized");
    assert!(
        answer.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("expired")),
        "{answer}"
    );
    eventually(
        PATIENCE,
        "retention to remove the expired session",
        || async {
            let left: i64 = sqlx::query_scalar("SELECT count(*) FROM instance_sessions")
                .fetch_one(&sales.pool)
                .await
                .expect("count the sessions");
            // admin's, of this start, expires too.
            (left == 0).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_a_revoked_token_stays_revoked_and_restored_ones_follow_the_directory() {
    let server = TestConfigServer::spawn().await;
    let sales = spawn_instance_on_server(Solution::Sales, &server.url(), |_| {}).await;
    let anna = sales.token_of("anna").await;
    let arno = sales.token_of("arno").await;
    let rita = sales.token_of("rita").await;
    for (token, person) in [(&anna, "anna"), (&arno, "arno"), (&rita, "rita")] {
        assert_kept_as_digest(&sales.pool, token, person).await;
    }

    // anna's password changes: her session ends.
    let new_hash = ixs::directory::hash_secret("a new password");
    let people = server.read("people.toml");
    server.write(
        "people.toml",
        &with_password_hash(&people, "anna", &new_hash),
    );
    next_revision(&server, &sales).await;
    eventually(PATIENCE, "anna's session to end", || async {
        let answer = as_holder(&sales, &anna, Method::GET, "/v1/scope", None).await;
        (answer.status != 200).then_some(answer)
    })
    .await
    .assert_error(401, "token_revoked");
    let revoked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM instance_sessions
         WHERE digest = sha256(convert_to($1, 'UTF8')) AND revoked_at IS NOT NULL",
    )
    .bind(&anna)
    .fetch_one(&sales.pool)
    .await
    .unwrap();
    assert_eq!(revoked, 1, "the database keeps that it ended");

    let db = sales.db.clone();
    sales.shutdown().await.expect("a clean shutdown");
    let mut sales = start_on_server(db, Solution::Sales, &server.url(), |_| {}).await;
    sales.wait_ready().await;
    sales.act_as("admin").await;

    // arno, whom this instance reads, carries on; anna's stays refused as
    // revoked; rita, whom it cannot read, cannot be confirmed.
    let answer = as_holder(&sales, &arno, Method::GET, "/v1/interactions", None).await;
    assert_eq!(
        answer.status, 200,
        "arno's token after the restart: {answer}"
    );
    as_holder(&sales, &anna, Method::GET, "/v1/scope", None)
        .await
        .assert_error(401, "token_revoked");
    as_holder(&sales, &rita, Method::GET, "/v1/scope", None)
        .await
        .assert_error(401, "token_revoked");

    // A restored session follows the directory at the next revision.
    server.edit("people.toml", SALES_AGENTS, SALES_AGENTS_WITHOUT_ARNO);
    next_revision(&server, &sales).await;
    eventually(PATIENCE, "arno's restored session to end", || async {
        let answer = as_holder(&sales, &arno, Method::GET, "/v1/interactions", None).await;
        (answer.status != 200).then_some(answer)
    })
    .await
    .assert_error(401, "token_revoked");
}
