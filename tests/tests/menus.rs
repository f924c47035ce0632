//! Menus on real calls: an `incoming_call_file` PIN menu driven by a caller's DTMF (SIP
//! INFO from sipp), the events Home Assistant gets, the hang-up the menu asks for; and a
//! broken menu file stopping start-up with the file, line and key.

use std::time::Duration;

use hasip_tests::gateway::Gateway;
use hasip_tests::have;
use hasip_tests::sipp::{self, Transport};
use hasip_tests::workdir::WorkDir;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

const PIN_FILE: &str = "menu:
  message: Please enter your access code
  choices_are_pin: true
  choices:
    '1234':
      id: owner
      message: Welcome beautiful.
      post_action: hangup
    default:
      id: wrong_code
      message: Wrong code, please try again
      post_action: return
";

#[test]
fn pin_menu_from_an_incoming_call_file_takes_the_pin_and_hangs_up() {
    assert!(have("sipp"), "sipp is not installed: run ./build.sh test");
    let dir = WorkDir::new("menu-pin");
    let file = dir.file("incoming.yaml");
    std::fs::write(&file, PIN_FILE).expect("write menu file");
    let options = json!({
        "sip_global": {"log_level": 3},
        "sip": {"enabled": true, "registrar_uri": "", "id_uri": "sip:hasip@127.0.0.1",
                "answer_mode": "accept", "settle_time": 0, "incoming_call_file": file.to_string_lossy()}
    });
    let gw = Gateway::start_with(&dir, Some(&options), &[]);
    let run = sipp::run(
        &dir,
        "pin",
        include_str!("../sipp/uac_pin.xml"),
        gw.sip,
        Transport::Udp,
        WAIT,
    );
    assert!(run.passed(), "sipp: {:?}", run.received);
    gw.wait_event("call_disconnected", WAIT)
        .expect("call_disconnected");
    let events = gw.events();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        [
            "incoming_call",
            "call_established",
            "dtmf_digit",
            "dtmf_digit",
            "dtmf_digit",
            "dtmf_digit",
            "entered_menu",
            // No Home Assistant here, so "Welcome beautiful." cannot be spoken: the error
            // tone plays in its place and counts as played, as ha-sip's error.wav did.
            "playback_done",
            "call_disconnected"
        ]
    );
    let entered = events
        .iter()
        .find(|e| e["event"] == "entered_menu")
        .expect("entered_menu");
    assert_eq!(entered["menu_id"], "owner");
    let digits: String = events
        .iter()
        .filter(|e| e["event"] == "dtmf_digit")
        .filter_map(|e| e["digit"].as_str())
        .collect();
    assert_eq!(digits, "1234");
}

#[test]
fn a_broken_incoming_call_file_stops_start_up_naming_file_line_and_key() {
    let dir = WorkDir::new("menu-broken");
    let file = dir.file("incoming.yaml");
    std::fs::write(
        &file,
        PIN_FILE.replace("post_action: hangup", "post_action: hangupp"),
    )
    .expect("write");
    let options = dir.file("options.json");
    let json = json!({"sip": {"enabled": true, "id_uri": "sip:hasip@127.0.0.1", "incoming_call_file": file.to_string_lossy()}});
    std::fs::write(&options, json.to_string()).expect("write options");
    let out = std::process::Command::new(hasip_tests::gateway::binary())
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &hasip_tests::ports::free_port().to_string(),
            "--config",
        ])
        .arg(&options)
        .output()
        .expect("run hasip");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let name = file.to_string_lossy();
    assert!(err.contains("sip.incoming_call_file:"), "{err}");
    assert!(
        err.contains(&format!("{name}:8:20:")),
        "file and line named: {err}"
    );
    assert!(
        err.contains("menu.choices.'1234'.post_action"),
        "key path named: {err}"
    );
    assert!(err.contains("hangupp"), "{err}");
}

#[test]
fn quit_hangs_up_and_exits_cleanly() {
    let dir = WorkDir::new("menu-quit");
    let mut gw = Gateway::start(&dir);
    gw.command(r#"{"command": "quit"}"#);
    let status = gw.process().wait_exit(WAIT);
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        gw.log_text()
    );
    assert!(gw.log_text().contains("Quit."));
}

/// `hasip menu check` and `hasip menu simulate`, the real binary, on every menu and
/// incoming-call file in `examples/`: each is valid, and a simulated call (a key press,
/// then silence) runs through it to a hang-up.
#[test]
fn menu_check_and_simulate_run_on_every_example() {
    let dir = hasip_tests::workspace_root().join("examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    for f in &files {
        let out = std::process::Command::new(hasip_tests::gateway::binary())
            .args(["menu", "check"])
            .arg(f)
            .output()
            .expect("run hasip menu check");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {text}{}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("is valid"), "{}: {text}", f.display());
        let out = std::process::Command::new(hasip_tests::gateway::binary())
            .args(["menu", "simulate"])
            .arg(f)
            .args(["--digits", "1", "--timeout-after", "400"])
            .output()
            .expect("run hasip menu simulate");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}: {text}", f.display());
        assert!(
            text.contains("call established")
                && (text.contains("hang up") || text.contains("caller hangs up")),
            "{}: {text}",
            f.display()
        );
    }
    // A broken file is refused with exit code 2 and the position of the fault.
    let bad = std::env::temp_dir().join(format!("hasip-bad-menu-{}.yaml", std::process::id()));
    std::fs::write(&bad, "menu:\n  post_action: hangupp\n").expect("write");
    let out = std::process::Command::new(hasip_tests::gateway::binary())
        .args(["menu", "check"])
        .arg(&bad)
        .output()
        .expect("run hasip menu check");
    let _ = std::fs::remove_file(&bad);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(":2:") && err.contains("hangupp"), "{err}");
}
