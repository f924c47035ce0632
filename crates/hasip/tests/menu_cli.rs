//! `hasip menu check` and `hasip menu simulate` on the real binary: every menu file in
//! `examples/` checks and simulates; a broken file is reported with file, line, column
//! and key path, and exit code 2.

use std::path::{Path, PathBuf};
use std::process::Command;

fn hasip(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hasip"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run hasip");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    files
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hasip-menu-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write menu file");
    p
}

#[test]
fn every_example_checks_and_simulates() {
    let files = examples();
    assert!(
        files.len() >= 8,
        "the README's menu examples are in examples/: {files:?}"
    );
    for f in files {
        let path = f.to_str().expect("utf-8 path");
        let (code, out, err) = hasip(&["menu", "check", path]);
        assert_eq!(code, 0, "{path}: {out}{err}");
        assert!(out.contains("is valid"), "{path}: {out}");
        assert!(
            out.lines().any(|l| l.starts_with("menu")),
            "{path} prints its tree: {out}"
        );

        for digits in ["1234#", "", "5432", "9"] {
            let (code, out, err) = hasip(&[
                "menu",
                "simulate",
                path,
                "--digits",
                digits,
                "--timeout-after",
                "400",
            ]);
            assert_eq!(code, 0, "{path} {digits}: {out}{err}");
            assert!(
                out.starts_with("+0.000s   call established\n"),
                "{path}: {out}"
            );
            let last = out.lines().last().unwrap_or_default();
            assert!(
                last.ends_with("hang up") || last.contains("caller hangs up"),
                "{path} {digits}: the call ends: {out}"
            );
        }
    }
}

#[test]
fn simulate_prints_the_transcript() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/dial-pin.yaml");
    let (code, out, err) = hasip(&[
        "menu",
        "simulate",
        path.to_str().expect("utf-8 path"),
        "--digits",
        "1234",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "\
+0.000s   call established
+0.000s   (enter /)
+0.000s   say \"Please enter your access code\"
+2.000s   event playback_done type=message message=\"Please enter your access code\"
+2.500s   caller presses 1
+2.500s   event dtmf_digit digit=\"1\"
+3.000s   caller presses 2
+3.000s   event dtmf_digit digit=\"2\"
+3.500s   caller presses 3
+3.500s   event dtmf_digit digit=\"3\"
+4.000s   caller presses 4
+4.000s   event dtmf_digit digit=\"4\"
+4.000s   (enter /1234)
+4.000s   event entered_menu menu_id=\"owner\"
+4.000s   say \"Welcome beautiful.\"
+6.000s   event playback_done type=message message=\"Welcome beautiful.\"
+6.000s   hang up
"
    );
}

#[test]
fn errors_name_file_line_column_and_key_path_and_exit_2() {
    let bad = temp_file(
        "incoming.yaml",
        "allowed_numbers:\n  - \"555{*}\"\nmenu:\n  message: Hi\n  choices:\n    '1234':\n      post_action: hangupp\n",
    );
    let path = bad.to_str().expect("utf-8 path");
    for args in [
        vec!["menu", "check", path],
        vec!["menu", "simulate", path, "--digits", "1"],
    ] {
        let (code, out, err) = hasip(&args);
        assert_eq!(code, 2, "{out}{err}");
        assert_eq!(
            err.trim(),
            format!(
                "error: {path}:7:20: menu.choices.'1234'.post_action: unknown action \"hangupp\", did you mean \"hangup\"?"
            )
        );
    }

    let unknown = temp_file("menu.yaml", "message: Hi\nwait_for_audio: true\n");
    let (code, _, err) = hasip(&["menu", "check", unknown.to_str().expect("utf-8 path")]);
    assert_eq!(code, 2);
    assert!(
        err.contains(
            ":2:1: unknown key \"wait_for_audio\", did you mean \"wait_for_audio_to_finish\"?"
        ),
        "{err}"
    );

    let (code, _, err) = hasip(&["menu", "check", "/nonexistent/menu.yaml"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/menu.yaml"), "{err}");

    let good = temp_file("good.yaml", "message: Hi\n");
    let good = good.to_str().expect("utf-8 path");
    let (code, _, err) = hasip(&["menu", "simulate", good, "--digits", "12x"]);
    assert_eq!(code, 2);
    assert!(err.contains("--digits"), "{err}");
    let (code, _, err) = hasip(&["menu", "simulate", good, "--timeout-after=-5"]);
    assert_eq!(code, 2);
    assert!(err.contains("--timeout-after"), "{err}");
}
