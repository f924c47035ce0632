//! The image as users run it: as the Supervisor runs the add-on (`/data/options.json`,
//! `SUPERVISOR_TOKEN`, host networking, `supervisor` resolving to a stand-in that forwards
//! `/core/api` to the real Home Assistant and serves `/services/mqtt` with the test's
//! mosquitto, `/config` and `/media` mounted, commands on the container's stdin), and as
//! docker-compose.yml runs the stand-alone gateway. Each with a real call from baresip.

use std::path::Path;
use std::time::Duration;

use hasip_tests::audio::read_wav;
use hasip_tests::baresip::{Baresip, BaresipOptions};
use hasip_tests::container::{
    self, Container, Supervisor, SupervisorOptions, test_image, write_json,
};
use hasip_tests::ha::HomeAssistant;
use hasip_tests::mosquitto::{Mosquitto, MosquittoOptions};
use hasip_tests::workdir::WorkDir;
use hasip_tests::{have, ports, wait_for};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);
const WEBHOOK: &str = "sip_call_webhook_id";

fn require(programs: &[&str]) {
    for p in programs {
        assert!(have(p), "{p} is needed: run ./build.sh test");
    }
}

/// The options file as the Supervisor writes it: every key of addon/config.yaml's
/// `options` (disabled accounts included), with the test's account, menu and port.
fn addon_options(port: u16) -> Value {
    let disabled = |user: &str| {
        json!({"enabled": false, "registrar_uri": "sip:fritz.box",
               "id_uri": format!("sip:{user}@fritz.box"), "realm": "*", "user_name": user,
               "password": "secret", "answer_mode": "listen", "settle_time": 1,
               "incoming_call_file": "", "options": ""})
    };
    json!({
        "sip_global": {"port": port, "log_level": 4, "name_server": "",
                       "cache_dir": "/config/tts-cache", "global_options": ""},
        "sip": {"enabled": true, "registrar_uri": "", "id_uri": "sip:hasip@127.0.0.1",
                "realm": "*", "user_name": "", "password": "", "answer_mode": "accept",
                "settle_time": 0, "incoming_call_file": "/config/door.yaml", "options": ""},
        "sip_2": disabled("anotheruser"),
        "sip_3": disabled("third"),
        "tts": {"engine_id": "sip_test_tts", "language": "en"},
        "webhook": {"id": WEBHOOK},
        "mqtt": {"enabled": true},
        "sensors": {"enabled": false}
    })
}

fn received(ha: &HomeAssistant) -> Vec<Value> {
    ha.webhook_bodies(WEBHOOK)
}

fn names(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn wait_webhook(ha: &HomeAssistant, c: &Container, name: &str) -> Value {
    wait_for(WAIT, Duration::from_millis(20), || {
        received(ha).into_iter().find(|e| e["event"] == name)
    })
    .unwrap_or_else(|| {
        panic!(
            "Home Assistant did not receive {name}; it got {:?}\ncontainer log:\n{}",
            names(&received(ha)),
            c.log_text()
        )
    })
}

/// `podman run` options as the Supervisor starts the add-on: host network, `supervisor`
/// resolving to the stand-in, its token, the folders mounted; then the test image.
fn addon_run(sup: &Supervisor, mounts: &[(&Path, &str)]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--network".into(),
        "host".into(),
        "--add-host".into(),
        format!("supervisor:{}", sup.ip),
        "-e".into(),
        format!("SUPERVISOR_TOKEN={}", sup.token),
    ];
    for (host, at) in mounts {
        args.push("-v".into());
        args.push(format!("{}:{at}", host.display()));
    }
    args.push(test_image());
    args
}

fn mkdir(p: &Path) {
    std::fs::create_dir_all(p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
}

#[test]
fn the_addon_runs_as_the_supervisor_runs_it() {
    require(&["podman", "baresip", "mosquitto"]);
    let dir = WorkDir::new("container-addon");
    let ha = HomeAssistant::start(&dir);
    let broker = Mosquitto::start(&dir, MosquittoOptions::default());
    let sup = Supervisor::start(
        &dir,
        &SupervisorOptions {
            ha: Some((ha.port, ha.token.clone())),
            mqtt: Some((broker.port, None)),
            // As Home Assistant 2026.5+ treats a proxied webhook whose trigger is
            // local_only: answered, never run. The webhooks must go to Core directly.
            drop_proxied_webhooks: true,
            ..SupervisorOptions::default()
        },
    );
    let states = broker.subscribe(&dir, "hasip/#");
    let (data, config, media) = (dir.file("data"), dir.file("config"), dir.file("media"));
    for d in [&data, &config, &media, &config.join("tts-cache")] {
        mkdir(d);
    }
    let port = ports::free_port();
    write_json(&data.join("options.json"), &addon_options(port));
    std::fs::write(
        config.join("door.yaml"),
        "menu:\n  message: Welcome to the test door.\n  cache_audio: true\n  timeout: 60\n  choices:\n    '1':\n      message: One.\n",
    )
    .unwrap_or_else(|e| panic!("write the menu: {e}"));
    let args = addon_run(
        &sup,
        &[(&data, "/data"), (&config, "/config"), (&media, "/media")],
    );
    let mut c = Container::run(&dir, "addon", &args);
    assert!(c.wait_log("SIP ready", WAIT), "{}", c.log_text());
    assert!(
        c.log_text().contains("config=/data/options.json"),
        "the add-on reads /data/options.json: {}",
        c.log_text()
    );
    assert!(
        c.wait_log("MQTT: connected and subscribed", WAIT),
        "the broker from the Supervisor's /services/mqtt: {}",
        c.log_text()
    );
    let (healthy, line) = c.healthcheck();
    assert!(healthy, "HEALTHCHECK: {line}");
    assert!(
        c.wait_log(&format!("directly (a local address); the Supervisor's proxy if it cannot be reached api=http://127.0.0.1:{}/api", ha.port), WAIT),
        "Core's port from the Supervisor's /core/info: {}",
        c.log_text()
    );

    // A real call: the door rings, the menu's prompt comes from Home Assistant's TTS.
    let door = Baresip::start(&dir, &BaresipOptions::direct("door"));
    let r = door
        .command("dial", &format!("sip:hasip@127.0.0.1:{port}"))
        .expect("dial response");
    assert_eq!(r["ok"], true, "{r}");
    door.wait_event("CALL_ESTABLISHED", WAIT)
        .expect("the door: answered");
    let ringing = wait_webhook(&ha, &c, "incoming_call");
    let id = ringing["internal_id"]
        .as_str()
        .expect("internal_id")
        .to_owned();
    wait_webhook(&ha, &c, "playback_done");
    let asked: Vec<Value> = sup.requests();
    assert!(
        asked
            .iter()
            .any(|r| r["path"] == "/core/api/tts_get_url" && r["status"] == 200),
        "TTS through the Supervisor's proxy: {asked:?}"
    );
    // A key press reaches Home Assistant.
    door.command("sndcode", "1").expect("sndcode");
    let digit = wait_webhook(&ha, &c, "dtmf_digit");
    assert_eq!(digit["digit"], "1");
    // A command on the add-on's stdin (hassio.addon_stdin), one over MQTT.
    c.stdin_line(
        &json!({"command": "start_recording", "number": id,
                "recording_file": "/media/door.wav"})
        .to_string(),
    );
    wait_webhook(&ha, &c, "recording_started");
    // A second of the call in the file (stereo, 8 kHz; the writer flushes every second).
    let rec = media.join("door.wav");
    wait_for(WAIT, Duration::from_millis(50), || {
        std::fs::metadata(&rec)
            .ok()
            .filter(|m| m.len() > 44 + 32_000)
    })
    .unwrap_or_else(|| panic!("no audio recorded in {}", rec.display()));
    broker.publish(
        "hasip/execute",
        &json!({"command": "stop_recording", "number": id}).to_string(),
        false,
    );
    wait_webhook(&ha, &c, "recording_stopped");
    c.stdin_line(&json!({"command": "hangup", "number": id}).to_string());
    door.wait_event("CALL_CLOSED", WAIT)
        .expect("the door: hung up");
    wait_webhook(&ha, &c, "call_disconnected");
    let got = names(&received(&ha));
    let want = [
        "incoming_call",
        "call_established",
        "playback_done",
        "dtmf_digit",
        "recording_started",
        "recording_stopped",
        "call_disconnected",
    ];
    let mut it = got.iter();
    assert!(
        want.iter().all(|w| it.any(|g| g == w)),
        "webhooks out of order: {got:?}"
    );
    let proxied: Vec<Value> = sup
        .requests()
        .into_iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/core/api/webhook/"))
        })
        .collect();
    assert!(
        proxied.is_empty(),
        "webhooks went through the proxy: {proxied:?}"
    );
    // The same events on the event bus (webhook.delivery's default: both), through the
    // proxy with the token, in the same order.
    let bus = wait_for(WAIT, Duration::from_millis(20), || {
        let b = ha.bus_events();
        b.iter()
            .any(|e| e["event"] == "call_disconnected")
            .then_some(b)
    })
    .unwrap_or_else(|| {
        panic!(
            "no call_disconnected on the bus: {:?}",
            names(&ha.bus_events())
        )
    });
    assert_eq!(
        names(&bus),
        got,
        "the bus got what the webhooks got, in order"
    );
    assert!(
        states
            .wait(WAIT, |m| m.topic == "hasip/state"
                && m.payload.contains("call_disconnected"))
            .is_some(),
        "events on the MQTT state topic"
    );

    // The Supervisor stops the add-on: SIGTERM, clean exit well within its 10 s.
    let (took, status) = c.stop(Duration::from_secs(10));
    assert!(took < Duration::from_secs(5), "stop took {took:?}");
    assert!(
        status.is_some_and(|s| s.success()),
        "exit: {status:?}\n{}",
        c.log_text()
    );
    assert!(c.log_text().contains("SIGTERM: shutting down"));
    // The recording is in the mounted media folder, a valid WAV with the call in it.
    let wav = read_wav(&rec);
    assert!(wav.rate >= 8000 && !wav.channels.is_empty());
    let seconds = wav.channels[0].len() as f64 / f64::from(wav.rate);
    assert!(seconds >= 1.0, "recording of {seconds:.2} s");
    // The TTS cache went to the mounted /config.
    assert!(
        std::fs::read_dir(config.join("tts-cache")).is_ok_and(|mut d| d.next().is_some()),
        "sip_global.cache_dir under /config"
    );
}

/// docker-compose.yml as a stand-alone user runs it: `podman-compose up -d` with the
/// repository's compose file, a `.env` in ha-sip's variables (Home Assistant by URL and
/// token), and the test image in place of the published one. A call through it reaches
/// Home Assistant; the compose healthcheck runs; `down` stops it.
#[test]
fn docker_compose_runs_the_standalone_gateway() {
    require(&["podman", "baresip"]);
    let dir = WorkDir::new("container-compose");
    let ha = HomeAssistant::start(&dir);
    let project = dir.file("compose");
    mkdir(&project.join("config"));
    std::fs::copy(
        hasip_tests::workspace_root().join("docker-compose.yml"),
        project.join("docker-compose.yml"),
    )
    .unwrap_or_else(|e| panic!("copy docker-compose.yml: {e}"));
    let port = ports::free_port();
    std::fs::write(
        project.join(".env"),
        format!(
            "PORT={port}\nLOG_LEVEL=3\nSIP1_ENABLED=true\nSIP1_REGISTRAR_URI=\n\
             SIP1_ID_URI=sip:hasip@127.0.0.1\nSIP1_ANSWER_MODE=accept\nSIP1_SETTLE_TIME=0\n\
             HA_BASE_URL={}\nHA_TOKEN={}\nHA_WEBHOOK_ID={WEBHOOK}\n",
            ha.base_url, ha.token
        ),
    )
    .unwrap_or_else(|e| panic!("write .env: {e}"));
    let name = format!("hasip{}", std::process::id());
    let compose = |args: &[&str]| {
        let out = std::process::Command::new(container::podman_compose())
            .args(["-p", &name])
            .args(args)
            .env("CONTAINERS_CONF", container::containers_conf())
            .env("HASIP_IMAGE", test_image())
            .current_dir(&project)
            .output()
            .unwrap_or_else(|e| panic!("podman-compose {args:?}: {e}"));
        assert!(
            out.status.success(),
            "podman-compose {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    };
    compose(&["up", "-d"]);
    let service = format!("{name}_ha-sip-rs_1");
    // Whatever happens below, the service does not outlive the test.
    struct Down(String);
    impl Drop for Down {
        fn drop(&mut self) {
            let _ = container::podman()
                .args(["rm", "-f", "-t", "2", &self.0])
                .output();
        }
    }
    let _down = Down(service.clone());
    let logs = || container::podman_ok(&["logs", &service]);
    let up = wait_for(WAIT, Duration::from_millis(50), || {
        logs().contains("SIP ready").then_some(())
    });
    assert!(up.is_some(), "{}", logs());
    assert!(logs().contains("config=environment"), "{}", logs());
    let health = container::podman()
        .args(["healthcheck", "run", &service])
        .output()
        .unwrap_or_else(|e| panic!("podman healthcheck run: {e}"));
    assert!(health.status.success(), "compose healthcheck failed");
    let inspect = container::podman_ok(&[
        "inspect",
        &service,
        "--format",
        "{{.HostConfig.NetworkMode}} {{.Config.OpenStdin}}",
    ]);
    assert_eq!(inspect.trim(), "host true");

    let door = Baresip::start(&dir, &BaresipOptions::direct("door"));
    let r = door
        .command("dial", &format!("sip:hasip@127.0.0.1:{port}"))
        .expect("dial response");
    assert_eq!(r["ok"], true, "{r}");
    door.wait_event("CALL_ESTABLISHED", WAIT)
        .expect("the door: answered");
    let established = wait_for(WAIT, Duration::from_millis(20), || {
        received(&ha)
            .into_iter()
            .find(|e| e["event"] == "call_established")
    });
    assert!(established.is_some(), "{}", logs());
    door.command("hangup", "").expect("hangup");
    let gone = wait_for(WAIT, Duration::from_millis(20), || {
        received(&ha)
            .into_iter()
            .find(|e| e["event"] == "call_disconnected")
    });
    assert!(gone.is_some(), "{}", logs());
    compose(&["down"]);
    let left = container::podman_ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(!left.contains(&service), "still there after down: {left}");
}

/// The Supervisor's local build: `podman build addon/` with addon/ as the context builds
/// the image from source (the working tree, served as the release tarball would be), on
/// the local Debian base, with a Rust toolchain image standing in for rust:slim-bookworm.
/// The `dev` profile keeps it to a couple of minutes; the release build is the same
/// command with the default profile. The image runs.
#[test]
fn the_addon_folder_builds_from_source_as_the_supervisor_builds_it() {
    require(&["podman", "mmdebstrap"]);
    let dir = WorkDir::new("container-local-build");
    // The Debian base of ./build.sh image (made on the way to the test image).
    test_image();
    let rust = container::rust_build_image();
    // The source as GitHub's tag archive has it: one top directory.
    let root = hasip_tests::workspace_root();
    let tarball = dir.file("source.tar.gz");
    let st = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .args([
            "--exclude=./target",
            "--exclude=./.git",
            "--exclude=./fuzz/target",
        ])
        .args(["--transform", "s,^\\.,ha-sip-rs,"])
        .arg("-C")
        .arg(&root)
        .arg(".")
        .status()
        .unwrap_or_else(|e| panic!("tar: {e}"));
    assert!(st.success(), "tar failed");
    let port = ports::free_port();
    let server = std::process::Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .arg("--directory")
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("http.server: {e}"));
    let _server = hasip_tests::process::Guard::new("http.server", server);
    let serving = wait_for(WAIT, Duration::from_millis(50), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    assert!(serving.is_some(), "the source server did not start");
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let rustup = std::env::var("RUSTUP_HOME").unwrap_or_else(|_| format!("{home}/.rustup"));
    let cargo = std::env::var("CARGO_HOME").unwrap_or_else(|_| format!("{home}/.cargo"));
    let target = container::state_path("local-build-target");
    mkdir(&target);
    let tag = format!("localhost/hasip-local-build:{}", std::process::id());
    let out = container::podman()
        .args(["build", "--format", "docker", "--network", "host"])
        .args(["-v", &format!("{rustup}:/root/.rustup")])
        .args(["-v", &format!("{cargo}:/root/.cargo")])
        .args(["-v", &format!("{}:/src/target", target.display())])
        .args(["--build-arg", "BUILD_FROM=localhost/hasip-bookworm-base"])
        .args(["--build-arg", &format!("RUST_FROM={rust}")])
        .args([
            "--build-arg",
            &format!("SOURCE_URL=http://127.0.0.1:{port}/source.tar.gz"),
        ])
        .args(["--build-arg", "CARGO_PROFILE=dev"])
        .args(["-t", &tag])
        .arg(root.join("addon"))
        .output()
        .unwrap_or_else(|e| panic!("podman build: {e}"));
    let log = dir.file("build.log");
    std::fs::write(&log, [&out.stdout[..], &out.stderr[..]].concat())
        .unwrap_or_else(|e| panic!("write the build log: {e}"));
    dir.attach_log(log);
    assert!(out.status.success(), "podman build addon/: {}", out.status);
    let version = container::podman_ok(&["run", "--rm", &tag, "/usr/bin/hasip", "--version"]);
    let _ = container::podman().args(["rmi", "-f", &tag]).output();
    assert_eq!(
        version.trim(),
        format!("hasip {}", env!("CARGO_PKG_VERSION"))
    );
}

/// Errors where add-on users look: a menu file with a mistake stops the add-on's start, and
/// Home Assistant shows a persistent notification naming the file, the line and the key;
/// an account the registrar refuses gets one too, while the add-on runs on.
#[test]
fn errors_become_notifications_in_home_assistant() {
    require(&["podman", "kamailio"]);
    let dir = WorkDir::new("container-notify");
    let ha = HomeAssistant::start(&dir);
    let sup = Supervisor::start(
        &dir,
        &SupervisorOptions {
            ha: Some((ha.port, ha.token.clone())),
            ..SupervisorOptions::default()
        },
    );
    let (data, config) = (dir.file("data"), dir.file("config"));
    for d in [&data, &config] {
        mkdir(d);
    }
    let args = addon_run(&sup, &[(&data, "/data"), (&config, "/config")]);
    // 1. A typo in the incoming-call file: the start stops, Home Assistant says why.
    std::fs::write(
        config.join("door.yaml"),
        "menu:\n  message: Hello\n  post_actoin: hangup\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    write_json(
        &data.join("options.json"),
        &addon_options(ports::free_port()),
    );
    let c = Container::run(&dir, "notify-config", &args);
    let shown = wait_for(WAIT, Duration::from_millis(200), || {
        ha.notifications()
            .into_iter()
            .find(|(id, _)| id == "ha_sip_rs_configuration")
    })
    .unwrap_or_else(|| panic!("no notification; the add-on's log:\n{}", c.log_text()));
    // The process prints its error after it has posted the notification.
    assert!(
        c.wait_log("error: configuration /data/options.json", WAIT),
        "{}",
        c.log_text()
    );
    for needle in [
        "/config/door.yaml:3",
        "post_actoin",
        "did you mean \"post_action\"",
    ] {
        assert!(shown.1.contains(needle), "{needle} not in {:?}", shown.1);
    }
    drop(c);

    // 2. The registrar refuses the account: a notification names the options to check.
    let k = hasip_tests::kamailio::Kamailio::start(
        &dir,
        hasip_tests::kamailio::KamailioOptions::default(),
    );
    let mut options = addon_options(ports::free_port());
    options["sip"] = json!({"enabled": true, "registrar_uri": format!("sip:{}", k.sip),
        "id_uri": "sip:hasip@test.local", "realm": "*", "user_name": "hasip",
        "password": "wrong", "answer_mode": "listen", "settle_time": 1,
        "incoming_call_file": "", "options": ""});
    write_json(&data.join("options.json"), &options);
    let mut c = Container::run(&dir, "notify-register", &args);
    let refused = wait_for(WAIT, Duration::from_millis(200), || {
        ha.notifications()
            .into_iter()
            .find(|(id, _)| id == "ha_sip_rs_registration_1")
    })
    .unwrap_or_else(|| panic!("no notification; the add-on's log:\n{}", c.log_text()));
    assert!(
        refused.1.contains("`sip.password`") && refused.1.contains("sip:hasip@test.local"),
        "{}",
        refused.1
    );
    let (healthy, line) = c.healthcheck();
    assert!(!healthy, "a refused account is unhealthy: {line}");
    c.stop(Duration::from_secs(10));
}
