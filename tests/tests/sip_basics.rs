//! The gateway's first real behaviour, end to end against sipp: OPTIONS is answered with
//! its capabilities over UDP and TCP, unknown and unhandled methods get 501/405, broken
//! requests get 400 (or are dropped) and the gateway keeps serving, and SIGTERM/SIGINT stop
//! it cleanly.

use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::time::Duration;

use hasip_tests::gateway::Gateway;
use hasip_tests::sipp::{self, Transport};
use hasip_tests::workdir::WorkDir;
use hasip_tests::{have, raw};

const TIMEOUT: Duration = Duration::from_secs(10);

fn require_sipp() {
    assert!(
        have("sipp"),
        "sipp is not installed: run ./build.sh test, which installs sip-tester"
    );
}

/// A request template with sipp keywords; `{method}` and `{cseq}` are filled per case.
fn request(method: &str, cseq_method: &str, extra: &str) -> String {
    format!(
        "{method} sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n\
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n\
From: <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]\n\
To: <sip:[service]@[remote_ip]:[remote_port]>\n\
Call-ID: [call_id]\n\
CSeq: 1 {cseq_method}\n\
Max-Forwards: 70\n\
Contact: <sip:sipp@[local_ip]:[local_port]>\n\
{extra}Content-Length: 0\n"
    )
}

fn expect_response(
    dir: &WorkDir,
    gw: &Gateway,
    name: &str,
    transport: Transport,
    req: &str,
    status: u16,
) -> String {
    let run = sipp::run(
        dir,
        name,
        &sipp::request_scenario(req, status),
        gw.sip,
        transport,
        TIMEOUT,
    );
    assert!(
        run.passed(),
        "{name}: sipp did not get {status}: {:?}",
        run.received
    );
    run.received
        .into_iter()
        .rfind(|m| raw::status(m) == Some(status))
        .unwrap_or_else(|| panic!("{name}: no {status} in sipp's log"))
}

#[test]
fn options_is_answered_with_capabilities_over_udp_and_tcp() {
    require_sipp();
    let dir = WorkDir::new("options");
    let gw = Gateway::start(&dir);
    for (name, transport) in [
        ("options-udp", Transport::Udp),
        ("options-tcp", Transport::Tcp),
    ] {
        let resp = expect_response(
            &dir,
            &gw,
            name,
            transport,
            &request("OPTIONS", "OPTIONS", ""),
            200,
        );
        let allow =
            raw::header(&resp, "Allow").unwrap_or_else(|| panic!("{name}: no Allow in {resp}"));
        assert!(allow.contains("OPTIONS"), "{name}: Allow: {allow}");
        assert_eq!(
            raw::header(&resp, "Accept"),
            Some("application/sdp"),
            "{name}"
        );
        assert!(
            raw::header(&resp, "Supported").is_some(),
            "{name}: no Supported in {resp}"
        );
        assert!(
            raw::header(&resp, "To").is_some_and(|t| t.contains(";tag=")),
            "{name}: {resp}"
        );
        assert_eq!(raw::header(&resp, "CSeq"), Some("1 OPTIONS"), "{name}");
    }
}

#[test]
fn unknown_method_gets_501_and_unhandled_method_gets_405_with_allow() {
    require_sipp();
    let dir = WorkDir::new("methods");
    let gw = Gateway::start(&dir);
    let r = expect_response(
        &dir,
        &gw,
        "unknown",
        Transport::Udp,
        &request("FOOBAR", "FOOBAR", ""),
        501,
    );
    assert!(r.starts_with("SIP/2.0 501 "), "{r}");
    let r = expect_response(
        &dir,
        &gw,
        "publish",
        Transport::Udp,
        &request("PUBLISH", "PUBLISH", ""),
        405,
    );
    assert!(
        raw::header(&r, "Allow").is_some_and(|a| a.contains("OPTIONS")),
        "405 without Allow: {r}"
    );
    // Over TCP too.
    expect_response(
        &dir,
        &gw,
        "unknown-tcp",
        Transport::Tcp,
        &request("FOOBAR", "FOOBAR", ""),
        501,
    );
}

#[test]
fn broken_requests_get_400_naming_the_fault_and_the_gateway_keeps_serving() {
    require_sipp();
    let dir = WorkDir::new("broken");
    let mut gw = Gateway::start(&dir);
    let cases: [(&str, String, &str); 4] = [
        (
            "bad-max-forwards",
            request("OPTIONS", "OPTIONS", "").replace("Max-Forwards: 70", "Max-Forwards: seventy"),
            "Max-Forwards",
        ),
        (
            "unterminated-quote",
            request("OPTIONS", "OPTIONS", "").replace("From: <sip:", "From: \"Bell <sip:"),
            "From",
        ),
        (
            "empty-contact-params",
            request("OPTIONS", "OPTIONS", "").replace(
                "Contact: <sip:sipp@[local_ip]:[local_port]>",
                "Contact: \"Joe\" <sip:joe@example.org>;;;;",
            ),
            "Contact",
        ),
        (
            "content-length-too-large",
            request("OPTIONS", "OPTIONS", "").replace("Content-Length: 0", "Content-Length: 5000"),
            "Content-Length",
        ),
    ];
    for (name, req, named) in &cases {
        for (suffix, transport) in [("udp", Transport::Udp), ("tcp", Transport::Tcp)] {
            // Over TCP a Content-Length beyond what is sent means "more is coming".
            if name.starts_with("content-length-too-large") && transport == Transport::Tcp {
                continue;
            }
            let name = format!("{name}-{suffix}");
            let r = expect_response(&dir, &gw, &name, transport, req, 400);
            let line = r.lines().next().unwrap_or_default();
            assert!(
                line.contains(named),
                "{name}: reason should name {named}: {line}"
            );
            assert!(gw.is_running(), "{name}: gateway died");
        }
    }
    // sipp will not take a response whose CSeq method differs from its request, so this
    // one goes over a raw socket.
    let mismatch =
        raw::options(gw.sip, "UDP", "mismatch").replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE");
    let r = raw::udp_exchange(gw.sip, &mismatch, TIMEOUT).expect("answer to CSeq mismatch");
    assert_eq!(raw::status(&r), Some(400), "{r}");
    assert!(r.lines().next().unwrap_or_default().contains("CSeq"), "{r}");
    let no_call_id =
        raw::options(gw.sip, "UDP", "nocallid").replace("Call-ID: nocallid@127.0.0.1\r\n", "");
    let r = raw::udp_exchange(gw.sip, &no_call_id, TIMEOUT)
        .expect("answer to a request without Call-ID");
    assert!(
        r.starts_with("SIP/2.0 400 ") && r.lines().next().unwrap_or_default().contains("Call-ID"),
        "{r}"
    );
    // Garbage that cannot be answered is dropped, over UDP and TCP.
    for junk in [
        "\u{0}\u{1}\u{2}binary junk\r\n\r\n".to_owned(),
        "INVITE sip:x@y SIP/2.0\r\n\r\n".to_owned(),
        format!(
            "OPTIONS sip:x@y SIP/2.0\r\nVia: {}\r\n\r\n",
            "A".repeat(60_000)
        ),
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKz\r\n\r\n".to_owned(),
    ] {
        let answer = raw::udp_exchange(gw.sip, &junk, Duration::from_millis(200));
        let first_line = answer
            .as_deref()
            .map(|a| a.lines().next().unwrap_or_default().to_owned());
        assert_eq!(first_line, None, "answered junk {:?}", &junk[..20]);
        assert!(gw.is_running(), "gateway died on {:?}", &junk[..20]);
    }
    // An unreadable Content-Length makes the stream unframeable: closed, not answered.
    let tcp_junk = raw::tcp_request(
        gw.sip,
        "GARBAGE\r\nContent-Length: x\r\n\r\n",
        Duration::from_millis(300),
    );
    assert_eq!(tcp_junk, raw::TcpOutcome::Closed);
    // Still serving: sipp's OPTIONS gets 200 over both transports.
    expect_response(
        &dir,
        &gw,
        "after-udp",
        Transport::Udp,
        &request("OPTIONS", "OPTIONS", ""),
        200,
    );
    expect_response(
        &dir,
        &gw,
        "after-tcp",
        Transport::Tcp,
        &request("OPTIONS", "OPTIONS", ""),
        200,
    );
    assert!(gw.is_running());
}

fn port_is_free(port: u16) -> bool {
    UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
        && TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

#[test]
fn sigterm_and_sigint_stop_the_gateway_cleanly() {
    for sig in ["TERM", "INT"] {
        let dir = WorkDir::new(&format!("signal-{sig}"));
        let mut gw = Gateway::start(&dir);
        // An open TCP connection must not keep the gateway alive.
        let conn = std::net::TcpStream::connect(gw.sip).expect("connect");
        assert!(gw.process().signal(sig));
        let status = gw.process().wait_exit(Duration::from_secs(5));
        assert!(
            status.is_some_and(|s| s.success()),
            "SIG{sig}: exit {status:?}\n{}",
            gw.log_text()
        );
        assert!(gw.log_text().contains("shutting down"), "{}", gw.log_text());
        assert!(
            port_is_free(gw.sip.port()),
            "SIG{sig}: port still bound after exit"
        );
        drop(conn);
    }
}
