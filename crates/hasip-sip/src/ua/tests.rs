//! The user agent driven by a scripted peer in virtual time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::digest::Challenge;
use crate::message::{AuthParams, HeaderName, Message, Method};
use crate::transport::{Peer, Transport};

#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

const GW: &str = "127.0.0.1:5060";
const REGISTRAR: &str = "127.0.0.1:5070";

fn peer() -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: REGISTRAR.parse().unwrap(),
        connection: None,
    }
}

struct H {
    ua: UserAgent,
    base: Instant,
    now: Instant,
}

fn account(registrar: Option<&str>) -> AccountConfig {
    AccountConfig {
        id_uri: "sip:hasip@test.local".into(),
        registrar: registrar.map(str::to_owned),
        proxy: None,
        credentials: Credentials {
            username: "hasip".into(),
            password: "secret".into(),
            realm: "*".into(),
        },
        expires: 300,
        keepalive: None,
        allow_calls_from: None,
        headers: Vec::new(),
        can_be_called: true,
        nat: NatRewrite::default(),
    }
}

impl H {
    fn new(accounts: Vec<AccountConfig>) -> Self {
        let base = t0();
        let cfg = UaConfig {
            user_agent: "ha-sip-rs/test".into(),
            local: vec![(Transport::Udp, GW.parse().unwrap())],
            timers: TimerConfig::default(),
            accounts,
            call_rate: crate::admission::CallRate::default(),
        };
        Self {
            ua: UserAgent::new(cfg, 7),
            base,
            now: base,
        }
    }

    fn at(&mut self, ms: u64) {
        self.now = self.base + Duration::from_millis(ms);
        self.ua.handle_timeout(self.now);
    }

    fn sent(&mut self) -> Vec<Message> {
        let mut out = Vec::new();
        while let Some(t) = self.ua.poll_transmit() {
            out.push(Message::parse(t.payload).expect("we send parseable messages"));
        }
        out
    }

    fn one(&mut self) -> Message {
        let mut s = self.sent();
        assert_eq!(
            s.len(),
            1,
            "expected one message, got {:?}",
            s.iter().map(line).collect::<Vec<_>>()
        );
        s.remove(0)
    }

    fn events(&mut self) -> Vec<UaEvent> {
        let mut out = Vec::new();
        while let Some(e) = self.ua.poll_event() {
            out.push(e);
        }
        out
    }

    fn recv(&mut self, text: &str) {
        let data = Bytes::from(text.replace('\n', "\r\n"));
        self.ua.handle_datagram(self.now, peer(), data);
    }
}

fn line(m: &Message) -> String {
    match m.method() {
        Some(meth) => format!("{meth} {}", m.request_uri_str().unwrap_or("")),
        None => format!("{} {}", m.status().unwrap_or(0), m.reason().unwrap_or("")),
    }
}

/// A response to `req` as a registrar or phone would send it.
fn answer(req: &Message, code: u16, reason: &str, extra: &str, to_tag: Option<&str>) -> String {
    let mut s = format!("SIP/2.0 {code} {reason}\n");
    for v in req.header_all(HeaderName::Via) {
        s += &format!("Via: {v};received=127.0.0.1\n");
    }
    s += &format!("From: {}\n", req.header(HeaderName::From).unwrap());
    let to = req.header(HeaderName::To).unwrap();
    match to_tag {
        Some(t) if !to.contains("tag=") => s += &format!("To: {to};tag={t}\n"),
        _ => s += &format!("To: {to}\n"),
    }
    s += &format!(
        "Call-ID: {}\nCSeq: {}\n{extra}Content-Length: 0\n\n",
        req.call_id().unwrap(),
        req.header(HeaderName::CSeq).unwrap()
    );
    s
}

const CHALLENGE: &str =
    "WWW-Authenticate: Digest realm=\"test.local\", nonce=\"n1\", qop=\"auth\", algorithm=MD5\n";

#[test]
fn registers_with_digest_and_refreshes_before_expiry() {
    let mut h = H::new(vec![account(Some("sip:127.0.0.1:5070"))]);
    h.ua.register(h.now, AccountId(0)).unwrap();
    let r1 = h.one();
    assert_eq!(line(&r1), "REGISTER sip:127.0.0.1:5070");
    assert_eq!(r1.header(HeaderName::Expires), Some("300"));
    assert_eq!(
        r1.header(HeaderName::Contact),
        Some("<sip:hasip@127.0.0.1:5060>")
    );
    h.recv(&answer(&r1, 401, "Unauthorized", CHALLENGE, Some("srv")));
    let r2 = h.one();
    assert_eq!(r2.call_id(), r1.call_id(), "one Call-ID per binding");
    assert_eq!(
        r2.cseq().unwrap().unwrap().seq,
        r1.cseq().unwrap().unwrap().seq + 1
    );
    let auth =
        AuthParams::parse(r2.header(HeaderName::Authorization).expect("credentials")).unwrap();
    assert_eq!(auth.get("username").as_deref(), Some("hasip"));
    assert_eq!(auth.get("nc").as_deref(), Some("00000001"));
    // The digest is right: recompute it as the registrar would.
    let ch = Challenge::parse(
        &AuthParams::parse(CHALLENGE.trim_start_matches("WWW-Authenticate: ").trim()).unwrap(),
    )
    .unwrap();
    let expected = crate::digest::authorization(
        &ch,
        "hasip",
        "secret",
        crate::digest::RequestParts {
            method: "REGISTER",
            uri: "sip:127.0.0.1:5070",
            body: b"",
        },
        1,
        &auth.get("cnonce").unwrap(),
    );
    assert!(expected.contains(&format!("response=\"{}\"", auth.get("response").unwrap())));
    h.recv(&answer(
        &r2,
        200,
        "OK",
        "Contact: <sip:hasip@127.0.0.1:5060>;expires=120\n",
        Some("srv"),
    ));
    assert!(matches!(
        h.events().as_slice(),
        [UaEvent::Registration {
            state: RegistrationState::Registered { expires: 120 },
            ..
        }]
    ));
    assert!(h.ua.is_registered(AccountId(0)));
    // Refresh 12 s (a tenth, at least 5 s) before expiry: at 108 s, not earlier.
    h.at(107_999);
    assert!(
        h.sent()
            .iter()
            .all(|m| m.method() != Some(&Method::Register))
    );
    h.at(108_000);
    let r3 = h.one();
    assert_eq!(r3.call_id(), r1.call_id());
    let auth3 =
        AuthParams::parse(r3.header(HeaderName::Authorization).expect("nonce reused")).unwrap();
    assert_eq!(auth3.get("nc").as_deref(), Some("00000002"));
}

#[test]
fn wrong_password_fails_once_and_backs_off_instead_of_looping() {
    let mut h = H::new(vec![account(Some("sip:127.0.0.1:5070"))]);
    h.ua.register(h.now, AccountId(0)).unwrap();
    let r1 = h.one();
    h.recv(&answer(&r1, 401, "Unauthorized", CHALLENGE, Some("srv")));
    let r2 = h.one();
    h.recv(&answer(
        &r2,
        401,
        "Unauthorized",
        &CHALLENGE.replace("n1", "n2"),
        Some("srv"),
    ));
    assert!(h.sent().is_empty(), "no third attempt right away");
    let ev = h.events();
    let [
        UaEvent::Registration {
            state:
                RegistrationState::Failed {
                    code: 401,
                    retry_in,
                    reason,
                },
            ..
        },
    ] = ev.as_slice()
    else {
        panic!("{ev:?}");
    };
    assert!(reason.contains("authentication failed"), "{reason}");
    assert!((30..40).contains(retry_in), "{retry_in}");
    // Nothing until the backoff ends, then one fresh attempt.
    h.at(u64::from(*retry_in) * 1000 - 1);
    assert!(
        h.sent()
            .iter()
            .all(|m| m.method() != Some(&Method::Register))
    );
    h.at(u64::from(*retry_in) * 1000);
    assert!(
        h.sent()
            .iter()
            .any(|m| m.method() == Some(&Method::Register))
    );
}

#[test]
fn stale_nonce_is_answered_at_once_without_counting_a_failure() {
    let mut h = H::new(vec![account(Some("sip:127.0.0.1:5070"))]);
    h.ua.register(h.now, AccountId(0)).unwrap();
    let r1 = h.one();
    h.recv(&answer(&r1, 401, "Unauthorized", CHALLENGE, Some("srv")));
    let r2 = h.one();
    h.recv(&answer(
        &r2,
        401,
        "Unauthorized",
        &CHALLENGE.replace("n1\"", "n2\", stale=true"),
        Some("srv"),
    ));
    let r3 = h.one();
    assert!(
        r3.header(HeaderName::Authorization)
            .unwrap()
            .contains("nonce=\"n2\"")
    );
    h.recv(&answer(&r3, 200, "OK", "Expires: 300\n", Some("srv")));
    assert!(matches!(
        h.events().as_slice(),
        [UaEvent::Registration {
            state: RegistrationState::Registered { expires: 300 },
            ..
        }]
    ));
}

#[test]
fn interval_too_brief_and_retry_after_are_honoured() {
    let mut h = H::new(vec![account(Some("sip:127.0.0.1:5070"))]);
    h.ua.register(h.now, AccountId(0)).unwrap();
    let r1 = h.one();
    h.recv(&answer(
        &r1,
        423,
        "Interval Too Brief",
        "Min-Expires: 600\n",
        Some("srv"),
    ));
    let r2 = h.one();
    assert_eq!(r2.header(HeaderName::Expires), Some("600"));
    h.recv(&answer(
        &r2,
        503,
        "Service Unavailable",
        "Retry-After: 120\n",
        Some("srv"),
    ));
    assert!(matches!(
        h.events().as_slice(),
        [UaEvent::Registration {
            state: RegistrationState::Failed {
                code: 503,
                retry_in: 120,
                ..
            },
            ..
        }]
    ));
    h.at(119_999);
    assert!(h.sent().is_empty());
    h.at(120_000);
    assert_eq!(h.sent().len(), 1);
}

#[test]
fn registrar_silence_is_a_408_failure_after_timer_f() {
    let mut h = H::new(vec![account(Some("sip:127.0.0.1:5070"))]);
    h.ua.register(h.now, AccountId(0)).unwrap();
    h.one();
    h.at(31_999);
    assert!(h.events().is_empty());
    h.at(32_000);
    assert!(matches!(
        h.events().as_slice(),
        [UaEvent::Registration {
            state: RegistrationState::Failed { code: 408, .. },
            ..
        }]
    ));
}

#[test]
fn unregister_sends_expires_zero() {
    let mut h = H::new(vec![account(Some("sip:127.0.0.1:5070"))]);
    h.ua.register(h.now, AccountId(0)).unwrap();
    let r1 = h.one();
    h.recv(&answer(&r1, 200, "OK", "Expires: 300\n", Some("srv")));
    h.events();
    h.ua.unregister(h.now, AccountId(0)).unwrap();
    let r2 = h.one();
    assert_eq!(r2.header(HeaderName::Expires), Some("0"));
    assert!(h.ua.has_pending_requests());
    h.recv(&answer(&r2, 200, "OK", "", Some("srv")));
    assert!(matches!(
        h.events().as_slice(),
        [UaEvent::Registration {
            state: RegistrationState::Unregistered,
            ..
        }]
    ));
    assert!(!h.ua.has_pending_requests());
}

#[test]
fn registrar_host_names_are_resolved_by_the_shell() {
    let mut h = H::new(vec![account(Some("sip:registrar.test:5070"))]);
    h.ua.register(h.now, AccountId(0)).unwrap();
    assert!(h.sent().is_empty());
    assert!(
        matches!(h.events().as_slice(), [UaEvent::ResolveHost { host, srv: None }] if host == "registrar.test"),
        "a URI with a port is looked up without SRV (RFC 3263 §4.2)"
    );
    h.ua.handle_resolved(
        h.now,
        "registrar.test",
        Some(("127.0.0.1".parse().unwrap(), None)),
    );
    let mut t = Vec::new();
    while let Some(x) = h.ua.poll_transmit() {
        t.push(x);
    }
    assert_eq!(t.len(), 1);
    assert_eq!(
        t[0].to.addr,
        "127.0.0.1:5070".parse::<SocketAddr>().unwrap()
    );
}

#[test]
fn a_registrar_without_a_port_is_looked_up_by_srv_and_its_port_used() {
    let mut h = H::new(vec![
        account(Some("sip:pbx.test")),
        account(Some("sip:pbx2.test;transport=tls")),
    ]);
    h.ua.register(h.now, AccountId(0)).unwrap();
    h.ua.register(h.now, AccountId(1)).unwrap();
    let ev = h.events();
    assert!(
        matches!(ev.as_slice(), [
            UaEvent::ResolveHost { host: a, srv: Some("_sip._udp") },
            UaEvent::ResolveHost { host: b, srv: Some("_sips._tcp") },
        ] if a == "pbx.test" && b == "pbx2.test"),
        "{ev:?}"
    );
    h.ua.handle_resolved(
        h.now,
        "pbx.test",
        Some(("127.0.0.2".parse().unwrap(), Some(5080))),
    );
    let t = h.ua.poll_transmit().expect("REGISTER");
    assert_eq!(t.to.addr, "127.0.0.2:5080".parse::<SocketAddr>().unwrap());
    // No SRV record: the transport's default port.
    h.ua.handle_resolved(
        h.now,
        "pbx2.test",
        Some(("127.0.0.3".parse().unwrap(), None)),
    );
    let t = h.ua.poll_transmit().expect("REGISTER");
    assert_eq!(t.to.addr, "127.0.0.3:5061".parse::<SocketAddr>().unwrap());
}

const INVITE: &str = "INVITE sip:hasip@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKin1;rport
From: \"Door\" <sip:door@127.0.0.1:5070>;tag=caller1
To: <sip:hasip@127.0.0.1:5060>
Call-ID: in-1@127.0.0.1
CSeq: 20 INVITE
Contact: <sip:door@127.0.0.1:5070>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: 4

v=0
";

fn incoming(h: &mut H) -> CallRef {
    h.recv(INVITE);
    let ev = h.events();
    let [UaEvent::IncomingCall { call, invite, .. }] = ev.as_slice() else {
        panic!("{ev:?}");
    };
    assert_eq!(invite.call_id(), Some("in-1@127.0.0.1"));
    *call
}

fn in_dialog(method: &str, to_tag: &str, cseq: u32, branch: &str) -> String {
    format!(
        "{method} sip:hasip@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5070;branch={branch};rport
From: \"Door\" <sip:door@127.0.0.1:5070>;tag=caller1
To: <sip:hasip@127.0.0.1:5060>;tag={to_tag}
Call-ID: in-1@127.0.0.1
CSeq: {cseq} {method}
Max-Forwards: 70
Content-Length: 0

"
    )
}

#[test]
fn incoming_call_rings_answers_retransmits_2xx_until_ack_and_ends_on_bye() {
    let mut h = H::new(vec![account(None)]);
    let call = incoming(&mut h);
    h.ua.ring(h.now, call).unwrap();
    let ringing = h.one();
    assert_eq!(line(&ringing), "180 Ringing");
    let tag = ringing.to().unwrap().unwrap().tag().unwrap().to_owned();
    h.ua.accept(h.now, call, Bytes::from_static(b"v=0\r\n"))
        .unwrap();
    let ok = h.one();
    assert_eq!(line(&ok), "200 OK");
    assert_eq!(
        ok.to().unwrap().unwrap().tag(),
        Some(tag.as_str()),
        "same tag as the 180"
    );
    assert_eq!(
        ok.header(HeaderName::Contact),
        Some("<sip:hasip@127.0.0.1:5060>")
    );
    assert_eq!(ok.body().as_ref(), b"v=0\r\n");
    // 2xx retransmissions: 500 ms, then 1 s later.
    h.at(499);
    assert!(h.sent().is_empty());
    h.at(500);
    assert_eq!(line(&h.one()), "200 OK");
    h.at(1_500);
    assert_eq!(line(&h.one()), "200 OK");
    h.recv(&in_dialog("ACK", &tag, 20, "z9hG4bKack1"));
    assert!(matches!(h.events().as_slice(), [UaEvent::Confirmed { call: c }] if *c == call));
    h.at(3_500);
    assert!(h.sent().is_empty(), "no retransmission after the ACK");
    h.recv(&in_dialog("INFO", &tag, 21, "z9hG4bKinfo1").replace("Content-Length: 0", "Content-Type: application/dtmf-relay\nContent-Length: 24\n\nSignal=5\r\nDuration=160\r\n").replace("\n\n\n", "\n\n"));
    assert_eq!(line(&h.one()), "200 OK");
    let ev = h.events();
    assert!(
        matches!(ev.as_slice(), [UaEvent::Info { content_type, body, .. }] if content_type == "application/dtmf-relay" && body.starts_with(b"Signal=5")),
        "{ev:?}"
    );
    h.recv(&in_dialog("BYE", &tag, 22, "z9hG4bKbye1"));
    assert_eq!(line(&h.one()), "200 OK");
    assert!(matches!(
        h.events().as_slice(),
        [UaEvent::Ended {
            reason: EndReason::RemoteBye,
            ..
        }]
    ));
}

#[test]
fn caller_cancel_while_ringing_gets_200_and_487() {
    let mut h = H::new(vec![account(None)]);
    let call = incoming(&mut h);
    h.ua.ring(h.now, call).unwrap();
    h.one();
    let cancel = INVITE
        .replace("INVITE sip:", "CANCEL sip:")
        .replace("CSeq: 20 INVITE", "CSeq: 20 CANCEL")
        .replace(
            "Content-Type: application/sdp\nContent-Length: 4\n\nv=0\n",
            "Content-Length: 0\n\n",
        );
    h.recv(&cancel);
    let sent: Vec<String> = h.sent().iter().map(line).collect();
    assert_eq!(sent, vec!["200 OK", "487 Request Terminated"]);
    assert!(matches!(
        h.events().as_slice(),
        [UaEvent::Ended {
            reason: EndReason::Cancelled,
            ..
        }]
    ));
    assert_eq!(
        h.ua.accept(h.now, call, Bytes::new()),
        Err(CommandError::WrongState("not ringing"))
    );
}

#[test]
fn a_2xx_never_acknowledged_ends_the_call_with_bye_after_64_t1() {
    let mut h = H::new(vec![account(None)]);
    let call = incoming(&mut h);
    h.ua.accept(h.now, call, Bytes::from_static(b"v=0\r\n"))
        .unwrap();
    h.sent();
    h.at(31_999);
    h.sent();
    assert!(h.events().is_empty());
    h.at(32_000);
    let sent: Vec<String> = h.sent().iter().map(line).collect();
    assert_eq!(sent, vec!["BYE sip:door@127.0.0.1:5070"]);
    assert!(matches!(
        h.events().as_slice(),
        [UaEvent::Ended {
            reason: EndReason::Timeout,
            ..
        }]
    ));
}

#[test]
fn requests_for_unknown_dialogs_get_481() {
    let mut h = H::new(vec![account(None)]);
    h.recv(&in_dialog("BYE", "nosuchtag", 5, "z9hG4bKx"));
    assert_eq!(line(&h.one()), "481 Call/Transaction Does Not Exist");
}

fn dial(h: &mut H) -> (CallRef, Message) {
    let call =
        h.ua.invite(
            h.now,
            Some(AccountId(0)),
            "sip:bob@127.0.0.1:5070",
            Bytes::from_static(b"v=0\r\n"),
            vec![],
        )
        .unwrap();
    let inv = h.one();
    assert_eq!(line(&inv), "INVITE sip:bob@127.0.0.1:5070");
    (call, inv)
}

#[test]
fn outgoing_call_answers_a_proxy_challenge_then_acks_the_2xx_and_hangs_up_with_bye() {
    let mut h = H::new(vec![account(Some("sip:127.0.0.1:5070"))]);
    let (call, inv1) = dial(&mut h);
    assert_eq!(
        inv1.from().unwrap().unwrap().uri.to_string(),
        "sip:hasip@test.local"
    );
    h.recv(&answer(
        &inv1,
        407,
        "Proxy Authentication Required",
        &CHALLENGE.replace("WWW-", "Proxy-"),
        Some("p1"),
    ));
    let sent = h.sent();
    assert_eq!(
        sent.iter().map(line).collect::<Vec<_>>(),
        vec![
            "ACK sip:bob@127.0.0.1:5070",
            "INVITE sip:bob@127.0.0.1:5070"
        ]
    );
    let inv2 = &sent[1];
    assert!(inv2.header(HeaderName::ProxyAuthorization).is_some());
    assert_eq!(
        inv2.cseq().unwrap().unwrap().seq,
        inv1.cseq().unwrap().unwrap().seq + 1
    );
    assert_eq!(
        inv2.from().unwrap().unwrap().tag(),
        inv1.from().unwrap().unwrap().tag()
    );
    h.recv(&answer(inv2, 180, "Ringing", "", Some("b1")));
    assert!(matches!(
        h.events().as_slice(),
        [UaEvent::Progress { code: 180, .. }]
    ));
    let ok = answer(
        inv2,
        200,
        "OK",
        "Contact: <sip:bob@127.0.0.1:5070>\nRecord-Route: <sip:127.0.0.1:5070;lr>\n",
        Some("b1"),
    );
    h.recv(&ok);
    let ack = h.one();
    assert_eq!(line(&ack), "ACK sip:bob@127.0.0.1:5070");
    assert_eq!(
        ack.header(HeaderName::Route),
        Some("<sip:127.0.0.1:5070;lr>")
    );
    assert_ne!(
        ack.top_via().unwrap().unwrap().branch(),
        inv2.top_via().unwrap().unwrap().branch(),
        "2xx ACK is its own transaction"
    );
    assert!(matches!(h.events().as_slice(), [UaEvent::Answered { .. }]));
    // A retransmitted 2xx is ACKed again.
    h.recv(&ok);
    assert_eq!(line(&h.one()), "ACK sip:bob@127.0.0.1:5070");
    h.ua.hangup(h.now, call).unwrap();
    let bye = h.one();
    assert_eq!(line(&bye), "BYE sip:bob@127.0.0.1:5070");
    assert_eq!(bye.to().unwrap().unwrap().tag(), Some("b1"));
    assert!(matches!(
        h.events().as_slice(),
        [UaEvent::Ended {
            reason: EndReason::Local,
            ..
        }]
    ));
    h.recv(&answer(&bye, 200, "OK", "", None));
    assert_eq!(h.ua.call_count(), 0);
}

#[test]
fn hangup_before_any_provisional_waits_to_cancel() {
    let mut h = H::new(vec![account(None)]);
    let (call, inv) = dial(&mut h);
    h.ua.hangup(h.now, call).unwrap();
    assert!(
        h.sent().is_empty(),
        "no CANCEL before a provisional (RFC 3261 §9.1)"
    );
    h.recv(&answer(&inv, 180, "Ringing", "", Some("b1")));
    let cancel = h.one();
    assert_eq!(line(&cancel), "CANCEL sip:bob@127.0.0.1:5070");
    assert_eq!(
        cancel.top_via().unwrap().unwrap().branch(),
        inv.top_via().unwrap().unwrap().branch()
    );
    h.events();
    h.recv(&answer(&cancel, 200, "OK", "", Some("b1")));
    h.recv(&answer(&inv, 487, "Request Terminated", "", Some("b1")));
    assert_eq!(line(&h.one()), "ACK sip:bob@127.0.0.1:5070");
    assert!(matches!(
        h.events().as_slice(),
        [UaEvent::Ended {
            reason: EndReason::Local,
            ..
        }]
    ));
}

#[test]
fn busy_is_reported_with_its_code() {
    let mut h = H::new(vec![account(None)]);
    let (_, inv) = dial(&mut h);
    h.recv(&answer(&inv, 486, "Busy Here", "", Some("b1")));
    h.sent();
    let ev = h.events();
    assert!(
        matches!(
            ev.as_slice(),
            [UaEvent::Ended {
                reason: EndReason::Rejected { code: 486, .. },
                ..
            }]
        ),
        "{ev:?}"
    );
}

#[test]
fn info_and_refer_in_an_outgoing_call() {
    let mut h = H::new(vec![account(None)]);
    let (call, inv) = dial(&mut h);
    h.recv(&answer(
        &inv,
        200,
        "OK",
        "Contact: <sip:bob@127.0.0.1:5070>\n",
        Some("b1"),
    ));
    h.sent();
    h.events();
    h.ua.send_info(
        h.now,
        call,
        "application/dtmf-relay",
        b"Signal=1\r\nDuration=160\r\n",
    )
    .unwrap();
    let info = h.one();
    assert_eq!(line(&info), "INFO sip:bob@127.0.0.1:5070");
    assert_eq!(info.content_type(), Some("application/dtmf-relay"));
    h.ua.refer(h.now, call, "sip:carol@127.0.0.1:5072").unwrap();
    let refer = h.one();
    assert_eq!(
        refer.header(HeaderName::ReferTo),
        Some("<sip:carol@127.0.0.1:5072>")
    );
    assert!(info.cseq().unwrap().unwrap().seq < refer.cseq().unwrap().unwrap().seq);
}

#[test]
fn dialog_creating_responses_copy_record_route_and_requests_follow_it() {
    let mut h = H::new(vec![account(None)]);
    let invite = INVITE.replace(
        "Max-Forwards: 70\n",
        "Max-Forwards: 70\nRecord-Route: <sip:127.0.0.1:5070;lr;ftag=caller1>\n",
    );
    h.recv(&invite);
    let ev = h.events();
    let [UaEvent::IncomingCall { call, .. }] = ev.as_slice() else {
        panic!("{ev:?}")
    };
    let call = *call;
    h.ua.ring(h.now, call).unwrap();
    assert_eq!(
        h.one().header(HeaderName::RecordRoute),
        Some("<sip:127.0.0.1:5070;lr;ftag=caller1>")
    );
    h.ua.accept(h.now, call, Bytes::from_static(b"v=0\r\n"))
        .unwrap();
    assert_eq!(
        h.one().header(HeaderName::RecordRoute),
        Some("<sip:127.0.0.1:5070;lr;ftag=caller1>")
    );
    h.ua.hangup(h.now, call).unwrap();
    let bye = h.one();
    assert_eq!(line(&bye), "BYE sip:door@127.0.0.1:5070");
    assert_eq!(
        bye.header(HeaderName::Route),
        Some("<sip:127.0.0.1:5070;lr;ftag=caller1>")
    );
}

#[test]
fn the_transport_parameter_of_a_uri_picks_the_transport() {
    for (uri, want) in [
        ("sip:127.0.0.1:5080", Transport::Udp),
        ("sip:127.0.0.1:5080;transport=tcp", Transport::Tcp),
        ("sip:127.0.0.1:5081;transport=tls", Transport::Tls),
        ("sip:pbx.example;transport=TLS", Transport::Tls),
        ("sips:pbx.example", Transport::Tls),
        ("<sip:127.0.0.1:5081;transport=tls>", Transport::Tls),
    ] {
        let got = super::parse_uri_host(uri).map(|(t, _, _)| t);
        assert_eq!(got, Some(want), "{uri}");
    }
}

#[test]
fn a_registered_account_sends_keepalives_to_its_registrar_until_it_unregisters() {
    let mut acct = account(Some("sip:127.0.0.1:5070"));
    acct.keepalive = Some(Duration::from_secs(15));
    let mut tcp = account(Some("sip:127.0.0.1:5071;transport=tcp"));
    tcp.keepalive = Some(Duration::from_secs(15));
    let mut h = H::new(vec![acct, tcp]);
    // Nothing before the registration succeeds.
    h.ua.register(h.now, AccountId(0)).unwrap();
    let r1 = h.one();
    assert_eq!(
        h.ua.poll_timeout().map(|t| t - h.now),
        Some(Duration::from_millis(500)),
        "only the REGISTER retransmission is due"
    );
    h.recv(&answer(&r1, 200, "OK", "Expires: 300\n", Some("srv")));
    h.events();
    let keepalives = |h: &mut H| {
        let mut out = Vec::new();
        while let Some(t) = h.ua.poll_transmit() {
            out.push((t.to.transport, t.to.addr.port(), t.payload));
        }
        out
    };
    h.at(14_999);
    assert!(keepalives(&mut h).is_empty());
    h.at(15_000);
    assert_eq!(
        keepalives(&mut h),
        vec![(Transport::Udp, 5070, Bytes::from_static(b"\r\n"))]
    );
    h.at(30_000);
    assert_eq!(keepalives(&mut h).len(), 1, "every 15 s");
    // Over TCP it is RFC 5626's double-CRLF ping.
    h.ua.register(h.now, AccountId(1)).unwrap();
    let r2 = h.one();
    h.recv(&answer(&r2, 200, "OK", "Expires: 300\n", Some("srv")));
    h.events();
    h.at(45_000);
    let k = keepalives(&mut h);
    assert!(
        k.contains(&(Transport::Tcp, 5071, Bytes::from_static(b"\r\n\r\n"))),
        "{k:?}"
    );
    // Unregistered: no more keep-alives.
    h.ua.unregister(h.now, AccountId(0)).unwrap();
    h.ua.unregister(h.now, AccountId(1)).unwrap();
    h.sent();
    h.at(60_000);
    assert!(keepalives(&mut h).iter().all(|(_, _, p)| p.len() > 4));
}

#[test]
fn a_failed_connection_fails_the_registration_at_once_not_at_timer_f() {
    let mut h = H::new(vec![account(Some("sip:127.0.0.1:5071;transport=tls"))]);
    h.ua.register(h.now, AccountId(0)).unwrap();
    let t = h.ua.poll_transmit().expect("REGISTER");
    assert_eq!(t.to.transport, Transport::Tls);
    h.events();
    // Another address's failure changes nothing.
    h.ua.handle_connection_failed(h.now, Transport::Tls, "127.0.0.1:9999".parse().unwrap());
    assert!(h.events().is_empty());
    h.ua.handle_connection_failed(h.now, Transport::Tls, t.to.addr);
    assert!(
        matches!(
            h.events().as_slice(),
            [UaEvent::Registration {
                state: RegistrationState::Failed { code: 503, .. },
                ..
            }]
        ),
        "the registration fails now with 503"
    );
}

#[test]
fn a_2xx_that_echoes_our_contact_without_a_to_tag_is_acked_and_hung_up_at_the_dialled_uri() {
    // Home Assistant's VoIP integration (voip-utils 0.1.0) answers like this.
    let mut h = H::new(vec![account(None)]);
    let (call, inv) = dial(&mut h);
    let ours = inv.header(HeaderName::Contact).unwrap().to_owned();
    h.recv(&answer(
        &inv,
        200,
        "OK",
        &format!("Contact: {ours}\n"),
        None,
    ));
    assert_eq!(line(&h.one()), "ACK sip:bob@127.0.0.1:5070");
    assert!(matches!(h.events().as_slice(), [UaEvent::Answered { .. }]));
    h.ua.hangup(h.now, call).unwrap();
    let bye = h.one();
    assert_eq!(
        line(&bye),
        "BYE sip:bob@127.0.0.1:5070",
        "not to ourselves ({ours})"
    );
}

fn from(addr: &str) -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: addr.parse().unwrap(),
        connection: None,
    }
}

fn invite_for(user: &str, call_id: &str) -> String {
    INVITE
        .replace("INVITE sip:hasip@", &format!("INVITE sip:{user}@"))
        .replace("in-1@127.0.0.1", call_id)
        .replace("z9hG4bKin1", &format!("z9hG4bK{call_id}"))
}

/// Eight calls answered at the same instant and never acknowledged: their 2xx
/// retransmissions fall due together. Two runs with the same seed send the same bytes in
/// the same order (the calls' table is a HashMap whose order differs between instances).
#[test]
fn the_same_seed_sends_the_same_bytes_when_many_deadlines_fall_together() {
    let run = || {
        let mut h = H::new(vec![account(None)]);
        let mut calls = Vec::new();
        for n in 0..8 {
            h.recv(&invite_for("hasip", &format!("same{n}")));
            let ev = h.events();
            let [UaEvent::IncomingCall { call, .. }] = ev.as_slice() else {
                panic!("{ev:?}")
            };
            calls.push(*call);
        }
        for c in &calls {
            h.ua.accept(h.now, *c, Bytes::from_static(b"v=0\r\n"))
                .unwrap();
        }
        let mut wire = Vec::new();
        for ms in [0, 500, 1_500, 3_500] {
            h.at(ms);
            while let Some(t) = h.ua.poll_transmit() {
                wire.push(t.payload.to_vec());
            }
        }
        wire
    };
    let (a, b) = (run(), run());
    assert!(a.len() > 8 * 3, "retransmissions were sent: {}", a.len());
    assert_eq!(a, b);
}

mod admission;

mod nat;
