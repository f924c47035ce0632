//! Who may call, the call rate and stateless answers, driven by a scripted peer in virtual
//! time (see `admission.rs`).

use super::*;

fn refusal(h: &mut H, src: &str, req: &str) -> Option<(u16, String)> {
    h.ua.handle_datagram(h.now, from(src), Bytes::from(req.replace('\n', "\r\n")));
    let ev = h.events();
    let sent = h.sent();
    match ev.as_slice() {
        [UaEvent::IncomingCall { .. }] => None,
        [UaEvent::Refused { refusal, .. }] => {
            let [answer] = sent.as_slice() else {
                panic!("one stateless answer: {sent:?}")
            };
            assert_eq!(answer.status(), Some(refusal.code));
            Some((refusal.code, refusal.why.clone()))
        }
        other => panic!("{other:?} {sent:?}"),
    }
}

#[test]
fn a_registering_account_takes_calls_only_from_its_registrar_or_proxy_whatever_the_user() {
    let mut reg = account(Some("sip:127.0.0.1:5070"));
    reg.proxy = Some("sip:127.0.0.9:5060".into());
    let mut h = H::new(vec![reg]);
    // The registrar and the proxy, for the account's user or a dialled number.
    assert_eq!(
        refusal(&mut h, "127.0.0.1:5070", &invite_for("hasip", "a1")),
        None
    );
    assert_eq!(
        refusal(&mut h, "127.0.0.9:5099", &invite_for("4930123", "a2")),
        None
    );
    // A stranger on another address: 403, and the log line names the option.
    let (code, why) = refusal(&mut h, "127.0.0.2:5060", &invite_for("hasip", "a3")).unwrap();
    assert_eq!(code, 403);
    assert!(why.contains("--allow-calls-from 127.0.0.2"), "{why}");
    // Its retransmission gets the same answer, and nothing is kept.
    assert_eq!(
        refusal(&mut h, "127.0.0.2:5060", &invite_for("hasip", "a3")).map(|r| r.0),
        Some(403)
    );
    assert_eq!(h.ua.call_count(), 2);
}

#[test]
fn a_registrar_name_is_trusted_at_the_address_it_resolved_to() {
    let mut h = H::new(vec![account(Some("sip:pbx.example.com"))]);
    assert_eq!(
        refusal(&mut h, "127.0.0.3:5060", &invite_for("hasip", "b1")).map(|r| r.0),
        Some(403),
        "not resolved yet: nobody is the registrar"
    );
    h.ua.handle_resolved(
        h.now,
        "pbx.example.com",
        Some(("127.0.0.3".parse().unwrap(), Some(5060))),
    );
    h.sent();
    h.events();
    assert_eq!(
        refusal(&mut h, "127.0.0.3:5060", &invite_for("hasip", "b2")),
        None
    );
}

#[test]
fn allow_calls_from_widens_a_registering_account_and_narrows_a_direct_one() {
    let mut reg = account(Some("sip:127.0.0.1:5070"));
    reg.allow_calls_from = Some(crate::admission::parse_networks("127.0.0.2").unwrap());
    let mut h = H::new(vec![reg]);
    assert_eq!(
        refusal(&mut h, "127.0.0.2:5060", &invite_for("x", "c1")),
        None
    );
    assert!(refusal(&mut h, "127.0.0.4:5060", &invite_for("x", "c2")).is_some());

    let mut direct = account(None);
    direct.allow_calls_from = Some(crate::admission::parse_networks("127.0.0.5/32").unwrap());
    let mut h = H::new(vec![direct]);
    assert_eq!(
        refusal(&mut h, "127.0.0.5:5060", &invite_for("hasip", "c3")),
        None
    );
    assert_eq!(
        refusal(&mut h, "127.0.0.1:5060", &invite_for("hasip", "c4")).map(|r| r.0),
        Some(403)
    );
}

#[test]
fn a_direct_account_takes_private_networks_and_only_its_own_or_an_empty_user() {
    let mut h = H::new(vec![account(None)]);
    assert_eq!(
        refusal(&mut h, "127.0.0.2:5060", &invite_for("hasip", "d1")),
        None
    );
    let empty = invite_for("hasip", "d2").replace("INVITE sip:hasip@", "INVITE sip:");
    assert_eq!(refusal(&mut h, "192.168.1.20:5060", &empty), None);
    let (code, why) = refusal(&mut h, "127.0.0.2:5060", &invite_for("1234", "d3")).unwrap();
    assert_eq!(code, 404);
    assert!(why.contains("\"1234\""), "{why}");
    assert_eq!(
        refusal(&mut h, "203.0.113.7:5060", &invite_for("hasip", "d4")).map(|r| r.0),
        Some(403),
        "a public address is no private network"
    );
}

#[test]
fn the_account_is_chosen_among_those_that_trust_the_source() {
    let mut one = account(Some("sip:127.0.0.1:5070"));
    one.id_uri = "sip:one@test.local".into();
    let mut two = account(Some("sip:127.0.0.8:5070"));
    two.id_uri = "sip:two@test.local".into();
    let mut h = H::new(vec![one, two]);
    // The second registrar sends a dialled number: the second account takes it.
    h.ua.handle_datagram(
        h.now,
        from("127.0.0.8:5070"),
        Bytes::from(invite_for("4930123", "e1").replace('\n', "\r\n")),
    );
    let ev = h.events();
    let [UaEvent::IncomingCall { account, .. }] = ev.as_slice() else {
        panic!("{ev:?}")
    };
    assert_eq!(*account, Some(AccountId(1)));
}

#[test]
fn options_are_answered_statelessly_with_the_same_tag_for_a_retransmission() {
    let mut h = H::new(vec![account(None)]);
    let req = |n: u32| {
        format!(
            "OPTIONS sip:hasip@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKo{n};rport\nFrom: <sip:p@127.0.0.1>;tag=o{n}\nTo: <sip:hasip@127.0.0.1>\nCall-ID: o{n}@x\nCSeq: 1 OPTIONS\nMax-Forwards: 70\nContent-Length: 0\n\n"
        )
    };
    for n in 0..500 {
        h.recv(&req(n));
    }
    let answers = h.sent();
    assert_eq!(answers.len(), 500);
    assert!(answers.iter().all(|a| a.status() == Some(200)));
    // A flood of OPTIONS leaves nothing behind.
    assert_eq!(h.ua.tx.len(), 0);
    // A retransmission is answered alike: the same tag, which differs per request.
    h.recv(&req(7));
    let again = h.one();
    let tag = |m: &Message| m.to().unwrap().unwrap().tag().unwrap().to_owned();
    assert_eq!(tag(&again), tag(&answers[7]));
    assert_ne!(tag(&answers[7]), tag(&answers[8]));
    assert!(
        again
            .header(HeaderName::Allow)
            .is_some_and(|a| a.contains("INVITE"))
    );
}

#[test]
fn a_direct_account_without_a_user_takes_calls_for_any_user() {
    let mut any = account(None);
    any.id_uri = "sip:127.0.0.1".into();
    let mut h = H::new(vec![any]);
    assert_eq!(
        refusal(&mut h, "192.168.1.30:5060", &invite_for("1234", "any1")),
        None
    );
}
