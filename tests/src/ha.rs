//! A real Home Assistant Core (2024.3.3 from PyPI) on 127.0.0.1, with the offline test
//! configuration in `tests/peers/ha/config`: webhooks logged to a file, two TTS engines
//! (`demo`, fixed MP3; `sip_test_tts`, WAV), `input_boolean.sip_test`, `/api/template`.
//!
//! The Python environment is made once per machine: a venv under the target directory
//! (`target/ha-peer/venv`, or `HASIP_HA_VENV`), filled with `pip install --no-deps -r
//! tests/peers/ha/requirements.lock` (80–200 s and about 630 MB the first time; a later
//! change of the lock file re-runs pip, which only installs what changed). Test processes
//! that start at the same time wait on a file lock, so only one installs. Each
//! [`HomeAssistant`] then gets a fresh config directory in the test's [`WorkDir`], its own
//! port, an owner user and a long-lived token (`bootstrap_token.py`); it starts in about
//! 3–6 s and is stopped by its pid when dropped.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::process::Guard;
use crate::workdir::WorkDir;
use crate::{ports, wait_for, workspace_root};

/// The webhook ids the test configuration logs (every other id answers 200 and is dropped
/// by Home Assistant, as a real one does).
pub const WEBHOOK_IDS: [&str; 4] = [
    "sip_call_webhook_id",
    "sip_call_webhook_id_2",
    "sip_call_webhook_id_3",
    "sip_test_webhook",
];

/// How long the first start may take (it compiles Python byte code).
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// Options for [`HomeAssistant::start_with`].
#[derive(Debug, Clone, Default)]
pub struct HaOptions {
    /// Home Assistant's internal and external URL (the host of the URLs `tts_get_url`
    /// returns). Default `http://127.0.0.1:<port>`; a test passes an unreachable one to
    /// check that the client does not depend on it.
    pub public_url: Option<String>,
    /// Set up Home Assistant's own VoIP (Assist) integration with its SIP on this UDP port
    /// (a config entry written before the start; its `voip-utils` comes with the lock),
    /// and a preferred Assist pipeline of `sip_test_stt`, the conversation agent and
    /// `sip_test_tts` (espeak).
    /// Note that the integration binds the port on every interface, as it does for users.
    pub voip_port: Option<u16>,
    /// Set up Home Assistant's MQTT integration against a broker on 127.0.0.1 at this port
    /// (a config entry written before the start), with discovery on the default prefix.
    pub mqtt_port: Option<u16>,
    /// Install `examples/blueprints/*.yaml` as `blueprints/automation/ha-sip-rs/`.
    pub blueprints: bool,
    /// More automations (a YAML list), appended to the test configuration's own.
    pub automations: String,
    /// `automations` replace the test configuration's own (which log the webhooks; a
    /// webhook id can have one trigger only).
    pub only_these_automations: bool,
}

/// One webhook request as Home Assistant logged it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedWebhook {
    /// The id it was posted to.
    pub webhook_id: String,
    /// The parsed JSON body.
    pub json: Value,
}

/// A running Home Assistant Core, stopped when dropped.
#[derive(Debug)]
pub struct HomeAssistant {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// ha-sip's `HA_BASE_URL`: `http://127.0.0.1:<port>/api`.
    pub base_url: String,
    /// ha-sip's `HA_WEBSOCKET_URL`.
    pub websocket_url: String,
    /// A long-lived access token of the owner.
    pub token: String,
    config: PathBuf,
    log: PathBuf,
    venv: PathBuf,
    process: Option<Guard>,
}

impl HomeAssistant {
    /// Starts Home Assistant with the default options.
    pub fn start(dir: &WorkDir) -> Self {
        Self::start_with(dir, &HaOptions::default())
    }

    /// Prepares the venv (once per machine), copies the configuration into `dir`, starts
    /// `hass` on a free port, creates the owner and a token, and waits until the core is
    /// `RUNNING`.
    ///
    /// # Panics
    /// When Python 3.11/3.12 with venv is missing, pip fails, or Home Assistant does not come
    /// up within 180 s; its log is attached to the failure.
    pub fn start_with(dir: &WorkDir, opts: &HaOptions) -> Self {
        let venv = venv();
        let port = ports::free_port();
        let run = dir.file(&format!("ha-{port}"));
        let config = run.join("config");
        copy_dir(&workspace_root().join("tests/peers/ha/config"), &config);
        let public = opts
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://127.0.0.1:{port}"));
        let yaml_path = config.join("configuration.yaml");
        let yaml = std::fs::read_to_string(&yaml_path)
            .unwrap_or_else(|e| panic!("read {}: {e}", yaml_path.display()))
            .replace("__HA_PUBLIC_URL__", &public)
            .replace("__HA_PORT__", &port.to_string());
        std::fs::write(&yaml_path, yaml).unwrap_or_else(|e| panic!("write configuration: {e}"));
        if opts.blueprints {
            let to = config.join("blueprints/automation/ha-sip-rs");
            copy_dir(&workspace_root().join("examples/blueprints"), &to);
        }
        if !opts.automations.trim().is_empty() {
            let path = config.join("automations.yaml");
            let mut text = if opts.only_these_automations {
                String::new()
            } else {
                std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
            };
            text.push('\n');
            text.push_str(&opts.automations);
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("write automations: {e}"));
        }
        let storage = config.join(".storage");
        let entry = |id: &str, domain: &str, title: &str, data: Value, options: Value| {
            serde_json::json!({
                "entry_id": id, "version": 1, "minor_version": 1,
                "domain": domain, "title": title, "data": data, "options": options,
                "pref_disable_new_entities": false, "pref_disable_polling": false,
                "source": "user", "unique_id": null, "disabled_by": null
            })
        };
        let mut entries = Vec::new();
        if let Some(voip) = opts.voip_port {
            entries.push(entry(
                "hasiptestvoip",
                "voip",
                "Voice over IP",
                serde_json::json!({}),
                serde_json::json!({"sip_port": voip}),
            ));
        }
        if let Some(port) = opts.mqtt_port {
            entries.push(entry(
                "hasiptestmqtt",
                "mqtt",
                "127.0.0.1",
                serde_json::json!({"broker": "127.0.0.1", "port": port, "discovery": true,
                                   "discovery_prefix": "homeassistant"}),
                serde_json::json!({}),
            ));
        }
        if !entries.is_empty() {
            std::fs::create_dir_all(&storage)
                .unwrap_or_else(|e| panic!("create {}: {e}", storage.display()));
            let all = serde_json::json!({
                "version": 1, "minor_version": 1, "key": "core.config_entries",
                "data": {"entries": entries}
            });
            std::fs::write(storage.join("core.config_entries"), all.to_string())
                .unwrap_or_else(|e| panic!("write the config entries: {e}"));
        }
        if opts.voip_port.is_some() {
            // The preferred Assist pipeline: the offline test STT and TTS engines and Home
            // Assistant's own conversation agent.
            let pipelines = serde_json::json!({
                "version": 1, "minor_version": 2, "key": "assist_pipeline.pipelines",
                "data": {"preferred_item": "hasiptest", "items": [{
                    "id": "hasiptest", "name": "SIP test",
                    "language": "en", "conversation_engine": "homeassistant",
                    "conversation_language": "en",
                    "stt_engine": "sip_test_stt", "stt_language": "en",
                    "tts_engine": "sip_test_tts", "tts_language": "en", "tts_voice": "espeak",
                    "wake_word_entity": null, "wake_word_id": null
                }]}
            });
            std::fs::write(
                storage.join("assist_pipeline.pipelines"),
                pipelines.to_string(),
            )
            .unwrap_or_else(|e| panic!("write the Assist pipeline: {e}"));
        }
        let log = run.join("hass.log");
        dir.attach_log(log.clone());
        let mut ha = Self {
            port,
            base_url: format!("http://127.0.0.1:{port}/api"),
            websocket_url: format!("ws://127.0.0.1:{port}/api/websocket"),
            token: String::new(),
            config,
            log,
            venv,
            process: None,
        };
        let t0 = Instant::now();
        ha.spawn();
        ha.wait_api();
        ha.bootstrap_token(&run);
        ha.wait_running();
        eprintln!(
            "ha: Home Assistant on 127.0.0.1:{port} ready in {:.1} s",
            t0.elapsed().as_secs_f32()
        );
        ha
    }

    fn spawn(&mut self) {
        let out = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("open {}: {e}", self.log.display()));
        let err = out.try_clone().unwrap_or_else(|e| panic!("clone log: {e}"));
        let child = Command::new(self.venv.join("bin/hass"))
            .arg("-c")
            .arg(&self.config)
            .args(["--skip-pip", "--log-no-color"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start hass: {e}"));
        self.process = Some(Guard::new("hass", child));
    }

    /// Panics with the log when the process has exited.
    fn check_alive(&mut self, what: &str) {
        if let Some(st) = self.process.as_mut().and_then(Guard::try_status) {
            panic!(
                "Home Assistant exited ({st}) while {what}; log:\n{}",
                tail(&self.log_text(), 60)
            );
        }
    }

    /// Waits until the HTTP API answers (401 without a token means it is serving).
    fn wait_api(&mut self) {
        let port = self.port;
        let up = wait_for(START_TIMEOUT, Duration::from_millis(100), || {
            self.check_alive("starting");
            http(port, "GET", "/api/", None, None).map(|_| ())
        });
        assert!(
            up.is_some(),
            "Home Assistant API not up after {START_TIMEOUT:?}; log:\n{}",
            tail(&self.log_text(), 60)
        );
    }

    fn bootstrap_token(&mut self, run: &Path) {
        let port = self.port;
        let onboarding = wait_for(START_TIMEOUT, Duration::from_millis(100), || {
            self.check_alive("waiting for onboarding");
            http(port, "GET", "/api/onboarding", None, None).filter(|(s, _)| *s == 200)
        });
        assert!(onboarding.is_some(), "no /api/onboarding");
        let token_file = run.join("token");
        let script = workspace_root().join("tests/peers/ha/bootstrap_token.py");
        let out = run.join("bootstrap.log");
        run_logged(
            Command::new(self.venv.join("bin/python"))
                .arg(script)
                .arg(format!("http://127.0.0.1:{port}"))
                .arg(&token_file),
            &out,
            Duration::from_secs(60),
            "bootstrap_token.py",
        );
        self.token = std::fs::read_to_string(&token_file)
            .unwrap_or_else(|e| panic!("read token: {e}"))
            .trim()
            .to_owned();
    }

    /// Waits until `/api/config` says `RUNNING` (the API answers before the automations
    /// that log webhooks are loaded).
    fn wait_running(&mut self) {
        let (port, token) = (self.port, self.token.clone());
        let running = wait_for(START_TIMEOUT, Duration::from_millis(100), || {
            self.check_alive("loading integrations");
            let (status, body) = http(port, "GET", "/api/config", Some(&token), None)?;
            let v: Value = serde_json::from_str(&body).ok()?;
            (status == 200 && v["state"] == "RUNNING").then_some(())
        });
        assert!(
            running.is_some(),
            "Home Assistant not RUNNING after {START_TIMEOUT:?}; log:\n{}",
            tail(&self.log_text(), 60)
        );
    }

    /// Stops Home Assistant (SIGTERM, which saves its state; SIGKILL after 60 s).
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop(Duration::from_secs(60));
        }
    }

    /// Starts it again on the same port and config (the token stays valid) and waits until
    /// it is `RUNNING`.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
        self.wait_api();
        self.wait_running();
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.process
            .as_mut()
            .is_some_and(|p| p.try_status().is_none())
    }

    /// Home Assistant's output so far.
    pub fn log_text(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The file every webhook request to [`WEBHOOK_IDS`] is appended to.
    pub fn webhook_log_path(&self) -> PathBuf {
        self.config.join("webhook_log.txt")
    }

    /// A file shipped with Home Assistant's VoIP integration (its announcements).
    pub fn voip_component_file(&self, name: &str) -> PathBuf {
        let lib = self.venv.join("lib");
        std::fs::read_dir(&lib)
            .ok()
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| {
                e.path()
                    .join("site-packages/homeassistant/components/voip")
                    .join(name)
            })
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{name} not found in the venv under {}", lib.display()))
    }

    /// The config directory (`.storage`, `tts/` cache, logs).
    pub fn config_dir(&self) -> &Path {
        &self.config
    }

    /// Every webhook logged so far, in the order Home Assistant handled them.
    pub fn webhooks(&self) -> Vec<LoggedWebhook> {
        let text = std::fs::read_to_string(self.webhook_log_path()).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                // "<ISO timestamp> <JSON>"; the file's two header lines do not parse.
                let (_, json) = line.split_once(' ')?;
                let v: Value = serde_json::from_str(json).ok()?;
                Some(LoggedWebhook {
                    webhook_id: v["webhook_id"].as_str()?.to_owned(),
                    json: v["json"].clone(),
                })
            })
            .collect()
    }

    /// The bodies posted to webhook `id` so far, in the order Home Assistant handled them.
    pub fn webhook_bodies(&self, id: &str) -> Vec<Value> {
        self.webhooks()
            .into_iter()
            .filter(|w| w.webhook_id == id)
            .map(|w| w.json)
            .collect()
    }

    /// Every `hasip_event` fired on Home Assistant's event bus so far (an automation with an
    /// `event` trigger logs each), as its data, in the order the automation ran.
    pub fn bus_events(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.config.join("event_log.txt")).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let (_, json) = line.split_once(' ')?;
                let v: Value = serde_json::from_str(json).ok()?;
                (v["event_type"] == "hasip_event").then(|| v["data"].clone())
            })
            .collect()
    }

    /// Waits until at least `n` webhooks are logged and returns them all.
    pub fn wait_webhooks(&self, n: usize, timeout: Duration) -> Option<Vec<LoggedWebhook>> {
        wait_for(timeout, Duration::from_millis(20), || {
            let w = self.webhooks();
            (w.len() >= n).then_some(w)
        })
    }

    /// `GET /api/<path>` with the token: status and body.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        http(
            self.port,
            "GET",
            &format!("/api/{path}"),
            Some(&self.token),
            None,
        )
    }

    /// `POST /api/<path>` with the token and a JSON body: status and body.
    pub fn post(&self, path: &str, body: &Value) -> Option<(u16, String)> {
        http(
            self.port,
            "POST",
            &format!("/api/{path}"),
            Some(&self.token),
            Some(&body.to_string()),
        )
    }

    /// What Home Assistant's TTS makes of `message`: `tts_get_url` with `engine_id`,
    /// `language` and `options`, then the audio from the returned path.
    ///
    /// # Panics
    /// When Home Assistant refuses or the audio cannot be fetched.
    pub fn tts_audio(
        &self,
        engine_id: &str,
        message: &str,
        language: &str,
        options: &Value,
    ) -> Vec<u8> {
        let body = serde_json::json!({
            "engine_id": engine_id, "message": message, "language": language,
            "options": options, "cache": false
        });
        let (status, text) = self
            .post("tts_get_url", &body)
            .unwrap_or_else(|| panic!("tts_get_url: no answer"));
        assert_eq!(status, 200, "tts_get_url: {text}");
        let v: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("tts_get_url: {e}: {text}"));
        let path = v["path"]
            .as_str()
            .unwrap_or_else(|| panic!("tts_get_url without path: {text}"));
        let (status, audio) = http_bytes(self.port, "GET", path, Some(&self.token), None)
            .unwrap_or_else(|| panic!("GET {path}: no answer"));
        assert_eq!(status, 200, "GET {path}");
        audio
    }

    /// The result of one websocket command (`persistent_notification/get`, …), through
    /// `tests/peers/ha/ws_command.py`.
    ///
    /// # Panics
    /// When the command fails.
    pub fn ws(&self, kind: &str, fields: &Value) -> Value {
        let out = Command::new(self.venv.join("bin/python"))
            .arg(workspace_root().join("tests/peers/ha/ws_command.py"))
            .args([&self.websocket_url, &self.token, kind, &fields.to_string()])
            .output()
            .unwrap_or_else(|e| panic!("ws_command.py: {e}"));
        assert!(
            out.status.success(),
            "{kind}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{kind}: not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Home Assistant's persistent notifications: id and message.
    pub fn notifications(&self) -> Vec<(String, String)> {
        self.ws("persistent_notification/get", &serde_json::json!({}))
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|n| {
                        (
                            n["notification_id"].as_str().unwrap_or_default().to_owned(),
                            n["message"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The allow-calls switch the VoIP integration makes for a device that called it,
    /// once it exists (`switch.…_allow_calls`).
    pub fn voip_allow_switch(&self) -> Option<String> {
        let (_, body) = self.get("states")?;
        let states: Vec<Value> = serde_json::from_str(&body).ok()?;
        states.into_iter().find_map(|e| {
            let id = e["entity_id"].as_str()?;
            (id.starts_with("switch.") && id.ends_with("_allow_calls")).then(|| id.to_owned())
        })
    }

    /// The state of an entity (`on`, `off`, …).
    pub fn state(&self, entity_id: &str) -> Option<String> {
        let (status, body) = self.get(&format!("states/{entity_id}"))?;
        let v: Value = serde_json::from_str(&body).ok()?;
        (status == 200).then(|| v["state"].as_str().map(str::to_owned))?
    }
}

/// The prepared venv (made on first use; see the module docs).
///
/// # Panics
/// When no suitable Python is found or pip fails.
pub fn venv() -> PathBuf {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(prepare_venv).clone()
}

/// Where the venv and its lock live: next to the test binaries' target directory.
fn cache_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test binary>
    exe.ancestors()
        .nth(3)
        .filter(|t| t.join("CACHEDIR.TAG").is_file() || t.ends_with("target"))
        .map_or_else(
            || std::env::temp_dir().join("hasip-ha-peer"),
            |t| t.join("ha-peer"),
        )
}

fn prepare_venv() -> PathBuf {
    let dir = cache_dir();
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let venv = std::env::var_os("HASIP_HA_VENV").map_or_else(|| dir.join("venv"), PathBuf::from);
    let lock_path = workspace_root().join("tests/peers/ha/requirements.lock");
    let lock_text =
        std::fs::read(&lock_path).unwrap_or_else(|e| panic!("read {}: {e}", lock_path.display()));
    let want = format!("{:016x}", fnv1a(&lock_text));
    let marker = venv.join(".hasip-requirements");

    // One installer per machine; the others wait here.
    let lock_file =
        File::create(dir.join("venv.lock")).unwrap_or_else(|e| panic!("create venv lock: {e}"));
    lock_file
        .lock()
        .unwrap_or_else(|e| panic!("lock venv: {e}"));
    let hass = venv.join("bin/hass");
    if hass.is_file() && std::fs::read_to_string(&marker).is_ok_and(|m| m.trim() == want) {
        return venv;
    }
    let python = venv.join("bin/python");
    let t0 = Instant::now();
    let pip_log = dir.join("pip.log");
    let usable = python.is_file()
        && Command::new(&python)
            .args(["-c", "import homeassistant"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !usable {
        let base = find_python();
        eprintln!(
            "ha: creating the Home Assistant venv {} with {} (one time per machine: pip install \
             of tests/peers/ha/requirements.lock, 80-200 s, ~630 MB)",
            venv.display(),
            base
        );
        let _ = std::fs::remove_dir_all(&venv);
        run_logged(
            Command::new(&base).args(["-m", "venv"]).arg(&venv),
            &pip_log,
            Duration::from_secs(120),
            "python -m venv",
        );
    } else {
        eprintln!("ha: requirements.lock changed; updating {}", venv.display());
    }
    run_logged(
        Command::new(venv.join("bin/pip"))
            .args([
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--no-deps",
                "-q",
                "-r",
            ])
            .arg(&lock_path),
        &pip_log,
        Duration::from_secs(1200),
        "pip install -r tests/peers/ha/requirements.lock",
    );
    run_logged(
        Command::new(&python).args([
            "-c",
            "import homeassistant.const as c; print('homeassistant', c.__version__)",
        ]),
        &pip_log,
        Duration::from_secs(60),
        "import homeassistant",
    );
    std::fs::write(&marker, &want).unwrap_or_else(|e| panic!("write {}: {e}", marker.display()));
    eprintln!(
        "ha: venv ready in {:.0} s ({})",
        t0.elapsed().as_secs_f32(),
        pip_log.display()
    );
    venv
}

/// A Python 3.11 or 3.12 with the venv module (`HASIP_HA_PYTHON` overrides).
fn find_python() -> String {
    let check = "import sys, venv, ensurepip; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 13) else 1)";
    let candidates: Vec<String> = match std::env::var("HASIP_HA_PYTHON") {
        Ok(p) => vec![p],
        Err(_) => ["python3.11", "python3.12", "python3"]
            .map(String::from)
            .to_vec(),
    };
    candidates
        .into_iter()
        .find(|p| {
            Command::new(p)
                .args(["-c", check])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .unwrap_or_else(|| {
            panic!(
                "Home Assistant 2024.3 needs Python 3.11 or 3.12 with the venv module \
                 (Debian: apt-get install python3 python3-venv; ./build.sh test installs them), \
                 or HASIP_HA_PYTHON"
            )
        })
}

/// Runs `cmd` with its output appended to `log`, and panics (with the log's tail) if it
/// fails or takes longer than `timeout`.
fn run_logged(cmd: &mut Command, log: &Path, timeout: Duration, what: &str) {
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .unwrap_or_else(|e| panic!("open {}: {e}", log.display()));
    let err = out.try_clone().unwrap_or_else(|e| panic!("clone log: {e}"));
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let mut guard = Guard::new(what, child);
    let status = guard.wait_exit(timeout);
    let text = std::fs::read_to_string(log).unwrap_or_default();
    match status {
        Some(s) if s.success() => {}
        Some(s) => panic!(
            "{what} failed ({s}); {}:\n{}",
            log.display(),
            tail(&text, 40)
        ),
        None => panic!(
            "{what} did not finish within {timeout:?}; {}:\n{}",
            log.display(),
            tail(&text, 40)
        ),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    let entries =
        std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            if entry.file_name() != "__pycache__" {
                copy_dir(&path, &target);
            }
        } else {
            std::fs::copy(&path, &target)
                .unwrap_or_else(|e| panic!("copy {}: {e}", path.display()));
        }
    }
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A minimal HTTP/1.1 client for loopback checks (`Connection: close`, chunked bodies
/// decoded): status and body, or `None` when nothing answers within 10 s.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    json_body: Option<&str>,
) -> Option<(u16, String)> {
    http_bytes(port, method, path, token, json_body)
        .map(|(status, body)| (status, String::from_utf8_lossy(&body).into_owned()))
}

/// [`http`], with the body as bytes (audio).
pub fn http_bytes(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    json_body: Option<&str>,
) -> Option<(u16, Vec<u8>)> {
    let timeout = Duration::from_secs(10);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.set_write_timeout(Some(timeout)).ok()?;
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = json_body.unwrap_or("");
    if json_body.is_some() {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    let mut body = raw[end + 4..].to_vec();
    if head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.contains("chunked"))
    {
        body = dechunk(&body)?;
    }
    Some((status, body))
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}
