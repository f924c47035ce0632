//! Calls in both directions against sipp, without a registrar (the intercom/doorbell case
//! of seed 000): accept and listen mode, the caller's CANCEL, answer and hang-up commands
//! on stdin, ring timeout, busy. Each test checks the SIP exchange (sipp follows its
//! scenario) and the events the gateway reports, with ha-sip's fields.

use std::time::Duration;

use hasip_tests::gateway::Gateway;
use hasip_tests::have;
use hasip_tests::sipp::{self, SippOptions, Transport};
use hasip_tests::workdir::WorkDir;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

fn require_sipp() {
    assert!(
        have("sipp"),
        "sipp is not installed: run ./build.sh test, which installs sip-tester"
    );
}

/// Options with account 1 enabled for direct calls (no registrar).
fn direct(answer_mode: &str, settle: f64) -> Value {
    json!({
        "sip_global": {"log_level": 3},
        "sip": {
            "enabled": true,
            "registrar_uri": "",
            "id_uri": "sip:hasip@127.0.0.1",
            "answer_mode": answer_mode,
            "settle_time": settle
        }
    })
}

fn names(gw: &Gateway) -> Vec<String> {
    gw.events()
        .iter()
        .map(|e| e["event"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn incoming_call_in_accept_mode_is_answered_established_and_ended_by_the_caller() {
    require_sipp();
    let dir = WorkDir::new("call-accept");
    let gw = Gateway::start_with(&dir, Some(&direct("accept", 0.2)), &[]);
    for transport in [Transport::Udp, Transport::Tcp] {
        let n = if transport == Transport::Udp { 1 } else { 2 };
        let run = sipp::run(
            &dir,
            &format!("uac-{n}"),
            include_str!("../sipp/uac_call.xml"),
            gw.sip,
            transport,
            WAIT,
        );
        assert!(run.passed(), "{transport:?}: sipp: {:?}", run.received);
        let ok = run
            .received
            .iter()
            .find(|m| m.starts_with("SIP/2.0 200"))
            .expect("a 200 OK");
        assert!(ok.contains("Contact: <sip:hasip@127.0.0.1:"), "{ok}");
        let disc = gw
            .wait_event_n("call_disconnected", n, WAIT)
            .expect("call_disconnected");
        assert!(
            disc["caller"]
                .as_str()
                .unwrap_or("")
                .starts_with("\"Door\" <sip:door@127.0.0.1:"),
            "{disc}"
        );
    }
    let events = gw.events();
    let seq: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        seq,
        [
            "incoming_call",
            "call_established",
            "call_disconnected",
            "incoming_call",
            "call_established",
            "call_disconnected"
        ]
    );
    let est = &events[1];
    assert_eq!(est["parsed_caller"], "door");
    assert_eq!(est["parsed_called"], "hasip");
    assert_eq!(est["sip_account"], 1);
    assert!(
        est["internal_id"]
            .as_str()
            .unwrap_or("")
            .starts_with("\"Door\" <sip:door@127.0.0.1:"),
        "{est}"
    );
    assert!(est["call_id"].is_string());
    assert_eq!(est["headers"], json!({}));
}

#[test]
fn listen_mode_rings_and_reports_the_callers_cancel() {
    require_sipp();
    let dir = WorkDir::new("call-listen-cancel");
    let gw = Gateway::start_with(&dir, Some(&direct("listen", 0.0)), &[]);
    let run = sipp::run(
        &dir,
        "cancel",
        include_str!("../sipp/uac_cancel.xml"),
        gw.sip,
        Transport::Udp,
        WAIT,
    );
    assert!(run.passed(), "sipp: {:?}", run.received);
    gw.wait_event("call_disconnected", WAIT)
        .expect("call_disconnected");
    assert_eq!(names(&gw), ["incoming_call", "call_disconnected"]);
}

#[test]
fn listen_mode_call_is_answered_by_an_answer_command_on_stdin() {
    require_sipp();
    let dir = WorkDir::new("call-listen-answer");
    let mut gw = Gateway::start_with(&dir, Some(&direct("listen", 0.0)), &[]);
    let opts = SippOptions {
        timeout: Duration::from_secs(20),
        ..SippOptions::default()
    };
    let caller = sipp::spawn(
        &dir,
        "uac",
        include_str!("../sipp/uac_call.xml"),
        Some(gw.sip),
        &opts,
    );
    let incoming = gw.wait_event("incoming_call", WAIT).expect("incoming_call");
    // Nothing is answered in listen mode until asked.
    assert!(
        !caller
            .received_so_far()
            .iter()
            .any(|m| m.starts_with("SIP/2.0 200"))
    );
    // Answer by the id Home Assistant got in the webhook, as the README's automation does.
    let cmd = json!({"command": "answer", "number": incoming["internal_id"]});
    gw.command(&cmd.to_string());
    let run = caller.finish();
    assert!(run.passed(), "sipp: {:?}", run.received);
    gw.wait_event("call_disconnected", WAIT)
        .expect("call_disconnected");
    assert_eq!(
        names(&gw),
        ["incoming_call", "call_established", "call_disconnected"]
    );
}

#[test]
fn dial_calls_a_phone_that_answers_and_hangup_ends_it_with_bye() {
    require_sipp();
    let dir = WorkDir::new("call-dial");
    let mut gw = Gateway::start_with(&dir, Some(&direct("listen", 0.0)), &[]);
    let opts = SippOptions {
        server: true,
        timeout: Duration::from_secs(20),
        ..SippOptions::default()
    };
    let phone = sipp::spawn(
        &dir,
        "uas",
        include_str!("../sipp/uas_answer.xml"),
        None,
        &opts,
    );
    let number = format!("sip:uas@127.0.0.1:{}", phone.port);
    gw.command(&json!({"command": "dial", "number": number, "webhook_to_call": {"call_established": "my_hook"}}).to_string());
    let est = gw
        .wait_event("call_established", WAIT)
        .expect("call_established");
    assert_eq!(est["internal_id"], number);
    assert_eq!(est["caller"], format!("<{number}>"));
    assert_eq!(est["parsed_caller"], "uas");
    gw.command(&json!({"command": "hangup", "number": number}).to_string());
    let run = phone.finish();
    assert!(run.passed(), "sipp: {:?}", run.received);
    let invite = run
        .received
        .iter()
        .find(|m| m.starts_with("INVITE "))
        .expect("INVITE");
    assert!(invite.contains("m=audio "), "{invite}");
    assert!(
        invite.len() < 1300,
        "the INVITE fits a UDP datagram without fragmentation: {} bytes",
        invite.len()
    );
    gw.wait_event("call_disconnected", WAIT)
        .expect("call_disconnected");
    assert_eq!(
        names(&gw),
        [
            "outgoing_call_initiated",
            "call_established",
            "call_disconnected"
        ]
    );
}

#[test]
fn unanswered_dial_hits_ring_timeout_and_cancels() {
    require_sipp();
    let dir = WorkDir::new("call-ring-timeout");
    let mut gw = Gateway::start_with(&dir, Some(&direct("listen", 0.0)), &[]);
    let opts = SippOptions {
        server: true,
        timeout: Duration::from_secs(20),
        ..SippOptions::default()
    };
    let phone = sipp::spawn(
        &dir,
        "uas",
        include_str!("../sipp/uas_ring_forever.xml"),
        None,
        &opts,
    );
    let number = format!("sip:uas@127.0.0.1:{}", phone.port);
    gw.command(&json!({"command": "dial", "number": number, "ring_timeout": 1.5}).to_string());
    gw.wait_event("call_disconnected", WAIT)
        .expect("call_disconnected");
    let run = phone.finish();
    assert!(run.passed(), "sipp: {:?}", run.received);
    assert_eq!(
        names(&gw),
        [
            "outgoing_call_initiated",
            "ring_timeout",
            "call_disconnected"
        ]
    );
}

#[test]
fn busy_phone_ends_the_dial_with_call_disconnected() {
    require_sipp();
    let dir = WorkDir::new("call-busy");
    let mut gw = Gateway::start_with(&dir, Some(&direct("listen", 0.0)), &[]);
    let opts = SippOptions {
        server: true,
        ..SippOptions::default()
    };
    let phone = sipp::spawn(
        &dir,
        "uas",
        include_str!("../sipp/uas_busy.xml"),
        None,
        &opts,
    );
    gw.command(
        &json!({"command": "dial", "number": format!("sip:uas@127.0.0.1:{}", phone.port)})
            .to_string(),
    );
    gw.wait_event("call_disconnected", WAIT)
        .expect("call_disconnected");
    let run = phone.finish();
    assert!(run.passed(), "sipp: {:?}", run.received);
    assert!(
        gw.wait_log("Rejected { code: 486", WAIT),
        "the log names the code"
    );
}

#[test]
fn commands_with_mistakes_are_reported_and_change_nothing() {
    let dir = WorkDir::new("call-bad-commands");
    let mut gw = Gateway::start_with(&dir, Some(&direct("listen", 0.0)), &[]);
    gw.command(r#"{"command": "hangup", "number": "nobody"}"#);
    gw.command(r#"{"command": "dail", "number": "sip:x@127.0.0.1"}"#);
    gw.command(r#"{"command": "dial"}"#);
    gw.command("this is not json");
    gw.command(r#"{"command": "dial", "number": "0123"}"#);
    assert!(gw.wait_log("call not in progress: nobody", WAIT));
    assert!(gw.wait_log("unknown command \"dail\" (did you mean \"dial\"?)", WAIT));
    assert!(gw.wait_log("number: required", WAIT));
    assert!(gw.wait_log("not JSON", WAIT));
    assert!(gw.wait_log("is not a SIP URI", WAIT));
    assert!(gw.is_running());
    assert!(gw.events().is_empty());
}

#[test]
fn sip_info_dtmf_in_both_body_types_becomes_dtmf_digit_events() {
    require_sipp();
    let dir = WorkDir::new("call-info-dtmf");
    let gw = Gateway::start_with(&dir, Some(&direct("accept", 0.0)), &[]);
    let run = sipp::run(
        &dir,
        "info",
        include_str!("../sipp/uac_info.xml"),
        gw.sip,
        Transport::Udp,
        WAIT,
    );
    assert!(run.passed(), "sipp: {:?}", run.received);
    gw.wait_event("call_disconnected", WAIT)
        .expect("call_disconnected");
    let digits: Vec<String> = gw
        .events()
        .iter()
        .filter(|e| e["event"] == "dtmf_digit")
        .map(|e| e["digit"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(digits, ["1", "5", "#"]);
}

/// Issue 22: `--extract-headers` puts the listed headers of the INVITE (incoming calls) or
/// of the 2xx (outgoing calls) into every event's `headers`, keyed as configured, `null`
/// when absent, the last line winning; `--debug-headers` logs them all (spec §4.7).
#[test]
fn extracted_headers_reach_every_event_of_the_call() {
    require_sipp();
    let dir = WorkDir::new("call-headers");
    let mut options = direct("accept", 0.0);
    options["sip"]["options"] = json!("--extract-headers X-Door-Id,p-asserted-identity,X-Absent");
    options["sip_global"]["global_options"] = json!("--debug-headers enabled");
    let mut gw = Gateway::start_with(&dir, Some(&options), &[]);
    let scenario = include_str!("../sipp/uac_call.xml").replace(
        "      User-Agent: sipp-door\n",
        "      User-Agent: sipp-door\n      X-Door-Id: side\n      X-Door-Id: front\n      P-Asserted-Identity: <sip:+4930123@example.com>\n",
    );
    let run = sipp::run(&dir, "uac-headers", &scenario, gw.sip, Transport::Udp, WAIT);
    assert!(run.passed(), "sipp: {:?}", run.received);
    gw.wait_event("call_disconnected", WAIT)
        .expect("call_disconnected");
    let want = json!({"X-Door-Id": "front", "p-asserted-identity": "<sip:+4930123@example.com>",
                      "X-Absent": null});
    let events = gw.events();
    assert!(events.len() >= 3, "{events:?}");
    for e in &events {
        assert_eq!(e["headers"], want, "{e}");
    }
    assert!(
        gw.log_text().contains("Available SIP headers: ")
            && gw.log_text().contains("X-Door-Id: front"),
        "--debug-headers logs the INVITE's headers"
    );

    // Outgoing: the answer's headers, from call_established on.
    let phone = sipp::spawn(
        &dir,
        "uas-headers",
        &include_str!("../sipp/uas_answer.xml").replace(
            "      Content-Type: application/sdp\n",
            "      X-Door-Id: answered\n      Content-Type: application/sdp\n",
        ),
        None,
        &SippOptions {
            server: true,
            timeout: Duration::from_secs(20),
            ..SippOptions::default()
        },
    );
    let number = format!("sip:uas@127.0.0.1:{}", phone.port);
    gw.command(&json!({"command": "dial", "number": number}).to_string());
    let est = gw
        .wait_event_n("call_established", 2, WAIT)
        .expect("call_established");
    assert_eq!(
        est["headers"],
        json!({"X-Door-Id": "answered", "p-asserted-identity": null, "X-Absent": null})
    );
    gw.command(&json!({"command": "hangup", "number": number}).to_string());
    gw.wait_event_n("call_disconnected", 2, WAIT)
        .expect("call_disconnected");
    assert!(phone.finish().passed());
}

/// Issue 22: `reject` answers a ringing call at the SIP level with the status it names
/// (486 by default, 603 to decline), and the caller's ACK completes it.
#[test]
fn reject_answers_the_ringing_call_with_the_given_status() {
    require_sipp();
    let dir = WorkDir::new("call-reject");
    let mut gw = Gateway::start_with(&dir, Some(&direct("listen", 0.0)), &[]);
    for (n, code) in [(1usize, None), (2, Some(603u16)), (3, Some(480))] {
        let want = code.unwrap_or(486);
        let scenario = include_str!("../sipp/uac_rejected.xml").replace("CODE", &want.to_string());
        let caller = sipp::spawn(
            &dir,
            &format!("rejected-{n}"),
            &scenario,
            Some(gw.sip),
            &SippOptions::default(),
        );
        let ringing = gw
            .wait_event_n("incoming_call", n, WAIT)
            .expect("incoming_call");
        let mut cmd = json!({"command": "reject", "number": ringing["internal_id"]});
        if let Some(c) = code {
            cmd["code"] = json!(c);
        }
        gw.command(&cmd.to_string());
        let run = caller.finish();
        assert!(run.passed(), "{want}: sipp: {:?}", run.received);
        assert!(
            run.received
                .iter()
                .any(|m| m.starts_with(&format!("SIP/2.0 {want} "))),
            "{:?}",
            run.received
        );
        gw.wait_event_n("call_disconnected", n, WAIT)
            .expect("call_disconnected");
    }
}

/// Issue 22: `a=rtcp-mux` (RFC 5761) is accepted when the caller offers it, and the
/// gateway's RTCP then arrives on the caller's RTP port.
#[test]
fn rtcp_mux_puts_rtcp_on_the_rtp_port_when_the_caller_offers_it() {
    let dir = WorkDir::new("call-rtcp-mux");
    let mut gw = Gateway::start_with(&dir, Some(&direct("accept", 0.0)), &[]);
    let sig = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let media = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let (local, rtp) = (
        sig.local_addr().expect("addr"),
        media.local_addr().expect("addr"),
    );
    let sdp = format!(
        "v=0\r\no=door 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=rtcp-mux\r\n",
        rtp.port()
    );
    let head = |method: &str, cseq: u32, to_tag: &str| {
        format!(
            "{method} sip:hasip@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKmux{cseq}{method};rport\r\n\
             From: <sip:door@{local}>;tag=mux\r\nTo: <sip:hasip@{gw}>{to_tag}\r\nCall-ID: mux@{local}\r\n\
             CSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContact: <sip:door@{local}>\r\n",
            gw = gw.sip
        )
    };
    let invite = format!(
        "{}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        head("INVITE", 1, ""),
        sdp.len()
    );
    sig.send_to(invite.as_bytes(), gw.sip).expect("send");
    sig.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut buf = vec![0u8; 65_536];
    let ok = hasip_tests::wait_for(WAIT, Duration::from_millis(1), || {
        let n = sig.recv(&mut buf).ok()?;
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        text.starts_with("SIP/2.0 200 ").then_some(text)
    })
    .expect("200 OK");
    assert!(ok.contains("a=rtcp-mux\r\n"), "{ok}");
    let to = hasip_tests::raw::header(&ok, "To").expect("To");
    let tag = to.split_once(";tag=").map(|(_, t)| t).expect("to tag");
    let ack = format!(
        "{}Content-Length: 0\r\n\r\n",
        head("ACK", 1, &format!(";tag={tag}"))
    );
    sig.send_to(ack.as_bytes(), gw.sip).expect("send");
    // The gateway's RTP and RTCP both come to the one port we offered.
    media
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let rtcp = hasip_tests::wait_for(Duration::from_secs(12), Duration::from_millis(1), || {
        let n = media.recv(&mut buf).ok()?;
        (n >= 8 && (200..=204).contains(&buf[1])).then_some(buf[1])
    });
    assert!(
        rtcp.is_some(),
        "no RTCP on the RTP port:\n{}",
        gw.log_text()
    );
    let bye = format!(
        "{}Content-Length: 0\r\n\r\n",
        head("BYE", 2, &format!(";tag={tag}"))
    );
    sig.send_to(bye.as_bytes(), gw.sip).expect("send");
    gw.wait_event("call_disconnected", WAIT)
        .expect("call_disconnected");
    let _ = &mut gw;
}
