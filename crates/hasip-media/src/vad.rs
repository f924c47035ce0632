//! Voice activity: where a caller's speech starts and where it ends, from decoded audio at
//! any rate, counted in samples (never in wall time), so the same audio always gives the
//! same answer.
//!
//! The audio is cut into 10 ms frames; a frame is *loud* when its level (RMS, dBFS) is at
//! least `min_level_db` and `above_noise_db` above the noise floor. The floor follows the
//! quietest frames at once and rises slowly (`NOISE_RISE_DB` per frame) otherwise, so a
//! steady hum becomes the floor within seconds while a sentence does not. Speech *starts*
//! after `onset` of loud frames (one quiet frame in between is forgiven, as between
//! syllables) and *ends* after `end_silence` without a loud frame.
//!
//! Energy, not a trained model: a call's audio has been through a phone's echo canceller
//! and noise suppression and a narrow codec, and what the gateway must find is the end of a
//! spoken command (for the Assist pipeline) and a caller starting to talk over a reply,
//! both of which a level against the line's own floor tells within a frame.

use std::time::Duration;

/// How fast the noise floor rises while the audio stays above it: 0.05 dB per 10 ms frame
/// (5 dB a second).
const NOISE_RISE_DB: f32 = 0.05;
/// The floor at the start: a quiet line.
const INITIAL_NOISE_DB: f32 = -65.0;
/// The floor never goes below this (digital silence would make any click speech).
const LOWEST_NOISE_DB: f32 = -75.0;

/// The detector's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VadConfig {
    /// Loud audio for this long starts speech.
    pub onset: Duration,
    /// Quiet for this long after speech ends it.
    pub end_silence: Duration,
    /// A frame quieter than this (dBFS) is never speech.
    pub min_level_db: f32,
    /// A loud frame is at least this far above the noise floor (dB).
    pub above_noise_db: f32,
}

impl Default for VadConfig {
    fn default() -> Self {
        Self {
            onset: Duration::from_millis(60),
            end_silence: Duration::from_millis(600),
            min_level_db: -45.0,
            above_noise_db: 12.0,
        }
    }
}

/// A change the detector saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadEvent {
    /// Speech started (after `onset` of it).
    SpeechStarted,
    /// Speech ended (after `end_silence` without it).
    SpeechEnded,
}

/// The detector of one call's audio.
#[derive(Debug, Clone)]
pub struct Vad {
    config: VadConfig,
    rate: u32,
    /// The frame being gathered: its sum of squares and its length.
    energy: f64,
    filled: usize,
    noise_db: f32,
    in_speech: bool,
    /// Loud frames in the current run, and whether the run has used its forgiven gap.
    loud_run: u32,
    gap_used: bool,
    /// Quiet frames since the last loud one.
    quiet_run: u32,
    /// Frames seen in all.
    frames: u64,
}

impl Vad {
    /// A detector for audio at `rate` samples a second.
    #[must_use]
    pub fn new(config: VadConfig, rate: u32) -> Self {
        Self {
            config,
            rate: rate.max(100),
            energy: 0.0,
            filled: 0,
            noise_db: INITIAL_NOISE_DB,
            in_speech: false,
            loud_run: 0,
            gap_used: false,
            quiet_run: 0,
            frames: 0,
        }
    }

    /// Its settings.
    #[must_use]
    pub fn config(&self) -> VadConfig {
        self.config
    }

    /// Changes the settings (the state is kept).
    pub fn set_config(&mut self, config: VadConfig) {
        self.config = config;
    }

    fn frame_len(&self) -> usize {
        (self.rate / 100) as usize
    }

    fn frames_in(&self, d: Duration) -> u32 {
        u32::try_from(d.as_millis().div_ceil(10))
            .unwrap_or(u32::MAX)
            .max(1)
    }

    /// True while the audio is speech.
    #[must_use]
    pub fn in_speech(&self) -> bool {
        self.in_speech
    }

    /// The noise floor now (dBFS).
    #[must_use]
    pub fn noise_db(&self) -> f32 {
        self.noise_db
    }

    /// Back to "no speech" (the noise floor is kept: it is the line's).
    pub fn reset(&mut self) {
        self.in_speech = false;
        self.loud_run = 0;
        self.gap_used = false;
        self.quiet_run = 0;
    }

    /// Takes audio at the detector's rate. Returns the change it caused, if any (when a
    /// piece of audio holds both a start and an end, the later one).
    pub fn process(&mut self, pcm: &[i16]) -> Option<VadEvent> {
        let mut event = None;
        let len = self.frame_len();
        for &s in pcm {
            let v = f64::from(s);
            self.energy += v * v;
            self.filled += 1;
            if self.filled == len {
                let mean = self.energy / len as f64;
                self.energy = 0.0;
                self.filled = 0;
                let db = (10.0 * (mean / (32768.0 * 32768.0)).max(1e-12).log10()) as f32;
                if let Some(e) = self.frame(db) {
                    event = Some(e);
                }
            }
        }
        event
    }

    /// One 10 ms frame at `db` dBFS.
    fn frame(&mut self, db: f32) -> Option<VadEvent> {
        self.frames += 1;
        let loud =
            db >= self.config.min_level_db && db >= self.noise_db + self.config.above_noise_db;
        if db < self.noise_db {
            self.noise_db = db.max(LOWEST_NOISE_DB);
        } else {
            self.noise_db += NOISE_RISE_DB;
        }
        if loud {
            self.loud_run += 1;
            self.quiet_run = 0;
        } else {
            self.quiet_run += 1;
            if !self.in_speech {
                // One quiet frame inside a run is forgiven; a second ends the run.
                if self.gap_used || self.loud_run == 0 {
                    self.loud_run = 0;
                    self.gap_used = false;
                } else {
                    self.gap_used = true;
                }
            }
        }
        if !self.in_speech && self.loud_run >= self.frames_in(self.config.onset) {
            self.in_speech = true;
            self.gap_used = false;
            return Some(VadEvent::SpeechStarted);
        }
        if self.in_speech && self.quiet_run >= self.frames_in(self.config.end_silence) {
            self.in_speech = false;
            self.loud_run = 0;
            self.gap_used = false;
            return Some(VadEvent::SpeechEnded);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, ms: u32, amplitude: f64) -> Vec<i16> {
        (0..rate * ms / 1000)
            .map(|i| {
                let t = f64::from(i) / f64::from(rate);
                (amplitude * (2.0 * std::f64::consts::PI * 300.0 * t).sin()) as i16
            })
            .collect()
    }

    /// Feeds `pcm` in 20 ms chunks; returns each event with the sample after which it came.
    fn run(vad: &mut Vad, pcm: &[i16], rate: u32) -> Vec<(VadEvent, usize)> {
        let chunk = (rate / 50) as usize;
        let mut out = Vec::new();
        for (i, c) in pcm.chunks(chunk).enumerate() {
            if let Some(e) = vad.process(c) {
                out.push((e, (i + 1) * chunk));
            }
        }
        out
    }

    #[test]
    fn speech_starts_after_the_onset_and_ends_after_the_silence_at_every_rate() {
        for rate in [8_000, 16_000, 48_000] {
            let mut vad = Vad::new(VadConfig::default(), rate);
            let mut pcm = tone(rate, 500, 0.0);
            pcm.extend(tone(rate, 1000, 6000.0));
            pcm.extend(tone(rate, 1000, 0.0));
            let events = run(&mut vad, &pcm, rate);
            let ms = |samples: usize| samples as u32 * 1000 / rate;
            assert_eq!(events.len(), 2, "{rate}: {events:?}");
            assert_eq!(events[0].0, VadEvent::SpeechStarted);
            // 60 ms of onset after the speech began at 500 ms, seen at a chunk's end.
            assert!((560..=580).contains(&ms(events[0].1)), "{rate}: {events:?}");
            assert_eq!(events[1].0, VadEvent::SpeechEnded);
            assert!(
                (2100..=2120).contains(&ms(events[1].1)),
                "{rate}: {events:?}"
            );
        }
    }

    #[test]
    fn pauses_between_words_shorter_than_the_end_silence_do_not_end_speech() {
        let rate = 8000;
        let mut vad = Vad::new(VadConfig::default(), rate);
        let mut pcm = Vec::new();
        for _ in 0..4 {
            pcm.extend(tone(rate, 300, 5000.0));
            pcm.extend(tone(rate, 400, 0.0));
        }
        let events = run(&mut vad, &pcm, rate);
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(vad.in_speech());
    }

    #[test]
    fn a_click_is_not_speech_and_a_steady_hum_becomes_the_floor() {
        let rate = 8000;
        let mut vad = Vad::new(VadConfig::default(), rate);
        // A 20 ms click.
        let mut pcm = tone(rate, 20, 20_000.0);
        pcm.extend(tone(rate, 300, 0.0));
        assert!(run(&mut vad, &pcm, rate).is_empty());
        // A hum at -30 dBFS for ten seconds: the floor follows it, then speech 20 dB
        // above the hum still counts.
        let mut vad = Vad::new(VadConfig::default(), rate);
        let hum = tone(rate, 10_000, 1000.0);
        let events = run(&mut vad, &hum, rate);
        // The start of the hum is taken for speech, then the floor catches up with it.
        assert!(!vad.in_speech(), "{events:?} floor {}", vad.noise_db());
        let mut voice = tone(rate, 500, 10_000.0);
        for (v, h) in voice.iter_mut().zip(&hum) {
            *v = v.saturating_add(*h);
        }
        let events = run(&mut vad, &voice, rate);
        assert_eq!(events.first().map(|e| e.0), Some(VadEvent::SpeechStarted));
    }

    #[test]
    fn quiet_speech_below_the_minimum_level_is_not_speech() {
        let rate = 16_000;
        let mut vad = Vad::new(VadConfig::default(), rate);
        // -50 dBFS: under the -45 dBFS minimum.
        let pcm = tone(rate, 1000, 32768.0 * 0.0045);
        assert!(run(&mut vad, &pcm, rate).is_empty());
    }
}
