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

    /// True when sipp received a `code` answer to its (first) INVITE: the call was
    /// answered even if a late provisional made sipp call the scenario failed.
    pub fn got_invite_answer(&self, code: u16) -> bool {
        let status = format!("SIP/2.0 {code} ");
        self.received
            .iter()
            .any(|m| m.starts_with(&status) && m.contains("CSeq: 1 INVITE"))
    }

    /// The first message received that starts with `start` (`"INVITE "`, `"REGISTER "`).
    pub fn first(&self, start: &str) -> Option<&str> {
        self.received
            .iter()
            .find(|m| m.starts_with(start))
            .map(String::as_str)
    }
}

/// Starts sipp as a server (a phone or a registrar) on a free port, waiting up to 20 s.
pub fn serve(dir: &WorkDir, name: &str, scenario: &str) -> SippHandle {
    let opts = SippOptions {
        server: true,
        timeout: Duration::from_secs(20),
        ..SippOptions::default()
    };
    spawn(dir, name, scenario, None, &opts)
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

/// Options of one sipp run.
#[derive(Debug, Clone)]
pub struct SippOptions {
    /// `-t u1` or `-t t1`.
    pub transport: Transport,
    /// Run as a server (`-sf` without a target): waits for calls on `port`.
    pub server: bool,
    /// sipp's SIP port (`-p`); chosen free when `None`.
    pub port: Option<u16>,
    /// Global timeout.
    pub timeout: Duration,
    /// The address sipp sends from and listens on (`-i`, `-mi`); another loopback address
    /// (127.0.0.2, ...) stands for another host.
    pub local_ip: std::net::IpAddr,
    /// The user of the request URI (`-s`).
    pub service: String,
    /// Calls to make (`-m`), one at a time (`-l 1`).
    pub calls: u32,
}

impl Default for SippOptions {
    fn default() -> Self {
        Self {
            transport: Transport::Udp,
            server: false,
            port: None,
            timeout: Duration::from_secs(10),
            local_ip: std::net::IpAddr::from([127, 0, 0, 1]),
            service: "hasip".into(),
            calls: 1,
        }
    }
}

/// A sipp process running in the background.
#[derive(Debug)]
pub struct SippHandle {
    /// Its SIP port.
    pub port: u16,
    guard: Guard,
    messages: PathBuf,
    timeout: Duration,
}

impl SippHandle {
    /// Waits for sipp to end (at most its timeout plus 5 s) and reads what it received.
    pub fn finish(mut self) -> SippRun {
        let status = self
            .guard
            .wait_exit(self.timeout + Duration::from_secs(5))
            .or_else(|| self.guard.stop(Duration::from_secs(2)));
        let log = std::fs::read(&self.messages)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        SippRun {
            status,
            received: received_messages(&log),
        }
    }

    /// The messages received so far.
    pub fn received_so_far(&self) -> Vec<String> {
        let log = std::fs::read(&self.messages)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        received_messages(&log)
    }
}

/// Starts sipp with `scenario` in the background. `target` is where a client sends.
///
/// # Panics
/// When sipp cannot be started.
pub fn spawn(
    dir: &WorkDir,
    name: &str,
    scenario: &str,
    target: Option<SocketAddr>,
    opts: &SippOptions,
) -> SippHandle {
    let scen = dir.file(&format!("{name}.xml"));
    std::fs::write(&scen, scenario).unwrap_or_else(|e| panic!("write scenario: {e}"));
    let messages = dir.file(&format!("{name}.messages.log"));
    let errors = dir.file(&format!("{name}.errors.log"));
    let out = dir.file(&format!("{name}.sipp.out"));
    let port = opts.port.unwrap_or_else(ports::free_port);
    let media = ports::free_ports(4);
    let ctrl = ports::free_port();
    let secs = opts.timeout.as_secs().max(1);
    let mut cmd = Command::new(crate::tool("sipp"));
    if let Some(t) = target {
        cmd.arg(t.to_string());
    }
    cmd.arg("-sf")
        .arg(&scen)
        .args([
            "-t",
            if opts.transport == Transport::Udp {
                "u1"
            } else {
                "t1"
            },
        ])
        .args([
            "-i",
            &opts.local_ip.to_string(),
            "-mi",
            &opts.local_ip.to_string(),
        ])
        .args([
            "-p",
            &port.to_string(),
            "-mp",
            &media.to_string(),
            "-cp",
            &ctrl.to_string(),
        ])
        .args([
            "-s",
            &opts.service,
            "-m",
            &opts.calls.to_string(),
            "-l",
            "1",
            "-nostdin",
        ])
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
    let handle = SippHandle {
        port,
        guard: Guard::new("sipp", child),
        messages,
        timeout: opts.timeout,
    };
    if opts.server {
        // A server is ready when its SIP port is bound.
        let bound = crate::wait_for(Duration::from_secs(5), Duration::from_millis(10), || {
            let free = std::net::UdpSocket::bind((opts.local_ip, port)).is_ok();
            (!free).then_some(())
        });
        assert!(bound.is_some(), "sipp {name} did not bind port {port}");
    }
    handle
}

/// Runs `scenario` once against `target` and waits (at most `timeout`) for sipp to end.
pub fn run(
    dir: &WorkDir,
    name: &str,
    scenario: &str,
    target: SocketAddr,
    transport: Transport,
    timeout: Duration,
) -> SippRun {
    let opts = SippOptions {
        transport,
        timeout,
        ..SippOptions::default()
    };
    spawn(dir, name, scenario, Some(target), &opts).finish()
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
