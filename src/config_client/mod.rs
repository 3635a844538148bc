//! The instance's client of the tenant's configuration server: log in as the
//! instance's Application, read identity and the objects it may read, follow
//! the watch stream, and verify persons' credentials.
//!
//! The server filters everything by what the caller may read, so nothing this
//! client receives can widen the instance's scope.

mod sse;

use crate::directory::{Directory, Role};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::Duration;
use tracing::warn;

pub use sse::WatchEvent;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The credentials were refused (wrong secret, revoked, expired token).
    #[error("the configuration server refused the credentials: {0}")]
    Refused(String),
    /// The server could not be reached or answered unexpectedly; retry.
    #[error("the configuration server is unreachable")]
    Unreachable(#[source] reqwest::Error),
    #[error("the configuration server answered {status}: {body}")]
    Unexpected { status: u16, body: String },
    /// The watch stream sent nothing, not even a keep-alive, for so long:
    /// the connection is taken for dead.
    #[error("the watch stream sent nothing for {0:?}")]
    Silent(Duration),
}

/// A bearer token from the configuration server.
#[derive(Clone)]
pub struct Token(SecretString);

impl From<SecretString> for Token {
    fn from(secret: SecretString) -> Self {
        Token(secret)
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Whoami {
    pub application: Option<String>,
    pub person: Option<String>,
    #[serde(default)]
    pub access_groups: BTreeSet<String>,
    #[serde(default)]
    pub roles: BTreeSet<Role>,
    pub revision: u64,
}

/// The objects the caller may read, at one revision.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub revision: u64,
    pub directory: Directory,
}

#[derive(Deserialize)]
struct LoginAnswer {
    token: String,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
}

/// A person's log-in accepted by the server: who she is, and her token,
/// with which the instance can ask again later.
#[derive(Debug)]
pub struct PersonLogin {
    pub whoami: Whoami,
    pub token: Token,
    /// When the token expires, if the server said.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug)]
pub struct ConfigClient {
    http: reqwest::Client,
    base: String,
    /// Bound on every call but the watch stream.
    timeout: Duration,
    /// What an interaction server says of itself at each log-in as its
    /// application: its instance name and the address it serves on.
    announce: Option<(String, String)>,
}

impl ConfigClient {
    /// A client of the server at `url` (e.g. `http://127.0.0.1:7200`).
    pub fn new(url: &str, timeout: Duration) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .tcp_nodelay(true)
            .build()
            .map_err(ClientError::Unreachable)?;
        Ok(ConfigClient {
            http,
            base: url.trim_end_matches('/').to_owned(),
            timeout,
            announce: None,
        })
    }

    /// The same client, telling the server at each application log-in that
    /// it is the instance `name` serving on `address`, so that readers of
    /// the application find it (`GET /v1/instances`).
    pub fn announcing(mut self, name: &str, address: &str) -> Self {
        self.announce = Some((name.to_owned(), address.to_owned()));
        self
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Logs in as an application.
    pub async fn login_application(
        &self,
        application: &str,
        secret: &SecretString,
    ) -> Result<Token, ClientError> {
        let plain = serde_json::json!({
            "application": application,
            "secret": secret.expose_secret(),
        });
        let Some((name, address)) = &self.announce else {
            return Ok(Token(SecretString::from(self.login(plain).await?.token)));
        };
        let mut announcing = plain.clone();
        announcing["instance"] = serde_json::json!({ "name": name, "address": address });
        let answer = match self.login(announcing).await {
            // A configuration server older than the announcement refuses
            // the field: log in without it, so that instances can be
            // upgraded before their server.
            Err(ClientError::Unexpected { status, body })
                if (400..500).contains(&status) && body.contains("instance") =>
            {
                warn!(
                    status,
                    "the configuration server does not take this instance's \
                    announcement; logging in without it"
                );
                self.login(plain).await?
            }
            other => other?,
        };
        Ok(Token(SecretString::from(answer.token)))
    }

    /// Logs in as a person: her token, and when it expires.
    pub async fn login_person(
        &self,
        person: &str,
        password: &str,
    ) -> Result<(Token, Option<DateTime<Utc>>), ClientError> {
        let answer = self
            .login(serde_json::json!({ "person": person, "password": password }))
            .await?;
        Ok((Token(SecretString::from(answer.token)), answer.expires_at))
    }

    /// Whether the server answers at all (`GET /healthz`, no token).
    pub async fn healthz(&self) -> Result<(), ClientError> {
        let _: serde_json::Value = self.send(self.http.get(self.url("/healthz"))).await?;
        Ok(())
    }

    async fn login(&self, body: serde_json::Value) -> Result<LoginAnswer, ClientError> {
        self.send(self.http.post(self.url("/v1/login")).json(&body))
            .await
    }

    pub async fn whoami(&self, token: &Token) -> Result<Whoami, ClientError> {
        self.send(self.authorized(self.http.get(self.url("/v1/whoami")), token))
            .await
    }

    pub async fn objects(&self, token: &Token) -> Result<Snapshot, ClientError> {
        self.send(self.authorized(self.http.get(self.url("/v1/objects")), token))
            .await
    }

    /// The watch stream after `revision`. It ends with
    /// [`ClientError::Silent`] once nothing at all (not even a keep-alive)
    /// has arrived for `idle`: a half-open connection never hangs it.
    pub async fn watch(
        &self,
        token: &Token,
        after: u64,
        idle: Duration,
    ) -> Result<impl Stream<Item = Result<WatchEvent, ClientError>> + use<>, ClientError> {
        let request = self.authorized(
            self.http
                .get(self.url("/v1/watch"))
                .query(&[("after", after)]),
            token,
        );
        let response = request.send().await.map_err(ClientError::Unreachable)?;
        let response = check(response).await?;
        let bytes = response
            .bytes_stream()
            .map(|b| b.map_err(ClientError::Unreachable));
        Ok(sse::events(until_silent(bytes, idle)))
    }

    /// Checks a person's credentials: the person's identity and roles, and
    /// her token; `None` when the server refuses them.
    pub async fn verify_person(
        &self,
        person: &str,
        password: &str,
    ) -> Result<Option<PersonLogin>, ClientError> {
        match self.login_person(person, password).await {
            Ok((token, expires_at)) => Ok(Some(PersonLogin {
                whoami: self.whoami(&token).await?,
                token,
                expires_at,
            })),
            Err(ClientError::Refused(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn authorized(
        &self,
        request: reqwest::RequestBuilder,
        token: &Token,
    ) -> reqwest::RequestBuilder {
        request.bearer_auth(token.0.expose_secret())
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let response = request
            .timeout(self.timeout)
            .send()
            .await
            .map_err(ClientError::Unreachable)?;
        check(response)
            .await?
            .json()
            .await
            .map_err(ClientError::Unreachable)
    }
}

/// `stream` until it has yielded nothing for `idle`, which ends it with
/// [`ClientError::Silent`].
fn until_silent<S>(stream: S, idle: Duration) -> impl Stream<Item = Result<Bytes, ClientError>>
where
    S: Stream<Item = Result<Bytes, ClientError>>,
{
    futures::stream::unfold(Some(Box::pin(stream)), move |stream| async move {
        let mut stream = stream?;
        match tokio::time::timeout(idle, stream.next()).await {
            Ok(Some(item)) => Some((item, Some(stream))),
            Ok(None) => None,
            Err(_) => Some((Err(ClientError::Silent(idle)), None)),
        }
    })
}

async fn check(response: reqwest::Response) -> Result<reqwest::Response, ClientError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| status.to_string());
        return Err(ClientError::Refused(message));
    }
    Err(ClientError::Unexpected {
        status: status.as_u16(),
        body: body.chars().take(200).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A configuration server whose watch stream answers, sends one
    /// keep-alive, then goes silent with the connection left open.
    async fn silent_server() -> (String, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut request).await;
            socket
                .write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                      transfer-encoding: chunked\r\n\r\n3\r\n:\n\n\r\n",
                )
                .await
                .unwrap();
            // Half-open: nothing more, and never closed.
            std::future::pending::<()>().await;
            drop(socket);
        });
        (url, server)
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_watch_stream_ends_after_its_idle_timeout() {
        let (url, server) = silent_server().await;
        let client = ConfigClient::new(&url, Duration::from_secs(5)).unwrap();
        let token = Token(SecretString::from("t".to_owned()));
        let idle = Duration::from_secs(45);
        let started = tokio::time::Instant::now();
        let stream = client.watch(&token, 0, idle).await.unwrap();
        let mut stream = std::pin::pin!(stream);
        match stream.next().await {
            Some(Err(ClientError::Silent(after))) => assert_eq!(after, idle),
            other => panic!("expected the stream to end as silent, got {other:?}"),
        }
        let waited = started.elapsed();
        assert!(
            waited >= idle && waited < idle + Duration::from_secs(1),
            "ended after {waited:?} of silence"
        );
        assert!(stream.next().await.is_none(), "the stream ends there");
        server.abort();
    }

    /// A configuration server from before instances announced themselves:
    /// it refuses a log-in naming `instance` as an unknown field, and
    /// answers any other with a token. The bodies it received go to `seen`.
    async fn server_without_announcements(
        seen: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    ) -> String {
        use axum::Json;
        use axum::http::StatusCode;
        let app = axum::Router::new().route(
            "/v1/login",
            axum::routing::post(move |Json(body): Json<serde_json::Value>| {
                let seen = seen.clone();
                async move {
                    let refused = body.get("instance").is_some();
                    seen.lock().unwrap().push(body);
                    if refused {
                        let message = "unknown field `instance`, expected one of `application`, \
                                       `secret`, `person`, `password`";
                        let error = serde_json::json!({
                            "error": { "code": "invalid_field", "message": message }
                        });
                        (StatusCode::BAD_REQUEST, Json(error))
                    } else {
                        let token = serde_json::json!({ "token": "t", "revision": 1 });
                        (StatusCode::CREATED, Json(token))
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    #[tokio::test]
    async fn an_older_server_refusing_the_announcement_is_logged_in_to_without_it() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let url = server_without_announcements(seen.clone()).await;
        let client = ConfigClient::new(&url, Duration::from_secs(5))
            .unwrap()
            .announcing("sales", "http://127.0.0.1:7201");
        let secret = SecretString::from("s".to_owned());
        let token = client
            .login_application("ixs-sales", &secret)
            .await
            .unwrap();
        assert_eq!(token.0.expose_secret(), "t");
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(
            seen[0]["instance"],
            serde_json::json!({ "name": "sales", "address": "http://127.0.0.1:7201" })
        );
        assert_eq!(
            seen[1],
            serde_json::json!({ "application": "ixs-sales", "secret": "s" })
        );
    }
}
