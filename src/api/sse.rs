//! What the API's Server-Sent Event streams share: the keep-alive, and a
//! stream of the events a task sends on a channel.

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::mpsc;

/// How often a comment keeps an idle stream (and the proxies on its way)
/// open.
pub(super) const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The events sent on `events`, as an SSE answer with keep-alives; it ends
/// when the sender is dropped.
pub(super) fn from_channel(events: mpsc::Receiver<Event>) -> Response {
    let stream = futures::stream::unfold(events, |mut events| async move {
        let event = events.recv().await?;
        Some((Ok::<_, Infallible>(event), events))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}
