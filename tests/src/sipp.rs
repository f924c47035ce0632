//! sipp (Debian package `sip-tester`) as a scripted SIP peer: scenarios are written per
//! test, run with ports of their own, and their message logs read back for assertions.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::ports;
use crate::process::Guard;
use crate::workdir::WorkDir;

/// The outcome of a finished sipp run.
#[derive(Debug)]
pub struct SippRun {
    /// sipp's exit status: success means every call followed the scenario.
    pub status: Option<ExitStatus>,
    /// Every message sipp received, in order.
    pub received: Vec<String>,
}

impl SippRun {
    /// True when sipp exited with 0.
    pub fn passed(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
}

/// A scenario that sends `request` (sipp keywords such as `[service]`, `[branch]` allowed)
/// and expects a final response `expect`, acknowledging it when the request is an INVITE.
pub fn request_scenario(request: &str, expect: u16) -> String {
    let body: String = request
        .lines()
        .map(|l| format!("      {}\n", l.trim_start()))
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="request-{expect}">
  <send retrans="500">
    <![CDATA[
{body}
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="{expect}"/>
</scenario>
"#
    )
}

/// Transport for sipp's `-t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `-t u1`.
    Udp,
    /// `-t t1`.
    Tcp,
}

/// Runs `scenario` once against `target` and waits (at most `timeout`) for sipp to end.
///
/// # Panics
/// When sipp cannot be started.
pub fn run(
    dir: &WorkDir,
    name: &str,
    scenario: &str,
    target: SocketAddr,
    transport: Transport,
    timeout: Duration,
) -> SippRun {
    let scen = dir.file(&format!("{name}.xml"));
    std::fs::write(&scen, scenario).unwrap_or_else(|e| panic!("write scenario: {e}"));
    let messages = dir.file(&format!("{name}.messages.log"));
    let errors = dir.file(&format!("{name}.errors.log"));
    let out = dir.file(&format!("{name}.sipp.out"));
    let port = ports::free_port();
    let media = ports::free_ports(4);
    let ctrl = ports::free_port();
    let secs = timeout.as_secs().max(1);
    let mut cmd = Command::new("sipp");
    cmd.arg(target.to_string())
        .arg("-sf")
        .arg(&scen)
        .args([
            "-t",
            if transport == Transport::Udp {
                "u1"
            } else {
                "t1"
            },
        ])
        .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
        .args([
            "-p",
            &port.to_string(),
            "-mp",
            &media.to_string(),
            "-cp",
            &ctrl.to_string(),
        ])
        .args(["-s", "hasip", "-m", "1", "-l", "1", "-nostdin"])
        .args([
            "-timeout",
            &format!("{secs}s"),
            "-timeout_error",
            "-max_recv_loops",
            "1000",
        ])
        .arg("-trace_msg")
        .arg("-message_file")
        .arg(&messages)
        .arg("-trace_err")
        .arg("-error_file")
        .arg(&errors)
        .current_dir(dir.path());
    let outf =
        std::fs::File::create(&out).unwrap_or_else(|e| panic!("create {}: {e}", out.display()));
    let errf = outf.try_clone().unwrap_or_else(|e| panic!("clone: {e}"));
    let child = cmd
        .stdin(Stdio::null())
        .stdout(outf)
        .stderr(errf)
        .spawn()
        .unwrap_or_else(|e| panic!("start sipp (is sip-tester installed?): {e}"));
    for log in [&messages, &errors, &out] {
        dir.attach_log(PathBuf::from(log));
    }
    let mut guard = Guard::new("sipp", child);
    let status = guard
        .wait_exit(timeout + Duration::from_secs(5))
        .or_else(|| guard.stop(Duration::from_secs(2)));
    let log = std::fs::read(&messages)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    SippRun {
        status,
        received: received_messages(&log),
    }
}

/// Extracts the messages sipp logged as received.
pub fn received_messages(log: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in log.lines() {
        if line.starts_with("----------") {
            if let Some(m) = current.take() {
                out.push(m.trim().to_owned());
            }
            continue;
        }
        if line.contains("message received") {
            current = Some(String::new());
            continue;
        }
        if let Some(m) = current.as_mut() {
            m.push_str(line.trim_end_matches('\r'));
            m.push_str("\r\n");
        }
    }
    if let Some(m) = current {
        out.push(m.trim().to_owned());
    }
    out
}
