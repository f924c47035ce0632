//! Transaction timers in virtual time, checked the smoltcp way: nothing just before a
//! deadline, the retransmission exactly at it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::message::Message;
use crate::transport::{Peer, Transport};

#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

fn peer(transport: Transport) -> Peer {
    Peer {
        transport,
        addr: SocketAddr::from(([127, 0, 0, 1], 5070)),
        connection: None,
    }
}

fn request(method: &str, branch: &str) -> (Message, Bytes) {
    let text = format!(
        "{method} sip:bob@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={branch};rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:gw@127.0.0.1>;tag=ft\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: cid-{branch}\r\n\
CSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    );
    let b = Bytes::from(text);
    (Message::parse(b.clone()).unwrap(), b)
}

fn response_to(req: &Message, code: u16) -> Message {
    let b = crate::message::build::response_to(req, code, "X", Some("tt")).finish();
    Message::parse(b).unwrap()
}

fn drain(t: &mut Transactions) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(x) = t.poll_transmit() {
        let text = String::from_utf8_lossy(&x.payload).into_owned();
        out.push(text.lines().next().unwrap_or_default().to_owned());
    }
    out
}

fn events(t: &mut Transactions) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(e) = t.poll_event() {
        out.push(match e {
            TxEvent::Response { response, .. } => {
                format!("response {}", response.status().unwrap_or(0))
            }
            TxEvent::Timeout { .. } => "timeout".into(),
            TxEvent::AckTimeout { .. } => "ack-timeout".into(),
            TxEvent::TransportError { .. } => "transport-error".into(),
            TxEvent::Terminated { .. } => "terminated".into(),
        });
    }
    out
}

/// Advances to `at` (firing what is due) and returns what was sent.
fn at(t: &mut Transactions, base: Instant, ms: u64) -> Vec<String> {
    t.handle_timeout(base + Duration::from_millis(ms));
    drain(t)
}

#[test]
fn rfc3261_17_1_1_2_invite_retransmits_on_timer_a_until_timer_b() {
    let base = t0();
    let mut t = Transactions::new(TimerConfig::default());
    let (req, wire) = request("INVITE", "z9hG4bKa1");
    t.send_request(base, peer(Transport::Udp), req, wire)
        .unwrap();
    assert_eq!(drain(&mut t).len(), 1);
    // Timer A: 500 ms, then 1 s, 2 s, 4 s, 8 s, 16 s after each (no cap at T2).
    let mut sent_at = 0;
    let mut interval = 500;
    for _ in 0..6 {
        assert!(
            at(&mut t, base, sent_at + interval - 1).is_empty(),
            "early at {}",
            sent_at + interval - 1
        );
        assert_eq!(
            at(&mut t, base, sent_at + interval),
            vec!["INVITE sip:bob@127.0.0.1:5070 SIP/2.0"]
        );
        sent_at += interval;
        interval *= 2;
    }
    assert_eq!(sent_at, 31_500);
    // Timer B = 64*T1 = 32 s: nothing before, timeout at.
    assert!(at(&mut t, base, 31_999).is_empty());
    assert!(events(&mut t).is_empty());
    at(&mut t, base, 32_000);
    assert_eq!(events(&mut t), vec!["timeout", "terminated"]);
    assert!(t.is_empty());
    assert_eq!(t.poll_timeout(), None);
}

#[test]
fn invite_over_tcp_is_never_retransmitted() {
    let base = t0();
    let mut t = Transactions::new(TimerConfig::default());
    let (req, wire) = request("INVITE", "z9hG4bKa2");
    t.send_request(base, peer(Transport::Tcp), req, wire)
        .unwrap();
    drain(&mut t);
    assert_eq!(t.poll_timeout(), Some(base + Duration::from_secs(32)));
    assert!(at(&mut t, base, 31_999).is_empty());
    at(&mut t, base, 32_000);
    assert_eq!(events(&mut t), vec!["timeout", "terminated"]);
}

#[test]
fn rfc3261_17_1_2_2_non_invite_timer_e_caps_at_t2_and_timer_f_ends_it() {
    let base = t0();
    let mut t = Transactions::new(TimerConfig::default());
    let (req, wire) = request("OPTIONS", "z9hG4bKn1");
    t.send_request(base, peer(Transport::Udp), req, wire)
        .unwrap();
    drain(&mut t);
    // 500, 1500, 3500, 7500, 11500, 15500 ... (interval 0.5, 1, 2, 4, 4, 4 s)
    let expected = [500u64, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500];
    for ms in expected {
        assert!(at(&mut t, base, ms - 1).is_empty());
        assert_eq!(at(&mut t, base, ms).len(), 1, "retransmit at {ms}");
    }
    at(&mut t, base, 32_000);
    assert_eq!(events(&mut t), vec!["timeout", "terminated"]);
}

#[test]
fn non_invite_in_proceeding_retransmits_every_t2() {
    let base = t0();
    let mut t = Transactions::new(TimerConfig::default());
    let (req, wire) = request("REGISTER", "z9hG4bKn2");
    t.send_request(base, peer(Transport::Udp), req.clone(), wire)
        .unwrap();
    drain(&mut t);
    assert_eq!(at(&mut t, base, 500).len(), 1);
    assert!(
        t.handle_response(base + Duration::from_millis(600), response_to(&req, 100))
            .is_none()
    );
    assert_eq!(events(&mut t), vec!["response 100"]);
    // Next retransmit was armed for 1500 (interval 1 s); after that every T2 = 4 s.
    assert_eq!(at(&mut t, base, 1_500).len(), 1);
    assert!(at(&mut t, base, 5_499).is_empty());
    assert_eq!(at(&mut t, base, 5_500).len(), 1);
    // The final response: Timer K (T4 = 5 s) then terminated, no more retransmits.
    t.handle_response(base + Duration::from_millis(6_000), response_to(&req, 200));
    assert_eq!(events(&mut t), vec!["response 200"]);
    assert!(at(&mut t, base, 10_999).is_empty());
    at(&mut t, base, 11_000);
    assert_eq!(events(&mut t), vec!["terminated"]);
}

#[test]
fn invite_error_response_is_acked_and_retransmissions_are_acked_again() {
    let base = t0();
    let mut t = Transactions::new(TimerConfig::default());
    let (req, wire) = request("INVITE", "z9hG4bKa3");
    t.send_request(base, peer(Transport::Udp), req.clone(), wire)
        .unwrap();
    drain(&mut t);
    t.handle_response(base + Duration::from_millis(10), response_to(&req, 180));
    t.handle_response(base + Duration::from_millis(20), response_to(&req, 486));
    assert_eq!(events(&mut t), vec!["response 180", "response 486"]);
    let acks = drain(&mut t);
    assert_eq!(acks, vec!["ACK sip:bob@127.0.0.1:5070 SIP/2.0"]);
    // Retransmitted 486: ACK again, nothing for the TU.
    t.handle_response(base + Duration::from_millis(520), response_to(&req, 486));
    assert_eq!(drain(&mut t).len(), 1);
    assert!(events(&mut t).is_empty());
    // No INVITE retransmission after a provisional (Timer A stops).
    assert!(at(&mut t, base, 31_000).is_empty());
    // Timer D = 32 s after the 486.
    at(&mut t, base, 32_019);
    assert!(events(&mut t).is_empty());
    at(&mut t, base, 32_020);
    assert_eq!(events(&mut t), vec!["terminated"]);
}

#[test]
fn the_ack_for_an_error_response_has_the_invite_branch_and_the_response_to_tag() {
    let (req, _) = request("INVITE", "z9hG4bKa4");
    let ack = Message::parse(build_ack(&req, &response_to(&req, 404))).unwrap();
    assert_eq!(ack.method(), Some(&Method::Ack));
    assert_eq!(ack.top_via().unwrap().unwrap().branch(), Some("z9hG4bKa4"));
    assert_eq!(ack.to().unwrap().unwrap().tag(), Some("tt"));
    assert_eq!(ack.cseq().unwrap().unwrap().seq, 1);
    assert_eq!(ack.cseq().unwrap().unwrap().method, Method::Ack);
}

#[test]
fn rfc6026_2xx_retransmissions_reach_the_tu_until_timer_m() {
    let base = t0();
    let mut t = Transactions::new(TimerConfig::default());
    let (req, wire) = request("INVITE", "z9hG4bKa5");
    t.send_request(base, peer(Transport::Udp), req.clone(), wire)
        .unwrap();
    drain(&mut t);
    t.handle_response(base + Duration::from_millis(5), response_to(&req, 200));
    t.handle_response(base + Duration::from_millis(505), response_to(&req, 200));
    assert_eq!(events(&mut t), vec!["response 200", "response 200"]);
    assert!(drain(&mut t).is_empty(), "the transaction never ACKs a 2xx");
    at(&mut t, base, 32_005);
    assert_eq!(events(&mut t), vec!["terminated"]);
    // After Timer M, a late 2xx is handed back as unmatched for the dialog to ACK.
    assert!(
        t.handle_response(base + Duration::from_secs(40), response_to(&req, 200))
            .is_some()
    );
}

#[test]
fn server_invite_sends_trying_after_200ms_only_if_the_tu_is_silent() {
    let base = t0();
    let mut t = Transactions::new(TimerConfig::default());
    let (req, _) = request("INVITE", "z9hG4bKs1");
    let Incoming::New(id) = t.handle_request(base, peer(Transport::Udp), &req) else {
        panic!("new transaction expected");
    };
    assert!(at(&mut t, base, 199).is_empty());
    assert_eq!(at(&mut t, base, 200), vec!["SIP/2.0 100 Trying"]);
    // A retransmitted INVITE gets the last response again.
    assert_eq!(
        t.handle_request(
            base + Duration::from_millis(500),
            peer(Transport::Udp),
            &req
        ),
        Incoming::Retransmission
    );
    assert_eq!(drain(&mut t), vec!["SIP/2.0 100 Trying"]);
    let ringing = crate::message::build::response_to(&req, 180, "Ringing", Some("x")).finish();
    t.respond(base + Duration::from_millis(600), id, 180, ringing);
    assert_eq!(drain(&mut t), vec!["SIP/2.0 180 Ringing"]);

    let mut quick = Transactions::new(TimerConfig::default());
    let Incoming::New(id) = quick.handle_request(base, peer(Transport::Udp), &req) else {
        panic!();
    };
    let ok = crate::message::build::response_to(&req, 200, "OK", Some("x")).finish();
    quick.respond(base, id, 200, ok);
    assert_eq!(drain(&mut quick), vec!["SIP/2.0 200 OK"]);
    assert!(
        at(&mut quick, base, 300).is_empty(),
        "no 100 after a final response"
    );
}

#[test]
fn rfc3261_17_2_1_server_invite_error_retransmits_on_timer_g_until_ack() {
    let base = t0();
    let mut t = Transactions::new(TimerConfig::default());
    let (req, _) = request("INVITE", "z9hG4bKs2");
    let Incoming::New(id) = t.handle_request(base, peer(Transport::Udp), &req) else {
        panic!();
    };
    let busy = crate::message::build::response_to(&req, 486, "Busy Here", Some("x")).finish();
    t.respond(base, id, 486, busy);
    assert_eq!(drain(&mut t).len(), 1);
    // Timer G: 500, 1500, 3500, 7500, 11500 (doubling, capped at T2).
    for ms in [500u64, 1_500, 3_500, 7_500, 11_500] {
        assert!(at(&mut t, base, ms - 1).is_empty());
        assert_eq!(at(&mut t, base, ms), vec!["SIP/2.0 486 Busy Here"]);
    }
    let (ack, _) = request("ACK", "z9hG4bKs2");
    assert_eq!(
        t.handle_request(
            base + Duration::from_millis(12_000),
            peer(Transport::Udp),
            &ack
        ),
        Incoming::AckAbsorbed
    );
    assert!(
        at(&mut t, base, 15_500).is_empty(),
        "Timer G stops at the ACK"
    );
    // Timer I = T4 after the ACK.
    at(&mut t, base, 16_999);
    assert!(events(&mut t).is_empty());
    at(&mut t, base, 17_000);
    assert_eq!(events(&mut t), vec!["terminated"]);
}

#[test]
fn server_invite_error_without_ack_reports_timer_h() {
    let base = t0();
    let mut t = Transactions::new(TimerConfig::default());
    let (req, _) = request("INVITE", "z9hG4bKs3");
    let Incoming::New(id) = t.handle_request(base, peer(Transport::Tcp), &req) else {
        panic!();
    };
    t.respond(
        base,
        id,
        603,
        crate::message::build::response_to(&req, 603, "Decline", Some("x")).finish(),
    );
    drain(&mut t);
    assert!(at(&mut t, base, 31_999).is_empty(), "no Timer G on TCP");
    at(&mut t, base, 32_000);
    assert_eq!(events(&mut t), vec!["ack-timeout", "terminated"]);
}

#[test]
fn server_non_invite_absorbs_retransmissions_and_lingers_for_timer_j() {
    let base = t0();
    let mut t = Transactions::new(TimerConfig::default());
    let (req, _) = request("OPTIONS", "z9hG4bKs4");
    let Incoming::New(id) = t.handle_request(base, peer(Transport::Udp), &req) else {
        panic!();
    };
    // A retransmission before the TU answered: absorbed silently.
    assert_eq!(
        t.handle_request(base, peer(Transport::Udp), &req),
        Incoming::Retransmission
    );
    assert!(drain(&mut t).is_empty());
    t.respond(
        base,
        id,
        200,
        crate::message::build::response_to(&req, 200, "OK", Some("x")).finish(),
    );
    assert_eq!(drain(&mut t).len(), 1);
    assert_eq!(
        t.handle_request(base + Duration::from_secs(1), peer(Transport::Udp), &req),
        Incoming::Retransmission
    );
    assert_eq!(drain(&mut t), vec!["SIP/2.0 200 OK"]);
    at(&mut t, base, 31_999);
    assert!(events(&mut t).is_empty());
    at(&mut t, base, 32_000);
    assert_eq!(events(&mut t), vec!["terminated"]);
}

#[test]
fn cancel_finds_its_invite_and_2xx_ack_is_for_the_dialog() {
    let base = t0();
    let mut t = Transactions::new(TimerConfig::default());
    let (inv, _) = request("INVITE", "z9hG4bKs5");
    let Incoming::New(id) = t.handle_request(base, peer(Transport::Udp), &inv) else {
        panic!();
    };
    let (cancel, _) = request("CANCEL", "z9hG4bKs5");
    assert_eq!(t.invite_for_cancel(&cancel), Some(id));
    assert!(matches!(
        t.handle_request(base, peer(Transport::Udp), &cancel),
        Incoming::New(_)
    ));
    assert!(t.is_pending_invite(id));
    t.respond(
        base,
        id,
        200,
        crate::message::build::response_to(&inv, 200, "OK", Some("x")).finish(),
    );
    assert!(!t.is_pending_invite(id));
    let (ack, _) = request("ACK", "z9hG4bKother");
    assert_eq!(
        t.handle_request(base, peer(Transport::Udp), &ack),
        Incoming::Ack
    );
}

#[test]
fn rfc4475_3_2_1_branch_without_transaction_id_still_gets_a_transaction() {
    let base = t0();
    let mut t = Transactions::new(TimerConfig::default());
    let (req, _) = request("OPTIONS", "z9hG4bK");
    assert!(matches!(
        t.handle_request(base, peer(Transport::Udp), &req),
        Incoming::New(_)
    ));
    assert_eq!(
        t.handle_request(base, peer(Transport::Udp), &req),
        Incoming::Retransmission
    );
}
