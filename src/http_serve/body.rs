//! Where a request's body ends, so that the next request head on the
//! connection is checked too. The rules are hyper's: `Transfer-Encoding`
//! ending in `chunked` wins over `Content-Length`, several lengths must
//! agree, no body without either.

use super::refusal::Refusal;

/// How a request's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    None,
    Length(u64),
    Chunked,
}

impl Framing {
    /// The framing that `headers` give a request; refused where hyper would
    /// refuse the request.
    pub fn of(http11: bool, headers: &[httparse::Header<'_>]) -> Result<Framing, Refusal> {
        let mut chunked = None;
        let mut length = None;
        for header in headers {
            if header.name.eq_ignore_ascii_case("transfer-encoding") {
                if !http11 {
                    return Err(malformed("Transfer-Encoding needs HTTP/1.1"));
                }
                let last = visible(header.value).and_then(|v| v.rsplit(',').next());
                chunked = Some(last.is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked")));
            } else if header.name.eq_ignore_ascii_case("content-length") && chunked.is_none() {
                let value = content_length(header.value)
                    .ok_or_else(|| malformed("Content-Length is not a number of bytes"))?;
                if length.is_some_and(|seen| seen != value) {
                    return Err(malformed("Content-Length is given twice, differently"));
                }
                length = Some(value);
            }
        }
        match (chunked, length) {
            (Some(true), _) => Ok(Framing::Chunked),
            (Some(false), _) => Err(malformed("Transfer-Encoding must end with chunked")),
            (None, Some(length)) => Ok(Framing::Length(length)),
            (None, None) => Ok(Framing::None),
        }
    }
}

fn malformed(reason: &str) -> Refusal {
    Refusal::Malformed(reason.to_owned())
}

/// A header value as text, if it is visible ASCII (as hyper reads it).
fn visible(value: &[u8]) -> Option<&str> {
    value
        .iter()
        .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b))
        .then(|| std::str::from_utf8(value).ok())
        .flatten()
}

/// hyper's largest body length; it refuses longer with a bare 431.
const MAX_LENGTH: u64 = u64::MAX - 2;

/// `Content-Length`: digits, or a comma-separated list of equal ones, at
/// most [`MAX_LENGTH`].
fn content_length(value: &[u8]) -> Option<u64> {
    let mut length = None;
    for part in visible(value)?.split(',') {
        let part = part.trim();
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u64 = part.parse().ok().filter(|&n| n <= MAX_LENGTH)?;
        if length.is_some_and(|seen| seen != n) {
            return None;
        }
        length = Some(n);
    }
    length
}

/// Following a chunked body: size lines, data, and the trailer section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Chunked {
    /// The hexadecimal size of the next chunk, `digits` of it read so far.
    Size { size: u64, digits: u8 },
    /// The rest of a size line (extensions), up to its line feed.
    SizeLine { size: u64 },
    /// `left` bytes of chunk data.
    Data { left: u64 },
    /// The line end after a chunk's data.
    DataEnd,
    /// The trailer section, up to its empty line; `line_start` when at the
    /// beginning of a line.
    Trailer { line_start: bool },
}

/// Where following a chunked body got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// All bytes given were the body's; it goes on.
    More,
    /// The body ended after this many of the bytes given.
    Done(usize),
    /// Not a chunked body that hyper would take: stop following.
    Lost,
}

impl Chunked {
    pub fn new() -> Chunked {
        Chunked::Size { size: 0, digits: 0 }
    }

    /// Follows `bytes` of the body.
    pub fn advance(&mut self, bytes: &[u8]) -> Step {
        let mut at = 0;
        while at < bytes.len() {
            let byte = bytes[at];
            match self {
                Chunked::Data { left } => {
                    let take = (*left).min((bytes.len() - at) as u64);
                    *left -= take;
                    at += take as usize;
                    if *left == 0 {
                        *self = Chunked::DataEnd;
                    }
                    continue;
                }
                Chunked::Size { size, digits } => match (byte as char).to_digit(16) {
                    // More than 16 digits do not fit; hyper refuses them.
                    Some(_) if *digits == 16 => return Step::Lost,
                    Some(digit) => {
                        *size = *size * 16 + u64::from(digit);
                        *digits += 1;
                    }
                    None if *digits == 0 => return Step::Lost,
                    None if byte == b'\n' => *self = Chunked::after_size(*size),
                    None => *self = Chunked::SizeLine { size: *size },
                },
                Chunked::SizeLine { size } => {
                    if byte == b'\n' {
                        *self = Chunked::after_size(*size);
                    }
                }
                Chunked::DataEnd => {
                    if byte == b'\n' {
                        *self = Chunked::new();
                    }
                }
                Chunked::Trailer { line_start } => match byte {
                    b'\n' if *line_start => return Step::Done(at + 1),
                    b'\n' => *line_start = true,
                    b'\r' => {}
                    _ => *line_start = false,
                },
            }
            at += 1;
        }
        Step::More
    }

    fn after_size(size: u64) -> Chunked {
        if size == 0 {
            Chunked::Trailer { line_start: true }
        } else {
            Chunked::Data { left: size }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framing(headers: &[(&str, &str)]) -> Result<Framing, Refusal> {
        let headers: Vec<httparse::Header<'_>> = headers
            .iter()
            .map(|(name, value)| httparse::Header {
                name,
                value: value.as_bytes(),
            })
            .collect();
        Framing::of(true, &headers)
    }

    #[test]
    fn framing_follows_hypers_rules() {
        assert_eq!(framing(&[]), Ok(Framing::None));
        assert_eq!(
            framing(&[("content-length", "12")]),
            Ok(Framing::Length(12))
        );
        assert_eq!(
            framing(&[("Content-Length", "7, 7"), ("content-length", "7")]),
            Ok(Framing::Length(7))
        );
        assert_eq!(
            framing(&[
                ("content-length", "7"),
                ("transfer-encoding", "gzip, chunked")
            ]),
            Ok(Framing::Chunked)
        );
        assert!(framing(&[("content-length", "+7")]).is_err());
        assert!(framing(&[("content-length", "18446744073709551614")]).is_err());
        assert!(framing(&[("transfer-encoding", "chunked, gzip")]).is_err());
    }

    #[test]
    fn a_chunked_body_ends_after_its_trailers() {
        let body = b"5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\n\r\nGET";
        let mut chunked = Chunked::new();
        assert_eq!(chunked.advance(body), Step::Done(body.len() - 3));
        // The same, a byte at a time.
        let mut chunked = Chunked::new();
        for (at, byte) in body.iter().enumerate() {
            match chunked.advance(std::slice::from_ref(byte)) {
                Step::More => {}
                Step::Done(1) => {
                    assert_eq!(at, body.len() - 4);
                    return;
                }
                other => panic!("{other:?} at {at}"),
            }
        }
        panic!("the body never ended");
    }

    #[test]
    fn a_body_that_is_not_chunked_is_not_followed() {
        assert_eq!(Chunked::new().advance(b"zz\r\n"), Step::Lost);
        assert_eq!(Chunked::new().advance(b"11111111111111111\r\n"), Step::Lost);
    }
}
