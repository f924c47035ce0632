//! Nothing lost (issue 21): with Home Assistant down, the gateway is stopped with SIGTERM,
//! started again, stopped with SIGKILL, and started again; Home Assistant comes back, and
//! every event of both calls arrives once, each call's in order. The events waited on disk
//! (`webhook.spool_dir`).

use std::time::Duration;

use hasip_tests::gateway::Gateway;
use hasip_tests::ha::HomeAssistant;
use hasip_tests::sipp::{self, SippOptions};
use hasip_tests::workdir::WorkDir;
use hasip_tests::{have, wait_for};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);
const WEBHOOK: &str = "sip_test_webhook";

fn gateway(dir: &WorkDir, ha: &HomeAssistant, spool: &str) -> Gateway {
    let o = json!({
        "sip_global": {"log_level": 3},
        "sip": {"enabled": true, "registrar_uri": "", "id_uri": "sip:hasip@127.0.0.1",
                "answer_mode": "accept", "settle_time": 0},
        "webhook": {"id": WEBHOOK, "delivery": "webhook", "spool_dir": spool}
    });
    Gateway::start_env(
        dir,
        Some(&o),
        &[],
        &[("HA_BASE_URL", &ha.base_url), ("HA_TOKEN", &ha.token)],
    )
}

/// One call from sipp, answered and hung up by the caller: three events.
fn call(dir: &WorkDir, gw: &Gateway, name: &str) {
    let run = sipp::spawn(
        dir,
        name,
        include_str!("../sipp/uac_call.xml"),
        Some(gw.sip),
        &SippOptions::default(),
    )
    .finish();
    assert!(run.passed(), "sipp: {:?}", run.received);
    gw.wait_event("call_disconnected", WAIT)
        .expect("call_disconnected");
}

fn spooled(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| {
        d.filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .count()
    })
}

#[test]
fn events_wait_on_disk_through_a_sigterm_and_a_sigkill_until_home_assistant_is_back() {
    assert!(have("sipp"), "sipp is needed: run ./build.sh test");
    let dir = WorkDir::new("spool");
    let mut ha = HomeAssistant::start(&dir);
    ha.stop();
    let spool = dir.file("spool");
    let spool_text = spool.to_string_lossy().into_owned();

    // Call 1, then SIGTERM: its events stay in the spool.
    let mut gw = gateway(&dir, &ha, &spool_text);
    call(&dir, &gw, "call-1");
    let first = gw.events();
    let call1 = first[0]["call_id"].clone();
    assert!(
        wait_for(WAIT, Duration::from_millis(20), || (spooled(&spool) == 3)
            .then_some(()))
        .is_some(),
        "three events on disk, found {}",
        spooled(&spool)
    );
    gw.process().signal("TERM");
    assert!(gw.process().wait_exit(WAIT).is_some(), "{}", gw.log_text());
    assert!(
        gw.log_text()
            .contains("kept in the spool for the next start"),
        "{}",
        gw.log_text()
    );
    assert_eq!(spooled(&spool), 3);

    // Started again (Home Assistant still down), call 2, then SIGKILL.
    let mut gw = gateway(&dir, &ha, &spool_text);
    assert!(
        gw.wait_log("events from the last run are delivered first", WAIT),
        "{}",
        gw.log_text()
    );
    call(&dir, &gw, "call-2");
    let call2 = gw.events()[0]["call_id"].clone();
    assert_ne!(call1, call2);
    assert_eq!(spooled(&spool), 6, "both calls' events on disk");
    gw.process().signal("KILL");
    assert!(gw.process().wait_exit(WAIT).is_some());

    // Home Assistant back, the gateway started once more: everything arrives, once.
    ha.restart();
    let _gw = gateway(&dir, &ha, &spool_text);
    let got = wait_for(Duration::from_secs(30), Duration::from_millis(100), || {
        let b = ha.webhook_bodies(WEBHOOK);
        (b.len() >= 6).then_some(b)
    })
    .unwrap_or_else(|| panic!("got {:?}", ha.webhook_bodies(WEBHOOK)));
    // No duplicates arrive later either (checked over a window).
    let more = wait_for(
        Duration::from_millis(1500),
        Duration::from_millis(50),
        || (ha.webhook_bodies(WEBHOOK).len() > 6).then_some(()),
    );
    assert!(more.is_none(), "{:?}", ha.webhook_bodies(WEBHOOK));
    assert_eq!(got.len(), 6, "{got:?}");
    for id in [&call1, &call2] {
        let names: Vec<&str> = got
            .iter()
            .filter(|e| &e["call_id"] == id)
            .map(|e| e["event"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(
            names,
            ["incoming_call", "call_established", "call_disconnected"],
            "call {id}"
        );
    }
    assert!(
        wait_for(WAIT, Duration::from_millis(50), || (spooled(&spool) == 0)
            .then_some(()))
        .is_some(),
        "the spool is empty once all is delivered"
    );
}
