//! The instance's client of the tenant's configuration server: log in as the
//! instance's Application, read identity and the objects it may read, follow
//! the watch stream, and verify persons' credentials.
//!
//! The server filters everything by what the caller may read, so nothing this
//! client receives can widen the instance's scope.

mod sse;

use crate::directory::{Directory, Role};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::Duration;

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
        })
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
        let answer = self
            .login(serde_json::json!({
                "application": application,
                "secret": secret.expose_secret(),
            }))
            .await?;
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

    /// The watch stream after `revision`.
    pub async fn watch(
        &self,
        token: &Token,
        after: u64,
    ) -> Result<impl Stream<Item = Result<WatchEvent, ClientError>> + use<>, ClientError> {
        let request = self.authorized(
            self.http
                .get(self.url("/v1/watch"))
                .query(&[("after", after)]),
            token,
        );
        let response = request.send().await.map_err(ClientError::Unreachable)?;
        let response = check(response).await?;
        Ok(sse::events(response.bytes_stream()).map(|e| e.map_err(ClientError::Unreachable)))
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
