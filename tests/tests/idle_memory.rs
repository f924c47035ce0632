//! An idle gateway gives back the resident pages of its own code and its allocator's free
//! memory: three seconds after start, ten seconds after the last call ends, and once a busy
//! spell (here a storm of TCP connections) has calmed down; a call in between runs that code
//! again (it comes back from the page cache). `bench/idle.sh` measures what this saves.

#![allow(clippy::print_stderr)] // the figures go to the test's stderr

use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use hasip_tests::gateway::Gateway;
use hasip_tests::raw;
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

/// Resident KiB of process `pid`'s anonymous memory (its heaps and stacks).
fn resident_anon_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("RssAnon")
}

fn times_given_back(gw: &Gateway) -> usize {
    gw.log_text().matches(GAVE_BACK).count()
}

/// Waits until memory has gone back `n` times in all; panics with the log, saying `what`,
/// when it has not within `within`.
fn wait_given_back(gw: &Gateway, n: usize, within: Duration, what: &str) {
    assert!(
        wait_for(within, Duration::from_millis(20), || {
            (times_given_back(gw) == n).then_some(())
        })
        .is_some(),
        "{what}: {}",
        gw.log_text()
    );
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
    wait_given_back(&gw, 1, Duration::from_secs(10), "no give-back after start");
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
    wait_given_back(
        &gw,
        2,
        Duration::from_secs(20),
        "no give-back after the call",
    );
    assert!(
        ended.elapsed() >= Duration::from_secs(9),
        "given back {:?} after the call",
        ended.elapsed()
    );
    assert!(gw.is_running());
}

#[test]
fn after_a_storm_of_connections_the_heap_goes_back() {
    let dir = WorkDir::new("idle-memory-storm");
    let options = json!({
        "sip_global": {"log_level": 5},
        "sip": {"enabled": true, "registrar_uri": "", "id_uri": "sip:door@127.0.0.1",
                "answer_mode": "listen", "settle_time": 0},
    });
    let mut gw = Gateway::start_with(&dir, Some(&options), &[]);
    let pid = gw.process().pid();
    wait_given_back(&gw, 1, Duration::from_secs(10), "no give-back after start");
    let before = resident_anon_kib(pid);

    // 1,200 silent connections from 40 hosts (30 each, under the per-host cap), held open
    // (the gateway keeps 500, closing the oldest silent ones), then closed: 1,700 inputs
    // (each accept, each close the gateway did not make), more than a busy spell's 1,000.
    let mut open: Vec<TcpStream> = Vec::new();
    for i in 0..1_200 {
        let host = IpAddr::V4(Ipv4Addr::new(127, 0, 3, 1 + (i % 40) as u8));
        if let Ok(s) = raw::tcp_connect_from(host, gw.sip, Duration::from_secs(2)) {
            open.push(s);
        }
    }
    assert!(open.len() >= 1_150, "only {} connections made", open.len());
    let peak = resident_anon_kib(pid);
    assert_eq!(
        times_given_back(&gw),
        1,
        "given back in the middle of the storm"
    );
    drop(open);
    let calm_from = Instant::now();
    wait_given_back(
        &gw,
        2,
        Duration::from_secs(40),
        "no give-back after the storm",
    );
    let waited = calm_from.elapsed();
    let after = resident_anon_kib(pid);
    eprintln!(
        "anonymous memory: {before} KiB idle, {peak} KiB with the connections, \
         {after} KiB given back {waited:?} after they closed"
    );
    assert!(
        peak >= before + 2 * 1024,
        "the storm should have grown the heap: {before} -> {peak} KiB"
    );
    assert!(
        after <= before + 1024,
        "not given back: {before} KiB idle, {peak} KiB in the storm, {after} KiB after"
    );
    assert!(gw.is_running());
}
