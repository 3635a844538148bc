//! Retention: stopped interactions, old journal entries and expired
//! sessions are removed in small batches, each its own short transaction, so that no single DELETE
//! holds locks or holds back vacuum.

use super::{Fence, Store};
use crate::telemetry::error_chain;
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

#[derive(Debug, Clone)]
pub struct RetentionPolicy {
    /// How long a stopped interaction is kept.
    pub stopped: Duration,
    /// How long a journal entry is kept.
    pub events: Duration,
    /// Rows per delete.
    pub batch: i64,
    /// Time between sweeps.
    pub interval: Duration,
}

/// Sweeps every `interval` until cancelled.
pub async fn run_retention<S: Store>(
    store: Arc<S>,
    fence: Fence,
    policy: RetentionPolicy,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(policy.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = Utc::now();
        let stopped_before = now - chrono::Duration::from_std(policy.stopped).unwrap_or_default();
        let events_before = now - chrono::Duration::from_std(policy.events).unwrap_or_default();
        let (mut interactions, mut events, mut sessions) = (0, 0, 0);
        loop {
            if cancel.is_cancelled() {
                return;
            }
            match store
                .purge(&fence, stopped_before, events_before, policy.batch)
                .await
            {
                Ok(purged) => {
                    interactions += purged.interactions;
                    events += purged.events;
                    sessions += purged.sessions;
                    let full = purged.interactions as i64 >= policy.batch
                        || purged.events as i64 >= policy.batch
                        || purged.sessions as i64 >= policy.batch;
                    if !full {
                        break;
                    }
                    // Let other work through between batches.
                    tokio::task::yield_now().await;
                }
                Err(error) => {
                    warn!(error = %error_chain(&error), "retention sweep failed; next sweep retries");
                    break;
                }
            }
        }
        if interactions + events + sessions > 0 {
            info!(interactions, events, sessions, "retention purged");
        } else {
            debug!("retention: nothing to purge");
        }
    }
}
