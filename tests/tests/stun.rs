//! STUN (`--stun-server`, `--use-stun-for-sip`, `--use-stun-for-media`): the gateway asks
//! coturn for its public addresses and puts them in Via, Contact and SDP; a server that
//! does not answer turns STUN off without holding up calls.

use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hasip_tests::audio::{self, read_wav};
use hasip_tests::baresip::{Baresip, BaresipOptions};
use hasip_tests::coturn::Coturn;
use hasip_tests::gateway::Gateway;
use hasip_tests::workdir::WorkDir;
use hasip_tests::{have, ports, wait_for};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(15);

fn options(global_options: &str) -> Value {
    json!({
        "sip_global": {"log_level": 3, "global_options": global_options},
        "sip": {"enabled": true, "registrar_uri": "", "id_uri": "sip:hasip@127.0.0.1",
                "answer_mode": "accept", "settle_time": 0}
    })
}

#[test]
fn with_coturn_the_gateway_learns_its_addresses_and_a_call_carries_audio() {
    assert!(
        have("turnserver") && have("baresip") && have("sox"),
        "coturn, baresip and sox are needed: run ./build.sh test"
    );
    let dir = WorkDir::new("stun-coturn");
    let stun = Coturn::start(&dir);
    let mut gw = Gateway::start_with(
        &dir,
        Some(&options(&format!("--stun-server 127.0.0.1:{}", stun.port))),
        &[],
    );
    // On loopback coturn sees the socket's own address: the SIP port is the gateway's.
    assert!(
        gw.wait_log("STUN: the SIP socket is seen as this address", WAIT),
        "{}",
        gw.log_text()
    );
    assert!(
        gw.log_text()
            .contains(&format!("public=127.0.0.1:{}\n", gw.sip.port())),
        "{}",
        gw.log_text()
    );
    let bob = Baresip::start(&dir, &BaresipOptions::direct("bob"));
    let prompt = dir.file("prompt.wav");
    audio::tone_wav(&prompt, 700, 3);
    let number = format!("sip:bob@{}", bob.sip);
    gw.command(&json!({"command": "dial", "number": number}).to_string());
    gw.wait_event("call_established", WAIT)
        .expect("call_established");
    assert!(
        gw.wait_log("STUN: the RTP socket is seen as this address", WAIT),
        "the call's RTP address came from STUN: {}",
        gw.log_text()
    );
    gw.command(
        &json!({"command": "play_audio_file", "number": number,
                "audio_file": prompt.to_string_lossy()})
        .to_string(),
    );
    // bob receives the prompt at the SDP address STUN gave.
    wait_for(WAIT, Duration::from_millis(100), || {
        let (dec, _) = bob.recordings()?;
        let s = read_wav(&dec).channels.into_iter().next()?;
        let loud: Vec<i16> = s
            .chunks(80)
            .filter(|c| audio::rms(c) > 0.05)
            .flatten()
            .copied()
            .collect();
        (loud.len() >= 8000 && audio::tone_share(&loud, 8000, 700.0) > 0.9).then_some(())
    })
    .expect("bob hears the 700 Hz prompt");
    gw.command(&json!({"command": "hangup", "number": number}).to_string());
    gw.wait_event("call_disconnected", WAIT)
        .expect("call_disconnected");
}

/// A STUN server for this test only, behind which the gateway seems to sit behind a NAT:
/// it answers every binding with 203.0.113.7 and the source port + 1000, and keeps the
/// source ports it saw.
fn fake_nat_stun() -> (SocketAddr, Arc<Mutex<Vec<u16>>>) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind the fake STUN server");
    let addr = sock.local_addr().expect("its address");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        // Ends with the test process; answers a bounded number of requests.
        for _ in 0..1000 {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                return;
            };
            if n < 20 || buf[..2] != [0, 1] {
                continue;
            }
            if let Ok(mut l) = log.lock() {
                l.push(from.port());
            }
            let port = from.port().wrapping_add(1000) ^ 0x2112;
            let ip = [203u8 ^ 0x21, 0x12, 113 ^ 0xa4, 7 ^ 0x42];
            let mut r = vec![0x01, 0x01, 0, 12];
            r.extend_from_slice(&buf[4..20]);
            r.extend_from_slice(&[0x00, 0x20, 0, 8, 0, 1]);
            r.extend_from_slice(&port.to_be_bytes());
            r.extend_from_slice(&ip);
            let _ = sock.send_to(&r, from);
        }
    });
    (addr, seen)
}

/// A phone that only receives: the first INVITE that reaches it, as text.
fn first_invite(phone: &UdpSocket, within: Duration) -> Option<String> {
    let deadline = Instant::now() + within;
    let mut buf = vec![0u8; 65_536];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        phone
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        let (n, _) = phone.recv_from(&mut buf).ok()?;
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.starts_with("INVITE ") {
            return Some(text);
        }
    }
}

#[test]
fn a_public_address_from_stun_goes_into_via_contact_and_the_sdp() {
    let dir = WorkDir::new("stun-nat");
    let (server, seen) = fake_nat_stun();
    let mut gw = Gateway::start_with(
        &dir,
        Some(&options(&format!("--stun-server {server}"))),
        &[],
    );
    let phone = UdpSocket::bind("127.0.0.1:0").expect("bind the phone");
    let at = phone.local_addr().expect("phone address");
    gw.command(&json!({"command": "dial", "number": format!("sip:phone@{at}")}).to_string());
    let invite =
        first_invite(&phone, WAIT).unwrap_or_else(|| panic!("no INVITE: {}", gw.log_text()));
    let ports = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(
        ports.first(),
        Some(&gw.sip.port()),
        "the SIP socket asked first"
    );
    let rtp = *ports.get(1).expect("the call's RTP socket asked too");
    let public_sip = format!("203.0.113.7:{}", gw.sip.port() + 1000);
    let public_rtp = rtp + 1000;
    let line = |prefix: &str| {
        invite
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {invite}"))
            .to_owned()
    };
    assert!(
        line("Via:").contains(&format!("SIP/2.0/UDP {public_sip}")),
        "{invite}"
    );
    assert!(
        line("Contact:").contains(&format!("@{public_sip}")),
        "{invite}"
    );
    assert_eq!(line("c="), "c=IN IP4 203.0.113.7", "{invite}");
    assert!(
        line("m=audio").starts_with(&format!("m=audio {public_rtp} ")),
        "{invite}"
    );
}

#[test]
fn a_stun_server_that_does_not_answer_turns_stun_off_and_calls_are_not_held_up() {
    let dir = WorkDir::new("stun-dead");
    let dead = ports::free_port();
    let mut gw = Gateway::start_with(
        &dir,
        Some(&options(&format!("--stun-server 127.0.0.1:{dead}"))),
        &[],
    );
    assert!(gw.wait_log("STUN is off", WAIT), "{}", gw.log_text());
    let phone = UdpSocket::bind("127.0.0.1:0").expect("bind the phone");
    let at = phone.local_addr().expect("phone address");
    let sent = Instant::now();
    gw.command(&json!({"command": "dial", "number": format!("sip:phone@{at}")}).to_string());
    let invite =
        first_invite(&phone, WAIT).unwrap_or_else(|| panic!("no INVITE: {}", gw.log_text()));
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "no STUN wait per call: {:?}",
        sent.elapsed()
    );
    assert!(
        invite.contains(&format!("@127.0.0.1:{}", gw.sip.port()))
            && invite.contains("c=IN IP4 127.0.0.1"),
        "local addresses: {invite}"
    );
}
