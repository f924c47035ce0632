//! MQTT against a real mosquitto: commands on `hasip/execute` reach the SIP wire, events and
//! command errors come out on `hasip/state`, availability is retained with a last will, and
//! the client survives a broker restart. ha-sip's topics and payloads, unchanged.

use std::time::Duration;

use hasip_tests::gateway::Gateway;
use hasip_tests::mosquitto::{self, Mosquitto, MosquittoOptions};
use hasip_tests::raw;
use hasip_tests::sipp::{self, SippOptions};
use hasip_tests::workdir::WorkDir;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

fn options(broker: &Mosquitto, mqtt: Value) -> Value {
    let mut m = json!({"enabled": true, "broker_address": "127.0.0.1", "broker_port": broker.port});
    if let (Some(m), Some(extra)) = (m.as_object_mut(), mqtt.as_object()) {
        m.extend(extra.clone());
    }
    json!({
        "sip_global": {"log_level": 3},
        "sip": {"enabled": true, "registrar_uri": "", "id_uri": "sip:hasip@127.0.0.1",
                "answer_mode": "listen", "settle_time": 0},
        "mqtt": m
    })
}

/// A sipp phone that answers one call and waits for the BYE.
fn answering_phone(dir: &WorkDir) -> sipp::SippHandle {
    sipp::spawn(
        dir,
        "uas",
        include_str!("../sipp/uas_answer.xml"),
        None,
        &SippOptions {
            server: true,
            timeout: Duration::from_secs(20),
            ..SippOptions::default()
        },
    )
}

fn online(sub: &mosquitto::Subscriber, topic: &str) -> bool {
    sub.wait(WAIT, |m| m.topic == topic && m.payload == "online")
        .is_some()
}

#[test]
fn dial_and_hangup_over_mqtt_reach_the_phone_and_events_reach_the_state_topic() {
    let dir = WorkDir::new("mqtt-dial");
    let broker = Mosquitto::start(&dir, MosquittoOptions::default());
    let sub = broker.subscribe(&dir, "hasip/#");
    let gw = Gateway::start_with(&dir, Some(&options(&broker, json!({}))), &[]);
    assert!(online(&sub, "hasip/availability"), "{}", gw.log_text());
    let phone = answering_phone(&dir);
    let number = format!("sip:uas@127.0.0.1:{}", phone.port);
    // Exactly what an `mqtt.publish` action from ha-sip's README sends.
    broker.publish(
        "hasip/execute",
        &json!({"command": "dial", "number": number, "ring_timeout": 15}).to_string(),
        false,
    );
    let est = sub
        .wait_event("hasip/state", "call_established", 1, WAIT)
        .unwrap_or_else(|| panic!("no call_established on hasip/state:\n{}", gw.log_text()));
    assert_eq!(est["internal_id"], number);
    assert_eq!(est["parsed_caller"], "uas");
    // The same body as the webhook, field for field (the log line is the webhook body).
    let logged = gw
        .wait_event("call_established", WAIT)
        .expect("logged event");
    assert_eq!(est, logged);
    broker.publish(
        "hasip/execute",
        &json!({"command": "hangup", "number": number}).to_string(),
        false,
    );
    let run = phone.finish();
    assert!(run.passed(), "sipp: {:?}", run.received);
    assert!(run.received.iter().any(|m| m.starts_with("INVITE ")));
    assert!(run.received.iter().any(|m| m.starts_with("BYE ")));
    let gone = sub
        .wait_event("hasip/state", "call_disconnected", 1, WAIT)
        .expect("call_disconnected on hasip/state");
    assert_eq!(gone["internal_id"], number);
    // One message per event, not ha-sip's duplicate for a per-call webhook.
    assert!(
        sub.wait_event(
            "hasip/state",
            "call_established",
            2,
            Duration::from_millis(200)
        )
        .is_none()
    );
}

#[test]
fn bad_commands_are_reported_on_the_state_topic_and_change_nothing() {
    let dir = WorkDir::new("mqtt-errors");
    let broker = Mosquitto::start(&dir, MosquittoOptions::default());
    let sub = broker.subscribe(&dir, "hasip/state");
    let gw = Gateway::start_with(&dir, Some(&options(&broker, json!({}))), &[]);
    assert!(gw.wait_log("MQTT: connected", WAIT), "{}", gw.log_text());
    broker.publish("hasip/execute", "{\"command\": \"dial\"", false);
    let e = sub
        .wait_event("hasip/state", "command_error", 1, WAIT)
        .unwrap_or_else(|| panic!("no command_error:\n{}", gw.log_text()));
    assert_eq!(e["source"], "mqtt");
    assert!(e["error"].as_str().unwrap().starts_with("not JSON"), "{e}");
    broker.publish(
        "hasip/execute",
        r#"{"command": "hangup", "number": "sip:nobody@127.0.0.1"}"#,
        false,
    );
    let e = sub
        .wait_event("hasip/state", "command_error", 2, WAIT)
        .expect("second command_error");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("sip:nobody@127.0.0.1"),
        "the error names the call: {e}"
    );
    broker.publish(
        "hasip/execute",
        r#"{"command": "dial", "number": 5, "sip_account": "two"}"#,
        false,
    );
    let e = sub
        .wait_event("hasip/state", "command_error", 3, WAIT)
        .expect("third command_error");
    assert!(e["error"].as_str().unwrap().contains("sip_account"), "{e}");
    // The gateway still works.
    let probe = raw::options(gw.sip, "UDP", "after-errors");
    assert!(raw::udp_exchange(gw.sip, &probe, Duration::from_secs(2)).is_some());
}

#[test]
fn a_retained_command_is_not_run_and_stdin_works_beside_mqtt() {
    let dir = WorkDir::new("mqtt-retained");
    let broker = Mosquitto::start(&dir, MosquittoOptions::default());
    let phone = answering_phone(&dir);
    let stale = format!("sip:stale@127.0.0.1:{}", phone.port);
    // Left over from an automation that published with retain: it must not dial on every
    // restart of the gateway.
    broker.publish(
        "hasip/execute",
        &json!({"command": "dial", "number": stale}).to_string(),
        true,
    );
    let sub = broker.subscribe(&dir, "hasip/state");
    let mut gw = Gateway::start_with(&dir, Some(&options(&broker, json!({}))), &[]);
    assert!(
        gw.wait_log("ignored a retained command", WAIT),
        "{}",
        gw.log_text()
    );
    // stdin stays a command source in MQTT mode (ha-sip: COMMAND_SOURCE=mqtt adds MQTT).
    let number = format!("sip:uas@127.0.0.1:{}", phone.port);
    gw.command(&json!({"command": "dial", "number": number}).to_string());
    let est = sub
        .wait_event("hasip/state", "call_established", 1, WAIT)
        .expect("call_established");
    assert_eq!(
        est["internal_id"], number,
        "only the stdin dial placed a call"
    );
    gw.command(&json!({"command": "hangup", "number": number}).to_string());
    let run = phone.finish();
    assert!(run.passed(), "sipp: {:?}", run.received);
    let invites = run
        .received
        .iter()
        .filter(|m| m.starts_with("INVITE "))
        .count();
    assert_eq!(invites, 1);
}

#[test]
fn availability_is_retained_with_a_last_will_and_offline_at_a_clean_stop() {
    let dir = WorkDir::new("mqtt-availability");
    let broker = Mosquitto::start(&dir, MosquittoOptions::default());
    let opts = options(&broker, json!({"availability_topic": "gw/status"}));
    let mut gw = Gateway::start_with(&dir, Some(&opts), &[]);
    assert!(gw.wait_log("MQTT: connected", WAIT), "{}", gw.log_text());
    // A subscriber that comes later gets the retained `online`.
    let late = broker.subscribe(&dir, "gw/status");
    let m = late
        .wait(WAIT, |m| m.payload == "online")
        .expect("retained online");
    assert!(m.retained);
    // SIGTERM: the gateway says `offline` itself.
    assert!(gw.stop().is_some_and(|s| s.success()));
    assert!(late.wait(WAIT, |m| m.payload == "offline").is_some());

    // SIGKILL: the broker publishes the last will.
    let mut gw = Gateway::start_with(&dir, Some(&opts), &[]);
    let sub = broker.subscribe(&dir, "gw/status");
    // The retained value was `offline` (the clean stop above): an `online` is the new one.
    assert!(wait_nth(&sub, "online", 1), "{}", gw.log_text());
    let before = sub
        .messages()
        .iter()
        .filter(|m| m.payload == "offline")
        .count();
    assert!(gw.process().signal("KILL"));
    assert!(
        hasip_tests::wait_for(WAIT, Duration::from_millis(10), || {
            (sub.messages()
                .iter()
                .filter(|m| m.payload == "offline")
                .count()
                > before)
                .then_some(())
        })
        .is_some(),
        "no last will:\n{}",
        broker.log_text()
    );
}

fn wait_nth(sub: &mosquitto::Subscriber, payload: &str, n: usize) -> bool {
    hasip_tests::wait_for(WAIT, Duration::from_millis(10), || {
        (sub.messages()
            .iter()
            .filter(|m| m.payload == payload)
            .count()
            >= n)
            .then_some(())
    })
    .is_some()
}

#[test]
fn after_a_broker_restart_the_gateway_subscribes_and_announces_itself_again() {
    let dir = WorkDir::new("mqtt-restart");
    let mut broker = Mosquitto::start(&dir, MosquittoOptions::default());
    let gw = Gateway::start_with(&dir, Some(&options(&broker, json!({}))), &[]);
    assert!(gw.wait_log("MQTT: connected", WAIT), "{}", gw.log_text());
    // The broker dies with everything it knew: subscriptions, retained messages.
    broker.restart();
    assert!(
        gw.wait_log("MQTT: not connected", WAIT),
        "{}",
        gw.log_text()
    );
    let sub = broker.subscribe(&dir, "hasip/#");
    assert!(online(&sub, "hasip/availability"), "{}", gw.log_text());
    // Subscribed again: a command gets through.
    broker.publish(
        "hasip/execute",
        r#"{"command": "answer", "number": "x"}"#,
        false,
    );
    let e = sub
        .wait_event("hasip/state", "command_error", 1, WAIT)
        .unwrap_or_else(|| panic!("command not received after the restart:\n{}", gw.log_text()));
    assert!(e["error"].as_str().unwrap().contains('x'), "{e}");
}

#[test]
fn credentials_are_used_and_a_wrong_password_is_reported_and_retried() {
    let dir = WorkDir::new("mqtt-auth");
    let broker = Mosquitto::start(
        &dir,
        MosquittoOptions {
            password: true,
            tls: false,
        },
    );
    let sub = broker.subscribe(&dir, "hasip/availability");
    let good = options(
        &broker,
        json!({"username": mosquitto::USER, "password": mosquitto::PASSWORD}),
    );
    let gw = Gateway::start_with(&dir, Some(&good), &[]);
    assert!(online(&sub, "hasip/availability"), "{}", gw.log_text());
    assert!(
        !gw.log_text().contains(mosquitto::PASSWORD),
        "the password is never logged"
    );
    drop(gw);
    let bad = options(
        &broker,
        json!({"username": mosquitto::USER, "password": "wrong"}),
    );
    let mut gw = Gateway::start_with(&dir, Some(&bad), &[]);
    assert!(
        gw.wait_log("check mqtt.username and mqtt.password", WAIT),
        "{}",
        gw.log_text()
    );
    // It keeps trying, with a growing pause, and keeps serving SIP.
    assert!(gw.wait_log("retry_in=1s", WAIT), "{}", gw.log_text());
    assert!(gw.is_running());
    let probe = raw::options(gw.sip, "UDP", "auth");
    assert!(raw::udp_exchange(gw.sip, &probe, Duration::from_secs(2)).is_some());
}

#[test]
fn tls_to_the_broker_checks_its_certificate() {
    let dir = WorkDir::new("mqtt-tls");
    let broker = Mosquitto::start(
        &dir,
        MosquittoOptions {
            password: false,
            tls: true,
        },
    );
    let sub = broker.subscribe(&dir, "hasip/availability");
    let opts = options(&broker, json!({"tls": true}));
    let ca = broker.ca_file();
    let ca = ca.to_string_lossy();
    let gw = Gateway::start_env(&dir, Some(&opts), &[], &[("SSL_CERT_FILE", &ca)]);
    assert!(online(&sub, "hasip/availability"), "{}", gw.log_text());
    drop(gw);
    // With only the system's roots, the test CA is unknown: no connection.
    let system = "/etc/ssl/certs/ca-certificates.crt";
    assert!(
        std::path::Path::new(system).exists(),
        "ca-certificates is installed"
    );
    let gw = Gateway::start_env(&dir, Some(&opts), &[], &[("SSL_CERT_FILE", system)]);
    assert!(
        gw.wait_log("MQTT: not connected", WAIT),
        "{}",
        gw.log_text()
    );
    assert!(
        gw.log_text().contains("UnknownIssuer") || gw.log_text().contains("certificate"),
        "{}",
        gw.log_text()
    );
}

#[test]
fn standalone_environment_turns_mqtt_on_as_ha_sip_did() {
    let dir = WorkDir::new("mqtt-env");
    let broker = Mosquitto::start(&dir, MosquittoOptions::default());
    let sub = broker.subscribe(&dir, "custom/#");
    let port = broker.port.to_string();
    let mut gw = Gateway::start_env(
        &dir,
        None,
        &[],
        &[
            ("COMMAND_SOURCE", "mqtt"),
            ("BROKER_ADDRESS", "127.0.0.1"),
            ("BROKER_PORT", &port),
            ("MQTT_TOPIC", "custom/execute"),
            ("MQTT_STATE_TOPIC", "custom/state"),
            ("SIP1_ENABLED", "true"),
            ("SIP1_ID_URI", "sip:hasip@127.0.0.1"),
            ("SIP1_ANSWER_MODE", "listen"),
        ],
    );
    assert!(gw.wait_log("MQTT: connected", WAIT), "{}", gw.log_text());
    let phone = answering_phone(&dir);
    let number = format!("sip:uas@127.0.0.1:{}", phone.port);
    broker.publish(
        "custom/execute",
        &json!({"command": "dial", "number": number}).to_string(),
        false,
    );
    assert!(
        sub.wait_event("custom/state", "call_established", 1, WAIT)
            .is_some(),
        "{}",
        gw.log_text()
    );
    gw.command(&json!({"command": "hangup", "number": number}).to_string());
    assert!(phone.finish().passed());
}
