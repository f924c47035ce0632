//! Inputs real phones and registrars send that the parser crates we measured tripped over
//! (../shared/spec/design.md, "SIP messages"): IPv6 hosts, folded headers, compact names,
//! two Contacts on one line, rport/received, a 401 with two challenges, odd-case names, and a
//! `tel:` From with a PSTN number.

use bytes::Bytes;
use hasip_sip::digest::{Algorithm, Challenge, Qop};
use hasip_sip::message::validate::validate_response;
use hasip_sip::message::{Contact, HeaderName, Host, Message, Uri};

fn parse(text: &str) -> Message {
    Message::parse(Bytes::from(text.replace('\n', "\r\n"))).expect("parses")
}

#[test]
fn ipv6_hosts_everywhere() {
    let m = parse(
        "INVITE sip:bob@[2001:db8::20]:5070;transport=udp SIP/2.0
Via: SIP/2.0/UDP [2001:db8::10]:5060;branch=z9hG4bK6a;rport;received=2001:db8::99
From: <sip:alice@[2001:db8::10]>;tag=1
To: <sip:bob@[2001:db8::20]:5070>
Call-ID: v6@2001:db8::10
CSeq: 1 INVITE
Contact: <sip:alice@[2001:db8::10]:5060;ob>
Content-Length: 0

",
    );
    let ruri = m.request_uri().unwrap().unwrap();
    let sip = ruri.as_sip().unwrap();
    assert_eq!(sip.host, Host::V6("2001:db8::20".parse().unwrap()));
    assert_eq!(sip.port, Some(5070));
    let via = m.top_via().unwrap().unwrap();
    assert_eq!(via.host, Host::V6("2001:db8::10".parse().unwrap()));
    assert_eq!(via.port, Some(5060));
    assert_eq!(via.received(), Some("2001:db8::99"));
}

#[test]
fn folded_compact_odd_case_and_two_contacts_on_one_line() {
    let m = parse(
        "REGISTER sip:registrar.example.com SIP/2.0
v: SIP/2.0/TCP 192.0.2.7:5060;branch=z9hG4bKfold;rport=5060;received=192.0.2.77
f: \"Bob\"
 <sip:bob@example.com>;tag=b0b
t: <sip:bob@example.com>
i: fold-1@192.0.2.7
cSeQ: 3 REGISTER
M: <sip:bob@192.0.2.7:5060;transport=tcp>;expires=300, <sip:bob@198.51.100.7>;q=0.5;expires=60
mAx-FoRwArDs: 70
l: 0

",
    );
    assert_eq!(
        m.from().unwrap().unwrap().display_name.unwrap().text(),
        "Bob"
    );
    assert_eq!(m.call_id(), Some("fold-1@192.0.2.7"));
    assert_eq!(m.cseq().unwrap().unwrap().seq, 3);
    assert_eq!(m.max_forwards(), Some(Ok(70)));
    let contacts: Vec<_> = m
        .contacts()
        .map(|c| match c.unwrap() {
            Contact::Addr(a) => (
                a.uri.to_string(),
                a.params.get("expires").flatten().map(str::to_owned),
            ),
            Contact::Star => panic!(),
        })
        .collect();
    assert_eq!(
        contacts,
        vec![
            (
                "sip:bob@192.0.2.7:5060;transport=tcp".to_owned(),
                Some("300".to_owned())
            ),
            ("sip:bob@198.51.100.7".to_owned(), Some("60".to_owned())),
        ]
    );
    let via = m.top_via().unwrap().unwrap();
    assert_eq!(via.rport(), Some(Some(5060)));
    assert_eq!(via.received(), Some("192.0.2.77"));
}

#[test]
fn a_401_with_two_challenges_picks_sha256_with_auth() {
    let m = parse(
        "SIP/2.0 401 Unauthorized
Via: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKreg;rport=5060;received=192.0.2.7
From: <sip:hasip@test.local>;tag=r1
To: <sip:hasip@test.local>;tag=srv
Call-ID: reg-1@192.0.2.7
CSeq: 1 REGISTER
WWW-Authenticate: Digest realm=\"test.local\", nonce=\"abc,def\", qop=\"auth,auth-int\", algorithm=SHA-256, opaque=\"x\"
WWW-Authenticate: Digest realm=\"test.local\", nonce=\"ghi\", qop=\"auth\", algorithm=MD5
Content-Length: 0

",
    );
    assert_eq!(validate_response(&m), Ok(()));
    assert_eq!(m.challenges(HeaderName::WwwAuthenticate).count(), 2);
    let c = Challenge::choose(
        m.challenges(HeaderName::WwwAuthenticate)
            .map(Result::unwrap),
    )
    .unwrap();
    assert_eq!(
        (c.algorithm, c.qop, c.nonce.as_str()),
        (Algorithm::Sha256, Some(Qop::Auth), "abc,def")
    );
}

#[test]
fn tel_from_with_a_pstn_number() {
    let m = parse(
        "INVITE sip:+4930123456@gw.example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKtel
From: \"Anrufer\" <tel:+49-30-987654;phone-context=+49>;tag=t1
To: <sip:+4930123456@gw.example.com>
P-Asserted-Identity: <tel:+4930987654>
Call-ID: tel-1
CSeq: 1 INVITE
Content-Length: 0

",
    );
    let from = m.from().unwrap().unwrap();
    match from.uri {
        Uri::Tel(t) => {
            assert_eq!(t.digits(), "+4930987654");
            assert_eq!(t.params.get("phone-context"), Some(Some("+49")));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(from.tag(), Some("t1"));
    assert_eq!(from.uri.user().as_deref(), Some("+49-30-987654"));
}
