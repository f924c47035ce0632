//! Escalation (issue 22), the "alarm calls" job in one command: three baresip phones, the
//! first does not answer, the second answers but does not acknowledge, the third presses 1.
//! The gateway stops there and reports who acknowledged, with every attempt.

use std::time::Duration;

use hasip_tests::baresip::{Baresip, BaresipOptions};
use hasip_tests::gateway::Gateway;
use hasip_tests::have;
use hasip_tests::workdir::WorkDir;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

fn direct() -> serde_json::Value {
    json!({
        "sip_global": {"log_level": 3},
        "sip": {"enabled": true, "registrar_uri": "", "id_uri": "sip:alarm@127.0.0.1",
                "answer_mode": "listen", "settle_time": 0}
    })
}

#[test]
fn the_third_phone_acknowledges_after_one_does_not_answer_and_one_does_not_press() {
    assert!(have("baresip"), "baresip is needed: run ./build.sh test");
    let dir = WorkDir::new("escalation");
    let mut gw = Gateway::start_with(&dir, Some(&direct()), &[]);
    let mut silent = BaresipOptions::direct("alice");
    silent.auto_answer = false;
    let alice = Baresip::start(&dir, &silent);
    let bob = Baresip::start(&dir, &BaresipOptions::direct("bob"));
    let carol = Baresip::start(&dir, &BaresipOptions::direct("carol"));
    let numbers = [
        format!("sip:alice@{}", alice.sip),
        format!("sip:bob@{}", bob.sip),
        format!("sip:carol@{}", carol.sip),
    ];
    gw.command(
        &json!({"command": "escalate", "id": "alarm", "numbers": numbers,
                "message": "The alarm went off. Press 1.", "ring_timeout": 3,
                "acknowledge_timeout": 3})
        .to_string(),
    );
    // Carol presses 1 once her call is up.
    carol
        .wait_event("CALL_ESTABLISHED", WAIT)
        .expect("carol is called and answers");
    carol.command("sndcode", "1").expect("sndcode");
    let done = gw
        .wait_event("escalation_acknowledged", WAIT)
        .unwrap_or_else(|| panic!("no escalation_acknowledged:\n{}", gw.log_text()));
    assert_eq!(done["escalation_id"], "alarm");
    assert_eq!(done["acknowledged_by"], numbers[2].as_str());
    assert_eq!(done["numbers"], json!(numbers));
    assert_eq!(
        done["attempts"],
        json!([
            {"number": numbers[0], "outcome": "not answered"},
            {"number": numbers[1], "outcome": "not acknowledged"},
            {"number": numbers[2], "outcome": "acknowledged"},
        ]),
        "{done}"
    );
    // Alice rang and was cancelled; Bob answered and was hung up on after 3 s.
    assert!(alice.wait_event("CALL_CLOSED", WAIT).is_some());
    assert!(bob.wait_event("CALL_CLOSED", WAIT).is_some());
    assert!(
        gw.events()
            .iter()
            .all(|e| e["event"] != "escalation_failed"),
        "{:?}",
        gw.events()
    );
}

#[test]
fn nobody_acknowledging_ends_in_escalation_failed() {
    assert!(have("baresip"), "baresip is needed: run ./build.sh test");
    let dir = WorkDir::new("escalation-failed");
    let mut gw = Gateway::start_with(&dir, Some(&direct()), &[]);
    let bob = Baresip::start(&dir, &BaresipOptions::direct("bob"));
    let number = format!("sip:bob@{}", bob.sip);
    gw.command(
        &json!({"command": "escalate", "numbers": [number, "not a uri"],
                "message": "Press 1.", "acknowledge_timeout": 2})
        .to_string(),
    );
    let failed = gw
        .wait_event("escalation_failed", WAIT)
        .unwrap_or_else(|| panic!("no escalation_failed:\n{}", gw.log_text()));
    assert_eq!(failed["acknowledged_by"], serde_json::Value::Null);
    let attempts = failed["attempts"].as_array().cloned().unwrap_or_default();
    assert_eq!(attempts.len(), 2, "{failed}");
    assert_eq!(attempts[0]["outcome"], "not acknowledged");
    assert!(
        attempts[1]["outcome"]
            .as_str()
            .is_some_and(|o| o.starts_with("not dialled")),
        "{failed}"
    );
    // A mistake in the command is refused as a whole, naming the field.
    gw.command(&json!({"command": "escalate", "numbers": [], "message": "x"}).to_string());
    assert!(gw.wait_log("numbers: required", WAIT), "{}", gw.log_text());
}
