//! Calls with baresip, a real softphone, in both directions: through kamailio (digest on
//! REGISTER, 407 on INVITE) and directly without a registrar, as an intercom calls a
//! doorbell gateway (seed 000).

use std::time::Duration;

use hasip_tests::baresip::{Baresip, BaresipOptions};
use hasip_tests::gateway::Gateway;
use hasip_tests::have;
use hasip_tests::kamailio::{Kamailio, KamailioOptions};
use hasip_tests::workdir::WorkDir;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(15);

fn require_peers() {
    assert!(
        have("baresip") && have("kamailio"),
        "baresip and kamailio are needed: run ./build.sh test"
    );
}

fn options(registrar: Option<&str>, answer_mode: &str) -> Value {
    json!({
        "sip_global": {"log_level": 3},
        "sip": {
            "enabled": true,
            "registrar_uri": registrar.unwrap_or(""),
            "id_uri": if registrar.is_some() { "sip:hasip@test.local" } else { "sip:hasip@127.0.0.1" },
            "user_name": "hasip",
            "password": "secret",
            "answer_mode": answer_mode,
            "settle_time": 0
        }
    })
}

#[test]
fn baresip_calls_the_gateway_through_kamailio_and_hangs_up() {
    require_peers();
    let dir = WorkDir::new("baresip-to-gateway");
    let k = Kamailio::start(&dir, KamailioOptions::default());
    let gw = Gateway::start_with(
        &dir,
        Some(&options(Some(&format!("sip:{}", k.sip)), "accept")),
        &[],
    );
    assert!(gw.wait_log("registered account=1", WAIT));
    let alice = Baresip::start(&dir, &BaresipOptions::registered("alice", k.sip));
    assert!(alice.wait_registered(WAIT), "alice did not register");
    let r = alice
        .command("dial", &format!("sip:hasip@{}", k.sip))
        .expect("dial response");
    assert_eq!(r["ok"], true, "{r}");
    alice
        .wait_event("CALL_ESTABLISHED", WAIT)
        .expect("alice: established");
    let est = gw
        .wait_event("call_established", WAIT)
        .expect("gateway: call_established");
    assert_eq!(est["parsed_caller"], "alice");
    assert!(
        k.log_text().contains("AUTH OK user 'alice' for INVITE"),
        "alice's INVITE was challenged"
    );
    alice.command("hangup", "").expect("hangup response");
    gw.wait_event("call_disconnected", WAIT)
        .expect("gateway: call_disconnected");
    alice
        .wait_event("CALL_CLOSED", WAIT)
        .expect("alice: closed");
}

#[test]
fn gateway_dials_baresip_through_kamailio_answering_407() {
    require_peers();
    let dir = WorkDir::new("gateway-to-baresip");
    let k = Kamailio::start(&dir, KamailioOptions::default());
    let mut gw = Gateway::start_with(
        &dir,
        Some(&options(Some(&format!("sip:{}", k.sip)), "listen")),
        &[],
    );
    assert!(gw.wait_log("registered account=1", WAIT));
    let bob = Baresip::start(&dir, &BaresipOptions::registered("bob", k.sip));
    assert!(bob.wait_registered(WAIT), "bob did not register");
    let number = format!("sip:bob@{}", k.sip);
    gw.command(&json!({"command": "dial", "number": number}).to_string());
    bob.wait_event("CALL_ESTABLISHED", WAIT)
        .expect("bob: established");
    gw.wait_event("call_established", WAIT)
        .expect("gateway: call_established");
    assert!(
        k.log_text().contains("AUTH OK user 'hasip' for INVITE"),
        "no 407 round trip"
    );
    gw.command(&json!({"command": "hangup", "number": number}).to_string());
    bob.wait_event("CALL_CLOSED", WAIT)
        .expect("bob: closed by our BYE");
    gw.wait_event("call_disconnected", WAIT)
        .expect("gateway: call_disconnected");
}

#[test]
fn intercom_and_gateway_call_each_other_without_a_registrar() {
    require_peers();
    let dir = WorkDir::new("baresip-direct");
    let mut gw = Gateway::start_with(&dir, Some(&options(None, "accept")), &[]);
    let door = Baresip::start(&dir, &BaresipOptions::direct("door"));
    // The intercom rings the gateway directly.
    let r = door
        .command("dial", &format!("sip:hasip@{}", gw.sip))
        .expect("dial response");
    assert_eq!(r["ok"], true, "{r}");
    door.wait_event("CALL_ESTABLISHED", WAIT)
        .expect("door: established");
    gw.wait_event("call_established", WAIT)
        .expect("gateway: established");
    door.command("hangup", "").expect("hangup");
    gw.wait_event("call_disconnected", WAIT)
        .expect("gateway: disconnected");
    // And the gateway calls the intercom directly.
    let number = format!("sip:door@{}", door.sip);
    gw.command(&json!({"command": "dial", "number": number}).to_string());
    door.wait_event_n("CALL_ESTABLISHED", 2, WAIT)
        .expect("door: second call established");
    gw.wait_event_n("call_established", 2, WAIT)
        .expect("gateway: second call established");
    gw.command(&json!({"command": "hangup", "number": number}).to_string());
    door.wait_event_n("CALL_CLOSED", 2, WAIT)
        .expect("door: second call closed");
}

/// The options of a registrar-less gateway with a TLS listener on `tls_port`.
fn tls_listener_options(dir: &WorkDir, tls_port: u16) -> Value {
    let mut o = options(None, "accept");
    o["sip_global"]["global_options"] = json!(format!(
        "--tls enabled --tls-port {tls_port} --tls-cert {} --tls-key {}",
        dir.file("server.crt").display(),
        dir.file("server.key").display()
    ));
    o
}

#[test]
fn an_intercom_calls_the_gateway_over_tls_and_the_gateway_hangs_up() {
    require_peers();
    let dir = WorkDir::new("baresip-tls-listener");
    hasip_tests::certs::make(dir.path());
    let tls_port = hasip_tests::ports::free_port();
    let mut gw = Gateway::start_with(&dir, Some(&tls_listener_options(&dir, tls_port)), &[]);
    assert!(
        gw.wait_log("SIP TLS listener ready", WAIT),
        "{}",
        gw.log_text()
    );
    let mut o = BaresipOptions::direct("door");
    o.cafile = Some(dir.file("ca.crt"));
    let door = Baresip::start(&dir, &o);
    // Only TLS listens on this port: a call that gets through came over TLS.
    let r = door
        .command(
            "dial",
            &format!("sip:hasip@127.0.0.1:{tls_port};transport=tls"),
        )
        .expect("dial response");
    assert_eq!(r["ok"], true, "{r}");
    door.wait_event("CALL_ESTABLISHED", WAIT)
        .expect("door: established over TLS");
    let est = gw
        .wait_event("call_established", WAIT)
        .expect("gateway: established");
    // The gateway's BYE reaches the intercom too (over TLS, as its Contact asks).
    gw.command(&json!({"command": "hangup", "number": est["caller"]}).to_string());
    door.wait_event("CALL_CLOSED", WAIT)
        .expect("door: closed by the gateway's BYE");
    gw.wait_event("call_disconnected", WAIT)
        .expect("gateway: call_disconnected");
}

#[test]
fn a_tls_certificate_that_cannot_be_read_stops_the_start_and_names_the_flag() {
    let dir = WorkDir::new("tls-listener-bad-cert");
    std::fs::write(dir.file("server.key"), "not a key").expect("write key");
    let options = tls_listener_options(&dir, hasip_tests::ports::free_port());
    let path = dir.file("options.json");
    std::fs::write(&path, options.to_string()).expect("write options");
    let out = std::process::Command::new(hasip_tests::gateway::binary())
        .args(["--bind", "127.0.0.1", "--port"])
        .arg(hasip_tests::ports::free_port().to_string())
        .arg("--config")
        .arg(&path)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run the gateway");
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "it must not start: {text}");
    assert!(
        text.contains("--tls-cert") && text.contains("server.crt"),
        "the error names the flag and the file: {text}"
    );
}
