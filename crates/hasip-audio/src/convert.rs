//! The whole path a prompt takes: bytes → decode → mono → resample → 16-bit PCM at the
//! call's rate, as one clip ([`convert`]) or as 20 ms frames ([`Converter`]).

use std::sync::Arc;

use crate::decode::{Decoder, Info, Options, Report, decode_mono};
use crate::resample::{Resampler, resample, sample_to_i16, to_i16};
use crate::{Error, decode::frames_to_duration};

/// A file converted for playback.
#[derive(Debug, Clone)]
pub struct Converted {
    /// Mono 16-bit PCM at `sample_rate`, ready for `MediaSession::play`.
    pub samples: Arc<[i16]>,
    /// The rate of `samples`.
    pub sample_rate: u32,
    /// What the source's headers said.
    pub source: Info,
    /// Skipped packets and early ends while decoding.
    pub report: Report,
}

impl Converted {
    /// The length of `samples` as time.
    pub fn duration(&self) -> std::time::Duration {
        frames_to_duration(self.samples.len() as u64, self.sample_rate)
    }
}

/// Decodes a WAV, MP3, Ogg Vorbis or FLAC file, downmixes it to mono and resamples it to
/// `rate` (8000, 16000, 48000, … Hz) as one clip.
pub fn convert(bytes: &[u8], rate: u32, options: Options) -> Result<Converted, Error> {
    let decoded = decode_mono(bytes, options)?;
    let resampled = resample(&decoded.samples, decoded.info.sample_rate, rate)?;
    Ok(Converted {
        samples: to_i16(&resampled).into(),
        sample_rate: rate,
        source: decoded.info,
        report: decoded.report,
    })
}

/// Streaming conversion: decodes and resamples only as far as the next 20 ms frame needs,
/// so a long file never sits in memory as PCM.
#[derive(Debug)]
pub struct Converter<'a> {
    decoder: Decoder<'a>,
    resampler: Resampler,
    frame_len: usize,
    decoded: Vec<f32>,
    ready: Vec<f32>,
    ready_pos: usize,
    frame: Vec<i16>,
    finished: bool,
}

impl<'a> Converter<'a> {
    /// Converts what `decoder` yields to mono at `rate`, in frames of `rate / 50` samples.
    pub fn new(decoder: Decoder<'a>, rate: u32) -> Result<Self, Error> {
        let resampler = Resampler::new(decoder.sample_rate(), rate)?;
        let frame_len = (rate as usize / 50).max(1);
        Ok(Converter {
            decoder,
            resampler,
            frame_len,
            decoded: Vec::new(),
            ready: Vec::new(),
            ready_pos: 0,
            frame: Vec::with_capacity(frame_len),
            finished: false,
        })
    }

    /// Samples per frame (`rate / 50`).
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// The decoder, for its [`Info`] and [`Report`].
    pub fn decoder(&self) -> &Decoder<'a> {
        &self.decoder
    }

    /// The next 20 ms of 16-bit PCM; the last frame may be shorter. `None` at the end.
    pub fn next_frame(&mut self) -> Result<Option<&[i16]>, Error> {
        while self.ready.len() - self.ready_pos < self.frame_len && !self.finished {
            // Keep the ready buffer from growing: drop what was handed out.
            if self.ready_pos > 0 {
                self.ready.drain(..self.ready_pos);
                self.ready_pos = 0;
            }
            self.decoded.clear();
            if self.decoder.next_mono(&mut self.decoded)? {
                self.resampler.process(&self.decoded, &mut self.ready)?;
            } else {
                self.resampler.finish(&mut self.ready)?;
                self.finished = true;
            }
        }
        let available = self.ready.len() - self.ready_pos;
        if available == 0 {
            return Ok(None);
        }
        let n = available.min(self.frame_len);
        let end = self.ready_pos + n;
        self.frame.clear();
        self.frame.extend(
            self.ready
                .get(self.ready_pos..end)
                .unwrap_or_default()
                .iter()
                .map(|&s| sample_to_i16(s)),
        );
        self.ready_pos = end;
        Ok(Some(&self.frame))
    }
}
