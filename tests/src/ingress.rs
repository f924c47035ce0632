//! The ingress stand-in (`tests/peers/supervisor/ingress.py`): Home Assistant's and the
//! Supervisor's ingress proxies as one hop, between a browser and the add-on's page.

use std::fs::File;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::process::Guard;
use crate::workdir::WorkDir;
use crate::{ports, wait_for, workspace_root};

/// The stand-in, stopped when dropped.
#[derive(Debug)]
pub struct Ingress {
    /// Where the browser goes: `http://127.0.0.1:PORT/api/hassio_ingress/TOKEN/`.
    pub url: String,
    /// The path prefix the add-on is told in `X-Ingress-Path`.
    pub prefix: String,
    log: PathBuf,
    _process: Guard,
}

impl Ingress {
    /// Starts it in front of the add-on's page at `addon`, reaching it from `source` (the
    /// peer the add-on serves), and waits until it answers.
    ///
    /// # Panics
    /// When it does not come up within 10 s.
    pub fn start(dir: &WorkDir, addon: SocketAddr, source: IpAddr) -> Self {
        let listen = SocketAddr::from(([127, 0, 0, 1], ports::free_port()));
        let token = format!("Ing_{}-x", std::process::id());
        let log = dir.file("ingress-requests.jsonl");
        let out = File::create(dir.file("ingress.log")).unwrap_or_else(|e| panic!("{e}"));
        let child = Command::new("python3")
            .arg(workspace_root().join("tests/peers/supervisor/ingress.py"))
            .args(["--listen", &listen.to_string(), "--token", &token])
            .args([
                "--addon",
                &addon.to_string(),
                "--source",
                &source.to_string(),
            ])
            .arg("--log")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("start the ingress stand-in: {e}"));
        dir.attach_log(dir.file("ingress.log"));
        dir.attach_log(log.clone());
        let mut process = Guard::new("ingress.py", child);
        let up = wait_for(Duration::from_secs(10), Duration::from_millis(50), || {
            std::net::TcpStream::connect_timeout(&listen, Duration::from_millis(200)).ok()
        });
        assert!(
            up.is_some() && process.try_status().is_none(),
            "the ingress stand-in did not start on {listen}"
        );
        let prefix = format!("/api/hassio_ingress/{token}");
        Self {
            url: format!("http://{listen}{prefix}/"),
            prefix,
            log,
            _process: process,
        }
    }

    /// Every request it forwarded: method, path, status and whether it was streamed.
    pub fn requests(&self) -> Vec<Value> {
        crate::read_json_lines(&self.log)
    }
}
