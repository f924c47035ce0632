//! Building messages: requests and responses with a deterministic header order and the
//! canonical header spellings, always closed by `Content-Length`.

use std::fmt::{self, Write as _};

use bytes::{BufMut, Bytes, BytesMut};

use super::{HeaderName, Message, Method};

/// Writes one message. Headers appear in the order they are added.
#[derive(Debug)]
pub struct Builder {
    buf: BytesMut,
}

/// Strips line breaks so that no value can inject a header line.
struct OneLine<T>(T);

impl<T: fmt::Display> fmt::Display for OneLine<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Filter<'a, 'b>(&'a mut fmt::Formatter<'b>);
        impl fmt::Write for Filter<'_, '_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                if s.contains(['\r', '\n']) {
                    for part in s.split(['\r', '\n']) {
                        self.0.write_str(part)?;
                    }
                    Ok(())
                } else {
                    self.0.write_str(s)
                }
            }
        }
        write!(Filter(f), "{}", self.0)
    }
}

impl Builder {
    /// Starts a request line.
    pub fn request(method: &Method, uri: impl fmt::Display) -> Self {
        let mut b = Self {
            buf: BytesMut::with_capacity(512),
        };
        b.line(format_args!("{} {} SIP/2.0", method, OneLine(uri)));
        b
    }

    /// Starts a status line.
    pub fn response(code: u16, reason: &str) -> Self {
        let mut b = Self {
            buf: BytesMut::with_capacity(512),
        };
        b.line(format_args!("SIP/2.0 {code} {}", OneLine(reason)));
        b
    }

    fn line(&mut self, args: fmt::Arguments<'_>) {
        // Writing into BytesMut cannot fail.
        let _ = self.buf.write_fmt(args);
        self.buf.put_slice(b"\r\n");
    }

    /// Adds a header with its canonical name.
    pub fn header(&mut self, name: HeaderName, value: impl fmt::Display) -> &mut Self {
        self.line(format_args!("{}: {}", name.as_str(), OneLine(value)));
        self
    }

    /// Adds a header spelled by the caller (for names without a [`HeaderName`]).
    pub fn header_named(&mut self, name: &str, value: impl fmt::Display) -> &mut Self {
        self.line(format_args!("{}: {}", OneLine(name), OneLine(value)));
        self
    }

    /// Ends the message without a body (`Content-Length: 0`).
    pub fn finish(mut self) -> Bytes {
        self.buf.put_slice(b"Content-Length: 0\r\n\r\n");
        self.buf.freeze()
    }

    /// Ends the message with a body of the given media type.
    pub fn finish_with_body(mut self, content_type: &str, body: &[u8]) -> Bytes {
        self.header(HeaderName::ContentType, content_type);
        self.line(format_args!("Content-Length: {}", body.len()));
        self.buf.put_slice(b"\r\n");
        self.buf.put_slice(body);
        self.buf.freeze()
    }
}

/// Starts a response to `req` (RFC 3261 §8.2.6.2): Via lines, From, Call-ID and CSeq are
/// copied as received; To is copied and gets `to_tag` when it has no tag yet and the
/// response is not a 100.
pub fn response_to(req: &Message, code: u16, reason: &str, to_tag: Option<&str>) -> Builder {
    let mut b = Builder::response(code, reason);
    for via in req.header_all(HeaderName::Via) {
        b.header(HeaderName::Via, via);
    }
    if let Some(from) = req.header(HeaderName::From) {
        b.header(HeaderName::From, from);
    }
    if let Some(to) = req.header(HeaderName::To) {
        let has_tag = req
            .to()
            .and_then(Result::ok)
            .is_some_and(|t| t.tag().is_some());
        match to_tag {
            Some(tag) if !has_tag && code > 100 => {
                b.header(HeaderName::To, format_args!("{to};tag={tag}"));
            }
            _ => {
                b.header(HeaderName::To, to);
            }
        }
    }
    if let Some(call_id) = req.call_id() {
        b.header(HeaderName::CallId, call_id);
    }
    if let Some(cseq) = req.header(HeaderName::CSeq) {
        b.header(HeaderName::CSeq, cseq);
    }
    b
}
