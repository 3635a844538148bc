//! Both HTTP servers, the instance and the configuration server, tried as a
//! hostile client would: every answer is the documented JSON error, and
//! connections that send their request head slowly, or nothing at all,
//! do not keep their place.

mod common;

use common::{Answer, Solution, TestConfigServer, spawn_instance, spawn_instance_with};
use futures::FutureExt;
use reqwest::Method;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

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

/// `n` bytes of `x`.
fn long(n: usize) -> String {
    "x".repeat(n)
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

// ---- Request heads too large ----

/// 100 KB path, 100 KB query and 1 MB query: 414 naming the request target.
async fn assert_uri_too_long(addr: SocketAddr) {
    for (what, target) in [
        ("100 KB path", format!("/v1/{}", long(100 * 1024))),
        (
            "100 KB query",
            format!("/v1/interactions?q={}", long(100 * 1024)),
        ),
        (
            "1 MB query",
            format!("/v1/interactions?q={}", long(1024 * 1024)),
        ),
    ] {
        let answer = raw::exchange(addr, &raw::get(&target, &[])).await;
        answer.assert_error(414, "uri_too_long");
        assert!(
            message(&answer).contains("request target"),
            "{what}: the message names the request target: {answer}"
        );
    }
}

/// A 500 KB header, and 101 headers: 431 naming what was too large.
async fn assert_headers_too_large(addr: SocketAddr) {
    let large = [("x-large".to_owned(), long(500 * 1024))];
    let answer = raw::exchange(addr, &raw::get("/healthz", &large)).await;
    answer.assert_error(431, "headers_too_large");
    assert!(
        message(&answer).contains("x-large"),
        "the message names the header: {answer}"
    );

    let many: Vec<(String, String)> = (0..101)
        .map(|i| (format!("x-header-{i}"), "1".to_owned()))
        .collect();
    let answer = raw::exchange(addr, &raw::get("/healthz", &many)).await;
    answer.assert_error(431, "headers_too_large");
    assert!(
        message(&answer).contains("100 headers"),
        "the message says how many are allowed: {answer}"
    );
}

#[tokio::test]
async fn the_instance_answers_heads_too_large_in_json() {
    let sales = spawn_instance(Solution::Sales).await;
    assert_uri_too_long(sales.addr).await;
    assert_headers_too_large(sales.addr).await;
    assert_eq!(
        sales.get_path("/healthz").await.status,
        200,
        "still serving"
    );
}

#[tokio::test]
async fn the_config_server_answers_heads_too_large_in_json() {
    let server = TestConfigServer::spawn().await;
    let addr = config_addr(&server);
    assert_uri_too_long(addr).await;
    assert_headers_too_large(addr).await;
    let target = Target::config_server(&server);
    assert_eq!(target.get("/healthz").await.status, 200, "still serving");
}

#[tokio::test]
async fn malformed_heads_are_answered_in_json() {
    let sales = spawn_instance(Solution::Sales).await;
    let server = TestConfigServer::spawn().await;
    for addr in [sales.addr, config_addr(&server)] {
        for head in [
            &b"GET /healthz HTTP/1.1\r\nnot a header\r\n\r\n"[..],
            b"GET /healthz HTTP/1.1\r\ncontent-length: ten\r\n\r\n",
            b"GET /healthz HTTP/7.0\r\n\r\n",
        ] {
            let answer = raw::exchange(addr, head).await;
            answer.assert_error(400, "malformed_request");
        }
    }
}

#[tokio::test]
async fn a_refused_head_is_answered_after_the_requests_before_it() {
    let server = TestConfigServer::spawn().await;
    let login = r#"{"person":"admin","password":"wrong"}"#;
    let (first, second) = login.split_at(10);
    let mut requests = format!(
        "POST /v1/login HTTP/1.1\r\nhost: ixs\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{login}\
         POST /v1/login HTTP/1.1\r\nhost: ixs\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\n\r\n\
         {:x};part=1\r\n{first}\r\n{:x}\r\n{second}\r\n0\r\nx-trailer: 1\r\n\r\n",
        login.len(),
        first.len(),
        second.len(),
    )
    .into_bytes();
    requests.extend(raw::get(&format!("/v1/{}", long(100 * 1024)), &[]));
    // Never answered: the connection closes after the refusal.
    requests.extend(raw::get("/healthz", &[]));

    let answers = raw::exchange_all(config_addr(&server), &requests).await;
    assert_eq!(answers.len(), 3, "{answers:?}");
    answers[0].assert_error(401, "invalid_credentials");
    answers[1].assert_error(401, "invalid_credentials");
    answers[2].assert_error(414, "uri_too_long");
}

// ---- Slow and idle clients, and the connection bound ----
//
// With tokio's clock paused, time moves only when every task waits; the
// sockets are real (loopback), so what one side writes is readable by the
// other at once.

/// The default `listen.header_read_timeout`.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether the server closed `stream` (or reset it), as far as has arrived
/// by now. Anything it sends is a failure: these clients never complete a
/// request.
fn closed_by_now(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 256];
    // Outside tokio's budget, which would make every read after the 128th
    // in a row look pending.
    match tokio::task::unconstrained(stream.read(&mut buf)).now_or_never() {
        None => false,
        Some(Ok(0)) | Some(Err(_)) => true,
        Some(Ok(n)) => panic!(
            "an answer to an incomplete request: {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
    }
}

/// Lets every task run and every socket event arrive, in a millisecond of
/// paused time.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

async fn is_closed(stream: &mut TcpStream) -> bool {
    settle().await;
    closed_by_now(stream)
}

async fn connect(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        streams.push(TcpStream::connect(addr).await.expect("connect"));
    }
    streams
}

/// How many of `streams` the server closed, all seen at one instant.
async fn count_closed(streams: &mut [TcpStream]) -> usize {
    settle().await;
    streams
        .iter_mut()
        .map(closed_by_now)
        .filter(|&closed| closed)
        .count()
}

/// 50 clients send a request head one byte per second: all keep their
/// connection until `header_read_timeout` has passed, none after.
async fn assert_slow_heads_are_disconnected(addr: SocketAddr, timeout: Duration) {
    let mut clients = connect(addr, 50).await;
    let head = b"GET /healthz HTTP/1.1\r\nhost: ixs\r\nx-slow: ";
    let start = Instant::now();
    // Checks fall half-way between seconds, never on the deadline itself.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for sent in 0.. {
        let byte = head.get(sent).copied().unwrap_or(b'a');
        for client in &mut clients {
            let _ = client.write_all(&[byte]).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let closed = count_closed(&mut clients).await;
        if start.elapsed() < timeout {
            assert_eq!(
                closed,
                0,
                "closed before the timeout, at {:?}",
                start.elapsed()
            );
        } else {
            assert_eq!(closed, clients.len(), "still open at {:?}", start.elapsed());
            return;
        }
    }
}

/// 500 connections that send nothing, and one that goes quiet after an
/// answered request, are closed once `header_read_timeout` has passed.
async fn assert_idle_connections_are_closed(addr: SocketAddr, timeout: Duration) {
    let mut idle = connect(addr, 500).await;
    let mut answered = TcpStream::connect(addr).await.expect("connect");
    answered
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: ixs\r\n\r\n")
        .await
        .expect("send a request");
    let mut buf = vec![0u8; 4096];
    let n = answered.read(&mut buf).await.expect("the answer");
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );

    tokio::time::sleep(timeout - Duration::from_millis(500)).await;
    assert_eq!(
        count_closed(&mut idle).await,
        0,
        "closed before the timeout"
    );
    assert!(!is_closed(&mut answered).await, "closed before the timeout");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        count_closed(&mut idle).await,
        idle.len(),
        "still open after the timeout"
    );
    assert!(
        is_closed(&mut answered).await,
        "still open after the timeout"
    );
}

/// With `max_connections = 2` held by two idle clients, a third client's
/// request waits unanswered; it is answered as soon as one of them leaves.
async fn assert_the_connection_bound_holds(addr: SocketAddr) {
    let mut held = connect(addr, 2).await;
    let mut waiting = TcpStream::connect(addr).await.expect("connect");
    waiting
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: ixs\r\nconnection: close\r\n\r\n")
        .await
        .expect("send a request");
    let mut answer = Vec::new();
    let early =
        tokio::time::timeout(Duration::from_secs(5), waiting.read_to_end(&mut answer)).await;
    assert!(
        early.is_err(),
        "answered past the bound: {:?}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(count_closed(&mut held).await, 0);

    drop(held.pop());
    tokio::time::timeout(Duration::from_secs(1), waiting.read_to_end(&mut answer))
        .await
        .expect("answered once a connection left")
        .expect("read the answer");
    let answer = raw::parse(&answer);
    assert_eq!(answer.status, 200, "{answer}");
}

#[tokio::test(start_paused = true)]
async fn the_config_server_disconnects_slow_heads() {
    let server = TestConfigServer::spawn().await;
    assert_slow_heads_are_disconnected(config_addr(&server), HEADER_READ_TIMEOUT).await;
}

#[tokio::test(start_paused = true)]
async fn the_config_server_closes_idle_connections() {
    let server = TestConfigServer::spawn().await;
    assert_idle_connections_are_closed(config_addr(&server), HEADER_READ_TIMEOUT).await;
}

#[tokio::test(start_paused = true)]
async fn the_config_server_bounds_its_connections() {
    let server = TestConfigServer::spawn_with(|s| s.listen.max_connections = 2).await;
    assert_the_connection_bound_holds(config_addr(&server)).await;
}

/// The clock paused from now on, until dropped: for an instance, which
/// starts on the real clock (its database pool's timeouts would fire
/// whenever the runtime waits on PostgreSQL) and stops on it again.
struct PausedClock;

impl PausedClock {
    fn now() -> PausedClock {
        tokio::time::pause();
        PausedClock
    }
}

impl Drop for PausedClock {
    fn drop(&mut self) {
        tokio::time::resume();
    }
}

#[tokio::test]
async fn the_instance_disconnects_slow_heads() {
    let sales = spawn_instance(Solution::Sales).await;
    let _paused = PausedClock::now();
    assert_slow_heads_are_disconnected(sales.addr, HEADER_READ_TIMEOUT).await;
}

#[tokio::test]
async fn the_instance_closes_idle_connections() {
    let sales = spawn_instance(Solution::Sales).await;
    let _paused = PausedClock::now();
    assert_idle_connections_are_closed(sales.addr, HEADER_READ_TIMEOUT).await;
}

#[tokio::test]
async fn the_instance_bounds_its_connections() {
    let mut sales = spawn_instance_with(Solution::Sales, |s| s.listen.max_connections = 2).await;
    // The harness's client keeps its connection open: give its place back.
    sales.client = common::instance::http_client();
    let _paused = PausedClock::now();
    assert_the_connection_bound_holds(sales.addr).await;
}

// ---- helpers ----

fn config_addr(server: &TestConfigServer) -> SocketAddr {
    server
        .url()
        .trim_start_matches("http://")
        .parse()
        .expect("the configuration server's address")
}

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
    assert_eq!(answer.status, 201, "log in: {answer}");
    answer.body["token"].as_str().expect("token").to_owned()
}

/// Requests written byte for byte, for what an HTTP client library refuses
/// to send (a request target over 64 KiB, for one).
mod raw {
    use super::Answer;
    use serde_json::Value;
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// `GET target` with `headers`, asking the server to close afterwards.
    pub fn get(target: &str, headers: &[(String, String)]) -> Vec<u8> {
        let mut head = format!("GET {target} HTTP/1.1\r\nhost: ixs\r\nconnection: close\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        head.into_bytes()
    }

    /// Sends `request` on a new connection while reading the answer, and
    /// returns it once the server closes the connection.
    pub async fn exchange(addr: SocketAddr, request: &[u8]) -> Answer {
        parse(&exchange_bytes(addr, request).await)
    }

    /// Sends `requests` on a new connection and returns the answers, in
    /// order, once the server closes the connection.
    pub async fn exchange_all(addr: SocketAddr, requests: &[u8]) -> Vec<Answer> {
        let received = exchange_bytes(addr, requests).await;
        let mut rest = &received[..];
        let mut answers = Vec::new();
        while !rest.is_empty() {
            let head_end = rest
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .expect("a complete answer head")
                + 4;
            let head = String::from_utf8_lossy(&rest[..head_end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|n| n.trim().parse().ok())
                .expect("a content-length");
            answers.push(parse(&rest[..head_end + length]));
            rest = &rest[head_end + length..];
        }
        answers
    }

    async fn exchange_bytes(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (mut read, mut write) = stream.into_split();
        let request = request.to_vec();
        // The server may answer and close before it has read everything.
        let writer = tokio::spawn(async move {
            let _ = write.write_all(&request).await;
            write
        });
        let mut received = Vec::new();
        if let Err(e) = read.read_to_end(&mut received).await {
            assert!(
                !received.is_empty(),
                "the connection failed before any answer: {e}"
            );
        }
        drop(writer.await);
        received
    }

    /// Status and body of one HTTP/1.1 answer.
    pub fn parse(received: &[u8]) -> Answer {
        let text = String::from_utf8_lossy(received);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no complete answer: {text:?}"));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {head:?}"));
        Answer {
            status,
            body: serde_json::from_str(body).unwrap_or(Value::Null),
            text: format!("{head}\n\n{body}"),
        }
    }
}
