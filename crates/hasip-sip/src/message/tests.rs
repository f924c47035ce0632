use super::*;

pub(super) fn msg(text: &str) -> Message {
    Message::parse(Bytes::from(text.replace('\n', "\r\n"))).expect("parses")
}

#[test]
fn options_request_parses() {
    let m = msg("OPTIONS sip:gw@127.0.0.1:5060 SIP/2.0\n\
Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-1;rport\n\
From: <sip:probe@127.0.0.1>;tag=1\n\
To: <sip:gw@127.0.0.1:5060>\n\
Call-ID: abc@127.0.0.1\n\
CSeq: 1 OPTIONS\n\
Max-Forwards: 70\n\
Content-Length: 0\n\n");
    assert_eq!(m.method(), Some(&Method::Options));
    assert_eq!(m.request_uri_str(), Some("sip:gw@127.0.0.1:5060"));
    assert_eq!(m.call_id(), Some("abc@127.0.0.1"));
    assert_eq!(m.cseq().unwrap().unwrap().seq, 1);
    assert_eq!(m.top_via().unwrap().unwrap().branch(), Some("z9hG4bK-1"));
    assert_eq!(m.max_forwards(), Some(Ok(70)));
    assert!(m.body().is_empty());
}
