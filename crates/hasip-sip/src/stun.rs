//! STUN binding (RFC 5389), sans-IO: asks a STUN server which public address a UDP
//! socket is seen from, for the SIP Contact/Via (`--use-stun-for-sip`) and the SDP
//! connection address of a call's RTP socket (`--use-stun-for-media`).
//!
//! [`Binding`] is one client transaction: it hands out the request (and its
//! retransmissions) with [`Binding::poll_transmit`] and [`Binding::poll_timeout`], takes
//! datagrams with [`Binding::handle_input`] and ends with the mapped address or an error.
//! The shell owns the socket and the clock.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

/// The magic cookie of RFC 5389 §6.
pub const MAGIC_COOKIE: u32 = 0x2112_a442;
/// The default STUN port.
pub const DEFAULT_PORT: u16 = 3478;

const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const BINDING_ERROR: u16 = 0x0111;
const ATTR_MAPPED_ADDRESS: u16 = 0x0001;
const ATTR_ERROR_CODE: u16 = 0x0009;
const ATTR_XOR_MAPPED_ADDRESS: u16 = 0x0020;
/// The pre-RFC 5389 code point some servers still use for XOR-MAPPED-ADDRESS.
const ATTR_XOR_MAPPED_ADDRESS_OLD: u16 = 0x8020;
const HEADER_LEN: usize = 20;

/// Why a binding gave no address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StunError {
    /// No answer after every retransmission.
    Timeout,
    /// The server answered with an error response.
    Rejected {
        /// The ERROR-CODE (class × 100 + number), 0 if absent.
        code: u16,
        /// Its reason phrase.
        reason: String,
    },
    /// A success response without a (XOR-)MAPPED-ADDRESS this client can read.
    NoAddress,
}

impl fmt::Display for StunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => write!(f, "no answer from the STUN server"),
            Self::Rejected { code, reason } => {
                write!(f, "the STUN server answered {code} {reason}")
            }
            Self::NoAddress => write!(f, "the STUN server's answer holds no mapped address"),
        }
    }
}

impl std::error::Error for StunError {}

/// Whether `datagram` looks like STUN (RFC 5389 §6: the top two bits zero, the magic
/// cookie in place): lets a socket that also carries SIP or RTP sort it out.
#[must_use]
pub fn is_stun(datagram: &[u8]) -> bool {
    datagram.len() >= HEADER_LEN
        && datagram[0] & 0xc0 == 0
        && datagram[4..8] == MAGIC_COOKIE.to_be_bytes()
}

/// Encodes a Binding request with no attributes.
#[must_use]
pub fn binding_request(transaction: [u8; 12]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN);
    out.extend_from_slice(&BINDING_REQUEST.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    out.extend_from_slice(&transaction);
    out
}

/// Reads a Binding response to `transaction`: `None` when `datagram` is not one (another
/// protocol, another transaction, a malformed message), else the mapped address or the
/// server's error.
#[must_use]
pub fn parse_binding_response(
    datagram: &[u8],
    transaction: &[u8; 12],
) -> Option<Result<SocketAddr, StunError>> {
    if !is_stun(datagram) || datagram[8..HEADER_LEN] != transaction[..] {
        return None;
    }
    let kind = u16::from_be_bytes([datagram[0], datagram[1]]);
    let len = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    let body = datagram.get(HEADER_LEN..HEADER_LEN + len)?;
    let attrs = Attributes { rest: body };
    match kind {
        BINDING_SUCCESS => {
            let mut plain = None;
            for (t, v) in attrs {
                match t {
                    ATTR_XOR_MAPPED_ADDRESS | ATTR_XOR_MAPPED_ADDRESS_OLD => {
                        if let Some(a) = address(v, Some(transaction)) {
                            return Some(Ok(a));
                        }
                    }
                    ATTR_MAPPED_ADDRESS => plain = plain.or_else(|| address(v, None)),
                    _ => {}
                }
            }
            Some(plain.ok_or(StunError::NoAddress))
        }
        BINDING_ERROR => {
            let (code, reason) = attrs
                .filter(|(t, _)| *t == ATTR_ERROR_CODE)
                .find_map(|(_, v)| {
                    let [_, _, class, number, reason @ ..] = v else {
                        return None;
                    };
                    let code = u16::from(class & 0x07) * 100 + u16::from(*number);
                    Some((code, String::from_utf8_lossy(reason).trim().to_owned()))
                })
                .unwrap_or((0, String::new()));
            Some(Err(StunError::Rejected { code, reason }))
        }
        _ => None,
    }
}

/// The attributes of a message body: (type, value), padding skipped; stops at the first
/// one that does not fit.
struct Attributes<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Attributes<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let [t0, t1, l0, l1, rest @ ..] = self.rest else {
            return None;
        };
        let len = usize::from(u16::from_be_bytes([*l0, *l1]));
        let value = rest.get(..len)?;
        let padded = len.next_multiple_of(4).min(rest.len());
        self.rest = &rest[padded..];
        Some((u16::from_be_bytes([*t0, *t1]), value))
    }
}

/// A (XOR-)MAPPED-ADDRESS value; `xor` carries the transaction id for the XOR form.
fn address(v: &[u8], xor: Option<&[u8; 12]>) -> Option<SocketAddr> {
    let [_, family, p0, p1, addr @ ..] = v else {
        return None;
    };
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let mut port = u16::from_be_bytes([*p0, *p1]);
    if xor.is_some() {
        port ^= u16::from_be_bytes([cookie[0], cookie[1]]);
    }
    let ip = match (*family, addr.len()) {
        (0x01, 4) => {
            let mut b = [0u8; 4];
            b.copy_from_slice(addr);
            if xor.is_some() {
                for (x, c) in b.iter_mut().zip(cookie) {
                    *x ^= c;
                }
            }
            IpAddr::V4(Ipv4Addr::from(b))
        }
        (0x02, 16) => {
            let mut b = [0u8; 16];
            b.copy_from_slice(addr);
            if let Some(tx) = xor {
                let key = cookie.iter().chain(tx.iter());
                for (x, k) in b.iter_mut().zip(key) {
                    *x ^= k;
                }
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Requests are sent at 0, 0.5 and 1.5 s (RFC 5389 §7.2.1's doubling from a 500 ms RTO);
/// without an answer the binding fails at 3.5 s, so a dead server delays a call or the
/// start by at most that.
const SCHEDULE: [Duration; 4] = [
    Duration::ZERO,
    Duration::from_millis(500),
    Duration::from_millis(1500),
    Duration::from_millis(3500),
];

/// One binding transaction.
#[derive(Debug)]
pub struct Binding {
    transaction: [u8; 12],
    start: Instant,
    /// Requests sent so far.
    sent: usize,
    /// A request is due (start, or a retransmission timer fired).
    due: bool,
    result: Option<Result<SocketAddr, StunError>>,
}

impl Binding {
    /// Starts a binding at `now` with a transaction id from the caller's randomness.
    #[must_use]
    pub fn new(now: Instant, transaction: [u8; 12]) -> Self {
        Self {
            transaction,
            start: now,
            sent: 0,
            due: true,
            result: None,
        }
    }

    /// The request to send now, if one is due.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if !self.due || self.result.is_some() {
            return None;
        }
        self.due = false;
        self.sent += 1;
        Some(binding_request(self.transaction))
    }

    /// When [`Binding::handle_timeout`] must next be called; `None` once finished.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.result.is_some() {
            return None;
        }
        SCHEDULE.get(self.sent).map(|d| self.start + *d)
    }

    /// Time passes: a retransmission falls due, or the binding times out.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(at) = self.poll_timeout() else {
            return;
        };
        if now < at {
            return;
        }
        if self.sent + 1 >= SCHEDULE.len() {
            self.result = Some(Err(StunError::Timeout));
        } else {
            self.due = true;
        }
    }

    /// A datagram arrived on the socket: `true` if it was this binding's answer (then
    /// [`Binding::result`] is set); other datagrams are the caller's.
    pub fn handle_input(&mut self, datagram: &[u8]) -> bool {
        if self.result.is_some() {
            return false;
        }
        match parse_binding_response(datagram, &self.transaction) {
            Some(r) => {
                self.result = Some(r);
                true
            }
            None => false,
        }
    }

    /// The outcome, once there is one.
    #[must_use]
    pub fn result(&self) -> Option<&Result<SocketAddr, StunError>> {
        self.result.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TX: [u8; 12] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

    /// Any instant will do: the binding only measures from its start.
    #[allow(clippy::disallowed_methods)]
    fn t0() -> Instant {
        Instant::now()
    }

    fn response(kind: u16, attrs: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (t, v) in attrs {
            body.extend_from_slice(&t.to_be_bytes());
            body.extend_from_slice(&u16::try_from(v.len()).unwrap().to_be_bytes());
            body.extend_from_slice(v);
            body.resize(body.len().next_multiple_of(4), 0);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        out.extend_from_slice(&TX);
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn the_request_is_a_bare_binding_with_the_cookie_and_transaction() {
        let r = binding_request(TX);
        assert_eq!(r.len(), 20);
        assert_eq!(&r[..4], &[0, 1, 0, 0]);
        assert!(is_stun(&r));
        assert!(!is_stun(b"OPTIONS sip:x SIP/2.0\r\n\r\n"));
    }

    /// RFC 5769 §2.2: the IPv4 sample response (192.0.2.1:32853), its attributes as
    /// published (SOFTWARE, XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY, FINGERPRINT).
    #[test]
    fn rfc5769_sample_ipv4_response_is_read() {
        let hex = "0101003c2112a442b7e7a701bc34d686fa87dfae\
                   8022000b7465737420766563746f7220\
                   002000080001a147e112a643\
                   000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7\
                   80280004c07d4c96";
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let mut tx = [0u8; 12];
        tx.copy_from_slice(&bytes[8..20]);
        assert_eq!(
            parse_binding_response(&bytes, &tx),
            Some(Ok("192.0.2.1:32853".parse().unwrap()))
        );
        assert_eq!(
            parse_binding_response(&bytes, &TX),
            None,
            "another transaction"
        );
    }

    #[test]
    fn ipv6_xor_mapped_and_plain_mapped_addresses_are_read() {
        let ip: Ipv6Addr = "2001:db8:1234:5678:11:2233:4455:6677".parse().unwrap();
        let mut v = vec![0, 2];
        v.extend_from_slice(&(40_000u16 ^ 0x2112).to_be_bytes());
        let key: Vec<u8> = MAGIC_COOKIE.to_be_bytes().into_iter().chain(TX).collect();
        v.extend(ip.octets().iter().zip(&key).map(|(a, k)| a ^ k));
        let r = response(BINDING_SUCCESS, &[(ATTR_XOR_MAPPED_ADDRESS, v)]);
        assert_eq!(
            parse_binding_response(&r, &TX),
            Some(Ok(SocketAddr::new(ip.into(), 40_000)))
        );
        let plain = response(
            BINDING_SUCCESS,
            &[(ATTR_MAPPED_ADDRESS, vec![0, 1, 0x13, 0x88, 203, 0, 113, 7])],
        );
        assert_eq!(
            parse_binding_response(&plain, &TX),
            Some(Ok("203.0.113.7:5000".parse().unwrap()))
        );
    }

    #[test]
    fn errors_and_empty_answers_are_reported_and_garbage_is_not_an_answer() {
        let e = response(
            BINDING_ERROR,
            &[(ATTR_ERROR_CODE, b"\0\0\x04\x14Unknown Attribute".to_vec())],
        );
        assert_eq!(
            parse_binding_response(&e, &TX),
            Some(Err(StunError::Rejected {
                code: 420,
                reason: "Unknown Attribute".into()
            }))
        );
        let empty = response(BINDING_SUCCESS, &[]);
        assert_eq!(
            parse_binding_response(&empty, &TX),
            Some(Err(StunError::NoAddress))
        );
        // A length beyond the datagram, a truncated attribute, an odd family: no panic.
        let mut long = response(BINDING_SUCCESS, &[]);
        long[3] = 200;
        assert_eq!(parse_binding_response(&long, &TX), None);
        let cut = response(
            BINDING_SUCCESS,
            &[(ATTR_XOR_MAPPED_ADDRESS, vec![0, 9, 1, 2, 3])],
        );
        assert_eq!(
            parse_binding_response(&cut, &TX),
            Some(Err(StunError::NoAddress))
        );
        for n in 0..30 {
            let junk: Vec<u8> = (0..n).map(|i| (i * 37) as u8).collect();
            let _ = parse_binding_response(&junk, &TX);
        }
    }

    #[test]
    fn requests_go_at_0_500_1500_ms_and_the_binding_fails_at_3500_ms() {
        let t0 = t0();
        let mut b = Binding::new(t0, TX);
        let mut sent = Vec::new();
        let mut now = t0;
        while b.result().is_none() {
            while b.poll_transmit().is_some() {
                sent.push(now.duration_since(t0).as_millis());
            }
            now = b.poll_timeout().unwrap();
            b.handle_timeout(now);
        }
        assert_eq!(sent, vec![0, 500, 1500]);
        assert_eq!(now.duration_since(t0).as_millis(), 3500);
        assert_eq!(b.result(), Some(&Err(StunError::Timeout)));
        assert_eq!(b.poll_timeout(), None);
    }

    #[test]
    fn an_answer_ends_the_binding_and_other_datagrams_are_left_alone() {
        let t0 = t0();
        let mut b = Binding::new(t0, TX);
        assert!(b.poll_transmit().is_some());
        assert!(!b.handle_input(b"SIP/2.0 200 OK\r\n\r\n"));
        let ok = response(
            BINDING_SUCCESS,
            &[(ATTR_MAPPED_ADDRESS, vec![0, 1, 0x13, 0x88, 203, 0, 113, 7])],
        );
        assert!(b.handle_input(&ok));
        assert_eq!(b.result(), Some(&Ok("203.0.113.7:5000".parse().unwrap())));
        assert_eq!(b.poll_timeout(), None);
        assert!(b.poll_transmit().is_none());
        assert!(
            !b.handle_input(&ok),
            "a retransmitted answer is not taken twice"
        );
    }

    proptest::proptest! {
        /// Whatever a server (or anyone) sends: an answer, `None` or an error, never a panic.
        #[test]
        fn any_datagram_is_read_without_panic(
            kind in proptest::sample::select(vec![BINDING_SUCCESS, BINDING_ERROR, 0x0113]),
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
            claimed in 0u16..300,
        ) {
            let mut d = response(kind, &[]);
            d[2..4].copy_from_slice(&claimed.to_be_bytes());
            d.extend_from_slice(&body);
            let _ = parse_binding_response(&d, &TX);
            let _ = parse_binding_response(&body, &TX);
        }
    }
}
