//! kamailio (Debian package `kamailio`) as the registrar and proxy users' providers run:
//! digest authentication on REGISTER (401) and on INVITEs from known users (407), and
//! routing by user name through its location table. One instance per test, on a free port.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::Guard;
use crate::workdir::WorkDir;
use crate::{ports, raw, wait_for, workspace_root};

/// Users known to the registrar: (name, password).
pub const USERS: &[(&str, &str)] = &[
    ("hasip", "secret"),
    ("alice", "alice"),
    ("bob", "bob"),
    ("carol", "carol"),
];

/// The digest realm.
pub const REALM: &str = "test.local";

/// A running kamailio, stopped when dropped.
#[derive(Debug)]
pub struct Kamailio {
    /// Its SIP address (UDP and TCP).
    pub sip: SocketAddr,
    /// Its TLS address, when started with [`KamailioOptions::tls`].
    pub tls: Option<SocketAddr>,
    /// The CA that signed its TLS certificate (with [`KamailioOptions::tls`]).
    pub ca_file: Option<PathBuf>,
    log: PathBuf,
    _process: Guard,
}

/// Options.
#[derive(Debug, Clone, Copy)]
pub struct KamailioOptions {
    /// Challenge INVITEs from known users with 407.
    pub invite_auth: bool,
    /// Also listen on TLS, with a certificate for 127.0.0.1 from a throwaway CA.
    pub tls: bool,
    /// The address it listens on (127.0.0.1; a WAN address in the NAT tests).
    pub address: std::net::Ipv4Addr,
}

impl Default for KamailioOptions {
    fn default() -> Self {
        Self {
            invite_auth: true,
            tls: false,
            address: std::net::Ipv4Addr::LOCALHOST,
        }
    }
}

impl Kamailio {
    /// Starts kamailio and waits until it answers OPTIONS.
    ///
    /// # Panics
    /// When kamailio is not installed or does not come up within 10 s.
    pub fn start(dir: &WorkDir, opts: KamailioOptions) -> Self {
        let port = ports::free_port();
        let tls_port = if opts.tls { ports::free_port() } else { 0 };
        let run = dir.file(&format!("kamailio-{port}"));
        std::fs::create_dir_all(&run).unwrap_or_else(|e| panic!("create {}: {e}", run.display()));
        let template =
            std::fs::read_to_string(workspace_root().join("tests/peers/kamailio.cfg.in"))
                .unwrap_or_else(|e| panic!("read kamailio.cfg.in: {e}"));
        let users: String = USERS
            .iter()
            .map(|(u, p)| format!("\t$sht(users=>{u}) = \"{p}\";\n"))
            .collect();
        let cfg = template
            .replace("@RUNDIR@", &run.to_string_lossy())
            .replace("@ADDRESS@", &opts.address.to_string())
            .replace("@PORT@", &port.to_string())
            .replace("@TLS_PORT@", &tls_port.to_string())
            .replace("@REALM@", REALM)
            .replace("@USERS@", users.trim_end());
        let cfg_path = run.join("kamailio.cfg");
        std::fs::write(&cfg_path, cfg).unwrap_or_else(|e| panic!("write kamailio.cfg: {e}"));
        let log = run.join("kamailio.log");
        let out = std::fs::File::create(&log).unwrap_or_else(|e| panic!("create log: {e}"));
        let err = out.try_clone().unwrap_or_else(|e| panic!("clone: {e}"));
        let mut cmd = Command::new(crate::tool("kamailio"));
        cmd.args(["-DD", "-E", "-f"])
            .arg(&cfg_path)
            .args(["-m", "64", "-M", "8", "-w"])
            .arg(&run);
        cmd.args(["-A", "WITH_QOP"]);
        if opts.invite_auth {
            cmd.args(["-A", "WITH_INVITE_AUTH"]);
        }
        if opts.tls {
            crate::certs::make(&run);
            std::fs::write(
                run.join("tls.cfg"),
                format!(
                    "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n\
                     private_key = {0}/server.key\ncertificate = {0}/server.crt\n\n\
                     [client:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n",
                    run.display()
                ),
            )
            .unwrap_or_else(|e| panic!("write tls.cfg: {e}"));
            cmd.args(["-A", "WITH_TLS"]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("start kamailio (is it installed? ./build.sh test installs it): {e}")
            });
        dir.attach_log(log.clone());
        let mut k = Self {
            sip: SocketAddr::from((opts.address, port)),
            tls: opts
                .tls
                .then(|| SocketAddr::from(([127, 0, 0, 1], tls_port))),
            ca_file: opts.tls.then(|| run.join("ca.crt")),
            log,
            _process: Guard::new("kamailio", child),
        };
        let probe = format!(
            "OPTIONS sip:{addr}:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{{port}};branch=z9hG4bK-kp;rport\r\n\
From: <sip:probe@127.0.0.1>;tag=kp\r\nTo: <sip:{addr}:{port}>\r\nCall-ID: kamailio-probe\r\nCSeq: 1 OPTIONS\r\n\
Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            addr = opts.address
        );
        let up = wait_for(Duration::from_secs(10), Duration::from_millis(20), || {
            if k._process.try_status().is_some() {
                return Some(false);
            }
            raw::udp_exchange(k.sip, &probe, Duration::from_millis(100)).map(|_| true)
        });
        assert_eq!(up, Some(true), "kamailio did not start:\n{}", k.log_text());
        k
    }

    /// kamailio's log: one readable line per event (`REGISTERED hasip contact=…`,
    /// `AUTH OK user 'hasip' for INVITE`, `ROUTE INVITE hasip -> alice at …`).
    pub fn log_text(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Waits until the log has a line containing `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_for(timeout, Duration::from_millis(20), || {
            self.log_text().contains(needle).then_some(())
        })
        .is_some()
    }

    /// How many log lines contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.log_text()
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    }
}
