//! RFC 4475 ("SIP Torture Test Messages"), every category of its §3, as a UAS sees them.
//!
//! Each message below was written from the RFC's description of its case: it carries the
//! construct that case tortures (folding, escapes, overlarge numbers, unbalanced quotes…)
//! in a message of our own. Valid cases assert the parsed fields; invalid cases assert the
//! exact response code and that the reason names the fault; responses that must be
//! discarded assert that they fail to parse or to validate.

use bytes::Bytes;
use hasip_sip::message::validate::{Policy, Rejection, validate_request, validate_response};
use hasip_sip::message::{Contact, DisplayName, HeaderName, Host, Message, Method, Uri};

/// A UAS that handles calls (the methods ha-sip-rs serves) but is not a registrar.
const UAS: Policy<'static> = Policy {
    allowed: &[
        Method::Invite,
        Method::Ack,
        Method::Bye,
        Method::Cancel,
        Method::Options,
        Method::Info,
        Method::Refer,
        Method::Notify,
    ],
    supported: &[],
    accepted_bodies: &["application/sdp"],
};

const SDP: &str = "v=0\no=alice 53655765 2353687637 IN IP4 192.0.2.3\ns=-\nc=IN IP4 192.0.2.4\nt=0 0\nm=audio 49217 RTP/AVP 0 12\nm=video 3227 RTP/AVP 31\na=rtpmap:31 LPC\n";

/// Turns `\n` into CRLF and fills `{len}` with the body's length.
fn wire(head: &str, body: &str) -> Bytes {
    let body = body.replace('\n', "\r\n");
    let head = head
        .replace('\n', "\r\n")
        .replace("{len}", &body.len().to_string());
    Bytes::from(format!("{head}\r\n{body}"))
}

fn parse(head: &str, body: &str) -> Message {
    Message::parse(wire(head, body)).unwrap_or_else(|e| panic!("must parse: {e}\n{head}"))
}

fn verdict(head: &str, body: &str) -> Result<(), (u16, String)> {
    let m = parse(head, body);
    validate_request(&m, &UAS).map_err(|r| (r.status(), r.reason().into_owned()))
}

#[track_caller]
fn rejected(head: &str, body: &str, code: u16, names: &str) {
    match verdict(head, body) {
        Ok(()) => panic!("accepted, expected {code}:\n{head}"),
        Err((c, reason)) => {
            assert_eq!(c, code, "{reason}\n{head}");
            assert!(
                reason.contains(names),
                "reason {reason:?} should name {names:?}"
            );
        }
    }
}

// ---------------------------------------------------------------- 3.1.1 valid messages

#[test]
fn s3_1_1_1_short_tortuous_invite_folding_spacing_case_and_leading_zeros() {
    let head = "INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : \"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : {len}
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33
";
    let m = parse(head, SDP);
    assert_eq!(validate_request(&m, &UAS), Ok(()));
    assert_eq!(m.max_forwards(), Some(Ok(68)));
    let cseq = m.cseq().unwrap().unwrap();
    assert_eq!((cseq.seq, cseq.method), (9, Method::Invite));
    let vias: Vec<_> = m.vias().map(|v| v.unwrap()).collect();
    assert_eq!(vias.len(), 3);
    assert_eq!(
        (vias[0].transport, vias[0].host),
        ("UDP", Host::V4("192.0.2.2".parse().unwrap()))
    );
    assert_eq!(
        (vias[1].transport, vias[1].host),
        ("TCP", Host::Name("spindle.example.com"))
    );
    assert_eq!(vias[1].branch(), Some("z9hG4bK9ikj8"));
    assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
    let from = m.from().unwrap().unwrap();
    assert_eq!(from.display_name.unwrap().text(), "J Rosenberg \\\"");
    assert_eq!(from.tag(), Some("98asjd8"));
    assert_eq!(m.to().unwrap().unwrap().tag(), Some("1918181833n"));
    assert_eq!(m.header(HeaderName::Subject), Some(""));
    let contact = match m.contacts().next().unwrap().unwrap() {
        Contact::Addr(a) => a,
        Contact::Star => panic!("star"),
    };
    assert_eq!(contact.display_name.unwrap().text(), "Quoted string \"\"");
    assert_eq!(contact.params.get("q"), Some(Some("0.33")));
    assert_eq!(contact.params.get("secondparam"), Some(None));
    assert_eq!(
        m.header_named("UnknownHeaderWithUnusualValue").next(),
        Some(";;,,;;,;")
    );
    assert!(
        m.header_named("NewFangledHeader")
            .next()
            .unwrap()
            .ends_with("continued newfangled value")
    );
    assert_eq!(m.body().len(), SDP.replace('\n', "\r\n").len());
}

#[test]
fn s3_1_1_2_wide_range_of_valid_characters_is_an_unknown_method_501() {
    let head = "!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0
Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~
To: \"BEL:\\\u{7} NUL:\\\u{0} DEL:\\\u{7f}\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>
From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"работающий\";tag=_token~1'+`*%!-.
Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{
CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~
Max-Forwards: 255
extensionHeader-!.%*+_`'~:\u{feff}大停電
Content-Length: 0
";
    let m = parse(head, "");
    let uri = m.request_uri().unwrap().unwrap();
    let sip = uri.as_sip().unwrap();
    assert_eq!(
        sip.user,
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    assert_eq!(
        sip.password,
        Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
    );
    assert_eq!(sip.host, Host::Name("example.com"));
    let from = m.from().unwrap().unwrap();
    assert_eq!(from.tag(), Some("_token~1'+`*%!-."));
    assert!(matches!(from.display_name, Some(DisplayName::Tokens(_))));
    assert_eq!(
        m.top_via().unwrap().unwrap().branch(),
        Some("z9hG4bK-.!%66*_+`'~")
    );
    assert_eq!(m.max_forwards(), Some(Ok(255)));
    assert_eq!(
        m.header_named("extensionHeader-!.%*+_`'~").next(),
        Some("\u{feff}大停電")
    );
    assert_eq!(validate_request(&m, &UAS), Err(Rejection::NotImplemented));
}

#[test]
fn s3_1_1_3_valid_percent_escapes_decode_once_and_only_in_uris() {
    let head = "INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
To: sip:%75se%72@example.com
From: <sip:I%20have%20spaces@example.net>;tag=938
Max-Forwards: 87
i: esc01.239409asdfakjkn23onasd0-3234
CSeq: 234234 INVITE
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw
C: application/sdp
Contact:
  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>
Content-Length: {len}
";
    let m = parse(head, SDP);
    assert_eq!(validate_request(&m, &UAS), Ok(()));
    assert_eq!(
        m.request_uri().unwrap().unwrap().user().as_deref(),
        Some("sips:user@example.com")
    );
    assert_eq!(m.to().unwrap().unwrap().uri.user().as_deref(), Some("user"));
    assert_eq!(
        m.from().unwrap().unwrap().uri.user().as_deref(),
        Some("I have spaces")
    );
    let Contact::Addr(c) = m.contacts().next().unwrap().unwrap() else {
        panic!()
    };
    assert_eq!(c.uri.user().as_deref(), Some("caller"));
    let params = c.uri.as_sip().unwrap().params;
    // Escapes are kept on the wire form and decoded once on access: never to "valueA".
    assert_eq!(params.get("n%61me"), Some(Some("v%61lue%25%34%31")));
    assert_eq!(
        hasip_sip::message::text::percent_decode("v%61lue%25%34%31"),
        "value%41"
    );
    assert_eq!(m.content_type(), Some("application/sdp"));
}

#[test]
fn s3_1_1_4_escaped_nulls_give_two_distinct_contacts() {
    let head = "REGISTER sip:example.com SIP/2.0
To: sip:null-%00-null@example.com
From: sip:null-%00-null@example.com;tag=839923423
Max-Forwards: 70
Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
Contact: <sip:%00@host5.example.com>
Contact: <sip:%00%00@host5.example.com>
L:0
";
    let m = parse(head, "");
    assert_eq!(
        m.to().unwrap().unwrap().uri.user().as_deref(),
        Some("null-\0-null")
    );
    let users: Vec<String> = m
        .contacts()
        .map(|c| match c.unwrap() {
            Contact::Addr(a) => a.uri.user().unwrap().into_owned(),
            Contact::Star => panic!(),
        })
        .collect();
    assert_eq!(users, vec!["\0".to_owned(), "\0\0".to_owned()]);
    assert_eq!(m.content_length(), Some(Ok(0)));
    // Well formed; a UA that is not a registrar answers 405.
    assert_eq!(validate_request(&m, &UAS), Err(Rejection::MethodNotAllowed));
}

#[test]
fn s3_1_1_5_percent_that_is_not_an_escape_unknown_method_and_header() {
    let head = "RE%47IST%45R sip:registrar.example.com SIP/2.0
To: \"%Z%45\" <sip:resource@example.com>
From: \"%Z%45\" <sip:resource@example.com>;tag=f232jadfj23
Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf
Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234
CSeq: 29344 RE%47IST%45R
Max-Forwards: 70
Contact: <sip:alias1@host1.example.com>
C%6Fntact: <sip:alias2@host2.example.com>
Contact: <sip:alias3@host3.example.com>
l: 0
";
    let m = parse(head, "");
    assert!(matches!(m.method(), Some(Method::Other(name)) if &**name == "RE%47IST%45R"));
    assert_eq!(
        m.contacts().count(),
        2,
        "C%6Fntact is an unknown header, not Contact"
    );
    assert_eq!(
        m.to().unwrap().unwrap().display_name.unwrap().text(),
        "%Z%45"
    );
    assert_eq!(validate_request(&m, &UAS), Err(Rejection::NotImplemented));
}

#[test]
fn s3_1_1_6_no_space_between_display_name_and_angle_bracket() {
    let head = "OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: caller<sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: lwsdisp.1234abcd@funky.example.com
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw
l: 0
";
    assert_eq!(verdict(head, ""), Ok(()));
    let m = parse(head, "");
    assert_eq!(
        m.from().unwrap().unwrap().display_name.unwrap().text(),
        "caller"
    );
}

#[test]
fn s3_1_1_7_long_values_and_34_vias_in_every_spelling() {
    let mut head = String::from("INVITE sip:user@example.com SIP/2.0\n");
    head += &format!(
        "To: \"I have a user name of {} proportion\"<sip:user@example.com:6000;unknownparam1=very{}value;longparam{}=shortvalue;very{}ParameterNameWithNoValue>\n",
        "extreme".repeat(10),
        "long".repeat(20),
        "name".repeat(25),
        "long".repeat(25)
    );
    let tag = format!("12{}424", "982".repeat(50));
    head += &format!(
        "F: sip:{}@example.net;tag={tag};unknownheaderparam{}=unknowheaderparam{};unknownValueless{}\n",
        "amazinglylongcallername".repeat(5),
        "name".repeat(20),
        "value".repeat(15),
        "paramname".repeat(10)
    );
    head += &format!(
        "Call-ID: longreq.one{}longcallid\nCSeq: 3882340 INVITE\n",
        "really".repeat(20)
    );
    head += &format!(
        "Unknown-{l}-Name: unknown-{l}-value; unknown-{l}-parameter-name = unknown-{l}-parameter-value\n",
        l = "long".repeat(20)
    );
    let spellings = [
        "Via", "v", "V", "Via", "ViA", "VIa", "VIA", "via", "viA", "vIa", "vIA", "V :  ", "v :  ",
        "V  : ", "v  : ", "Via : ", "Via  : ",
    ];
    for i in (1..=33).rev() {
        let name = spellings.get(33 - i).copied().unwrap_or("Via");
        let sep = if name.contains(':') { "" } else { ": " };
        head += &format!("{name}{sep}SIP/2.0/TCP sip{i}.example.com\n");
    }
    head += &format!(
        "Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;branch=very{}branchvalue\n",
        "long".repeat(50)
    );
    head += &format!(
        "Max-Forwards: 70\nContact: <sip:{}@host5.example.net>\nContent-Type: application/sdp\nl: {{len}}\n",
        "amazinglylongcallername".repeat(5)
    );
    let m = parse(&head, SDP);
    assert_eq!(validate_request(&m, &UAS), Ok(()));
    assert_eq!(m.vias().count(), 34);
    assert!(m.vias().all(|v| v.is_ok()));
    assert_eq!(
        m.top_via().unwrap().unwrap().host,
        Host::Name("sip33.example.com")
    );
    assert_eq!(m.from().unwrap().unwrap().tag(), Some(tag.as_str()));
    let to = m.to().unwrap().unwrap();
    assert_eq!(to.uri.as_sip().unwrap().port, Some(6000));
    assert!(
        to.display_name
            .unwrap()
            .text()
            .starts_with("I have a user name of extremeextreme")
    );
}

#[test]
fn s3_1_1_8_extra_octets_after_a_udp_message_are_ignored() {
    let register = "REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=43251j3j324
Max-Forwards: 8
I: dblreq.0ha0isndaksdj99sdfafnl3lk233412
Contact: sip:j.user@host.example.com
CSeq: 8 REGISTER
Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492
Content-Length: 0
";
    let junk =
        "INVITE sip:joe@example.com SIP/2.0\nt: sip:joe@example.com\nContent-Length: 150\n\nv=0\n";
    let m = parse(register, junk);
    assert!(
        m.body().is_empty(),
        "Content-Length 0: nothing after the head belongs to it"
    );
    assert_eq!(m.call_id(), Some("dblreq.0ha0isndaksdj99sdfafnl3lk233412"));
    assert_eq!(validate_request(&m, &UAS), Err(Rejection::MethodNotAllowed));
}

#[test]
fn s3_1_1_9_semicolons_in_the_user_part() {
    let head = "OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Call-ID: semiuri.0ha0isndaksdj
CSeq: 8 OPTIONS
Accept: application/sdp, application/pkcs7-mime,
        multipart/mixed, multipart/signed,
        message/sip, message/sipfrag
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw
l: 0
";
    let m = parse(head, "");
    assert_eq!(validate_request(&m, &UAS), Ok(()));
    let uri = m.request_uri().unwrap().unwrap();
    assert_eq!(uri.user().as_deref(), Some("user;par=u@example.net"));
    assert!(uri.as_sip().unwrap().params.is_empty());
    assert_eq!(m.tokens(HeaderName::Accept).count(), 6);
}

#[test]
fn s3_1_1_10_varied_and_unknown_transports() {
    let head = "OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: <sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID:  transports.kijh4akdnaqjkwendsasfdj
Accept: application/sdp
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw
Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf
Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj
Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en
Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee
l: 0
";
    let m = parse(head, "");
    assert_eq!(validate_request(&m, &UAS), Ok(()));
    let t: Vec<_> = m.vias().map(|v| v.unwrap().transport).collect();
    assert_eq!(t, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
}

#[test]
fn s3_1_1_11_multipart_body_with_nul_and_cr_octets_is_framed_by_content_length() {
    let mut body = b"--7a9cbec02ceef655\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\n\r\nHello\r\n--7a9cbec02ceef655\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n".to_vec();
    body.extend_from_slice(&[
        0x30, 0x82, 0x00, 0x0d, 0x00, 0xff, 0x0d, 0x0d, 0x0a, 0x00, 0x0a, 0x0a,
    ]);
    body.extend_from_slice(b"\r\n--7a9cbec02ceef655--\r\n");
    let head = format!(
        "MESSAGE sip:kumiko@example.org SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport\r\n\
Max-Forwards: 70\r\nRoute: <sip:127.0.0.1:5080>\r\nIdentity: r5mwreLuyDRYBi/0TiPwEsY3rEVsk/G2WxhgTV1PF7hHuLIK0YWVKZhKv9Mj8UeXqkMVbnVq37CD+813gvYjcBUaZngQmXc9WNZSDNGCzA+fWl9MEUHWIZo1CeJebdY/XlgKeTa0Olvq0rt70Q5jiSfbqMJmQFteeivUhkMWYUA=\r\n\
Contact: <sip:fluffy@127.0.0.1:5070>\r\nTo: <sip:kumiko@example.org>\r\nFrom: <sip:fluffy@example.com>;tag=2fb0dcc9\r\n\
Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..\r\nCSeq: 1 MESSAGE\r\nContent-Transfer-Encoding: binary\r\n\
Content-Type: multipart/mixed;boundary=7a9cbec02ceef655\r\nDate: Sat, 15 Oct 2005 04:44:56 GMT\r\nUser-Agent: SIPimp.org/0.2.5 (curses)\r\n\
Content-Length: {}\r\n\r\n",
        body.len()
    );
    let mut data = head.into_bytes();
    data.extend_from_slice(&body);
    data.extend_from_slice(b"trailing datagram octets");
    let m = Message::parse(Bytes::from(data)).expect("parses");
    assert_eq!(m.body().as_ref(), body.as_slice());
    assert_eq!(m.content_type(), Some("multipart/mixed"));
    assert_eq!(m.top_via().unwrap().unwrap().rport(), Some(None));
    // Well formed; MESSAGE is not a method a gateway UAS handles.
    assert_eq!(validate_request(&m, &UAS), Err(Rejection::MethodNotAllowed));
}

#[test]
fn s3_1_1_12_and_13_unusual_and_empty_reason_phrases() {
    let common = "Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Call-ID: unreason.1234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Length: 0
Contact: <sip:user@host198.example.com>
";
    let reason = "= 2**3 * 5**2 но сто девяносто девять - простое";
    let m = parse(&format!("SIP/2.0 200 {reason}\n{common}"), "");
    assert_eq!((m.status(), m.reason()), (Some(200), Some(reason)));
    assert_eq!(validate_response(&m), Ok(()));
    for line in ["SIP/2.0 100 ", "SIP/2.0 100"] {
        let m = parse(&format!("{line}\n{common}"), "");
        assert_eq!((m.status(), m.reason()), (Some(100), Some("")), "{line:?}");
        assert_eq!(validate_response(&m), Ok(()));
    }
}

// ---------------------------------------------------------------- 3.1.2 invalid messages

fn invite_with(line: &str, replace: &[(&str, &str)]) -> String {
    let mut h = format!(
        "{line}
To: sip:j.user@example.com
From: sip:caller@example.net;tag=134161461246
Max-Forwards: 7
Call-ID: badinv01.0ha0isndaksdjasdf3234nas
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw
Contact: <sip:caller@host5.example.net>
Content-Type: application/sdp
Content-Length: {{len}}
"
    );
    for (from, to) in replace {
        assert!(h.contains(from), "{from}");
        h = h.replace(from, to);
    }
    h
}

const INVITE: &str = "INVITE sip:user@example.com SIP/2.0";

#[test]
fn s3_1_2_1_extraneous_header_field_separators() {
    let h = invite_with(
        INVITE,
        &[
            (
                "Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw",
                "Via: SIP/2.0/UDP 192.0.2.15;;,;,,",
            ),
            (
                "Contact: <sip:caller@host5.example.net>",
                "Contact: \"Joe\" <sip:joe@example.org>;;;;",
            ),
        ],
    );
    rejected(&h, SDP, 400, "Via");
    let only_contact = invite_with(
        INVITE,
        &[(
            "Contact: <sip:caller@host5.example.net>",
            "Contact: \"Joe\" <sip:joe@example.org>;;;;",
        )],
    );
    rejected(&only_contact, SDP, 400, "Contact");
}

#[test]
fn s3_1_2_2_and_3_content_length_larger_than_the_datagram_or_negative() {
    rejected(
        &invite_with(INVITE, &[("Content-Length: {len}", "Content-Length: 9999")]),
        SDP,
        400,
        "Content-Length",
    );
    rejected(
        &invite_with(INVITE, &[("Content-Length: {len}", "Content-Length: -999")]),
        SDP,
        400,
        "Content-Length",
    );
    rejected(
        &invite_with(INVITE, &[("Content-Length: {len}", "Content-Length: five")]),
        SDP,
        400,
        "Content-Length",
    );
}

#[test]
fn s3_1_2_4_overlarge_scalars_in_a_request() {
    let head = "REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3
To: <sip:user@example.com>
From: <sip:user@example.com>;tag=239232jh3
CSeq: 36893488147419103232 REGISTER
Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32
Max-Forwards: 300
Expires: 10000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000
Contact: <sip:user@host129.example.com>
  ;expires=280297596632815
Content-Length: 0
";
    rejected(head, "", 400, "CSeq");
    // Each overlarge value on its own is a 400 too.
    let ok_cseq = head.replace("36893488147419103232", "1");
    rejected(&ok_cseq, "", 400, "Max-Forwards");
    let ok_mf = ok_cseq.replace("Max-Forwards: 300", "Max-Forwards: 70");
    rejected(&ok_mf, "", 400, "Expires");
}

#[test]
fn s3_1_2_5_and_19_overlarge_response_scalars_and_codes_are_discarded() {
    let scalarlg = "SIP/2.0 503 Service Unavailable
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129
To: <sip:user@example.com>
From: <sip:other@example.net>;tag=2easdjfejw
CSeq: 9292394834772304023312 OPTIONS
Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r
Retry-After: 949302838503028349304023988
Warning: 1812 overture \"In Progress\"
Content-Length: 0
";
    let m = parse(scalarlg, "");
    assert!(validate_response(&m).is_err());
    assert!(m.retry_after().unwrap().is_err());
    let bigcode = "SIP/2.0 4294967301 better not break the receiver
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i
CSeq: 353494 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
";
    assert!(
        Message::parse(wire(bigcode, "")).is_err(),
        "no wrap-around to a small code"
    );
    assert!(Message::parse(wire(&bigcode.replace("4294967301", "700"), "")).is_err());
}

#[test]
fn s3_1_2_6_unterminated_quoted_string_in_display_name() {
    let h = invite_with(
        INVITE,
        &[(
            "To: sip:j.user@example.com",
            "To: \"Mr. J. User <sip:j.user@example.com>",
        )],
    );
    rejected(&h, SDP, 400, "To");
    let harder = invite_with(
        INVITE,
        &[(
            "To: sip:j.user@example.com",
            "To: \"Mr J. User <sip:j.user@example.com> <sip:realj@example.net>",
        )],
    );
    rejected(&harder, SDP, 400, "To");
}

#[test]
fn s3_1_2_7_to_11_malformed_request_lines() {
    rejected(
        &invite_with("INVITE <sip:user@example.com> SIP/2.0", &[]),
        SDP,
        400,
        "<>",
    );
    rejected(
        &invite_with("INVITE sip:user@example.com; lr SIP/2.0", &[]),
        SDP,
        400,
        "white space",
    );
    rejected(
        &invite_with("INVITE  sip:user@example.com  SIP/2.0", &[]),
        SDP,
        400,
        "white space",
    );
    rejected(
        &invite_with("INVITE sip:user@example.com SIP/2.0  ", &[]),
        SDP,
        400,
        "white space",
    );
    rejected(
        &invite_with(
            "INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0",
            &[],
        ),
        SDP,
        400,
        "headers",
    );
}

#[test]
fn s3_1_2_12_invalid_date_zone_is_ignored_by_a_ua_that_does_not_use_date() {
    let h = invite_with(
        INVITE,
        &[(
            "Max-Forwards: 7",
            "Max-Forwards: 7\nDate: Fri, 01 Jan 2010 16:00:00 EST",
        )],
    );
    assert_eq!(verdict(&h, SDP), Ok(()));
}

#[test]
fn s3_1_2_13_to_15_name_addr_faults() {
    let register = "REGISTER sip:example.com SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=998332
Max-Forwards: 70
Call-ID: regbadct.k345asrl3fdbv@10.0.0.1
CSeq: 1 REGISTER
Via: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw
Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E
l: 0
";
    rejected(register, "", 400, "Contact");
    let options = "OPTIONS sip:user@example.org SIP/2.0
Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234
Max-Forwards: 70
From: \"Bell, Alexander\" <sip:a.g.bell@example.com>;tag=433423
To: \"Watson, Thomas\" < sip:t.watson@example.org >
Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3
Accept: application/sdp
CSeq: 3923239 OPTIONS
l: 0
";
    rejected(options, "", 400, "To");
    let baddn = options
        .replace(
            "From: \"Bell, Alexander\" <sip:a.g.bell@example.com>",
            "From:    Bell, Alexander <sip:a.g.bell@example.com>",
        )
        .replace(
            "To: \"Watson, Thomas\" < sip:t.watson@example.org >",
            "To:      Watson, Thomas <sip:t.watson@example.org>",
        );
    rejected(&baddn, "", 400, "From");
}

#[test]
fn s3_1_2_16_unknown_protocol_version_gets_505() {
    let head = "OPTIONS sip:t.watson@example.org SIP/7.0
Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw
Max-Forwards:     70
From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe
To:      T. Watson <sip:t.watson@example.org>
Call-ID: badvers.31417@c.example.com
CSeq:    1 OPTIONS
l: 0
";
    rejected(head, "", 505, "Version");
}

#[test]
fn s3_1_2_17_and_18_cseq_method_mismatch() {
    let h = "OPTIONS sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=34525
Max-Forwards: 6
Call-ID: mismatch01.dj0234sxdfl3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw
l: 0
";
    rejected(h, "", 400, "CSeq");
    // An unknown method with a mismatching CSeq: 501 is preferred (the peer learns more).
    rejected(
        &h.replace("OPTIONS sip:", "NEWMETHOD sip:"),
        "",
        501,
        "Not Implemented",
    );
}

// ---------------------------------------------------------------- 3.2 transaction layer

#[test]
fn s3_2_1_branch_that_is_only_the_magic_cookie_still_parses() {
    let head = "OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK
Accept: application/sdp
Call-ID: badbranch.sadonfo23i420jv0as0derf3j3n
CSeq: 8 OPTIONS
l: 0
";
    // The transaction layer falls back to RFC 2543 matching (see transaction tests).
    assert_eq!(verdict(head, ""), Ok(()));
    assert_eq!(
        parse(head, "").top_via().unwrap().unwrap().branch(),
        Some("z9hG4bK")
    );
}

// ---------------------------------------------------------------- 3.3 application layer

#[test]
fn s3_3_1_missing_required_headers() {
    let head = "INVITE sip:user@example.com SIP/2.0
CSeq: 193942 INVITE
Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf
Content-Type: application/sdp
l: {len}
";
    rejected(head, SDP, 400, "missing");
    // An answer can still be built from what is there.
    let m = parse(head, SDP);
    let resp = hasip_sip::message::build::response_to(&m, 400, "Bad Request", Some("t")).finish();
    let r = Message::parse(resp).unwrap();
    assert_eq!(r.status(), Some(400));
    assert_eq!(r.call_id(), None);
}

#[test]
fn s3_3_2_and_3_unknown_and_atypical_request_uri_schemes_get_416() {
    let base = "OPTIONS {uri} SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=384
Max-Forwards: 3
Call-ID: unkscm.nasdfasser0q239nwsdfasdkl34
CSeq: 3923423 OPTIONS
Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234
Content-Length: 0
";
    for uri in [
        "nobodyKnowsThisScheme:totallyopaquecontent",
        "soap.beep://192.0.2.103:3002",
    ] {
        let h = base.replace("{uri}", uri);
        let m = parse(&h, "");
        assert!(
            matches!(m.request_uri(), Some(Ok(Uri::Other { .. }))),
            "{uri}"
        );
        rejected(&h, "", 416, "Unsupported URI Scheme");
    }
}

#[test]
fn s3_3_4_unknown_uri_schemes_in_header_fields_parse() {
    let head = "REGISTER sip:example.com SIP/2.0
To: isbn:2983792873
From: <http://www.example.com>;tag=3234233
Call-ID: unksm2.daksdj@hyphenated-host.example.com
CSeq: 234902 REGISTER
Max-Forwards: 70
Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw
Contact: <name:John_Smith>
l: 0
";
    let m = parse(head, "");
    assert_eq!(m.to().unwrap().unwrap().uri.scheme(), "isbn");
    assert_eq!(m.from().unwrap().unwrap().uri.scheme(), "http");
    assert_eq!(m.from().unwrap().unwrap().tag(), Some("3234233"));
    let Contact::Addr(c) = m.contacts().next().unwrap().unwrap() else {
        panic!()
    };
    assert_eq!(c.uri.scheme(), "name");
    // Not a registrar: 405.
    assert_eq!(validate_request(&m, &UAS), Err(Rejection::MethodNotAllowed));
}

#[test]
fn s3_3_5_require_gets_420_listing_only_require_tags() {
    let head = "OPTIONS sip:user@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.net;tag=242etr
Max-Forwards: 6
Call-ID: bext01.0ha0isndaksdj
Require: nothingSupportsThis, nothingSupportsThisEither
Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis
CSeq: 8 OPTIONS
Via: SIP/2.0/TLS fold-and-staple.example.com;branch=z9hG4bKkdjuw
Content-Length: 0
";
    let m = parse(head, "");
    assert_eq!(
        validate_request(&m, &UAS),
        Err(Rejection::BadExtension(vec![
            "nothingSupportsThis".into(),
            "nothingSupportsThisEither".into()
        ]))
    );
}

#[test]
fn s3_3_6_unknown_content_type_gets_415() {
    let h = invite_with(
        INVITE,
        &[(
            "Content-Type: application/sdp",
            "Content-Type: application/unknownformat",
        )],
    );
    rejected(
        &h,
        "<audio>\n <pcmu port=\"443\"/>\n</audio>\n",
        415,
        "Unsupported Media Type",
    );
}

#[test]
fn s3_3_7_unknown_authorization_scheme_parses_and_a_non_registrar_answers_405() {
    let head = "REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=87321hj23128
Max-Forwards: 8
Call-ID: regaut01.0ha0isndaksdj
CSeq: 9338 REGISTER
Via: SIP/2.0/TCP 192.0.2.253;branch=z9hG4bKkdjuw
Authorization: NoOneKnowsThisScheme opaque-data=here
Content-Length:0
";
    let m = parse(head, "");
    let auth = m
        .challenges(HeaderName::Authorization)
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(auth.scheme, "NoOneKnowsThisScheme");
    assert_eq!(validate_request(&m, &UAS), Err(Rejection::MethodNotAllowed));
}

#[test]
fn s3_3_8_and_9_duplicated_single_value_headers() {
    let multi = "INVITE sip:user@company.com SIP/2.0
Contact: <sip:caller@host25.example.net>
Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw
Max-Forwards: 70
CSeq: 5 INVITE
Call-ID: multi01.98asdh@192.0.2.1
CSeq: 59 INVITE
Call-ID: multi01.98asdh@192.0.2.2
From: sip:caller@example.com;tag=3413415
To: sip:user@example.com
To: sip:other@example.net
From: sip:caller@example.net;tag=2923420123
Content-Type: application/sdp
l: {len}
Contact: <sip:caller@host36.example.net>
Max-Forwards: 5
";
    rejected(multi, SDP, 400, "more than once");
    let mcl = "OPTIONS sip:user@example.com SIP/2.0
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423
To: sip:user@example.com
From: sip:other@example.net;tag=3923942
Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf
CSeq: 15932 OPTIONS
Content-Length: 13
Max-Forwards: 60
Content-Length: 5
Content-Type: text/plain
";
    rejected(
        mcl,
        "There's no way to know how many octets are supposed to be here.\n",
        400,
        "Content-Length",
    );
}

#[test]
fn s3_3_10_response_with_broadcast_via_parses_and_matches_no_transaction() {
    let head = "SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23
Call-ID: bcast.0384840201234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Length: {len}
Content-Type: application/sdp
Contact: <sip:user@host28.example.com>
";
    let m = parse(head, SDP);
    assert_eq!(validate_response(&m), Ok(()));
    let vias: Vec<_> = m.vias().map(|v| v.unwrap().host).collect();
    assert_eq!(vias[1], Host::V4("255.255.255.255".parse().unwrap()));
    // An endpoint discards it: a fresh transaction layer has nothing to match it with.
    let mut t = hasip_sip::transaction::Transactions::new(Default::default());
    assert!(t.handle_response(base_instant(), m).is_some());
    assert!(t.poll_event().is_none());
}

#[allow(clippy::disallowed_methods)]
fn base_instant() -> std::time::Instant {
    std::time::Instant::now()
}

#[test]
fn s3_3_11_max_forwards_zero_is_processed_by_a_ua() {
    let head = "OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=3ghsd41
Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas
CSeq: 39234321 OPTIONS
Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i
Max-Forwards: 0
Content-Length: 0
";
    assert_eq!(verdict(head, ""), Ok(()));
}

#[test]
fn s3_3_12_to_14_contact_parameters_belong_where_the_brackets_say() {
    let base = "REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: sip:watson@example.com;tag=DkfVgjkrtMwaerKKpe
To: sip:watson@example.com
Call-ID: cparam01.70710@saturn.example.com
CSeq: 2 REGISTER
{contact}
l: 0
";
    let contact = |line: &str| {
        let m = parse(&base.replace("{contact}", line), "");
        match m.contacts().next().unwrap().unwrap() {
            Contact::Addr(a) => (a.params.as_str().to_owned(), a.uri.to_string()),
            Contact::Star => panic!(),
        }
    };
    let (header_params, uri) = contact("Contact: sip:+19725552222@gw1.example.net;unknownparam");
    assert_eq!(
        (header_params.as_str(), uri.as_str()),
        ("unknownparam", "sip:+19725552222@gw1.example.net")
    );
    let (header_params, uri) = contact("Contact: <sip:+19725552222@gw1.example.net;unknownparam>");
    assert_eq!(
        (header_params.as_str(), uri.as_str()),
        ("", "sip:+19725552222@gw1.example.net;unknownparam")
    );
    let (_, uri) = contact("M: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>");
    assert_eq!(uri, "sip:user@example.com?Route=%3Csip:sip.example.com%3E");
}

#[test]
fn s3_3_15_accept_without_sdp_on_invite_gets_406() {
    let h = invite_with(
        INVITE,
        &[(
            "Max-Forwards: 7",
            "Max-Forwards: 7\nAccept: text/nobodyKnowsThis",
        )],
    );
    rejected(&h, SDP, 406, "Not Acceptable");
    let wildcard = invite_with(
        INVITE,
        &[("Max-Forwards: 7", "Max-Forwards: 7\nAccept: application/*")],
    );
    assert_eq!(verdict(&wildcard, SDP), Ok(()));
}

// ---------------------------------------------------------------- 3.4 backward compatibility

#[test]
fn s3_4_1_rfc2543_invite_without_branch_tag_length_or_max_forwards() {
    let head = "INVITE sip:UserB@example.com SIP/2.0
Via: SIP/2.0/UDP iftgw.example.com
From: <sip:+13035551111@ift.client.example.net;user=phone>
Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>
To: sip:+16505552222@ss1.example.net;user=phone
Call-ID: inv2543.1717@ift.client.example.com
CSeq: 56 INVITE
Content-Type: application/sdp
";
    let body = "v=0\no=mhandley 29739 7272939 IN IP4 192.0.2.5\ns=-\nc=IN IP4 192.0.2.5\nt=0 0\nm=audio 49217 RTP/AVP 0\n";
    let m = parse(head, body);
    assert_eq!(validate_request(&m, &UAS), Ok(()));
    assert_eq!(
        m.body().len(),
        body.replace('\n', "\r\n").len(),
        "the body runs to the end of the datagram"
    );
    assert_eq!(m.top_via().unwrap().unwrap().branch(), None);
    assert_eq!(m.from().unwrap().unwrap().tag(), None);
    assert_eq!(
        m.to().unwrap().unwrap().params.get("user"),
        Some(Some("phone"))
    );
    assert_eq!(m.max_forwards(), None);
}
