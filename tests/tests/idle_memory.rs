//! An idle gateway gives back the resident pages of its own code: three seconds after
//! start, and ten seconds after the last call ends; a call in between runs that code
//! again (it comes back from the page cache). `bench/idle.sh` measures what this saves.

use std::time::{Duration, Instant};

use hasip_tests::gateway::Gateway;
use hasip_tests::sipp::{self, SippOptions};
use hasip_tests::workdir::WorkDir;
use hasip_tests::{have, wait_for};
use serde_json::json;

const GAVE_BACK: &str = "gave back the resident pages of the program's code";

/// Resident KiB of the executable's code (its `r-xp` mappings) in process `pid`.
fn resident_code_kib(pid: u32) -> u64 {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("/proc/PID/exe");
    let exe = exe.to_string_lossy();
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).expect("smaps");
    let mut mine = false;
    let mut kib = 0;
    for line in smaps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.first().is_some_and(|f| f.contains('-')) && fields.len() >= 5 {
            mine = fields.get(1) == Some(&"r-xp") && fields.get(5) == Some(&exe.as_ref());
        } else if mine && fields.first() == Some(&"Rss:") {
            kib += fields
                .get(1)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    kib
}

fn times_given_back(gw: &Gateway) -> usize {
    gw.log_text().matches(GAVE_BACK).count()
}

#[test]
fn an_idle_gateway_gives_back_its_code_pages_and_still_answers_calls() {
    assert!(have("sipp"), "sipp is needed: run ./build.sh test");
    let dir = WorkDir::new("idle-memory");
    let options = json!({
        "sip_global": {"log_level": 5},
        "sip": {"enabled": true, "registrar_uri": "", "id_uri": "sip:door@127.0.0.1",
                "answer_mode": "accept", "settle_time": 0},
    });
    let started = Instant::now();
    let mut gw = Gateway::start_with(&dir, Some(&options), &[]);
    let pid = gw.process().pid();
    let before = resident_code_kib(pid);
    assert_eq!(
        times_given_back(&gw),
        0,
        "given back before start-up was measured"
    );
    assert!(
        wait_for(Duration::from_secs(10), Duration::from_millis(20), || {
            (times_given_back(&gw) == 1).then_some(())
        })
        .is_some(),
        "{}",
        gw.log_text()
    );
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "given back before start-up was over"
    );
    let after = resident_code_kib(pid);
    assert!(
        after * 2 < before,
        "resident code {before} KiB -> {after} KiB"
    );

    // A call runs the code again, from the page cache.
    let run = sipp::spawn(
        &dir,
        "call",
        include_str!("../sipp/uac_call.xml"),
        Some(gw.sip),
        &SippOptions {
            service: "door".into(),
            ..SippOptions::default()
        },
    )
    .finish();
    assert!(run.passed(), "sipp: {:?}", run.received);
    gw.wait_event("call_disconnected", Duration::from_secs(5))
        .expect("call_disconnected");
    let ended = Instant::now();
    assert!(resident_code_kib(pid) > after, "the call ran no code?");
    // Ten seconds after the call, the pages go back again.
    assert!(
        wait_for(Duration::from_secs(20), Duration::from_millis(50), || {
            (times_given_back(&gw) == 2).then_some(())
        })
        .is_some(),
        "{}",
        gw.log_text()
    );
    assert!(
        ended.elapsed() >= Duration::from_secs(9),
        "given back {:?} after the call",
        ended.elapsed()
    );
    assert!(gw.is_running());
}
