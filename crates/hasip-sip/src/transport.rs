//! Transport vocabulary shared by the pure crates and the shell: which transport a message
//! came in on, from where, and where a response must go (RFC 3261 §18.2.2, RFC 3581).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::message::Via;

/// A SIP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP (RFC 3261 §18).
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
}

impl Transport {
    /// The Via transport token.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
        }
    }

    /// True for stream transports, where nothing is retransmitted by SIP.
    pub fn is_reliable(self) -> bool {
        !matches!(self, Self::Udp)
    }

    /// The default port of the transport (5060, or 5061 for TLS).
    pub fn default_port(self) -> u16 {
        match self {
            Self::Udp | Self::Tcp => 5060,
            Self::Tls => 5061,
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identifies one stream connection held by the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

/// Where a message came from, or where one must go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    /// The transport.
    pub transport: Transport,
    /// The remote address.
    pub addr: SocketAddr,
    /// The stream connection, for TCP and TLS.
    pub connection: Option<ConnectionId>,
}

/// Where to send a response to a request received from `source` whose top Via is `via`
/// (RFC 3261 §18.2.2 with RFC 3581 `rport`): on a stream, back over the same connection;
/// on UDP, to the source address when `rport` was asked for, else to the source IP (the
/// `received` address) and the Via port.
pub fn response_destination(source: Peer, via: &Via<'_>) -> Peer {
    if source.transport.is_reliable() {
        return source;
    }
    if via.maddr().is_some() {
        // Multicast responses are not supported; answering the source is the safe choice.
        return source;
    }
    match via.rport() {
        Some(_) => source,
        None => {
            let port = via.port.unwrap_or(Transport::Udp.default_port());
            let ip: IpAddr = source.addr.ip();
            Peer {
                addr: SocketAddr::new(ip, port),
                ..source
            }
        }
    }
}
