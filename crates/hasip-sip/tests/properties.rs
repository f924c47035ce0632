//! Properties of the message layer: generated valid messages survive build → parse with
//! every field intact, and no input of any shape makes the parser, validation or framing
//! panic.

use bytes::Bytes;
use hasip_sip::message::build::Builder;
use hasip_sip::message::framing::StreamFramer;
use hasip_sip::message::validate::{Policy, validate_request, validate_response};
use hasip_sip::message::{Contact, HeaderName, Host, Message, Method, Uri};
use proptest::prelude::*;

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,15}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,10}){0,3}",
        (any::<[u8; 4]>()).prop_map(|o| format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3])),
        (any::<[u16; 8]>()).prop_map(|s| {
            let a = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]);
            format!("[{a}]")
        }),
    ]
}

fn sip_uri() -> impl Strategy<Value = String> {
    (
        prop::option::of("[a-zA-Z0-9_.!~*'()&=+$,;?/-]{1,12}|\\+[0-9]{6,12}"),
        host(),
        prop::option::of(1u16..),
        prop::collection::vec((token(), prop::option::of(token())), 0..3),
    )
        .prop_map(|(user, host, port, params)| {
            let mut s = String::from("sip:");
            if let Some(u) = user {
                s.push_str(&u);
                s.push('@');
            }
            s.push_str(&host);
            if let Some(p) = port {
                s.push_str(&format!(":{p}"));
            }
            for (n, v) in params {
                s.push(';');
                s.push_str(&n);
                if let Some(v) = v {
                    s.push('=');
                    s.push_str(&v);
                }
            }
            s
        })
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Invite),
        Just(Method::Options),
        Just(Method::Bye),
        Just(Method::Info),
        Just(Method::Register),
        "[A-Z]{3,10}".prop_map(|m| Method::from_token(&m)),
    ]
}

fn display_name() -> impl Strategy<Value = Option<String>> {
    prop::option::of("[ -~&&[^\"\\\\]]{0,20}")
}

#[derive(Debug, Clone)]
struct Model {
    method: Method,
    ruri: String,
    via_host: String,
    via_port: Option<u16>,
    branch: String,
    from_name: Option<String>,
    from_uri: String,
    from_tag: String,
    to_uri: String,
    call_id: String,
    cseq: u32,
    contacts: Vec<String>,
    max_forwards: u8,
    extra: Vec<(String, String)>,
    body: Vec<u8>,
}

fn model() -> impl Strategy<Value = Model> {
    (
        (
            method(),
            sip_uri(),
            host(),
            prop::option::of(1u16..),
            token(),
        ),
        (display_name(), sip_uri(), token(), sip_uri()),
        (
            "[a-zA-Z0-9.!%*_+`'~()<>:\\\\/\\[\\]?{}-]{1,20}(@[a-z0-9.]{1,12})?",
            0u32..(1 << 31),
        ),
        (prop::collection::vec(sip_uri(), 0..4), any::<u8>()),
        prop::collection::vec(("X-[A-Za-z0-9-]{1,10}", "[ -~]{0,40}"), 0..4),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(
            |(
                (method, ruri, via_host, via_port, branch),
                (from_name, from_uri, from_tag, to_uri),
                (call_id, cseq),
                (contacts, max_forwards),
                extra,
                body,
            )| Model {
                method,
                ruri,
                via_host,
                via_port,
                branch: format!("z9hG4bK{branch}"),
                from_name,
                from_uri,
                from_tag,
                to_uri,
                call_id,
                cseq,
                contacts,
                max_forwards,
                extra: extra
                    .into_iter()
                    .map(|(n, v)| (n, v.trim().to_owned()))
                    .collect(),
                body,
            },
        )
}

fn build(m: &Model) -> Bytes {
    let mut b = Builder::request(&m.method, &m.ruri);
    let port = m.via_port.map(|p| format!(":{p}")).unwrap_or_default();
    b.header(
        HeaderName::Via,
        format!("SIP/2.0/UDP {}{port};branch={};rport", m.via_host, m.branch),
    );
    let from = match &m.from_name {
        Some(n) => format!("\"{n}\" <{}>;tag={}", m.from_uri, m.from_tag),
        None => format!("<{}>;tag={}", m.from_uri, m.from_tag),
    };
    b.header(HeaderName::From, from);
    b.header(HeaderName::To, format!("<{}>", m.to_uri));
    b.header(HeaderName::CallId, &m.call_id);
    b.header(HeaderName::CSeq, format!("{} {}", m.cseq, m.method));
    b.header(HeaderName::MaxForwards, m.max_forwards);
    if !m.contacts.is_empty() {
        let list: Vec<String> = m.contacts.iter().map(|c| format!("<{c}>")).collect();
        b.header(HeaderName::Contact, list.join(", "));
    }
    for (n, v) in &m.extra {
        b.header_named(n, v);
    }
    if m.body.is_empty() {
        b.finish()
    } else {
        b.finish_with_body("application/octet-stream", &m.body)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn built_messages_parse_back_with_every_field(m in model()) {
        let msg = Message::parse(build(&m)).expect("our own output parses");
        prop_assert_eq!(msg.method(), Some(&m.method));
        prop_assert_eq!(msg.request_uri_str(), Some(m.ruri.as_str()));
        let via = msg.top_via().expect("via").expect("valid via");
        prop_assert_eq!(via.branch(), Some(m.branch.as_str()));
        prop_assert_eq!(via.port, m.via_port);
        prop_assert_eq!(via.rport(), Some(None));
        prop_assert_eq!(via.host.to_string(), Host::parse(&m.via_host).expect("host").to_string());
        let from = msg.from().expect("from").expect("valid from");
        prop_assert_eq!(from.tag(), Some(m.from_tag.as_str()));
        prop_assert_eq!(from.display_name.map(|d| d.text().into_owned()), m.from_name.clone());
        prop_assert_eq!(from.uri.to_string(), m.from_uri.clone());
        let to = msg.to().expect("to").expect("valid to");
        prop_assert_eq!(to.uri.to_string(), m.to_uri.clone());
        prop_assert_eq!(msg.call_id(), Some(m.call_id.as_str()));
        let cseq = msg.cseq().expect("cseq").expect("valid cseq");
        prop_assert_eq!(cseq.seq, m.cseq);
        prop_assert_eq!(&cseq.method, &m.method);
        prop_assert_eq!(msg.max_forwards(), Some(Ok(m.max_forwards)));
        let contacts: Vec<String> = msg
            .contacts()
            .map(|c| match c.expect("valid contact") {
                Contact::Addr(a) => a.uri.to_string(),
                Contact::Star => "*".to_owned(),
            })
            .collect();
        prop_assert_eq!(contacts, m.contacts.clone());
        for (n, v) in &m.extra {
            prop_assert!(msg.header_named(n).any(|got| got == v.as_str()), "{} lost", n);
        }
        prop_assert_eq!(msg.body().as_ref(), m.body.as_slice());
        // The request also passes validation as far as grammar goes.
        let policy = Policy { allowed: std::slice::from_ref(&m.method), supported: &[], accepted_bodies: &["application/octet-stream"] };
        let verdict = validate_request(&msg, &policy);
        let scheme_ok = Uri::parse(&m.ruri).is_ok();
        prop_assert!(!scheme_ok || verdict.is_ok() || !m.method.is_known(), "{:?}", verdict);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        exercise(Bytes::from(data));
    }

    #[test]
    fn mutated_messages_never_panic(m in model(), cuts in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = build(&m).to_vec();
        for (at, b) in cuts {
            let i = at.index(bytes.len());
            match b % 3 {
                0 => bytes[i] = b,
                1 => { bytes.insert(i, b); }
                _ => { bytes.truncate(i); }
            }
            if bytes.is_empty() { break; }
        }
        exercise(Bytes::from(bytes));
    }
}

/// Runs every entry point over `data`, reading every typed view.
fn exercise(data: Bytes) {
    let policy = Policy {
        allowed: &[Method::Options, Method::Invite],
        supported: &["timer"],
        accepted_bodies: &["application/sdp"],
    };
    let mut framer = StreamFramer::new(65_535);
    framer.push(&data);
    while let Some(Ok(_)) = framer.next_frame() {}
    if let Ok(m) = Message::parse(data) {
        let _ = validate_request(&m, &policy);
        let _ = validate_response(&m);
        let _ = m.request_uri();
        let _ = m.vias().count();
        let _ = m.contacts().count();
        let _ = m.from();
        let _ = m.to();
        let _ = m.cseq();
        let _ = m.challenges(HeaderName::WwwAuthenticate).count();
        let _ = m.record_routes().count();
        let _ = m.retry_after();
    }
}
