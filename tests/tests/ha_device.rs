//! The gateway as a device in the real Home Assistant, through MQTT discovery: Home
//! Assistant's MQTT integration set up against the test's mosquitto, the entities in its
//! state machine with the right states while baresip rings the gateway, the answer and
//! hang-up buttons pressed through Home Assistant's REST API, the event entity firing with
//! the digit baresip sends, every entity unavailable while the gateway is stopped and back
//! when it starts again.

use std::time::Duration;

use hasip_tests::baresip::{Baresip, BaresipOptions};
use hasip_tests::gateway::Gateway;
use hasip_tests::ha::{HaOptions, HomeAssistant};
use hasip_tests::mosquitto::{Mosquitto, MosquittoOptions};
use hasip_tests::workdir::WorkDir;
use hasip_tests::{have, wait_for};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

const REGISTRATION: &str = "binary_sensor.ha_sip_rs_account_1_registration";
const CALL_STATE: &str = "sensor.ha_sip_rs_account_1_call_state";
const LAST_CALLER: &str = "sensor.ha_sip_rs_account_1_last_caller";
const EVENTS: &str = "event.ha_sip_rs_account_1_events";
const ANSWER: &str = "button.ha_sip_rs_account_1_answer";
const HANG_UP: &str = "button.ha_sip_rs_account_1_hang_up";

fn entity(ha: &HomeAssistant, id: &str) -> Option<Value> {
    let (status, body) = ha.get(&format!("states/{id}"))?;
    (status == 200).then(|| serde_json::from_str(&body).ok())?
}

/// Waits until `id`'s state is `want`; returns the entity.
fn wait_state(ha: &HomeAssistant, gw: &Gateway, id: &str, want: &str) -> Value {
    wait_for(WAIT, Duration::from_millis(50), || {
        entity(ha, id).filter(|e| e["state"] == want)
    })
    .unwrap_or_else(|| {
        panic!(
            "{id} never became {want:?}: {:?}\ngateway log:\n{}",
            entity(ha, id),
            gw.log_text()
        )
    })
}

fn press(ha: &HomeAssistant, button: &str) {
    let (status, body) = ha
        .post("services/button/press", &json!({"entity_id": button}))
        .expect("button.press answered");
    assert_eq!(status, 200, "{body}");
}

fn gateway(dir: &WorkDir, ha: &HomeAssistant, broker: &Mosquitto) -> Gateway {
    let options = json!({
        "sip_global": {"log_level": 3},
        "sip": {"enabled": true, "registrar_uri": "", "id_uri": "sip:hasip@127.0.0.1",
                "answer_mode": "listen", "settle_time": 0},
        "mqtt": {"enabled": true, "broker_address": "127.0.0.1", "broker_port": broker.port}
    });
    Gateway::start_env(
        dir,
        Some(&options),
        &[],
        &[("HA_BASE_URL", &ha.base_url), ("HA_TOKEN", &ha.token)],
    )
}

#[test]
fn the_gateway_is_a_device_with_entities_in_home_assistant() {
    assert!(
        have("baresip") && have("mosquitto"),
        "baresip and mosquitto are needed: run ./build.sh test"
    );
    let dir = WorkDir::new("ha-device");
    let broker = Mosquitto::start(&dir, MosquittoOptions::default());
    let ha = HomeAssistant::start_with(
        &dir,
        &HaOptions {
            mqtt_port: Some(broker.port),
            ..HaOptions::default()
        },
    );
    let mut gw = gateway(&dir, &ha, &broker);
    // A direct account is reachable at once: connected.
    let reg = wait_state(&ha, &gw, REGISTRATION, "on");
    assert_eq!(reg["attributes"]["device_class"], "connectivity");
    assert_eq!(reg["attributes"]["registration"], "direct");
    wait_state(&ha, &gw, CALL_STATE, "idle");
    assert!(entity(&ha, EVENTS).is_some(), "the event entity exists");
    // Home Assistant's birth message (after its restart): the configs come again.
    let configs = broker.subscribe(&dir, "homeassistant/button/#");
    broker.publish("homeassistant/status", "online", false);
    let again = configs.wait(WAIT, |m| {
        !m.retained && m.topic.ends_with("ha_sip_rs_account_1_answer/config")
    });
    assert!(
        again.is_some(),
        "configs not published again on homeassistant/status"
    );

    // The door rings: the call state and the last caller follow.
    let door = Baresip::start(&dir, &BaresipOptions::direct("door"));
    let r = door
        .command("dial", &format!("sip:hasip@{}", gw.sip))
        .expect("dial response");
    assert_eq!(r["ok"], true, "{r}");
    wait_state(&ha, &gw, CALL_STATE, "ringing");
    wait_state(&ha, &gw, LAST_CALLER, "door");
    let rang = wait_for(WAIT, Duration::from_millis(50), || {
        entity(&ha, EVENTS).filter(|e| e["attributes"]["event_type"] == "incoming_call")
    });
    assert!(rang.is_some(), "{:?}", entity(&ha, EVENTS));

    // Pressing "answer" in Home Assistant answers the call.
    press(&ha, ANSWER);
    door.wait_event("CALL_ESTABLISHED", WAIT)
        .unwrap_or_else(|| panic!("not answered; gateway log:\n{}", gw.log_text()));
    wait_state(&ha, &gw, CALL_STATE, "in call");

    // A digit from the door fires the event entity with it.
    door.command("sndcode", "5").expect("sndcode");
    let digit = wait_for(WAIT, Duration::from_millis(50), || {
        entity(&ha, EVENTS).filter(|e| e["attributes"]["event_type"] == "dtmf_digit")
    })
    .unwrap_or_else(|| panic!("no dtmf_digit event: {:?}", entity(&ha, EVENTS)));
    assert_eq!(digit["attributes"]["digit"], "5", "{digit}");
    assert_eq!(digit["attributes"]["parsed_caller"], "door", "{digit}");

    // "Hang up" ends it.
    press(&ha, HANG_UP);
    door.wait_event("CALL_CLOSED", WAIT)
        .unwrap_or_else(|| panic!("not hung up; gateway log:\n{}", gw.log_text()));
    wait_state(&ha, &gw, CALL_STATE, "idle");

    // The gateway stops: every entity is unavailable (its last will / clean offline).
    gw.stop();
    for id in [
        REGISTRATION,
        CALL_STATE,
        LAST_CALLER,
        EVENTS,
        ANSWER,
        HANG_UP,
    ] {
        wait_state(&ha, &gw, id, "unavailable");
    }
    // And back when it starts again (the same device: its node id, not its port).
    let gw = gateway(&dir, &ha, &broker);
    wait_state(&ha, &gw, REGISTRATION, "on");
    wait_state(&ha, &gw, CALL_STATE, "idle");
    let back = wait_for(WAIT, Duration::from_millis(50), || {
        entity(&ha, ANSWER).filter(|e| e["state"] != "unavailable")
    });
    assert!(back.is_some(), "the buttons are available again");
}
