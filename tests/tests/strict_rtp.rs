//! Strict RTP (issue 21): an attacker on another address (127.0.0.2) sprays the call's RTP
//! port with in-band DTMF tones before and during the call, with sequence numbers of its
//! own and in bursts between the phone's packets. The gateway never sends to it and none
//! of its digits reaches Home Assistant's events; the phone's own key press does.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use hasip_media::codec::g711::linear_to_ulaw;
use hasip_tests::gateway::Gateway;
use hasip_tests::raw;
use hasip_tests::wait_for;
use hasip_tests::workdir::WorkDir;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

/// 20 ms of PCMU: the DTMF pair of `digit` (or silence), starting at sample `at`.
fn pcmu_frame(digit: Option<char>, at: u32) -> Vec<u8> {
    let pair = match digit {
        Some('5') => Some((770.0, 1336.0)),
        Some('9') => Some((852.0, 1477.0)),
        _ => None,
    };
    (0..160u32)
        .map(|i| {
            let t = f64::from(at + i) / 8000.0;
            let s = pair.map_or(0.0, |(lo, hi): (f64, f64)| {
                8000.0
                    * ((2.0 * std::f64::consts::PI * lo * t).sin()
                        + (2.0 * std::f64::consts::PI * hi * t).sin())
            });
            linear_to_ulaw(s as i16)
        })
        .collect()
}

fn rtp(seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

#[test]
fn an_attacker_spraying_the_rtp_port_is_never_heard_nor_answered() {
    let dir = WorkDir::new("strict-rtp");
    let options = json!({
        "sip_global": {"log_level": 3},
        "sip": {"enabled": true, "registrar_uri": "", "id_uri": "sip:hasip@127.0.0.1",
                "answer_mode": "accept", "settle_time": 0}
    });
    let gw = Gateway::start_with(&dir, Some(&options), &[]);
    let sig = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let phone = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let attacker = UdpSocket::bind("127.0.0.2:0").expect("bind 127.0.0.2");
    let (local, media) = (
        sig.local_addr().expect("addr"),
        phone.local_addr().expect("addr"),
    );
    let sdp = format!(
        "v=0\r\no=door 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
        media.port()
    );
    let invite = format!(
        "INVITE sip:hasip@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKstrict;rport\r\n\
         From: <sip:door@{local}>;tag=s\r\nTo: <sip:hasip@{gw}>\r\nCall-ID: strict@{local}\r\n\
         CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContact: <sip:door@{local}>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len(),
        gw = gw.sip
    );
    sig.send_to(invite.as_bytes(), gw.sip).expect("send");
    sig.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut buf = vec![0u8; 65_536];
    let ok = wait_for(WAIT, Duration::from_millis(1), || {
        let n = sig.recv(&mut buf).ok()?;
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        text.starts_with("SIP/2.0 200 ").then_some(text)
    })
    .expect("200 OK");
    let port: u16 = ok
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .expect("the answer's RTP port");
    let gw_rtp = SocketAddr::new(gw.sip.ip(), port);
    let to = raw::header(&ok, "To").expect("To");
    let ack = format!(
        "ACK sip:hasip@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKstrictack;rport\r\n\
         From: <sip:door@{local}>;tag=s\r\nTo: {to}\r\nCall-ID: strict@{local}\r\n\
         CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        gw = gw.sip
    );
    sig.send_to(ack.as_bytes(), gw.sip).expect("send");

    // Before the phone's first packet: the attacker's tones ('9'), 1 s of them, in order.
    let mut aseq = 1000u16;
    for k in 0..50u32 {
        attacker
            .send_to(
                &rtp(aseq, k * 160, 0xBAD, &pcmu_frame(Some('9'), k * 160)),
                gw_rtp,
            )
            .expect("spray");
        aseq = aseq.wrapping_add(1);
    }
    // Then the phone sends 2 s, the last 400 ms of it its own press of '5'; between every
    // two of its packets the attacker bursts four of its own.
    let start = Instant::now();
    for k in 0..100u32 {
        let digit = (k >= 80).then_some('5');
        phone
            .send_to(
                &rtp(k as u16, k * 160, 0x600D, &pcmu_frame(digit, k * 160)),
                gw_rtp,
            )
            .expect("phone");
        for _ in 0..4 {
            attacker
                .send_to(
                    &rtp(aseq, aseq as u32 * 160, 0xBAD, &pcmu_frame(Some('9'), 0)),
                    gw_rtp,
                )
                .expect("spray");
            aseq = aseq.wrapping_add(1);
        }
        let due = start + Duration::from_millis(20 * u64::from(k + 1));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    let press = gw
        .wait_event("dtmf_digit", WAIT)
        .unwrap_or_else(|| panic!("the phone's own press was not heard:\n{}", gw.log_text()));
    assert_eq!(press["digit"], "5", "{press}");
    // Nothing of the attacker's, checked over a window.
    let nine = wait_for(
        Duration::from_millis(500),
        Duration::from_millis(20),
        || {
            gw.events()
                .into_iter()
                .find(|e| e["event"] == "dtmf_digit" && e["digit"] != "5")
        },
    );
    assert!(
        nine.is_none(),
        "an attacker's digit reached the events: {nine:?}"
    );
    // The gateway sent its audio to the phone, never to the attacker.
    phone
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    assert!(
        phone.recv(&mut buf).is_ok(),
        "the phone gets the call's audio"
    );
    attacker
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    assert!(
        attacker.recv(&mut buf).is_err(),
        "the gateway sent something to the attacker"
    );
}
