//! The real binary's log: plain text when stderr is not a terminal, every
//! line of an instance inside its `instance` span, no error for a `/readyz`
//! that answers 503 as designed, and the reason when the scope empties.

mod common;

use common::config_server::DEMO_SECRET;
use common::process::{ServeProcess, instance_file, on_server, run};
use common::{TestConfigServer, TestDb, eventually};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn text_logs_have_no_colour_codes_when_stderr_is_not_a_terminal() {
    let db = TestDb::create().await;
    db.drop_now().await;
    let dir = tempfile::tempdir().unwrap();
    let tenant = common::instance::tenant_dir();
    let file = instance_file(
        dir.path(),
        ("sales", "ixs-sales"),
        "127.0.0.1:0",
        db.url(),
        &format!("directory = \"{}\"", tenant.display()),
    );
    let migrated = run(
        &["migrate", "--config", file.to_str().unwrap()],
        &[],
        None,
        "",
    )
    .await;
    assert_eq!(migrated.code, Some(0), "{migrated}");
    let created = migrated
        .stderr
        .lines()
        .find(|l| l.contains("database created"))
        .unwrap_or_else(|| panic!("a 'database created' line: {migrated}"));
    assert!(
        created.contains(" INFO ixs::daemon: database created database="),
        "{created:?}"
    );
    assert!(!migrated.stderr.contains('\u{1b}'), "{:?}", migrated.stderr);
}

/// The JSON log lines of `process`.
fn lines(process: &ServeProcess) -> Vec<Value> {
    process
        .log()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn message(line: &Value) -> &str {
    line["fields"]["message"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instances_log_names_it_on_every_line_and_says_why_it_serves_nothing() {
    let server = TestConfigServer::spawn().await;
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("sales.secret");
    std::fs::write(&secret, DEMO_SECRET).unwrap();
    let file = instance_file(
        dir.path(),
        ("sales", "ixs-sales"),
        "127.0.0.1:0",
        db.url(),
        &on_server(&server.url(), &secret),
    );
    let mut sales = ServeProcess::start(&file);
    sales.wait_ready(Duration::from_secs(30)).await;

    // Log-ins, good and bad.
    for (password, status) in [("demo", 201), ("wrong", 401)] {
        let answer = sales
            .client
            .post(sales.url("/v1/sessions"))
            .json(&json!({"person": "gateway", "password": password}))
            .send()
            .await
            .expect("log in");
        assert_eq!(answer.status(), status);
    }

    // The application loses its person: the scope empties and says why.
    let why = "application 'ixs-sales' has no log-on-as person: it runs as nobody and serves \
               nothing";
    server.edit("people.toml", "log_on_as = \"svc-sales\"\n", "");
    let not_ready = eventually(Duration::from_secs(10), "/readyz to answer 503", || async {
        let ready = sales.get("/readyz").await;
        (ready.status == 503).then_some(ready)
    })
    .await;
    assert_eq!(
        not_ready.body["reason"],
        format!("serving nothing: {why}"),
        "{not_ready}"
    );
    eventually(Duration::from_secs(10), "the reason in the log", || async {
        lines(&sales)
            .iter()
            .any(|l| {
                l["level"] == "WARN"
                    && message(l) == "serving nothing"
                    && l["fields"]["reason"] == why
            })
            .then_some(())
    })
    .await;

    // Its secret changes: the scope empties and the log says why.
    // (The first secret_hash of people.toml is ixs-sales's.)
    let people = server.read("people.toml");
    let sales_hash = people
        .lines()
        .find(|l| l.starts_with("secret_hash"))
        .expect("ixs-sales's secret_hash")
        .to_owned();
    let other = ixs::directory::hash_secret("another-secret");
    server.edit(
        "people.toml",
        &format!("{sales_hash}\n"),
        &format!("secret_hash = \"{other}\"\nlog_on_as = \"svc-sales\"\n"),
    );
    let refused = "the configuration server refused application 'ixs-sales': unknown name, or \
                   wrong secret or password";
    eventually(
        Duration::from_secs(20),
        "the refusal in the log",
        || async {
            lines(&sales)
                .iter()
                .any(|l| l["fields"]["reason"] == refused)
                .then_some(())
        },
    )
    .await;
    let ready = sales.get("/readyz").await;
    assert_eq!(
        (ready.status, &ready.body["reason"]),
        (503, &json!(format!("serving nothing: {refused}"))),
        "{ready}"
    );

    let status = sales.terminate(Duration::from_secs(15)).await;
    assert!(status.success(), "{status}");
    let log = lines(&sales);
    let outside: Vec<&Value> = log
        .iter()
        .filter(|l| {
            !l["spans"]
                .as_array()
                .is_some_and(|spans| spans.iter().any(|s| s["instance"] == "sales"))
        })
        .collect();
    assert!(
        outside.is_empty(),
        "lines without instance = \"sales\": {outside:#?}"
    );
    let errors: Vec<&Value> = log
        .iter()
        .filter(|l| l["level"] == "ERROR" && l["fields"]["reason"] != refused)
        .collect();
    assert!(errors.is_empty(), "errors logged: {errors:#?}");
    assert!(
        log.iter().any(|l| message(l) == "shutting down"),
        "{}",
        sales.log()
    );
}
