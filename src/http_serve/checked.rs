//! The connection as hyper reads it. Each request head is held back until
//! it is complete and checked ([`head`](super::head)); bodies pass through,
//! followed only to find where the next head starts. A refused head never
//! reaches hyper, whose own answers to what it cannot parse are bare
//! statuses: hyper gets in its place a stand-in request that the
//! connection's service answers with the refusal in JSON, after any
//! earlier requests, and the connection closes.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use super::body::{Chunked, Framing, Step};
use super::head::{self, Examined, HeadLimits};
use super::refusal::Refusal;

/// What a connection's reader and its service share.
#[derive(Debug, Default)]
pub(super) struct Refusals {
    /// The refused head, and the number of the request standing in for it.
    refused: OnceLock<(u64, Refusal)>,
    /// Requests the service was called for.
    served: AtomicU64,
}

impl Refusals {
    /// Called by the service for each request, in order: the refusal to
    /// answer instead of routing it, if it is the stand-in for a refused
    /// head.
    pub fn next_request(&self) -> Option<Refusal> {
        let number = self.served.fetch_add(1, Ordering::Relaxed);
        self.refused
            .get()
            .filter(|(at, _)| *at == number)
            .map(|(_, refusal)| refusal.clone())
    }
}

/// The request standing in for a refused head: no body, and the
/// connection closes after its answer.
const STAND_IN: &[u8] = b"GET / HTTP/1.1\r\nconnection: close\r\n\r\n";

/// How long a refused client is still read from, what it sends thrown
/// away, after its answer: closing a socket with unread bytes resets the
/// connection, and a reset can destroy the answer before the client reads
/// it.
const LINGER: Duration = Duration::from_secs(2);

/// What is read from the socket at a time into the reader's own buffer.
const READ_CHUNK: usize = 8 * 1024;

pub(super) struct Checked {
    io: TcpStream,
    limits: HeadLimits,
    refusals: Arc<Refusals>,
    /// Read from the socket, not yet had by hyper; the first `cleared`
    /// bytes may go to it.
    buf: BytesMut,
    cleared: usize,
    /// Where `buf[cleared..]` starts in the client's stream.
    at: At,
    /// Heads cleared for hyper so far.
    heads: u64,
    linger: Option<Pin<Box<Sleep>>>,
}

#[derive(Debug)]
enum At {
    /// In a head; `scanned` bytes of it were examined before.
    Head {
        scanned: usize,
    },
    /// In a body with `left` bytes to come.
    Length {
        left: u64,
    },
    Chunked(Chunked),
    /// No longer followed: the client's end. Everything passes.
    Open,
    /// A body framed otherwise than hyper reads it: what was cleared goes
    /// to hyper, then the connection ends (no answer can be given in the
    /// middle of a body).
    Closed,
    /// A head was refused: hyper gets `STAND_IN[sent..]`, then nothing.
    Refused {
        sent: usize,
    },
}

impl At {
    fn after_head(framing: Framing) -> At {
        match framing {
            Framing::None | Framing::Length(0) => At::Head { scanned: 0 },
            Framing::Length(left) => At::Length { left },
            Framing::Chunked => At::Chunked(Chunked::new()),
        }
    }

    fn after_length(left: u64) -> At {
        if left == 0 {
            At::Head { scanned: 0 }
        } else {
            At::Length { left }
        }
    }
}

impl Checked {
    pub fn new(io: TcpStream, limits: HeadLimits, refusals: Arc<Refusals>) -> Checked {
        Checked {
            io,
            limits,
            refusals,
            buf: BytesMut::new(),
            cleared: 0,
            at: At::Head { scanned: 0 },
            heads: 0,
            linger: None,
        }
    }

    /// Follows the bytes held back, clearing for hyper those that may go.
    fn follow(&mut self) {
        loop {
            let pending = &self.buf[self.cleared..];
            if pending.is_empty() && !matches!(self.at, At::Open) {
                return;
            }
            match &mut self.at {
                At::Refused { .. } | At::Closed => return,
                At::Open => {
                    self.cleared = self.buf.len();
                    return;
                }
                At::Head { scanned } => match head::examine(pending, *scanned, &self.limits) {
                    Examined::Partial => {
                        *scanned = pending.len();
                        return;
                    }
                    Examined::Complete { len, framing } => {
                        self.cleared += len;
                        self.heads += 1;
                        self.at = At::after_head(framing);
                    }
                    Examined::Refused(refusal) => {
                        self.refuse(refusal);
                        return;
                    }
                },
                At::Length { left } => {
                    let take = (*left).min(pending.len() as u64);
                    self.cleared += take as usize;
                    self.at = At::after_length(*left - take);
                }
                At::Chunked(chunked) => match chunked.advance(pending) {
                    Step::More => self.cleared = self.buf.len(),
                    Step::Done(len) => {
                        self.cleared += len;
                        self.at = At::Head { scanned: 0 };
                    }
                    Step::Lost => {
                        self.buf.truncate(self.cleared);
                        self.at = At::Closed;
                        return;
                    }
                },
            }
        }
    }

    /// The refused head and whatever followed it are dropped; what was
    /// cleared before it still goes to hyper first.
    fn refuse(&mut self, refusal: Refusal) {
        self.buf.truncate(self.cleared);
        // Set once: nothing is followed after a refusal.
        let _ = self.refusals.refused.set((self.heads, refusal));
        self.at = At::Refused { sent: 0 };
    }

    /// Reads straight into hyper's buffer when nothing is held back and
    /// what comes is body (or no longer followed); `None` otherwise.
    fn poll_direct(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Option<Poll<io::Result<()>>> {
        if !self.buf.is_empty() {
            return None;
        }
        let left = match self.at {
            At::Open => return Some(Pin::new(&mut self.io).poll_read(cx, out)),
            At::Length { left } if left >= out.remaining() as u64 => left,
            _ => return None,
        };
        let before = out.filled().len();
        match Pin::new(&mut self.io).poll_read(cx, out) {
            Poll::Ready(Ok(())) => {}
            other => return Some(other),
        }
        let read = (out.filled().len() - before) as u64;
        self.at = if read == 0 {
            At::Open
        } else {
            At::after_length(left - read)
        };
        Some(Poll::Ready(Ok(())))
    }
}

impl AsyncRead for Checked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if out.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if this.cleared > 0 {
                let n = this.cleared.min(out.remaining());
                out.put_slice(&this.buf[..n]);
                this.buf.advance(n);
                this.cleared -= n;
                return Poll::Ready(Ok(()));
            }
            if matches!(this.at, At::Closed) {
                // The end, as hyper sees it.
                return Poll::Ready(Ok(()));
            }
            if let At::Refused { sent } = &mut this.at {
                if *sent == STAND_IN.len() {
                    // Hyper answers the stand-in and closes the connection.
                    return Poll::Pending;
                }
                let n = (STAND_IN.len() - *sent).min(out.remaining());
                out.put_slice(&STAND_IN[*sent..*sent + n]);
                *sent += n;
                return Poll::Ready(Ok(()));
            }
            if let Some(polled) = this.poll_direct(cx, out) {
                return polled;
            }
            let held = this.buf.len();
            this.buf.resize(held + READ_CHUNK, 0);
            let mut read = ReadBuf::new(&mut this.buf[held..]);
            let polled = Pin::new(&mut this.io).poll_read(cx, &mut read);
            let n = read.filled().len();
            this.buf.truncate(held + n);
            ready!(polled)?;
            if n == 0 {
                // The client's end: hyper gets what is left, then the end,
                // and takes a partial head as it would without this reader.
                this.at = At::Open;
                this.cleared = this.buf.len();
                if this.cleared == 0 {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            this.follow();
        }
    }
}

impl AsyncWrite for Checked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    /// After a refusal: the end of the answer, then what the client still
    /// sends is read and dropped until it closes too, or for [`LINGER`].
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !matches!(this.at, At::Refused { .. }) {
            return Pin::new(&mut this.io).poll_shutdown(cx);
        }
        if this.linger.is_none() {
            ready!(Pin::new(&mut this.io).poll_shutdown(cx))?;
            this.linger = Some(Box::pin(tokio::time::sleep(LINGER)));
        }
        let Some(linger) = this.linger.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        loop {
            if linger.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
            this.buf.clear();
            this.buf.resize(READ_CHUNK, 0);
            let mut read = ReadBuf::new(&mut this.buf[..]);
            match ready!(Pin::new(&mut this.io).poll_read(cx, &mut read)) {
                Ok(()) if read.filled().is_empty() => return Poll::Ready(Ok(())),
                Ok(()) => {}
                Err(_) => return Poll::Ready(Ok(())),
            }
        }
    }
}
