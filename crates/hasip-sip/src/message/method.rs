//! SIP request methods (RFC 3261 §7.1, §25: `Method`). Names are case-sensitive.

use std::fmt;

/// A SIP request method. Unknown extension methods are kept as [`Method::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// RFC 3261.
    Invite,
    /// RFC 3261.
    Ack,
    /// RFC 3261.
    Bye,
    /// RFC 3261.
    Cancel,
    /// RFC 3261.
    Options,
    /// RFC 3261.
    Register,
    /// RFC 6086.
    Info,
    /// RFC 3515.
    Refer,
    /// RFC 6665.
    Notify,
    /// RFC 6665.
    Subscribe,
    /// RFC 3428.
    Message,
    /// RFC 3311.
    Update,
    /// RFC 3262.
    Prack,
    /// RFC 3903.
    Publish,
    /// Any other `token`: an extension method we do not know.
    Other(Box<str>),
}

impl Method {
    /// Reads a method name. The caller has checked that `s` is a token.
    pub fn from_token(s: &str) -> Self {
        match s {
            "INVITE" => Self::Invite,
            "ACK" => Self::Ack,
            "BYE" => Self::Bye,
            "CANCEL" => Self::Cancel,
            "OPTIONS" => Self::Options,
            "REGISTER" => Self::Register,
            "INFO" => Self::Info,
            "REFER" => Self::Refer,
            "NOTIFY" => Self::Notify,
            "SUBSCRIBE" => Self::Subscribe,
            "MESSAGE" => Self::Message,
            "UPDATE" => Self::Update,
            "PRACK" => Self::Prack,
            "PUBLISH" => Self::Publish,
            other => Self::Other(other.into()),
        }
    }

    /// The method name as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Invite => "INVITE",
            Self::Ack => "ACK",
            Self::Bye => "BYE",
            Self::Cancel => "CANCEL",
            Self::Options => "OPTIONS",
            Self::Register => "REGISTER",
            Self::Info => "INFO",
            Self::Refer => "REFER",
            Self::Notify => "NOTIFY",
            Self::Subscribe => "SUBSCRIBE",
            Self::Message => "MESSAGE",
            Self::Update => "UPDATE",
            Self::Prack => "PRACK",
            Self::Publish => "PUBLISH",
            Self::Other(s) => s,
        }
    }

    /// True for methods defined by an RFC (everything but [`Method::Other`]).
    pub fn is_known(&self) -> bool {
        !matches!(self, Self::Other(_))
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
