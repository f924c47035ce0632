//! A per-test directory for configs and logs. When the test fails, every log registered
//! here is printed (into the test's captured output) and the directory is kept.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// The directory, and the logs to show if the test fails.
#[derive(Debug)]
pub struct WorkDir {
    path: PathBuf,
    logs: RefCell<Vec<PathBuf>>,
}

impl WorkDir {
    /// Creates `$TMPDIR/hasip-tests/<name>-<pid>-<n>`.
    ///
    /// # Panics
    /// When the directory cannot be created.
    pub fn new(name: &str) -> Self {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir()
            .join("hasip-tests")
            .join(format!("{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        Self {
            path,
            logs: RefCell::new(Vec::new()),
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path inside the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Registers a log to print if the test fails.
    pub fn attach_log(&self, path: PathBuf) {
        self.logs.borrow_mut().push(path);
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for log in self.logs.borrow().iter() {
                let text = std::fs::read(log)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_else(|e| format!("(cannot read: {e})"));
                let tail: String = {
                    let lines: Vec<&str> = text.lines().collect();
                    let start = lines.len().saturating_sub(200);
                    lines[start..].join("\n")
                };
                eprintln!(
                    "\n===== {} (last 200 lines) =====\n{tail}\n===== end =====",
                    log.display()
                );
            }
            eprintln!("test files kept in {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
