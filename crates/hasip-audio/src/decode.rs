//! Probing and decoding with symphonia: WAV (PCM 8/16/24/32-bit integer, 32/64-bit float,
//! A-law, µ-law), MP3, Ogg Vorbis and FLAC, from bytes, to mono `f32` at the source rate.
//!
//! The rules for bad input (ha-sip-behaviour.md §7.1, issue 4 "Bad input"):
//!
//! - "unexpected end of file" from the container is the end of the stream: espeak-ng pipes
//!   WAVs whose RIFF and data sizes are the placeholder `0x7FFFF000`, and a truncated file
//!   simply ends;
//! - a packet the codec rejects is skipped and counted ([`Report`]); only when no packet at
//!   all decodes is it an error ([`Error::Decode`], naming the first failing packet);
//! - a container error after some audio ends the stream early ([`Report::truncated`]);
//!   before any audio it is an error;
//! - leading ID3v2 tags are skipped by us, whatever their size (symphonia's probe would
//!   only search the first 1 MiB for an MP3 frame);
//! - decoding stops with [`Error::TooLong`] past [`Options::max_secs`], so a few bytes that
//!   claim hours of audio cannot exhaust memory.
//!
//! Nothing here panics on any input: every symphonia call is matched, never unwrapped; a
//! WAV claiming more than 32 channels is refused before symphonia's RIFF reader can
//! overflow on it; and as a last line, a panic inside symphonia (a bug on hostile input)
//! is caught and becomes an error for that file, or the end of its stream.

use std::io::{self, Read, Seek, SeekFrom};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use symphonia::core::codecs::audio::{AudioCodecId, AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::well_known::{
    FORMAT_ID_FLAC, FORMAT_ID_MP1, FORMAT_ID_MP2, FORMAT_ID_MP3, FORMAT_ID_OGG, FORMAT_ID_WAVE,
};
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

use crate::Error;

/// Lowest sample rate accepted from a file.
pub const MIN_RATE: u32 = 1000;
/// Highest sample rate accepted from a file.
pub const MAX_RATE: u32 = 384_000;
/// Most channels accepted from a file.
const MAX_CHANNELS: usize = 32;

/// The container of an audio file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// RIFF WAVE.
    Wav,
    /// MPEG audio (MP3; MP1/MP2 are not enabled).
    Mp3,
    /// Ogg (Vorbis).
    Ogg,
    /// Native FLAC.
    Flac,
}

impl Format {
    /// The usual file extension, lower case, without the dot.
    pub fn name(self) -> &'static str {
        match self {
            Format::Wav => "wav",
            Format::Mp3 => "mp3",
            Format::Ogg => "ogg",
            Format::Flac => "flac",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What [`probe`] learns from a file's headers, without decoding its audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// The container.
    pub format: Format,
    /// The codec's short name as symphonia gives it (`pcm_s16le`, `mp3`, `vorbis`, `flac`, …).
    pub codec: &'static str,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: u16,
    /// Frames (samples per channel) as the headers state them; `None` when unknown or when
    /// the headers are visibly wrong (espeak-ng's placeholder sizes).
    pub frames: Option<u64>,
    /// `frames` as time.
    pub duration: Option<Duration>,
}

/// Limits for decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Longest audio decoded, in seconds of source audio (default 3600). Longer input fails
    /// with [`Error::TooLong`].
    pub max_secs: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options { max_secs: 3600 }
    }
}

/// What went wrong along the way without stopping the decoding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Packets of the audio track read so far.
    pub packets: u64,
    /// Packets that failed to decode and were skipped.
    pub skipped_packets: u64,
    /// The first skipped packet: its index (from 0) and the decoder's message.
    pub first_skipped: Option<(u64, String)>,
    /// Set when the container failed after some audio was decoded, which ended the stream
    /// early (a truncated or damaged file); the text says what failed.
    pub truncated: Option<String>,
}

/// Probes `bytes`: the container, codec, rate, channels and, when the headers say, the
/// duration. Checks that a decoder for the codec exists, but decodes no audio.
pub fn probe(bytes: &[u8]) -> Result<Info, Error> {
    Decoder::new(bytes).map(|d| d.info)
}

/// A streaming decoder over bytes: one packet at a time, to mono `f32` at the source rate.
pub struct Decoder<'a> {
    reader: Box<dyn FormatReader + 'a>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    info: Info,
    options: Options,
    max_frames: u64,
    planes: Vec<Vec<f32>>,
    decoded_frames: u64,
    report: Report,
    done: bool,
}

impl std::fmt::Debug for Decoder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("info", &self.info)
            .field("decoded_frames", &self.decoded_frames)
            .field("report", &self.report)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<'a> Decoder<'a> {
    /// Opens `bytes` with the default [`Options`].
    pub fn new(bytes: &'a [u8]) -> Result<Self, Error> {
        Self::with_options(bytes, Options::default())
    }

    /// Opens `bytes` with `options`.
    pub fn with_options(bytes: &'a [u8], options: Options) -> Result<Self, Error> {
        Self::open(Source::new(bytes), bytes.len(), options)
    }

    /// Opens owned bytes (a `Vec<u8>`, `Arc<[u8]>`, `bytes::Bytes`, …), so the decoder can
    /// outlive the caller's borrow.
    pub fn from_owned<T>(bytes: T, options: Options) -> Result<Decoder<'static>, Error>
    where
        T: AsRef<[u8]> + Send + Sync + 'static,
    {
        let len = bytes.as_ref().len();
        Decoder::open(Source::new(bytes), len, options)
    }

    fn open<T>(source: Source<T>, len: usize, options: Options) -> Result<Self, Error>
    where
        T: AsRef<[u8]> + Send + Sync + 'a,
    {
        if len == 0 {
            return Err(Error::Empty);
        }
        if source.remaining() == 0 {
            return Err(Error::UnknownFormat {
                detail: "only an ID3v2 tag, no audio after it".into(),
            });
        }
        let sniffed = sniff(source.body());
        if sniffed == Some(Format::Wav) {
            check_wav_channels(source.body())?;
        }
        match catch_unwind(AssertUnwindSafe(move || {
            Self::open_probed(source, sniffed, len, options)
        })) {
            Ok(result) => result,
            Err(panic) => Err(Error::Malformed {
                format: sniffed.map_or("audio", Format::name),
                detail: format!("the decoder failed: {}", panic_message(&*panic)),
            }),
        }
    }

    fn open_probed<T>(
        source: Source<T>,
        sniffed: Option<Format>,
        len: usize,
        options: Options,
    ) -> Result<Self, Error>
    where
        T: AsRef<[u8]> + Send + Sync + 'a,
    {
        let mss = MediaSourceStream::new(Box::new(source), MediaSourceStreamOptions::default());
        let reader = match symphonia::default::get_probe().probe(
            &Hint::new(),
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        ) {
            Ok(reader) => reader,
            Err(e) => return Err(probe_error(e, sniffed)),
        };
        let info = reader.format_info();
        let format = match info.format {
            FORMAT_ID_WAVE => Format::Wav,
            FORMAT_ID_MP3 | FORMAT_ID_MP2 | FORMAT_ID_MP1 => Format::Mp3,
            FORMAT_ID_OGG => Format::Ogg,
            FORMAT_ID_FLAC => Format::Flac,
            _ => {
                return Err(Error::UnknownFormat {
                    detail: format!("container {} is not supported", info.short_name),
                });
            }
        };
        let fname = format.name();
        let Some(track) = reader.default_track(TrackType::Audio) else {
            return Err(Error::NoAudioTrack { format: fname });
        };
        let Some(params) = track.codec_params.as_ref().and_then(|p| p.audio()) else {
            return Err(Error::NoAudioTrack { format: fname });
        };
        let rate = params.sample_rate.unwrap_or(0);
        if !(MIN_RATE..=MAX_RATE).contains(&rate) {
            return Err(Error::UnsupportedRate { rate });
        }
        let channels = params.channels.as_ref().map_or(0, |c| c.count());
        if channels == 0 || channels > MAX_CHANNELS {
            return Err(Error::UnsupportedChannels { channels });
        }
        let decoder = match symphonia::default::get_codecs()
            .make_audio_decoder(params, &AudioDecoderOptions::default())
        {
            Ok(d) => d,
            Err(e) => {
                return Err(Error::UnsupportedCodec {
                    format: fname,
                    detail: format!("{} ({e})", codec_name(params.codec)),
                });
            }
        };
        // A header's frame count is believed only if the file could hold that many frames
        // (espeak-ng's placeholder 0x7FFFF000 bytes cannot be in a 30 KB file).
        let frames = track.num_frames.filter(|&n| {
            let bits = params
                .bits_per_coded_sample
                .or(params.bits_per_sample)
                .unwrap_or(0);
            format != Format::Wav
                || n.saturating_mul(channels as u64)
                    .saturating_mul(u64::from(bits))
                    / 8
                    <= len as u64
        });
        let info = Info {
            format,
            codec: decoder.codec_info().short_name,
            sample_rate: rate,
            channels: channels as u16,
            frames,
            duration: frames.map(|n| frames_to_duration(n, rate)),
        };
        let track_id = track.id;
        Ok(Decoder {
            reader,
            decoder,
            track_id,
            max_frames: u64::from(options.max_secs) * u64::from(rate),
            options,
            info,
            planes: Vec::new(),
            decoded_frames: 0,
            report: Report::default(),
            done: false,
        })
    }

    /// What the headers said.
    pub fn info(&self) -> &Info {
        &self.info
    }

    /// The rate of the samples [`Decoder::next_mono`] produces (the source's).
    pub fn sample_rate(&self) -> u32 {
        self.info.sample_rate
    }

    /// Frames decoded so far.
    pub fn decoded_frames(&self) -> u64 {
        self.decoded_frames
    }

    /// Skipped packets and early ends so far.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// Decodes the next packet and appends its audio, downmixed to mono (the mean of the
    /// channels), to `out`. Returns `Ok(false)` at the end of the stream (and on every
    /// call after it). A packet may add no samples (a codec's priming packet).
    pub fn next_mono(&mut self, out: &mut Vec<f32>) -> Result<bool, Error> {
        let start = out.len();
        match catch_unwind(AssertUnwindSafe(|| self.next_mono_unguarded(out))) {
            Ok(result) => result,
            Err(panic) => {
                // A bug in a decoder (symphonia's arithmetic on hostile headers): this
                // stream is over; what was decoded before stays, as for a truncated file.
                out.truncate(start);
                self.done = true;
                let detail = format!("the decoder failed: {}", panic_message(&*panic));
                if self.decoded_frames == 0 {
                    return Err(Error::Decode {
                        format: self.info.format.name(),
                        packet: self.report.packets.saturating_sub(1),
                        detail,
                    });
                }
                self.report.truncated = Some(detail);
                Ok(false)
            }
        }
    }

    fn next_mono_unguarded(&mut self, out: &mut Vec<f32>) -> Result<bool, Error> {
        let fname = self.info.format.name();
        while !self.done {
            let packet = match self.reader.next_packet() {
                Ok(Some(packet)) => packet,
                Ok(None) => {
                    self.done = true;
                    break;
                }
                Err(SymError::IoError(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    // Placeholder sizes (espeak-ng) and truncated files end here.
                    self.done = true;
                    break;
                }
                Err(SymError::ResetRequired) => {
                    // A chained Ogg stream: play the first link only.
                    self.done = true;
                    self.report.truncated =
                        Some("a second chained stream follows; only the first is played".into());
                    break;
                }
                Err(e) => {
                    self.done = true;
                    if self.decoded_frames == 0 {
                        return Err(Error::Decode {
                            format: fname,
                            packet: self.report.packets,
                            detail: e.to_string(),
                        });
                    }
                    self.report.truncated = Some(format!(
                        "container error after packet {}: {e}",
                        self.report.packets
                    ));
                    break;
                }
            };
            if packet.track_id != self.track_id {
                continue;
            }
            let index = self.report.packets;
            self.report.packets += 1;
            let buf = match self.decoder.decode(&packet) {
                Ok(buf) => buf,
                Err(SymError::ResetRequired) => {
                    self.decoder.reset();
                    self.skip(index, "decoder reset required".into());
                    continue;
                }
                Err(e) => {
                    self.skip(index, e.to_string());
                    continue;
                }
            };
            let spec = buf.spec();
            if spec.rate() != self.info.sample_rate {
                let msg = format!(
                    "sample rate changed from {} to {} Hz",
                    self.info.sample_rate,
                    spec.rate()
                );
                self.skip(index, msg);
                continue;
            }
            buf.copy_to_vecs_planar::<f32>(&mut self.planes);
            let frames = self.planes.first().map_or(0, Vec::len);
            self.decoded_frames += frames as u64;
            if self.decoded_frames > self.max_frames {
                self.done = true;
                return Err(Error::TooLong {
                    limit_secs: self.options.max_secs,
                });
            }
            downmix_planes(&self.planes, frames, out);
            return Ok(true);
        }
        if self.decoded_frames == 0
            && let Some((packet, detail)) = self.report.first_skipped.take()
        {
            return Err(Error::Decode {
                format: fname,
                packet,
                detail,
            });
        }
        Ok(false)
    }

    fn skip(&mut self, index: u64, detail: String) {
        self.report.skipped_packets += 1;
        if self.report.first_skipped.is_none() {
            self.report.first_skipped = Some((index, detail));
        }
    }
}

/// A whole file decoded to mono at its own rate.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// What the headers said.
    pub info: Info,
    /// Mono samples in [-1, 1] at `info.sample_rate`.
    pub samples: Vec<f32>,
    /// Skipped packets and early ends.
    pub report: Report,
}

impl Decoded {
    /// The decoded length as time.
    pub fn duration(&self) -> Duration {
        frames_to_duration(self.samples.len() as u64, self.info.sample_rate)
    }
}

/// Decodes all of `bytes` to mono at the source rate.
pub fn decode_mono(bytes: &[u8], options: Options) -> Result<Decoded, Error> {
    let mut decoder = Decoder::with_options(bytes, options)?;
    let mut samples = Vec::new();
    while decoder.next_mono(&mut samples)? {}
    Ok(Decoded {
        info: decoder.info.clone(),
        samples,
        report: decoder.report.clone(),
    })
}

/// Appends the mean of `planes[..][..frames]` to `out`; NaN and infinities become silence.
fn downmix_planes(planes: &[Vec<f32>], frames: usize, out: &mut Vec<f32>) {
    out.reserve(frames);
    match planes {
        [] => {}
        [mono] => out.extend(mono.iter().take(frames).map(|&s| finite(s))),
        [left, right] => out.extend(
            left.iter()
                .zip(right)
                .take(frames)
                .map(|(&l, &r)| finite((l + r) * 0.5)),
        ),
        _ => {
            let scale = 1.0 / planes.len() as f32;
            out.extend((0..frames).map(|i| {
                let sum: f32 = planes
                    .iter()
                    .map(|p| p.get(i).copied().unwrap_or(0.0))
                    .sum();
                finite(sum * scale)
            }));
        }
    }
}

fn finite(s: f32) -> f32 {
    if s.is_finite() { s } else { 0.0 }
}

pub(crate) fn frames_to_duration(frames: u64, rate: u32) -> Duration {
    if rate == 0 {
        return Duration::ZERO;
    }
    let rate = u64::from(rate);
    let nanos = (frames % rate) * 1_000_000_000 / rate;
    Duration::new(frames / rate, nanos as u32)
}

/// Refuses a WAV whose `fmt ` chunk claims more than [`MAX_CHANNELS`] channels before
/// symphonia sees it: its RIFF reader multiplies the channel count in 16 bits and
/// overflows (found by `fuzz/fuzz_targets/audio_decode.rs`).
fn check_wav_channels(body: &[u8]) -> Result<(), Error> {
    let mut pos = 12usize;
    // A WAV has a handful of chunks before `fmt `; give up looking after a few.
    for _ in 0..64 {
        let Some(header) = body.get(pos..pos.saturating_add(8)) else {
            return Ok(());
        };
        let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        if &header[..4] == b"fmt " {
            if let Some(&[lo, hi]) = body.get(pos + 10..pos + 12) {
                let channels = usize::from(u16::from_le_bytes([lo, hi]));
                if channels > MAX_CHANNELS {
                    return Err(Error::UnsupportedChannels { channels });
                }
            }
            return Ok(());
        }
        pos = pos
            .saturating_add(8)
            .saturating_add(len)
            .saturating_add(len & 1);
    }
    Ok(())
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic".to_string()
    }
}

/// A name for the codecs symphonia can read a container of but we do not decode.
fn codec_name(id: AudioCodecId) -> String {
    use symphonia::core::codecs::audio::well_known as c;
    let name = match id {
        c::CODEC_ID_ADPCM_IMA_WAV => "IMA ADPCM",
        c::CODEC_ID_ADPCM_MS => "Microsoft ADPCM",
        c::CODEC_ID_ADPCM_G722 => "G.722",
        c::CODEC_ID_ADPCM_G726 | c::CODEC_ID_ADPCM_G726LE => "G.726",
        c::CODEC_ID_MP1 => "MPEG layer I",
        c::CODEC_ID_MP2 => "MPEG layer II",
        c::CODEC_ID_AAC => "AAC",
        c::CODEC_ID_ALAC => "ALAC",
        c::CODEC_ID_OPUS => "Opus",
        c::CODEC_ID_SPEEX => "Speex",
        c::CODEC_ID_WMA => "WMA",
        c::CODEC_ID_AC3 | c::CODEC_ID_EAC3 => "AC-3",
        c::CODEC_ID_WAVPACK => "WavPack",
        _ => return format!("codec id {id}"),
    };
    name.to_string()
}

/// The container named by the first bytes (after ID3v2 tags), for error messages only:
/// symphonia's probe decides what is read.
fn sniff(body: &[u8]) -> Option<Format> {
    match body {
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'A',
            b'V',
            b'E',
            ..,
        ] => Some(Format::Wav),
        [b'O', b'g', b'g', b'S', ..] => Some(Format::Ogg),
        [b'f', b'L', b'a', b'C', ..] => Some(Format::Flac),
        [0xff, b, ..] if b & 0xe0 == 0xe0 => Some(Format::Mp3),
        _ => None,
    }
}

fn probe_error(e: SymError, sniffed: Option<Format>) -> Error {
    let eof = matches!(&e, SymError::IoError(io) if io.kind() == io::ErrorKind::UnexpectedEof);
    match sniffed {
        Some(format) => Error::Malformed {
            format: format.name(),
            detail: if eof {
                "the file ends inside its headers or its first audio page".into()
            } else {
                e.to_string()
            },
        },
        None if eof => Error::UnknownFormat {
            detail: "no known header before the end of the input".into(),
        },
        None => Error::UnknownFormat {
            detail: match e {
                SymError::Unsupported(m) => m.into(),
                other => other.to_string(),
            },
        },
    }
}

/// Length of the ID3v2 tags at the start of `bytes` (0 when there are none). A tag is
/// "ID3", version (2, 3 or 4), revision, flags, a 28-bit sync-safe size, then the body and,
/// with flag 0x10, a 10-byte footer. Several tags in a row are all skipped.
pub(crate) fn id3v2_len(bytes: &[u8]) -> usize {
    let mut pos = 0usize;
    loop {
        let Some(h) = bytes.get(pos..pos.saturating_add(10)) else {
            return pos;
        };
        let size_ok = h[6..10].iter().all(|b| b & 0x80 == 0);
        if &h[..3] != b"ID3" || !(2..=4).contains(&h[3]) || h[4] == 0xff || !size_ok {
            return pos;
        }
        let size = h[6..10]
            .iter()
            .fold(0usize, |acc, &b| (acc << 7) | usize::from(b));
        let footer = if h[5] & 0x10 != 0 { 10 } else { 0 };
        pos = pos
            .saturating_add(10 + footer)
            .saturating_add(size)
            .min(bytes.len());
    }
}

/// Bytes as a symphonia `MediaSource`, starting after any leading ID3v2 tags.
struct Source<T> {
    data: T,
    start: usize,
    pos: usize,
}

impl<T: AsRef<[u8]>> Source<T> {
    fn new(data: T) -> Self {
        let start = id3v2_len(data.as_ref());
        Source {
            data,
            start,
            pos: 0,
        }
    }

    fn body(&self) -> &[u8] {
        self.data.as_ref().get(self.start..).unwrap_or_default()
    }

    fn remaining(&self) -> usize {
        self.body().len().saturating_sub(self.pos)
    }
}

impl<T: AsRef<[u8]>> Read for Source<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let body = self.body();
        let rest = body.get(self.pos..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

impl<T: AsRef<[u8]>> Seek for Source<T> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let len = self.body().len() as i128;
        let target = match to {
            SeekFrom::Start(n) => i128::from(n),
            SeekFrom::End(d) => len + i128::from(d),
            SeekFrom::Current(d) => self.pos as i128 + i128::from(d),
        };
        if target < 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start",
            ));
        }
        // Past the end is allowed (reads then return 0), as for files.
        self.pos = usize::try_from(target).unwrap_or(usize::MAX);
        Ok(self.pos as u64)
    }
}

impl<T: AsRef<[u8]> + Send + Sync> MediaSource for Source<T> {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        Some(self.body().len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id3_lengths() {
        assert_eq!(id3v2_len(b""), 0);
        assert_eq!(id3v2_len(b"RIFF...."), 0);
        // size 0x0101 sync-safe = 129
        let mut tag = b"ID3\x03\x00\x00\x00\x00\x01\x01".to_vec();
        tag.extend(std::iter::repeat_n(0u8, 129));
        tag.extend(b"\xff\xfb");
        assert_eq!(id3v2_len(&tag), 139);
        // a size bigger than the input stops at the end
        assert_eq!(id3v2_len(b"ID3\x04\x00\x00\x7f\x7f\x7f\x7f"), 10);
        // a byte with the top bit set is no sync-safe size: not a tag
        assert_eq!(id3v2_len(b"ID3\x04\x00\x00\x80\x00\x00\x00"), 0);
    }

    #[test]
    fn durations() {
        assert_eq!(frames_to_duration(8000, 8000), Duration::from_secs(1));
        assert_eq!(frames_to_duration(12, 8000), Duration::from_micros(1500));
        assert_eq!(
            frames_to_duration(u64::MAX, 1000).as_secs(),
            u64::MAX / 1000
        );
        assert_eq!(frames_to_duration(5, 0), Duration::ZERO);
    }

    #[test]
    fn source_reads_and_seeks() {
        let mut s = Source::new(b"ID3\x03\x00\x00\x00\x00\x00\x02xyabc".as_slice());
        let mut buf = [0u8; 8];
        assert_eq!(s.read(&mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"abc");
        assert_eq!(s.seek(SeekFrom::End(-1)).unwrap(), 2);
        assert_eq!(s.read(&mut buf).unwrap(), 1);
        assert!(s.seek(SeekFrom::Current(-10)).is_err());
        assert_eq!(s.seek(SeekFrom::Start(100)).unwrap(), 100);
        assert_eq!(s.read(&mut buf).unwrap(), 0);
    }
}
