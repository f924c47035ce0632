//! SIP messages: a strict, zero-copy parser over [`Bytes`], validation that maps each fault
//! to the response RFC 3261/4475 ask for, a builder, and stream framing for TCP/TLS.
//!
//! Parsing is split in two on purpose. [`Message::parse`] only finds the structure (start
//! line, header lines, body) and is lenient, so that even a faulty request yields enough to
//! answer it; [`validate::validate_request`] then applies the grammar and the semantic rules
//! and says which response to send. Typed header values ([`values`], [`uri`]) are read on
//! demand and borrow from the message text.

pub mod build;
pub mod framing;
mod header;
mod method;
pub mod text;
pub mod uri;
pub mod validate;
pub mod values;

use std::fmt;

use bytes::Bytes;
use bytestring::ByteString;

pub use header::HeaderName;
pub use method::Method;
pub use uri::{Host, Params, SipUri, TelUri, Uri, UriError};
pub use values::{AuthParams, CSeq, Contact, DisplayName, NameAddr, ValueError, Via};

use text::{CommaSplit, Unterminated, is_token, is_wsp};

/// Limits that bound the work and memory spent on one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest message accepted, head and body together.
    pub max_message: usize,
    /// Most header lines kept; more is a fault (400).
    pub max_headers: usize,
}

impl Limits {
    /// 64 KiB messages (the largest UDP datagram) and 512 header lines.
    pub const DEFAULT: Self = Self {
        max_message: 65_535,
        max_headers: 512,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why bytes could not be read as a SIP message at all. Such input is dropped unanswered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing but line breaks (a keep-alive) or nothing at all.
    Empty,
    /// The first line is neither a request line nor a status line.
    NotSip,
    /// The message is larger than [`Limits::max_message`].
    TooLarge,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "empty message",
            Self::NotSip => "not a SIP start line",
            Self::TooLarge => "message too large",
        })
    }
}

impl std::error::Error for ParseError {}

/// A structural fault that still leaves a request answerable; validation turns it into 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    /// A header line without `:`.
    HeaderWithoutColon,
    /// A header name that is not a token.
    BadHeaderName,
    /// More header lines than [`Limits::max_headers`].
    TooManyHeaders,
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::HeaderWithoutColon => "header line without colon",
            Self::BadHeaderName => "bad header name",
            Self::TooManyHeaders => "too many header fields",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn new(start: usize, end: usize) -> Self {
        // Messages are bounded by `Limits::max_message`, far below u32::MAX.
        Self {
            start: start as u32,
            end: end as u32,
        }
    }
}

#[derive(Debug, Clone)]
struct RawHeader {
    name: HeaderName,
    name_at: Span,
    value_at: Span,
}

#[derive(Debug, Clone)]
enum StartLine {
    Request {
        method: Method,
        /// The text between the first and the last space of the line.
        uri: Span,
        version: Span,
        line: Span,
    },
    Response {
        version: Span,
        code: u16,
        reason: Span,
    },
}

/// A parsed SIP message. Cheap to clone (reference-counted bytes plus a header index).
#[derive(Clone)]
pub struct Message {
    head: ByteString,
    start: StartLine,
    headers: Vec<RawHeader>,
    body: Bytes,
    after_head: u32,
    defect: Option<Defect>,
    /// The fields every transaction lookup needs, read once (by validation or on first use).
    core: std::cell::OnceCell<Core>,
}

/// Transaction-key fields, as spans into the head.
#[derive(Debug, Clone, Default)]
pub(crate) struct Core {
    branch: Option<Span>,
    from_tag: Option<Span>,
    to_tag: Option<Span>,
    cseq: Option<(u32, Method)>,
}

/// One header line as found in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRef<'a> {
    /// The classified name.
    pub name: HeaderName,
    /// The name as written.
    pub name_str: &'a str,
    /// The value with surrounding white space removed and folding undone.
    pub value: &'a str,
}

/// Finds the end of the header section: the index of the blank line's first byte and the
/// index where the body starts (CRLF CRLF; a bare LF LF is tolerated), and whether any
/// header line is folded (a line break followed by white space).
fn find_head_end(b: &[u8]) -> (Option<(usize, usize)>, bool) {
    let mut folded = false;
    for nl in memchr::memchr_iter(b'\n', b) {
        match b.get(nl + 1) {
            Some(b'\n') => return (Some((nl + 1, nl + 2)), folded),
            Some(b'\r') if b.get(nl + 2) == Some(&b'\n') => {
                return (Some((nl + 1, nl + 3)), folded);
            }
            Some(b' ' | b'\t') => folded = true,
            _ => {}
        }
    }
    (None, folded)
}

/// Makes the head safe to index as text: invalid UTF-8 bytes become `?` and folded lines
/// (a line break followed by white space) become spaces. Both keep every offset in place,
/// so the spans found later are valid for the original and the repaired text alike. The
/// common case (valid, unfolded) costs one UTF-8 check and two searches, and no copy.
fn repair_head(head: Bytes, folded: bool) -> ByteString {
    if !folded && let Ok(s) = ByteString::try_from(head.clone()) {
        return s;
    }
    let mut v = head.to_vec();
    let mut i = 0;
    while i < v.len() {
        match std::str::from_utf8(&v[i..]) {
            Ok(_) => break,
            Err(e) => {
                let bad = i + e.valid_up_to();
                let n = e.error_len().unwrap_or(v.len() - bad);
                for c in &mut v[bad..bad + n] {
                    *c = b'?';
                }
                i = bad + n;
            }
        }
    }
    if folded {
        for i in 1..v.len() {
            if v[i - 1] == b'\n' && is_wsp(v[i]) {
                v[i - 1] = b' ';
                if i >= 2 && v[i - 2] == b'\r' {
                    v[i - 2] = b' ';
                }
            }
        }
    }
    // Every invalid sequence was replaced by ASCII, so this cannot fail; an empty head is
    // the safe answer if it ever did.
    String::from_utf8(v)
        .map(ByteString::from)
        .unwrap_or_default()
}

/// Trims spaces and tabs at the end of `b[..end]`.
#[inline]
fn trim_end_wsp(b: &[u8], start: usize, mut end: usize) -> usize {
    while end > start && matches!(b[end - 1], b' ' | b'\t' | b'\r') {
        end -= 1;
    }
    end
}

impl Message {
    /// Parses one message with the default [`Limits`].
    pub fn parse(data: Bytes) -> Result<Self, ParseError> {
        Self::parse_with(data, Limits::DEFAULT)
    }

    /// Parses one message: a whole UDP datagram, or one frame cut by [`framing`].
    ///
    /// Octets beyond `Content-Length` are ignored (RFC 3261 §18.3). A body shorter than
    /// `Content-Length` is kept as it is and reported by validation.
    pub fn parse_with(data: Bytes, limits: Limits) -> Result<Self, ParseError> {
        if data.len() > limits.max_message {
            return Err(ParseError::TooLarge);
        }
        let lead = data
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .ok_or(ParseError::Empty)?;
        let data = data.slice(lead..);
        let (end, folded) = find_head_end(&data);
        let (head_len, body_start) = end.unwrap_or((data.len(), data.len()));
        let head = repair_head(data.slice(..head_len), folded);
        let rest = data.slice(body_start..);
        let text: &str = &head;
        let b = text.as_bytes();

        let line_end = memchr::memchr(b'\n', b).unwrap_or(b.len());
        // Trailing spaces stay: validation answers them with 400 (RFC 4475 §3.1.2.10).
        let line = text.get(..line_end).unwrap_or("");
        let line = line.strip_suffix('\r').unwrap_or(line);
        let start = parse_start_line(line)?;

        let mut headers = Vec::with_capacity(24);
        let mut defect = None;
        let mut pos = (line_end + 1).min(b.len());
        while pos < b.len() {
            let end = memchr::memchr(b'\n', &b[pos..]).map_or(b.len(), |i| pos + i);
            let line_start = pos;
            pos = end + 1;
            let l_end = trim_end_wsp(b, line_start, end);
            if l_end == line_start || b[line_start..l_end].iter().all(|&c| is_wsp(c)) {
                continue;
            }
            if headers.len() >= limits.max_headers {
                defect.get_or_insert(Defect::TooManyHeaders);
                break;
            }
            let Some(colon) = memchr::memchr(b':', &b[line_start..l_end]).map(|c| line_start + c)
            else {
                defect.get_or_insert(Defect::HeaderWithoutColon);
                continue;
            };
            let name_end = trim_end_wsp(b, line_start, colon);
            let Some(name) = text.get(line_start..name_end).filter(|n| is_token(n)) else {
                defect.get_or_insert(Defect::BadHeaderName);
                continue;
            };
            let mut v_start = colon + 1;
            while v_start < l_end && is_wsp(b[v_start]) {
                v_start += 1;
            }
            headers.push(RawHeader {
                name: HeaderName::parse(name),
                name_at: Span::new(line_start, name_end),
                value_at: Span::new(v_start, l_end.max(v_start)),
            });
        }

        let mut msg = Self {
            head,
            start,
            headers,
            body: Bytes::new(),
            after_head: rest.len() as u32,
            defect,
            core: std::cell::OnceCell::new(),
        };
        msg.body = match msg.content_length() {
            Some(Ok(n)) if (n as usize) <= rest.len() => rest.slice(..n as usize),
            _ => rest,
        };
        Ok(msg)
    }

    #[inline]
    fn str_at(&self, s: Span) -> &str {
        self.head
            .get(s.start as usize..s.end as usize)
            .unwrap_or("")
    }

    /// True for a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The request method, or `None` for a response.
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI text as written (between the first and last space of the line).
    pub fn request_uri_str(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(self.str_at(*uri)),
            StartLine::Response { .. } => None,
        }
    }

    /// The parsed Request-URI.
    pub fn request_uri(&self) -> Option<Result<Uri<'_>, UriError>> {
        self.request_uri_str().map(Uri::parse)
    }

    /// The whole request line, for validation.
    pub(crate) fn request_line(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { line, .. } => Some(self.str_at(*line)),
            StartLine::Response { .. } => None,
        }
    }

    /// The protocol version of the start line (`SIP/2.0`).
    pub fn version(&self) -> &str {
        match &self.start {
            StartLine::Request { version, .. } | StartLine::Response { version, .. } => {
                self.str_at(*version)
            }
        }
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { code, .. } => Some(*code),
            StartLine::Request { .. } => None,
        }
    }

    /// The reason phrase of a response (may be empty).
    pub fn reason(&self) -> Option<&str> {
        match &self.start {
            StartLine::Response { reason, .. } => Some(self.str_at(*reason)),
            StartLine::Request { .. } => None,
        }
    }

    /// The structural fault found by the parser, if any.
    pub fn defect(&self) -> Option<Defect> {
        self.defect
    }

    /// Every header line in order.
    pub fn headers(&self) -> impl Iterator<Item = HeaderRef<'_>> {
        self.headers.iter().map(|h| HeaderRef {
            name: h.name,
            name_str: self.str_at(h.name_at),
            value: self.str_at(h.value_at),
        })
    }

    /// Number of header lines.
    pub fn header_count(&self) -> usize {
        self.headers.len()
    }

    /// The value of every line of a known header, in order.
    pub fn header_all(&self, name: HeaderName) -> impl Iterator<Item = &str> {
        self.headers
            .iter()
            .filter(move |h| h.name == name)
            .map(|h| self.str_at(h.value_at))
    }

    /// The first line of a known header.
    pub fn header(&self, name: HeaderName) -> Option<&str> {
        self.header_all(name).next()
    }

    /// Every line of a header looked up by its spelled name (case-insensitive; for
    /// headers without a [`HeaderName`] of their own).
    pub fn header_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers()
            .filter(move |h| h.name_str.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// The individual values of a list header: every line, split at top-level commas.
    pub fn values(&self, name: HeaderName) -> impl Iterator<Item = Result<&str, ValueError>> {
        let split = name.is_list();
        self.header_all(name).flat_map(move |v| {
            if split {
                ValueSplit::List(CommaSplit::new(v))
            } else {
                ValueSplit::Single(Some(v))
            }
        })
    }

    /// Every Via value, top first.
    pub fn vias(&self) -> impl Iterator<Item = Result<Via<'_>, ValueError>> {
        self.values(HeaderName::Via).map(|r| r.and_then(Via::parse))
    }

    /// The span of `part`, a slice of this message's head.
    fn span_of(&self, part: &str) -> Option<Span> {
        let base = self.head.as_ptr() as usize;
        let start = (part.as_ptr() as usize).checked_sub(base)?;
        let end = start + part.len();
        (end <= self.head.len()).then(|| Span::new(start, end))
    }

    /// Records the transaction-key fields (validation calls this with what it parsed).
    pub(crate) fn set_core(
        &self,
        via: Option<&Via<'_>>,
        from: Option<&NameAddr<'_>>,
        to: Option<&NameAddr<'_>>,
        cseq: Option<&CSeq>,
    ) {
        let _ = self.core.set(Core {
            branch: via.and_then(|v| v.branch()).and_then(|b| self.span_of(b)),
            from_tag: from.and_then(|f| f.tag()).and_then(|t| self.span_of(t)),
            to_tag: to.and_then(|t| t.tag()).and_then(|t| self.span_of(t)),
            cseq: cseq.map(|c| (c.seq, c.method.clone())),
        });
    }

    fn core(&self) -> &Core {
        self.core.get_or_init(|| {
            let via = self.top_via().and_then(Result::ok);
            let from = self.from().and_then(Result::ok);
            let to = self.to().and_then(Result::ok);
            let cseq = self.cseq().and_then(Result::ok);
            Core {
                branch: via
                    .as_ref()
                    .and_then(|v| v.branch())
                    .and_then(|b| self.span_of(b)),
                from_tag: from
                    .as_ref()
                    .and_then(|f| f.tag())
                    .and_then(|t| self.span_of(t)),
                to_tag: to
                    .as_ref()
                    .and_then(|t| t.tag())
                    .and_then(|t| self.span_of(t)),
                cseq: cseq.map(|c| (c.seq, c.method)),
            }
        })
    }

    /// The `branch` of the topmost Via (read once, then cached).
    pub fn branch(&self) -> Option<&str> {
        self.core().branch.map(|s| self.str_at(s))
    }

    /// The From tag (read once, then cached).
    pub fn from_tag(&self) -> Option<&str> {
        self.core().from_tag.map(|s| self.str_at(s))
    }

    /// The To tag (read once, then cached).
    pub fn to_tag(&self) -> Option<&str> {
        self.core().to_tag.map(|s| self.str_at(s))
    }

    /// CSeq number and method (read once, then cached).
    pub fn cseq_parts(&self) -> Option<(u32, &Method)> {
        self.core().cseq.as_ref().map(|(n, m)| (*n, m))
    }

    /// The topmost Via.
    pub fn top_via(&self) -> Option<Result<Via<'_>, ValueError>> {
        self.vias().next()
    }

    /// The From header.
    pub fn from(&self) -> Option<Result<NameAddr<'_>, ValueError>> {
        self.header(HeaderName::From).map(NameAddr::parse)
    }

    /// The To header.
    pub fn to(&self) -> Option<Result<NameAddr<'_>, ValueError>> {
        self.header(HeaderName::To).map(NameAddr::parse)
    }

    /// The Call-ID, as written.
    pub fn call_id(&self) -> Option<&str> {
        self.header(HeaderName::CallId)
    }

    /// The CSeq header.
    pub fn cseq(&self) -> Option<Result<CSeq, ValueError>> {
        self.header(HeaderName::CSeq).map(CSeq::parse)
    }

    /// Every Contact value.
    pub fn contacts(&self) -> impl Iterator<Item = Result<Contact<'_>, ValueError>> {
        self.values(HeaderName::Contact)
            .map(|r| r.and_then(Contact::parse))
    }

    /// Every Record-Route value, top first.
    pub fn record_routes(&self) -> impl Iterator<Item = Result<NameAddr<'_>, ValueError>> {
        self.values(HeaderName::RecordRoute)
            .map(|r| r.and_then(NameAddr::parse))
    }

    /// Every Route value, top first.
    pub fn routes(&self) -> impl Iterator<Item = Result<NameAddr<'_>, ValueError>> {
        self.values(HeaderName::Route)
            .map(|r| r.and_then(NameAddr::parse))
    }

    /// Max-Forwards (0–255).
    pub fn max_forwards(&self) -> Option<Result<u8, ValueError>> {
        self.header(HeaderName::MaxForwards)
            .map(|v| values::parse_number(v, 255).map(|n| n as u8))
    }

    /// Content-Length of the first such header.
    pub fn content_length(&self) -> Option<Result<u32, ValueError>> {
        self.header(HeaderName::ContentLength)
            .map(|v| values::parse_number(v, u64::from(u32::MAX)).map(|n| n as u32))
    }

    /// Expires (delta-seconds).
    pub fn expires(&self) -> Option<Result<u32, ValueError>> {
        self.header(HeaderName::Expires)
            .map(|v| values::parse_number(v, u64::from(u32::MAX)).map(|n| n as u32))
    }

    /// Min-Expires (delta-seconds).
    pub fn min_expires(&self) -> Option<Result<u32, ValueError>> {
        self.header(HeaderName::MinExpires)
            .map(|v| values::parse_number(v, u64::from(u32::MAX)).map(|n| n as u32))
    }

    /// Retry-After (seconds).
    pub fn retry_after(&self) -> Option<Result<u32, ValueError>> {
        self.header(HeaderName::RetryAfter)
            .map(values::parse_retry_after)
    }

    /// The media type of the body (`application/sdp`), without parameters, lower-cased
    /// comparison left to the caller.
    pub fn content_type(&self) -> Option<&str> {
        self.header(HeaderName::ContentType)
            .map(|v| text::trim_lws(v.split(';').next().unwrap_or(v)))
    }

    /// Option tags of a list header such as Require, Supported or Allow.
    pub fn tokens(&self, name: HeaderName) -> impl Iterator<Item = &str> {
        self.values(name)
            .filter_map(Result::ok)
            .filter(|t| !t.is_empty())
    }

    /// Every challenge of a `WWW-Authenticate` or `Proxy-Authenticate` header.
    pub fn challenges(
        &self,
        name: HeaderName,
    ) -> impl Iterator<Item = Result<AuthParams<'_>, ValueError>> {
        self.header_all(name).map(AuthParams::parse)
    }

    /// The body (exactly Content-Length octets when that header is valid).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Octets that followed the header section in the input.
    pub(crate) fn after_head(&self) -> u32 {
        self.after_head
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Message");
        match &self.start {
            StartLine::Request { method, .. } => {
                d.field("method", method)
                    .field("uri", &self.request_uri_str());
            }
            StartLine::Response { code, .. } => {
                d.field("status", code).field("reason", &self.reason());
            }
        }
        d.field("headers", &self.headers.len())
            .field("body", &self.body.len())
            .finish()
    }
}

/// The values of one header line: split at commas for list headers, whole otherwise.
enum ValueSplit<'a> {
    List(CommaSplit<'a>),
    Single(Option<&'a str>),
}

impl<'a> Iterator for ValueSplit<'a> {
    type Item = Result<&'a str, ValueError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::List(split) => split
                .next()
                .map(|r| r.map_err(|_: Unterminated| ValueError::UnterminatedQuote)),
            Self::Single(v) => v.take().map(Ok),
        }
    }
}

/// `SIP/` in any case, compared as bytes (the text may hold multi-byte characters anywhere).
fn starts_with_sip_slash(s: &str) -> bool {
    s.as_bytes()
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"))
}

fn parse_start_line(line: &str) -> Result<StartLine, ParseError> {
    let base = 0usize;
    if starts_with_sip_slash(line) {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let sp = line.find(' ').ok_or(ParseError::NotSip)?;
        let rest = &line[sp + 1..];
        let code_end = rest.find(' ').unwrap_or(rest.len());
        let code_text = &rest[..code_end];
        if code_text.len() != 3 || !code_text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::NotSip);
        }
        let code: u16 = code_text.parse().map_err(|_| ParseError::NotSip)?;
        if !(100..=699).contains(&code) {
            return Err(ParseError::NotSip);
        }
        let reason_start = (sp + 1 + code_end + 1).min(line.len());
        return Ok(StartLine::Response {
            version: Span::new(base, sp),
            code,
            reason: Span::new(reason_start, line.len()),
        });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version; the middle is kept as written
    // (extra spaces included) so that validation can answer 400 rather than drop.
    let first = line.find(' ').ok_or(ParseError::NotSip)?;
    let last = line.rfind(' ').ok_or(ParseError::NotSip)?;
    let method = &line[..first];
    if !is_token(method) || last <= first {
        return Err(ParseError::NotSip);
    }
    let version = line[last + 1..].trim_end_matches(['\t', ' ']);
    let trimmed_line = line.trim_end_matches(' ');
    let (uri_end, version_span) = if version.is_empty() {
        // "… SIP/2.0 " (trailing space): the version is the last word before it.
        let l = trimmed_line.rfind(' ').ok_or(ParseError::NotSip)?;
        (l, Span::new(l + 1, trimmed_line.len()))
    } else {
        (last, Span::new(last + 1, line.len()))
    };
    let v = &line[version_span.start as usize..version_span.end as usize];
    if !starts_with_sip_slash(v) || uri_end <= first {
        return Err(ParseError::NotSip);
    }
    Ok(StartLine::Request {
        method: Method::from_token(method),
        uri: Span::new(first + 1, uri_end),
        version: version_span,
        line: Span::new(0, line.len()),
    })
}

#[cfg(test)]
mod tests;
