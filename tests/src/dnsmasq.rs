//! dnsmasq (Debian package `dnsmasq-base`) as the DNS server a provider's SRV records come
//! from: one instance per test on a free loopback port, answering only the records the
//! test gives it.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::Guard;
use crate::workdir::WorkDir;
use crate::{ports, wait_for};

/// A running dnsmasq, stopped when dropped.
#[derive(Debug)]
pub struct Dnsmasq {
    /// Its port on 127.0.0.1 (UDP).
    pub port: u16,
    log: PathBuf,
    _process: Guard,
}

impl Dnsmasq {
    /// Starts dnsmasq with these `--srv-host` and `--host-record` values.
    ///
    /// # Panics
    /// When dnsmasq is not installed or does not start within 10 s.
    pub fn start(dir: &WorkDir, srv_hosts: &[String], host_records: &[String]) -> Self {
        let port = ports::free_port();
        let log = dir.file(&format!("dnsmasq-{port}.log"));
        let me = Command::new("id")
            .arg("-un")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(|e| panic!("run id -un: {e}"));
        let mut cmd = Command::new(crate::tool("dnsmasq"));
        cmd.args([
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--conf-file=/dev/null",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            "--log-queries",
            "--pid-file=",
        ])
        .arg(format!("--port={port}"))
        .arg(format!("--user={me}"))
        .arg(format!("--log-facility={}", log.display()));
        for s in srv_hosts {
            cmd.arg(format!("--srv-host={s}"));
        }
        for h in host_records {
            cmd.arg(format!("--host-record={h}"));
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("start dnsmasq (is it installed? ./build.sh test installs it): {e}")
            });
        dir.attach_log(log.clone());
        let d = Self {
            port,
            log,
            _process: Guard::new("dnsmasq", child),
        };
        let up = wait_for(Duration::from_secs(10), Duration::from_millis(10), || {
            d.log_text().contains("started, version").then_some(())
        });
        assert!(up.is_some(), "dnsmasq did not start:\n{}", d.log_text());
        d
    }

    /// Its log (with `--log-queries`: one line per query).
    pub fn log_text(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}
