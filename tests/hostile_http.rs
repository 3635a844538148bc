//! Both HTTP servers, the instance and the configuration server, tried as a
//! hostile client would: every answer is the documented JSON error.

mod common;

use common::{Answer, Solution, TestConfigServer, spawn_instance};
use reqwest::Method;

/// An HTTP server under test: its base URL and a client of it.
struct Target {
    base: String,
    client: reqwest::Client,
}

impl Target {
    fn instance(instance: &common::TestInstance) -> Target {
        Target {
            base: instance.url(""),
            client: common::instance::http_client(),
        }
    }

    fn config_server(server: &TestConfigServer) -> Target {
        Target {
            base: server.url(),
            client: common::instance::http_client(),
        }
    }

    async fn send(&self, method: Method, path: &str, headers: &[(String, String)]) -> Answer {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let shown: String = path.chars().take(60).collect();
        Answer::of(request, format!("{method} {shown}")).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, &[]).await
    }
}

/// The message of an error answer.
fn message(answer: &Answer) -> &str {
    answer.body["error"]["message"].as_str().unwrap_or_default()
}

// ---- Path parameters and query strings ----

#[tokio::test]
async fn path_parameters_that_are_not_utf8_are_named() {
    let sales = spawn_instance(Solution::Sales).await;
    for (path, field) in [
        ("/v1/queues/%ff/%fe", "process"),
        ("/v1/queues/sales-email/%fe", "queue"),
        ("/v1/interactions/%ff", "id"),
    ] {
        let answer = sales.get_path(path).await;
        answer.assert_invalid_field(field);
        assert!(
            message(&answer).contains(field),
            "{path}: the message names {field}: {answer}"
        );
    }
    let answer = sales
        .send_json(
            Method::POST,
            "/v1/interactions/%ff%fe/stop",
            &serde_json::json!({ "reason": "done" }),
        )
        .await;
    answer.assert_invalid_field("id");
}

#[tokio::test]
async fn query_strings_that_are_not_utf8_are_answered_in_json() {
    let sales = spawn_instance(Solution::Sales).await;
    sales
        .get_path("/v1/interactions?limit=%ff")
        .await
        .assert_invalid_field("limit");
    sales
        .get_path("/v1/queues/sales-email/inbound?limit=%ff%fe")
        .await
        .assert_invalid_field("limit");
    let answer = sales.get_path("/v1/interactions?%ff=1").await;
    answer.assert_error(422, "invalid_field");

    let server = TestConfigServer::spawn().await;
    let config = Target::config_server(&server);
    let token = server_token(&config).await;
    config
        .send(Method::GET, "/v1/watch?after=%ff", &bearer(&token))
        .await
        .assert_invalid_field("after");
}

#[tokio::test]
async fn unknown_paths_and_methods_are_answered_in_json() {
    let sales = spawn_instance(Solution::Sales).await;
    let server = TestConfigServer::spawn().await;
    for target in [Target::instance(&sales), Target::config_server(&server)] {
        target
            .get("/v1/%ff%fe")
            .await
            .assert_error(404, "not_found");
        target.get("/%ff").await.assert_error(404, "not_found");
        target
            .send(Method::DELETE, "/healthz", &[])
            .await
            .assert_error(405, "method_not_allowed");
    }
    let instance = Target::instance(&sales);
    instance
        .send(Method::DELETE, "/v1/queues", &[])
        .await
        .assert_error(405, "method_not_allowed");
    let config = Target::config_server(&server);
    config
        .send(Method::PUT, "/v1/login", &[])
        .await
        .assert_error(405, "method_not_allowed");
}

// ---- helpers ----

fn bearer(token: &str) -> Vec<(String, String)> {
    vec![("authorization".to_owned(), format!("Bearer {token}"))]
}

/// A token of the demo administrator on the configuration server.
async fn server_token(config: &Target) -> String {
    let request = config
        .client
        .post(format!("{}/v1/login", config.base))
        .json(&serde_json::json!({ "person": "admin", "password": "demo" }));
    let answer = Answer::of(request, "log in").await;
    assert_eq!(answer.status, 200, "log in: {answer}");
    answer.body["token"].as_str().expect("token").to_owned()
}
