//! The real `hasip` binary, started on 127.0.0.1 with a port of its own.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::process::Guard;
use crate::workdir::WorkDir;
use crate::{ports, raw, wait_for};

/// Path of the `hasip` binary built for this test run (`HASIP_BIN` overrides).
///
/// # Panics
/// When the binary has not been built.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("HASIP_BIN") {
        return PathBuf::from(p);
    }
    // Test binaries live in target/<profile>/deps; the gateway in target/<profile>.
    let exe = std::env::current_exe().unwrap_or_default();
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("hasip"))
        .unwrap_or_default();
    assert!(
        bin.is_file(),
        "{} not found: build it first (`cargo build -p hasip`; ./build.sh test does this)",
        bin.display()
    );
    bin
}

/// Whether the gateway reads `name` from its environment (ha-sip's stand-alone variables,
/// the Supervisor's token, `RUST_LOG`, the spool's and the dashboard page's).
pub fn is_gateway_variable(name: &str) -> bool {
    const EXACT: [&str; 9] = [
        "PORT",
        "LOG_LEVEL",
        "NAME_SERVER",
        "CACHE_DIR",
        "GLOBAL_OPTIONS",
        "COMMAND_SOURCE",
        "SUPERVISOR_TOKEN",
        "HASSIO_TOKEN",
        "RUST_LOG",
    ];
    const PREFIXES: [&str; 11] = [
        "SIP1_", "SIP2_", "SIP3_", "TTS_", "HA_", "BROKER_", "MQTT_", "SENSOR_", "WEB_",
        "WEBHOOK_", "INGRESS_",
    ];
    EXACT.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

/// A running gateway, stopped (SIGTERM, then SIGKILL) when dropped.
#[derive(Debug)]
pub struct Gateway {
    /// Its SIP address (UDP and TCP).
    pub sip: SocketAddr,
    process: Guard,
    log: PathBuf,
    stdin: Option<ChildStdin>,
}

impl Gateway {
    /// Starts the gateway with its embedded default configuration on a free port and
    /// waits until it answers OPTIONS.
    pub fn start(dir: &WorkDir) -> Self {
        Self::start_with(dir, None, &[])
    }

    /// Starts the gateway with `options` (written as the options file) and extra flags.
    ///
    /// # Panics
    /// When the gateway does not come up within 10 s; its log is attached to the failure.
    pub fn start_with(dir: &WorkDir, options: Option<&serde_json::Value>, args: &[&str]) -> Self {
        Self::start_env(dir, options, args, &[])
    }

    /// [`Gateway::start_with`], with extra environment variables.
    ///
    /// # Panics
    /// As [`Gateway::start_with`].
    pub fn start_env(
        dir: &WorkDir,
        options: Option<&serde_json::Value>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let mut last_log = PathBuf::new();
        // A port can be taken between our check and the gateway's bind; try again then.
        for attempt in 0..3 {
            let port = ports::free_port();
            let (mut cmd, log) = command(dir, &[], "127.0.0.1", port, options, args);
            let mut child = cmd
                .envs(env.iter().copied())
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", binary().display()));
            dir.attach_log(log.clone());
            let stdin = child.stdin.take();
            let mut gw = Self {
                sip: SocketAddr::from(([127, 0, 0, 1], port)),
                process: Guard::new("hasip", child),
                log: log.clone(),
                stdin,
            };
            let up = wait_for(Duration::from_secs(10), Duration::from_millis(5), || {
                if gw.process.try_status().is_some() {
                    return Some(false);
                }
                let probe = raw::options(gw.sip, "UDP", &format!("ready{attempt}"));
                raw::udp_exchange(gw.sip, &probe, Duration::from_millis(100)).map(|_| true)
            });
            match up {
                Some(true) => return gw,
                Some(false) if gw.log_text().contains("cannot bind") => {
                    last_log = log;
                    continue;
                }
                _ => panic!("gateway did not come up; log: {}", gw.log_text()),
            }
        }
        panic!(
            "gateway could not bind a port; last log {}",
            last_log.display()
        );
    }

    /// Starts the gateway through `wrapper` (`ip netns exec NAME`: in another network
    /// namespace), bound to `bind`, and waits for its "SIP ready" line: the test's own
    /// namespace may have no way to reach it.
    ///
    /// # Panics
    /// When the gateway does not come up within 10 s; its log is attached to the failure.
    pub fn start_in(
        dir: &WorkDir,
        wrapper: &[String],
        bind: std::net::IpAddr,
        options: Option<&serde_json::Value>,
    ) -> Self {
        let port = ports::free_port();
        let (mut cmd, log) = command(dir, wrapper, &bind.to_string(), port, options, &[]);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary().display()));
        dir.attach_log(log.clone());
        let stdin = child.stdin.take();
        let gw = Self {
            sip: SocketAddr::new(bind, port),
            process: Guard::new("hasip", child),
            log,
            stdin,
        };
        assert!(
            gw.wait_log("SIP ready", Duration::from_secs(10)),
            "gateway did not come up; log: {}",
            gw.log_text()
        );
        gw
    }

    /// The gateway's output so far.
    pub fn log_text(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Writes one command line to the gateway's stdin, as the Supervisor does.
    ///
    /// # Panics
    /// When stdin is closed.
    pub fn command(&mut self, json: &str) {
        let stdin = self.stdin.as_mut().expect("gateway stdin");
        stdin.write_all(json.as_bytes()).expect("write command");
        stdin.write_all(b"\n").expect("write newline");
        stdin.flush().expect("flush stdin");
    }

    /// Every event the gateway reported so far, as the JSON bodies it posts.
    pub fn events(&self) -> Vec<Value> {
        self.timed_events().into_iter().map(|(_, e)| e).collect()
    }

    /// Every event so far with the time its log line was written (seconds since midnight
    /// UTC, to the microsecond: the logger's timestamp), which is when it was handed to the
    /// webhook queue.
    pub fn timed_events(&self) -> Vec<(f64, Value)> {
        self.log_text()
            .lines()
            .filter_map(|l| {
                let (_, rest) = l.split_once(" event {")?;
                let json: Value = serde_json::from_str(&format!("{{{rest}")).ok()?;
                // 2026-12-06T20:12:50.146091Z
                let time = l.split_whitespace().next()?.split_once('T')?.1;
                let mut parts = time.trim_end_matches('Z').split(':');
                let h: f64 = parts.next()?.parse().ok()?;
                let m: f64 = parts.next()?.parse().ok()?;
                let s: f64 = parts.next()?.parse().ok()?;
                Some((h * 3600.0 + m * 60.0 + s, json))
            })
            .collect()
    }

    /// Waits until an event named `name` has been reported `n` times in total, and
    /// returns the latest.
    pub fn wait_event_n(&self, name: &str, n: usize, timeout: Duration) -> Option<Value> {
        wait_for(timeout, Duration::from_millis(10), || {
            let matching: Vec<Value> = self
                .events()
                .into_iter()
                .filter(|e| e["event"] == name)
                .collect();
            (matching.len() >= n)
                .then(|| matching.last().cloned())
                .flatten()
        })
    }

    /// Waits until an event named `name` has been reported.
    pub fn wait_event(&self, name: &str, timeout: Duration) -> Option<Value> {
        self.wait_event_n(name, 1, timeout)
    }

    /// Waits until the log has a line containing `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_for(timeout, Duration::from_millis(10), || {
            self.log_text().contains(needle).then_some(())
        })
        .is_some()
    }

    /// Runs `hasip health` against this gateway (its port): the exit code and the line it
    /// printed.
    ///
    /// # Panics
    /// When the binary cannot be run.
    pub fn health(&self, timeout_secs: f64) -> (i32, String) {
        let out = Command::new(binary())
            .args(["health", "--port", &self.sip.port().to_string()])
            .args(["--timeout", &timeout_secs.to_string()])
            .env_remove("RUST_LOG")
            .output()
            .unwrap_or_else(|e| panic!("run hasip health: {e}"));
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        )
    }

    /// The process.
    pub fn process(&mut self) -> &mut Guard {
        &mut self.process
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.process.try_status().is_none()
    }

    /// Stops the gateway (SIGTERM) and returns how it exited.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        self.process.stop(Duration::from_secs(5))
    }
}

/// The gateway's command line (run through `wrapper` when not empty), its working
/// directory, environment and log file.
fn command(
    dir: &WorkDir,
    wrapper: &[String],
    bind: &str,
    port: u16,
    options: Option<&serde_json::Value>,
    args: &[&str],
) -> (Command, PathBuf) {
    let log = dir.file(&format!("hasip-{port}.log"));
    let mut cmd = match wrapper.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(crate::tool(first));
            c.args(rest).arg(binary());
            c
        }
        None => Command::new(binary()),
    };
    cmd.args(["--bind", bind, "--port", &port.to_string()]);
    if let Some(o) = options {
        let path = dir.file(&format!("options-{port}.json"));
        std::fs::write(&path, o.to_string()).unwrap_or_else(|e| panic!("write options: {e}"));
        cmd.arg("--config").arg(&path);
    }
    cmd.args(args);
    let out = std::fs::File::create(&log).unwrap_or_else(|e| panic!("create log: {e}"));
    let err = out.try_clone().unwrap_or_else(|e| panic!("clone log: {e}"));
    // The gateway reads ha-sip's variables and a `.env` in its working directory: a
    // developer's own must not change a test.
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(is_gateway_variable) {
            cmd.env_remove(&name);
        }
    }
    cmd.current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(out)
        .stderr(err);
    (cmd, log)
}
