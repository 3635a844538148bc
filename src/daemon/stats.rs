//! The task that keeps the live statistics' window: while the instance
//! holds its lease, it reads the journal of the window from the database,
//! then follows the writer's live tail, and reads the database again from
//! its last position whenever the tail cannot be trusted (`Lagged`,
//! `Resync`). A restart thus rebuilds the same figures from the same
//! journal.

use crate::stats::{Board, Window};
use crate::store::{Feed, FeedItem, PgStore, Store, StoreError};
use crate::telemetry::error_chain;
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Journal entries read from the database at a time.
const PAGE: i64 = 1000;
/// How long to wait before reading again after the database failed.
const RETRY: Duration = Duration::from_secs(1);

pub struct StatsTask {
    pub store: Arc<PgStore>,
    pub feed: Arc<Feed>,
    pub board: Arc<Board>,
    pub window: Duration,
}

/// Why reading stopped.
enum Stop {
    /// Stopped, or the tail ended: nothing more will come.
    Done,
}

impl StatsTask {
    pub async fn run(self, stop: CancellationToken) {
        let closing = self.feed.closing();
        tokio::select! {
            () = self.follow() => {}
            () = stop.cancelled() => {}
            () = closing.cancelled() => {}
        }
        self.board.clear();
    }

    async fn follow(&self) {
        // The tail first: whatever commits after the first read is in it.
        let Some(mut tail) = self.feed.subscribe() else {
            return;
        };
        let Ok(window) = self.replay().await else {
            return;
        };
        info!(
            position = window.position(),
            "statistics: the journal of the window read"
        );
        self.board.replace(window);
        loop {
            match tail.recv().await {
                Ok(FeedItem::Entry(entry)) => {
                    self.board.apply([entry.as_ref()]);
                }
                Ok(FeedItem::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Read from the last position counted.
                    if self.catch_up().await.is_err() {
                        return;
                    }
                }
                Ok(FeedItem::Closed) | Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Waits before reading again after the database failed; `Err` once
    /// the instance stops.
    async fn failed(&self, error: &StoreError) -> Result<(), Stop> {
        warn!(error = %error_chain(error), "statistics: cannot read the journal; retrying");
        if self.feed.closing().is_cancelled() {
            return Err(Stop::Done);
        }
        tokio::time::sleep(RETRY).await;
        Ok(())
    }

    /// The window built from the journal of its span.
    async fn replay(&self) -> Result<Window, Stop> {
        let since = Utc::now() - chrono::Duration::from_std(self.window).unwrap_or_default();
        let mut after = loop {
            match self.store.position_before(since).await {
                Ok(position) => break position,
                Err(error) => self.failed(&error).await?,
            }
        };
        let mut window = Window::new(self.window);
        window.resume_after(after);
        loop {
            let page = match self.store.read_journal_since(after, since, PAGE).await {
                Ok(page) => page,
                Err(error) => {
                    self.failed(&error).await?;
                    continue;
                }
            };
            let short = (page.len() as i64) < PAGE;
            for entry in &page {
                window.apply(entry);
                after = entry.position;
            }
            if short {
                return Ok(window);
            }
        }
    }

    /// Applies the journal after the board's position.
    async fn catch_up(&self) -> Result<(), Stop> {
        loop {
            let Some(after) = self.board.position() else {
                return Err(Stop::Done);
            };
            let page = match self.store.read_journal(after, PAGE).await {
                Ok(page) => page,
                Err(error) => {
                    self.failed(&error).await?;
                    continue;
                }
            };
            let short = (page.len() as i64) < PAGE;
            self.board.apply(page.iter());
            if short {
                return Ok(());
            }
        }
    }
}
