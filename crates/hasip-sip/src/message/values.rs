//! Typed views of header values: name-addr (From, To, Contact, Route, …), Via, CSeq and
//! the authentication challenge/credentials parameter lists.

use std::borrow::Cow;
use std::fmt;

use super::method::Method;
use super::text::{
    FindByte, is_token, is_token_char, is_wsp, parse_u64, quoted_end, trim_lws, unquote,
};
use super::uri::{Host, Params, Uri, UriError, parse_host_port};

/// Why a header value could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueError {
    /// A quoted string is not terminated.
    UnterminatedQuote,
    /// The display name holds characters that need quoting.
    BadDisplayName,
    /// `<` without `>`, or white space inside `<…>`.
    BadAngleBrackets,
    /// A URI that carries parameters or headers is not enclosed in `<…>`.
    UnenclosedUri,
    /// The URI is malformed.
    Uri(UriError),
    /// A header parameter is malformed.
    BadParam,
    /// The value is empty.
    Empty,
    /// A number is missing, malformed or too large.
    BadNumber,
    /// The method is not a token.
    BadMethod,
    /// The Via protocol is not `SIP/2.0/<transport>`.
    BadProtocol,
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnterminatedQuote => f.write_str("unterminated quoted string"),
            Self::BadDisplayName => f.write_str("display name needs quotes"),
            Self::BadAngleBrackets => f.write_str("bad <...> around the URI"),
            Self::UnenclosedUri => f.write_str("URI with parameters must be enclosed in <>"),
            Self::Uri(e) => write!(f, "{e}"),
            Self::BadParam => f.write_str("bad parameter"),
            Self::Empty => f.write_str("empty value"),
            Self::BadNumber => f.write_str("bad number"),
            Self::BadMethod => f.write_str("bad method"),
            Self::BadProtocol => f.write_str("bad protocol"),
        }
    }
}

impl From<UriError> for ValueError {
    fn from(e: UriError) -> Self {
        match e {
            UriError::BadParam => Self::BadParam,
            other => Self::Uri(other),
        }
    }
}

/// A display name: quoted (escapes resolved on access) or a sequence of tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisplayName<'a> {
    /// `"..."` as written, quotes included.
    Quoted(&'a str),
    /// Unquoted tokens separated by white space.
    Tokens(&'a str),
}

impl<'a> DisplayName<'a> {
    /// The display text, unquoted.
    pub fn text(&self) -> Cow<'a, str> {
        match self {
            Self::Quoted(q) => unquote(q),
            Self::Tokens(t) => Cow::Borrowed(t),
        }
    }
}

/// `name-addr` or `addr-spec` followed by header parameters (RFC 3261 §20.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The display name, if any.
    pub display_name: Option<DisplayName<'a>>,
    /// The URI.
    pub uri: Uri<'a>,
    /// Header parameters after the URI (`;tag=…`, `;expires=…`, `;q=…`).
    pub params: Params<'a>,
}

impl<'a> NameAddr<'a> {
    /// Parses a name-addr or addr-spec with its header parameters.
    pub fn parse(s: &'a str) -> Result<Self, ValueError> {
        let s = trim_lws(s);
        if s.is_empty() {
            return Err(ValueError::Empty);
        }
        let (display_name, uri_text, after) = if s.starts_with('"') {
            let end = quoted_end(s).map_err(|_| ValueError::UnterminatedQuote)?;
            let rest = trim_lws(&s[end..]);
            let (uri, after) = angle(rest)?;
            (Some(DisplayName::Quoted(&s[..end])), uri, after)
        } else if let Some(lt) = s.find_b(b'<') {
            let display = trim_lws(&s[..lt]);
            let dn = if display.is_empty() {
                None
            } else {
                let tokens_ok = display
                    .split([' ', '\t'])
                    .all(|t| t.is_empty() || is_token(t));
                if !tokens_ok {
                    return Err(ValueError::BadDisplayName);
                }
                Some(DisplayName::Tokens(display))
            };
            let (uri, after) = angle(&s[lt..])?;
            (dn, uri, after)
        } else {
            // addr-spec: the URI ends at the first ';' (what follows are header params), and
            // it may not carry '?', ',' or URI parameters (RFC 3261 §20.10).
            let (uri, after) = match s.find_b(b';') {
                Some(i) => (trim_lws(&s[..i]), &s[i..]),
                None => (s, ""),
            };
            if uri.contains('?') || uri.contains(',') {
                return Err(ValueError::UnenclosedUri);
            }
            if uri.bytes().any(is_wsp) {
                return Err(ValueError::Uri(UriError::Whitespace));
            }
            (None, uri, after)
        };
        let uri = Uri::parse(uri_text)?;
        let after = trim_lws(after);
        let params = if after.is_empty() {
            Params::default()
        } else {
            let p = after.strip_prefix(';').ok_or(ValueError::BadParam)?;
            let p = Params::from_raw(p);
            p.validate(true).map_err(|_| ValueError::BadParam)?;
            p
        };
        Ok(Self {
            display_name,
            uri,
            params,
        })
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&'a str> {
        self.params.get("tag").flatten()
    }
}

/// Splits `<uri>rest` into the URI text and what follows the `>`.
fn angle(s: &str) -> Result<(&str, &str), ValueError> {
    let inner = s.strip_prefix('<').ok_or(ValueError::BadAngleBrackets)?;
    let close = inner.find_b(b'>').ok_or(ValueError::BadAngleBrackets)?;
    let uri = &inner[..close];
    if uri.bytes().any(|b| is_wsp(b) || b == b'\r' || b == b'\n') {
        return Err(ValueError::BadAngleBrackets);
    }
    Ok((uri, &inner[close + 1..]))
}

/// A Contact value: `*` or an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact<'a> {
    /// `Contact: *` (remove all bindings).
    Star,
    /// An address with its parameters.
    Addr(NameAddr<'a>),
}

impl<'a> Contact<'a> {
    /// Parses one Contact value.
    pub fn parse(s: &'a str) -> Result<Self, ValueError> {
        if trim_lws(s) == "*" {
            Ok(Self::Star)
        } else {
            NameAddr::parse(s).map(Self::Addr)
        }
    }
}

/// One Via value (RFC 3261 §20.42).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    /// The transport token (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`, or an unknown one).
    pub transport: &'a str,
    /// The sent-by host.
    pub host: Host<'a>,
    /// The sent-by port, if given.
    pub port: Option<u16>,
    /// Via parameters.
    pub params: Params<'a>,
}

/// The branch prefix of RFC 3261 transaction ids (§8.1.1.7).
pub const BRANCH_MAGIC_COOKIE: &str = "z9hG4bK";

impl<'a> Via<'a> {
    /// Parses one Via value: `SIP / 2.0 / UDP host:port;params` (white space around the
    /// slashes is legal).
    pub fn parse(s: &'a str) -> Result<Self, ValueError> {
        let s = trim_lws(s);
        let (proto_name, rest) = split_slash(s)?;
        let (version, rest) = split_slash(rest)?;
        if !proto_name.eq_ignore_ascii_case("SIP") || version != "2.0" {
            return Err(ValueError::BadProtocol);
        }
        let rest = trim_lws(rest);
        let t_end = rest
            .bytes()
            .position(|b| !is_token_char(b))
            .unwrap_or(rest.len());
        let transport = &rest[..t_end];
        if transport.is_empty() {
            return Err(ValueError::BadProtocol);
        }
        let rest = &rest[t_end..];
        if !rest.starts_with([' ', '\t', '\r', '\n']) {
            return Err(ValueError::BadProtocol);
        }
        let rest = trim_lws(rest);
        let (sent_by, params) = match rest.find_b(b';') {
            Some(i) => (trim_lws(&rest[..i]), &rest[i + 1..]),
            None => (rest, ""),
        };
        // White space is allowed around the ':' of sent-by (`host : port`).
        let compact;
        let sent_by = if sent_by.bytes().any(is_wsp) {
            compact = sent_by.replace([' ', '\t'], "");
            compact.as_str()
        } else {
            sent_by
        };
        let (host, port) = parse_host_port(sent_by)?;
        let host = own_host(host, s)?;
        let params = Params::from_raw(params);
        params.validate(true).map_err(|_| ValueError::BadParam)?;
        Ok(Self {
            transport,
            host,
            port,
            params,
        })
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&'a str> {
        self.params.get("branch").flatten()
    }

    /// The `received` parameter.
    pub fn received(&self) -> Option<&'a str> {
        self.params.get("received").flatten()
    }

    /// `rport`: `None` when absent, `Some(None)` when present without value.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .get("rport")
            .map(|v| v.and_then(|p| p.parse().ok()))
    }

    /// The `maddr` parameter.
    pub fn maddr(&self) -> Option<&'a str> {
        self.params.get("maddr").flatten()
    }
}

/// The host of a Via whose sent-by had inner white space must borrow from the original
/// text: find the same host text there.
fn own_host<'a>(host: Host<'_>, original: &'a str) -> Result<Host<'a>, ValueError> {
    match host {
        Host::V4(a) => Ok(Host::V4(a)),
        Host::V6(a) => Ok(Host::V6(a)),
        Host::Name(n) => original
            .find(n)
            .map(|i| Host::Name(&original[i..i + n.len()]))
            .ok_or(ValueError::Uri(UriError::BadHost)),
    }
}

fn split_slash(s: &str) -> Result<(&str, &str), ValueError> {
    let i = s.find_b(b'/').ok_or(ValueError::BadProtocol)?;
    Ok((trim_lws(&s[..i]), trim_lws(&s[i + 1..])))
}

/// The CSeq header: sequence number and method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// The sequence number (RFC 3261 §8.1.1.5: less than 2**31).
    pub seq: u32,
    /// The method.
    pub method: Method,
}

impl CSeq {
    /// Parses `number LWS method`.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let s = trim_lws(s);
        let i = s.find([' ', '\t']).ok_or(ValueError::BadMethod)?;
        let seq = parse_u64(&s[..i], 10)
            .filter(|n| *n < 1 << 31)
            .ok_or(ValueError::BadNumber)?;
        let method = trim_lws(&s[i..]);
        if !is_token(method) {
            return Err(ValueError::BadMethod);
        }
        Ok(Self {
            seq: seq as u32,
            method: Method::from_token(method),
        })
    }
}

/// Parses a header that holds one unsigned number (`Content-Length`, `Max-Forwards`,
/// `Expires`, `Min-Expires`): digits only, at most `max`.
pub fn parse_number(s: &str, max: u64) -> Result<u64, ValueError> {
    parse_u64(trim_lws(s), 20)
        .filter(|n| *n <= max)
        .ok_or(ValueError::BadNumber)
}

/// `Retry-After: delta-seconds [comment] *(;params)`: the seconds.
pub fn parse_retry_after(s: &str) -> Result<u32, ValueError> {
    let s = trim_lws(s);
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    parse_u64(&s[..end], 10)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or(ValueError::BadNumber)
}

/// A challenge (`WWW-Authenticate`, `Proxy-Authenticate`) or credentials
/// (`Authorization`, `Proxy-Authorization`): a scheme and comma-separated `name=value`
/// parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthParams<'a> {
    /// The scheme (`Digest`, or anything else).
    pub scheme: &'a str,
    raw: &'a str,
}

impl<'a> AuthParams<'a> {
    /// Parses `scheme param=value, param="value", …`.
    pub fn parse(s: &'a str) -> Result<Self, ValueError> {
        let s = trim_lws(s);
        let end = s.find([' ', '\t', '\r', '\n']).unwrap_or(s.len());
        let scheme = &s[..end];
        if !is_token(scheme) {
            return Err(ValueError::BadParam);
        }
        let this = Self {
            scheme,
            raw: trim_lws(&s[end..]),
        };
        for item in this.iter_raw() {
            let (name, _) = item?;
            if !is_token(name) {
                return Err(ValueError::BadParam);
            }
        }
        Ok(this)
    }

    fn iter_raw(&self) -> impl Iterator<Item = Result<(&'a str, &'a str), ValueError>> + use<'a> {
        super::text::CommaSplit::new(self.raw)
            .filter(|r| r.map(|s| !s.is_empty()).unwrap_or(true))
            .map(|r| {
                let item = r.map_err(|_| ValueError::UnterminatedQuote)?;
                let (n, v) = item.split_once_b(b'=').ok_or(ValueError::BadParam)?;
                Ok((trim_lws(n), trim_lws(v)))
            })
    }

    /// Iterates `(name, value)` with quoted values unquoted.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, Cow<'a, str>)> + use<'a> {
        self.iter_raw().filter_map(Result::ok).map(|(n, v)| {
            (
                n,
                if v.starts_with('"') {
                    unquote(v)
                } else {
                    Cow::Borrowed(v)
                },
            )
        })
    }

    /// One parameter (case-insensitive name), unquoted.
    pub fn get(&self, name: &str) -> Option<Cow<'a, str>> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn name_addr_forms() {
        let a = NameAddr::parse(r#""J \"R\" Smith" <sip:j@example.com;transport=tcp>;tag=abc"#)
            .unwrap();
        assert_eq!(a.display_name.unwrap().text(), r#"J "R" Smith"#);
        assert_eq!(a.tag(), Some("abc"));
        assert_eq!(a.uri.as_sip().unwrap().transport(), Some("tcp"));

        let b = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(b.display_name.unwrap().text(), "caller");

        let c = NameAddr::parse("sip:bob@example.com;tag=9").unwrap();
        assert_eq!(c.display_name, None);
        assert_eq!(c.tag(), Some("9"));
        assert!(c.uri.as_sip().unwrap().params.is_empty());

        let t = NameAddr::parse("<tel:+49-30-1234567>").unwrap();
        assert_eq!(t.uri.scheme(), "tel");
        let unknown = NameAddr::parse("<http://example.com/me>").unwrap();
        assert_eq!(unknown.uri.scheme(), "http");
    }

    #[test]
    fn name_addr_faults() {
        assert_eq!(
            NameAddr::parse(r#""Bell, Alexander <sip:a@b>"#),
            Err(ValueError::UnterminatedQuote)
        );
        assert_eq!(
            NameAddr::parse("Bell, Alexander <sip:a@b>"),
            Err(ValueError::BadDisplayName)
        );
        assert_eq!(
            NameAddr::parse("sip:user@example.com?Route=%3Csip:x%3E"),
            Err(ValueError::UnenclosedUri)
        );
        assert_eq!(
            NameAddr::parse("\"W\" < sip:t@example.org >"),
            Err(ValueError::BadAngleBrackets)
        );
        assert_eq!(
            NameAddr::parse(r#""Joe" <sip:joe@example.org>;;;;"#),
            Err(ValueError::BadParam)
        );
    }

    #[test]
    fn contact_star() {
        assert_eq!(Contact::parse(" * "), Ok(Contact::Star));
    }

    #[test]
    fn via_forms() {
        let v = Via::parse(
            "SIP / 2.0 / UDP 192.0.2.1 : 5061 ;branch=z9hG4bK1;rport;received=192.0.2.9",
        )
        .unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, Host::V4(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(v.port, Some(5061));
        assert_eq!(v.branch(), Some("z9hG4bK1"));
        assert_eq!(v.rport(), Some(None));
        assert_eq!(v.received(), Some("192.0.2.9"));

        let v6 = Via::parse("SIP/2.0/TLS-SCTP [2001:db8::9]:5061;branch=z9hG4bKx;rport=7").unwrap();
        assert_eq!(v6.transport, "TLS-SCTP");
        assert_eq!(v6.rport(), Some(Some(7)));
        let named = Via::parse("SIP/2.0/TCP  host.example.com;branch=z9hG4bK2").unwrap();
        assert_eq!(named.host, Host::Name("host.example.com"));

        assert!(Via::parse("SIP/2.0/UDP 192.0.2.15;;,;,,").is_err());
        assert!(Via::parse("SIP/3.0/UDP 192.0.2.15").is_err());
        assert!(Via::parse("SIP/2.0/UDP").is_err());
    }

    #[test]
    fn cseq_bounds() {
        assert_eq!(CSeq::parse("1 INVITE").unwrap().seq, 1);
        assert_eq!(CSeq::parse("2147483647  ACK").unwrap().method, Method::Ack);
        assert_eq!(CSeq::parse("2147483648 INVITE"), Err(ValueError::BadNumber));
        assert_eq!(
            CSeq::parse("36893488147419103232 REGISTER"),
            Err(ValueError::BadNumber)
        );
        assert_eq!(CSeq::parse("-1 INVITE"), Err(ValueError::BadNumber));
        assert_eq!(CSeq::parse("1"), Err(ValueError::BadMethod));
    }

    #[test]
    fn auth_challenge_params() {
        let c = AuthParams::parse(
            r#"Digest realm="test.local", nonce="a,b", qop="auth,auth-int", algorithm=SHA-256, stale=TRUE, opaque="""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "Digest");
        assert_eq!(c.get("nonce").as_deref(), Some("a,b"));
        assert_eq!(c.get("QOP").as_deref(), Some("auth,auth-int"));
        assert_eq!(c.get("algorithm").as_deref(), Some("SHA-256"));
        assert_eq!(c.get("stale").as_deref(), Some("TRUE"));
        assert_eq!(c.get("opaque").as_deref(), Some(""));
        assert!(AuthParams::parse("Digest realm=\"x").is_err());
    }
}
