//! The configuration server's watch stream, as typed events.

use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use serde::Deserialize;

/// One event of the watch stream.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent {
    /// An object was created, changed or deleted (as this caller sees it).
    Object {
        change: String,
        kind: String,
        name: String,
        revision: u64,
    },
    /// Every change of `revision` has been sent.
    Revision(u64),
    /// The server cannot resume from where the client asked: refetch.
    Reset(u64),
    /// The caller's session ended (secret changed, application removed,
    /// token expired).
    Revoked(String),
}

#[derive(Deserialize)]
struct ObjectData {
    revision: u64,
    kind: String,
    name: String,
}

#[derive(Deserialize)]
struct RevisionData {
    revision: u64,
}

#[derive(Deserialize)]
struct RevokedData {
    #[serde(default)]
    reason: String,
}

pub fn events<S, E>(bytes: S) -> impl Stream<Item = Result<WatchEvent, E>>
where
    S: Stream<Item = Result<Bytes, E>>,
{
    bytes.eventsource().filter_map(|event| async move {
        let event = match event {
            Ok(event) => event,
            Err(eventsource_stream::EventStreamError::Transport(e)) => return Some(Err(e)),
            // A malformed frame: skip it, the next revision event resyncs.
            Err(_) => return None,
        };
        let parsed = match event.event.as_str() {
            "created" | "changed" | "deleted" => serde_json::from_str::<ObjectData>(&event.data)
                .ok()
                .map(|d| WatchEvent::Object {
                    change: event.event.clone(),
                    kind: d.kind,
                    name: d.name,
                    revision: d.revision,
                }),
            "revision" => serde_json::from_str::<RevisionData>(&event.data)
                .ok()
                .map(|d| WatchEvent::Revision(d.revision)),
            "reset" => serde_json::from_str::<RevisionData>(&event.data)
                .ok()
                .map(|d| WatchEvent::Reset(d.revision)),
            "revoked" => Some(WatchEvent::Revoked(
                serde_json::from_str::<RevokedData>(&event.data)
                    .map(|d| d.reason)
                    .unwrap_or_default(),
            )),
            _ => None,
        };
        parsed.map(Ok)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn parses_the_event_kinds_and_skips_the_rest() {
        let text = ": keep-alive\n\n\
            event: deleted\nid: 3\ndata: {\"revision\":3,\"kind\":\"process\",\"name\":\"sales-chat\",\"object\":null}\n\n\
            event: revision\nid: 3\ndata: {\"revision\":3}\n\n\
            event: mystery\ndata: {}\n\n\
            event: reset\ndata: {\"revision\":9}\n\n\
            event: revoked\ndata: {\"reason\":\"secret changed\"}\n\n";
        // Split mid-frame to check reassembly.
        let (a, b) = text.split_at(40);
        let chunks = vec![
            Ok::<_, reqwest::Error>(Bytes::from(a.to_owned())),
            Ok(Bytes::from(b.to_owned())),
        ];
        let got: Vec<_> = events(futures::stream::iter(chunks))
            .map(|e| e.unwrap())
            .collect()
            .await;
        assert_eq!(
            got,
            vec![
                WatchEvent::Object {
                    change: "deleted".into(),
                    kind: "process".into(),
                    name: "sales-chat".into(),
                    revision: 3
                },
                WatchEvent::Revision(3),
                WatchEvent::Reset(9),
                WatchEvent::Revoked("secret changed".into()),
            ]
        );
    }
}
