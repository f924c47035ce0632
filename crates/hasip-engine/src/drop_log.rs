//! Logging of dropped input, limited per source so that a scanner or a broken peer cannot
//! flood the log.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use hasip_sip::transport::Peer;

/// Dropped input: one warning per source address per this interval; the rest are counted.
const DROPS: Duration = Duration::from_secs(10);
/// Refused calls: one warning per source per minute.
const REFUSALS: Duration = Duration::from_secs(60);
/// Sources remembered at once; the oldest is forgotten first.
const SOURCES: usize = 64;

#[derive(Debug)]
pub(crate) struct DropLog {
    interval: Duration,
    /// What the warning says happened.
    what: &'static str,
    /// (source, last warning, drops since then)
    recent: Vec<(IpAddr, Instant, u64)>,
}

impl Default for DropLog {
    fn default() -> Self {
        Self::drops()
    }
}

impl DropLog {
    /// For input dropped unanswered (one warning per source per 10 s).
    pub(crate) fn drops() -> Self {
        Self {
            interval: DROPS,
            what: "dropped SIP input",
            recent: Vec::new(),
        }
    }

    /// For calls refused by who-may-call (one warning per source per minute).
    pub(crate) fn refusals() -> Self {
        Self {
            interval: REFUSALS,
            what: "refused a call",
            recent: Vec::new(),
        }
    }

    pub(crate) fn note(&mut self, now: Instant, source: Peer, why: &str) {
        let ip = source.addr.ip();
        let what = self.what;
        if let Some(entry) = self.recent.iter_mut().find(|(a, _, _)| *a == ip) {
            if now.saturating_duration_since(entry.1) < self.interval {
                entry.2 += 1;
                tracing::debug!(%source.addr, why, "{what}");
                return;
            }
            let suppressed = std::mem::take(&mut entry.2);
            entry.1 = now;
            tracing::warn!(%source.addr, transport = %source.transport, why, suppressed, "{what}");
            return;
        }
        if self.recent.len() >= SOURCES {
            self.recent.remove(0);
        }
        self.recent.push((ip, now, 0));
        tracing::warn!(%source.addr, transport = %source.transport, why, "{what}");
    }

    #[cfg(test)]
    pub(crate) fn suppressed(&self, ip: IpAddr) -> Option<u64> {
        self.recent.iter().find(|(a, _, _)| *a == ip).map(|e| e.2)
    }
}
