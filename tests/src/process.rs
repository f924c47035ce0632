//! Child processes that are always stopped by their own pid: SIGTERM first, SIGKILL after
//! a grace period, also when the test panics.

use std::process::{Child, ExitStatus};
use std::time::Duration;

use crate::wait_for;

/// A child process stopped on drop.
#[derive(Debug)]
pub struct Guard {
    name: String,
    child: Option<Child>,
}

impl Guard {
    /// Takes ownership of a started child.
    pub fn new(name: &str, child: Child) -> Self {
        Self {
            name: name.to_owned(),
            child: Some(child),
        }
    }

    /// The pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends a signal (`TERM`, `INT`, …) to this process only.
    pub fn signal(&self, sig: &str) -> bool {
        std::process::Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The exit status, if the process has exited.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_for(timeout, Duration::from_millis(5), || self.try_status())
    }

    /// Stops the process: SIGTERM, then SIGKILL after `grace`. Returns the exit status.
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        if let Some(st) = self.try_status() {
            return Some(st);
        }
        self.signal("TERM");
        if let Some(st) = self.wait_exit(grace) {
            return Some(st);
        }
        eprintln!(
            "{} (pid {}) ignored SIGTERM; killing",
            self.name,
            self.pid()
        );
        let child = self.child.as_mut()?;
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.stop(Duration::from_secs(3));
    }
}
