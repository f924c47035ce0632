//! In-band DTMF detection on decoded audio: Goertzel filters at the four row and four
//! column frequencies of ITU-T Q.23 over blocks of 102 samples at 8 kHz (12.75 ms; the
//! block scales with the sample rate, so 16 and 48 kHz audio is analysed as it is). Each
//! block is run as two halves whose complex results give both the block's tone powers and,
//! from the phase advance between the halves, each tone's actual frequency.
//!
//! A block *hits* a digit when all of these hold:
//!
//! - level: the strongest row and the strongest column each reach `min_level_dbm0`;
//! - twist: the column is at most `normal_twist_db` weaker and at most `reverse_twist_db`
//!   stronger than the row;
//! - relative peak: every other row (column) is `relative_peak_db` below the strongest;
//! - frequency: each tone is within `max_deviation` of its nominal frequency (Q.24: accept
//!   ±1.5 %, reject ±3.5 %), so a musical note a fraction of a semitone away does not count
//!   although the 78 Hz wide filters see it;
//! - energy: the two tones, measured at their actual frequencies, hold at least
//!   `min_tone_ratio` of the block's power, so broadband sound (speech, music, noise) with
//!   some energy at two DTMF frequencies does not count;
//! - purity: the column tone's second harmonic and the row tone's third (each measured at a
//!   multiple of the tone's actual frequency) are `min_harmonic_db` below their tones, and
//!   the column is not the row's second harmonic. DTMF tones are pure sines, while a voice
//!   or an instrument that puts partials on DTMF frequencies has harmonics above them. (The
//!   row's second harmonic is not used: it falls 4 % from a column frequency and sees the
//!   column tone's leakage.)
//!
//! A digit starts after `min_on` samples of hits (one block without a hit may interrupt
//! them: noise at 6 dB SNR can spoil a single block of a 40 ms tone) and ends after
//! `min_off` samples without it; both are counted in samples, never in wall time. Each
//! digit is reported twice: [`DetectorEvent::Started`] as soon as it has lasted `min_on`
//! (that is when a key press reaches Home Assistant, not when the key is let go), and
//! [`DetectorEvent::Ended`] with its duration in samples.

use std::collections::VecDeque;
use std::f32::consts::PI;
use std::time::Duration;

use crate::dtmf::{COL_HZ, Digit, ROW_HZ};

/// The first cut on the tones' share of the block's power, relative to `min_tone_ratio`.
const PREFILTER_RATIO: f32 = 0.7;

/// Amplitude of a 0 dBm0 sine in 16-bit PCM (G.711: +3.17 dBm0 is the full-scale sine of
/// amplitude 32124), normalised to ±1.
const DBM0_AMPLITUDE: f32 = 22_307.0 / 32_768.0;

/// Tuning of the in-band detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    /// The weakest tone accepted, per tone, in dBm0.
    pub min_level_dbm0: f32,
    /// How much weaker the column tone may be than the row tone, in dB.
    pub normal_twist_db: f32,
    /// How much stronger the column tone may be than the row tone, in dB.
    pub reverse_twist_db: f32,
    /// How far every other row (column) must be below the strongest, in dB.
    pub relative_peak_db: f32,
    /// The least share of the block's power the two tones must hold (0–1).
    pub min_tone_ratio: f32,
    /// The largest deviation of a tone from its nominal frequency, as a fraction.
    pub max_deviation: f32,
    /// How far the column tone's second and the row tone's third harmonic must be below
    /// their tones, in dB.
    pub min_harmonic_db: f32,
    /// The shortest tone reported (rounded up to whole blocks).
    pub min_on: Duration,
    /// The shortest gap that separates two digits (rounded up to whole blocks).
    pub min_off: Duration,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            min_level_dbm0: -36.0,
            // Q.24 asks for ±6 dB; noise at 6 dB SNR moves the measured twist by 2–3 dB.
            normal_twist_db: 10.0,
            reverse_twist_db: 10.0,
            relative_peak_db: 4.0,
            // At 6 dB SNR the tones hold about 0.8 of the power.
            min_tone_ratio: 0.7,
            max_deviation: 0.03,
            min_harmonic_db: 10.0,
            // Two blocks (25.5 ms): every tone of 40 ms or more holds two whole blocks.
            min_on: Duration::from_millis(25),
            min_off: Duration::from_millis(25),
        }
    }
}

/// A digit found in the audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectedDigit {
    /// The digit.
    pub digit: Digit,
    /// From the start of its first hit block to the end of its last, in samples.
    pub duration: u32,
    /// The sample rate of `duration`.
    pub sample_rate: u32,
}

/// What the detector reports, in the order it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectorEvent {
    /// A digit has lasted `min_on`: it is a digit.
    Started(Digit),
    /// That digit ended.
    Ended(DetectedDigit),
}

/// Hits of a digit that has not started yet.
#[derive(Debug, Clone, Copy)]
struct Pending {
    digit: Digit,
    hits: u32,
    start: u64,
    /// Whether the last block was a miss (one is forgiven).
    missed: bool,
}

#[derive(Debug, Clone, Copy)]
struct Active {
    digit: Digit,
    start: u64,
    last_hit_end: u64,
    misses: u32,
}

fn db(x: f32) -> f32 {
    10f32.powf(x / 10.0)
}

/// A complex number, just enough for Goertzel results.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct C(f32, f32);

impl C {
    fn mul(self, o: C) -> C {
        C(self.0 * o.0 - self.1 * o.1, self.0 * o.1 + self.1 * o.0)
    }
    fn conj(self) -> C {
        C(self.0, -self.1)
    }
    fn norm2(self) -> f32 {
        self.0 * self.0 + self.1 * self.1
    }
    fn expj(phase: f32) -> C {
        C(phase.cos(), phase.sin())
    }
}

/// Per-frequency constants of the half-block Goertzel filter.
#[derive(Debug, Clone, Copy, Default)]
struct Filter {
    freq: f32,
    /// 2 cos ω.
    k: f32,
    /// e^{−jω}: the last step of the filter.
    tail: C,
    /// e^{−jω(L−1)}: turns the filter output into the DFT value at the half's start.
    rot: C,
    /// e^{−jωL}: the phase of the second half relative to the first.
    shift: C,
}

/// Real Goertzel power of `x` at `freq` Hz, normalised like the block powers.
fn power_at(x: &[f32], freq: f32, rate: f32) -> f32 {
    let k = 2.0 * (2.0 * PI * freq / rate).cos();
    let (mut s1, mut s2) = (0f32, 0f32);
    for &v in x {
        let s0 = v + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let n = x.len().max(1) as f32;
    (s1 * s1 + s2 * s2 - k * s1 * s2) * 2.0 / (n * n)
}

/// The Goertzel DTMF detector for one direction of one call.
#[derive(Debug, Clone)]
pub struct InbandDetector {
    sample_rate: u32,
    block: usize,
    half: usize,
    filters: [Filter; 8],
    s1: [f32; 8],
    s2: [f32; 8],
    /// The first half's DFT values while the second half runs.
    first: [C; 8],
    /// The block's samples, for the checks that need a filter at a measured frequency.
    samples: Vec<f32>,
    energy: f32,
    position: u64,
    min_power: f32,
    normal_twist: f32,
    reverse_twist: f32,
    relative_peak: f32,
    min_ratio: f32,
    max_deviation: f32,
    harmonic: f32,
    min_on_blocks: u32,
    min_off_blocks: u32,
    pending: Option<Pending>,
    active: Option<Active>,
    out: VecDeque<DetectorEvent>,
}

impl InbandDetector {
    /// A detector for audio at `sample_rate` Hz.
    pub fn new(sample_rate: u32, config: DetectorConfig) -> Self {
        let rate = sample_rate.max(8000);
        // 102 samples at 8 kHz, scaled and kept even so that it splits into two halves.
        let half = ((51 * u64::from(rate) + 4000) / 8000) as usize;
        let block = 2 * half;
        let mut filters = [Filter::default(); 8];
        for (f, &freq) in filters.iter_mut().zip(ROW_HZ.iter().chain(COL_HZ.iter())) {
            let w = 2.0 * PI * freq / rate as f32;
            *f = Filter {
                freq,
                k: 2.0 * w.cos(),
                tail: C::expj(-w),
                rot: C::expj(-w * (half as f32 - 1.0)),
                shift: C::expj(-w * half as f32),
            };
        }
        let block_time = block as f64 / f64::from(rate);
        let blocks = |d: Duration| ((d.as_secs_f64() / block_time).ceil() as u32).max(1);
        Self {
            sample_rate: rate,
            block,
            half,
            filters,
            s1: [0.0; 8],
            s2: [0.0; 8],
            first: [C::default(); 8],
            samples: Vec::with_capacity(block),
            energy: 0.0,
            position: 0,
            min_power: DBM0_AMPLITUDE * DBM0_AMPLITUDE / 2.0 * db(config.min_level_dbm0),
            normal_twist: db(config.normal_twist_db),
            reverse_twist: db(config.reverse_twist_db),
            relative_peak: db(config.relative_peak_db),
            min_ratio: config.min_tone_ratio,
            max_deviation: config.max_deviation,
            harmonic: db(config.min_harmonic_db),
            min_on_blocks: blocks(config.min_on),
            min_off_blocks: blocks(config.min_off),
            pending: None,
            active: None,
            out: VecDeque::new(),
        }
    }

    /// The analysis block length in samples.
    pub fn block_len(&self) -> usize {
        self.block
    }

    /// Analyses more audio.
    pub fn process(&mut self, pcm: &[i16]) {
        let mut rest = pcm;
        while !rest.is_empty() {
            let filled = self.samples.len();
            let boundary = if filled < self.half {
                self.half
            } else {
                self.block
            };
            let take = (boundary - filled).min(rest.len());
            let (now, later) = rest.split_at(take);
            self.feed(now);
            rest = later;
            if self.samples.len() == self.half {
                self.first = self.half_result();
            } else if self.samples.len() == self.block {
                let second = self.half_result();
                let hit = self.classify(&second);
                self.samples.clear();
                self.energy = 0.0;
                self.end_block(hit);
            }
        }
    }

    fn feed(&mut self, pcm: &[i16]) {
        let (mut s1, mut s2) = (self.s1, self.s2);
        let k = self.filters.map(|f| f.k);
        let mut energy = self.energy;
        for &s in pcm {
            let x = f32::from(s) * (1.0 / 32_768.0);
            energy += x * x;
            self.samples.push(x);
            for i in 0..8 {
                let s0 = x + k[i] * s1[i] - s2[i];
                s2[i] = s1[i];
                s1[i] = s0;
            }
        }
        self.s1 = s1;
        self.s2 = s2;
        self.energy = energy;
    }

    /// The DFT values of the half that just ended (relative to its start); resets the
    /// filters for the next half.
    fn half_result(&mut self) -> [C; 8] {
        let mut out = [C::default(); 8];
        for (i, f) in self.filters.iter().enumerate() {
            // y = s[L−1] − e^{−jω} s[L−2]; X = y e^{−jω(L−1)}.
            let y = C(self.s1[i], 0.0);
            let t = C(self.s2[i], 0.0).mul(f.tail);
            out[i] = C(y.0 - t.0, y.1 - t.1).mul(f.rot);
        }
        self.s1 = [0.0; 8];
        self.s2 = [0.0; 8];
        out
    }

    /// The digit the block holds, if any.
    fn classify(&self, second: &[C; 8]) -> Option<Digit> {
        let n = self.block as f32;
        let scale = 2.0 / (n * n);
        let mut power = [0f32; 8];
        for i in 0..8 {
            let whole = self.first[i].0 + second[i].mul(self.filters[i].shift).0;
            let whole_im = self.first[i].1 + second[i].mul(self.filters[i].shift).1;
            power[i] = C(whole, whole_im).norm2() * scale;
        }
        let strongest = |p: &[f32]| {
            let mut best = 0;
            for i in 1..p.len() {
                if p[i] > p[best] {
                    best = i;
                }
            }
            best
        };
        let (rows, cols) = power.split_at(4);
        let (r, c) = (strongest(rows), strongest(cols));
        let (pr, pc) = (rows[r], cols[c]);
        let total = self.energy / n;
        let basic = pr >= self.min_power
            && pc >= self.min_power
            && pc * self.normal_twist >= pr
            && pr * self.reverse_twist >= pc
            && rows
                .iter()
                .enumerate()
                .all(|(i, &p)| i == r || p * self.relative_peak <= pr)
            && cols
                .iter()
                .enumerate()
                .all(|(i, &p)| i == c || p * self.relative_peak <= pc)
            // A loose first cut; the real share is measured below at the tones' actual
            // frequencies, where a tone 1.5 % off its nominal one loses nothing.
            && pr + pc >= PREFILTER_RATIO * self.min_ratio * total;
        if !basic {
            return None;
        }
        let rate = self.sample_rate as f32;
        let (Some(fr), Some(fc)) = (
            self.actual_frequency(r, second),
            self.actual_frequency(4 + c, second),
        ) else {
            return None;
        };
        let pr = power_at(&self.samples, fr, rate);
        let pc = power_at(&self.samples, fc, rate);
        if pr + pc < self.min_ratio * total {
            return None;
        }
        if power_at(&self.samples, 2.0 * fc, rate) * self.harmonic > pc
            || power_at(&self.samples, 3.0 * fr, rate) * self.harmonic > pr
        {
            return None;
        }
        // A single harmonic-rich sound whose fundamental sits near a row and whose second
        // harmonic near a column is not two tones. (True pairs are at least 4 % apart.)
        if (fc - 2.0 * fr).abs() < 0.01 * fc {
            return None;
        }
        Some(Digit::at(r, c))
    }

    /// The frequency of the tone in filter `i`, from the phase advance between the block's
    /// halves, if it is within the allowed deviation of the filter's frequency.
    fn actual_frequency(&self, i: usize, second: &[C; 8]) -> Option<f32> {
        let f = self.filters[i];
        // X2 / X1 = e^{jω₀L} for a tone at ω₀; remove the filter's own ωL.
        let z = second[i].mul(self.first[i].conj()).mul(f.shift);
        let offset_rad = z.1.atan2(z.0) / self.half as f32;
        let offset_hz = offset_rad * self.sample_rate as f32 / (2.0 * PI);
        (offset_hz.abs() <= self.max_deviation * f.freq).then_some(f.freq + offset_hz)
    }

    fn end_block(&mut self, hit: Option<Digit>) {
        let start = self.position;
        self.position += self.block as u64;
        let end = self.position;

        if let Some(mut a) = self.active {
            if hit == Some(a.digit) {
                a.last_hit_end = end;
                a.misses = 0;
                self.active = Some(a);
                return;
            }
            a.misses += 1;
            if a.misses < self.min_off_blocks {
                self.active = Some(a);
                self.track_pending(hit, start);
                return;
            }
            self.active = None;
            self.out.push_back(DetectorEvent::Ended(DetectedDigit {
                digit: a.digit,
                duration: (a.last_hit_end - a.start).min(u64::from(u32::MAX)) as u32,
                sample_rate: self.sample_rate,
            }));
        }
        self.track_pending(hit, start);
        if self.active.is_none()
            && let Some(p) = self.pending
            && p.hits >= self.min_on_blocks
            && !p.missed
        {
            self.pending = None;
            self.active = Some(Active {
                digit: p.digit,
                start: p.start,
                last_hit_end: end,
                misses: 0,
            });
            self.out.push_back(DetectorEvent::Started(p.digit));
        }
    }

    /// Counts hit blocks of a digit that is not (yet) the active one.
    fn track_pending(&mut self, hit: Option<Digit>, block_start: u64) {
        self.pending = match (hit, self.pending) {
            (Some(d), Some(p)) if d == p.digit => Some(Pending {
                hits: p.hits + 1,
                missed: false,
                ..p
            }),
            (Some(digit), _) => Some(Pending {
                digit,
                hits: 1,
                start: block_start,
                missed: false,
            }),
            (None, Some(p)) if !p.missed => Some(Pending { missed: true, ..p }),
            (None, _) => None,
        };
    }

    /// The next start or end.
    pub fn poll_event(&mut self) -> Option<DetectorEvent> {
        self.out.pop_front()
    }

    /// The next digit that has ended, passing over start notices (for callers that only
    /// count digits and their durations).
    pub fn poll_digit(&mut self) -> Option<DetectedDigit> {
        while let Some(ev) = self.out.pop_front() {
            if let DetectorEvent::Ended(d) = ev {
                return Some(d);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    use crate::tone::DtmfTone;

    const RATE: u32 = 8000;

    fn ms(n: u64) -> usize {
        (RATE as u64 * n / 1000) as usize
    }

    /// Gaussian-ish noise (sum of four uniforms) of a given RMS.
    fn noise(rng: &mut SplitMix64, rms: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                let u: f32 = (0..4)
                    .map(|_| (rng.next_u32() as f32 / u32::MAX as f32) - 0.5)
                    .sum();
                // Four uniforms on ±0.5 have variance 4/12.
                u * rms / (4.0f32 / 12.0).sqrt()
            })
            .collect()
    }

    fn to_i16(x: &[f32]) -> Vec<i16> {
        x.iter()
            .map(|v| v.clamp(-32_768.0, 32_767.0) as i16)
            .collect()
    }

    fn detect(pcm: &[i16], rate: u32) -> Vec<DetectedDigit> {
        let mut d = InbandDetector::new(rate, DetectorConfig::default());
        // Feed in 20 ms packets, as the session does.
        for chunk in pcm.chunks(rate as usize / 50) {
            d.process(chunk);
        }
        // Trailing silence so that the last digit ends.
        d.process(&vec![0; rate as usize / 10]);
        std::iter::from_fn(|| d.poll_digit()).collect()
    }

    /// A sequence of digits: `on` ms of tone at `level` dBm0 per tone (column `twist` dB
    /// relative to the row), `off` ms of gap, with white noise at `snr` dB below the
    /// two tones' total power.
    #[allow(clippy::too_many_arguments)]
    fn synth(
        digits: &[Digit],
        rate: u32,
        on: u64,
        off: u64,
        level: f32,
        twist: f32,
        snr: Option<f32>,
        seed: u64,
    ) -> Vec<i16> {
        let ms = |n: u64| (u64::from(rate) * n / 1000) as usize;
        let row_amp = 22_307.0 * 10f32.powf(level / 20.0);
        let col_amp = row_amp * 10f32.powf(twist / 20.0);
        let mut signal = vec![0f32; ms(off)];
        for &d in digits {
            let mut t = DtmfTone::with_amplitudes(d, rate, row_amp, col_amp);
            signal.extend((0..ms(on)).map(|_| t.next_sample()));
            signal.extend(std::iter::repeat_n(0.0, ms(off)));
        }
        if let Some(snr) = snr {
            let tone_power = (row_amp * row_amp + col_amp * col_amp) / 2.0;
            let rms = (tone_power / 10f32.powf(snr / 10.0)).sqrt();
            let mut rng = SplitMix64::new(seed);
            let n = signal.len();
            for (s, n) in signal.iter_mut().zip(noise(&mut rng, rms, n)) {
                *s += n;
            }
        }
        to_i16(&signal)
    }

    #[test]
    fn all_16_digits_clean_at_8_16_and_48_khz() {
        for rate in [8000, 16_000, 48_000] {
            let pcm = synth(&Digit::ALL, rate, 100, 100, -10.0, 2.0, None, 1);
            let got = detect(&pcm, rate);
            let digits: Vec<_> = got.iter().map(|d| d.digit).collect();
            assert_eq!(digits, Digit::ALL, "at {rate} Hz");
            for d in got {
                assert_eq!(d.sample_rate, rate);
                // 100 ms of tone is found as 100 ms ± one block.
                let ms = d.duration as f32 * 1000.0 / rate as f32;
                assert!((ms - 100.0).abs() <= 13.0, "{d:?}: {ms} ms");
            }
        }
    }

    #[test]
    fn test_set_durations_noise_twist_and_levels() {
        // The test set: 40–100 ms tones, SNR 30 down to 6 dB, twist ±6 dB, levels
        // from −3 to −24 dBm0 per tone.
        let mut seed = 0;
        let mut failures = Vec::new();
        for on in [40, 50, 70, 100] {
            for snr in [30.0, 18.0, 12.0, 6.0] {
                for twist in [-6.0, 0.0, 6.0] {
                    for level in [-3.0, -12.0, -24.0] {
                        seed += 1;
                        let pcm = synth(&Digit::ALL, RATE, on, 60, level, twist, Some(snr), seed);
                        let digits: Vec<_> = detect(&pcm, RATE).iter().map(|d| d.digit).collect();
                        if digits != Digit::ALL {
                            failures.push(format!(
                                "{on} ms, {snr} dB SNR, twist {twist}, {level} dBm0: {digits:?}"
                            ));
                        }
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn g711_round_trip_keeps_digits() {
        use crate::codec::g711::{alaw_to_linear, linear_to_alaw, linear_to_ulaw, ulaw_to_linear};
        let pcm = synth(&Digit::ALL, RATE, 50, 50, -20.0, -4.0, Some(12.0), 9);
        let mu: Vec<i16> = pcm
            .iter()
            .map(|&s| ulaw_to_linear(linear_to_ulaw(s)))
            .collect();
        let a: Vec<i16> = pcm
            .iter()
            .map(|&s| alaw_to_linear(linear_to_alaw(s)))
            .collect();
        for round_tripped in [mu, a] {
            let digits: Vec<_> = detect(&round_tripped, RATE)
                .iter()
                .map(|d| d.digit)
                .collect();
            assert_eq!(digits, Digit::ALL);
        }
    }

    #[test]
    fn short_tones_and_short_gaps() {
        let one = Digit::from_char('1').unwrap();
        // 15 ms of tone is not a digit.
        assert!(detect(&synth(&[one; 5], RATE, 15, 100, -10.0, 0.0, None, 2), RATE).is_empty());
        // Two 60 ms tones with a 40 ms gap are two digits…
        assert_eq!(
            detect(&synth(&[one; 2], RATE, 60, 40, -10.0, 0.0, None, 3), RATE).len(),
            2
        );
        // …but a 10 ms drop-out inside a tone is not a gap.
        let mut pcm = synth(&[one], RATE, 200, 0, -10.0, 0.0, None, 4);
        for s in &mut pcm[ms(95)..ms(105)] {
            *s = 0;
        }
        assert_eq!(detect(&pcm, RATE).len(), 1);
    }

    #[test]
    fn a_long_tone_is_reported_once_it_has_lasted_min_on_not_when_it_ends() {
        let five = Digit::from_char('5').unwrap();
        for rate in [8000, 16_000] {
            // 500 ms of tone after 100 ms of silence, fed in 20 ms packets.
            let pcm = synth(&[five], rate, 500, 100, -10.0, 0.0, Some(20.0), 9);
            let mut d = InbandDetector::new(rate, DetectorConfig::default());
            let packet = rate as usize / 50;
            let mut started_at = None;
            let mut events = Vec::new();
            for (k, chunk) in pcm.chunks(packet).enumerate() {
                d.process(chunk);
                while let Some(ev) = d.poll_event() {
                    if ev == DetectorEvent::Started(five) && started_at.is_none() {
                        started_at = Some(k * 20 + 20);
                    }
                    events.push(ev);
                }
            }
            d.process(&vec![0; rate as usize / 10]);
            events.extend(std::iter::from_fn(|| d.poll_event()));
            let started_at = started_at.expect("reported");
            // Tone from 100 ms: min_on is two blocks (25.5 ms), plus up to one block of
            // alignment and one 20 ms packet of arrival.
            assert!(
                (120..=160).contains(&started_at),
                "{rate} Hz: started at {started_at} ms"
            );
            assert_eq!(events.len(), 2, "one start, one end: {events:?}");
            assert!(
                matches!(events[1], DetectorEvent::Ended(e) if e.digit == five
                    && e.duration >= rate / 1000 * 480),
                "{events:?}"
            );
        }
    }

    /// All 16 digits with both tones moved by `dev` (a fraction), clean.
    fn deviated(dev: f32) -> Vec<i16> {
        let mut signal = vec![0f32; ms(60)];
        for d in Digit::ALL {
            let (fr, fc) = d.frequencies();
            for i in 0..ms(80) {
                let t = i as f32 / RATE as f32;
                let v = 7000.0 * (2.0 * PI * fr * (1.0 + dev) * t).sin()
                    + 7000.0 * (2.0 * PI * fc * (1.0 + dev) * t).sin();
                signal.push(v);
            }
            signal.extend(std::iter::repeat_n(0.0, ms(60)));
        }
        to_i16(&signal)
    }

    #[test]
    fn q24_frequency_deviation_accept_1_5_percent_reject_3_5_percent() {
        for dev in [-0.015, 0.015] {
            let digits: Vec<_> = detect(&deviated(dev), RATE)
                .iter()
                .map(|d| d.digit)
                .collect();
            assert_eq!(digits, Digit::ALL, "deviation {dev}");
        }
        for dev in [-0.035, 0.035, -0.05, 0.05] {
            let got = detect(&deviated(dev), RATE);
            assert!(got.is_empty(), "deviation {dev}: {got:?}");
        }
    }

    #[test]
    fn too_weak_or_too_twisted_tones_are_rejected() {
        let five = Digit::from_char('5').unwrap();
        assert!(
            detect(
                &synth(&[five; 3], RATE, 100, 100, -45.0, 0.0, None, 5),
                RATE
            )
            .is_empty()
        );
        assert!(
            detect(
                &synth(&[five; 3], RATE, 100, 100, -10.0, 12.0, None, 6),
                RATE
            )
            .is_empty()
        );
        assert!(
            detect(
                &synth(&[five; 3], RATE, 100, 100, -10.0, -12.0, None, 7),
                RATE
            )
            .is_empty()
        );
    }

    fn assert_silent(name: &str, pcm: &[f32]) {
        {
            let rate_pcm = to_i16(pcm);
            let got = detect(&rate_pcm, RATE);
            assert!(got.is_empty(), "{name}: false digits {got:?}");
        }
    }

    #[test]
    fn single_tones_are_not_digits() {
        let mut freqs: Vec<f32> = ROW_HZ.iter().chain(COL_HZ.iter()).copied().collect();
        freqs.extend([350.0, 440.0, 1000.0, 2100.0]);
        for f in freqs {
            let pcm: Vec<f32> = (0..ms(1000))
                .map(|i| 15_000.0 * (2.0 * PI * f * i as f32 / RATE as f32).sin())
                .collect();
            assert_silent(&format!("{f} Hz"), &pcm);
        }
    }

    #[test]
    fn chirps_and_noise_are_not_digits() {
        // Linear sweeps 300–3400 Hz at several speeds, up and down.
        for secs in [0.5f32, 2.0, 8.0] {
            for up in [true, false] {
                let n = (secs * RATE as f32) as usize;
                let (f0, f1) = if up { (300.0, 3400.0) } else { (3400.0, 300.0) };
                let mut phase = 0.0f32;
                let pcm: Vec<f32> = (0..n)
                    .map(|i| {
                        let f = f0 + (f1 - f0) * i as f32 / n as f32;
                        phase += 2.0 * PI * f / RATE as f32;
                        12_000.0 * phase.sin()
                    })
                    .collect();
                assert_silent(&format!("chirp {secs} s up={up}"), &pcm);
            }
        }
        let mut rng = SplitMix64::new(11);
        for rms in [100.0, 3000.0, 12_000.0] {
            assert_silent(
                &format!("noise rms {rms}"),
                &noise(&mut rng, rms, ms(10_000)),
            );
        }
    }

    /// Voiced speech: a glottal pulse train whose pitch glides, through two or three
    /// formant resonators per vowel, with vowels changing every 80–200 ms.
    fn speech_like(seed: u64, secs: usize) -> Vec<f32> {
        // (F1, F2, F3) of /a/, /i/, /u/, /e/, /o/, /ae/, /er/.
        const VOWELS: [(f32, f32, f32); 7] = [
            (730.0, 1090.0, 2440.0),
            (270.0, 2290.0, 3010.0),
            (300.0, 870.0, 2240.0),
            (530.0, 1840.0, 2480.0),
            (570.0, 840.0, 2410.0),
            (660.0, 1720.0, 2410.0),
            (490.0, 1350.0, 1690.0),
        ];
        let mut rng = SplitMix64::new(seed);
        let n = secs * RATE as usize;
        let mut out = Vec::with_capacity(n);
        let mut phase = 0.0f32;
        let mut i = 0;
        while i < n {
            let seg = ms(80 + u64::from(rng.next_u32() % 120));
            let (f1, f2, f3) = VOWELS[(rng.next_u32() % 7) as usize];
            let pitch0 = 90.0 + (rng.next_u32() % 170) as f32;
            let pitch1 = pitch0 * (0.85 + (rng.next_u32() % 30) as f32 / 100.0);
            let mut res = [(f1, 0.0f32, 0.0f32), (f2, 0.0, 0.0), (f3, 0.0, 0.0)];
            for j in 0..seg.min(n - i) {
                let pitch = pitch0 + (pitch1 - pitch0) * j as f32 / seg as f32;
                phase += pitch / RATE as f32;
                let pulse = if phase >= 1.0 {
                    phase -= 1.0;
                    1.0
                } else {
                    0.0
                };
                let mut y = 0.0;
                for (k, (f, y1, y2)) in res.iter_mut().enumerate() {
                    // Two-pole resonator, 80 Hz bandwidth.
                    let r = (-PI * 80.0 / RATE as f32).exp();
                    let c = 2.0 * r * (2.0 * PI * *f / RATE as f32).cos();
                    let v = pulse + c * *y1 - r * r * *y2;
                    *y2 = *y1;
                    *y1 = v;
                    y += v / (k as f32 + 1.0);
                }
                out.push(y * 1500.0);
            }
            i += seg;
        }
        out
    }

    /// Notes of the equal-tempered scale with sawtooth-like harmonics, as chords of two or
    /// three notes, including pairs that sit near DTMF frequencies (F5 = 698 Hz, D6 = 1175 Hz).
    fn music_like(seed: u64, secs: usize) -> Vec<f32> {
        let mut rng = SplitMix64::new(seed);
        let n = secs * RATE as usize;
        let mut out = vec![0f32; n];
        let mut i = 0;
        while i < n {
            let seg = ms(150 + u64::from(rng.next_u32() % 350));
            let notes = 2 + (rng.next_u32() % 2) as usize;
            for _ in 0..notes {
                // MIDI 57 (A3) to 93 (A6).
                let midi = 57 + (rng.next_u32() % 37) as i32;
                let f = 440.0 * 2f32.powf((midi - 69) as f32 / 12.0);
                for h in 1..=6 {
                    let fh = f * h as f32;
                    if fh >= 3800.0 {
                        break;
                    }
                    for j in 0..seg.min(n - i) {
                        let decay = (-(j as f32) / ms(300) as f32).exp();
                        let t = (i + j) as f32 / RATE as f32;
                        out[i + j] += 5000.0 / h as f32 * decay * (2.0 * PI * fh * t).sin();
                    }
                }
            }
            i += seg;
        }
        out
    }

    #[test]
    fn speech_like_signals_are_not_digits() {
        for seed in 0..6 {
            assert_silent(&format!("speech seed {seed}"), &speech_like(seed, 10));
        }
    }

    #[test]
    fn music_like_signals_are_not_digits() {
        for seed in 0..6 {
            assert_silent(&format!("music seed {seed}"), &music_like(seed, 10));
        }
        // The worst chord: F5 and D6, each with harmonics, held for a second.
        let mut chord = vec![0f32; ms(1000)];
        for f in [698.46f32, 1174.66] {
            for h in 1..=5 {
                for (j, s) in chord.iter_mut().enumerate() {
                    let t = j as f32 / RATE as f32;
                    *s += 6000.0 / h as f32 * (2.0 * PI * f * h as f32 * t).sin();
                }
            }
        }
        assert_silent("F5+D6 chord", &chord);
    }

    #[test]
    fn tone_generator_is_detected_and_has_the_right_level() {
        let d = Digit::from_char('7').unwrap();
        let mut t = DtmfTone::new(d, RATE);
        let mut pcm = vec![0i16; ms(200)];
        t.mix_into(&mut pcm);
        let got = detect(&pcm, RATE);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].digit, d);
        let rms =
            (pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / pcm.len() as f64).sqrt();
        // −8 and −6 dBm0 together: about −3.9 dBm0, an RMS of ~10,000.
        assert!((9000.0..11_000.0).contains(&rms), "rms {rms}");
    }
}
