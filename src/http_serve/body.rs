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

/// `Content-Length`: digits only, at most [`MAX_LENGTH`] (hyper's server
/// refuses a list, even of equal lengths).
fn content_length(value: &[u8]) -> Option<u64> {
    let digits = visible(value)?.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&n| n <= MAX_LENGTH)
}

/// Following a chunked body: size lines, data, and the trailer section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Chunked {
    /// The hexadecimal size of the next chunk, `digits` of it read so far.
    Size {
        size: u64,
        digits: u8,
    },
    /// The rest of a size line (extensions), up to its carriage return.
    SizeLine {
        size: u64,
    },
    /// The line feed ending a size line.
    SizeLf {
        size: u64,
    },
    /// `left` bytes of chunk data.
    Data {
        left: u64,
    },
    /// The carriage return, then the line feed, after a chunk's data.
    DataCr,
    DataLf,
    /// The trailer section, up to its empty line: `line_start` at the
    /// beginning of a line, `cr` after a line's carriage return.
    Trailer {
        line_start: bool,
        cr: bool,
    },
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
                        *self = Chunked::DataCr;
                    }
                    continue;
                }
                Chunked::Size { size, digits } => match (byte as char).to_digit(16) {
                    // A size that does not fit is refused, as hyper does;
                    // leading zeros are not.
                    Some(digit) => match size
                        .checked_mul(16)
                        .and_then(|s| s.checked_add(digit.into()))
                    {
                        Some(grown) => {
                            *size = grown;
                            *digits = digits.saturating_add(1);
                        }
                        None => return Step::Lost,
                    },
                    None if *digits == 0 => return Step::Lost,
                    None if byte == b'\r' => *self = Chunked::SizeLf { size: *size },
                    None if byte == b'\n' => return Step::Lost,
                    None => *self = Chunked::SizeLine { size: *size },
                },
                Chunked::SizeLine { size } => match byte {
                    b'\r' => *self = Chunked::SizeLf { size: *size },
                    b'\n' => return Step::Lost,
                    _ => {}
                },
                Chunked::SizeLf { size } => match byte {
                    b'\n' => *self = Chunked::after_size(*size),
                    _ => return Step::Lost,
                },
                Chunked::DataCr => match byte {
                    b'\r' => *self = Chunked::DataLf,
                    _ => return Step::Lost,
                },
                Chunked::DataLf => match byte {
                    b'\n' => *self = Chunked::new(),
                    _ => return Step::Lost,
                },
                Chunked::Trailer { line_start, cr } => match (byte, *cr) {
                    (b'\n', true) if *line_start => return Step::Done(at + 1),
                    (b'\n', true) => {
                        *line_start = true;
                        *cr = false;
                    }
                    // hyper ends lines of the trailer section with CRLF only.
                    (b'\n', false) | (_, true) => return Step::Lost,
                    (b'\r', false) => *cr = true,
                    (_, false) => *line_start = false,
                },
            }
            at += 1;
        }
        Step::More
    }

    fn after_size(size: u64) -> Chunked {
        if size == 0 {
            Chunked::Trailer {
                line_start: true,
                cr: false,
            }
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
            framing(&[("Content-Length", "7"), ("content-length", "7")]),
            Ok(Framing::Length(7))
        );
        // hyper's server answers a list with a bare 400: refused here.
        assert!(framing(&[("Content-Length", "7, 7")]).is_err());
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
    fn a_body_that_is_not_chunked_as_hyper_reads_it_is_not_followed() {
        assert_eq!(Chunked::new().advance(b"zz\r\n"), Step::Lost);
        // Too large for 64 bits; leading zeros are fine.
        assert_eq!(Chunked::new().advance(b"11111111111111111\r\n"), Step::Lost);
        assert_eq!(
            Chunked::new().advance(b"000000000000000000005\r\nhello\r\n0\r\n\r\n"),
            Step::Done(35)
        );
        // Bare line feeds, where hyper wants CRLF.
        assert_eq!(Chunked::new().advance(b"5\nhello\r\n"), Step::Lost);
        assert_eq!(Chunked::new().advance(b"5\r\nhello\n"), Step::Lost);
        assert_eq!(Chunked::new().advance(b"0\r\nX-T: 1\n\n"), Step::Lost);
    }
}
