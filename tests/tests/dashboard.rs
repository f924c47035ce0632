//! The dashboard page (issue 19) in a real browser: Debian's chromium, headless, driven by
//! playwright-core (`tests/peers/browser/answer.mjs`). baresip, as the door, calls the
//! gateway in listen mode; the page shows the ringing call; a click answers it, a digit
//! button sends 5 (baresip receives it), a click hangs up (the SIP call ends). Screenshots
//! at desktop and phone widths go to the test's directory (kept when it fails) and the
//! page may not be wider than the window. Also: the token stand-alone, the ingress peer and
//! path prefix in the add-on, and Talk through an ingress stand-in, as a user of the add-on's
//! panel reaches it.

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

fn require(programs: &[&str]) {
    for p in programs {
        assert!(have(p), "{p} is needed: run ./build.sh test");
    }
}

/// A gateway serving the page stand-alone (on a free port, with [`TOKEN`]), and where.
fn gateway_with_page(dir: &WorkDir, options: &serde_json::Value) -> (Gateway, SocketAddr) {
    let web = SocketAddr::from(([127, 0, 0, 1], ports::free_port()));
    let gw = Gateway::start_env(
        dir,
        Some(options),
        &[],
        &[("WEB_LISTEN", &web.to_string()), ("WEB_TOKEN", TOKEN)],
    );
    assert!(
        gw.wait_log("dashboard page served", WAIT),
        "{}",
        gw.log_text()
    );
    (gw, web)
}

/// Where the Supervisor's ingress proxy comes from in these tests (172.30.32.2 in the add-on).
const INGRESS_PEER: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

/// A gateway as the add-on (`SUPERVISOR_TOKEN` set) serving the page on a free ingress port
/// to [`INGRESS_PEER`] only, and where.
fn gateway_in_the_add_on(dir: &WorkDir) -> (Gateway, SocketAddr) {
    let web = SocketAddr::from(([127, 0, 0, 1], ports::free_port()));
    let gw = Gateway::start_env(
        dir,
        Some(&options()),
        &[],
        &[
            ("SUPERVISOR_TOKEN", "test"),
            ("INGRESS_PORT", &web.port().to_string()),
            ("INGRESS_PEER", &INGRESS_PEER.to_string()),
        ],
    );
    assert!(
        gw.wait_log("dashboard page served", WAIT),
        "{}",
        gw.log_text()
    );
    (gw, web)
}

/// baresip as the door (`options`), calling the gateway until it rings.
fn door_calls(dir: &WorkDir, gw: &Gateway, options: &BaresipOptions) -> Baresip {
    let door = Baresip::start(dir, options);
    let r = door
        .command("dial", &format!("sip:hasip@{}", gw.sip))
        .expect("dial response");
    assert_eq!(r["ok"], true, "{r}");
    gw.wait_event("incoming_call", WAIT)
        .expect("the gateway rings");
    door
}

/// A script of `tests/peers/browser` driving chromium: its output lines are its steps,
/// its input lines what the test tells it.
struct Script {
    process: Guard,
    stdin: std::process::ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Script {
    fn start(dir: &WorkDir, script: &str, args: &[&std::ffi::OsStr]) -> Self {
        let browser = node::peer(
            "browser",
            &["package.json", "package-lock.json", "browser.mjs", script],
            "node_modules/playwright-core/package.json",
        );
        let log = dir.file(&format!("{script}.log"));
        let mut child = Command::new("node")
            .arg(browser.join(script))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("browser log"))
            .spawn()
            .unwrap_or_else(|e| panic!("node {script}: {e}"));
        dir.attach_log(log);
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            process: Guard::new("node", child),
            stdin,
            lines,
        }
    }

    /// The script's next line, which must start with `want`.
    fn step(&self, want: &str) -> String {
        let got = self.lines.recv_timeout(WAIT * 2).unwrap_or_default();
        assert!(
            got.starts_with(want),
            "the browser's step: {got:?}, wanted {want}"
        );
        got
    }

    fn say(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("to the browser");
    }

    /// Waits for the script to end and requires that it succeeded.
    fn succeeded(mut self) {
        let status = self
            .process
            .wait_exit(WAIT)
            .expect("the browser script ended");
        assert!(status.success(), "the browser script failed");
    }
}

#[test]
fn answer_send_a_digit_and_hang_up_from_the_page_in_chromium() {
    require(&["chromium", "node", "npm", "baresip"]);
    let dir = WorkDir::new("dashboard-answer");
    let (gw, web) = gateway_with_page(&dir, &options());
    // Without the token: nothing.
    assert_eq!(http("127.0.0.1", web, "/", "").0, 401);
    assert_eq!(http("127.0.0.1", web, "/api/state", "").0, 401);

    let door = door_calls(&dir, &gw, &BaresipOptions::direct("door"));

    let url = format!("http://{web}/?token={TOKEN}");
    let mut page = Script::start(&dir, "answer.mjs", &[url.as_ref(), dir.path().as_os_str()]);
    page.step("RINGING");
    page.step("ANSWERED");
    door.wait_event("CALL_ESTABLISHED", WAIT)
        .expect("the page's Answer picked up the door's call");
    gw.wait_event("call_established", WAIT)
        .expect("gateway: established");
    page.step("DIGIT");
    let digit = door
        .wait_event("CALL_DTMF_START", WAIT)
        .expect("the door received the page's digit");
    assert_eq!(digit["param"], "5", "{digit}");
    page.say("HANGUP");
    page.step("DONE");
    door.wait_event("CALL_CLOSED", WAIT)
        .expect("the page's Hang up ended the SIP call");
    gw.wait_event("call_disconnected", WAIT)
        .expect("gateway: disconnected");
    page.succeeded();
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
    let (_gw, web) = gateway_in_the_add_on(&dir);
    // Anyone else on the network: refused, token or not.
    let (code, _) = http("127.0.0.1", web, "/", "");
    assert_eq!(code, 403);
    // The Supervisor's proxy, with the path prefix the browser sees.
    let (code, body) = http(
        &INGRESS_PEER.to_string(),
        web,
        "/",
        "X-Ingress-Path: /api/hassio_ingress/AbC_12-x\r\n",
    );
    assert_eq!(code, 200);
    assert!(
        body.contains(r#"<base href="/api/hassio_ingress/AbC_12-x/">"#),
        "{body}"
    );
    let (code, state) = http(&INGRESS_PEER.to_string(), web, "/api/state", "");
    assert_eq!(code, 200);
    let state: serde_json::Value = serde_json::from_str(&state).expect("JSON");
    assert_eq!(state["accounts"][0]["registration"], "direct", "{state}");
}

#[test]
fn the_menu_checker_and_simulator_on_the_page_say_what_the_command_line_says() {
    require(&["chromium", "node", "npm"]);
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
    let (_gw, web) = gateway_with_page(&dir, &o);
    let url = format!("http://{web}/?token={TOKEN}");
    let page = Script::start(&dir, "menu.mjs", &[url.as_ref(), dir.path().as_os_str()]);
    // Everything it prints up to DONE (it exits then; a script that fails or hangs does
    // not succeed below).
    let mut text = String::new();
    while let Ok(line) = page.lines.recv_timeout(WAIT * 2) {
        if line == "DONE" {
            break;
        }
        text.push_str(&line);
        text.push('\n');
    }
    page.succeeded();
    let section = |name: &str| {
        text.split(&format!("--- {name}\n"))
            .nth(1)
            .and_then(|s| s.split("\n--- ").next())
            .map(|s| s.trim().to_owned())
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
    require(&["baresip"]);
    let dir = WorkDir::new("dashboard-recordings");
    let mut o = options();
    o["sip"]["answer_mode"] = json!("accept");
    let (mut gw, web) = gateway_with_page(&dir, &o);
    let _door = door_calls(&dir, &gw, &BaresipOptions::direct("door"));
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

/// Talk (issue 19): the door (baresip) says a 600 Hz tone; the browser's microphone (a
/// fake device playing a 1 kHz tone) talks in the call over WebRTC. The page hears 600 Hz
/// (measured in the page with WebAudio); the door's recording holds the 1 kHz tone; hanging
/// up in the page ends the SIP call.
/// What the door plays (a 600 Hz tone) and the browser's fake microphone (1 kHz).
fn talk_sounds(dir: &WorkDir) -> (std::path::PathBuf, std::path::PathBuf) {
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
    (door_says, mic)
}

/// `talk.mjs` has clicked Talk on the door's ringing call: the call is answered, the page
/// hears the door's 600 Hz, Hang up ends the SIP call, and the door heard the browser's
/// 1 kHz for as long as the talk lasted.
fn talk_until_hang_up(mut page: Script, door: &Baresip) {
    page.step("CONNECTED");
    door.wait_event("CALL_ESTABLISHED", WAIT)
        .expect("Talk answered the door's call");
    let heard = page.step("HEARD");
    let freq: f64 = heard
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .expect("a frequency");
    assert!((freq - 600.0).abs() <= 40.0, "the page heard {freq} Hz");
    page.say("HANGUP");
    page.step("DONE");
    door.wait_event("CALL_CLOSED", WAIT)
        .expect("the page's Hang up ended the SIP call");
    page.succeeded();
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

#[test]
fn talk_from_the_browser_the_door_hears_it_and_the_page_hears_the_door() {
    require(&["chromium", "node", "npm", "baresip", "sox"]);
    let dir = WorkDir::new("dashboard-talk");
    let (door_says, mic) = talk_sounds(&dir);
    let (gw, web) = gateway_with_page(&dir, &options());
    let mut o = BaresipOptions::direct("door");
    o.source = Some(door_says);
    let door = door_calls(&dir, &gw, &o);

    let url = format!("http://{web}/?token={TOKEN}");
    let page = Script::start(
        &dir,
        "talk.mjs",
        &[url.as_ref(), mic.as_os_str(), "600".as_ref()],
    );
    talk_until_hang_up(page, &door);
}

/// The add-on's panel as a user opens it: Chromium reaches the page through a stand-in of
/// Home Assistant's and the Supervisor's ingress proxies (`tests/peers/supervisor/
/// ingress.py`: path prefix, the Supervisor's address as the only peer, answers without a
/// length streamed), the gateway runs as the add-on. The page is open before the door
/// rings, so the ringing call reaches it through the proxy's event stream; Talk's offer
/// goes through the proxy, its media straight to the gateway's advertised address.
#[test]
fn talk_through_home_assistants_ingress_in_the_add_on() {
    require(&["chromium", "node", "npm", "baresip", "sox", "python3"]);
    let dir = WorkDir::new("dashboard-talk-ingress");
    let (door_says, mic) = talk_sounds(&dir);
    let (gw, web) = gateway_in_the_add_on(&dir);
    let ingress = hasip_tests::ingress::Ingress::start(&dir, web, INGRESS_PEER);
    let page = Script::start(
        &dir,
        "talk.mjs",
        &[ingress.url.as_ref(), mic.as_os_str(), "600".as_ref()],
    );
    let events = format!("{}/api/events", ingress.prefix);
    let streaming = wait_for(WAIT, Duration::from_millis(50), || {
        ingress
            .requests()
            .into_iter()
            .find(|r| r["path"].as_str().is_some_and(|p| p.starts_with(&events)))
    })
    .expect("the page opened its event stream through the proxy");
    assert_eq!(streaming["status"], 200, "{streaming}");
    assert_eq!(streaming["streamed"], true, "{streaming}");

    let mut o = BaresipOptions::direct("door");
    o.source = Some(door_says);
    let door = door_calls(&dir, &gw, &o);
    talk_until_hang_up(page, &door);

    let requests = ingress.requests();
    let served = |method: &str, path: &str, status: u64| {
        requests.iter().any(|r| {
            r["method"] == method
                && r["path"].as_str().is_some_and(|p| p.starts_with(path))
                && r["status"] == status
        })
    };
    assert!(
        served("GET", &format!("{}/", ingress.prefix), 200),
        "{requests:?}"
    );
    assert!(
        served("POST", &format!("{}/api/talk?call=", ingress.prefix), 201),
        "Talk's offer went through the proxy: {requests:?}"
    );
}
