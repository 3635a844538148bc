//! `GET /v1/watch?after=REV`: the caller's changes as Server-Sent Events.
//!
//! For each new revision the caller receives the objects that were created,
//! changed or deleted *as it sees them* (its view of the previous revision
//! against its view of the new one), one event each:
//!
//! ```text
//! event: deleted
//! data: {"revision":7,"kind":"process","name":"sales-chat","object":null}
//!
//! event: revision
//! id: 7
//! data: {"revision":7}
//! ```
//!
//! `event: revision` closes each revision; its `id` makes `Last-Event-ID`
//! work for resumption. Resuming from a revision still in the history sends
//! what changed since, as one step to the revision in force; from any other
//! revision (or without `after`) the stream starts with `event: reset` and
//! the client refetches `/v1/objects`. When the session expires or a reload
//! revokes it, `event: revoked` `{"reason","message"}` ends the stream.
//!
//! The session is checked against every revision before the caller sees
//! anything of it, so a revoked login never receives the revision that
//! revoked it.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt, stream};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{Instrument, Span, info, info_span};

use super::extract::Caller;
use super::{AppState, HttpError};
use crate::config_server::diff::{ObjectChange, Objects};
use crate::config_server::instances::Watching;
use crate::config_server::revisions::Revision;
use crate::config_server::sessions::{Refusal, Session, TokenHash};
use crate::config_server::subject::Subject;
use chrono::Utc;

/// How often a comment keeps an idle stream (and the proxies on its way)
/// open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchQuery {
    #[serde(default)]
    after: Option<u64>,
}

pub async fn watch(
    State(shared): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    query: Result<Query<WatchQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, HttpError> {
    let Query(query) = query.map_err(|e| HttpError::field("after", e.body_text()))?;
    // A reconnecting EventSource repeats the URL it first used and adds
    // the last id it received: that one is the more recent.
    let after = match headers.get("last-event-id") {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| HttpError::field("Last-Event-ID", "must be a revision number"))?,
        ),
        None => query.after,
    };
    let follow = shared.revisions.subscribe();
    let current = caller.revision.clone();
    let base = after
        .filter(|&after| after <= current.number)
        .and_then(|after| shared.revisions.get(after));
    let subject = caller.session.subject.clone();
    let span = info_span!("watch", kind = subject.kind(), name = subject.name(), after);
    let seen = Objects::of(&subject.visible(&current.directory));
    let first = match base {
        Some(base) if base.number == current.number => Vec::new(),
        Some(base) => {
            let before = Objects::of(&subject.visible(&base.directory));
            revision_events(&before.changes_to(&seen), current.number)
        }
        None => vec![marker("reset", current.number)],
    };
    span.in_scope(|| info!(revision = current.number, "watch started"));
    let watching = match &subject {
        Subject::Application(name) => {
            shared.instances.saw(name, current.number, Utc::now());
            Some(shared.instances.watching(name))
        }
        Subject::Person(_) => None,
    };
    let watcher = Watcher {
        _watching: watching,
        span,
        shared,
        token: caller.token,
        session: caller.session,
        at: current.number,
        seen,
        follow,
        pending: first,
        done: false,
    };
    let events = stream::unfold(watcher, |mut watcher| async move {
        let span = watcher.span.clone();
        let batch = watcher.next_batch().instrument(span).await?;
        Some((stream::iter(batch.into_iter().map(Ok)), watcher))
    })
    .flatten();
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// One caller's stream: the revision it holds and what it sees of it.
struct Watcher {
    span: Span,
    shared: AppState,
    token: TokenHash,
    session: Session,
    at: u64,
    seen: Objects,
    follow: watch::Receiver<u64>,
    /// Events to send before waiting for the next revision.
    pending: Vec<Event>,
    /// The stream ends after `pending`.
    done: bool,
    /// An interaction server is connected while this stream is open.
    _watching: Option<Watching>,
}

impl Watcher {
    /// The next events to send, waiting for them if needed; `None` ends the
    /// stream.
    async fn next_batch(&mut self) -> Option<Vec<Event>> {
        loop {
            if !self.pending.is_empty() {
                return Some(std::mem::take(&mut self.pending));
            }
            if self.done {
                return None;
            }
            let latest = self.shared.revisions.current();
            if latest.number > self.at {
                self.pending = self.catch_up(&latest);
                continue;
            }
            tokio::select! {
                _ = self.shared.stop.cancelled() => return None,
                _ = tokio::time::sleep_until(self.session.expires) => {
                    self.end(Refusal::Expired);
                }
                changed = self.follow.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
            }
        }
    }

    /// The events that take the caller from its revision to `latest`.
    fn catch_up(&mut self, latest: &Arc<Revision>) -> Vec<Event> {
        let now = Instant::now();
        let still = self
            .shared
            .sessions
            .check(&self.token, &latest.directory, now);
        if let Err(refusal) = still {
            self.end(refusal);
            return std::mem::take(&mut self.pending);
        }
        let next = Objects::of(&self.session.subject.visible(&latest.directory));
        let events = revision_events(&self.seen.changes_to(&next), latest.number);
        self.seen = next;
        self.at = latest.number;
        if let Subject::Application(name) = &self.session.subject {
            self.shared.instances.saw(name, latest.number, Utc::now());
        }
        events
    }

    fn end(&mut self, refusal: Refusal) {
        info!(reason = refusal.code(), "watch revoked");
        let data = json!({ "reason": refusal.code(), "message": refusal.to_string() });
        self.pending = vec![Event::default().event("revoked").data(data.to_string())];
        self.done = true;
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        info!(parent: &self.span, revision = self.at, "watch ended");
    }
}

/// The events of one revision: its changes, then `revision`.
fn revision_events(changes: &[ObjectChange], revision: u64) -> Vec<Event> {
    let mut events: Vec<Event> = changes
        .iter()
        .map(|change| {
            let data = json!({
                "revision": revision,
                "kind": change.kind,
                "name": change.name,
                "object": change.object,
            });
            Event::default()
                .event(change.change.as_str())
                .data(data.to_string())
        })
        .collect();
    events.push(marker("revision", revision));
    events
}

/// `revision` or `reset`: names the revision the caller now holds, as data
/// and as the event's id.
fn marker(name: &str, revision: u64) -> Event {
    Event::default()
        .event(name)
        .id(revision.to_string())
        .data(json!({ "revision": revision }).to_string())
}
