//! Serving a router over HTTP/1.1, the same for the instance and the
//! configuration server: a bounded number of connections, a bounded time
//! to send each request head, and every answer the documented JSON error,
//! also for a request head too large to route.
//!
//! - Past `max_connections` the accept waits: further connections queue in
//!   the kernel's listen backlog until one ends. No work is done for them,
//!   and the slots held by idle or slow clients come free within
//!   `header_read_timeout`.
//! - `header_read_timeout` (hyper's timer) runs from the moment a head is
//!   awaited, at the connection's start and after each answer: a client
//!   sending its head slowly, or nothing at all, is disconnected.
//! - hyper answers a head it cannot parse with a bare status and an empty
//!   body, which cannot be changed. So each head is checked first
//!   (`checked`, `head`) against limits below hyper's own, and a refused one
//!   is answered `414 uri_too_long`, `431 headers_too_large` or
//!   `400 malformed_request` in JSON, after which the connection closes.
//! - On `stop` the listener closes, idle connections close, and requests
//!   in flight finish; [`serve`] returns when every connection has ended.

mod body;
mod checked;
mod head;
mod refusal;

pub use refusal::Refusal;

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tracing::{Instrument, debug, error};

use checked::{Checked, Refusals};
use head::HeadLimits;

/// The limits of [`serve`], from a server's `[listen]` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// How long a client has to send a request head, from when one is
    /// awaited; a connection that sends nothing is closed after it too.
    pub header_read_timeout: Duration,
    /// Connections served at once; further ones wait to be accepted.
    pub max_connections: usize,
    /// Longest request target (path and query), in bytes.
    pub max_uri_bytes: usize,
    /// Largest header section of a request, in bytes.
    pub max_header_bytes: usize,
    /// Most headers in a request.
    pub max_headers: usize,
}

impl ConnectionLimits {
    /// The highest `max_uri_bytes` may be: hyper's own limit.
    pub const MAX_URI_BYTES: usize = 65_534;
    /// The highest `max_header_bytes` may be.
    pub const MAX_HEADER_BYTES: usize = 256 * 1024;
    /// The highest `max_headers` may be.
    pub const MAX_HEADERS: usize = 1_000;

    fn head(&self) -> HeadLimits {
        HeadLimits {
            max_uri_bytes: self.max_uri_bytes,
            max_header_bytes: self.max_header_bytes,
            max_headers: self.max_headers,
        }
    }
}

/// hyper's read buffer (its default size): it must hold the largest head
/// the check lets through, or hyper would refuse it with a bare 431.
const PARSER_BUFFER: usize = 8192 + 4096 * 100;

const _: () = assert!(
    HeadLimits {
        max_uri_bytes: ConnectionLimits::MAX_URI_BYTES,
        max_header_bytes: ConnectionLimits::MAX_HEADER_BYTES,
        max_headers: ConnectionLimits::MAX_HEADERS,
    }
    .max_head_bytes()
        < PARSER_BUFFER
);

/// Serves `router` on `listener` until `stop` is cancelled, then lets the
/// requests in flight finish and returns when every connection has ended.
/// Dropping the returned future ends every connection at once.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stop: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_headers)
        .max_buf_size(PARSER_BUFFER);
    let mut connections = JoinSet::new();
    loop {
        let permit = tokio::select! {
            () = stop.cancelled() => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(e, &stop).await;
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        let connection = Connection {
            http: http.clone(),
            router: router.clone(),
            head: limits.head(),
            stop: stop.clone(),
            _permit: permit,
        };
        connections.spawn(connection.serve(stream).in_current_span());
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// An error accepting a connection: the client's are skipped; others
/// (such as too many open files) are logged and accepting pauses a second,
/// as hyper's own server does.
async fn accept_failed(e: io::Error, stop: &CancellationToken) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    error!(error = %e, "cannot accept a connection; retrying in 1 s");
    tokio::select! {
        () = stop.cancelled() => {}
        () = tokio::time::sleep(Duration::from_secs(1)) => {}
    }
}

/// One accepted connection and what serving it takes.
struct Connection {
    http: http1::Builder,
    router: Router,
    head: HeadLimits,
    stop: CancellationToken,
    /// Its place among `max_connections`, given back when it ends.
    _permit: OwnedSemaphorePermit,
}

impl Connection {
    async fn serve(self, stream: TcpStream) {
        let refusals = Arc::new(Refusals::default());
        let io = TokioIo::new(Checked::new(stream, self.head, refusals.clone()));
        let router = self.router;
        let service = service_fn(move |request: hyper::Request<Incoming>| {
            let refusal = refusals.next_request();
            let router = router.clone();
            async move {
                match refusal {
                    Some(refusal) => {
                        debug!(%refusal, "request head refused");
                        Ok::<_, Infallible>(refusal.into_response())
                    }
                    None => router.oneshot(request).await,
                }
            }
        });
        let connection = self.http.serve_connection(io, service);
        tokio::pin!(connection);
        let ended = tokio::select! {
            ended = connection.as_mut() => ended,
            () = self.stop.cancelled() => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(e) = ended {
            debug!(error = %e, "connection ended");
        }
    }
}
