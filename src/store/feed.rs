//! The live tail of the journal: after each commit the writer hands the
//! journal entries it wrote, with their positions, to a bounded broadcast;
//! the reporting feed's readers (`api/events.rs`) read the database first
//! and then follow this tail.
//!
//! The writer never waits for a reader: a reader that falls more than the
//! buffer behind loses its place in the tail (`Lagged`) and is told where
//! to resume. Positions are in commit order (see `ARCHITECTURE.md`, *The
//! reporting feed*), so a reader dedupes by position alone.

use super::JournalEntry;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// What the tail carries.
#[derive(Debug, Clone)]
pub enum FeedItem {
    /// A committed journal entry.
    Entry(Arc<JournalEntry>),
    /// Entries were committed whose positions the writer does not know (a
    /// commit whose answer was lost, found committed when read back): a
    /// reader reads the journal again from its position before it goes on.
    Resync,
    /// The writer stopped (the instance is stopping or lost its lease):
    /// nothing more will come.
    Closed,
}

/// The broadcast between the writer and the feed's readers, for as long as
/// the instance runs.
#[derive(Debug)]
pub struct Feed {
    tx: broadcast::Sender<FeedItem>,
    /// Whether a writer publishes; taken around subscribing and around the
    /// writer's `Closed`, so that a reader either subscribes before it or
    /// is refused.
    live: Mutex<bool>,
    /// Cancelled when the instance stops serving HTTP: every stream ends.
    closing: CancellationToken,
    /// The position of the last entry published, so that a reader of the
    /// tail can tell when it has caught up with what was committed.
    published: AtomicI64,
}

impl Feed {
    /// A feed whose tail holds at most `capacity` items.
    pub fn new(capacity: usize) -> Arc<Feed> {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Arc::new(Feed {
            tx,
            live: Mutex::new(false),
            closing: CancellationToken::new(),
            published: AtomicI64::new(0),
        })
    }

    /// A receiver of everything published from now on, or `None` while no
    /// writer publishes (the instance does not hold its lease).
    pub fn subscribe(&self) -> Option<broadcast::Receiver<FeedItem>> {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.then(|| self.tx.subscribe())
    }

    /// For the writer: what it publishes goes to the subscribers; when it
    /// is dropped, they are told the tail ended.
    pub fn publisher(self: &Arc<Self>) -> Publisher {
        *self.live.lock().unwrap_or_else(|e| e.into_inner()) = true;
        Publisher { feed: self.clone() }
    }

    /// Ends every stream: the instance is stopping.
    pub fn close(&self) {
        self.closing.cancel();
    }

    /// Cancelled when the instance stops.
    pub fn closing(&self) -> CancellationToken {
        self.closing.clone()
    }

    /// The position of the last entry published (0 before any): every
    /// entry up to it was committed, and a caller answered after its change
    /// committed finds its entries at or below it.
    pub fn published(&self) -> i64 {
        self.published.load(Ordering::Acquire)
    }
}

/// The writer's end of the feed.
#[derive(Debug)]
pub struct Publisher {
    feed: Arc<Feed>,
}

impl Publisher {
    /// Whether anyone listens: with no subscriber, nothing need be built.
    /// A reader that subscribes later reads the database first, which
    /// holds what was committed before.
    pub fn wanted(&self) -> bool {
        self.feed.tx.receiver_count() > 0
    }

    pub fn publish(&self, entry: JournalEntry) {
        self.feed
            .published
            .fetch_max(entry.position, Ordering::AcqRel);
        // No receiver left: nothing to do.
        let _ = self.feed.tx.send(FeedItem::Entry(Arc::new(entry)));
    }

    pub fn resync(&self) {
        let _ = self.feed.tx.send(FeedItem::Resync);
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let mut live = self.feed.live.lock().unwrap_or_else(|e| e.into_inner());
        *live = false;
        let _ = self.feed.tx.send(FeedItem::Closed);
    }
}
