//! Header names: the ones the stack reads by type, their compact forms (RFC 3261 §7.3.3 and
//! the IANA registry), and which of them carry comma-separated lists or must occur once.

use std::fmt;

macro_rules! header_names {
    ($( $variant:ident => $canonical:literal, $lower:literal $(, $compact:literal)? ;)*) => {
        /// A header field name. Known names are matched case-insensitively, compact forms
        /// included; anything else is [`HeaderName::Other`] and kept verbatim by the message.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum HeaderName {
            $(
                #[doc = $canonical]
                $variant,
            )*
            /// A header this crate has no typed knowledge of.
            Other,
        }

        impl HeaderName {
            /// Classifies a header name (case-insensitive, compact forms accepted).
            pub fn parse(name: &str) -> Self {
                let b = name.as_bytes();
                if b.len() > 24 {
                    return Self::Other;
                }
                let mut buf = [0u8; 24];
                for (d, s) in buf.iter_mut().zip(b) {
                    *d = s.to_ascii_lowercase();
                }
                match &buf[..b.len()] {
                    $( $lower $(| $compact)? => Self::$variant, )*
                    _ => Self::Other,
                }
            }

            /// The canonical spelling used when building messages.
            /// [`HeaderName::Other`] has none and yields `""`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $canonical, )*
                    Self::Other => "",
                }
            }
        }
    };
}

header_names! {
    Accept => "Accept", b"accept";
    AcceptEncoding => "Accept-Encoding", b"accept-encoding";
    AcceptLanguage => "Accept-Language", b"accept-language";
    AlertInfo => "Alert-Info", b"alert-info";
    Allow => "Allow", b"allow";
    AllowEvents => "Allow-Events", b"allow-events", b"u";
    AuthenticationInfo => "Authentication-Info", b"authentication-info";
    Authorization => "Authorization", b"authorization";
    CallId => "Call-ID", b"call-id", b"i";
    CallInfo => "Call-Info", b"call-info";
    Contact => "Contact", b"contact", b"m";
    ContentDisposition => "Content-Disposition", b"content-disposition";
    ContentEncoding => "Content-Encoding", b"content-encoding", b"e";
    ContentLanguage => "Content-Language", b"content-language";
    ContentLength => "Content-Length", b"content-length", b"l";
    ContentType => "Content-Type", b"content-type", b"c";
    CSeq => "CSeq", b"cseq";
    Date => "Date", b"date";
    Diversion => "Diversion", b"diversion";
    ErrorInfo => "Error-Info", b"error-info";
    Event => "Event", b"event", b"o";
    Expires => "Expires", b"expires";
    From => "From", b"from", b"f";
    InReplyTo => "In-Reply-To", b"in-reply-to";
    MaxForwards => "Max-Forwards", b"max-forwards";
    MimeVersion => "MIME-Version", b"mime-version";
    MinExpires => "Min-Expires", b"min-expires";
    MinSe => "Min-SE", b"min-se";
    Organization => "Organization", b"organization";
    PAssertedIdentity => "P-Asserted-Identity", b"p-asserted-identity";
    PPreferredIdentity => "P-Preferred-Identity", b"p-preferred-identity";
    Priority => "Priority", b"priority";
    Privacy => "Privacy", b"privacy";
    ProxyAuthenticate => "Proxy-Authenticate", b"proxy-authenticate";
    ProxyAuthorization => "Proxy-Authorization", b"proxy-authorization";
    ProxyRequire => "Proxy-Require", b"proxy-require";
    RAck => "RAck", b"rack";
    Reason => "Reason", b"reason";
    RecordRoute => "Record-Route", b"record-route";
    ReferTo => "Refer-To", b"refer-to", b"r";
    ReferredBy => "Referred-By", b"referred-by", b"b";
    RemotePartyId => "Remote-Party-ID", b"remote-party-id";
    Replaces => "Replaces", b"replaces";
    ReplyTo => "Reply-To", b"reply-to";
    Require => "Require", b"require";
    RetryAfter => "Retry-After", b"retry-after";
    Route => "Route", b"route";
    RSeq => "RSeq", b"rseq";
    Server => "Server", b"server";
    SessionExpires => "Session-Expires", b"session-expires", b"x";
    Subject => "Subject", b"subject", b"s";
    SubscriptionState => "Subscription-State", b"subscription-state";
    Supported => "Supported", b"supported", b"k";
    Timestamp => "Timestamp", b"timestamp";
    To => "To", b"to", b"t";
    Unsupported => "Unsupported", b"unsupported";
    UserAgent => "User-Agent", b"user-agent";
    Via => "Via", b"via", b"v";
    Warning => "Warning", b"warning";
    WwwAuthenticate => "WWW-Authenticate", b"www-authenticate";
}

impl HeaderName {
    /// True for headers whose grammar is a comma-separated list (RFC 3261 §7.3.1), so that
    /// several values may share one header line.
    pub fn is_list(self) -> bool {
        matches!(
            self,
            Self::Accept
                | Self::AcceptEncoding
                | Self::AcceptLanguage
                | Self::AlertInfo
                | Self::Allow
                | Self::AllowEvents
                | Self::CallInfo
                | Self::Contact
                | Self::ContentEncoding
                | Self::ContentLanguage
                | Self::Diversion
                | Self::ErrorInfo
                | Self::InReplyTo
                | Self::PAssertedIdentity
                | Self::PPreferredIdentity
                | Self::ProxyRequire
                | Self::Reason
                | Self::RecordRoute
                | Self::Require
                | Self::Route
                | Self::Supported
                | Self::Unsupported
                | Self::Via
                | Self::Warning
        )
    }

    /// True for headers that may appear at most once (their grammar has a single value).
    pub fn is_single(self) -> bool {
        matches!(
            self,
            Self::CallId
                | Self::ContentDisposition
                | Self::ContentLength
                | Self::ContentType
                | Self::CSeq
                | Self::Date
                | Self::Event
                | Self::Expires
                | Self::From
                | Self::MaxForwards
                | Self::MimeVersion
                | Self::MinExpires
                | Self::MinSe
                | Self::Organization
                | Self::Priority
                | Self::RAck
                | Self::ReferTo
                | Self::ReferredBy
                | Self::ReplyTo
                | Self::RetryAfter
                | Self::RSeq
                | Self::Server
                | Self::SessionExpires
                | Self::Subject
                | Self::SubscriptionState
                | Self::Timestamp
                | Self::To
                | Self::UserAgent
        )
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::HeaderName;

    #[test]
    fn names_are_case_insensitive_and_compact_forms_map() {
        assert_eq!(HeaderName::parse("cAlL-iD"), HeaderName::CallId);
        assert_eq!(HeaderName::parse("i"), HeaderName::CallId);
        assert_eq!(HeaderName::parse("I"), HeaderName::CallId);
        assert_eq!(HeaderName::parse("v"), HeaderName::Via);
        assert_eq!(HeaderName::parse("l"), HeaderName::ContentLength);
        assert_eq!(
            HeaderName::parse("WWW-AUTHENTICATE"),
            HeaderName::WwwAuthenticate
        );
        assert_eq!(HeaderName::parse("X-Custom"), HeaderName::Other);
        assert_eq!(
            HeaderName::parse("a-very-long-header-name-beyond-24"),
            HeaderName::Other
        );
        assert_eq!(HeaderName::CSeq.as_str(), "CSeq");
    }
}
