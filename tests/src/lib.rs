//! The test harness of ha-sip-rs: start the real `hasip` binary and real peers on
//! 127.0.0.1 with ports chosen per test (so tests run in parallel), stop every process by
//! its own pid even when a test fails, wait on events with deadlines, and attach peer logs
//! to a failing test's output.
#![forbid(unsafe_code)]
#![allow(clippy::print_stderr)] // a failing test's logs go to its (captured) stderr

pub mod audio;
pub mod baresip;
pub mod certs;
pub mod container;
pub mod coturn;
pub mod dnsmasq;
pub mod gateway;
pub mod ha;
pub mod ingress;
pub mod kamailio;
pub mod mosquitto;
pub mod netns;
pub mod node;
pub mod pcap;
pub mod ports;
pub mod process;
pub mod raw;
pub mod sipp;
pub mod workdir;

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

/// The JSON lines of `path` (a stand-in's request log), skipping any that do not parse
/// (the last one while it is being written); none when the file is not there yet.
pub fn read_json_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Polls `cond` every `step` until it returns `Some` or `timeout` passes.
///
/// This is the only way tests wait: on a condition, with a deadline; never a bare sleep.
pub fn wait_for<T>(
    timeout: Duration,
    step: Duration,
    mut cond: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = cond() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(step);
    }
}

/// Where `program` is: on PATH, else in the system directories a user's PATH often lacks
/// (Debian puts kamailio, mosquitto and dnsmasq in /usr/sbin, which is not on a normal
/// user's PATH). `None` when it is not installed.
pub fn find_tool(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// `program`'s path for `Command::new` ([`find_tool`]; the bare name when it is not found,
/// so that the error names it).
pub fn tool(program: &str) -> PathBuf {
    find_tool(program).unwrap_or_else(|| PathBuf::from(program))
}

/// True when `program` can be run ([`find_tool`]).
pub fn have(program: &str) -> bool {
    find_tool(program).is_some()
}
