//! Validation: the grammar and semantic checks a UAS applies to a parsed request before it
//! acts on it, each mapped to the response RFC 3261 (and the RFC 4475 torture tests) ask for.
//!
//! The order of the checks matters and follows what a peer can do about each fault: a
//! broken message (400) is reported before an unsupported version (505), a CSeq/method
//! mismatch (400) before an unknown method (501), and the method before URI schemes (416),
//! extensions (420) and body types (415).

use std::borrow::Cow;
use std::fmt;

use super::text::{is_word_char, trim_lws};
use super::{Contact, HeaderName, Message, Method, Uri, ValueError};

/// What the UAS supports; the checks that depend on it read it from here.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    /// Methods this UAS handles. Known methods not listed get 405; unknown ones get 501.
    pub allowed: &'a [Method],
    /// Option tags this UAS supports (for `Require`).
    pub supported: &'a [&'a str],
    /// Body media types accepted on requests that carry a session description.
    pub accepted_bodies: &'a [&'a str],
}

/// The response a faulty request must get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// 400, with a reason that names the fault.
    BadRequest(Cow<'static, str>),
    /// 505: the version is not SIP/2.0.
    VersionNotSupported,
    /// 501: the method is unknown.
    NotImplemented,
    /// 405: the method is known but not handled here (send `Allow`).
    MethodNotAllowed,
    /// 416: the Request-URI scheme is not sip, sips or tel.
    UnsupportedUriScheme,
    /// 420: these `Require` option tags are not supported (send `Unsupported`).
    BadExtension(Vec<String>),
    /// 415: the body type cannot be handled (send `Accept`).
    UnsupportedMediaType,
    /// 406: the request's `Accept` rules out every body we could answer with.
    NotAcceptable,
}

impl Rejection {
    /// The status code.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::VersionNotSupported => 505,
            Self::NotImplemented => 501,
            Self::MethodNotAllowed => 405,
            Self::UnsupportedUriScheme => 416,
            Self::BadExtension(_) => 420,
            Self::UnsupportedMediaType => 415,
            Self::NotAcceptable => 406,
        }
    }

    /// The reason phrase.
    pub fn reason(&self) -> Cow<'_, str> {
        match self {
            Self::BadRequest(why) => Cow::Owned(format!("Bad Request ({why})")),
            Self::VersionNotSupported => Cow::Borrowed("Version Not Supported"),
            Self::NotImplemented => Cow::Borrowed("Not Implemented"),
            Self::MethodNotAllowed => Cow::Borrowed("Method Not Allowed"),
            Self::UnsupportedUriScheme => Cow::Borrowed("Unsupported URI Scheme"),
            Self::BadExtension(_) => Cow::Borrowed("Bad Extension"),
            Self::UnsupportedMediaType => Cow::Borrowed("Unsupported Media Type"),
            Self::NotAcceptable => Cow::Borrowed("Not Acceptable"),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status(), self.reason())
    }
}

fn bad(why: impl Into<Cow<'static, str>>) -> Rejection {
    Rejection::BadRequest(why.into())
}

fn bad_value(header: HeaderName, e: ValueError) -> Rejection {
    bad(format!("bad {}: {e}", header.as_str()))
}

/// Headers every request must carry (RFC 3261 §8.1.1). Max-Forwards is left out on
/// purpose: RFC 2543 peers omit it and RFC 4475 §3.4.1 wants them served.
const MANDATORY: [HeaderName; 5] = [
    HeaderName::Via,
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
];

/// Checks a request. `Ok` means it may be handed to the transaction layer.
pub fn validate_request(msg: &Message, policy: &Policy<'_>) -> Result<(), Rejection> {
    let Some(method) = msg.method() else {
        return Err(bad("not a request"));
    };
    let line = msg.request_line().unwrap_or("");
    if line.contains("  ") || line.contains('\t') || line.ends_with(' ') {
        return Err(bad("extra white space in Request-Line"));
    }
    let uri_text = msg.request_uri_str().unwrap_or("");
    if uri_text.starts_with('<') {
        return Err(bad("Request-URI enclosed in <>"));
    }
    if uri_text.contains(' ') {
        return Err(bad("white space in Request-URI"));
    }
    if !msg.version().eq_ignore_ascii_case("SIP/2.0") {
        return Err(Rejection::VersionNotSupported);
    }
    if let Some(d) = msg.defect() {
        return Err(bad(d.to_string()));
    }
    let uri = match Uri::parse(uri_text) {
        Ok(u) => u,
        Err(e) => return Err(bad(format!("bad Request-URI: {e}"))),
    };
    if uri.as_sip().is_some_and(|u| u.headers.is_some()) {
        return Err(bad("headers in Request-URI"));
    }

    for name in MANDATORY {
        if msg.header(name).is_none() {
            return Err(bad(format!("missing {}", name.as_str())));
        }
    }
    check_single_headers(msg)?;

    let mut top_via = None;
    for via in msg.vias() {
        let v = via.map_err(|e| bad_value(HeaderName::Via, e))?;
        top_via.get_or_insert(v);
    }
    let from = match msg.from() {
        Some(Ok(f)) => Some(f),
        Some(Err(e)) => return Err(bad_value(HeaderName::From, e)),
        None => None,
    };
    let to = match msg.to() {
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => return Err(bad_value(HeaderName::To, e)),
        None => None,
    };
    let call_id = msg.call_id().map(trim_lws).unwrap_or("");
    if call_id.is_empty() || !call_id.bytes().all(|b| is_word_char(b) || b == b'@') {
        return Err(bad("bad Call-ID"));
    }
    let cseq = match msg.cseq() {
        Some(Ok(c)) => c,
        Some(Err(e)) => return Err(bad_value(HeaderName::CSeq, e)),
        None => return Err(bad("missing CSeq")),
    };
    msg.set_core(top_via.as_ref(), from.as_ref(), to.as_ref(), Some(&cseq));
    if let Some(Err(e)) = msg.max_forwards() {
        return Err(bad_value(HeaderName::MaxForwards, e));
    }
    if let Some(Err(e)) = msg.expires() {
        return Err(bad_value(HeaderName::Expires, e));
    }
    check_content_length(msg)?;
    check_contacts(msg)?;
    for r in msg.record_routes() {
        r.map_err(|e| bad_value(HeaderName::RecordRoute, e))?;
    }
    for r in msg.routes() {
        r.map_err(|e| bad_value(HeaderName::Route, e))?;
    }

    // An unknown method gets 501 even when its CSeq disagrees (RFC 4475 §3.1.2.18 prefers
    // it: the peer learns what we lack rather than that it erred).
    if !method.is_known() {
        return Err(Rejection::NotImplemented);
    }
    if cseq.method != *method {
        return Err(bad("CSeq method does not match the Request-Line"));
    }
    if !policy.allowed.contains(method) {
        return Err(Rejection::MethodNotAllowed);
    }
    if !matches!(uri.scheme(), "sip" | "sips" | "tel") {
        return Err(Rejection::UnsupportedUriScheme);
    }
    if !matches!(method, Method::Ack | Method::Cancel) {
        let unsupported: Vec<String> = msg
            .tokens(HeaderName::Require)
            .filter(|t| !policy.supported.iter().any(|s| s.eq_ignore_ascii_case(t)))
            .map(str::to_owned)
            .collect();
        if !unsupported.is_empty() {
            return Err(Rejection::BadExtension(unsupported));
        }
    }
    check_body(msg, method, policy)?;
    check_accept(msg, method, policy)
}

/// An INVITE is answered with a session description: when its `Accept` rules out every
/// body type we can send, no answer can be built (RFC 3261 §21.4.7, RFC 4475 §3.3.15).
fn check_accept(msg: &Message, method: &Method, policy: &Policy<'_>) -> Result<(), Rejection> {
    if *method != Method::Invite || msg.header(HeaderName::Accept).is_none() {
        return Ok(());
    }
    let acceptable = msg.tokens(HeaderName::Accept).any(|range| {
        let media = trim_lws(range.split(';').next().unwrap_or(range));
        media == "*/*"
            || policy.accepted_bodies.iter().any(|ours| {
                ours.eq_ignore_ascii_case(media)
                    || media.strip_suffix("/*").is_some_and(|top| {
                        ours.split('/')
                            .next()
                            .is_some_and(|t| t.eq_ignore_ascii_case(top))
                    })
            })
    });
    if acceptable {
        Ok(())
    } else {
        Err(Rejection::NotAcceptable)
    }
}

fn check_single_headers(msg: &Message) -> Result<(), Rejection> {
    // A bit per header name: no allocation on the common path; the first value is looked
    // up again only when a repeat is found.
    let mut seen: u128 = 0;
    for h in msg.headers() {
        if !h.name.is_single() {
            continue;
        }
        let bit = 1u128 << (h.name as u32 % 128);
        if seen & bit == 0 {
            seen |= bit;
            continue;
        }
        let first = msg.header(h.name).unwrap_or("");
        // A repeated Content-Length with the same value is harmless; anything else is
        // ambiguous and must not be guessed at.
        if h.name == HeaderName::ContentLength && trim_lws(first) == trim_lws(h.value) {
            continue;
        }
        return Err(bad(format!("{} given more than once", h.name.as_str())));
    }
    Ok(())
}

fn check_content_length(msg: &Message) -> Result<(), Rejection> {
    match msg.content_length() {
        None => Ok(()),
        Some(Err(_)) => Err(bad("bad Content-Length")),
        Some(Ok(n)) if n > msg.after_head() => Err(bad("Content-Length larger than message")),
        Some(Ok(_)) => Ok(()),
    }
}

fn check_contacts(msg: &Message) -> Result<(), Rejection> {
    let mut count = 0;
    let mut star = false;
    for c in msg.contacts() {
        count += 1;
        match c {
            Err(e) => return Err(bad_value(HeaderName::Contact, e)),
            Ok(Contact::Star) => star = true,
            Ok(Contact::Addr(a)) => {
                if let Some(Some(v)) = a.params.get("expires")
                    && super::values::parse_number(v, u64::from(u32::MAX)).is_err()
                {
                    return Err(bad("bad Contact expires"));
                }
            }
        }
    }
    if star && count > 1 {
        return Err(bad("Contact: * with other contacts"));
    }
    Ok(())
}

fn check_body(msg: &Message, method: &Method, policy: &Policy<'_>) -> Result<(), Rejection> {
    if msg.body().is_empty() {
        return Ok(());
    }
    let Some(ct) = msg.content_type().filter(|c| !c.is_empty()) else {
        return Err(bad("body without Content-Type"));
    };
    let carries_session = matches!(
        method,
        Method::Invite | Method::Ack | Method::Update | Method::Prack
    );
    if carries_session
        && !policy
            .accepted_bodies
            .iter()
            .any(|a| a.eq_ignore_ascii_case(ct))
    {
        return Err(Rejection::UnsupportedMediaType);
    }
    Ok(())
}

/// Checks a response before it is matched to a transaction. Responses are never answered:
/// a failing one is dropped.
pub fn validate_response(msg: &Message) -> Result<(), Cow<'static, str>> {
    if !msg.version().eq_ignore_ascii_case("SIP/2.0") {
        return Err("unsupported version".into());
    }
    if let Some(d) = msg.defect() {
        return Err(d.to_string().into());
    }
    for name in MANDATORY {
        if msg.header(name).is_none() {
            return Err(format!("missing {}", name.as_str()).into());
        }
    }
    check_single_headers(msg).map_err(|r| Cow::Owned(r.reason().into_owned()))?;
    let Some(Ok(via)) = msg.top_via() else {
        return Err("bad Via".into());
    };
    let Some(Ok(cseq)) = msg.cseq() else {
        return Err("bad CSeq".into());
    };
    let mut parsed = [None, None];
    for (slot, (name, value)) in parsed
        .iter_mut()
        .zip([(HeaderName::From, msg.from()), (HeaderName::To, msg.to())])
    {
        match value {
            Some(Ok(v)) => *slot = Some(v),
            Some(Err(e)) => return Err(format!("bad {}: {e}", name.as_str()).into()),
            None => {}
        }
    }
    msg.set_core(
        Some(&via),
        parsed[0].as_ref(),
        parsed[1].as_ref(),
        Some(&cseq),
    );
    check_content_length(msg).map_err(|r| Cow::Owned(r.reason().into_owned()))
}
