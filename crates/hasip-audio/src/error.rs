//! The one error type of the crate: every variant says what is wrong with the input.

use std::io;

/// Why audio could not be probed, decoded, resampled or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input has no bytes at all.
    #[error("empty input: 0 bytes")]
    Empty,
    /// No WAV, MP3, Ogg or FLAC header was found in the first bytes.
    #[error("unknown format: not a WAV, MP3, Ogg Vorbis or FLAC file ({detail})")]
    UnknownFormat {
        /// What symphonia's probe said.
        detail: String,
    },
    /// The container was recognised but could not be read up to its first packet.
    #[error("malformed {format} file: {detail}")]
    Malformed {
        /// The container (`wav`, `mp3`, …).
        format: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The container holds no audio track with codec parameters.
    #[error("{format} file has no audio track")]
    NoAudioTrack {
        /// The container.
        format: &'static str,
    },
    /// The audio track uses a codec we cannot decode (say ADPCM in a WAV).
    #[error("unsupported codec in {format} file: {detail}")]
    UnsupportedCodec {
        /// The container.
        format: &'static str,
        /// What symphonia said.
        detail: String,
    },
    /// The track's sample rate is missing or outside 1000–384000 Hz.
    #[error("unsupported sample rate: {rate} Hz (supported: 1000 to 384000 Hz)")]
    UnsupportedRate {
        /// The rate, 0 when the file does not say.
        rate: u32,
    },
    /// The track's channel count is 0 or above 32.
    #[error("unsupported channel count: {channels}")]
    UnsupportedChannels {
        /// The count.
        channels: usize,
    },
    /// Not one packet decoded: the first failure, with the packet's index (0 = first).
    #[error("decode error in {format} file at packet {packet}: {detail}")]
    Decode {
        /// The container.
        format: &'static str,
        /// Index of the packet that failed, counted from 0.
        packet: u64,
        /// What the decoder said.
        detail: String,
    },
    /// The decoded audio would be longer than the limit in [`crate::Options`].
    #[error("audio longer than the limit of {limit_secs} s")]
    TooLong {
        /// The limit in seconds.
        limit_secs: u32,
    },
    /// The resampler refused its parameters (a bug if it ever shows).
    #[error("resampler: {0}")]
    Resample(String),
    /// Writing a recording failed.
    #[error("writing WAV: {0}")]
    Write(#[from] io::Error),
    /// The recording reached the 4 GiB limit of a RIFF file; nothing more is written.
    #[error("WAV file full: a RIFF file cannot hold more than 4 GiB")]
    WavFull,
    /// Stereo recording needs both sides of the same length.
    #[error("stereo write with {left} left and {right} right samples")]
    UnevenChannels {
        /// Samples given for the left channel.
        left: usize,
        /// Samples given for the right channel.
        right: usize,
    },
}
