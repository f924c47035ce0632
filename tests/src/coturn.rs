//! coturn (Debian package `coturn`) as the STUN server: `turnserver --stun-only` on a free
//! loopback port, one instance per test, its database and log in the test's directory.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::Guard;
use crate::workdir::WorkDir;
use crate::{ports, wait_for};

/// A running STUN server, stopped when dropped.
#[derive(Debug)]
pub struct Coturn {
    /// Its port on 127.0.0.1 (UDP).
    pub port: u16,
    log: PathBuf,
    _process: Guard,
}

impl Coturn {
    /// Starts `turnserver` answering STUN binding requests only.
    ///
    /// # Panics
    /// When coturn is not installed or does not listen within 10 s.
    pub fn start(dir: &WorkDir) -> Self {
        let port = ports::free_port();
        let log = dir.file(&format!("coturn-{port}.log"));
        let out = std::fs::File::create(&log).unwrap_or_else(|e| panic!("create log: {e}"));
        let err = out.try_clone().unwrap_or_else(|e| panic!("clone log: {e}"));
        let child = Command::new(crate::tool("turnserver"))
            .args([
                // No /etc/turnserver.conf: it may send the log to syslog.
                "-n",
                "--stun-only",
                "--listening-ip=127.0.0.1",
                "--no-tls",
                "--no-dtls",
                "--no-cli",
                "--verbose",
                // A file name makes coturn add a date to it; stdout goes where we say.
                "--log-file=stdout",
            ])
            .arg(format!("--listening-port={port}"))
            .arg(format!("--userdb={}", dir.file("turndb").display()))
            .arg(format!(
                "--pidfile={}",
                dir.file("turnserver.pid").display()
            ))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("start turnserver (is coturn installed? ./build.sh test installs it): {e}")
            });
        dir.attach_log(log.clone());
        let c = Self {
            port,
            log,
            _process: Guard::new("turnserver", child),
        };
        let up = wait_for(Duration::from_secs(10), Duration::from_millis(10), || {
            c.log_text().contains("UDP listener opened").then_some(())
        });
        assert!(up.is_some(), "turnserver did not start:\n{}", c.log_text());
        c
    }

    /// Its log.
    pub fn log_text(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}
