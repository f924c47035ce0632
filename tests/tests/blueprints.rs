//! The blueprints of `examples/blueprints/`, loaded by the real Home Assistant: each one
//! validates (an automation made from it is set up, not unavailable), and an automation
//! made from each runs against a real call. Commands go over MQTT (Home Assistant's MQTT
//! integration publishes them to the gateway's command topic), events arrive on the event
//! bus; the add-on's `hassio.addon_stdin` path needs the Supervisor and is the blueprints'
//! other choice.

use std::time::Duration;

use hasip_tests::baresip::{Baresip, BaresipOptions};
use hasip_tests::gateway::Gateway;
use hasip_tests::ha::{HaOptions, HomeAssistant};
use hasip_tests::mosquitto::{Mosquitto, MosquittoOptions};
use hasip_tests::workdir::WorkDir;
use hasip_tests::{have, wait_for};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

fn automations(bob: &str) -> String {
    format!(
        r#"
- id: blueprint_call_me
  alias: Blueprint call me
  use_blueprint:
    path: ha-sip-rs/call_me_with_a_message.yaml
    input:
      trigger_entity: input_boolean.sip_test
      to_state: "on"
      number: "sip:bob@{bob}"
      message: Hello from the blueprint.
      ring_timeout: 20
      command_via: mqtt
- id: blueprint_pin_door
  alias: Blueprint PIN door
  use_blueprint:
    path: ha-sip-rs/pin_door_opener.yaml
    input:
      menu_id: door_opened
      open_action:
        - service: counter.increment
          target:
            entity_id: counter.sip_webhooks
- id: blueprint_doorbell
  alias: Blueprint doorbell
  use_blueprint:
    path: ha-sip-rs/doorbell.yaml
    input:
      caller: intercom
      notify_action:
        - service: input_text.set_value
          target:
            entity_id: input_text.sip_last_event
          data:
            value: doorbell rang
      open_digits: "0"
      hang_up_after: 1
      command_via: mqtt
"#
    )
}

fn state(ha: &HomeAssistant, id: &str) -> Option<String> {
    ha.state(id)
}

fn wait_state(ha: &HomeAssistant, id: &str, want: &str) {
    let got = wait_for(WAIT, Duration::from_millis(50), || {
        state(ha, id).filter(|s| s == want)
    });
    assert!(got.is_some(), "{id} is {:?}, not {want:?}", state(ha, id));
}

fn gateway(dir: &WorkDir, ha: &HomeAssistant, broker: &Mosquitto, sip: Value) -> Gateway {
    Gateway::start_env(
        dir,
        Some(&json!({
            "sip_global": {"log_level": 3},
            "sip": sip,
            "tts": {"engine_id": "sip_test_tts", "language": "en"},
            // No webhooks: the test configuration's webhook automation would touch the
            // entities the blueprints' actions set. The event bus carries the events.
            "webhook": {"id": "", "delivery": "event"},
            "mqtt": {"enabled": true, "broker_address": "127.0.0.1", "broker_port": broker.port}
        })),
        &[],
        &[("HA_BASE_URL", &ha.base_url), ("HA_TOKEN", &ha.token)],
    )
}

fn names(gw: &Gateway) -> Vec<String> {
    gw.events()
        .iter()
        .map(|e| e["event"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn each_blueprint_validates_and_runs_against_a_real_call() {
    assert!(
        have("baresip") && have("mosquitto"),
        "baresip and mosquitto are needed: run ./build.sh test"
    );
    let dir = WorkDir::new("blueprints");
    let broker = Mosquitto::start(&dir, MosquittoOptions::default());
    let bob = Baresip::start(&dir, &BaresipOptions::direct("bob"));
    let ha = HomeAssistant::start_with(
        &dir,
        &HaOptions {
            mqtt_port: Some(broker.port),
            blueprints: true,
            automations: automations(&bob.sip.to_string()),
            ..HaOptions::default()
        },
    );
    for id in [
        "automation.blueprint_call_me",
        "automation.blueprint_pin_door",
        "automation.blueprint_doorbell",
    ] {
        wait_state(&ha, id, "on");
    }

    // Call me with a message: the entity changes, the gateway calls bob and speaks.
    {
        let gw = gateway(
            &dir,
            &ha,
            &broker,
            json!({"enabled": true, "registrar_uri": "", "id_uri": "sip:hasip@127.0.0.1",
                   "answer_mode": "listen", "settle_time": 0}),
        );
        assert!(gw.wait_log("MQTT: connected", WAIT));
        let (status, body) = ha
            .post(
                "services/input_boolean/turn_on",
                &json!({"entity_id": "input_boolean.sip_test"}),
            )
            .expect("turn_on");
        assert_eq!(status, 200, "{body}");
        bob.wait_event("CALL_ESTABLISHED", WAIT)
            .unwrap_or_else(|| panic!("bob was not called; gateway:\n{}", gw.log_text()));
        gw.wait_event("call_disconnected", WAIT)
            .expect("hung up after the message");
        let got = names(&gw);
        for want in [
            "outgoing_call_initiated",
            "call_established",
            "playback_done",
        ] {
            assert!(got.iter().any(|g| g == want), "{want} missing: {got:?}");
        }
        let played = gw.wait_event("playback_done", WAIT).expect("playback_done");
        assert_eq!(played["message"], "Hello from the blueprint.", "{played}");
    }

    // PIN door opener: the right PIN reaches the choice with id door_opened.
    {
        let menu = dir.file("door.yaml");
        std::fs::write(
            &menu,
            "menu:\n  message: Code please.\n  choices_are_pin: true\n  timeout: 30\n  choices:\n    '1234':\n      id: door_opened\n      message: Welcome.\n",
        )
        .unwrap_or_else(|e| panic!("write the menu: {e}"));
        let gw = gateway(
            &dir,
            &ha,
            &broker,
            json!({"enabled": true, "registrar_uri": "", "id_uri": "sip:hasip@127.0.0.1",
                   "answer_mode": "accept", "settle_time": 0,
                   "incoming_call_file": menu.to_string_lossy()}),
        );
        let door = Baresip::start(&dir, &BaresipOptions::direct("door"));
        door.command("dial", &format!("sip:hasip@{}", gw.sip))
            .expect("dial");
        gw.wait_event("call_established", WAIT)
            .expect("call_established");
        let before: i64 = state(&ha, "counter.sip_webhooks")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        door.command("sndcode", "1234").expect("sndcode");
        let entered = gw.wait_event("entered_menu", WAIT).expect("entered_menu");
        assert_eq!(entered["menu_id"], "door_opened");
        wait_state(&ha, "counter.sip_webhooks", &(before + 1).to_string());
        door.command("hangup", "").expect("hangup");
        gw.wait_event("call_disconnected", WAIT)
            .expect("call_disconnected");
    }

    // Doorbell: the intercom calls, Home Assistant is told, answers and opens, hangs up.
    {
        let gw = gateway(
            &dir,
            &ha,
            &broker,
            json!({"enabled": true, "registrar_uri": "", "id_uri": "sip:hasip@127.0.0.1",
                   "answer_mode": "listen", "settle_time": 1}),
        );
        assert!(gw.wait_log("MQTT: connected", WAIT));
        let intercom = Baresip::start(&dir, &BaresipOptions::direct("intercom"));
        intercom
            .command("dial", &format!("sip:hasip@{}", gw.sip))
            .expect("dial");
        wait_state(&ha, "input_text.sip_last_event", "doorbell rang");
        intercom
            .wait_event("CALL_ESTABLISHED", WAIT)
            .unwrap_or_else(|| panic!("not answered; gateway:\n{}", gw.log_text()));
        let digit = intercom
            .wait_event("CALL_DTMF_START", WAIT)
            .unwrap_or_else(|| panic!("no digit; gateway:\n{}", gw.log_text()));
        assert_eq!(digit["param"], "0");
        intercom
            .wait_event("CALL_CLOSED", WAIT)
            .unwrap_or_else(|| panic!("not hung up; gateway:\n{}", gw.log_text()));
    }
}

/// Every automation in `examples/automations/` is loaded by the real Home Assistant and set
/// up (state `on`), not refused (no entity) or broken (`unavailable`). They are written in
/// the classic syntax (`trigger:`/`platform:`, `action:`/`service:`), which every Home
/// Assistant version reads, 2024.3 (the test peer) as well as today's.
#[test]
fn every_example_automation_loads_in_home_assistant() {
    let dir = WorkDir::new("example-automations");
    let root = hasip_tests::workspace_root().join("examples/automations");
    let mut all = String::new();
    let mut ids = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for line in text.lines() {
            if let Some(id) = line.strip_prefix("- id: ") {
                ids.push((f.display().to_string(), id.trim().to_owned()));
            }
        }
        all.push_str(&text);
        all.push('\n');
    }
    assert!(
        ids.len() >= files.len(),
        "every file has an automation: {ids:?}"
    );
    let ha = HomeAssistant::start_with(
        &dir,
        &HaOptions {
            automations: all,
            only_these_automations: true,
            ..HaOptions::default()
        },
    );
    let states = || -> Vec<Value> {
        ha.get("states")
            .and_then(|(_, body)| serde_json::from_str::<Vec<Value>>(&body).ok())
            .unwrap_or_default()
    };
    for (file, id) in &ids {
        let found = wait_for(WAIT, Duration::from_millis(100), || {
            states()
                .into_iter()
                .find(|s| s["attributes"]["id"] == id.as_str())
        });
        let entity = found.unwrap_or_else(|| {
            panic!(
                "{file}: automation {id} was not set up; Home Assistant's log:\n{}",
                ha.log_text()
            )
        });
        assert_eq!(
            entity["state"],
            "on",
            "{file}: automation {id}: {entity}\n{}",
            ha.log_text()
        );
    }
}
