//! A reporting client beside the load: a reader of the event feed
//! (`GET /v1/events?after=end`) that measures how far behind each change it
//! reads it.
//!
//! The lag of an entry is the time it arrives here minus its `at`, the time
//! the engine made the change, before the change was committed: an upper
//! bound of the lag behind the commit, on the same machine's clock.

use super::answer::{Events, log_in, open_events};
use super::report::Latency;
use super::tally::histogram;
use anyhow::Context;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What the feed reader saw.
#[derive(Debug, Clone, Serialize)]
pub struct FeedReport {
    /// The person it read as.
    pub person: String,
    /// Entries it read.
    pub entries: u64,
    /// Why its stream ended before the run did (`lagged`: the instance cut
    /// it off as too slow; an error), if it did.
    pub ended: Option<String>,
    /// Arrival here minus the entry's `at`, in milliseconds.
    pub lag_ms: Latency,
}

/// When told to stop, the reader still reads what the feed has to give of
/// the run (every change of it is committed by then, and reaches the feed
/// a few milliseconds later): until no entry came for this long…
const CAUGHT_UP_AFTER: Duration = Duration::from_millis(300);
/// …or, with other clients still writing, for this long at most.
const CATCH_UP_AT_MOST: Duration = Duration::from_secs(5);

/// The reader, running.
pub(super) struct FeedReader {
    task: JoinHandle<FeedReport>,
    stop: CancellationToken,
}

impl FeedReader {
    /// Logs `person` in and opens the feed from its end; the reader reads
    /// until [`FeedReader::finish`].
    pub(super) async fn start(
        base: &str,
        person: &str,
        password: &str,
    ) -> anyhow::Result<FeedReader> {
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        let token = log_in(&http, base, person, password)
            .await
            .with_context(|| format!("log-in of the feed reader {person:?}"))?;
        let url = format!("{base}/v1/events?after=end");
        let events = open_events(&http, &url, &token, "the event feed").await?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(read(events, person.to_owned(), stop.clone()));
        Ok(FeedReader { task, stop })
    }

    /// Reads what the feed still has to give of the run, then stops and
    /// reports.
    pub(super) async fn finish(self) -> anyhow::Result<FeedReport> {
        self.stop.cancel();
        self.task.await.context("the feed reader's task")
    }
}

async fn read(mut events: Events, person: String, stop: CancellationToken) -> FeedReport {
    let mut lag: Histogram<u64> = histogram();
    let mut entries = 0;
    let mut catching_up_until = None;
    let ended = loop {
        let event = match catching_up_until {
            None => tokio::select! {
                () = stop.cancelled() => {
                    catching_up_until = Some(tokio::time::Instant::now() + CATCH_UP_AT_MOST);
                    continue;
                }
                event = events.next() => event,
            },
            Some(until) => {
                let quiet = tokio::time::Instant::now() + CAUGHT_UP_AFTER;
                match tokio::time::timeout_at(quiet.min(until), events.next()).await {
                    Ok(event) => event,
                    Err(_) => break None,
                }
            }
        };
        let event = match event {
            None => break Some("the stream ended".to_owned()),
            Some(Err(error)) => break Some(format!("the stream failed: {error}")),
            Some(Ok(event)) => event,
        };
        let arrived = Utc::now();
        if !event.event.is_empty() && event.event != "message" {
            // A final event: `lagged`, `purged`.
            break Some(format!("{}: {}", event.event, event.data));
        }
        let at = serde_json::from_str::<serde_json::Value>(&event.data)
            .ok()
            .and_then(|entry| entry["at"].as_str().map(str::to_owned))
            .and_then(|at| at.parse::<DateTime<Utc>>().ok());
        let Some(at) = at else {
            break Some(format!("an entry without its time: {}", event.data));
        };
        entries += 1;
        let micros = (arrived - at).num_microseconds().unwrap_or(i64::MAX);
        lag.saturating_record(u64::try_from(micros).unwrap_or(0).max(1));
    };
    FeedReport {
        person,
        entries,
        ended,
        lag_ms: Latency::of(&lag),
    }
}
