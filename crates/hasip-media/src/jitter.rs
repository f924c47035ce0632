//! The playout buffer behind the recording and bridge taps: received audio, decoded, placed
//! by RTP timestamp into a sample FIFO that is read one frame per tick.
//!
//! It is a fixed-delay jitter buffer: reading starts once `delay` samples are buffered; a
//! gap in timestamps (lost packets) is filled with silence; a packet older than what was
//! already played (late or duplicated) is dropped; a jump of more than a second resyncs;
//! and when the remote clock runs fast the excess beyond `delay + slack` is dropped, so the
//! delay stays bounded.

use std::collections::VecDeque;

/// The largest timestamp gap filled with silence, in seconds; a larger jump resyncs.
const MAX_GAP_SECONDS: u32 = 1;

/// See the module docs.
#[derive(Debug, Clone)]
pub struct PlayoutBuffer {
    samples: VecDeque<i16>,
    /// RTP timestamp of the sample after the last one buffered.
    next_ts: Option<u32>,
    sample_rate: u32,
    clock_rate: u32,
    delay: usize,
    max: usize,
    primed: bool,
    underruns: u64,
    late: u64,
    trimmed: u64,
}

impl PlayoutBuffer {
    /// A buffer for PCM at `sample_rate` carried with an RTP clock of `clock_rate`, that
    /// holds `delay` samples before playing and at most `delay + slack`.
    pub fn new(sample_rate: u32, clock_rate: u32, delay: usize, slack: usize) -> Self {
        Self {
            samples: VecDeque::with_capacity(delay + slack + sample_rate as usize / 25),
            next_ts: None,
            sample_rate: sample_rate.max(1),
            clock_rate: clock_rate.max(1),
            delay,
            max: delay + slack,
            primed: false,
            underruns: 0,
            late: 0,
            trimmed: 0,
        }
    }

    fn to_samples(&self, units: u32) -> usize {
        (u64::from(units) * u64::from(self.sample_rate) / u64::from(self.clock_rate)) as usize
    }

    fn to_units(&self, samples: usize) -> u32 {
        (samples as u64 * u64::from(self.clock_rate) / u64::from(self.sample_rate)) as u32
    }

    /// Adds decoded audio whose first sample has RTP timestamp `ts`.
    pub fn push(&mut self, ts: u32, pcm: &[i16]) {
        if let Some(next) = self.next_ts {
            let delta = ts.wrapping_sub(next) as i32;
            let max_gap = (self.clock_rate * MAX_GAP_SECONDS) as i32;
            if delta < -max_gap || delta > max_gap {
                self.reset();
            } else if delta < 0 {
                // Late or duplicate: that time has been buffered already.
                self.late += 1;
                return;
            } else if delta > 0 {
                let gap = self.to_samples(delta as u32);
                self.samples.extend(std::iter::repeat_n(0, gap));
            }
        }
        self.samples.extend(pcm);
        self.next_ts = Some(ts.wrapping_add(self.to_units(pcm.len())));
        if self.samples.len() > self.max {
            let excess = self.samples.len() - self.delay;
            self.samples.drain(..excess);
            self.trimmed += excess as u64;
        }
    }

    /// Fills `out` with the next frame, silence where nothing was received.
    pub fn pop_frame(&mut self, out: &mut [i16]) {
        if !self.primed && self.samples.len() >= self.delay.max(1) {
            self.primed = true;
        }
        if !self.primed {
            out.fill(0);
            return;
        }
        let n = out.len().min(self.samples.len());
        for (o, s) in out.iter_mut().zip(self.samples.drain(..n)) {
            *o = s;
        }
        if n < out.len() {
            out[n..].fill(0);
            self.underruns += 1;
            self.primed = false;
        }
    }

    /// Forgets everything (a new source, or a jump in timestamps).
    pub fn reset(&mut self) {
        self.samples.clear();
        self.next_ts = None;
        self.primed = false;
    }

    /// How often reading found too little audio.
    pub fn underruns(&self) -> u64 {
        self.underruns
    }

    /// Packets that came after their time had been played (or twice).
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Samples dropped because more than `delay + slack` was buffered (a burst, or a
    /// remote clock running fast).
    pub fn trimmed(&self) -> u64 {
        self.trimmed
    }

    /// Samples buffered.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(v: i16) -> Vec<i16> {
        vec![v; 160]
    }

    #[test]
    fn plays_after_the_delay_in_timestamp_order() {
        let mut b = PlayoutBuffer::new(8000, 8000, 320, 800);
        let mut out = [0i16; 160];
        b.push(1000, &frame(1));
        b.pop_frame(&mut out);
        assert_eq!(out, [0; 160], "not primed yet");
        b.push(1160, &frame(2));
        b.pop_frame(&mut out);
        assert_eq!(out, [1; 160]);
        // Packet 1320 lost, 1480 arrives: the gap is silence.
        b.push(1480, &frame(4));
        b.pop_frame(&mut out);
        assert_eq!(out, [2; 160]);
        b.pop_frame(&mut out);
        assert_eq!(out, [0; 160]);
        // The lost packet arrives late: dropped.
        b.push(1320, &frame(3));
        assert_eq!(b.late(), 1);
        b.pop_frame(&mut out);
        assert_eq!(out, [4; 160]);
        assert_eq!(b.underruns(), 0);
        b.pop_frame(&mut out);
        assert_eq!(b.underruns(), 1);
    }

    #[test]
    fn g722_timestamps_count_half() {
        let mut b = PlayoutBuffer::new(16_000, 8000, 320, 1600);
        b.push(0, &[1; 320]);
        b.push(160, &[2; 320]);
        assert_eq!(b.len(), 640);
        b.push(480, &[3; 320]); // one 20 ms frame lost
        assert_eq!(b.len(), 640 + 320 + 320);
    }

    #[test]
    fn bounded_delay_and_resync() {
        let mut b = PlayoutBuffer::new(8000, 8000, 320, 480);
        for k in 0..20u32 {
            b.push(k * 160, &frame(k as i16));
        }
        assert!(b.len() <= 800);
        assert!(
            b.trimmed() > 0,
            "the burst beyond delay + slack was dropped"
        );
        b.push(1_000_000, &frame(9));
        assert_eq!(b.len(), 160, "a jump of more than a second starts over");
    }
}
