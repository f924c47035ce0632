//! Behind NAT: Contact and Via follow the registrar's `received`/`rport` (each can be
//! turned off), and the public address is reported for the SDP (see `registration.rs`).

use super::*;

/// The registrar's answer to `req` as seen through NAT: it saw us at `public`.
fn answer_through_nat(req: &Message, public: &str, extra: &str) -> String {
    let (ip, port) = public.split_once(':').unwrap();
    answer(req, 200, "OK", extra, Some("srv")).replacen(
        ";rport;received=127.0.0.1",
        &format!(";rport={port};received={ip}"),
        1,
    )
}

fn sent_by(m: &Message) -> String {
    let via = m.header(HeaderName::Via).unwrap();
    via.split_whitespace()
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn behind_nat_contact_and_via_follow_the_registrars_received_and_rport() {
    let mut h = H::new(vec![account(Some("sip:127.0.0.1:5070"))]);
    h.ua.register(h.now, AccountId(0)).unwrap();
    let r1 = h.one();
    assert_eq!(sent_by(&r1), GW);
    h.recv(&answer_through_nat(&r1, "203.0.113.7:40000", ""));
    // Registered again at once with the public address, before telling anyone.
    let r2 = h.one();
    assert_eq!(line(&r2), "REGISTER sip:127.0.0.1:5070");
    assert_eq!(
        r2.header(HeaderName::Contact),
        Some("<sip:hasip@203.0.113.7:40000>")
    );
    assert_eq!(sent_by(&r2), "203.0.113.7:40000");
    assert!(h.events().is_empty());
    assert_eq!(
        h.ua.public_addr(AccountId(0)),
        Some("203.0.113.7:40000".parse().unwrap())
    );
    h.recv(&answer_through_nat(
        &r2,
        "203.0.113.7:40000",
        "Contact: <sip:hasip@203.0.113.7:40000>;expires=300\n",
    ));
    assert!(h.sent().is_empty(), "the same address: no third REGISTER");
    assert!(matches!(
        h.events().as_slice(),
        [UaEvent::Registration {
            state: RegistrationState::Registered { expires: 300 },
            ..
        }]
    ));
}

#[test]
fn with_the_contact_rewrite_off_the_public_address_is_only_reported_and_put_in_via() {
    let mut a = account(Some("sip:127.0.0.1:5070"));
    a.nat.contact = false;
    let mut h = H::new(vec![a]);
    h.ua.register(h.now, AccountId(0)).unwrap();
    let r1 = h.one();
    h.recv(&answer_through_nat(
        &r1,
        "203.0.113.7:40000",
        "Contact: <sip:hasip@127.0.0.1:5060>;expires=60\n",
    ));
    assert!(h.sent().is_empty(), "no second REGISTER");
    assert!(matches!(
        h.events().as_slice(),
        [UaEvent::Registration {
            state: RegistrationState::Registered { expires: 60 },
            ..
        }]
    ));
    assert_eq!(
        h.ua.public_addr(AccountId(0)),
        Some("203.0.113.7:40000".parse().unwrap())
    );
    // The refresh keeps the local Contact; its Via names the public address.
    h.at(55_000);
    let r2 = h.one();
    assert_eq!(
        r2.header(HeaderName::Contact),
        Some("<sip:hasip@127.0.0.1:5060>")
    );
    assert_eq!(sent_by(&r2), "203.0.113.7:40000");
}

#[test]
fn with_the_via_rewrite_off_via_keeps_the_local_address() {
    let mut a = account(Some("sip:127.0.0.1:5070"));
    a.nat.via = false;
    let mut h = H::new(vec![a]);
    h.ua.register(h.now, AccountId(0)).unwrap();
    let r1 = h.one();
    h.recv(&answer_through_nat(&r1, "203.0.113.7:40000", ""));
    let r2 = h.one();
    assert_eq!(
        r2.header(HeaderName::Contact),
        Some("<sip:hasip@203.0.113.7:40000>")
    );
    assert_eq!(sent_by(&r2), GW);
}
