//! `GET /v1/events`: the reporting feed. Server-Sent Events of every
//! journal entry of this instance, in commit order, each with its position
//! as the SSE `id`, resumable with `Last-Event-ID` (or `?after=`) without a
//! gap or a duplicate.
//!
//! A reader subscribes to the writer's live tail (`store::Feed`) first,
//! then reads the journal from the database after its position, page by
//! page; once a page comes back short it has everything committed before it
//! subscribed, and follows the tail, passing over what it already sent (by
//! position: positions are in commit order). A reader more than
//! `reporting.feed_buffer` entries behind the writer gets `lagged` with
//! where to resume and is disconnected; the writer never waits for it.

use super::access::Action;
use super::auth::Caller;
use super::interactions::{MAX_NAME, name};
use super::openapi::schemas;
use super::{ApiError, AppState};
use crate::engine::EventKind;
use crate::metrics::FeedReaderGuard;
use crate::store::{FeedFilter, FeedItem, FeedPage, JournalEntry};
use crate::telemetry::error_chain;
use axum::extract::{Query, State as Extract};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::response::sse::Event;
use serde_json::json;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// Journal entries read from the database at a time.
const PAGE: i64 = 1000;
/// Events a stream's task may have ready before the client reads them.
const QUEUED: usize = 64;
const LAST_EVENT_ID: &str = "Last-Event-ID";

/// What a reader asked for.
#[derive(Debug, Default)]
struct Request {
    /// Entries after this position; `None`: from the oldest kept.
    after: Option<i64>,
    /// `after=end`: only what commits from now on (unless `Last-Event-ID`
    /// says where to resume).
    from_end: bool,
    follow: bool,
    filter: FeedFilter,
}

/// `value` as a journal position; `or` completes the message of a refusal
/// with what else the field takes.
fn position(field: &str, value: &str, or: &str) -> Result<i64, ApiError> {
    value
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| {
            ApiError::field(
                field,
                format!("'{value}' is not a journal position (a whole number, 0 or more){or}"),
            )
        })
}

fn add(list: &mut Option<Vec<String>>, value: String) {
    list.get_or_insert_with(Vec::new).push(value);
}

impl Request {
    /// The query and the `Last-Event-ID` header, every value checked. The
    /// header wins over `after`: a client reconnecting sends the same URL
    /// again, with the position it reached in the header.
    fn parse(
        shared: &AppState,
        headers: &HeaderMap,
        params: Vec<(String, String)>,
    ) -> Result<Request, ApiError> {
        let mut request = Request {
            follow: true,
            ..Request::default()
        };
        for (key, value) in params {
            match key.as_str() {
                "after" if value == "end" => request.from_end = true,
                "after" => request.after = Some(position("after", &value, ", or 'end'")?),
                "follow" => {
                    request.follow = match value.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(ApiError::field(
                                "follow",
                                format!("'{value}' must be true or false"),
                            ));
                        }
                    }
                }
                "process" => {
                    let process = name("process", value, MAX_NAME)?;
                    shared.check_scope(&process)?;
                    add(&mut request.filter.processes, process);
                }
                "queue" => add(&mut request.filter.queues, name("queue", value, MAX_NAME)?),
                "agent" => add(&mut request.filter.agents, name("agent", value, MAX_NAME)?),
                "kind" => {
                    let kind = EventKind::parse(&value).ok_or_else(|| {
                        ApiError::field(
                            "kind",
                            format!(
                                "'{value}' is not an event kind (one of {})",
                                EventKind::ALL.map(EventKind::as_str).join(", ")
                            ),
                        )
                    })?;
                    request.filter.kinds.get_or_insert_with(Vec::new).push(kind);
                }
                other => {
                    return Err(ApiError::field(
                        other,
                        "is not a parameter of the event feed \
                         (after, follow, process, queue, agent, kind)",
                    ));
                }
            }
        }
        if let Some(header) = headers.get(LAST_EVENT_ID) {
            let value = header.to_str().map_err(|_| {
                ApiError::field(LAST_EVENT_ID, "is not a journal position (a whole number)")
            })?;
            request.after = Some(position(LAST_EVENT_ID, value, "")?);
        }
        Ok(request)
    }
}

/// `GET /v1/events`.
#[utoipa::path(
    get,
    path = "/events",
    tag = "reporting",
    summary = "The event feed",
    description = "Server-Sent Events: every journal entry of this instance in commit order, \
        only once durable; each an event without a name (`onmessage`) whose data is a \
        `JournalEntry` and whose `id` is its position. It starts after the position in \
        `Last-Event-ID` (which wins), else after `after` (`end`: the newest entry), else at the \
        oldest entry kept; a \
        reader that resumes after the last `id` it got misses nothing and gets nothing twice. \
        Filters may be repeated (any of the values); different ones must all match. With \
        `follow` (the default) it goes on with each commit, a comment every 15 s when there is \
        nothing. A reader more than `reporting.feed_buffer` entries behind gets a last event \
        `lagged`, and one whose entries retention deleted a last event `purged`, each with a \
        `Resume`, and is disconnected.",
    params(
        ("after" = Option<String>, Query, pattern = "^([0-9]+|end)$", description = "Entries after this position (a whole number, 0 or more); `end`: after the newest entry, only what commits from now on"),
        ("follow" = Option<bool>, Query, description = "Go on with each commit (default true); false: send what exists and end"),
        ("process" = Option<Vec<String>>, Query, explode = true, description = "Only these processes (403 `out_of_scope` for one not served)"),
        ("queue" = Option<Vec<String>>, Query, explode = true, description = "Only these queues"),
        ("agent" = Option<Vec<String>>, Query, explode = true, description = "Only involving these agents"),
        ("kind" = Option<Vec<schemas::EventKind>>, Query, explode = true, description = "Only these kinds"),
        ("Last-Event-ID" = Option<i64>, Header, description = "Entries after this position (wins over `after`)"),
    ),
    responses((status = 200, description = "The stream of journal entries", content_type = "text/event-stream", body = String)),
    extensions(
        ("x-roles" = json!(["reporter"])),
        ("x-error-codes" = json!(["invalid_field", "out_of_scope", "purged", "database_unavailable"])),
        ("x-sse-events" = json!({
            "message": {"$ref": "#/components/schemas/JournalEntry"},
            "lagged": {"$ref": "#/components/schemas/Resume"},
            "purged": {"$ref": "#/components/schemas/Resume"}
        })),
    )
)]
pub async fn feed(
    Extract(shared): Extract<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    caller.may(Action::ReadEvents)?;
    let mut request = Request::parse(&shared, &headers, params)?;
    // Only an instance that holds its lease follows the journal.
    shared.live()?;
    // The tail before the database: whatever commits after the first read
    // is in the tail.
    let tail = if request.follow {
        Some(shared.feed.subscribe().ok_or_else(ApiError::not_active)?)
    } else {
        None
    };
    if request.from_end && request.after.is_none() {
        // Read after subscribing: whatever commits from here on is in the
        // tail, and what is already there is passed over by position.
        request.after = Some(shared.store.newest_position().await?);
    }
    let after = request.after.unwrap_or(0);
    let first = shared.store.read_feed(after, &request.filter, PAGE).await?;
    let last = match request.after {
        Some(after) if first.purged_through > after => {
            return Err(ApiError::Purged {
                after,
                purged_through: first.purged_through,
                oldest: shared.store.oldest_position().await?,
            });
        }
        Some(after) => after,
        // From the oldest kept.
        None => first.purged_through,
    };
    let (out, events) = mpsc::channel(QUEUED);
    let reader = Reader {
        _connected: shared.metrics.feed_reader(),
        closing: shared.feed.closing(),
        shared,
        filter: request.filter,
        last,
        out,
    };
    tokio::spawn(reader.run(first, tail));
    Ok(super::sse::from_channel(events))
}

/// One stream's task: reads the journal, then follows the tail, and hands
/// each event to the response.
struct Reader {
    shared: AppState,
    filter: FeedFilter,
    /// Every entry at or before this position that passes the filter was
    /// sent (or lies before where the reader asked to start).
    last: i64,
    out: mpsc::Sender<Event>,
    closing: CancellationToken,
    /// Counts this stream in `ixs_feed_readers` until its task ends.
    _connected: FeedReaderGuard,
}

/// Why a stream ends.
enum End {
    /// The client went away, or the instance stops.
    Gone,
    /// Said what it had to say (the journal's end without `follow`, a final
    /// event).
    Done,
}

impl Reader {
    async fn run(mut self, first: FeedPage, mut tail: Option<broadcast::Receiver<FeedItem>>) {
        let mut page = Some(first);
        loop {
            if self.history(page.take()).await.is_err() {
                return;
            }
            let Some(tail) = tail.as_mut() else {
                // `follow=false`: what exists is sent.
                return;
            };
            match self.follow(tail).await {
                // The writer asks for a new read of the journal.
                Ok(()) => continue,
                Err(_) => return,
            }
        }
    }

    /// Sends the journal after `last` from the database, `first` being its
    /// first page if already read, until a page comes back short.
    async fn history(&mut self, mut first: Option<FeedPage>) -> Result<(), End> {
        loop {
            let page = match first.take() {
                Some(page) => page,
                None => {
                    let read = self.shared.store.read_feed(self.last, &self.filter, PAGE);
                    let read = tokio::select! {
                        read = read => read,
                        () = self.out.closed() => return Err(End::Gone),
                        () = self.closing.cancelled() => return Err(End::Gone),
                    };
                    match read {
                        Ok(page) => page,
                        Err(error) => {
                            // The client resumes from the last id it got.
                            warn!(error = %error_chain(&error),
                                "event feed: cannot read the journal; the stream ends");
                            return Err(End::Done);
                        }
                    }
                }
            };
            if page.purged_through > self.last {
                // Retention deleted entries this reader had not read yet.
                let data = json!({ "resume_after": page.purged_through });
                self.send(final_event("purged", &data)).await?;
                return Err(End::Done);
            }
            let short = (page.entries.len() as i64) < PAGE;
            for entry in page.entries {
                self.offer(&entry).await?;
            }
            if short {
                return Ok(());
            }
        }
    }

    /// Follows the tail until it ends (`Err`) or asks for a new read of the
    /// journal (`Ok`).
    async fn follow(&mut self, tail: &mut broadcast::Receiver<FeedItem>) -> Result<(), End> {
        loop {
            let item = tokio::select! {
                biased;
                () = self.closing.cancelled() => return Err(End::Gone),
                () = self.out.closed() => return Err(End::Gone),
                item = tail.recv() => item,
            };
            match item {
                Ok(FeedItem::Entry(entry)) => self.offer(&entry).await?,
                Ok(FeedItem::Resync) => return Ok(()),
                Ok(FeedItem::Closed) | Err(broadcast::error::RecvError::Closed) => {
                    return Err(End::Done);
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let data = json!({ "resume_after": self.last });
                    self.send(final_event("lagged", &data)).await?;
                    return Err(End::Done);
                }
            }
        }
    }

    /// Sends `entry` unless it was sent already, or does not pass the
    /// filter, or belongs to a process outside the scope in force.
    async fn offer(&mut self, entry: &JournalEntry) -> Result<(), End> {
        if entry.position <= self.last {
            return Ok(());
        }
        let in_scope = entry
            .event
            .process
            .as_deref()
            .is_none_or(|process| self.shared.scope.borrow().served.serves(process));
        if in_scope && self.filter.matches(&entry.event) {
            let data = serde_json::to_string(entry).unwrap_or_default();
            let event = Event::default().id(entry.position.to_string()).data(data);
            self.send(event).await?;
        }
        self.last = entry.position;
        Ok(())
    }

    async fn send(&self, event: Event) -> Result<(), End> {
        tokio::select! {
            sent = self.out.send(event) => sent.map_err(|_| End::Gone),
            () = self.closing.cancelled() => Err(End::Gone),
        }
    }
}

/// A named event that ends the stream.
fn final_event(name: &str, data: &serde_json::Value) -> Event {
    Event::default().event(name).data(data.to_string())
}
