//! Audio for ha-sip-rs: decoding WAV, MP3, Ogg Vorbis and FLAC (symphonia), downmixing to
//! mono and resampling (rubato's FFT resampler) to the call's rate as 16-bit PCM, and
//! writing call recordings as WAV.
//!
//! Pure: it takes bytes and returns samples, or writes to a `Write + Seek` it is handed; the
//! shell opens the files. No clock, threads, environment or sockets (see `clippy.toml`).
//!
//! - [`probe`]: container, codec, rate, channels, duration from the headers.
//! - [`convert`]: a whole file to mono 16-bit PCM at a rate (8000, 16000, 48000 Hz), as an
//!   `Arc<[i16]>` for `hasip_media::MediaSession::play`.
//! - [`Converter`]: the same as 20 ms frames, decoding only as far as needed.
//! - [`Decoder`], [`decode_mono`]: packets to mono `f32` at the source rate.
//! - [`resample`] (whole clip) and [`Resampler`] (streaming), mono `f32`.
//! - [`WavWriter`]: 16-bit mono or stereo (remote left, local right) recordings whose
//!   header stays valid while they grow.
//!
//! No input panics it: every fault is an [`Error`] that says what is wrong, or a packet
//! skipped and counted in a [`Report`] (fuzzed: `fuzz/fuzz_targets/audio_decode.rs`).
#![forbid(unsafe_code)]
#![warn(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod convert;
mod decode;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod resample;
mod wav;

pub use convert::{Converted, Converter, convert};
pub use decode::{
    Decoded, Decoder, Format, Info, MAX_RATE, MIN_RATE, Options, Report, decode_mono, probe,
};
pub use error::Error;
pub use resample::{Resampler, from_i16, resample, sample_to_i16, to_i16};
pub use wav::{Layout, WavWriter};
