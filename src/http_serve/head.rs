//! Checking one request head before hyper parses it: the limits on its
//! request target, on its headers and on their number; that it is HTTP/1.x
//! that hyper takes; and how its body is framed, so that the next head can
//! be found. Pure: bytes in, a verdict out.

use super::body::Framing;
use super::refusal::Refusal;

/// What a request head is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct HeadLimits {
    pub max_uri_bytes: usize,
    pub max_header_bytes: usize,
    pub max_headers: usize,
}

/// How many bytes of empty lines may come before a request line.
const MAX_LEADING_EMPTY_LINES_BYTES: usize = 64;

/// Room on the request line for the method, the version and the spaces
/// around the request target.
const REQUEST_LINE_EXTRA: usize = 32;

impl HeadLimits {
    /// The most bytes of a head held before it is refused: the longest
    /// request line and header section, and the empty line ending it.
    pub const fn max_head_bytes(&self) -> usize {
        self.max_uri_bytes + REQUEST_LINE_EXTRA + self.max_header_bytes + 2
    }
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Examined {
    /// Not complete yet, and within the limits so far.
    Partial,
    /// A complete head of `len` bytes, its body framed as `framing`.
    Complete { len: usize, framing: Framing },
    /// A head that must not reach hyper.
    Refused(Refusal),
}

/// Examines `bytes`, which start with a request head (or the empty lines
/// a client may send before one). `scanned` bytes of them were examined
/// before without finding the head's end, so that a head arriving a byte
/// at a time is not searched again from its start each time.
pub(super) fn examine(bytes: &[u8], scanned: usize, limits: &HeadLimits) -> Examined {
    let start = bytes
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    // Empty lines before a head are tolerated, as hyper does, but only a
    // few: an endless stream of them would otherwise be held and rescanned
    // without bound.
    if start > MAX_LEADING_EMPTY_LINES_BYTES {
        return Examined::Refused(Refusal::Malformed(
            "too many empty lines before the request line".into(),
        ));
    }
    let head = &bytes[start..];
    let from = scanned
        .saturating_sub(start)
        .saturating_sub(2)
        .min(head.len());
    match find_end(head, from) {
        Some(end) => complete(&bytes[..start + end], start, limits),
        None => partial(head, limits),
    }
}

/// The length of the head in `head`, if its empty line has arrived: a line
/// feed followed by another, or by a carriage return and a line feed.
fn find_end(head: &[u8], mut from: usize) -> Option<usize> {
    while let Some(at) = head[from..].iter().position(|&b| b == b'\n') {
        let feed = from + at;
        match (head.get(feed + 1), head.get(feed + 2)) {
            (Some(b'\n'), _) => return Some(feed + 2),
            (Some(b'\r'), Some(b'\n')) => return Some(feed + 3),
            _ => from = feed + 1,
        }
    }
    None
}

/// The limits a head still arriving is already over, if any.
fn partial(head: &[u8], limits: &HeadLimits) -> Examined {
    let Some(line_end) = head.iter().position(|&b| b == b'\n') else {
        return if head.len() > limits.max_uri_bytes + REQUEST_LINE_EXTRA {
            Examined::Refused(Refusal::UriTooLong {
                limit: limits.max_uri_bytes,
            })
        } else {
            Examined::Partial
        };
    };
    let target = head[..line_end].split(|&b| b == b' ').nth(1).unwrap_or(&[]);
    if target.len() > limits.max_uri_bytes {
        return Examined::Refused(Refusal::UriTooLong {
            limit: limits.max_uri_bytes,
        });
    }
    let headers = &head[line_end + 1..];
    if headers.len() > limits.max_header_bytes {
        // The header being received when the limit was crossed.
        let last = headers
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(headers, |feed| &headers[feed + 1..]);
        let name = last.split(|&b| b == b':').next().unwrap_or(&[]);
        return Examined::Refused(Refusal::HeadersTooLarge {
            limit: limits.max_header_bytes,
            name: header_name(name),
        });
    }
    Examined::Partial
}

/// The verdict on a complete head, `start` bytes of empty lines included.
fn complete(bytes: &[u8], start: usize, limits: &HeadLimits) -> Examined {
    let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Examined::Partial,
        Err(httparse::Error::TooManyHeaders) => {
            return Examined::Refused(Refusal::TooManyHeaders {
                limit: limits.max_headers,
            });
        }
        Err(e) => return Examined::Refused(Refusal::Malformed(e.to_string())),
    };
    let target = request.path.unwrap_or_default();
    if target.len() > limits.max_uri_bytes {
        return Examined::Refused(Refusal::UriTooLong {
            limit: limits.max_uri_bytes,
        });
    }
    let line = bytes[start..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(0, |feed| feed + 1);
    if len - start - line > limits.max_header_bytes {
        let largest = request
            .headers
            .iter()
            .max_by_key(|h| h.name.len() + h.value.len());
        return Examined::Refused(Refusal::HeadersTooLarge {
            limit: limits.max_header_bytes,
            name: largest.and_then(|h| header_name(h.name.as_bytes())),
        });
    }
    if axum::http::Uri::try_from(target).is_err() {
        return Examined::Refused(Refusal::Malformed(
            "the request target is not a valid URI".into(),
        ));
    }
    match Framing::of(request.version == Some(1), request.headers) {
        Ok(framing) => Examined::Complete { len, framing },
        Err(refusal) => Examined::Refused(refusal),
    }
}

/// A header's name, to quote in a message: a token of at most 64
/// characters, or nothing.
fn header_name(name: &[u8]) -> Option<String> {
    let name = std::str::from_utf8(name).ok()?.trim();
    let token = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    token.then(|| name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HeadLimits = HeadLimits {
        max_uri_bytes: 64,
        max_header_bytes: 128,
        max_headers: 4,
    };

    fn refusal(bytes: &[u8]) -> Refusal {
        match examine(bytes, 0, &LIMITS) {
            Examined::Refused(refusal) => refusal,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn a_complete_head_is_measured_and_its_body_framed() {
        let head = b"\r\nPOST /v1/x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(
            examine(head, 0, &LIMITS),
            Examined::Complete {
                len: head.len() - 5,
                framing: Framing::Length(5)
            }
        );
        let bare = b"GET / HTTP/1.1\n\n";
        assert_eq!(
            examine(bare, 0, &LIMITS),
            Examined::Complete {
                len: bare.len(),
                framing: Framing::None
            }
        );
    }

    #[test]
    fn a_head_arriving_a_byte_at_a_time_is_found_where_it_ends() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut scanned = 0;
        for end in 1..head.len() {
            assert_eq!(examine(&head[..end], scanned, &LIMITS), Examined::Partial);
            scanned = end;
        }
        assert!(matches!(
            examine(head, scanned, &LIMITS),
            Examined::Complete { len, .. } if len == head.len()
        ));
    }

    #[test]
    fn a_long_request_target_is_refused_before_its_line_ends() {
        let line = format!("GET /{}", "x".repeat(200));
        assert_eq!(refusal(line.as_bytes()), Refusal::UriTooLong { limit: 64 });
        let line = format!("GET /{} HTTP/1.1\r\n", "x".repeat(70));
        assert_eq!(refusal(line.as_bytes()), Refusal::UriTooLong { limit: 64 });
    }

    #[test]
    fn large_headers_are_refused_naming_the_one_arriving() {
        let head = format!("GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}", "y".repeat(200));
        assert_eq!(
            refusal(head.as_bytes()),
            Refusal::HeadersTooLarge {
                limit: 128,
                name: Some("x-big".into())
            }
        );
    }

    #[test]
    fn too_many_headers_are_refused() {
        let head = b"GET / HTTP/1.1\r\na: 1\r\nb: 1\r\nc: 1\r\nd: 1\r\ne: 1\r\n\r\n";
        assert_eq!(refusal(head), Refusal::TooManyHeaders { limit: 4 });
    }

    #[test]
    fn what_hyper_would_refuse_is_refused_first() {
        for head in [
            &b"GET / HTTP/1.1\r\nBad Name: 1\r\n\r\n"[..],
            b"GET / HTTP/9.9\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert!(
                matches!(refusal(head), Refusal::Malformed(_)),
                "{}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn endless_empty_lines_are_refused_not_held() {
        assert_eq!(
            examine(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n", 0, &LIMITS),
            Examined::Complete {
                len: 22,
                framing: Framing::None
            }
        );
        assert_eq!(
            refusal(&b"\r\n".repeat(1000)),
            Refusal::Malformed("too many empty lines before the request line".into())
        );
    }
}
