//! Where the daemon's task keeps the window and the API reads it: one per
//! instance, shared, never global.

use super::{Live, Snapshot, Window};
use crate::store::JournalEntry;
use chrono::{DateTime, Utc};
use std::sync::Mutex;
use tokio::sync::watch;

/// The window of one instance, once its journal has been read.
#[derive(Debug)]
pub struct Board {
    window: Mutex<Option<Window>>,
    /// Counts the changes: 0 until the journal of the window was read,
    /// then one more for each entry applied, so that a stream knows when
    /// to send again.
    changes: watch::Sender<u64>,
}

impl Default for Board {
    fn default() -> Self {
        Board {
            window: Mutex::new(None),
            changes: watch::channel(0).0,
        }
    }
}

impl Board {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Window>> {
        self.window.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts `window`, built from the journal, in force (at start, or after
    /// the tail was lost and the journal read again).
    pub fn replace(&self, window: Window) {
        *self.lock() = Some(window);
        self.changes.send_modify(|n| *n += 1);
    }

    /// Forgets the window: the instance stopped following its journal.
    pub fn clear(&self) {
        *self.lock() = None;
    }

    /// Applies committed entries; `false` while no window is in force.
    pub fn apply<'a>(&self, entries: impl IntoIterator<Item = &'a JournalEntry>) -> bool {
        let mut guard = self.lock();
        let Some(window) = guard.as_mut() else {
            return false;
        };
        for entry in entries {
            window.apply(entry);
        }
        drop(guard);
        self.changes.send_modify(|n| *n += 1);
        true
    }

    /// The position of the last entry applied, if a window is in force.
    pub fn position(&self) -> Option<i64> {
        self.lock().as_ref().map(Window::position)
    }

    /// The figures at `now`, if a window is in force.
    pub fn snapshot(&self, now: DateTime<Utc>, live: &Live) -> Option<Snapshot> {
        self.lock()
            .as_mut()
            .map(|window| window.snapshot(now, live))
    }

    /// Changes as they happen; 0 until the window is first in force.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}
