//! An agent desktop's live stream (`GET /v1/agents/me/events`) read as a
//! test reads it: one `(event, data)` at a time, each within a time limit
//! that only guards against a hang.

use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use serde_json::Value;
use std::pin::Pin;
use std::time::Duration;

/// How long an event that should follow at once may take to arrive.
pub const EVENT_PATIENCE: Duration = Duration::from_secs(10);

/// One event of a live stream: its name and its data as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    pub event: String,
    pub data: Value,
}

type Events = Pin<Box<dyn Stream<Item = Result<StreamEvent, String>> + Send>>;

/// An open live stream. Dropping it closes the connection, as a desktop
/// going away does.
pub struct LiveStream {
    what: String,
    events: Events,
    /// The data of the `state` event the stream opened with.
    pub hello: Value,
}

impl LiveStream {
    /// Opens the live stream at `url` with `token`; asserts 200 and an
    /// event stream, and reads its first event, which must be `state`.
    pub async fn open(url: &str, token: &str) -> LiveStream {
        // No overall timeout: a stream lives as long as the test wants it.
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .expect("HTTP client");
        let response =
            tokio::time::timeout(EVENT_PATIENCE, client.get(url).bearer_auth(token).send())
                .await
                .unwrap_or_else(|_| panic!("GET {url}: no answer within {EVENT_PATIENCE:?}"))
                .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = response.status().as_u16();
        if status != 200 {
            let text = response.text().await.unwrap_or_default();
            panic!("GET {url}: HTTP {status} {text}");
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            content_type.starts_with("text/event-stream"),
            "GET {url}: content type {content_type:?}"
        );
        let events = response
            .bytes_stream()
            .eventsource()
            .map(|event| match event {
                Ok(event) => serde_json::from_str(&event.data)
                    .map(|data| StreamEvent {
                        event: event.event,
                        data,
                    })
                    .map_err(|e| format!("event data is not JSON ({e}): {}", event.data)),
                Err(e) => Err(e.to_string()),
            })
            .boxed();
        let mut stream = LiveStream {
            what: format!("live stream {url}"),
            events,
            hello: Value::Null,
        };
        let first = stream.next().await;
        assert_eq!(first.event, "state", "the first event: {first:?}");
        stream.hello = first.data;
        stream
    }

    /// The next event; panics if none comes within [`EVENT_PATIENCE`] or
    /// the stream ends.
    pub async fn next(&mut self) -> StreamEvent {
        match tokio::time::timeout(EVENT_PATIENCE, self.events.next()).await {
            Ok(Some(Ok(event))) => event,
            Ok(Some(Err(e))) => panic!("{}: {e}", self.what),
            Ok(None) => panic!("{}: ended", self.what),
            Err(_) => panic!("{}: no event within {EVENT_PATIENCE:?}", self.what),
        }
    }

    /// The data of the next event named `event`, passing over events of
    /// the names in `skip` (and panicking on any other).
    pub async fn next_of(&mut self, event: &str, skip: &[&str]) -> Value {
        loop {
            let next = self.next().await;
            if next.event == event {
                return next.data;
            }
            assert!(
                skip.contains(&next.event.as_str()),
                "{}: waiting for '{event}', got {next:?}",
                self.what
            );
        }
    }

    /// The next offer, passing over state changes: its interaction.
    pub async fn offer(&mut self) -> Value {
        let offer = self.next_of("offer", &["state", "interaction"]).await;
        assert!(
            offer["deadline"].is_string(),
            "an offer's deadline: {offer}"
        );
        offer["interaction"].clone()
    }
}
