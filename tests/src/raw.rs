//! A raw SIP client for black-box checks that need exact bytes: send one message over UDP
//! or TCP and read back what comes, with a deadline.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// Fills the `{port}` placeholder with the local port and sends over UDP; returns the first
/// answer that is not a `100 Trying`, or `None` when nothing comes within `timeout`.
pub fn udp_exchange(target: SocketAddr, message: &str, timeout: Duration) -> Option<String> {
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).ok()?;
    let port = sock.local_addr().ok()?.port();
    let payload = message.replace("{port}", &port.to_string());
    sock.send_to(payload.as_bytes(), target).ok()?;
    first_answer(&sock, timeout)
}

fn first_answer(sock: &UdpSocket, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; 65_536];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        sock.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        let (n, _) = sock.recv_from(&mut buf).ok()?;
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if !text.starts_with("SIP/2.0 100 ") {
            return Some(text);
        }
    }
}

/// What came back over a TCP connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpOutcome {
    /// A response (its head), the first that is not a `100 Trying`.
    Answer(String),
    /// The peer closed the connection (or reset it) without a response.
    Closed,
    /// Nothing within the timeout, and the connection still open.
    TimedOut,
    /// The connection could not be made or written to.
    Failed(String),
}

/// Sends `message` (with `{port}` filled in) over a fresh TCP connection and tells an
/// answer, a close and a timeout apart.
pub fn tcp_request(target: SocketAddr, message: &str, timeout: Duration) -> TcpOutcome {
    let mut s = match TcpStream::connect_timeout(&target, timeout) {
        Ok(s) => s,
        Err(e) => return TcpOutcome::Failed(format!("connect: {e}")),
    };
    let port = match s.local_addr() {
        Ok(a) => a.port(),
        Err(e) => return TcpOutcome::Failed(format!("local address: {e}")),
    };
    let payload = message.replace("{port}", &port.to_string());
    send_and_read(&mut s, payload.as_bytes(), timeout)
}

/// Sends `payload` exactly as given over a fresh TCP connection; as [`tcp_request`].
pub fn tcp_request_bytes(target: SocketAddr, payload: &[u8], timeout: Duration) -> TcpOutcome {
    match TcpStream::connect_timeout(&target, timeout) {
        Ok(mut s) => send_and_read(&mut s, payload, timeout),
        Err(e) => TcpOutcome::Failed(format!("connect: {e}")),
    }
}

fn send_and_read(s: &mut TcpStream, payload: &[u8], timeout: Duration) -> TcpOutcome {
    if let Err(e) = s.write_all(payload) {
        return TcpOutcome::Failed(format!("write: {e}"));
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + timeout;
    loop {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return TcpOutcome::TimedOut;
        };
        if s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .is_err()
        {
            return TcpOutcome::Failed("set_read_timeout".into());
        }
        match s.read(&mut buf) {
            Ok(0) => return TcpOutcome::Closed,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return TcpOutcome::TimedOut;
            }
            Err(_) => return TcpOutcome::Closed,
        }
        while let Some(end) = find(&got, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).into_owned();
            if !head.starts_with("SIP/2.0 100 ") {
                return TcpOutcome::Answer(head + "\r\n\r\n");
            }
            got.drain(..end + 4);
        }
    }
}

/// Like [`udp_exchange`], over a fresh TCP connection: the answer, or `None` for a close,
/// a timeout or a failure ([`tcp_request`] tells them apart).
pub fn tcp_exchange(target: SocketAddr, message: &str, timeout: Duration) -> Option<String> {
    match tcp_request(target, message, timeout) {
        TcpOutcome::Answer(a) => Some(a),
        _ => None,
    }
}

/// A TCP connection to `target` from the address `source` (another loopback address stands
/// for another host).
///
/// # Errors
/// When the socket cannot be bound or the connection is not made within `timeout`.
pub fn tcp_connect_from(
    source: IpAddr,
    target: SocketAddr,
    timeout: Duration,
) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::for_address(target), Type::STREAM, None)?;
    s.bind(&SocketAddr::new(source, 0).into())?;
    s.connect_timeout(&target.into(), timeout)?;
    Ok(s.into())
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// An OPTIONS request; `{port}` is filled in with the sender's port.
pub fn options(target: SocketAddr, transport: &str, call_id: &str) -> String {
    format!(
        "OPTIONS sip:probe@{target} SIP/2.0\r\n\
Via: SIP/2.0/{transport} 127.0.0.1:{{port}};branch=z9hG4bK-{call_id};rport\r\n\
From: <sip:probe@127.0.0.1>;tag={call_id}\r\nTo: <sip:hasip@{target}>\r\n\
Call-ID: {call_id}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n\
Contact: <sip:probe@127.0.0.1:{{port}}>\r\nContent-Length: 0\r\n\r\n"
    )
}

/// The status code of a response text.
pub fn status(response: &str) -> Option<u16> {
    response.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

/// The value of the first header `name` (case-insensitive) in a response text.
pub fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    response.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Registers `user` at `registrar` (answering its digest challenge) with a Contact at
/// 127.0.0.1:`contact_port`, so that calls to `user` reach whatever listens there.
/// Returns the final status code.
pub fn register(
    registrar: SocketAddr,
    user: &str,
    password: &str,
    contact_port: u16,
    expires: u32,
) -> Option<u16> {
    use hasip_sip::digest::{Challenge, RequestParts, authorization};
    use hasip_sip::message::{HeaderName, Message};

    let ruri = format!("sip:{registrar}");
    let build = |cseq: u32, auth: Option<String>| {
        let mut m = format!(
            "REGISTER {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{{port}};branch=z9hG4bK-reg{cseq}-{user};rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:{user}@test.local>;tag=reg-{user}\r\nTo: <sip:{user}@test.local>\r\n\
Call-ID: reg-{user}-{contact_port}@127.0.0.1\r\nCSeq: {cseq} REGISTER\r\n\
Contact: <sip:{user}@127.0.0.1:{contact_port}>\r\nExpires: {expires}\r\n"
        );
        if let Some(a) = auth {
            m.push_str(&format!("Authorization: {a}\r\n"));
        }
        m.push_str("Content-Length: 0\r\n\r\n");
        m
    };
    let first = udp_exchange(registrar, &build(1, None), Duration::from_secs(3))?;
    if status(&first) != Some(401) {
        return status(&first);
    }
    let msg = Message::parse(bytes::Bytes::from(first)).ok()?;
    let challenge = Challenge::choose(
        msg.challenges(HeaderName::WwwAuthenticate)
            .filter_map(Result::ok),
    )
    .ok()?;
    let auth = authorization(
        &challenge,
        user,
        password,
        RequestParts {
            method: "REGISTER",
            uri: &ruri,
            body: b"",
        },
        1,
        "0a4f113b",
    );
    let second = udp_exchange(registrar, &build(2, Some(auth)), Duration::from_secs(3))?;
    status(&second)
}
