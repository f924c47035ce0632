//! Reception statistics of one source (RFC 3550 Appendix A.1, A.3 and A.8): extended
//! sequence numbers, duplicates, loss, interarrival jitter, and the report block they make.

use crate::rtcp::ReportBlock;

/// RFC 3550 A.1: a jump larger than this is a restart, not loss.
const MAX_DROPOUT: u16 = 3000;
/// RFC 3550 A.1: packets this far behind are late, not a restart.
const MAX_MISORDER: u16 = 100;

/// How a packet's sequence number relates to what came before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqStatus {
    /// In order or with a gap: use it.
    Fresh,
    /// Older than the newest, not seen before: use it (decoders cope).
    Late,
    /// Seen already: drop it.
    Duplicate,
}

/// Statistics of one remote source.
#[derive(Debug, Clone, Default)]
pub struct ReceiveStats {
    initialised: bool,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    /// Bit i set: sequence `max_seq - i` was received.
    window: u64,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    transit: Option<i64>,
    /// Jitter in timestamp units, scaled by 16 (RFC 3550 A.8).
    jitter_q4: u64,
}

impl ReceiveStats {
    /// Records a packet: its sequence number, RTP timestamp and arrival time in the same
    /// clock units (for jitter). Returns whether to use it.
    pub fn record(&mut self, seq: u16, ts: u32, arrival: u64) -> SeqStatus {
        if !self.initialised {
            self.restart(seq);
            self.initialised = true;
            self.received = 1;
            self.update_jitter(ts, arrival);
            return SeqStatus::Fresh;
        }
        let delta = seq.wrapping_sub(self.max_seq);
        let status = if delta == 0 {
            SeqStatus::Duplicate
        } else if delta < MAX_DROPOUT {
            // In order, with a permissible gap.
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(1 << 16);
            }
            self.window = if delta >= 64 { 0 } else { self.window << delta };
            self.window |= 1;
            self.max_seq = seq;
            SeqStatus::Fresh
        } else if delta <= u16::MAX - MAX_MISORDER {
            // A very large jump: RFC 3550 accepts it as a restart after two in a row.
            if u32::from(seq) == self.bad_seq {
                self.restart(seq);
                SeqStatus::Fresh
            } else {
                self.bad_seq = u32::from(seq.wrapping_add(1));
                return SeqStatus::Duplicate;
            }
        } else {
            // Behind the newest: late or a duplicate.
            let back = self.max_seq.wrapping_sub(seq);
            if back < 64 {
                let bit = 1u64 << back;
                if self.window & bit != 0 {
                    return SeqStatus::Duplicate;
                }
                self.window |= bit;
            }
            SeqStatus::Late
        };
        if status != SeqStatus::Duplicate {
            self.received = self.received.wrapping_add(1);
            self.update_jitter(ts, arrival);
        }
        status
    }

    fn restart(&mut self, seq: u16) {
        self.max_seq = seq;
        self.cycles = 0;
        self.base_seq = u32::from(seq);
        self.bad_seq = u32::from(seq) + (1 << 16) + 1;
        self.window = 1;
        self.received = 0;
        self.expected_prior = 0;
        self.received_prior = 0;
    }

    fn update_jitter(&mut self, ts: u32, arrival: u64) {
        let transit = arrival as i64 - i64::from(ts);
        if let Some(prev) = self.transit {
            // Timestamps wrap at 2^32; so does the difference of transits.
            let d = i64::from((transit.wrapping_sub(prev) as i32).unsigned_abs());
            let j = self.jitter_q4 as i64;
            self.jitter_q4 = (j + d - ((j + 8) >> 4)).max(0) as u64;
        }
        self.transit = Some(transit);
    }

    /// The extended highest sequence number received.
    pub fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    /// Packets expected from the first to the newest sequence number.
    pub fn expected(&self) -> u32 {
        if !self.initialised {
            return 0;
        }
        self.extended_max()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1)
    }

    /// Packets received (duplicates excluded).
    pub fn received(&self) -> u32 {
        self.received
    }

    /// Packets lost so far (negative when late duplicates slipped through).
    pub fn lost(&self) -> i64 {
        i64::from(self.expected()) - i64::from(self.received)
    }

    /// Interarrival jitter in timestamp units.
    pub fn jitter(&self) -> u32 {
        (self.jitter_q4 >> 4) as u32
    }

    /// The report block for this source (RFC 3550 A.3), resetting the interval counts.
    pub fn report_block(
        &mut self,
        ssrc: u32,
        last_sr: u32,
        delay_since_last_sr: u32,
    ) -> ReportBlock {
        let expected = self.expected();
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        };
        ReportBlock {
            ssrc,
            fraction_lost,
            cumulative_lost: self.lost().clamp(-0x80_0000, 0x7F_FFFF) as i32,
            highest_sequence: self.extended_max(),
            jitter: self.jitter(),
            last_sr,
            delay_since_last_sr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3550_a1_sequence_tracking_with_wrap_loss_and_duplicates() {
        let mut s = ReceiveStats::default();
        let mut seq = 65_530u16;
        for _ in 0..10 {
            assert_eq!(s.record(seq, 0, 0), SeqStatus::Fresh);
            seq = seq.wrapping_add(1);
        }
        assert_eq!(s.extended_max(), (1 << 16) + 3);
        assert_eq!(s.expected(), 10);
        assert_eq!(s.lost(), 0);
        // Skip two, then a duplicate and a late one.
        assert_eq!(s.record(seq.wrapping_add(2), 0, 0), SeqStatus::Fresh);
        assert_eq!(s.record(seq.wrapping_add(2), 0, 0), SeqStatus::Duplicate);
        assert_eq!(s.record(seq, 0, 0), SeqStatus::Late);
        assert_eq!(s.record(seq, 0, 0), SeqStatus::Duplicate);
        assert_eq!(s.lost(), 1);
        let rb = s.report_block(7, 0, 0);
        assert_eq!(rb.cumulative_lost, 1);
        assert_eq!(rb.fraction_lost, (256 / 13) as u8);
        assert_eq!(rb.highest_sequence, (1 << 16) + 6);
    }

    #[test]
    fn rfc3550_a1_restart_after_two_sequential_jumps() {
        let mut s = ReceiveStats::default();
        s.record(100, 0, 0);
        assert_eq!(s.record(40_000, 0, 0), SeqStatus::Duplicate);
        assert_eq!(s.record(40_001, 0, 0), SeqStatus::Fresh);
        assert_eq!(s.expected(), 1);
    }

    #[test]
    fn rfc3550_a8_jitter() {
        let mut s = ReceiveStats::default();
        // Perfectly paced: no jitter.
        for k in 0..50u32 {
            s.record(k as u16, k * 160, u64::from(k) * 160);
        }
        assert_eq!(s.jitter(), 0);
        // Arrival alternating by 40 units: |D| is always 40, and the jitter converges to it.
        for k in 50..2000u32 {
            let wobble = if k % 2 == 0 { 40 } else { 0 };
            s.record(k as u16, k * 160, u64::from(k) * 160 + wobble);
        }
        assert!((35..=45).contains(&s.jitter()), "{}", s.jitter());
    }
}
