//! Logging of dropped input, limited per source so that a scanner or a broken peer cannot
//! flood the log.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use hasip_sip::transport::Peer;

/// One warning per source address per this interval; the rest are counted.
const INTERVAL: Duration = Duration::from_secs(10);
/// Sources remembered at once; the oldest is forgotten first.
const SOURCES: usize = 64;

#[derive(Debug, Default)]
pub(crate) struct DropLog {
    /// (source, last warning, drops since then)
    recent: Vec<(IpAddr, Instant, u64)>,
}

impl DropLog {
    pub(crate) fn note(&mut self, now: Instant, source: Peer, why: &str) {
        let ip = source.addr.ip();
        if let Some(entry) = self.recent.iter_mut().find(|(a, _, _)| *a == ip) {
            if now.saturating_duration_since(entry.1) < INTERVAL {
                entry.2 += 1;
                tracing::debug!(%source.addr, why, "dropped");
                return;
            }
            let suppressed = std::mem::take(&mut entry.2);
            entry.1 = now;
            tracing::warn!(%source.addr, transport = %source.transport, why, suppressed, "dropped SIP input");
            return;
        }
        if self.recent.len() >= SOURCES {
            self.recent.remove(0);
        }
        self.recent.push((ip, now, 0));
        tracing::warn!(%source.addr, transport = %source.transport, why, "dropped SIP input");
    }

    #[cfg(test)]
    pub(crate) fn suppressed(&self, ip: IpAddr) -> Option<u64> {
        self.recent.iter().find(|(a, _, _)| *a == ip).map(|e| e.2)
    }
}
