//! URIs as they appear in SIP: `sip:`/`sips:` (RFC 3261 §19.1), `tel:` (RFC 3966), and any
//! other scheme kept opaque (`absoluteURI`). Views borrow from the message text.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::text::{
    FindByte, escapes_valid, is_token, is_token_char, is_unreserved, is_wsp, percent_decode,
    quoted_end, trim_lws, unquote,
};

/// Why a URI, host or parameter list could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriError {
    /// No `scheme:` prefix.
    NoScheme,
    /// White space inside the URI.
    Whitespace,
    /// The host is empty or holds characters a host cannot hold.
    BadHost,
    /// The port is not a number from 0 to 65535.
    BadPort,
    /// The user or password part holds characters it cannot hold, or a bad `%` escape.
    BadUserInfo,
    /// A parameter is empty or malformed.
    BadParam,
    /// A `tel:` number is empty or malformed.
    BadTelNumber,
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoScheme => "no URI scheme",
            Self::Whitespace => "white space inside the URI",
            Self::BadHost => "bad host",
            Self::BadPort => "bad port",
            Self::BadUserInfo => "bad user part",
            Self::BadParam => "bad parameter",
            Self::BadTelNumber => "bad telephone number",
        })
    }
}

/// A host: a name, an IPv4 address or an IPv6 reference (`[…]` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Host<'a> {
    /// A host name, as written.
    Name(&'a str),
    /// An IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 address.
    V6(Ipv6Addr),
}

impl<'a> Host<'a> {
    /// Parses a host: `[v6]`, dotted IPv4, or a host name.
    pub fn parse(s: &'a str) -> Result<Self, UriError> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or(UriError::BadHost)?;
            return inner.parse().map(Self::V6).map_err(|_| UriError::BadHost);
        }
        if s.is_empty() {
            return Err(UriError::BadHost);
        }
        if s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && let Ok(v4) = s.parse()
        {
            return Ok(Self::V4(v4));
        }
        // Host names: alphanumerics, '-' and '.'; '_' is tolerated because real
        // deployments use it in internal names.
        if s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
            && !s.starts_with('.')
            && !s.contains("..")
        {
            Ok(Self::Name(s))
        } else {
            Err(UriError::BadHost)
        }
    }

    /// The address when the host is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Self::Name(_) => None,
            Self::V4(a) => Some(IpAddr::V4(*a)),
            Self::V6(a) => Some(IpAddr::V6(*a)),
        }
    }
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(n) => f.write_str(n),
            Self::V4(a) => write!(f, "{a}"),
            Self::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// Splits `host[:port]` (IPv6 references in brackets).
pub(crate) fn parse_host_port(s: &str) -> Result<(Host<'_>, Option<u16>), UriError> {
    let (host, port) = if s.starts_with('[') {
        let close = s.find_b(b']').ok_or(UriError::BadHost)?;
        let rest = &s[close + 1..];
        let port = if rest.is_empty() {
            None
        } else {
            Some(rest.strip_prefix(':').ok_or(UriError::BadPort)?)
        };
        (&s[..=close], port)
    } else {
        match s.split_once_b(b':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => {
            if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(UriError::BadPort);
            }
            Some(p.parse::<u16>().map_err(|_| UriError::BadPort)?)
        }
    };
    Ok((Host::parse(host)?, port))
}

/// A `;name[=value]` parameter list, kept as text and read on demand. Names compare
/// case-insensitively; values are returned as written (quoted values keep their quotes,
/// see [`unquote`]).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Params<'a> {
    raw: &'a str,
}

impl<'a> Params<'a> {
    /// Wraps text that starts just after the first `;` (or is empty).
    pub(crate) fn from_raw(raw: &'a str) -> Self {
        Self { raw }
    }

    /// The list as written, without the leading `;`.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// True when there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Iterates `(name, value)` pairs; `value` is `None` for a flag such as `;lr`.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> + use<'a> {
        ParamIter { rest: self.raw }
    }

    /// Looks up a parameter: `None` when absent, `Some(None)` for a flag without value.
    pub fn get(&self, name: &str) -> Option<Option<&'a str>> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// True when the parameter is present, with or without value.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Checks the list: every name a token, every value a token, a quoted string or an IPv6
    /// reference, nothing empty.
    pub(crate) fn validate(&self, allow_quoted: bool) -> Result<(), UriError> {
        if self.raw.is_empty() {
            return Ok(());
        }
        let mut rest = self.raw;
        loop {
            let (item, next) = split_param(rest).map_err(|()| UriError::BadParam)?;
            let (name, value) = split_name_value(item);
            if !is_token(name) {
                return Err(UriError::BadParam);
            }
            if let Some(v) = value {
                let ok = if v.starts_with('"') {
                    allow_quoted && quoted_end(v).map(|e| e == v.len()).unwrap_or(false)
                } else if v.starts_with('[') {
                    v.ends_with(']')
                } else {
                    !v.is_empty()
                        && v.bytes().all(|b| {
                            is_token_char(b)
                                || is_unreserved(b)
                                || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'$' | b'@')
                        })
                };
                if !ok {
                    return Err(UriError::BadParam);
                }
            }
            match next {
                Some(n) => rest = n,
                None => return Ok(()),
            }
        }
    }
}

impl fmt::Debug for Params<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Splits the first parameter off `s`, honouring quoted values.
fn split_param(s: &str) -> Result<(&str, Option<&str>), ()> {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(off) = b
        .get(i..)
        .and_then(|rest| rest.iter().position(|&c| c == b';' || c == b'"'))
    {
        let at = i + off;
        if b[at] == b';' {
            return Ok((trim_lws(&s[..at]), Some(&s[at + 1..])));
        }
        i = at + quoted_end(&s[at..]).map_err(|_| ())?;
    }
    Ok((trim_lws(s), None))
}

fn split_name_value(item: &str) -> (&str, Option<&str>) {
    match item.split_once_b(b'=') {
        Some((n, v)) => (trim_lws(n), Some(trim_lws(v))),
        None => (item, None),
    }
}

#[derive(Debug)]
struct ParamIter<'a> {
    rest: &'a str,
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = (&'a str, Option<&'a str>);

    fn next(&mut self) -> Option<Self::Item> {
        while !self.rest.is_empty() {
            let (item, next) = split_param(self.rest).unwrap_or((self.rest, None));
            self.rest = next.unwrap_or("");
            if !item.is_empty() {
                return Some(split_name_value(item));
            }
        }
        None
    }
}

/// A `sip:` or `sips:` URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipUri<'a> {
    /// `sips:` rather than `sip:`.
    pub secure: bool,
    /// The user part, still %-escaped (see [`SipUri::user_decoded`]).
    pub user: Option<&'a str>,
    /// The password part, if any (deprecated, but legal).
    pub password: Option<&'a str>,
    /// The host.
    pub host: Host<'a>,
    /// The port, if given.
    pub port: Option<u16>,
    /// URI parameters (`;transport=tcp;lr`).
    pub params: Params<'a>,
    /// The `?h=v&…` headers part, without the `?`.
    pub headers: Option<&'a str>,
}

impl<'a> SipUri<'a> {
    fn parse(secure: bool, rest: &'a str) -> Result<Self, UriError> {
        let (userinfo, hostpart) = match rest.find_b(b'@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(ui) => {
                let (u, p) = match ui.split_once_b(b':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (ui, None),
                };
                let user_ok = !u.is_empty()
                    && escapes_valid(u)
                    && u.bytes().all(|b| {
                        is_unreserved(b)
                            || matches!(
                                b,
                                b'%' | b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/'
                            )
                    });
                let pass_ok = p.is_none_or(|p| {
                    escapes_valid(p)
                        && p.bytes().all(|b| {
                            is_unreserved(b) || matches!(b, b'%' | b'&' | b'=' | b'+' | b'$' | b',')
                        })
                });
                if !user_ok || !pass_ok {
                    return Err(UriError::BadUserInfo);
                }
                (Some(u), p)
            }
        };
        let (before_headers, headers) = match hostpart.split_once_b(b'?') {
            Some((a, h)) => (a, Some(h)),
            None => (hostpart, None),
        };
        let (hostport, params) = match before_headers.split_once_b(b';') {
            Some((hp, p)) => (hp, p),
            None => (before_headers, ""),
        };
        let (host, port) = parse_host_port(hostport)?;
        let params = Params::from_raw(params);
        params.validate(false)?;
        if let Some(h) = headers
            && (!escapes_valid(h) || h.is_empty())
        {
            return Err(UriError::BadParam);
        }
        Ok(Self {
            secure,
            user,
            password,
            host,
            port,
            params,
            headers,
        })
    }

    /// The user part with `%` escapes decoded.
    pub fn user_decoded(&self) -> Option<Cow<'a, str>> {
        self.user.map(percent_decode)
    }

    /// The `transport` URI parameter, if any.
    pub fn transport(&self) -> Option<&'a str> {
        self.params.get("transport").flatten()
    }
}

impl fmt::Display for SipUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(u) = self.user {
            f.write_str(u)?;
            if let Some(p) = self.password {
                write!(f, ":{p}")?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        if !self.params.is_empty() {
            write!(f, ";{}", self.params.as_str())?;
        }
        if let Some(h) = self.headers {
            write!(f, "?{h}")?;
        }
        Ok(())
    }
}

/// A `tel:` URI (RFC 3966).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelUri<'a> {
    /// The number as written, with visual separators (`+1-201-555-0123`).
    pub number: &'a str,
    /// Parameters (`;phone-context=…;ext=…`).
    pub params: Params<'a>,
}

impl<'a> TelUri<'a> {
    fn parse(rest: &'a str) -> Result<Self, UriError> {
        let (number, params) = match rest.split_once_b(b';') {
            Some((n, p)) => (n, p),
            None => (rest, ""),
        };
        let global = number.starts_with('+');
        let digits = number.strip_prefix('+').unwrap_or(number);
        let ok = !digits.is_empty()
            && digits
                .bytes()
                .any(|b| b.is_ascii_hexdigit() || matches!(b, b'*' | b'#'))
            && digits.bytes().all(|b| {
                b.is_ascii_digit()
                    || matches!(b, b'-' | b'.' | b'(' | b')' | b'*' | b'#')
                    || (!global && matches!(b.to_ascii_uppercase(), b'A'..=b'D'))
            });
        if !ok {
            return Err(UriError::BadTelNumber);
        }
        let params = Params::from_raw(params);
        params.validate(false)?;
        Ok(Self { number, params })
    }

    /// True for a global number (`+` and a country code).
    pub fn is_global(&self) -> bool {
        self.number.starts_with('+')
    }

    /// The number without visual separators (`+12015550123`).
    pub fn digits(&self) -> String {
        self.number
            .chars()
            .filter(|c| !matches!(c, '-' | '.' | '(' | ')'))
            .collect()
    }
}

impl fmt::Display for TelUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tel:{}", self.number)?;
        if !self.params.is_empty() {
            write!(f, ";{}", self.params.as_str())?;
        }
        Ok(())
    }
}

/// Any URI found in a SIP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uri<'a> {
    /// `sip:` or `sips:`.
    Sip(SipUri<'a>),
    /// `tel:`.
    Tel(TelUri<'a>),
    /// Any other scheme, kept opaque.
    Other {
        /// The scheme, as written.
        scheme: &'a str,
        /// Everything after the `:`.
        rest: &'a str,
    },
}

impl<'a> Uri<'a> {
    /// Parses a URI. Schemes compare case-insensitively.
    pub fn parse(s: &'a str) -> Result<Self, UriError> {
        if s.bytes().any(|b| is_wsp(b) || b == b'\r' || b == b'\n') {
            return Err(UriError::Whitespace);
        }
        let colon = s.find_b(b':').ok_or(UriError::NoScheme)?;
        let scheme = &s[..colon];
        let scheme_ok = scheme
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_alphabetic)
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !scheme_ok {
            return Err(UriError::NoScheme);
        }
        let rest = &s[colon + 1..];
        if scheme.eq_ignore_ascii_case("sip") {
            SipUri::parse(false, rest).map(Self::Sip)
        } else if scheme.eq_ignore_ascii_case("sips") {
            SipUri::parse(true, rest).map(Self::Sip)
        } else if scheme.eq_ignore_ascii_case("tel") {
            TelUri::parse(rest).map(Self::Tel)
        } else if rest.is_empty()
            || rest
                .bytes()
                .any(|b| b.is_ascii_control() || b == b'<' || b == b'>' || b == b'"')
        {
            Err(UriError::NoScheme)
        } else {
            Ok(Self::Other { scheme, rest })
        }
    }

    /// The SIP URI, if this is one.
    pub fn as_sip(&self) -> Option<&SipUri<'a>> {
        match self {
            Self::Sip(u) => Some(u),
            Self::Tel(_) | Self::Other { .. } => None,
        }
    }

    /// The scheme, lower-cased for the known ones.
    pub fn scheme(&self) -> &'a str {
        match self {
            Self::Sip(u) if u.secure => "sips",
            Self::Sip(_) => "sip",
            Self::Tel(_) => "tel",
            Self::Other { scheme, .. } => scheme,
        }
    }

    /// The user part of a SIP URI or the number of a tel URI, %-decoded.
    pub fn user(&self) -> Option<Cow<'a, str>> {
        match self {
            Self::Sip(u) => u.user_decoded(),
            Self::Tel(t) => Some(Cow::Borrowed(t.number)),
            Self::Other { .. } => None,
        }
    }
}

impl fmt::Display for Uri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sip(u) => u.fmt(f),
            Self::Tel(t) => t.fmt(f),
            Self::Other { scheme, rest } => write!(f, "{scheme}:{rest}"),
        }
    }
}

/// Returns a parameter value with surrounding quotes removed and escapes resolved.
pub fn param_text(v: &str) -> Cow<'_, str> {
    if v.starts_with('"') {
        unquote(v)
    } else {
        Cow::Borrowed(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(s: &str) -> SipUri<'_> {
        match Uri::parse(s) {
            Ok(Uri::Sip(u)) => u,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn sip_uri_parts() {
        let u = sip("sip:alice:pw@[2001:db8::10]:5070;transport=tcp;lr?subject=x");
        assert_eq!(u.user, Some("alice"));
        assert_eq!(u.password, Some("pw"));
        assert_eq!(u.host, Host::V6("2001:db8::10".parse().unwrap()));
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.transport(), Some("tcp"));
        assert_eq!(u.params.get("lr"), Some(None));
        assert_eq!(u.headers, Some("subject=x"));
        assert_eq!(
            u.to_string(),
            "sip:alice:pw@[2001:db8::10]:5070;transport=tcp;lr?subject=x"
        );
    }

    #[test]
    fn user_with_semicolon_and_escapes() {
        let u = sip("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user, Some("user;par=u%40example.net"));
        assert_eq!(u.user_decoded().as_deref(), Some("user;par=u@example.net"));
        assert_eq!(u.host, Host::Name("example.com"));
        let n = sip("sip:null-%00-null@example.com");
        assert_eq!(n.user_decoded().as_deref(), Some("null-\0-null"));
    }

    #[test]
    fn uppercase_scheme_and_ipv4() {
        let u = sip("SIP:bob@192.0.2.4");
        assert_eq!(u.host, Host::V4(Ipv4Addr::new(192, 0, 2, 4)));
        assert_eq!(u.port, None);
    }

    #[test]
    fn bad_uris() {
        assert_eq!(
            Uri::parse("sip:user@example.com:99999"),
            Err(UriError::BadPort)
        );
        assert_eq!(Uri::parse("sip:user@"), Err(UriError::BadHost));
        assert_eq!(
            Uri::parse("sip:us er@example.com"),
            Err(UriError::Whitespace)
        );
        assert_eq!(Uri::parse("nocolon"), Err(UriError::NoScheme));
        assert_eq!(Uri::parse("sip:a@b;;"), Err(UriError::BadParam));
        assert_eq!(Uri::parse("sip:a%zz@b"), Err(UriError::BadUserInfo));
        assert_eq!(Uri::parse("sip:[::1"), Err(UriError::BadHost));
    }

    #[test]
    fn tel_and_other_schemes() {
        match Uri::parse("tel:+1-201-555-0123;phone-context=example.com") {
            Ok(Uri::Tel(t)) => {
                assert!(t.is_global());
                assert_eq!(t.digits(), "+12015550123");
                assert_eq!(t.params.get("phone-context"), Some(Some("example.com")));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            Uri::parse("http://example.com/x"),
            Ok(Uri::Other {
                scheme: "http",
                rest: "//example.com/x"
            })
        );
        assert_eq!(Uri::parse("tel:"), Err(UriError::BadTelNumber));
    }

    #[test]
    fn params_flags_quotes_and_case() {
        let p = Params::from_raw("Branch=z9hG4bK1;rport;received=[::1];x=\"a;b\"");
        assert_eq!(p.get("branch"), Some(Some("z9hG4bK1")));
        assert_eq!(p.get("rport"), Some(None));
        assert_eq!(p.get("received"), Some(Some("[::1]")));
        assert_eq!(p.get("x"), Some(Some("\"a;b\"")));
        assert!(p.validate(true).is_ok());
        assert!(Params::from_raw(";;").validate(true).is_err());
        assert!(Params::from_raw("a=").validate(true).is_err());
    }
}
