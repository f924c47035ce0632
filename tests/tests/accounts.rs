//! Several accounts at once (issue 22): each registers with its own credentials at
//! kamailio, an incoming call is matched to the right account, `dial` with `sip_account`
//! uses that account's identity and credentials, and one account that fails — refused by
//! the registrar, or with an `incoming_call_file` that does not load — leaves the others
//! running. Also the outbound proxy (`--proxy`): REGISTER and INVITE through kamailio
//! for a registrar domain that resolves nowhere.

use std::time::Duration;

use hasip_tests::baresip::{Baresip, BaresipOptions};
use hasip_tests::gateway::Gateway;
use hasip_tests::have;
use hasip_tests::kamailio::{Kamailio, KamailioOptions};
use hasip_tests::sipp::{self, SippOptions};
use hasip_tests::workdir::WorkDir;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

fn require(programs: &[&str]) {
    for p in programs {
        assert!(have(p), "{p} is needed: run ./build.sh test");
    }
}

fn account(k: &Kamailio, user: &str, password: &str) -> Value {
    json!({
        "enabled": true,
        "registrar_uri": format!("sip:{}", k.sip),
        "id_uri": format!("sip:{user}@test.local"),
        "realm": "*",
        "user_name": user,
        "password": password,
        "answer_mode": "accept",
        "settle_time": 0
    })
}

#[test]
fn three_accounts_register_on_their_own_and_calls_in_and_out_use_the_right_one() {
    require(&["kamailio", "sipp", "baresip"]);
    let dir = WorkDir::new("accounts-three");
    let k = Kamailio::start(&dir, KamailioOptions::default());
    let options = json!({
        "sip_global": {"log_level": 3},
        "sip": account(&k, "hasip", "secret"),
        "sip_2": account(&k, "carol", "carol"),
        // Refused by the registrar: must not disturb the other two.
        "sip_3": account(&k, "alice", "wrong"),
    });
    let mut gw = Gateway::start_with(&dir, Some(&options), &[]);
    for n in [1, 2] {
        assert!(
            gw.wait_log(&format!("registered account={n}"), WAIT),
            "account {n}:\n{}",
            gw.log_text()
        );
    }
    let (code, health) = gw.health(2.0);
    assert_eq!(code, 1, "account 3 is refused: {health}");
    assert!(health.contains("account 3"), "{health}");
    assert!(
        k.log_text().contains("carol"),
        "carol registered at kamailio"
    );

    // A call for carol, routed by kamailio, belongs to account 2.
    let run = sipp::spawn(
        &dir,
        "to-carol",
        include_str!("../sipp/uac_call_routed.xml"),
        Some(k.sip),
        &SippOptions {
            service: "carol".into(),
            ..SippOptions::default()
        },
    )
    .finish();
    assert!(run.passed(), "sipp: {:?}", run.received);
    let call = gw.wait_event("incoming_call", WAIT).expect("incoming_call");
    assert_eq!(call["sip_account"], 2, "{call}");
    gw.wait_event("call_disconnected", WAIT)
        .expect("call_disconnected");

    // A dial from account 2 calls as carol, answering kamailio's 407 with carol's password.
    let bob = Baresip::start(&dir, &BaresipOptions::registered("bob", k.sip));
    assert!(bob.wait_registered(WAIT), "bob did not register");
    gw.command(
        &json!({"command": "dial", "number": format!("sip:bob@{}", k.sip), "sip_account": 2})
            .to_string(),
    );
    let incoming = bob
        .wait_event("CALL_ESTABLISHED", WAIT)
        .expect("bob is called");
    assert!(
        incoming.to_string().contains("carol"),
        "bob sees the caller as carol: {incoming}"
    );
    let out = gw
        .wait_event("outgoing_call_initiated", WAIT)
        .expect("outgoing_call_initiated");
    assert_eq!(out["sip_account"], 2, "{out}");
    assert!(
        k.log_text().contains("ROUTE INVITE carol -> bob"),
        "{}",
        k.log_text()
    );
}

#[test]
fn a_broken_incoming_call_file_stops_its_account_only() {
    require(&["sipp"]);
    let dir = WorkDir::new("accounts-broken-file");
    let menu = dir.file("door1.yaml");
    std::fs::write(
        &menu,
        "menu:\n  message: Hello\n  choices:\n    1: [unclosed\n",
    )
    .unwrap_or_else(|e| panic!("write {}: {e}", menu.display()));
    let options = json!({
        "sip_global": {"log_level": 3},
        "sip": {"enabled": true, "registrar_uri": "", "id_uri": "sip:door1@127.0.0.1",
                "answer_mode": "accept", "settle_time": 0,
                "incoming_call_file": menu.to_string_lossy()},
        "sip_2": {"enabled": true, "registrar_uri": "", "id_uri": "sip:door2@127.0.0.1",
                  "answer_mode": "accept", "settle_time": 0},
    });
    let gw = Gateway::start_with(&dir, Some(&options), &[]);
    // The error names the file and where in it, and says what runs.
    assert!(
        gw.wait_log("this account does not register or take calls", WAIT),
        "{}",
        gw.log_text()
    );
    let log = gw.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("does not register or take calls"))
        .unwrap_or_default();
    assert!(
        line.contains("sip.incoming_call_file") && line.contains("door1.yaml:4:"),
        "{line}"
    );
    // Healthy (a restart cannot mend a file and would cut account 2's calls), and it says
    // which account does not run.
    let (code, health) = gw.health(2.0);
    assert_eq!(code, 0, "{health}");
    assert!(
        health.contains("account 1 misconfigured") && health.contains("account 2 direct"),
        "{health}"
    );
    // Account 2 takes its calls.
    let run = sipp::spawn(
        &dir,
        "to-door2",
        include_str!("../sipp/uac_call.xml"),
        Some(gw.sip),
        &SippOptions {
            service: "door2".into(),
            ..SippOptions::default()
        },
    )
    .finish();
    assert!(run.passed(), "sipp: {:?}", run.received);
    let est = gw
        .wait_event("call_established", WAIT)
        .expect("call_established");
    assert_eq!(est["sip_account"], 2, "{est}");
}

#[test]
fn register_and_dial_go_through_the_outbound_proxy() {
    require(&["kamailio", "baresip"]);
    let dir = WorkDir::new("accounts-proxy");
    let k = Kamailio::start(&dir, KamailioOptions::default());
    // The registrar's domain resolves nowhere: only the proxy can carry the requests.
    let options = json!({
        "sip_global": {"log_level": 3},
        "sip": {"enabled": true, "registrar_uri": "sip:test.local",
                "id_uri": "sip:hasip@test.local", "realm": "*", "user_name": "hasip",
                "password": "secret", "answer_mode": "accept", "settle_time": 0,
                "options": format!("--proxy sip:{}", k.sip)},
    });
    let mut gw = Gateway::start_with(&dir, Some(&options), &[]);
    assert!(
        gw.wait_log("registered account=1", WAIT),
        "{}",
        gw.log_text()
    );
    let bob = Baresip::start(&dir, &BaresipOptions::registered("bob", k.sip));
    assert!(bob.wait_registered(WAIT), "bob did not register");
    gw.command(&json!({"command": "dial", "number": "sip:bob@test.local"}).to_string());
    bob.wait_event("CALL_ESTABLISHED", WAIT)
        .expect("bob is called through the proxy");
    assert!(
        k.log_text().contains("ROUTE INVITE hasip -> bob"),
        "{}",
        k.log_text()
    );
}

#[test]
fn custom_headers_go_into_the_accounts_register_and_invite() {
    require(&["sipp"]);
    let dir = WorkDir::new("accounts-headers");
    let registrar = sipp::serve(&dir, "registrar", include_str!("../sipp/uas_registrar.xml"));
    let options = json!({
        "sip_global": {"log_level": 3},
        "sip": {"enabled": true, "registrar_uri": format!("sip:127.0.0.1:{}", registrar.port),
                "id_uri": "sip:hasip@127.0.0.1", "user_name": "hasip", "password": "x",
                "answer_mode": "listen", "settle_time": 0,
                "options": "--header X-Tenant: home assistant --header X-Site:7 --keepalive 0"},
    });
    let mut gw = Gateway::start_with(&dir, Some(&options), &[]);
    assert!(
        gw.wait_log("registered account=1", WAIT),
        "{}",
        gw.log_text()
    );
    let run = registrar.finish();
    let register = run.first("REGISTER ").expect("REGISTER");
    assert!(
        register.contains("X-Tenant: home assistant") && register.contains("X-Site: 7"),
        "{register}"
    );
    let phone = sipp::serve(&dir, "phone", include_str!("../sipp/uas_answer.xml"));
    let number = format!("sip:uas@127.0.0.1:{}", phone.port);
    gw.command(&json!({"command": "dial", "number": number}).to_string());
    gw.wait_event("call_established", WAIT)
        .expect("call_established");
    gw.command(&json!({"command": "hangup", "number": number}).to_string());
    let run = phone.finish();
    let invite = run.first("INVITE ").expect("INVITE");
    assert!(
        invite.contains("X-Tenant: home assistant") && invite.contains("X-Site: 7"),
        "{invite}"
    );
}

#[test]
fn an_outgoing_only_account_refuses_calls_and_a_receive_only_one_refuses_dial() {
    require(&["sipp"]);
    let dir = WorkDir::new("accounts-can-call");
    let options = json!({
        "sip_global": {"log_level": 3},
        "sip": {"enabled": true, "registrar_uri": "", "id_uri": "sip:alarm@127.0.0.1",
                "answer_mode": "accept", "settle_time": 0,
                "options": "--can-be-called disabled"},
        "sip_2": {"enabled": true, "registrar_uri": "", "id_uri": "sip:door@127.0.0.1",
                  "answer_mode": "accept", "settle_time": 0, "options": "--can-call disabled"},
    });
    let mut gw = Gateway::start_with(&dir, Some(&options), &[]);
    // A call for the outgoing-only account: 403.
    let scenario = include_str!("../sipp/uac_refused.xml").replace("CODE", "403");
    let run = sipp::spawn(
        &dir,
        "to-alarm",
        &scenario,
        Some(gw.sip),
        &SippOptions {
            service: "alarm".into(),
            ..SippOptions::default()
        },
    )
    .finish();
    assert!(run.passed(), "sipp: {:?}", run.received);
    // A dial from the receive-only account is refused, naming the account and the option.
    gw.command(
        &json!({"command": "dial", "number": "sip:someone@127.0.0.1:5", "sip_account": 2})
            .to_string(),
    );
    assert!(
        gw.wait_log("--can-call disabled", WAIT),
        "{}",
        gw.log_text()
    );
    // The receive-only account takes its calls; the outgoing-only one dials.
    let run = sipp::spawn(
        &dir,
        "to-door",
        include_str!("../sipp/uac_call.xml"),
        Some(gw.sip),
        &SippOptions {
            service: "door".into(),
            ..SippOptions::default()
        },
    )
    .finish();
    assert!(run.passed(), "sipp: {:?}", run.received);
    let phone = sipp::serve(&dir, "phone", include_str!("../sipp/uas_answer.xml"));
    let number = format!("sip:uas@127.0.0.1:{}", phone.port);
    gw.command(&json!({"command": "dial", "number": number, "sip_account": 1}).to_string());
    let est = gw
        .wait_event_n("call_established", 2, WAIT)
        .expect("the outgoing-only account dials");
    assert_eq!(est["sip_account"], 1, "{est}");
    assert!(
        !gw.events()
            .iter()
            .any(|e| e["event"] == "incoming_call" && e["sip_account"] == 1),
        "{:?}",
        gw.events()
    );
}
