//! The command line and configuration errors of the real binary: each bad configuration
//! stops start-up with a message that names the field, and exits non-zero.

use std::process::Command;

fn hasip(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hasip"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run hasip");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

fn config_file(name: &str, json: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("hasip-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let p = dir.join(name);
    std::fs::write(&p, json).expect("write config");
    p
}

#[test]
fn version_is_printed() {
    let (code, out) = hasip(&["--version"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("hasip 0."), "{out}");
}

#[test]
fn configuration_errors_name_the_field_and_exit_non_zero() {
    let cases = [
        (
            "unknown-key.json",
            r#"{"sip_global": {"port": 5060, "prots": 1}}"#,
            "sip_global.prots: unknown field `prots`, expected one of `port`",
        ),
        (
            "wrong-type.json",
            r#"{"sip": {"settle_time": "soon"}}"#,
            "sip.settle_time: invalid type",
        ),
        (
            "port-range.json",
            r#"{"sip_global": {"port": 65536}}"#,
            "sip_global.port: 65536 is out of range (1-65535)",
        ),
        (
            "zero-port.json",
            r#"{"sip_global": {"port": 0}}"#,
            "sip_global.port: 0 is out of range (1-65535)",
        ),
        (
            "answer-mode.json",
            r#"{"sip_3": {"answer_mode": "pickup"}}"#,
            "sip_3.answer_mode: unknown answer mode \"pickup\"",
        ),
        ("not-json.json", "{sip_global:", "not valid JSON"),
    ];
    for (name, json, expected) in cases {
        let path = config_file(name, json);
        for sub in [&["--config"][..], &["check-config", "--config"][..]] {
            let mut args: Vec<&str> = sub.to_vec();
            let p = path.to_string_lossy().into_owned();
            args.push(&p);
            let (code, out) = hasip(&args);
            assert_eq!(code, 2, "{name} {sub:?}: exit code\n{out}");
            assert!(
                out.contains(expected),
                "{name} {sub:?}: expected {expected:?} in\n{out}"
            );
            assert!(
                out.contains(name),
                "{name}: the message names the file\n{out}"
            );
        }
    }
}

#[test]
fn missing_config_file_is_named() {
    let (code, out) = hasip(&["--config", "/nonexistent/options.json"]);
    assert_eq!(code, 2);
    assert!(
        out.contains("cannot read configuration /nonexistent/options.json"),
        "{out}"
    );
}

#[test]
fn port_flag_is_range_checked() {
    let (code, out) = hasip(&["--port", "70000"]);
    assert_ne!(code, 0);
    assert!(out.contains("--port"), "{out}");
}

#[test]
fn check_config_accepts_the_embedded_default_and_the_examples() {
    let (code, out) = hasip(&["check-config"]);
    assert_eq!(code, 0, "{out}");
    let examples =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/options.json");
    let (code, out) = hasip(&["check-config", "--config", &examples.to_string_lossy()]);
    assert_eq!(code, 0, "{out}");
}
