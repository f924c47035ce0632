//! Node.js peers (`tests/peers/NAME`: a package.json, its lock file and scripts): copied
//! next to the test binaries and installed once per machine with `npm ci`, under a file
//! lock so that tests running side by side install once.

use std::path::PathBuf;
use std::process::Command;

use crate::{gateway, workspace_root};

/// The directory of peer `name`, with `files` copied from `tests/peers/NAME` and its
/// packages installed (`installed`, a path under it, tells that they are).
///
/// # Panics
/// When the files cannot be copied or `npm ci` fails (its error attached).
pub fn peer(name: &str, files: &[&str], installed: &str) -> PathBuf {
    let dir = gateway::binary()
        .parent()
        .map_or_else(|| std::env::temp_dir().join(name), |p| p.join(name));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let lock = std::fs::File::create(dir.join(".lock")).unwrap_or_else(|e| panic!("{e}"));
    lock.lock().unwrap_or_else(|e| panic!("lock: {e}"));
    let src = workspace_root().join("tests/peers").join(name);
    for f in files {
        std::fs::copy(src.join(f), dir.join(f)).unwrap_or_else(|e| panic!("copy {f}: {e}"));
    }
    if !dir.join(installed).exists() {
        let out = Command::new("npm")
            .args(["ci", "--silent", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .output()
            .unwrap_or_else(|e| panic!("npm ci: {e}"));
        assert!(
            out.status.success(),
            "npm ci in {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    dir
}
