//! The gateway's image, run with podman as the Supervisor and docker compose run it.
//!
//! The image is the one `./build.sh image` makes (addon/image.Containerfile on the Debian
//! base mmdebstrap builds, since no registry can be reached here), built once per test
//! binary from the debug `hasip` the black-box tests run, under a file lock so parallel
//! tests build it once. podman runs with runc and no default ulimits
//! (`target/container/containers.conf`): the default runtime, crun, cannot set rlimits on
//! this machine's hybrid cgroups.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::process::Guard;
use crate::workdir::WorkDir;
use crate::{gateway, wait_for, workspace_root};

/// Where the harness keeps its containers.conf and lock.
fn state_dir() -> PathBuf {
    let dir = gateway::binary().parent().map_or_else(
        || std::env::temp_dir().join("hasip-container"),
        |p| p.join("container"),
    );
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// The containers.conf every podman command here uses.
pub fn containers_conf() -> PathBuf {
    static CONF: OnceLock<PathBuf> = OnceLock::new();
    CONF.get_or_init(|| {
        let path = state_dir().join("containers.conf");
        std::fs::write(
            &path,
            "[containers]\ndefault_ulimits = []\n[engine]\nruntime = \"runc\"\n",
        )
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    })
    .clone()
}

/// `podman` with this harness's configuration.
pub fn podman() -> Command {
    let mut c = Command::new("podman");
    c.env("CONTAINERS_CONF", containers_conf());
    c
}

/// Runs podman with `args` and returns its stdout.
///
/// # Panics
/// When podman fails.
pub fn podman_ok(args: &[&str]) -> String {
    let out = podman()
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("podman {args:?}: {e}"));
    assert!(
        out.status.success(),
        "podman {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The test image: `./build.sh image` on the debug binary, tagged by the binary's size and
/// modification time, built once per machine and binary.
///
/// # Panics
/// When the build fails; its output is in the message.
pub fn test_image() -> String {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let bin = gateway::binary();
            let meta = std::fs::metadata(&bin).unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            let tag = format!("localhost/hasip-test:{:x}-{mtime:x}", meta.len());
            let lock = File::create(state_dir().join("image.lock"))
                .unwrap_or_else(|e| panic!("create image lock: {e}"));
            lock.lock().unwrap_or_else(|e| panic!("lock: {e}"));
            let exists = podman()
                .args(["image", "exists", &tag])
                .status()
                .is_ok_and(|s| s.success());
            if !exists {
                let t0 = Instant::now();
                let out = Command::new(workspace_root().join("build.sh"))
                    .arg("image")
                    .arg(&bin)
                    .env("HASIP_IMAGE", &tag)
                    .env("CONTAINERS_CONF", containers_conf())
                    .current_dir(workspace_root())
                    .output()
                    .unwrap_or_else(|e| panic!("./build.sh image: {e}"));
                assert!(
                    out.status.success(),
                    "./build.sh image {}: {}\n{}\n{}",
                    bin.display(),
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                eprintln!(
                    "container: {tag} built in {:.1} s",
                    t0.elapsed().as_secs_f32()
                );
            }
            tag
        })
        .clone()
}

/// A container started by `podman run` in the foreground (its output in a log file, its
/// stdin a pipe, as the Supervisor attaches it); removed when dropped.
#[derive(Debug)]
pub struct Container {
    /// Its name.
    pub name: String,
    process: Guard,
    stdin: Option<ChildStdin>,
    log: PathBuf,
}

impl Container {
    /// `podman run -i --rm --name NAME --health-interval disable ARGS...`: `args` are the
    /// options, then the image and its command if any. The log is attached to `dir`.
    ///
    /// # Panics
    /// When podman cannot be started.
    pub fn run(dir: &WorkDir, name: &str, args: &[String]) -> Self {
        let name = format!("hasip-{name}-{}", std::process::id());
        // A container of the same name left by a killed test run.
        let _ = podman()
            .args(["rm", "-f", &name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let log = dir.file(&format!("{name}.log"));
        let out = File::create(&log).unwrap_or_else(|e| panic!("create log: {e}"));
        let err = out.try_clone().unwrap_or_else(|e| panic!("clone log: {e}"));
        let mut child: Child = podman()
            .args(["run", "-i", "--rm", "--name", &name])
            // Without systemd, podman's health timers only log errors: checks run on demand.
            .args(["--health-interval", "disable"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("podman run: {e}"));
        dir.attach_log(log.clone());
        let stdin = child.stdin.take();
        Self {
            name,
            process: Guard::new("podman run", child),
            stdin,
            log,
        }
    }

    /// The container's output so far.
    pub fn log_text(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The events the gateway in it logged, as their JSON bodies.
    pub fn events(&self) -> Vec<Value> {
        self.log_text()
            .lines()
            .filter_map(|l| l.split_once(" event {").map(|(_, r)| format!("{{{r}")))
            .filter_map(|j| serde_json::from_str(&j).ok())
            .collect()
    }

    /// Waits until the log has a line containing `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_for(timeout, Duration::from_millis(20), || {
            self.log_text().contains(needle).then_some(())
        })
        .is_some()
    }

    /// Writes one line to the container's stdin, as `hassio.addon_stdin` does.
    ///
    /// # Panics
    /// When stdin is closed.
    pub fn stdin_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("container stdin");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .expect("write to the container's stdin");
    }

    /// `podman healthcheck run`: the image's HEALTHCHECK, as Docker runs it.
    pub fn healthcheck(&self) -> (bool, String) {
        let out = podman()
            .args(["healthcheck", "run", &self.name])
            .output()
            .unwrap_or_else(|e| panic!("podman healthcheck run: {e}"));
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        )
    }

    /// `podman exec NAME ARGS...`: exit status and output.
    pub fn exec(&self, args: &[&str]) -> (i32, String) {
        let out = podman()
            .arg("exec")
            .arg(&self.name)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("podman exec: {e}"));
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// `podman stop -t TIMEOUT` (SIGTERM, SIGKILL after the timeout, as the Supervisor
    /// stops an add-on): how long it took and how `podman run` exited.
    pub fn stop(&mut self, timeout: Duration) -> (Duration, Option<ExitStatus>) {
        let t0 = Instant::now();
        let _ = podman()
            .args(["stop", "-t", &timeout.as_secs().to_string(), &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let took = t0.elapsed();
        (took, self.process.wait_exit(Duration::from_secs(10)))
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman()
            .args(["rm", "-f", "-t", "2", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A loopback address of its own for each call (127.x.y.z, never 127.0.0.1), for a server
/// that must sit on a fixed port, such as the Supervisor stand-in on port 80: the process
/// id tells test processes apart, a counter the tests of one process.
pub fn own_loopback() -> std::net::Ipv4Addr {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let n = std::process::id();
    std::net::Ipv4Addr::new(
        127,
        (77 + k % 100) as u8,
        ((n >> 8) & 0xff) as u8,
        (n & 0xff).max(2) as u8,
    )
}

/// The Supervisor stand-in (`tests/peers/supervisor/supervisor.py`), stopped when dropped.
#[derive(Debug)]
pub struct Supervisor {
    /// Where it listens (port 80, as `http://supervisor`).
    pub ip: std::net::Ipv4Addr,
    /// The add-on's token it accepts.
    pub token: String,
    log: PathBuf,
    process: Guard,
}

/// What the stand-in serves.
#[derive(Debug, Clone, Default)]
pub struct SupervisorOptions {
    /// Home Assistant's port and token.
    pub ha: Option<(u16, String)>,
    /// The port `/core/info` gives for Core (default: Home Assistant's).
    pub core_port: Option<u16>,
    /// The broker `/services/mqtt` gives: port, user and password.
    pub mqtt: Option<(u16, Option<(String, String)>)>,
    /// Answer proxied webhooks with 200 and drop them (Home Assistant ≥ 2026.5 with a
    /// `local_only` trigger).
    pub drop_proxied_webhooks: bool,
}

impl Supervisor {
    /// Starts it on [`own_loopback`]:80 and waits until it answers.
    ///
    /// # Panics
    /// When it does not come up within 10 s.
    pub fn start(dir: &WorkDir, opts: &SupervisorOptions) -> Self {
        let ip = own_loopback();
        let token = format!("addon-token-{}", std::process::id());
        let log = dir.file("supervisor-requests.jsonl");
        let out = File::create(dir.file("supervisor.log")).unwrap_or_else(|e| panic!("{e}"));
        let err = out.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let (ha_port, ha_token) = opts.ha.clone().unwrap_or((9, "none".into()));
        let mut cmd = Command::new("python3");
        cmd.arg(workspace_root().join("tests/peers/supervisor/supervisor.py"))
            .args(["--listen", &format!("{ip}:80"), "--token", &token])
            .args(["--ha-port", &ha_port.to_string(), "--ha-token", &ha_token])
            .arg("--log")
            .arg(&log);
        if let Some(p) = opts.core_port {
            cmd.args(["--core-port", &p.to_string()]);
        }
        if let Some((port, creds)) = &opts.mqtt {
            let spec = match creds {
                Some((u, p)) => format!("127.0.0.1:{port}:{u}:{p}"),
                None => format!("127.0.0.1:{port}"),
            };
            cmd.args(["--mqtt", &spec]);
        }
        if opts.drop_proxied_webhooks {
            cmd.arg("--drop-proxied-webhooks");
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start the Supervisor stand-in: {e}"));
        dir.attach_log(dir.file("supervisor.log"));
        dir.attach_log(log.clone());
        let mut s = Self {
            ip,
            token,
            log,
            process: Guard::new("supervisor.py", child),
        };
        let addr = std::net::SocketAddr::from((ip, 80));
        let up = wait_for(Duration::from_secs(10), Duration::from_millis(50), || {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()
        });
        assert!(
            up.is_some() && s.process.try_status().is_none(),
            "the Supervisor stand-in did not start on {addr}"
        );
        s
    }

    /// Every request it served: method, path and status.
    pub fn requests(&self) -> Vec<Value> {
        crate::read_json_lines(&self.log)
    }
}

/// Writes `value` as JSON to `path`.
///
/// # Panics
/// When the file cannot be written.
pub fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, value.to_string())
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// `podman-compose` 1.6 from PyPI (Debian's 1.0.3 cannot run a `network_mode: host`
/// service), in a venv made once per machine under the harness's directory from
/// `tests/peers/compose/requirements.lock`.
///
/// # Panics
/// When the venv cannot be made.
pub fn podman_compose() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let venv = state_dir().join("compose-venv");
        let bin = venv.join("bin/podman-compose");
        let lock = File::create(state_dir().join("compose.lock"))
            .unwrap_or_else(|e| panic!("create compose lock: {e}"));
        lock.lock().unwrap_or_else(|e| panic!("lock: {e}"));
        if !bin.is_file() {
            let run = |cmd: &mut Command, what: &str| {
                let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
                assert!(
                    out.status.success(),
                    "{what}: {}\n{}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
            };
            run(
                Command::new("python3").args(["-m", "venv"]).arg(&venv),
                "python3 -m venv",
            );
            run(
                Command::new(venv.join("bin/pip"))
                    .args([
                        "install",
                        "-q",
                        "--disable-pip-version-check",
                        "--no-deps",
                        "-r",
                    ])
                    .arg(workspace_root().join("tests/peers/compose/requirements.lock")),
                "pip install podman-compose",
            );
        }
        bin
    })
    .clone()
}

/// A Debian base with a C toolchain and libopus's headers, on which the host's Rust
/// toolchain (mounted at build time from `~/.rustup` and `~/.cargo`) builds the gateway:
/// the stand-in for `rust:1.95-slim-bookworm`, which cannot be pulled here. Made with
/// mmdebstrap once per machine.
///
/// # Panics
/// When mmdebstrap or podman fails.
pub fn rust_build_image() -> String {
    let name = "localhost/hasip-rust-build".to_owned();
    let lock = File::create(state_dir().join("rust-image.lock"))
        .unwrap_or_else(|e| panic!("create lock: {e}"));
    lock.lock().unwrap_or_else(|e| panic!("lock: {e}"));
    let exists = podman()
        .args(["image", "exists", &name])
        .status()
        .is_ok_and(|s| s.success());
    if !exists {
        let tar = state_dir().join("rust-build.tar");
        let out = Command::new("mmdebstrap")
            .args(["--quiet", "--variant=minbase"])
            .arg("--include=gcc,libc6-dev,libopus-dev,pkg-config,binutils,ca-certificates")
            .arg("bookworm")
            .arg(&tar)
            .output()
            .unwrap_or_else(|e| panic!("mmdebstrap: {e}"));
        assert!(
            out.status.success(),
            "mmdebstrap: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        podman_ok(&[
            "import",
            "--quiet",
            "--change",
            "ENV RUSTUP_HOME=/root/.rustup",
            "--change",
            "ENV CARGO_HOME=/root/.cargo",
            "--change",
            "ENV PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            &tar.to_string_lossy(),
            &name,
        ]);
        let _ = std::fs::remove_file(&tar);
    }
    name
}

/// Where the harness keeps state between runs (a build's target directory, for one).
pub fn state_path(name: &str) -> PathBuf {
    state_dir().join(name)
}
