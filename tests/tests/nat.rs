//! NAT (issues 21 and 22), made of network namespaces the test builds (`netns::Nat`).
//!
//! The gateway behind a home router that masquerades, with kamailio (the provider) and
//! baresip (a phone on the internet) on the WAN side, which cannot reach the LAN address:
//! the gateway registers, learns its public address from the registrar's
//! `received`/`rport`, registers that as its Contact, and a call from the WAN phone
//! carries audio both ways because the SDP names the public address
//! (`--use-sdp-nat-rewrite`, on by default as in ha-sip). With the rewrite off, the phone's
//! audio goes to the private address and is lost.
//!
//! A phone behind a router that gives every mapping a random port: its RTP arrives from
//! another port than its SDP names (and its SDP's private address is unreachable); strict
//! RTP learns the new port and the call carries audio both ways.

use std::time::Duration;

use hasip_tests::audio::{self, read_wav};
use hasip_tests::baresip::{Baresip, BaresipOptions};
use hasip_tests::gateway::Gateway;
use hasip_tests::kamailio::{Kamailio, KamailioOptions};
use hasip_tests::netns::Nat;
use hasip_tests::workdir::WorkDir;
use hasip_tests::{have, wait_for};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(15);

fn require() {
    for p in ["ip", "iptables", "kamailio", "baresip", "sox"] {
        assert!(have(p), "{p} is needed: run ./build.sh test");
    }
}

/// An `incoming_call_file` whose menu plays a 1 s tone at 1 kHz and stays.
fn tone_menu(dir: &WorkDir) -> Value {
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
    Value::String(menu.to_string_lossy().into_owned())
}

struct Call {
    gw: Gateway,
    phone: Baresip,
    kamailio: Kamailio,
    nat: Nat,
}

/// The gateway registered through NAT at kamailio, and the WAN phone's established call
/// to it.
fn call_through_nat(dir: &WorkDir, account_options: &str) -> Call {
    require();
    let nat = Nat::gateway_behind()
        .unwrap_or_else(|e| panic!("the NAT namespaces (root is needed): {e}"));
    let kamailio = Kamailio::start(
        dir,
        KamailioOptions {
            address: nat.wan_ip,
            invite_auth: false,
            ..KamailioOptions::default()
        },
    );
    let options = json!({
        "sip_global": {"log_level": 3},
        "sip": {"enabled": true, "registrar_uri": format!("sip:{}", kamailio.sip),
                "id_uri": "sip:hasip@test.local", "realm": "*",
                "user_name": "hasip", "password": "secret",
                "answer_mode": "accept", "settle_time": 0,
                "incoming_call_file": tone_menu(dir),
                "options": account_options},
    });
    let gw = Gateway::start_in(dir, &nat.wrapper(), nat.lan_ip.into(), Some(&options));
    assert!(
        gw.wait_log("registered account=1", WAIT),
        "the gateway did not register through NAT:\n{}",
        gw.log_text()
    );
    let mut o = BaresipOptions::registered("alice", kamailio.sip);
    o.address = nat.wan_ip.into();
    let phone = Baresip::start(dir, &o);
    assert!(phone.wait_registered(WAIT), "alice registered");
    dial(&gw, &phone, &format!("sip:hasip@{}", kamailio.sip));
    Call {
        gw,
        phone,
        kamailio,
        nat,
    }
}

fn dial(gw: &Gateway, phone: &Baresip, uri: &str) {
    let r = phone.command("dial", uri).expect("dial response");
    assert_eq!(r["ok"], true, "{r}");
    phone
        .wait_event("CALL_ESTABLISHED", WAIT)
        .unwrap_or_else(|| panic!("the call was not set up:\n{}", gw.log_text()));
    gw.wait_event("call_established", WAIT)
        .expect("gateway: established");
}

/// Presses keys on the phone (RFC 4733, in its RTP stream) until the gateway reports one,
/// or `window` passes.
fn press_until_heard(gw: &Gateway, phone: &Baresip, window: Duration) -> bool {
    wait_for(window, Duration::from_millis(300), || {
        let r = phone.command("sndcode", "5")?;
        (r["ok"] == true).then_some(())?;
        gw.events()
            .iter()
            .any(|e| e["event"] == "dtmf_digit" && e["digit"] == "5")
            .then_some(())
    })
    .is_some()
}

/// Audio both ways: the menu's tone played to its end reaches the phone, then a key press
/// in the phone's RTP reaches the gateway (the menu has no choices: the gateway answers
/// it with its error tone, after the tone); the phone hangs up.
fn assert_audio_both_ways(gw: &Gateway, phone: &Baresip) {
    gw.wait_event("playback_done", WAIT)
        .expect("the menu's tone was played");
    assert!(
        press_until_heard(gw, phone, Duration::from_secs(5)),
        "the phone's audio did not reach the gateway:\n{}",
        gw.log_text()
    );
    phone.command("hangup", "").expect("hangup");
    gw.wait_event("call_disconnected", WAIT)
        .expect("call_disconnected");
    let (dec, _) = wait_for(WAIT, Duration::from_millis(50), || phone.recordings())
        .expect("the phone recorded the call");
    let heard = read_wav(&dec);
    let samples = heard.channels.into_iter().next().unwrap_or_default();
    let (from, to) = audio::active_span(&samples, heard.rate, 0.01)
        .unwrap_or_else(|| panic!("the phone heard nothing of the gateway"));
    // The tone's second; what follows is the answer to the key press.
    let start = (from * f64::from(heard.rate)) as usize;
    let end = (start + heard.rate as usize * 9 / 10).min(samples.len());
    let share = audio::tone_share(&samples[start..end], heard.rate, 1000.0);
    assert!(
        share > 0.8 && to - from >= 0.9,
        "the phone did not hear the gateway's tone: {from:.2}-{to:.2} s, share of 1 kHz {share:.2}"
    );
}

#[test]
fn behind_nat_the_gateway_registers_its_public_address_and_a_wan_call_carries_audio_both_ways() {
    let dir = WorkDir::new("nat-call");
    let c = call_through_nat(&dir, "");
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
    assert_audio_both_ways(&c.gw, &c.phone);
}

#[test]
fn with_the_sdp_nat_rewrite_off_the_wan_phones_audio_is_lost() {
    let dir = WorkDir::new("nat-no-sdp-rewrite");
    let c = call_through_nat(&dir, "--use-sdp-nat-rewrite disabled");
    // Checked over a window: the phone sends to the private address, which the WAN cannot
    // reach.
    assert!(
        !press_until_heard(&c.gw, &c.phone, Duration::from_secs(3)),
        "a key press arrived although the SDP named the private address"
    );
    c.phone.command("hangup", "").expect("hangup");
}

#[test]
fn a_phone_behind_nat_whose_ports_change_is_heard_and_hears_the_gateway() {
    require();
    let dir = WorkDir::new("nat-phone-behind");
    let nat =
        Nat::phone_behind().unwrap_or_else(|e| panic!("the NAT namespaces (root is needed): {e}"));
    let options = json!({
        "sip_global": {"log_level": 3},
        "sip": {"enabled": true, "registrar_uri": "", "id_uri": format!("sip:hasip@{}", nat.wan_ip),
                "answer_mode": "accept", "settle_time": 0,
                "incoming_call_file": tone_menu(&dir)},
    });
    let gw = Gateway::start_in(&dir, &nat.wrapper(), nat.wan_ip.into(), Some(&options));
    let mut o = BaresipOptions::direct("door");
    o.address = nat.lan_ip.into();
    let phone = Baresip::start(&dir, &o);
    dial(&gw, &phone, &format!("sip:hasip@{}", gw.sip));
    // The INVITE came from the router's public address, on a port of its own choosing.
    let call = gw.wait_event("incoming_call", WAIT).expect("incoming_call");
    assert!(
        call["caller"]
            .as_str()
            .is_some_and(|c| c.contains(&nat.lan_ip.to_string())),
        "{call}"
    );
    // The SDP names the phone's private address, which the WAN cannot reach: the
    // gateway's audio can only have gone to where the phone's packets came from.
    let sdp = format!("remote=Some({}:", nat.lan_ip);
    assert!(gw.log_text().contains(&sdp), "{}", gw.log_text());
    assert_audio_both_ways(&gw, &phone);
}
