//! Engine behaviour at its boundary: bytes in, transmits out, time injected.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hasip_sip::message::{HeaderName, Message};
use hasip_sip::transport::{ConnectionId, Peer, Transport};

use super::{Config, Engine, Output};

/// A fixed origin for virtual time; tests never depend on the real clock's value.
#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

fn udp(port: u16) -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        connection: None,
    }
}

fn request(method_line: &str, cseq_method: &str, extra: &str) -> Bytes {
    Bytes::from(format!(
        "{method_line}\r\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-t1;rport\r\n\
From: <sip:probe@127.0.0.1>;tag=f1\r\nTo: <sip:gw@127.0.0.1>\r\nCall-ID: c1@127.0.0.1\r\n\
CSeq: 7 {cseq_method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
    ))
}

/// Feeds one message and returns the single response it produced (or None).
fn exchange(engine: &mut Engine, from: Peer, data: Bytes) -> Option<(Peer, Message)> {
    engine.handle_sip(t0(), from, data);
    let out = engine.poll_output();
    assert_eq!(
        engine.poll_output(),
        None,
        "one message, at most one answer"
    );
    out.map(|o| match o {
        Output::Transmit(t) => (
            t.to,
            Message::parse(t.payload).expect("our own output parses"),
        ),
    })
}

#[test]
fn options_gets_200_with_capabilities() {
    let mut e = Engine::new(Config::default(), 1);
    let (to, resp) = exchange(
        &mut e,
        udp(40000),
        request("OPTIONS sip:gw@127.0.0.1 SIP/2.0", "OPTIONS", ""),
    )
    .expect("answered");
    assert_eq!(to, udp(40000), "rport: back to the source port");
    assert_eq!(resp.status(), Some(200));
    assert_eq!(resp.call_id(), Some("c1@127.0.0.1"));
    assert_eq!(resp.header(HeaderName::CSeq), Some("7 OPTIONS"));
    let allow: Vec<_> = resp.tokens(HeaderName::Allow).collect();
    assert!(
        allow.contains(&"OPTIONS") && allow.contains(&"BYE"),
        "{allow:?}"
    );
    assert_eq!(resp.header(HeaderName::Accept), Some("application/sdp"));
    assert!(resp.header(HeaderName::Supported).is_some());
    assert!(
        resp.to().unwrap().unwrap().tag().is_some(),
        "a To tag is added"
    );
    assert!(
        resp.header(HeaderName::Server)
            .unwrap()
            .starts_with("ha-sip-rs/")
    );
}

#[test]
fn unknown_method_gets_501_and_known_unhandled_gets_405() {
    let mut e = Engine::new(Config::default(), 1);
    let (_, r) = exchange(
        &mut e,
        udp(1),
        request("FOOBAR sip:gw@127.0.0.1 SIP/2.0", "FOOBAR", ""),
    )
    .unwrap();
    assert_eq!(r.status(), Some(501));
    let (_, r) = exchange(
        &mut e,
        udp(1),
        request("SUBSCRIBE sip:gw@127.0.0.1 SIP/2.0", "SUBSCRIBE", ""),
    )
    .unwrap();
    assert_eq!(r.status(), Some(405));
    assert!(r.header(HeaderName::Allow).is_some());
}

#[test]
fn broken_header_gets_400_naming_it() {
    let mut e = Engine::new(Config::default(), 1);
    let (_, r) = exchange(
        &mut e,
        udp(1),
        request(
            "OPTIONS sip:gw@127.0.0.1 SIP/2.0",
            "OPTIONS",
            "Max-Forwards: many\r\n",
        ),
    )
    .unwrap();
    assert_eq!(r.status(), Some(400));
    assert!(
        r.reason().unwrap().contains("Max-Forwards"),
        "{:?}",
        r.reason()
    );
}

#[test]
fn ack_and_responses_are_never_answered() {
    let mut e = Engine::new(Config::default(), 1);
    assert!(
        exchange(
            &mut e,
            udp(1),
            request("ACK sip:gw@127.0.0.1 SIP/2.0", "ACK", "")
        )
        .is_none()
    );
    let resp = Bytes::from_static(
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\n\
To: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(exchange(&mut e, udp(1), resp).is_none());
    assert!(exchange(&mut e, udp(1), Bytes::from_static(b"\x00\x01garbage")).is_none());
}

#[test]
fn bye_and_cancel_without_dialog_get_481() {
    let mut e = Engine::new(Config::default(), 1);
    let (_, r) = exchange(
        &mut e,
        udp(1),
        request("BYE sip:gw@127.0.0.1 SIP/2.0", "BYE", ""),
    )
    .unwrap();
    assert_eq!(r.status(), Some(481));
}

#[test]
fn stream_responses_use_the_same_connection() {
    let mut e = Engine::new(Config::default(), 1);
    let peer = Peer {
        transport: Transport::Tcp,
        addr: SocketAddr::from(([127, 0, 0, 1], 40001)),
        connection: Some(ConnectionId(9)),
    };
    let (to, _) = exchange(
        &mut e,
        peer,
        request("OPTIONS sip:gw@127.0.0.1 SIP/2.0", "OPTIONS", ""),
    )
    .unwrap();
    assert_eq!(to, peer);
}

#[test]
fn drop_warnings_are_rate_limited_per_source() {
    let mut e = Engine::new(Config::default(), 1);
    let t0 = t0();
    let src = udp(5);
    for i in 0..5 {
        e.handle_sip(
            t0 + Duration::from_millis(i),
            src,
            Bytes::from_static(b"junk"),
        );
    }
    assert_eq!(e.drops.suppressed(src.addr.ip()), Some(4));
    e.handle_sip(
        t0 + Duration::from_secs(11),
        src,
        Bytes::from_static(b"junk"),
    );
    assert_eq!(e.drops.suppressed(src.addr.ip()), Some(0));
}

#[test]
fn same_seed_same_bytes() {
    let run = || {
        let mut e = Engine::new(Config::default(), 42);
        e.handle_sip(
            t0(),
            udp(1),
            request("OPTIONS sip:gw@127.0.0.1 SIP/2.0", "OPTIONS", ""),
        );
        e.poll_output()
    };
    assert_eq!(run(), run());
}

#[test]
fn requests_with_unreadable_via_are_dropped() {
    let mut e = Engine::new(Config::default(), 1);
    let req = request("OPTIONS sip:gw@127.0.0.1 SIP/2.0", "OPTIONS", "")
        .as_ref()
        .to_vec();
    let text = String::from_utf8(req)
        .unwrap()
        .replace("SIP/2.0/UDP 127.0.0.1:5080", "garbage");
    assert!(exchange(&mut e, udp(1), Bytes::from(text)).is_none());
}
