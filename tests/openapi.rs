//! The API's OpenAPI document as a running instance serves it: valid
//! OpenAPI 3.1 by a validator of its own (`openapi-spec-validator`), each
//! operation it describes answered by the router (not by its fallbacks), and
//! real answers matching the schemas it gives them.

mod common;

use common::instance::http_client;
use common::session::Session;
use common::{Solution, gateway, spawn_instance};
use reqwest::Method;
use serde_json::{Value, json};
use std::io::Write;
use std::process::Command;

/// The validator, as `.ci/run` installs it.
const VALIDATOR: &str = "openapi-spec-validator==0.9.0";

async fn fetch_document(base: &str) -> Value {
    let response = http_client()
        .get(format!("{base}/v1/openapi.json"))
        .send()
        .await
        .expect("GET /v1/openapi.json");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "the document's content type"
    );
    response.json().await.expect("the document is JSON")
}

/// Runs `python3 args…`, failing loudly (never skipping) when Python or
/// the validator is missing.
fn python(args: &[&str]) -> std::process::Output {
    let output = Command::new("python3")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}): install Python 3 and `pip install {VALIDATOR}`")
        });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError") && !stderr.contains("No module named"),
        "the OpenAPI validator is not installed: run `pip install {VALIDATOR}`\n{stderr}"
    );
    output
}

fn saved(value: &Value) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
    file.write_all(value.to_string().as_bytes()).expect("write");
    file
}

#[tokio::test]
async fn the_served_document_is_valid_openapi_3_1() {
    let instance = spawn_instance(Solution::Sales).await;
    let base = format!("http://{}", instance.addr);
    let doc = fetch_document(&base).await;
    assert!(
        doc["openapi"].as_str().unwrap_or("").starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let file = saved(&doc);
    let path = file.path().to_str().expect("a UTF-8 path");
    let output = python(&[
        "-m",
        "openapi_spec_validator",
        "--schema",
        "3.1",
        "--validation-errors",
        "all",
        path,
    ]);
    assert!(
        output.status.success(),
        "the document is not valid OpenAPI 3.1:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Each operation the document describes, asked without a token: whatever
/// it answers, it is not the router's "no such route" nor "method not
/// allowed".
#[tokio::test]
async fn every_documented_operation_is_answered_by_a_route() {
    let instance = spawn_instance(Solution::Sales).await;
    let base = format!("http://{}", instance.addr);
    let doc = fetch_document(&base).await;
    let client = http_client();
    let mut asked = 0;
    for (template, item) in doc["paths"].as_object().expect("paths") {
        let path = template
            .replace("{id}", &uuid::Uuid::now_v7().to_string())
            .replace("{name}", "me")
            .replace(['{', '}'], "");
        for method in item.as_object().expect("a path item").keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
            let response = client
                .request(method.clone(), format!("{base}{path}"))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let unrouted =
                (status == 404 && body["error"]["message"] == "no such route") || status == 405;
            assert!(
                !unrouted,
                "{method} {template} is documented but not routed: {status} {body}"
            );
            asked += 1;
        }
    }
    assert!(asked >= 34, "only {asked} operations documented");
}

/// Real answers, checked against the schemas the document gives them (with
/// `jsonschema`, which the validator brings): the descriptions of the
/// engine's types stay true to what it sends.
#[tokio::test]
async fn answers_match_their_documented_schemas() {
    let instance = spawn_instance(Solution::Sales).await;
    let base = format!("http://{}", instance.addr);
    let doc = fetch_document(&base).await;
    let admin = Session::on(&instance, "admin").await;
    let anna = Session::on(&instance, "anna").await;
    let mut answers: Vec<(&str, Value)> = Vec::new();

    let log_in = admin
        .client
        .post(format!("{base}/v1/sessions"))
        .json(&json!({ "person": "rita", "password": "demo" }))
        .send()
        .await
        .expect("log in");
    answers.push(("Session", log_in.json().await.expect("JSON")));

    let mut submit = gateway("sales-email", "inbound");
    submit["external_id"] = json!("openapi-1");
    submit["properties"] = json!({ "customer_id": "c-42" });
    let id = admin.submit(submit.clone()).await;
    answers.push(("Interaction", admin.interaction(&id).await));
    let found = admin.get("/v1/interactions?process=sales-email").await;
    answers.push(("Interactions", found.body));
    let queues = admin.get("/v1/queues").await;
    answers.push(("Queues", queues.body));
    let snapshot = admin.get("/v1/queues/sales-email/inbound").await;
    answers.push(("QueueSnapshot", snapshot.body));

    let mut stream = anna.at_work(&["email"]).await;
    let offered = anna
        .submit(json!({ "process": "sales-email", "media_type": "email" }))
        .await;
    answers.push(("Interaction", anna.interaction(&offered).await));
    let _ = stream.next().await;
    answers.push(("Agent", anna.me().await));
    answers.push(("Agents", admin.get("/v1/agents").await.body));
    let explained = admin.get(&format!("/v1/interactions/{id}/explain")).await;
    answers.push(("Explanation", explained.body));
    let dry = admin.post("/v1/route/dry-run", submit).await;
    answers.push(("DryRun", dry.body));
    answers.push(("Stats", admin.get("/v1/stats").await.body));
    answers.push(("Scope", admin.get("/v1/scope").await.body));
    let workbin = admin.get("/v1/workbins/sales-email/drafts").await;
    assert_eq!(workbin.status, 200, "{workbin}");
    answers.push(("Workbin", workbin.body));
    let readyz = admin
        .client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("readyz");
    answers.push(("Readiness", readyz.json().await.expect("JSON")));
    let healthz = admin
        .client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    answers.push(("Alive", healthz.json().await.expect("JSON")));
    let refused = admin.get("/v1/interactions/not-a-uuid").await;
    answers.push(("ErrorBody", refused.body));
    let illegal = admin.act(&id, "accept", None).await;
    answers.push(("ErrorBody", illegal.body));

    let feed = admin
        .client
        .get(format!("{base}/v1/events?follow=false"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .expect("feed")
        .text()
        .await
        .expect("feed text");
    let entries: Vec<Value> = feed
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(|data| serde_json::from_str(data.trim()).expect("an entry is JSON"))
        .collect();
    assert!(entries.len() >= 3, "{feed}");
    for entry in entries {
        answers.push(("JournalEntry", entry));
    }

    let checks: Vec<Value> = answers
        .iter()
        .map(|(schema, answer)| json!([schema, answer]))
        .collect();
    let (doc_file, checks_file) = (saved(&doc), saved(&Value::Array(checks)));
    let script = "import json, sys\n\
        from jsonschema import Draft202012Validator\n\
        doc = json.load(open(sys.argv[1]))\n\
        failed = []\n\
        for name, answer in json.load(open(sys.argv[2])):\n\
        \x20   schema = dict(doc)\n\
        \x20   schema['$ref'] = '#/components/schemas/' + name\n\
        \x20   for error in Draft202012Validator(schema).iter_errors(answer):\n\
        \x20       failed.append(f'{name}: {list(error.absolute_path)}: {error.message}')\n\
        print('\\n'.join(failed))\n\
        sys.exit(1 if failed else 0)\n";
    let output = python(&[
        "-c",
        script,
        doc_file.path().to_str().expect("path"),
        checks_file.path().to_str().expect("path"),
    ]);
    assert!(
        output.status.success(),
        "answers that do not match their documented schemas:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The README's way to look at the document, run by bash as written
/// against an instance (its address changed).
#[tokio::test]
async fn the_readmes_way_to_browse_the_document_works() {
    let readme = include_str!("../README.md");
    let section = &readme[readme
        .find("\n### The API's description: `/v1/openapi.json`\n")
        .expect("the README's section on the document")..];
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|block| block.split("```").next())
        .expect("a shell block in the section");
    let instance = spawn_instance(Solution::Sales).await;
    let script = block.replace(
        "http://127.0.0.1:7201",
        &format!("http://{}", instance.addr),
    );
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let output = tokio::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(scratch.path())
        .output()
        .await
        .expect("run bash");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        output.status.success(),
        "the README's block failed (the validator: `pip install {VALIDATOR}`):\n{stdout}{stderr}"
    );
    for line in [
        "POST /v1/interactions - gateway, agent",
        "POST /v1/sessions - no token",
        "ixs-openapi.json: OK",
    ] {
        assert!(stdout.contains(line), "no '{line}' in:\n{stdout}");
    }
}
