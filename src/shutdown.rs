//! The steps of a graceful stop that the instance and the configuration
//! server share.

use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout_at};
use tokio_util::task::TaskTracker;
use tracing::warn;

/// Waits until `deadline` for the HTTP server, already told to stop, to let
/// its in-flight requests finish; aborts it if they do not.
pub async fn join_http(server: &mut JoinHandle<()>, deadline: Instant) {
    match timeout_at(deadline, &mut *server).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!(error = %e, "HTTP server task failed"),
        Err(_) => {
            warn!("in-flight requests did not finish within the grace period");
            server.abort();
        }
    }
}

/// Closes `tracker` and waits until `deadline` for its tasks to end.
pub async fn drain(tracker: &TaskTracker, deadline: Instant) {
    tracker.close();
    if timeout_at(deadline, tracker.wait()).await.is_err() {
        warn!("background tasks did not finish within the grace period");
    }
}
