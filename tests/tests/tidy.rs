//! Architecture rules, checked on every `cargo test` rather than remembered
//! (rust-analyzer's tidy test). See ARCHITECTURE.md, "Invariants".

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use hasip_tests::workspace_root;
use serde_json::Value;

/// Pure (sans-IO) crates: no runtime, sockets, clock, threads or files.
const PURE: [&str; 5] = [
    "hasip-sip",
    "hasip-media",
    "hasip-audio",
    "hasip-menu",
    "hasip-engine",
];

/// Crates that must never appear anywhere in a pure crate's dependency tree.
const FORBIDDEN_IN_PURE: [&str; 14] = [
    "tokio",
    "tokio-util",
    "tokio-rustls",
    "mio",
    "socket2",
    "reqwest",
    "hyper",
    "h2",
    "rumqttc",
    "async-std",
    "smol",
    "async-io",
    "hickory-resolver",
    "tracing-subscriber",
];

/// Internal dependency edges allowed by the design (ARCHITECTURE.md, "Code map").
fn allowed_edges() -> BTreeMap<&'static str, &'static [&'static str]> {
    BTreeMap::from([
        ("hasip-sip", &[][..]),
        ("hasip-media", &[][..]),
        ("hasip-audio", &[][..]),
        ("hasip-menu", &[][..]),
        (
            "hasip-engine",
            &["hasip-sip", "hasip-media", "hasip-menu"][..],
        ),
        (
            "hasip-bus",
            &["hasip-engine", "hasip-sip", "hasip-menu"][..],
        ),
        ("hasip-ha", &[][..]),
        ("hasip-trim", &[][..]),
        (
            "hasip",
            &[
                "hasip-sip",
                "hasip-media",
                "hasip-audio",
                "hasip-menu",
                "hasip-engine",
                "hasip-bus",
                "hasip-ha",
                "hasip-trim",
            ][..],
        ),
        (
            "hasip-tests",
            &[
                "hasip-sip",
                "hasip-media",
                "hasip-audio",
                "hasip-menu",
                "hasip-engine",
                "hasip-bus",
                "hasip-ha",
                "hasip",
            ][..],
        ),
    ])
}

/// The host triple, so that `cargo metadata` resolves for this platform only (and needs no
/// download of crates that only Windows or macOS builds use).
fn host_triple() -> String {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("run rustc -vV");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc -vV names the host")
}

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--offline",
            "--filter-platform",
        ])
        .arg(host_triple())
        .current_dir(workspace_root())
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata JSON")
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// Package id -> name, and id -> ids of its normal (non-dev, non-build) dependencies.
fn graph(meta: &Value) -> (BTreeMap<String, String>, BTreeMap<String, Vec<String>>) {
    let names = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| (str_of(&p["id"]).to_owned(), str_of(&p["name"]).to_owned()))
        .collect();
    let mut deps = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().into_iter().flatten() {
        let normal: Vec<String> = node["deps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|k| k["kind"].is_null())
            })
            .map(|d| str_of(&d["pkg"]).to_owned())
            .collect();
        deps.insert(str_of(&node["id"]).to_owned(), normal);
    }
    (names, deps)
}

#[test]
fn pure_crates_have_no_runtime_or_socket_crate_in_their_whole_tree() {
    let meta = metadata();
    let (names, deps) = graph(&meta);
    for pure in PURE {
        let root = names
            .iter()
            .find(|(_, n)| n.as_str() == pure)
            .map(|(id, _)| id.clone())
            .unwrap_or_else(|| panic!("{pure} is not in the workspace"));
        let mut seen = BTreeSet::new();
        let mut stack = vec![root];
        while let Some(id) = stack.pop() {
            if !seen.insert(id.clone()) {
                continue;
            }
            stack.extend(deps.get(&id).cloned().unwrap_or_default());
        }
        let bad: Vec<&str> = seen
            .iter()
            .filter_map(|id| names.get(id).map(String::as_str))
            .filter(|n| FORBIDDEN_IN_PURE.contains(n))
            .collect();
        assert!(
            bad.is_empty(),
            "{pure} is pure but its dependency tree has {bad:?}"
        );
    }
}

#[test]
fn internal_dependencies_follow_the_design() {
    let meta = metadata();
    let allowed = allowed_edges();
    let members: Vec<&Value> = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| str_of(&p["name"]).starts_with("hasip"))
        .collect();
    assert_eq!(
        members.len(),
        allowed.len(),
        "a crate was added or removed: update the design, ARCHITECTURE.md and this test"
    );
    for p in members {
        let name = str_of(&p["name"]);
        let ok = allowed
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in the design"));
        for d in p["dependencies"].as_array().into_iter().flatten() {
            let dep = str_of(&d["name"]);
            let is_dev = str_of(&d["kind"]) == "dev";
            if dep.starts_with("hasip") && !is_dev {
                assert!(
                    ok.contains(&dep),
                    "{name} -> {dep} goes against the design's dependency direction"
                );
            }
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn pure_crates_forbid_clock_threads_and_sockets_in_clippy() {
    let root = workspace_root();
    let first = read(&root.join("crates/hasip-sip/clippy.toml"));
    for needed in [
        "std::time::Instant::now",
        "std::time::SystemTime::now",
        "std::thread::spawn",
        "std::net::UdpSocket",
        "std::net::TcpStream",
        "std::net::TcpListener",
        "std::net::ToSocketAddrs::to_socket_addrs",
        "std::thread::sleep",
        "std::io::stdin",
        "std::process::Command::new",
        "std::fs::write",
        "std::fs::OpenOptions::open",
    ] {
        assert!(
            first.contains(needed),
            "crates/hasip-sip/clippy.toml does not forbid {needed}"
        );
    }
    for pure in PURE {
        let text = read(&root.join(format!("crates/{pure}/clippy.toml")));
        assert_eq!(
            text, first,
            "crates/{pure}/clippy.toml differs from hasip-sip's (clippy reads only the nearest file)"
        );
        // Invariant 5: no unwrap, expect or panic on input, enforced by these lints.
        let lib = read(&root.join(format!("crates/{pure}/src/lib.rs")));
        assert!(
            lib.contains(
                "#![warn(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]"
            ),
            "crates/{pure}/src/lib.rs does not warn on unwrap_used, expect_used and panic"
        );
    }
}

/// The one crate with `unsafe` blocks (ARCHITECTURE.md, invariant 4).
const UNSAFE_CRATE: &str = "crates/hasip-trim";

/// `[workspace.lints]`'s tables, and the unsafe crate's own, as "table key = value" lines.
fn lint_lines(manifest: &str, prefix: &str) -> BTreeSet<String> {
    let mut table = String::new();
    let mut out = BTreeSet::new();
    for line in manifest.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            table = name.to_owned();
        } else if let Some(kind) = table.strip_prefix(prefix)
            && !line.is_empty()
            && !line.starts_with('#')
        {
            out.insert(format!("{kind} {line}"));
        }
    }
    out
}

fn the_unsafe_crate_keeps_its_two_unsafe_calls(dir: &Path, workspace: &str) {
    let want: BTreeSet<String> = lint_lines(workspace, "workspace.lints.")
        .into_iter()
        .map(|l| l.replace("unsafe_code = \"forbid\"", "unsafe_code = \"deny\""))
        .collect();
    assert!(
        want.contains("rust unsafe_code = \"deny\""),
        "workspace lints: {want:?}"
    );
    assert_eq!(
        lint_lines(&read(&dir.join("Cargo.toml")), "lints."),
        want,
        "{}: the workspace's lints, unsafe_code denied",
        dir.display()
    );
    let lib = read(&dir.join("src/lib.rs"));
    assert!(lib.contains("#![deny(unsafe_code)]"));
    // madvise and malloc_trim, each in a function of its own.
    assert_eq!(lib.matches("#[allow(unsafe_code)]").count(), 2);
    assert_eq!(lib.matches("unsafe {").count(), 2);
    assert_eq!(lib.matches("// SAFETY:").count(), 2, "each block says why");
    let mut files = Vec::new();
    rust_files(&dir.join("src"), &mut files);
    assert_eq!(files.len(), 1, "{}: one file, src/lib.rs", dir.display());
}

#[test]
fn every_crate_inherits_the_workspace_lints_and_forbids_unsafe() {
    let root = workspace_root();
    let mut dirs: Vec<_> = std::fs::read_dir(root.join("crates"))
        .expect("crates/")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    dirs.push(root.join("tests"));
    let workspace = read(&root.join("Cargo.toml"));
    for dir in dirs {
        if dir.ends_with(UNSAFE_CRATE) {
            the_unsafe_crate_keeps_its_two_unsafe_calls(&dir, &workspace);
            continue;
        }
        let manifest = read(&dir.join("Cargo.toml"));
        assert!(
            manifest.contains("[lints]\nworkspace = true"),
            "{}: add `[lints] workspace = true`",
            dir.display()
        );
        let lib = dir.join("src/lib.rs");
        let main = dir.join("src/main.rs");
        let entry = if lib.is_file() { lib } else { main };
        assert!(
            read(&entry).contains("#![forbid(unsafe_code)]"),
            "{}: add #![forbid(unsafe_code)]",
            entry.display()
        );
    }
}

#[test]
fn docs_and_ci_agree_with_the_code() {
    let root = workspace_root();
    let arch = read(&root.join("ARCHITECTURE.md"));
    for name in allowed_edges().keys() {
        if *name != "hasip-tests" {
            assert!(
                arch.contains(&format!("crates/{name}")),
                "ARCHITECTURE.md does not describe crates/{name}"
            );
        }
    }
    for pure in PURE {
        assert!(arch.contains(pure), "ARCHITECTURE.md does not list {pure}");
    }
    let readme = read(&root.join("README.md"));
    let ci = read(&root.join(".ci/run"));
    assert!(
        readme.contains("./build.sh test"),
        "README.md must give the test command"
    );
    assert!(
        readme.contains("./build.sh run"),
        "README.md must give the run command"
    );
    assert!(
        ci.lines()
            .any(|l| l.trim_start().starts_with("exec ./build.sh test")
                || l.trim() == "./build.sh test"),
        ".ci/run must call the README's test command"
    );
    assert!(
        root.join("docs/compatibility.md").is_file(),
        "docs/compatibility.md is missing"
    );
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn saved_proptest_failures_are_replayed_and_every_fuzz_target_runs_in_ci() {
    let root = workspace_root();
    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files);
    rust_files(&root.join("tests"), &mut files);
    let off = ["failure_persistence", ": None"].concat();
    for f in &files {
        assert!(
            !read(f).contains(&off),
            "{} turns proptest's failure persistence off: a saved failure would never be replayed",
            f.display()
        );
    }
    // Each fuzz target has a committed corpus that `cargo test` replays, and
    // ./build.sh test runs fuzz/run.sh.
    let replay = read(&root.join("tests/tests/fuzz_corpus.rs"));
    let mut targets = Vec::new();
    rust_files(&root.join("fuzz/fuzz_targets"), &mut targets);
    assert!(targets.len() >= 5, "fuzz targets: {targets:?}");
    for t in &targets {
        let name = t.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        let corpus = root.join("fuzz/corpus").join(name);
        assert!(
            std::fs::read_dir(&corpus).is_ok_and(|mut d| d.next().is_some()),
            "fuzz target {name} has no corpus in {}",
            corpus.display()
        );
        assert!(
            replay.contains(&format!("fuzz/corpus/{name}")),
            "tests/tests/fuzz_corpus.rs does not replay fuzz/corpus/{name}"
        );
    }
    assert!(
        read(&root.join("build.sh")).contains("fuzz/run.sh"),
        "./build.sh test does not run the fuzz targets"
    );
}

/// Where RustSec's database cannot be fetched (CI), `./build.sh test` checks advisories
/// against `deny/advisories`: it must have been taken for every crate Cargo.lock takes from
/// a registry or Git, or a new dependency would go unchecked there.
#[test]
fn the_advisory_snapshot_covers_every_crate_of_the_lock_file() {
    let root = workspace_root();
    let snapshot = read(&root.join("deny/advisories/SNAPSHOT"));
    let taken: BTreeSet<&str> = snapshot
        .lines()
        .filter_map(|l| l.strip_prefix("crate "))
        .collect();
    let lock = read(&root.join("Cargo.lock"));
    // Packages from a registry or Git: the workspace's own have no `source`.
    let missing: BTreeSet<&str> = lock
        .split("[[package]]")
        .filter(|p| p.lines().any(|l| l.starts_with("source = ")))
        .filter_map(|p| {
            p.lines()
                .find_map(|l| l.strip_prefix("name = \"")?.strip_suffix('"'))
        })
        .filter(|name| !taken.contains(name))
        .collect();
    assert!(
        missing.is_empty(),
        "deny/advisories was not taken for {missing:?}: run deny/snapshot.sh"
    );
    assert!(
        snapshot.lines().any(|l| l.starts_with("date ")),
        "deny/advisories/SNAPSHOT has no date"
    );
    for dir in std::fs::read_dir(root.join("deny/advisories/crates"))
        .expect("read deny/advisories/crates")
        .filter_map(Result::ok)
    {
        let name = dir.file_name().to_string_lossy().into_owned();
        assert!(
            taken.contains(name.as_str()),
            "deny/advisories/crates/{name} is for no crate of the snapshot"
        );
    }
}
