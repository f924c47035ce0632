//! RFC 4475's invalid and application-layer cases sent to the running gateway over UDP and
//! TCP: each gets its documented response (or is dropped where the RFC allows), and the
//! gateway answers OPTIONS afterwards.

use std::time::Duration;

use hasip_tests::gateway::Gateway;
use hasip_tests::raw;
use hasip_tests::workdir::WorkDir;

const WAIT: Duration = Duration::from_secs(3);

/// A request from the raw client: `{t}` is the transport, `{port}` the client's port.
fn req(line: &str, extra: &str, cseq: &str, body: &str) -> String {
    let body = body.replace('\n', "\r\n");
    format!(
        "{line}\r\nVia: SIP/2.0/{{t}} 127.0.0.1:{{port}};branch=z9hG4bK-torture;rport\r\n\
To: <sip:hasip@127.0.0.1>\r\nFrom: <sip:torture@127.0.0.1>;tag=t0rture\r\nCall-ID: torture-{cseq}@127.0.0.1\r\n\
CSeq: 1 {cseq}\r\nMax-Forwards: 70\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

const SDP: &str =
    "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 4000 RTP/AVP 0\n";

fn cases() -> Vec<(&'static str, String, u16)> {
    let opt = "OPTIONS sip:hasip@127.0.0.1 SIP/2.0";
    vec![
        (
            "badinv01 empty Via params",
            req(opt, "", "OPTIONS", "").replace(";branch=z9hG4bK-torture;rport", ";rport;;,;,,"),
            400,
        ),
        (
            "badinv01 empty Contact params",
            req(
                opt,
                "Contact: \"Joe\" <sip:joe@example.org>;;;;\r\n",
                "OPTIONS",
                "",
            ),
            400,
        ),
        (
            "clerr",
            req(opt, "", "OPTIONS", "").replace("Content-Length: 0", "Content-Length: 9999"),
            400,
        ),
        (
            "ncl",
            req(opt, "", "OPTIONS", "").replace("Content-Length: 0", "Content-Length: -999"),
            400,
        ),
        (
            "scalar02 CSeq",
            req(opt, "", "OPTIONS", "")
                .replace("CSeq: 1 OPTIONS", "CSeq: 36893488147419103232 OPTIONS"),
            400,
        ),
        (
            "scalar02 Max-Forwards",
            req(opt, "", "OPTIONS", "").replace("Max-Forwards: 70", "Max-Forwards: 300"),
            400,
        ),
        (
            "quotbal",
            req(opt, "", "OPTIONS", "").replace("To: <sip:hasip", "To: \"Mr. J. User <sip:hasip"),
            400,
        ),
        (
            "ltgtruri",
            req("OPTIONS <sip:hasip@127.0.0.1> SIP/2.0", "", "OPTIONS", ""),
            400,
        ),
        (
            "lwsruri",
            req("OPTIONS sip:hasip@127.0.0.1; lr SIP/2.0", "", "OPTIONS", ""),
            400,
        ),
        (
            "lwsstart",
            req("OPTIONS  sip:hasip@127.0.0.1  SIP/2.0", "", "OPTIONS", ""),
            400,
        ),
        (
            "trws",
            req("OPTIONS sip:hasip@127.0.0.1 SIP/2.0  ", "", "OPTIONS", ""),
            400,
        ),
        (
            "escruri",
            req(
                "OPTIONS sip:hasip@127.0.0.1?Route=%3Csip:example.com%3E SIP/2.0",
                "",
                "OPTIONS",
                "",
            ),
            400,
        ),
        (
            "regbadct",
            req(
                opt,
                "Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E\r\n",
                "OPTIONS",
                "",
            ),
            400,
        ),
        (
            "badaspec",
            req(opt, "", "OPTIONS", "").replace(
                "To: <sip:hasip@127.0.0.1>",
                "To: \"Watson, Thomas\" < sip:t.watson@example.org >",
            ),
            400,
        ),
        (
            "baddn",
            req(opt, "", "OPTIONS", "")
                .replace("From: <sip:torture", "From: Bell, Alexander <sip:torture"),
            400,
        ),
        (
            "badvers",
            req("OPTIONS sip:hasip@127.0.0.1 SIP/7.0", "", "OPTIONS", "")
                .replace("SIP/2.0/{t}", "SIP/7.0/{t}"),
            505,
        ),
        ("mismatch01", req(opt, "", "INVITE", ""), 400),
        (
            "mismatch02",
            req("NEWMETHOD sip:hasip@127.0.0.1 SIP/2.0", "", "INVITE", ""),
            501,
        ),
        (
            "intmeth",
            req(
                "!interesting-Method0123456789_*+`.%indeed'~ sip:hasip@127.0.0.1 SIP/2.0",
                "",
                "!interesting-Method0123456789_*+`.%indeed'~",
                "",
            ),
            501,
        ),
        (
            "insuf",
            req(opt, "", "OPTIONS", "")
                .replace("To: <sip:hasip@127.0.0.1>\r\n", "")
                .replace("From: <sip:torture@127.0.0.1>;tag=t0rture\r\n", ""),
            400,
        ),
        (
            "unkscm",
            req(
                "OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0",
                "",
                "OPTIONS",
                "",
            ),
            416,
        ),
        (
            "novelsc",
            req(
                "OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0",
                "",
                "OPTIONS",
                "",
            ),
            416,
        ),
        (
            "bext01",
            req(
                opt,
                "Require: nothingSupportsThis, nothingSupportsThisEither\r\nProxy-Require: noProxiesSupportThis\r\n",
                "OPTIONS",
                "",
            ),
            420,
        ),
        (
            "multi01",
            req(opt, "CSeq: 59 OPTIONS\r\n", "OPTIONS", ""),
            400,
        ),
        (
            "mcl01",
            req(
                opt,
                "Content-Length: 5\r\nContent-Type: text/plain\r\n",
                "OPTIONS",
                "There's no way to know how many octets are supposed to be here.\n",
            )
            .replace("Content-Length: 65", "Content-Length: 13"),
            400,
        ),
        (
            "zeromf",
            req(opt, "", "OPTIONS", "").replace("Max-Forwards: 70", "Max-Forwards: 0"),
            200,
        ),
        (
            "regaut01 (REGISTER to a non-registrar)",
            req(
                "REGISTER sip:127.0.0.1 SIP/2.0",
                "Authorization: NoOneKnowsThisScheme opaque-data=here\r\n",
                "REGISTER",
                "",
            ),
            405,
        ),
        (
            "sdp01",
            req(
                "INVITE sip:hasip@127.0.0.1 SIP/2.0",
                "Accept: text/nobodyKnowsThis\r\nContent-Type: application/sdp\r\n",
                "INVITE",
                SDP,
            ),
            406,
        ),
        (
            "invut",
            req(
                "INVITE sip:hasip@127.0.0.1 SIP/2.0",
                "Content-Type: application/unknownformat\r\n",
                "INVITE",
                SDP,
            ),
            415,
        ),
    ]
}

fn first_line(r: &str) -> &str {
    r.lines().next().unwrap_or_default()
}

#[test]
fn rfc4475_invalid_cases_over_udp_get_their_responses() {
    let dir = WorkDir::new("torture-udp");
    let mut gw = Gateway::start(&dir);
    for (name, msg, code) in cases() {
        let msg = msg.replace("{t}", "UDP");
        let r =
            raw::udp_exchange(gw.sip, &msg, WAIT).unwrap_or_else(|| panic!("{name}: no answer"));
        assert_eq!(raw::status(&r), Some(code), "{name}: {}", first_line(&r));
        assert!(
            raw::header(&r, "Call-ID").is_some() || name == "insuf",
            "{name}: answer must be matchable"
        );
        assert!(gw.is_running(), "{name}: gateway died");
    }
    let ok = raw::udp_exchange(gw.sip, &raw::options(gw.sip, "UDP", "after"), WAIT)
        .expect("OPTIONS after");
    assert_eq!(raw::status(&ok), Some(200));
}

#[test]
fn rfc4475_invalid_cases_over_tcp_get_their_responses_or_close_the_stream() {
    let dir = WorkDir::new("torture-tcp");
    let mut gw = Gateway::start(&dir);
    for (name, msg, code) in cases() {
        let msg = msg.replace("{t}", "TCP");
        let r = raw::tcp_request(gw.sip, &msg, Duration::from_millis(700));
        match (name, r) {
            // Over a stream a Content-Length beyond what arrives means "wait for more"...
            ("clerr", r) => assert_eq!(r, raw::TcpOutcome::TimedOut, "{name}"),
            // ...and an unreadable or contradictory one makes framing impossible: closed.
            ("ncl" | "mcl01", r) => assert_eq!(r, raw::TcpOutcome::Closed, "{name}"),
            (_, raw::TcpOutcome::Answer(r)) => {
                assert_eq!(raw::status(&r), Some(code), "{name}: {}", first_line(&r));
            }
            (_, other) => panic!("{name}: no answer over TCP: {other:?}"),
        }
        assert!(gw.is_running(), "{name}: gateway died");
    }
    let ok = raw::tcp_exchange(gw.sip, &raw::options(gw.sip, "TCP", "after"), WAIT)
        .expect("OPTIONS after");
    assert_eq!(raw::status(&ok), Some(200));
}

#[test]
fn responses_that_must_be_discarded_get_no_answer() {
    let dir = WorkDir::new("torture-responses");
    let mut gw = Gateway::start(&dir);
    for resp in [
        "SIP/2.0 4294967301 better not break the receiver\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKbig\r\nCall-ID: big\r\nCSeq: 1 INVITE\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nContent-Length: 0\r\n\r\n",
        "SIP/2.0 503 Service Unavailable\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKlg\r\nCall-ID: lg\r\nCSeq: 9292394834772304023312 OPTIONS\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nRetry-After: 949302838503028349304023988\r\nContent-Length: 0\r\n\r\n",
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKb1\r\nVia: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23\r\nCall-ID: bcast\r\nCSeq: 35 INVITE\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nContent-Length: 0\r\n\r\n",
    ] {
        assert_eq!(
            raw::udp_exchange(gw.sip, resp, Duration::from_millis(300))
                .map(|r| first_line(&r).to_owned()),
            None
        );
        assert!(gw.is_running());
    }
    let ok = raw::udp_exchange(gw.sip, &raw::options(gw.sip, "UDP", "after"), WAIT)
        .expect("OPTIONS after");
    assert_eq!(raw::status(&ok), Some(200));
}
