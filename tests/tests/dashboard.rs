//! The dashboard page (issue 19) in a real browser: Debian's chromium, headless, driven by
//! playwright-core (`tests/peers/browser/answer.mjs`). baresip, as the door, calls the
//! gateway in listen mode; the page shows the ringing call; a click answers it, a digit
//! button sends 5 (baresip receives it), a click hangs up (the SIP call ends). Screenshots
//! at desktop and phone widths go to the test's directory (kept when it fails) and the
//! page may not be wider than the window. Also: the token stand-alone, and the ingress peer and path prefix
//! in the add-on.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use hasip_tests::baresip::{Baresip, BaresipOptions};
use hasip_tests::gateway::Gateway;
use hasip_tests::process::Guard;
use hasip_tests::workdir::WorkDir;
use hasip_tests::{have, node, ports, wait_for};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(15);
const TOKEN: &str = "door-test-token-0123456789";

fn options() -> serde_json::Value {
    json!({
        "sip_global": {"log_level": 3},
        "sip": {"enabled": true, "registrar_uri": "", "id_uri": "sip:hasip@127.0.0.1",
                "answer_mode": "listen", "settle_time": 0}
    })
}

/// One HTTP/1.1 request from `from`; the status code and the body.
fn http(from: &str, to: SocketAddr, path: &str, headers: &str) -> (u16, String) {
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    let bind: SocketAddr = format!("{from}:0").parse().expect("address");
    sock.bind(&bind.into()).expect("bind");
    sock.connect_timeout(&to.into(), Duration::from_secs(5))
        .expect("connect");
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {to}\r\n{headers}Connection: close\r\n\r\n"
    )
    .expect("write");
    let mut bytes = Vec::new();
    let _ = std::io::Read::read_to_end(&mut s, &mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (code, body)
}

#[test]
fn answer_send_a_digit_and_hang_up_from_the_page_in_chromium() {
    for p in ["chromium", "node", "npm", "baresip"] {
        assert!(have(p), "{p} is needed: run ./build.sh test");
    }
    let browser = node::peer(
        "browser",
        &["package.json", "package-lock.json", "answer.mjs"],
        "node_modules/playwright-core/package.json",
    );
    let dir = WorkDir::new("dashboard-answer");
    let web = SocketAddr::from(([127, 0, 0, 1], ports::free_port()));
    let gw = Gateway::start_env(
        &dir,
        Some(&options()),
        &[],
        &[("WEB_LISTEN", &web.to_string()), ("WEB_TOKEN", TOKEN)],
    );
    assert!(
        gw.wait_log("dashboard page served", WAIT),
        "{}",
        gw.log_text()
    );
    // Without the token: nothing.
    assert_eq!(http("127.0.0.1", web, "/", "").0, 401);
    assert_eq!(http("127.0.0.1", web, "/api/state", "").0, 401);

    let door = Baresip::start(&dir, &BaresipOptions::direct("door"));
    let r = door
        .command("dial", &format!("sip:hasip@{}", gw.sip))
        .expect("dial response");
    assert_eq!(r["ok"], true, "{r}");
    gw.wait_event("incoming_call", WAIT)
        .expect("the gateway rings");

    let log = dir.file("browser.log");
    let mut child = Command::new("node")
        .arg(browser.join("answer.mjs"))
        .arg(format!("http://{web}/?token={TOKEN}"))
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("browser log"))
        .spawn()
        .expect("node answer.mjs");
    dir.attach_log(log);
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let mut node = Guard::new("node", child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let step = |want: &str| {
        let got = rx.recv_timeout(WAIT).unwrap_or_default();
        assert_eq!(got, want, "the browser's step");
    };
    step("RINGING");
    step("ANSWERED");
    door.wait_event("CALL_ESTABLISHED", WAIT)
        .expect("the page's Answer picked up the door's call");
    gw.wait_event("call_established", WAIT)
        .expect("gateway: established");
    step("DIGIT");
    let digit = door
        .wait_event("CALL_DTMF_START", WAIT)
        .expect("the door received the page's digit");
    assert_eq!(digit["param"], "5", "{digit}");
    writeln!(stdin, "HANGUP").expect("to the browser");
    step("DONE");
    door.wait_event("CALL_CLOSED", WAIT)
        .expect("the page's Hang up ended the SIP call");
    gw.wait_event("call_disconnected", WAIT)
        .expect("gateway: disconnected");
    let status = node.wait_exit(WAIT).expect("the browser script ended");
    assert!(status.success(), "the browser script failed");
    for shot in [
        "ringing-desktop",
        "ringing-phone",
        "in-call-desktop",
        "in-call-phone",
    ] {
        let png = dir.file(&format!("{shot}.png"));
        let len = std::fs::metadata(&png).map_or(0, |m| m.len());
        assert!(len > 1_000, "{} ({len} bytes)", png.display());
    }
    // The screenshots are in the test's directory, kept when the test fails.
}

#[test]
fn in_the_add_on_only_the_ingress_peer_is_served_under_its_path() {
    let dir = WorkDir::new("dashboard-ingress");
    let port = ports::free_port();
    let gw = Gateway::start_env(
        &dir,
        Some(&options()),
        &[],
        &[
            ("SUPERVISOR_TOKEN", "test"),
            ("INGRESS_PORT", &port.to_string()),
            ("INGRESS_PEER", "127.0.0.2"),
        ],
    );
    assert!(
        gw.wait_log("dashboard page served", WAIT),
        "{}",
        gw.log_text()
    );
    let web = SocketAddr::from(([127, 0, 0, 1], port));
    // Anyone else on the network: refused, token or not.
    let (code, _) = http("127.0.0.1", web, "/", "");
    assert_eq!(code, 403);
    // The Supervisor's proxy, with the path prefix the browser sees.
    let (code, body) = http(
        "127.0.0.2",
        web,
        "/",
        "X-Ingress-Path: /api/hassio_ingress/AbC_12-x\r\n",
    );
    assert_eq!(code, 200);
    assert!(
        body.contains(r#"<base href="/api/hassio_ingress/AbC_12-x/">"#),
        "{body}"
    );
    let (code, state) = http("127.0.0.2", web, "/api/state", "");
    assert_eq!(code, 200);
    let state: serde_json::Value = serde_json::from_str(&state).expect("JSON");
    assert_eq!(state["accounts"][0]["registration"], "direct", "{state}");
    // Nothing else of the gateway waited for the page.
    let up = wait_for(WAIT, Duration::from_millis(20), || {
        gw.log_text().contains("SIP ready").then_some(())
    });
    assert!(up.is_some());
}

#[test]
fn the_menu_checker_and_simulator_on_the_page_say_what_the_command_line_says() {
    for p in ["chromium", "node", "npm"] {
        assert!(have(p), "{p} is needed: run ./build.sh test");
    }
    let browser = node::peer(
        "browser",
        &["package.json", "package-lock.json", "menu.mjs"],
        "node_modules/playwright-core/package.json",
    );
    let dir = WorkDir::new("dashboard-menu");
    let menu = dir.file("door.yaml");
    std::fs::write(
        &menu,
        "menu:\n  message: Press 1 to open\n  choices:\n    '1':\n      message: Opening\n      post_action: hangup\n",
    )
    .expect("write the menu");
    let mut o = options();
    o["sip"]["incoming_call_file"] = json!(menu.to_string_lossy());
    o["sip"]["answer_mode"] = json!("accept");
    let web = SocketAddr::from(([127, 0, 0, 1], ports::free_port()));
    let gw = Gateway::start_env(
        &dir,
        Some(&o),
        &[],
        &[("WEB_LISTEN", &web.to_string()), ("WEB_TOKEN", TOKEN)],
    );
    assert!(
        gw.wait_log("dashboard page served", WAIT),
        "{}",
        gw.log_text()
    );
    let out = Command::new("node")
        .arg(browser.join("menu.mjs"))
        .arg(format!("http://{web}/?token={TOKEN}"))
        .arg(dir.path())
        .output()
        .expect("node menu.mjs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let section = |name: &str| {
        text.split(&format!("--- {name}\n"))
            .nth(1)
            .and_then(|s| s.split("\n--- ").next())
            .map(|s| s.trim_end_matches("DONE\n").trim().to_owned())
            .unwrap_or_default()
    };
    // The same as `hasip menu check` and `hasip menu simulate --digits 1` on the file.
    let cli = |args: &[&str]| {
        let o = Command::new(hasip_tests::gateway::binary())
            .arg("menu")
            .args(args)
            .arg(&menu)
            .output()
            .expect("hasip menu");
        String::from_utf8_lossy(&o.stdout).trim().to_owned()
    };
    assert_eq!(section("check"), cli(&["check"]));
    let simulated = section("simulate");
    assert_eq!(simulated, cli(&["simulate", "--digits", "1"]));
    assert!(simulated.contains("Opening"), "{simulated}");
    let broken = section("broken");
    assert!(
        broken.starts_with("error:") && broken.contains(":4:"),
        "the loader's error with its line: {broken}"
    );
}

#[test]
fn only_the_recordings_of_this_gateway_are_served_to_the_page() {
    require_baresip();
    let dir = WorkDir::new("dashboard-recordings");
    let web = SocketAddr::from(([127, 0, 0, 1], ports::free_port()));
    let mut o = options();
    o["sip"]["answer_mode"] = json!("accept");
    let mut gw = Gateway::start_env(
        &dir,
        Some(&o),
        &[],
        &[("WEB_LISTEN", &web.to_string()), ("WEB_TOKEN", TOKEN)],
    );
    let door = Baresip::start(&dir, &BaresipOptions::direct("door"));
    door.command("dial", &format!("sip:hasip@{}", gw.sip))
        .expect("dial");
    let call = gw
        .wait_event("call_established", WAIT)
        .expect("established");
    let id = call["internal_id"]
        .as_str()
        .expect("internal_id")
        .to_owned();
    let wav = dir.file("door.wav");
    let path = wav.to_string_lossy().into_owned();
    gw.command(
        &json!({"command": "start_recording", "number": id, "recording_file": path}).to_string(),
    );
    gw.wait_event("recording_started", WAIT)
        .expect("recording_started");
    gw.command(&json!({"command": "stop_recording", "number": id}).to_string());
    gw.wait_event("recording_stopped", WAIT)
        .expect("recording_stopped");
    let auth = format!("Authorization: Bearer {TOKEN}\r\n");
    let (code, state) = http("127.0.0.1", web, "/api/state", &auth);
    assert_eq!(code, 200);
    assert!(state.contains(&path), "{state}");
    let query = |p: &str| {
        format!(
            "/api/recording?path={}",
            p.replace('%', "%25").replace('/', "%2F")
        )
    };
    let (code, body) = http("127.0.0.1", web, &query(&path), &auth);
    assert_eq!(code, 200, "{body}");
    assert!(body.starts_with("RIFF"), "a WAV file");
    // Any other file: not served, even one that exists.
    let (code, _) = http("127.0.0.1", web, &query("/etc/passwd"), &auth);
    assert_eq!(code, 404);
}

fn require_baresip() {
    assert!(have("baresip"), "baresip is needed: run ./build.sh test");
}

/// Talk (issue 19): the door (baresip) says a 600 Hz tone; the browser's microphone (a
/// fake device playing a 1 kHz tone) talks in the call over WebRTC. The page hears 600 Hz
/// (measured in the page with WebAudio); the door's recording holds the 1 kHz tone; hanging
/// up in the page ends the SIP call.
#[test]
fn talk_from_the_browser_the_door_hears_it_and_the_page_hears_the_door() {
    for p in ["chromium", "node", "npm", "baresip", "sox"] {
        assert!(have(p), "{p} is needed: run ./build.sh test");
    }
    let browser = node::peer(
        "browser",
        &["package.json", "package-lock.json", "talk.mjs"],
        "node_modules/playwright-core/package.json",
    );
    let dir = WorkDir::new("dashboard-talk");
    let door_says = dir.file("door.wav");
    hasip_tests::audio::tone_wav(&door_says, 600, 30);
    let mic = dir.file("mic.wav");
    hasip_tests::audio::sox(&[
        "-n",
        "-r",
        "48000",
        "-c",
        "1",
        "-b",
        "16",
        mic.to_str().expect("path"),
        "synth",
        "30",
        "sine",
        "1000",
        "gain",
        "-6",
    ]);
    let web = SocketAddr::from(([127, 0, 0, 1], ports::free_port()));
    let gw = Gateway::start_env(
        &dir,
        Some(&options()),
        &[],
        &[("WEB_LISTEN", &web.to_string()), ("WEB_TOKEN", TOKEN)],
    );
    let mut o = BaresipOptions::direct("door");
    o.source = Some(door_says);
    let door = Baresip::start(&dir, &o);
    let r = door
        .command("dial", &format!("sip:hasip@{}", gw.sip))
        .expect("dial response");
    assert_eq!(r["ok"], true, "{r}");
    gw.wait_event("incoming_call", WAIT)
        .expect("the gateway rings");

    let log = dir.file("browser.log");
    let mut child = Command::new("node")
        .arg(browser.join("talk.mjs"))
        .arg(format!("http://{web}/?token={TOKEN}"))
        .arg(&mic)
        .arg("600")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("browser log"))
        .spawn()
        .expect("node talk.mjs");
    dir.attach_log(log);
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let mut node = Guard::new("node", child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let step = |want: &str| {
        let got = rx.recv_timeout(WAIT * 2).unwrap_or_default();
        assert!(
            got.starts_with(want),
            "the browser's step: {got:?}, wanted {want}"
        );
        got
    };
    step("CONNECTED");
    door.wait_event("CALL_ESTABLISHED", WAIT)
        .expect("Talk answered the door's call");
    let heard = step("HEARD");
    let freq: f64 = heard
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .expect("a frequency");
    assert!((freq - 600.0).abs() <= 40.0, "the page heard {freq} Hz");
    writeln!(stdin, "HANGUP").expect("to the browser");
    step("DONE");
    door.wait_event("CALL_CLOSED", WAIT)
        .expect("the page's Hang up ended the SIP call");
    let status = node.wait_exit(WAIT).expect("the browser script ended");
    assert!(status.success(), "the browser script failed");
    // What the door heard: the browser's 1 kHz, for as long as the talk lasted.
    let (dec, _) = wait_for(WAIT, Duration::from_millis(50), || door.recordings())
        .expect("the door recorded the call");
    let heard = hasip_tests::audio::read_wav(&dec);
    let samples = heard.channels.into_iter().next().unwrap_or_default();
    let (from, to) = hasip_tests::audio::active_span(&samples, heard.rate, 0.01)
        .unwrap_or_else(|| panic!("the door heard nothing from the browser"));
    let loud = hasip_tests::audio::trim(&samples, heard.rate, 0.01, 0.0);
    let share = hasip_tests::audio::tone_share(loud, heard.rate, 1000.0);
    assert!(
        to - from >= 0.8 && share > 0.5,
        "the door heard {from:.2}-{to:.2} s with a 1 kHz share of {share:.2}"
    );
}
