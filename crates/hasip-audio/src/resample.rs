//! Sample-rate conversion with rubato's FFT resampler (`Fft`, `FixedSync::Both`), mono.
//!
//! Not `Async::new_poly`: it does not low-pass, so 24 kHz → 8 kHz turns a 5 kHz tone into a
//! full-level 3 kHz alias (`../shared/spec/design.md`, "Pitfalls"). The FFT resampler
//! filters in the frequency domain: the same tone comes out more than 60 dB down (tests).
//!
//! Two forms: [`resample`] converts a whole clip (rubato's `process_all`, which trims the
//! filter delay), and [`Resampler`] converts a stream in 20 ms chunks with the same
//! alignment: its output starts with the first input sample, not with the filter delay.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler as _};

use crate::Error;
use crate::decode::{MAX_RATE, MIN_RATE};

/// Chunk size hint for whole clips: bigger FFTs give a steeper anti-alias filter.
const CLIP_CHUNK: usize = 1024;

fn check_rates(from: u32, to: u32) -> Result<(), Error> {
    for rate in [from, to] {
        if !(MIN_RATE..=MAX_RATE).contains(&rate) {
            return Err(Error::UnsupportedRate { rate });
        }
    }
    Ok(())
}

fn fft(from: u32, to: u32, chunk: usize) -> Result<Fft<f32>, Error> {
    Fft::<f32>::new(from as usize, to as usize, chunk, 1, FixedSync::Both)
        .map_err(|e| Error::Resample(e.to_string()))
}

/// Resamples a whole mono clip from `from` Hz to `to` Hz. The output has
/// `ceil(len × to / from)` samples, aligned with the input (the filter delay is trimmed).
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, Error> {
    check_rates(from, to)?;
    if from == to || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let mut fft = fft(from, to, CLIP_CHUNK)?;
    let input = InterleavedSlice::new(samples, 1, samples.len())
        .map_err(|e| Error::Resample(e.to_string()))?;
    let out = fft
        .process_all(&input, samples.len(), None)
        .map_err(|e| Error::Resample(e.to_string()))?;
    // rubato rounds `ratio × len` in floating point (48000/44100 × 11025 = 12000.000…1 → 12001);
    // the exact length is the integer ceiling, as in the streaming form.
    let exact = (samples.len() as u64 * u64::from(to)).div_ceil(u64::from(from));
    let mut data = out.take_data();
    data.truncate(exact as usize);
    Ok(data)
}

/// A streaming mono resampler for 20 ms chunks (or any other sizes: input is buffered until
/// a whole FFT block is there). Its output is aligned like [`resample`]'s: the filter delay
/// is dropped at the start and flushed by [`Resampler::finish`].
pub struct Resampler {
    fft: Option<Fft<f32>>,
    from: u32,
    to: u32,
    chunk_in: usize,
    chunk_out: usize,
    pending: Vec<f32>,
    scratch: Vec<f32>,
    to_trim: usize,
    input_total: u64,
    output_total: u64,
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("chunk_in", &self.chunk_in)
            .field("chunk_out", &self.chunk_out)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl Resampler {
    /// A resampler from `from` Hz to `to` Hz with a 20 ms chunk (`from / 50` frames; rubato
    /// rounds it to fit the ratio, e.g. 11025 → 8000 Hz needs blocks of 441 input frames).
    /// Equal rates copy.
    pub fn new(from: u32, to: u32) -> Result<Self, Error> {
        check_rates(from, to)?;
        let (fft, chunk_in, chunk_out, delay) = if from == to {
            (None, 1, 1, 0)
        } else {
            let fft = fft(from, to, (from as usize / 50).max(1))?;
            let (i, o, d) = (
                fft.input_frames_next(),
                fft.output_frames_next(),
                fft.output_delay(),
            );
            (Some(fft), i, o, d)
        };
        Ok(Resampler {
            fft,
            from,
            to,
            chunk_in,
            chunk_out,
            pending: Vec::with_capacity(chunk_in * 2),
            scratch: vec![0.0; chunk_out],
            to_trim: delay,
            input_total: 0,
            output_total: 0,
        })
    }

    /// Input rate.
    pub fn from_rate(&self) -> u32 {
        self.from
    }

    /// Output rate.
    pub fn to_rate(&self) -> u32 {
        self.to
    }

    /// Input frames per FFT block.
    pub fn input_chunk(&self) -> usize {
        self.chunk_in
    }

    /// Output frames per FFT block.
    pub fn output_chunk(&self) -> usize {
        self.chunk_out
    }

    /// Output frames the filter holds back until [`Resampler::finish`].
    pub fn delay(&self) -> usize {
        self.fft.as_ref().map_or(0, |f| f.output_delay())
    }

    /// Feeds `input` and appends every output sample now available to `out`. Allocates
    /// nothing once `out` has room.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), Error> {
        self.input_total += input.len() as u64;
        if self.fft.is_none() {
            out.extend_from_slice(input);
            self.output_total += input.len() as u64;
            return Ok(());
        }
        let mut input = input;
        // Top up a partial block first, then run whole blocks straight from `input`.
        if !self.pending.is_empty() {
            let take = (self.chunk_in - self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.pending.len() < self.chunk_in {
                return Ok(());
            }
            let block = std::mem::take(&mut self.pending);
            let result = self.block(&block, out);
            self.pending = block;
            self.pending.clear();
            result?;
        }
        while input.len() >= self.chunk_in {
            let (block, rest) = input.split_at(self.chunk_in);
            self.block(block, out)?;
            input = rest;
        }
        self.pending.extend_from_slice(input);
        Ok(())
    }

    /// Flushes the buffered input and the filter's tail: after it, the total output is
    /// `ceil(total input × to / from)` samples. The resampler is then reset for a new stream.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<(), Error> {
        if self.fft.is_some() {
            let expected = (self.input_total * u64::from(self.to)).div_ceil(u64::from(self.from));
            let mut block = std::mem::take(&mut self.pending);
            // Bounded: every block yields chunk_out > 0 frames, the tail is one delay long.
            while self.output_total < expected {
                block.resize(self.chunk_in, 0.0);
                let start = out.len();
                let result = self.block(&block, out);
                if let Err(e) = result {
                    self.pending = block;
                    self.reset();
                    return Err(e);
                }
                block.iter_mut().for_each(|s| *s = 0.0);
                if out.len() == start && self.to_trim == 0 {
                    break;
                }
            }
            let extra = self.output_total.saturating_sub(expected);
            out.truncate(out.len().saturating_sub(extra as usize));
            self.pending = block;
        }
        self.reset();
        Ok(())
    }

    /// Drops buffered input and filter state.
    pub fn reset(&mut self) {
        if let Some(fft) = &mut self.fft {
            fft.reset();
            self.to_trim = fft.output_delay();
        }
        self.pending.clear();
        self.input_total = 0;
        self.output_total = 0;
    }

    fn block(&mut self, block: &[f32], out: &mut Vec<f32>) -> Result<(), Error> {
        let Some(fft) = &mut self.fft else {
            return Ok(());
        };
        let input = InterleavedSlice::new(block, 1, block.len())
            .map_err(|e| Error::Resample(e.to_string()))?;
        let frames = self.scratch.len();
        let mut output = InterleavedSlice::new_mut(&mut self.scratch, 1, frames)
            .map_err(|e| Error::Resample(e.to_string()))?;
        let (_, written) = fft
            .process_into_buffer(&input, &mut output, None)
            .map_err(|e| Error::Resample(e.to_string()))?;
        let produced = self.scratch.get(..written).unwrap_or_default();
        let trim = self.to_trim.min(produced.len());
        self.to_trim -= trim;
        let kept = produced.get(trim..).unwrap_or_default();
        out.extend_from_slice(kept);
        self.output_total += kept.len() as u64;
        Ok(())
    }
}

/// Converts `[-1, 1]` samples to 16-bit PCM (×32768, rounded, clipped).
pub fn to_i16(samples: &[f32]) -> Vec<i16> {
    samples.iter().map(|&s| sample_to_i16(s)).collect()
}

/// Converts one `[-1, 1]` sample to 16-bit PCM (×32768, rounded, clipped; NaN is 0).
pub fn sample_to_i16(s: f32) -> i16 {
    // `as` saturates and maps NaN to 0.
    (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// Converts 16-bit PCM to `[-1, 1)` samples (÷32768), the inverse of [`to_i16`].
pub fn from_i16(samples: &[i16]) -> Vec<f32> {
    samples.iter().map(|&s| f32::from(s) / 32768.0).collect()
}
