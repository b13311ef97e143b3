//! HTTP/1.1 messages as the gateway reads and writes them: request and answer heads
//! parsed strictly (`httparse`) into `http` types, the framing of a body, a chunked
//! body's decoder, and heads written back out. Nothing here does I/O.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use bytes::{Buf, Bytes, BytesMut};

pub use burrow_service::http::header_text as text;

/// Headers a head may have, as hyper allows.
pub const MAX_HEADERS: usize = 100;
/// A chunk's size line, or a trailer line, may be this long.
const MAX_LINE: usize = 4096;
/// A chunked body's trailers may total this many bytes.
const MAX_TRAILERS: usize = 16 * 1024;

/// A viewer's request head. Its headers share the bytes it was read from.
#[derive(Debug)]
pub struct Request {
    pub method: Method,
    pub uri: Uri,
    /// HTTP/1.1 (or, when false, HTTP/1.0).
    pub http11: bool,
    pub headers: Head,
}

/// What a peer's bytes hold so far.
#[derive(Debug)]
pub enum Parsed<T> {
    Complete(T),
    Partial,
    /// Not HTTP/1.x as this gateway reads it; the reason, for the 400.
    Invalid(&'static str),
}

/// Where each header's name and value lie in the bytes parsed.
type Spans = Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>;

fn span(base: &[u8], part: &[u8]) -> std::ops::Range<usize> {
    let start = part.as_ptr() as usize - base.as_ptr() as usize;
    start..start + part.len()
}

fn spans(base: &[u8], headers: &[httparse::Header<'_>]) -> Spans {
    headers
        .iter()
        .map(|h| (span(base, h.name.as_bytes()), span(base, h.value)))
        .collect()
}

/// A message's headers as they came, in order: read once and written out again, so
/// they are never made into a map on the way through. httparse has checked each name
/// is a token and each value holds no control byte but tab, as `http`'s types would.
#[derive(Debug, Clone, Default)]
pub struct Head {
    bytes: Bytes,
    spans: Spans,
}

impl Head {
    /// Each header's name and value, in order, as the peer sent them.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.spans
            .iter()
            .map(|(name, value)| (&self.bytes[name.clone()], &self.bytes[value.clone()]))
    }

    /// The headers' size as `http` counts it: each name and value, and 4 bytes more.
    pub fn size(&self) -> usize {
        self.spans
            .iter()
            .map(|(name, value)| name.len() + value.len() + 4)
            .sum()
    }

    /// The headers as a map, their values sharing these bytes; `None` when a name or
    /// value is not valid there.
    pub fn to_map(&self) -> Option<HeaderMap> {
        let mut headers = HeaderMap::with_capacity(self.spans.len());
        for (name, value) in &self.spans {
            let name = HeaderName::from_bytes(&self.bytes[name.clone()]).ok()?;
            let value = HeaderValue::from_maybe_shared(self.bytes.slice(value.clone())).ok()?;
            headers.append(name, value);
        }
        Some(headers)
    }
}

/// Reads a request head from the start of `buf`, and takes it off `buf` when whole.
pub fn request(buf: &mut BytesMut) -> Parsed<Request> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut slots);
    let len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => return Parsed::Invalid("too many headers"),
        Err(_) => return Parsed::Invalid("the request is not valid HTTP/1.1"),
    };
    let (Some(method), Some(path), Some(version)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Parsed::Invalid("the request is not valid HTTP/1.1");
    };
    // Origin form only: an absolute URI would name a host other than `Host` does.
    if !path.starts_with('/') {
        return Parsed::Invalid("the request target must be a path");
    }
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return Parsed::Invalid("the request line is not valid");
    };
    let (path, spans) = (span(buf, path.as_bytes()), spans(buf, parsed.headers));
    let bytes = buf.split_to(len).freeze();
    let Ok(uri) = Uri::from_maybe_shared(bytes.slice(path)) else {
        return Parsed::Invalid("the request line is not valid");
    };
    let headers = Head { bytes, spans };
    // Two would let the checks and the destination read different ones.
    if headers.values("host").nth(1).is_some() {
        return Parsed::Invalid("the request has more than one Host header");
    }
    Parsed::Complete(Request {
        method,
        uri,
        http11: version == 1,
        headers,
    })
}

/// An answer's head from upstream, kept as it came ([`Head`]).
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub http11: bool,
    pub headers: Head,
}

/// Reads an answer's head from the start of `buf`, and takes it off `buf` when whole.
pub fn response(buf: &mut BytesMut) -> Parsed<Response> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut slots);
    let len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Invalid("the app's answer is not valid HTTP/1.1"),
    };
    let (Some(code), Some(version)) = (parsed.code, parsed.version) else {
        return Parsed::Invalid("the app's answer is not valid HTTP/1.1");
    };
    let Ok(status) = StatusCode::from_u16(code) else {
        return Parsed::Invalid("the app's answer has no valid status");
    };
    let spans = spans(buf, parsed.headers);
    let bytes = buf.split_to(len).freeze();
    Parsed::Complete(Response {
        status,
        http11: version == 1,
        headers: Head { bytes, spans },
    })
}

/// Headers as the checks and the framing rules read them: a map (a request to Burrow's
/// own routes), or a head as it came.
pub trait Fields {
    /// Every value of the header `name` (in lower case), in order.
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a;

    /// The first value of the header `name`.
    fn first<'a>(&'a self, name: &'a str) -> Option<&'a [u8]> {
        self.values(name).next()
    }

    /// The first value of the header `name`, when it is text ([`text`]).
    fn first_text<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.first(name).and_then(text)
    }
}

impl Fields for HeaderMap {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.get_all(name).into_iter().map(HeaderValue::as_bytes)
    }
}

impl Fields for Head {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        let wanted = name.as_bytes();
        self.iter()
            .filter(move |(name, _)| {
                name.len() == wanted.len() && name.eq_ignore_ascii_case(wanted)
            })
            .map(|(_, value)| value)
    }
}

/// How a message's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    /// This many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the sender closes: answers only.
    UntilClose,
}

/// Whether a comma-separated header has `token`, in any case.
pub fn has_token(headers: &impl Fields, name: &str, token: &str) -> bool {
    headers
        .values(name)
        .flat_map(|v| v.split(|b| *b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// `Content-Length`: every value (and list item) must be the same number, or the body's
/// end is ambiguous. `None` when absent.
pub fn content_length(headers: &impl Fields) -> Result<Option<u64>, &'static str> {
    let mut length = None;
    for value in headers.values(header::CONTENT_LENGTH.as_str()) {
        for item in value.split(|b| *b == b',') {
            let item = item.trim_ascii();
            if item.is_empty() || item.len() > 19 || !item.iter().all(u8::is_ascii_digit) {
                return Err("Content-Length is not a number");
            }
            let n: u64 = std::str::from_utf8(item)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or("Content-Length is not a number")?;
            if length.is_some_and(|l| l != n) {
                return Err("Content-Length has different values");
            }
            length = Some(n);
        }
    }
    Ok(length)
}

/// A request's body: `Content-Length`, `Transfer-Encoding: chunked`, or none. Both at
/// once, or any other coding, is refused: a request whose end two readers could see in
/// different places is how requests are smuggled.
pub fn request_framing(headers: &impl Fields) -> Result<Framing, &'static str> {
    let length = content_length(headers)?;
    let mut codings = headers.values(header::TRANSFER_ENCODING.as_str());
    if let Some(first) = codings.next() {
        if length.is_some() {
            return Err("the request has both Content-Length and Transfer-Encoding");
        }
        if codings.next().is_none() && first.trim_ascii().eq_ignore_ascii_case(b"chunked") {
            return Ok(Framing::Chunked);
        }
        return Err("the request's Transfer-Encoding is not chunked alone");
    }
    Ok(match length {
        None | Some(0) => Framing::Empty,
        Some(n) => Framing::Length(n),
    })
}

/// An answer's body, as RFC 9112 §6.3 reads it, for a request made with `method`.
pub fn response_framing(
    method: &Method,
    status: StatusCode,
    headers: &impl Fields,
) -> Result<Framing, &'static str> {
    if *method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok(Framing::Empty);
    }
    let mut codings = headers
        .values(header::TRANSFER_ENCODING.as_str())
        .peekable();
    if codings.peek().is_some() {
        let last = codings
            // As `HeaderValue::to_str` reads, or not read.
            .filter(|v| text(v).is_some())
            .flat_map(|v| v.split(|b| *b == b','))
            .map(<[u8]>::trim_ascii)
            .filter(|t| !t.is_empty())
            .last();
        return Ok(match last {
            Some(t) if t.eq_ignore_ascii_case(b"chunked") => Framing::Chunked,
            _ => Framing::UntilClose,
        });
    }
    Ok(match content_length(headers)? {
        Some(0) => Framing::Empty,
        Some(n) => Framing::Length(n),
        None => Framing::UntilClose,
    })
}

/// Writes a request line: `method target HTTP/1.1`; its headers follow ([`write_field`],
/// [`end_head`]).
pub fn write_request_line(out: &mut Vec<u8>, method: &Method, uri: &Uri) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
}

/// Writes an answer's status line; its headers follow.
pub fn write_status_line(out: &mut Vec<u8>, status: StatusCode) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Writes one header line, its name as the peer spelled it (names are read in any case),
/// as nginx passes them on.
pub fn write_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Writes a `Content-Length` line.
pub fn write_length(out: &mut Vec<u8>, n: u64) {
    write_field(
        out,
        b"content-length",
        itoa::Buffer::new().format(n).as_bytes(),
    );
}

/// Ends a head.
pub fn end_head(out: &mut Vec<u8>) {
    out.extend_from_slice(b"\r\n");
}

/// Writes an answer's head: the status line, then the headers.
pub fn write_response(out: &mut Vec<u8>, status: StatusCode, headers: &HeaderMap) {
    write_status_line(out, status);
    for (name, value) in headers {
        write_field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    end_head(out);
}

/// Decodes a chunked body as its bytes arrive and writes it out again, chunked or
/// plain. What goes out is always well formed, whatever extensions or trailers came in:
/// extensions and trailers are dropped.
#[derive(Debug)]
pub struct Chunked {
    state: State,
    /// Write chunked (to an HTTP/1.1 peer); else only the data.
    rechunk: bool,
    trailers: usize,
    /// Data bytes decoded so far.
    pub decoded: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    Data(u64),
    DataEnd,
    Trailer,
    Done,
}

impl Chunked {
    pub fn new(rechunk: bool) -> Self {
        Self {
            state: State::Size,
            rechunk,
            trailers: 0,
            decoded: 0,
        }
    }

    /// Takes what it can from `input` and writes it to `out`; true once the body has
    /// ended (then `input` holds only what follows it).
    pub fn step(&mut self, input: &mut BytesMut, out: &mut Vec<u8>) -> Result<bool, &'static str> {
        loop {
            match self.state {
                State::Size => {
                    let Some(end) = line_end(input) else {
                        return if input.len() > MAX_LINE {
                            Err("a chunk's size line is too long")
                        } else {
                            Ok(false)
                        };
                    };
                    let line = &input[..end];
                    let digits = line
                        .split(|b| *b == b';')
                        .next()
                        .unwrap_or_default()
                        .trim_ascii();
                    if digits.is_empty()
                        || digits.len() > 15
                        || !digits.iter().all(u8::is_ascii_hexdigit)
                    {
                        return Err("a chunk's size is not valid");
                    }
                    let size = u64::from_str_radix(std::str::from_utf8(digits).unwrap_or("x"), 16)
                        .map_err(|_| "a chunk's size is not valid")?;
                    input.advance(end + 2);
                    if size == 0 {
                        self.state = State::Trailer;
                    } else {
                        if self.rechunk {
                            out.extend_from_slice(format!("{size:x}\r\n").as_bytes());
                        }
                        self.state = State::Data(size);
                    }
                }
                State::Data(left) => {
                    if input.is_empty() {
                        return Ok(false);
                    }
                    let take = left.min(input.len() as u64) as usize;
                    out.extend_from_slice(&input[..take]);
                    input.advance(take);
                    self.decoded += take as u64;
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        if self.rechunk {
                            out.extend_from_slice(b"\r\n");
                        }
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                }
                State::DataEnd => {
                    if input.len() < 2 {
                        return Ok(false);
                    }
                    if &input[..2] != b"\r\n" {
                        return Err("a chunk does not end where its size says");
                    }
                    input.advance(2);
                    self.state = State::Size;
                }
                State::Trailer => {
                    let Some(end) = line_end(input) else {
                        return if input.len() > MAX_LINE {
                            Err("a trailer line is too long")
                        } else {
                            Ok(false)
                        };
                    };
                    input.advance(end + 2);
                    if end == 0 {
                        if self.rechunk {
                            out.extend_from_slice(b"0\r\n\r\n");
                        }
                        self.state = State::Done;
                        return Ok(true);
                    }
                    self.trailers += end + 2;
                    if self.trailers > MAX_TRAILERS {
                        return Err("the trailers are too large");
                    }
                }
                State::Done => return Ok(true),
            }
        }
    }
}

/// Where the first CRLF starts.
fn line_end(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn a_request_body_whose_end_is_ambiguous_is_refused() {
        let framing = |pairs: &[(&str, &str)]| request_framing(&headers(pairs));
        assert_eq!(framing(&[]), Ok(Framing::Empty));
        assert_eq!(
            framing(&[("content-length", "12")]),
            Ok(Framing::Length(12))
        );
        assert_eq!(
            framing(&[("content-length", "12"), ("content-length", "12")]),
            Ok(Framing::Length(12))
        );
        assert_eq!(
            framing(&[("transfer-encoding", "Chunked")]),
            Ok(Framing::Chunked)
        );
        for bad in [
            &[("content-length", "12"), ("transfer-encoding", "chunked")][..],
            &[("content-length", "12"), ("content-length", "13")],
            &[("content-length", "+12")],
            &[("content-length", "0x1")],
            &[("content-length", "")],
            &[("content-length", "99999999999999999999")],
            &[("transfer-encoding", "gzip, chunked")],
            &[
                ("transfer-encoding", "chunked"),
                ("transfer-encoding", "chunked"),
            ],
            &[("transfer-encoding", "identity")],
        ] {
            assert!(framing(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_answers_body_ends_as_rfc_9112_says() {
        let get = Method::GET;
        let ok = StatusCode::OK;
        let framing = |m: &Method, s: StatusCode, pairs: &[(&str, &str)]| {
            response_framing(m, s, &headers(pairs))
        };
        assert_eq!(
            framing(&Method::HEAD, ok, &[("content-length", "9")]),
            Ok(Framing::Empty)
        );
        assert_eq!(
            framing(&get, StatusCode::NOT_MODIFIED, &[("content-length", "9")]),
            Ok(Framing::Empty)
        );
        assert_eq!(
            framing(&get, ok, &[("content-length", "9")]),
            Ok(Framing::Length(9))
        );
        assert_eq!(
            framing(
                &get,
                ok,
                &[
                    ("transfer-encoding", "gzip, chunked"),
                    ("content-length", "9")
                ]
            ),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            framing(&get, ok, &[("transfer-encoding", "gzip")]),
            Ok(Framing::UntilClose)
        );
        assert_eq!(framing(&get, ok, &[]), Ok(Framing::UntilClose));
        assert!(framing(&get, ok, &[("content-length", "9, 8")]).is_err());
    }

    #[test]
    fn a_chunked_body_is_decoded_across_reads_and_written_again_well_formed() {
        let body =
            b"4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        for split in 0..body.len() {
            let mut chunked = Chunked::new(true);
            let mut input = BytesMut::from(&body[..split]);
            let mut out = Vec::new();
            let mut done = chunked.step(&mut input, &mut out).unwrap();
            input.extend_from_slice(&body[split..]);
            if !done {
                done = chunked.step(&mut input, &mut out).unwrap();
            }
            assert!(done, "split at {split}");
            assert_eq!(&input[..], b"NEXT", "split at {split}");
            assert_eq!(
                String::from_utf8(out).unwrap(),
                "4\r\nWiki\r\n5\r\npedia\r\ne\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n"
            );
            assert_eq!(chunked.decoded, 23);
        }
        let mut plain = Chunked::new(false);
        let mut out = Vec::new();
        assert!(plain
            .step(&mut BytesMut::from(&body[..]), &mut out)
            .unwrap());
        assert_eq!(out, b"Wikipedia in\r\n\r\nchunks.");
    }

    #[test]
    fn a_malformed_chunked_body_is_an_error() {
        for bad in [
            &b"zz\r\n"[..],
            b"4\r\nWikiX\r\n",
            b"-1\r\n",
            b"ffffffffffffffffff\r\n",
            b"\r\n",
        ] {
            let mut out = Vec::new();
            assert!(
                Chunked::new(true)
                    .step(&mut BytesMut::from(bad), &mut out)
                    .is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let mut endless = BytesMut::from(&[b'1'; MAX_LINE + 1][..]);
        assert!(Chunked::new(true)
            .step(&mut endless, &mut Vec::new())
            .is_err());
    }

    #[test]
    fn heads_are_read_strictly() {
        let mut buf =
            BytesMut::from(&b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nA: 1\r\nA: 2\r\n\r\nrest"[..]);
        let Parsed::Complete(r) = request(&mut buf) else {
            panic!("a plain request");
        };
        assert_eq!(
            (r.method, r.uri.to_string(), r.http11),
            (Method::GET, "/a?b=1".into(), true)
        );
        assert_eq!(r.headers.values("a").collect::<Vec<_>>(), [b"1", b"2"]);
        assert_eq!(r.headers.first_text("host"), Some("x"));
        assert_eq!(r.headers.size(), (4 + 1 + 4) + 2 * (1 + 1 + 4));
        assert_eq!(&buf[..], b"rest", "the head is taken, the rest left");
        let mut partial = BytesMut::from(&b"GET / HTTP/1.1\r\nHost: x\r\n"[..]);
        assert!(matches!(request(&mut partial), Parsed::Partial));
        assert_eq!(partial.len(), 25, "nothing taken");
        for bad in [
            &b"GET http://other/ HTTP/1.1\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: x\r\n folded\r\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHOST: a\r\nhost: b\r\n\r\n",
        ] {
            assert!(
                matches!(request(&mut BytesMut::from(bad)), Parsed::Invalid(_)),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let mut buf = BytesMut::from(&b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi"[..]);
        let Parsed::Complete(a) = response(&mut buf) else {
            panic!("an answer");
        };
        assert_eq!((a.status, a.http11), (StatusCode::OK, false));
        assert_eq!(&buf[..], b"hi");
    }
}
