//! DTMF sending in-band: a two-tone generator ([`DtmfTone`]) and a queue that plays digits
//! with their tone and pause lengths into outgoing frames, sample-exact across frame
//! boundaries ([`InbandSender`]).

use std::collections::VecDeque;
use std::f32::consts::PI;

use crate::dtmf::{Digit, DtmfTiming};

/// Default per-tone amplitudes: row −8 dBm0, column −6 dBm0 (the column is sent 2 dB
/// louder, the usual pre-emphasis of the high group).
pub const ROW_AMPLITUDE: f32 = 22_307.0 * 0.398;
/// See [`ROW_AMPLITUDE`].
pub const COL_AMPLITUDE: f32 = 22_307.0 * 0.501;

/// A sine oscillator by recurrence (two multiplies per sample, no `sin` per sample).
#[derive(Debug, Clone, Copy)]
struct Osc {
    k: f32,
    y1: f32,
    y2: f32,
}

impl Osc {
    fn new(freq: f32, rate: u32, amplitude: f32) -> Self {
        let w = 2.0 * PI * freq / rate as f32;
        // y[-1] = A sin(-w), y[-2] = A sin(-2w): the next output is A sin(0).
        Self {
            k: 2.0 * w.cos(),
            y1: -amplitude * w.sin(),
            y2: -amplitude * (2.0 * w).sin(),
        }
    }

    fn next(&mut self) -> f32 {
        let y = self.k * self.y1 - self.y2;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }
}

/// What a caller hears when a prompt cannot be played (TTS failed, a file cannot be
/// read): the special information tone of ITU-T E.180 — 950, 1400 and 1800 Hz for 330 ms
/// each — at −20 dBm0, a quiet, familiar "something went wrong" instead of silence or a
/// loud beep (ha-sip issue #121). Each segment fades in and out over 5 ms (no clicks);
/// 200 ms of silence follow. Mono PCM at `rate`.
pub fn error_tone(rate: u32) -> Vec<i16> {
    const AMPLITUDE: f32 = 22_307.0 * 0.1;
    let seg = (rate as usize * 330) / 1000;
    let fade = ((rate as usize * 5) / 1000).max(1);
    let mut out = Vec::with_capacity(seg * 3 + rate as usize / 5);
    for freq in [950.0, 1400.0, 1800.0] {
        let mut osc = Osc::new(freq, rate, AMPLITUDE);
        for i in 0..seg {
            let edge = i.min(seg - 1 - i);
            let gain = if edge < fade {
                edge as f32 / fade as f32
            } else {
                1.0
            };
            out.push((osc.next() * gain) as i16);
        }
    }
    out.resize(out.len() + rate as usize / 5, 0);
    out
}

/// A continuous two-tone generator for one digit.
#[derive(Debug, Clone, Copy)]
pub struct DtmfTone {
    row: Osc,
    col: Osc,
}

impl DtmfTone {
    /// The tone of `digit` at `rate` Hz with the default amplitudes.
    pub fn new(digit: Digit, rate: u32) -> Self {
        Self::with_amplitudes(digit, rate, ROW_AMPLITUDE, COL_AMPLITUDE)
    }

    /// The tone of `digit` with given peak amplitudes (16-bit scale).
    pub fn with_amplitudes(digit: Digit, rate: u32, row: f32, col: f32) -> Self {
        let (fr, fc) = digit.frequencies();
        Self {
            row: Osc::new(fr, rate, row),
            col: Osc::new(fc, rate, col),
        }
    }

    /// The next sample.
    pub fn next_sample(&mut self) -> f32 {
        self.row.next() + self.col.next()
    }

    /// Adds the next `out.len()` samples to `out`, saturating.
    pub fn mix_into(&mut self, out: &mut [i16]) {
        for o in out {
            let v = f32::from(*o) + self.next_sample();
            *o = v.clamp(-32_768.0, 32_767.0) as i16;
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Playing {
    digit: Digit,
    tone: DtmfTone,
    tone_left: usize,
    pause_left: usize,
}

/// Plays queued digits into frames: each digit's tone for its tone length, then silence
/// for its pause, counted in samples.
#[derive(Debug, Clone)]
pub struct InbandSender {
    rate: u32,
    queue: VecDeque<(Digit, DtmfTiming)>,
    playing: Option<Playing>,
}

impl InbandSender {
    /// A sender for audio at `rate` Hz.
    pub fn new(rate: u32) -> Self {
        Self {
            rate,
            queue: VecDeque::new(),
            playing: None,
        }
    }

    /// Queues digits with their timing.
    pub fn push(&mut self, digits: &[Digit], timing: DtmfTiming) {
        self.queue.extend(digits.iter().map(|&d| (d, timing)));
    }

    /// Whether nothing is queued or playing.
    pub fn is_idle(&self) -> bool {
        self.playing.is_none() && self.queue.is_empty()
    }

    /// Drops queued digits (the one playing finishes).
    pub fn clear(&mut self) {
        self.queue.clear();
    }

    /// Mixes the next `frame.len()` samples of tones into `frame`; returns a digit whose
    /// tone and pause ended within this frame. Whether the frame carried tone is
    /// [`InbandSender::is_idle`] before the call.
    pub fn mix_into(&mut self, frame: &mut [i16]) -> Option<Digit> {
        let mut finished = None;
        let mut pos = 0;
        while pos < frame.len() {
            let Some(p) = &mut self.playing else {
                let Some((digit, timing)) = self.queue.pop_front() else {
                    break;
                };
                let samples = |d: std::time::Duration| {
                    (d.as_micros() * u128::from(self.rate) / 1_000_000) as usize
                };
                self.playing = Some(Playing {
                    digit,
                    tone: DtmfTone::new(digit, self.rate),
                    tone_left: samples(timing.tone),
                    pause_left: samples(timing.pause),
                });
                continue;
            };
            let rest = frame.len() - pos;
            if p.tone_left > 0 {
                let n = p.tone_left.min(rest);
                p.tone.mix_into(&mut frame[pos..pos + n]);
                p.tone_left -= n;
                pos += n;
            } else if p.pause_left > 0 {
                let n = p.pause_left.min(rest);
                p.pause_left -= n;
                pos += n;
            }
            if p.tone_left == 0 && p.pause_left == 0 {
                finished = Some(p.digit);
                self.playing = None;
            }
        }
        finished
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_error_tone_is_three_quiet_tones_then_silence() {
        for rate in [8000u32, 16_000, 48_000] {
            let t = super::error_tone(rate);
            let seg = rate as usize * 330 / 1000;
            assert_eq!(t.len(), seg * 3 + rate as usize / 5);
            // Each segment has its frequency: count zero crossings.
            for (k, f) in [950.0f32, 1400.0, 1800.0].iter().enumerate() {
                let part = &t[k * seg..(k + 1) * seg];
                let crossings = part.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
                let measured = crossings as f32 / 2.0 / 0.33;
                assert!(
                    (measured - f).abs() < f * 0.02,
                    "{rate} Hz: {measured} vs {f}"
                );
                let peak = part.iter().map(|s| s.unsigned_abs()).max().unwrap();
                assert!((2000..2300).contains(&peak), "quiet: peak {peak}");
                assert!(part[0].unsigned_abs() < 100, "fades in");
            }
            assert!(t[seg * 3..].iter().all(|&s| s == 0));
        }
    }

    use super::*;
    use std::time::Duration;

    #[test]
    fn inband_sender_is_sample_exact_across_frames() {
        let mut s = InbandSender::new(8000);
        let d1 = Digit::from_char('1').unwrap();
        let d2 = Digit::from_char('2').unwrap();
        s.push(
            &[d1, d2],
            DtmfTiming {
                tone: Duration::from_millis(50),
                pause: Duration::from_millis(30),
            },
        );
        let mut out = Vec::new();
        let mut finished = Vec::new();
        for _ in 0..10 {
            let mut frame = [0i16; 160];
            if let Some(d) = s.mix_into(&mut frame) {
                finished.push((d, out.len() / 160));
            }
            out.extend_from_slice(&frame);
        }
        // Tone 400 samples, pause 240, tone 400, pause 240: 1280 samples in all.
        let nonzero = |r: std::ops::Range<usize>| out[r].iter().filter(|&&x| x != 0).count();
        assert!(nonzero(0..400) > 390);
        assert_eq!(nonzero(400..640), 0);
        assert!(nonzero(640..1040) > 390);
        assert_eq!(nonzero(1040..1600), 0);
        assert_eq!(finished, [(d1, 3), (d2, 7)]);
        assert!(s.is_idle());
    }

    #[test]
    fn generator_phase_starts_at_zero_and_stays_bounded() {
        let mut t = DtmfTone::new(Digit::from_char('D').unwrap(), 48_000);
        assert!(t.next_sample().abs() < 1.0);
        let peak = (0..48_000 * 5)
            .map(|_| t.next_sample().abs())
            .fold(0.0, f32::max);
        assert!(peak <= ROW_AMPLITUDE + COL_AMPLITUDE + 1.0, "{peak}");
        assert!(peak > (ROW_AMPLITUDE + COL_AMPLITUDE) * 0.95, "{peak}");
    }
}
