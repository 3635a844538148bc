//! The config server over HTTP: each test spawns its own server on port 0,
//! on a copy of the example tenant in a scratch folder that the test may
//! edit. Waits are bounded polls or bounded reads, never sleeps.

mod common;

use std::time::Duration;

use common::TestConfigServer;
use ixs::config_server::{ReloadOutcome, Settings};
use ixs::directory::{Directory, hash_secret};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::time::Instant;

/// How long a test waits for something that should happen at once.
const PATIENCE: Duration = Duration::from_secs(10);

/// A configuration server of the harness, and this file's client of its
/// HTTP API.
struct TestServer {
    server: TestConfigServer,
    http: reqwest::Client,
}

impl std::ops::Deref for TestServer {
    type Target = TestConfigServer;
    fn deref(&self) -> &TestConfigServer {
        &self.server
    }
}

impl TestServer {
    /// A server on a copy of the example tenant, polling its files every
    /// 50 ms.
    async fn spawn() -> TestServer {
        TestServer::spawn_with(|s| s.directory.poll_interval = Duration::from_millis(50)).await
    }

    async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> TestServer {
        TestServer {
            server: TestConfigServer::spawn_with(adjust).await,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    async fn login(&self, body: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url("/v1/login"))
            .json(&body)
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }

    /// A token of application `app`, with the demo secret.
    async fn app_token(&self, app: &str) -> String {
        let (status, body) = self
            .login(json!({"application": app, "secret": "demo-secret"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }

    async fn revision(&self, token: &str) -> u64 {
        let (status, body) = self.get("/v1/status", token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["revision"].as_u64().unwrap()
    }

    async fn watch(&self, token: &str, after: Option<u64>) -> Watch {
        let mut request = self.http.get(self.url("/v1/watch")).bearer_auth(token);
        if let Some(after) = after {
            request = request.query(&[("after", after)]);
        }
        Watch::open(request).await
    }

    /// Cancels the server and waits for it to stop cleanly.
    async fn stop(mut self) {
        self.server
            .stop_outcome()
            .await
            .expect("the server stops cleanly");
    }
}

/// One Server-Sent Event.
#[derive(Debug, Clone)]
struct SseEvent {
    event: String,
    id: Option<String>,
    data: Value,
}

/// A client of one watch stream.
struct Watch {
    response: reqwest::Response,
    buffer: String,
}

impl Watch {
    async fn open(request: reqwest::RequestBuilder) -> Watch {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        Watch {
            response,
            buffer: String::new(),
        }
    }

    /// The next event within `within`; `None` when the stream ended.
    /// Panics when nothing comes in time.
    async fn next_within(&mut self, within: Duration) -> Option<SseEvent> {
        let deadline = Instant::now() + within;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse_frame(&frame) {
                    return Some(event);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .expect("no event in time")
                .unwrap();
            match chunk {
                Some(bytes) => self.buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                None => return None,
            }
        }
    }

    async fn next(&mut self) -> Option<SseEvent> {
        self.next_within(PATIENCE).await
    }

    /// The events of the next revision, up to and including its `revision`
    /// event.
    async fn next_revision(&mut self) -> Vec<SseEvent> {
        let mut events = Vec::new();
        loop {
            let event = self.next().await.expect("the stream ended");
            let last = event.event == "revision";
            events.push(event);
            if last {
                return events;
            }
        }
    }

    /// Whether nothing but keep-alives arrives for `quiet`.
    async fn is_quiet_for(&mut self, quiet: Duration) -> bool {
        let deadline = Instant::now() + quiet;
        loop {
            if self.buffer.contains("\n\n") {
                return false;
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return true,
                Ok(Ok(Some(bytes))) => {
                    self.buffer.push_str(std::str::from_utf8(&bytes).unwrap());
                    // Keep-alive comments are not events.
                    while let Some(end) = self.buffer.find("\n\n") {
                        let frame: String = self.buffer.drain(..end + 2).collect();
                        if parse_frame(&frame).is_some() {
                            return false;
                        }
                    }
                }
                Ok(_) => return false,
            }
        }
    }
}

/// An SSE frame as an event; `None` for a comment-only frame.
fn parse_frame(frame: &str) -> Option<SseEvent> {
    let mut event = None;
    let mut id = None;
    let mut data = String::new();
    for line in frame.lines() {
        let field = |name: &str| {
            line.strip_prefix(name)
                .map(|rest| rest.strip_prefix(' ').unwrap_or(rest).to_owned())
        };
        if let Some(value) = field("event:") {
            event = Some(value);
        } else if let Some(value) = field("id:") {
            id = Some(value);
        } else if let Some(value) = field("data:") {
            data.push_str(&value);
        }
    }
    Some(SseEvent {
        event: event?,
        id,
        data: serde_json::from_str(&data).unwrap(),
    })
}

/// `(event, kind, name)` of the change events of a revision.
fn changes(events: &[SseEvent]) -> Vec<(String, String, String)> {
    events
        .iter()
        .filter(|e| matches!(e.event.as_str(), "created" | "changed" | "deleted"))
        .map(|e| {
            (
                e.event.clone(),
                e.data["kind"].as_str().unwrap().to_owned(),
                e.data["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn change(event: &str, kind: &str, name: &str) -> (String, String, String) {
    (event.to_owned(), kind.to_owned(), name.to_owned())
}

fn process_names(objects: &Value) -> Vec<String> {
    objects["directory"]["processes"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn login_as_application_and_as_person() {
    let server = TestServer::spawn().await;
    let (status, body) = server
        .login(json!({"application": "ixs-sales", "secret": "demo-secret"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["revision"], 1);
    assert!(body["expires_at"].as_str().unwrap().contains('T'));
    let token = body["token"].as_str().unwrap();
    let (status, who) = server.get("/v1/whoami", token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        who,
        json!({
            "application": "ixs-sales",
            "person": "svc-sales",
            "access_groups": ["sales-routing"],
            "roles": [],
            "revision": 1,
        })
    );

    let (status, body) = server
        .login(json!({"person": "anna", "password": "demo"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, who) = server
        .get("/v1/whoami", body["token"].as_str().unwrap())
        .await;
    assert_eq!(
        who,
        json!({
            "application": null,
            "person": "anna",
            "access_groups": ["sales-agents"],
            "roles": ["agent"],
            "revision": 1,
        })
    );
    server.stop().await;
}

#[tokio::test]
async fn wrong_credentials_get_one_answer() {
    let server = TestServer::spawn().await;
    let attempts = [
        json!({"application": "ixs-sales", "secret": "wrong"}),
        json!({"application": "ixs-nobody", "secret": "demo-secret"}),
        json!({"person": "anna", "password": "wrong"}),
        json!({"person": "nobody", "password": "demo"}),
        // A person without a password cannot log in at all.
        json!({"person": "svc-sales", "password": ""}),
        // An application's secret is not a person's password.
        json!({"person": "ixs-sales", "password": "demo-secret"}),
    ];
    let mut answers = Vec::new();
    for attempt in attempts {
        let (status, body) = server.login(attempt.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{attempt}: {body}");
        assert_eq!(body["error"]["code"], "invalid_credentials");
        answers.push(body);
    }
    assert!(answers.windows(2).all(|pair| pair[0] == pair[1]));

    let (status, body) = server.login(json!({"application": "ixs-sales"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "secret");
    let response = server
        .http
        .post(server.url("/v1/login"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    server.stop().await;
}

#[tokio::test]
async fn forged_and_missing_tokens_are_refused() {
    let server = TestServer::spawn().await;
    let real = server.app_token("ixs-sales").await;
    let response = server
        .http
        .get(server.url("/v1/objects"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "missing_token");

    // Well-formed but never issued, one character off, and garbage.
    let mut forged = real.clone().into_bytes();
    forged[10] = if forged[10] == b'x' { b'y' } else { b'x' };
    let forged = String::from_utf8(forged).unwrap();
    let never_issued = "A".repeat(43);
    for token in [forged.as_str(), never_issued.as_str(), "garbage"] {
        for path in ["/v1/whoami", "/v1/objects", "/v1/status", "/v1/watch"] {
            let (status, body) = server.get(path, token).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
            assert_eq!(body["error"]["code"], "invalid_token", "{path}");
        }
    }
    let (status, _) = server.get("/v1/whoami", &real).await;
    assert_eq!(status, StatusCode::OK);

    let health: Value = reqwest::get(server.url("/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "alive");
    let (status, body) = server.get("/v1/nothing", &real).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    server.stop().await;
}

#[tokio::test]
async fn an_expired_token_is_refused_and_ends_its_watch() {
    let server = TestServer::spawn_with(|s| s.tokens.ttl = Duration::from_secs(1)).await;
    let token = server.app_token("ixs-sales").await;
    let (status, _) = server.get("/v1/whoami", &token).await;
    assert_eq!(status, StatusCode::OK);
    let mut watch = server.watch(&token, Some(1)).await;
    let revoked = watch.next().await.unwrap();
    assert_eq!(revoked.event, "revoked");
    assert_eq!(revoked.data["reason"], "token_expired");
    assert!(watch.next().await.is_none(), "the stream ends");
    let (status, body) = server.get("/v1/whoami", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "token_expired");
    server.stop().await;
}

#[tokio::test]
async fn objects_hold_only_what_the_caller_may_read() {
    let server = TestServer::spawn().await;
    let sales = server.app_token("ixs-sales").await;
    let (status, objects) = server.get("/v1/objects", &sales).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(objects["revision"], 1);
    assert_eq!(process_names(&objects), ["sales-chat", "sales-email"]);
    let directory = &objects["directory"];
    assert_eq!(directory["tenant"]["name"], "acme");
    assert!(directory["folders"].get("support").is_none());
    assert!(directory["applications"].get("ixs-support").is_none());
    assert!(directory["persons"].get("bea").is_none());
    let queues = &directory["processes"]["sales-chat"]["queues"];
    assert!(queues["inbound"]["views"]["all"].is_object());

    let support = server.app_token("ixs-support").await;
    let (_, support_objects) = server.get("/v1/objects", &support).await;
    assert_eq!(
        process_names(&support_objects),
        ["support-chat", "support-email"]
    );

    let (_, admin) = server
        .login(json!({"person": "admin", "password": "demo"}))
        .await;
    let (_, admin_objects) = server
        .get("/v1/objects", admin["token"].as_str().unwrap())
        .await;
    assert_eq!(process_names(&admin_objects).len(), 4);

    for body in [&objects, &support_objects, &admin_objects] {
        let text = body.to_string();
        assert!(!text.contains("hash"), "a hash was sent: {text}");
        assert!(!text.contains("$argon2"), "a hash was sent: {text}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_permission_change_moves_a_process_between_watchers() {
    // The default poll interval: this is the latency an operator gets.
    let server = TestServer::spawn_with(|_| {}).await;
    let sales = server.app_token("ixs-sales").await;
    let support = server.app_token("ixs-support").await;
    let mut sales_watch = server.watch(&sales, Some(1)).await;
    let mut support_watch = server.watch(&support, Some(1)).await;

    let edited = Instant::now();
    server.move_sales_chat_to_support();
    let sales_events = sales_watch.next_revision().await;
    let support_events = support_watch.next_revision().await;
    let latency = edited.elapsed();
    assert!(latency < Duration::from_secs(1), "took {latency:?}");

    assert_eq!(
        changes(&sales_events),
        [change("deleted", "process", "sales-chat")]
    );
    assert_eq!(sales_events[0].data["object"], Value::Null);
    assert_eq!(sales_events[0].data["revision"], 2);
    assert_eq!(
        changes(&support_events),
        [change("created", "process", "sales-chat")]
    );
    let created = &support_events[0].data["object"];
    assert_eq!(created["name"], "sales-chat");
    assert!(created["queues"]["inbound"].is_object());
    let closing = support_events.last().unwrap();
    assert_eq!(closing.id.as_deref(), Some("2"));
    assert_eq!(closing.data, json!({"revision": 2}));

    let (_, objects) = server.get("/v1/objects", &sales).await;
    assert_eq!(process_names(&objects), ["sales-email"]);
    let (_, objects) = server.get("/v1/objects", &support).await;
    assert_eq!(
        process_names(&objects),
        ["sales-chat", "support-chat", "support-email"]
    );
    server.stop().await;
}

#[tokio::test]
async fn an_invalid_edit_is_refused_until_fixed() {
    let server = TestServer::spawn().await;
    let token = server.app_token("ixs-sales").await;
    let (_, before) = server.get("/v1/objects", &token).await;
    let (_, status) = server.get("/v1/status", &token).await;
    assert_eq!(status["revision"], 1);
    assert_eq!(status["last_error"], Value::Null);
    let mut watch = server.watch(&token, Some(1)).await;

    server.edit(
        "sales.toml",
        "order = \"priority desc, submitted_at asc\"\nstrategy = \"fast-answer\"",
        "order = \"prio desc, submitted_at asc\"\nstrategy = \"fast-answer\"",
    );
    let error = common::eventually(PATIENCE, "the refusal", || async {
        let (_, status) = server.get("/v1/status", &token).await;
        (!status["last_error"].is_null()).then_some(status)
    })
    .await;
    assert_eq!(error["revision"], 1);
    let problem = &error["last_error"]["problems"][0];
    assert!(
        problem["file"].as_str().unwrap().ends_with("sales.toml"),
        "{problem}"
    );
    assert!(problem["line"].as_u64().unwrap() > 1, "{problem}");
    assert!(problem["column"].as_u64().is_some(), "{problem}");
    assert!(
        problem["object"].as_str().unwrap().contains("sales-chat"),
        "{problem}"
    );
    assert!(problem["reason"].as_str().unwrap().contains("prio"));
    assert!(error["last_error"]["at"].is_string());
    let (_, during) = server.get("/v1/objects", &token).await;
    assert_eq!(during, before);
    assert!(watch.is_quiet_for(Duration::from_millis(300)).await);

    server.edit("sales.toml", "prio desc", "priority asc");
    let events = watch.next_revision().await;
    assert_eq!(
        changes(&events),
        [change("changed", "process", "sales-chat")]
    );
    let (_, status) = server.get("/v1/status", &token).await;
    assert_eq!(status["revision"], 2);
    assert_eq!(status["last_error"], Value::Null);
    server.stop().await;
}

#[tokio::test]
async fn reload_now_applies_an_edit_at_once() {
    // No file poll within the test: only the explicit reload.
    let server =
        TestServer::spawn_with(|s| s.directory.poll_interval = Duration::from_secs(3600)).await;
    let token = server.app_token("ixs-sales").await;
    server.edit("sales.toml", "Sales chats from the web shop", "Web chats");
    assert_eq!(server.revision(&token).await, 1);
    let ReloadOutcome::Loaded(revision) = server.handle().reload_now().await else {
        panic!("the edit must load");
    };
    assert_eq!(revision.number, 2);
    let (_, objects) = server.get("/v1/objects", &token).await;
    assert_eq!(objects["revision"], 2);
    assert_eq!(
        objects["directory"]["processes"]["sales-chat"]["description"],
        "Web chats"
    );
    assert!(matches!(
        server.handle().reload_now().await,
        ReloadOutcome::Unchanged(r) if r.number == 2
    ));
    server.edit("sales.toml", "Web chats\"", "Web chats");
    assert!(matches!(
        server.handle().reload_now().await,
        ReloadOutcome::Refused(_)
    ));
    assert_eq!(server.handle().current().number, 2);
    assert!(server.handle().last_error().is_some());
    server.stop().await;
}

#[tokio::test]
async fn a_watch_resumes_after_a_revision() {
    let server =
        TestServer::spawn_with(|s| s.directory.poll_interval = Duration::from_secs(3600)).await;
    let token = server.app_token("ixs-sales").await;
    server.edit("sales.toml", "Sales chats from the web shop", "Chats 2");
    server.handle().reload_now().await;
    server.edit(
        "tenant.toml",
        "description = \"Web chat\"",
        "description = \"Chat\"",
    );
    server.handle().reload_now().await;
    assert_eq!(server.revision(&token).await, 3);

    // From revision 1: what changed since, in one step to revision 3.
    let mut watch = server.watch(&token, Some(1)).await;
    let events = watch.next_revision().await;
    assert_eq!(
        changes(&events),
        [
            change("changed", "media_type", "chat"),
            change("changed", "process", "sales-chat"),
        ]
    );
    assert_eq!(events.last().unwrap().id.as_deref(), Some("3"));

    // Last-Event-ID wins over the URL's `after`, as on an EventSource
    // reconnection.
    let request = server
        .http
        .get(server.url("/v1/watch?after=1"))
        .bearer_auth(&token)
        .header("Last-Event-ID", "2");
    let mut resumed = Watch::open(request).await;
    let events = resumed.next_revision().await;
    assert_eq!(changes(&events), [change("changed", "media_type", "chat")]);

    // From the revision in force: nothing until the next one.
    let mut current = server.watch(&token, Some(3)).await;
    assert!(current.is_quiet_for(Duration::from_millis(200)).await);
    server.edit("sales.toml", "Chats 2", "Chats 4");
    server.handle().reload_now().await;
    let events = current.next_revision().await;
    assert_eq!(
        changes(&events),
        [change("changed", "process", "sales-chat")]
    );
    assert_eq!(events[0].data["revision"], 4);

    // Without `after`, or from a revision the server does not know: reset.
    for after in [None, Some(99)] {
        let mut fresh = server.watch(&token, after).await;
        let reset = fresh.next().await.unwrap();
        assert_eq!(reset.event, "reset", "{after:?}");
        assert_eq!(reset.data, json!({"revision": 4}));
        assert_eq!(reset.id.as_deref(), Some("4"));
    }
    server.stop().await;
}

#[tokio::test]
async fn a_changed_secret_revokes_the_session_and_its_watch() {
    let server = TestServer::spawn().await;
    let sales = server.app_token("ixs-sales").await;
    let support = server.app_token("ixs-support").await;
    let mut watch = server.watch(&sales, Some(1)).await;

    let old = Directory::load(server.dir()).unwrap().applications["ixs-sales"]
        .secret_hash
        .clone()
        .unwrap();
    server.edit("people.toml", old.as_str(), &hash_secret("new-secret"));

    let revoked = watch.next().await.unwrap();
    assert_eq!(revoked.event, "revoked", "{revoked:?}");
    assert_eq!(revoked.data["reason"], "token_revoked");
    assert!(watch.next().await.is_none(), "the stream ends");
    let (status, body) = server.get("/v1/whoami", &sales).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "token_revoked");

    let (status, _) = server.get("/v1/whoami", &support).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .login(json!({"application": "ixs-sales", "secret": "demo-secret"}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = server
        .login(json!({"application": "ixs-sales", "secret": "new-secret"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    server.stop().await;
}

#[tokio::test]
async fn an_application_without_log_on_as_sees_nothing() {
    let server =
        TestServer::spawn_with(|s| s.directory.poll_interval = Duration::from_secs(3600)).await;
    let token = server.app_token("ixs-sales").await;
    let mut watch = server.watch(&token, Some(1)).await;
    server.edit("people.toml", "log_on_as = \"svc-sales\"\n", "");
    server.handle().reload_now().await;

    let (_, who) = server.get("/v1/whoami", &token).await;
    assert_eq!(who["application"], "ixs-sales");
    assert_eq!(who["person"], Value::Null);
    assert_eq!(who["access_groups"], json!([]));
    let (_, objects) = server.get("/v1/objects", &token).await;
    assert_eq!(objects["directory"]["tenant"]["name"], "acme");
    assert_eq!(objects["directory"]["processes"], json!({}));
    assert_eq!(objects["directory"]["persons"], json!({}));

    let events = watch.next_revision().await;
    let changes = changes(&events);
    assert!(changes.iter().all(|(event, _, _)| event == "deleted"));
    assert!(changes.contains(&change("deleted", "process", "sales-chat")));
    assert!(changes.contains(&change("deleted", "person", "anna")));
    server.stop().await;
}

#[tokio::test]
async fn two_config_servers_run_side_by_side_and_stop_with_open_watches() {
    let one = TestServer::spawn().await;
    let two = TestServer::spawn().await;
    assert_ne!(one.url(""), two.url(""));
    let token_one = one.app_token("ixs-sales").await;
    let token_two = two.app_token("ixs-sales").await;
    // A token of one server means nothing to the other.
    let (status, _) = two.get("/v1/whoami", &token_one).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let mut watch_one = one.watch(&token_one, Some(1)).await;
    let mut watch_two = two.watch(&token_two, Some(1)).await;
    one.edit("sales.toml", "Sales chats from the web shop", "Chats");
    one.handle().reload_now().await;
    let events = watch_one.next_revision().await;
    assert_eq!(
        changes(&events),
        [change("changed", "process", "sales-chat")]
    );
    assert_eq!(two.revision(&token_two).await, 1);
    assert!(watch_two.is_quiet_for(Duration::from_millis(200)).await);

    one.stop().await;
    assert!(watch_one.next().await.is_none(), "shutdown ends the stream");
    let (status, _) = two.get("/v1/whoami", &token_two).await;
    assert_eq!(status, StatusCode::OK);
    two.stop().await;
}
