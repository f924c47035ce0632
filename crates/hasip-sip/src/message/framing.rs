//! Framing SIP over a byte stream (TCP, TLS): messages delimited by `Content-Length`
//! (RFC 3261 §18.3), partial reads, several messages per read, and the RFC 5626 §4.4.1
//! keep-alives (a double CRLF "ping", answered by a single CRLF "pong").

use bytes::{Buf, Bytes, BytesMut};

use super::HeaderName;
use super::text::trim_lws;

/// One unit cut from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A whole message (head and body).
    Message(Bytes),
    /// A CRLF CRLF keep-alive: answer with [`PONG`].
    Ping,
    /// A lone CRLF: the answer to our own ping.
    Pong,
}

/// The bytes that answer a [`Frame::Ping`].
pub const PONG: &[u8] = b"\r\n";
/// The bytes of a keep-alive ping.
pub const PING: &[u8] = b"\r\n\r\n";

/// The stream cannot be framed any more; the connection must be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramingError {
    /// A message grew beyond the limit.
    TooLarge,
    /// The Content-Length of a message cannot be read, so its end is unknown.
    BadContentLength,
}

impl std::fmt::Display for FramingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::TooLarge => "message too large",
            Self::BadContentLength => "unreadable Content-Length",
        })
    }
}

impl std::error::Error for FramingError {}

/// Cuts frames from a stream. Push what was read, then take frames until `None`.
#[derive(Debug)]
pub struct StreamFramer {
    buf: BytesMut,
    max: usize,
}

impl StreamFramer {
    /// A framer that refuses messages larger than `max_message` bytes.
    pub fn new(max_message: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            max: max_message,
        }
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered but not yet framed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Takes the next complete frame, if any.
    pub fn next_frame(&mut self) -> Option<Result<Frame, FramingError>> {
        if self.buf.starts_with(PING) {
            self.buf.advance(PING.len());
            return Some(Ok(Frame::Ping));
        }
        if self.buf.starts_with(b"\r\n") && self.buf.get(2).is_none_or(|&b| b != b'\r') {
            self.buf.advance(2);
            return Some(Ok(Frame::Pong));
        }
        if self.buf.first() == Some(&b'\r') && self.buf.len() < 4 {
            return None;
        }
        let Some(head_end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            return (self.buf.len() > self.max).then_some(Err(FramingError::TooLarge));
        };
        let body_start = head_end + 4;
        let body_len = match content_length(&self.buf[..head_end]) {
            Ok(n) => n,
            Err(e) => return Some(Err(e)),
        };
        let total = body_start.saturating_add(body_len);
        if total > self.max {
            return Some(Err(FramingError::TooLarge));
        }
        if self.buf.len() < total {
            return None;
        }
        Some(Ok(Frame::Message(self.buf.split_to(total).freeze())))
    }
}

/// Reads Content-Length from a raw head. Absent means 0; RFC 3261 §18.3 requires it on
/// streams, but an empty body is the only safe reading of its absence.
fn content_length(head: &[u8]) -> Result<usize, FramingError> {
    let text = String::from_utf8_lossy(head);
    let mut found: Option<usize> = None;
    for line in text.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if HeaderName::parse(name.trim_end()) != HeaderName::ContentLength {
            continue;
        }
        let v = trim_lws(value);
        if v.is_empty() || v.len() > 9 || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FramingError::BadContentLength);
        }
        let n: usize = v.parse().map_err(|_| FramingError::BadContentLength)?;
        if found.is_some_and(|f| f != n) {
            return Err(FramingError::BadContentLength);
        }
        found = Some(n);
    }
    Ok(found.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] =
        b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nl: 4\r\n\r\nbody";

    #[test]
    fn several_messages_and_partial_reads() {
        let mut f = StreamFramer::new(65_535);
        let mut stream = Vec::new();
        stream.extend_from_slice(MSG);
        stream.extend_from_slice(PING);
        stream.extend_from_slice(MSG);
        let (a, b) = stream.split_at(30);
        f.push(a);
        assert_eq!(f.next_frame(), None);
        f.push(b);
        assert_eq!(
            f.next_frame(),
            Some(Ok(Frame::Message(Bytes::from_static(MSG))))
        );
        assert_eq!(f.next_frame(), Some(Ok(Frame::Ping)));
        assert_eq!(
            f.next_frame(),
            Some(Ok(Frame::Message(Bytes::from_static(MSG))))
        );
        assert_eq!(f.next_frame(), None);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn body_split_across_reads() {
        let mut f = StreamFramer::new(65_535);
        f.push(&MSG[..MSG.len() - 2]);
        assert_eq!(f.next_frame(), None);
        f.push(&MSG[MSG.len() - 2..]);
        assert!(matches!(f.next_frame(), Some(Ok(Frame::Message(_)))));
    }

    #[test]
    fn pong_and_limits() {
        let mut f = StreamFramer::new(100);
        f.push(b"\r\n");
        assert_eq!(f.next_frame(), Some(Ok(Frame::Pong)));
        f.push(&[b'a'; 101]);
        assert_eq!(f.next_frame(), Some(Err(FramingError::TooLarge)));

        let mut g = StreamFramer::new(65_535);
        g.push(b"INVITE sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n");
        assert_eq!(g.next_frame(), Some(Err(FramingError::BadContentLength)));
        let mut h = StreamFramer::new(65_535);
        h.push(b"INVITE sip:a@b SIP/2.0\r\nContent-Length: 999999\r\n\r\n");
        assert_eq!(h.next_frame(), Some(Err(FramingError::TooLarge)));
    }
}
