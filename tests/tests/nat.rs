//! Behind NAT (issue 22): the gateway runs in a LAN namespace behind a router namespace
//! that masquerades, as a home router does; kamailio (the provider) and baresip (a phone
//! on the internet) are on the WAN side and cannot reach the LAN address. The gateway
//! registers, learns its public address from the registrar's `received`/`rport`, registers
//! that as its Contact, and a call from the WAN phone carries audio both ways because the
//! SDP names the public address (`--use-sdp-nat-rewrite`, on by default as in ha-sip).
//! With the rewrite off, the phone's audio goes to the private address and is lost.

use std::time::Duration;

use hasip_tests::audio::{self, read_wav};
use hasip_tests::baresip::{Baresip, BaresipOptions};
use hasip_tests::gateway::Gateway;
use hasip_tests::kamailio::{Kamailio, KamailioOptions};
use hasip_tests::netns::Nat;
use hasip_tests::workdir::WorkDir;
use hasip_tests::{have, wait_for};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(15);

struct Call {
    gw: Gateway,
    phone: Baresip,
    kamailio: Kamailio,
    nat: Nat,
}

/// The NAT set-up, the provider, the gateway registered through NAT with a menu that plays
/// a 1 s tone at 1 kHz, and the WAN phone's established call to it.
fn call_through_nat(name: &str, account_options: &str) -> (WorkDir, Call) {
    for p in ["ip", "iptables", "kamailio", "baresip", "sox"] {
        assert!(have(p), "{p} is needed: run ./build.sh test");
    }
    let dir = WorkDir::new(name);
    let nat = Nat::new().unwrap_or_else(|e| panic!("the NAT namespaces (root is needed): {e}"));
    let kamailio = Kamailio::start(
        &dir,
        KamailioOptions {
            address: nat.wan_ip,
            invite_auth: false,
            ..KamailioOptions::default()
        },
    );
    let tone = dir.file("tone.wav");
    audio::tone_wav(&tone, 1000, 1);
    let menu = dir.file("door.yaml");
    std::fs::write(
        &menu,
        format!(
            "menu:\n  audio_file: {}\n  post_action: noop\n",
            tone.display()
        ),
    )
    .unwrap_or_else(|e| panic!("write {}: {e}", menu.display()));
    let options = json!({
        "sip_global": {"log_level": 3},
        "sip": {"enabled": true, "registrar_uri": format!("sip:{}", kamailio.sip),
                "id_uri": "sip:hasip@test.local", "realm": "*",
                "user_name": "hasip", "password": "secret",
                "answer_mode": "accept", "settle_time": 0,
                "incoming_call_file": menu.to_string_lossy(),
                "options": account_options},
    });
    let gw = Gateway::start_in(&dir, &nat.in_lan(), nat.lan_ip.into(), Some(&options));
    assert!(
        gw.wait_log("registered account=1", WAIT),
        "the gateway did not register through NAT:\n{}",
        gw.log_text()
    );
    let mut o = BaresipOptions::registered("alice", kamailio.sip);
    o.address = nat.wan_ip.into();
    let phone = Baresip::start(&dir, &o);
    assert!(phone.wait_registered(WAIT), "alice registered");
    let r = phone
        .command("dial", &format!("sip:hasip@{}", kamailio.sip))
        .expect("dial response");
    assert_eq!(r["ok"], true, "{r}");
    phone
        .wait_event("CALL_ESTABLISHED", WAIT)
        .unwrap_or_else(|| panic!("the call was not set up:\n{}", kamailio.log_text()));
    gw.wait_event("call_established", WAIT)
        .expect("gateway: established");
    (
        dir,
        Call {
            gw,
            phone,
            kamailio,
            nat,
        },
    )
}

/// Presses keys on the phone (RFC 4733, in its RTP stream) until the gateway reports one,
/// or `window` passes.
fn press_until_heard(c: &Call, window: Duration) -> bool {
    wait_for(window, Duration::from_millis(300), || {
        let r = c.phone.command("sndcode", "5")?;
        (r["ok"] == true).then_some(())?;
        c.gw.events()
            .iter()
            .any(|e| e["event"] == "dtmf_digit" && e["digit"] == "5")
            .then_some(())
    })
    .is_some()
}

#[test]
fn behind_nat_the_gateway_registers_its_public_address_and_a_wan_call_carries_audio_both_ways() {
    let (_dir, c) = call_through_nat("nat-call", "");
    let public = c.nat.public_ip.to_string();
    // The registrar holds the public address, never the private one.
    let log = c.kamailio.log_text();
    let contacts: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("REGISTERED hasip"))
        .collect();
    assert!(
        contacts.last().is_some_and(|l| l.contains(&public)),
        "the Contact registered last is not the public address {public}: {contacts:?}"
    );
    assert!(
        c.gw.log_text().contains(&format!("nat_public={public}:")),
        "{}",
        c.gw.log_text()
    );
    // Gateway -> phone: the menu's 1 s tone at 1 kHz, played to its end (a key press
    // would end it) and looked for in the phone's recording below.
    c.gw.wait_event("playback_done", WAIT)
        .expect("the menu's tone was played");
    // Phone -> gateway: a key press in the RTP stream (the menu
    // has no choices: the gateway answers it with its error tone, after the tone).
    assert!(
        press_until_heard(&c, Duration::from_secs(5)),
        "the phone's audio did not reach the gateway:\n{}",
        c.gw.log_text()
    );
    c.phone.command("hangup", "").expect("hangup");
    c.gw.wait_event("call_disconnected", WAIT)
        .expect("call_disconnected");
    let (dec, _) = wait_for(WAIT, Duration::from_millis(50), || c.phone.recordings())
        .expect("the phone recorded the call");
    let heard = read_wav(&dec);
    let samples = heard.channels.into_iter().next().unwrap_or_default();
    let (from, to) = audio::active_span(&samples, heard.rate, 0.01)
        .unwrap_or_else(|| panic!("the phone heard nothing of the gateway"));
    // The tone's second; what follows is the answer to the key press.
    let rate = heard.rate as usize;
    let start = (from * heard.rate as f64) as usize;
    let tone = &samples[start..(start + rate * 9 / 10).min(samples.len())];
    let share = audio::tone_share(tone, heard.rate, 1000.0);
    assert!(
        share > 0.8 && to - from >= 0.9,
        "the phone did not hear the gateway's tone: {from:.2}-{to:.2} s, share of 1 kHz {share:.2}"
    );
}

#[test]
fn with_the_sdp_nat_rewrite_off_the_wan_phones_audio_is_lost() {
    let (_dir, c) = call_through_nat("nat-no-sdp-rewrite", "--use-sdp-nat-rewrite disabled");
    // Checked over a window: the phone sends to the private address, which the WAN cannot
    // reach.
    assert!(
        !press_until_heard(&c, Duration::from_secs(3)),
        "a key press arrived although the SDP named the private address"
    );
    c.phone.command("hangup", "").expect("hangup");
}
