//! Talking to the instance: log-in, and how a failed request is counted.

use anyhow::{Context, bail};
use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt, TryStreamExt};
use std::pin::Pin;

/// Server-Sent Events as they arrive, each failure named by what was read.
pub(super) type Events =
    Pin<Box<dyn Stream<Item = anyhow::Result<eventsource_stream::Event>> + Send>>;

/// Opens the event stream at `url` with `token` (`Bearer …`); `what` names
/// it in errors.
pub(super) async fn open_events(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    what: &'static str,
) -> anyhow::Result<Events> {
    let response = http
        .get(url)
        .header(reqwest::header::AUTHORIZATION, token)
        .send()
        .await
        .with_context(|| what)?;
    let status = response.status();
    if !status.is_success() {
        bail!("{what}: HTTP {status}: {}", response.text().await?);
    }
    Ok(response
        .bytes_stream()
        .eventsource()
        .map_err(move |e| anyhow::anyhow!("{what}: {e}"))
        .boxed())
}

/// A bearer token of `person` on the instance at `base`.
pub(super) async fn log_in(
    http: &reqwest::Client,
    base: &str,
    person: &str,
    password: &str,
) -> anyhow::Result<String> {
    let response = http
        .post(format!("{base}/v1/sessions"))
        .json(&serde_json::json!({ "person": person, "password": password }))
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(status.is_success(), "HTTP {status}: {text}");
    let answer: serde_json::Value = serde_json::from_str(&text)?;
    answer["token"]
        .as_str()
        .map(|token| format!("Bearer {token}"))
        .context("no token in the log-in answer")
}

/// A request's answer: its status and body.
pub(super) struct Answer {
    pub status: reqwest::StatusCode,
    pub text: String,
}

/// Sends `request` and reads the whole answer (so that the connection is
/// kept for the next request); `Err` is the error's kind and detail.
pub(super) async fn send(request: reqwest::RequestBuilder) -> Result<Answer, (String, String)> {
    let response = request
        .send()
        .await
        .map_err(|e| ("transport".to_owned(), e.to_string()))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| ("transport".to_owned(), e.to_string()))?;
    Ok(Answer { status, text })
}

impl Answer {
    /// The answer as an error: its kind is the status and the error code
    /// (`409 illegal_transition`), its detail the whole body.
    pub fn refused(&self, what: &str) -> (String, String) {
        let code = serde_json::from_str::<serde_json::Value>(&self.text)
            .ok()
            .and_then(|body| body["error"]["code"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "-".to_owned());
        (
            format!("{} {code}", self.status.as_u16()),
            format!("{what}: HTTP {}: {}", self.status, self.text),
        )
    }
}
