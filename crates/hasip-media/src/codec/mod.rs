//! Audio codecs behind one small trait, [`AudioCodec`]: encode one frame of mono `i16` PCM
//! at the codec's sample rate into an RTP payload, and decode a payload back.
//!
//! G.711 ([`g711`]) and G.722 ([`g722`]) are our own code; Opus goes through Debian's
//! libopus (`opusic-c`) behind the `opus` cargo feature, on by default.

use std::fmt;

pub mod g711;
pub mod g722;
#[cfg(feature = "opus")]
mod opus;

/// The codecs a call can use. The engine maps `hasip_sip::sdp::Codec` onto this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law (`PCMU/8000`, static payload type 0).
    Pcmu,
    /// G.711 A-law (`PCMA/8000`, static payload type 8).
    Pcma,
    /// G.722 at 64 kbit/s: 16 kHz audio, but `G722/8000` and an 8 kHz RTP clock
    /// (RFC 3551 §4.5.2, kept for historic reasons); static payload type 9.
    G722,
    /// Opus (`opus/48000/2`, RFC 7587), mono, dynamic payload type.
    Opus,
}

impl Codec {
    /// The rate of the PCM this codec takes and gives, in Hz.
    pub fn sample_rate(self) -> u32 {
        match self {
            Self::Pcmu | Self::Pcma => 8000,
            Self::G722 => 16_000,
            Self::Opus => 48_000,
        }
    }

    /// The RTP clock rate (the unit of RTP timestamps), in Hz.
    pub fn clock_rate(self) -> u32 {
        match self {
            Self::Pcmu | Self::Pcma | Self::G722 => 8000,
            Self::Opus => 48_000,
        }
    }

    /// The static payload type, if the codec has one.
    pub fn static_payload_type(self) -> Option<u8> {
        match self {
            Self::Pcmu => Some(0),
            Self::Pcma => Some(8),
            Self::G722 => Some(9),
            Self::Opus => None,
        }
    }

    /// PCM samples in `ms` milliseconds.
    pub fn samples_in(self, ms: u32) -> usize {
        (self.sample_rate() as usize * ms as usize) / 1000
    }

    /// RTP timestamp units for `samples` PCM samples (half of them for G.722).
    pub fn rtp_units(self, samples: usize) -> u32 {
        (samples as u64 * u64::from(self.clock_rate()) / u64::from(self.sample_rate())) as u32
    }

    /// Whether this build can encode and decode the codec (Opus needs the `opus` feature).
    pub fn is_available(self) -> bool {
        !matches!(self, Self::Opus) || cfg!(feature = "opus")
    }

    /// A fresh encoder/decoder pair for one call.
    ///
    /// # Errors
    /// [`CodecError::Unavailable`] for Opus in a build without the `opus` feature, and
    /// [`CodecError::Opus`] if libopus refuses to create its state.
    pub fn instantiate(self) -> Result<Box<dyn AudioCodec>, CodecError> {
        match self {
            Self::Pcmu => Ok(Box::new(g711::G711::ulaw())),
            Self::Pcma => Ok(Box::new(g711::G711::alaw())),
            Self::G722 => Ok(Box::new(g722::G722::new())),
            #[cfg(feature = "opus")]
            Self::Opus => Ok(Box::new(opus::Opus::new()?)),
            #[cfg(not(feature = "opus"))]
            Self::Opus => Err(CodecError::Unavailable(self)),
        }
    }
}

/// The largest payload [`AudioCodec::encode`] writes for a frame of up to 60 ms
/// (an Opus packet is at most 1275 bytes per frame, RFC 6716 §3.4 R2).
pub const MAX_PAYLOAD: usize = 1500;

/// Why a codec could not encode or decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecError {
    /// The output buffer cannot hold the result.
    OutputTooSmall,
    /// The input has a length the codec cannot take (Opus: not 2.5–60 ms of audio).
    BadLength,
    /// This build has no implementation of the codec.
    Unavailable(Codec),
    /// libopus reported an error (its description).
    Opus(&'static str),
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutputTooSmall => f.write_str("codec output buffer too small"),
            Self::BadLength => f.write_str("codec input length not supported"),
            Self::Unavailable(c) => write!(f, "codec {c:?} not built in (cargo feature)"),
            Self::Opus(e) => write!(f, "libopus: {e}"),
        }
    }
}

impl std::error::Error for CodecError {}

/// One call's encoder and decoder state for one codec.
///
/// PCM is mono `i16` at [`Codec::sample_rate`]. Both methods write into a caller's buffer
/// and return how much they wrote, so that a caller reusing its buffers never allocates.
pub trait AudioCodec: Send + fmt::Debug {
    /// Which codec this is.
    fn codec(&self) -> Codec;

    /// Encodes one frame of PCM (normally 20 ms) into `out`, returning the payload length.
    ///
    /// # Errors
    /// [`CodecError::OutputTooSmall`], [`CodecError::BadLength`] or a libopus error.
    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError>;

    /// Decodes one payload into `out`, returning the number of samples written.
    ///
    /// # Errors
    /// [`CodecError::OutputTooSmall`] or, for Opus, a corrupt packet.
    fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_rates_and_the_g722_quirk() {
        assert_eq!(Codec::G722.sample_rate(), 16_000);
        assert_eq!(Codec::G722.clock_rate(), 8000);
        assert_eq!(Codec::G722.samples_in(20), 320);
        assert_eq!(Codec::G722.rtp_units(320), 160);
        assert_eq!(Codec::Pcmu.rtp_units(160), 160);
        assert_eq!(Codec::Opus.rtp_units(960), 960);
        assert_eq!(Codec::Pcma.static_payload_type(), Some(8));
        assert_eq!(Codec::Opus.static_payload_type(), None);
    }

    #[test]
    fn every_available_codec_round_trips_a_frame() {
        for codec in [Codec::Pcmu, Codec::Pcma, Codec::G722, Codec::Opus] {
            if !codec.is_available() {
                assert_eq!(
                    codec.instantiate().unwrap_err(),
                    CodecError::Unavailable(codec)
                );
                continue;
            }
            let mut c = codec.instantiate().unwrap();
            assert_eq!(c.codec(), codec);
            let n = codec.samples_in(20);
            let pcm: Vec<i16> = (0..n).map(|i| ((i * 97) % 2000) as i16 - 1000).collect();
            let mut payload = [0u8; MAX_PAYLOAD];
            let len = c.encode(&pcm, &mut payload).unwrap();
            assert!(len > 0 && len <= MAX_PAYLOAD, "{codec:?}: {len}");
            let mut back = vec![0i16; 5760];
            let got = c.decode(&payload[..len], &mut back).unwrap();
            assert_eq!(got, n, "{codec:?}");
        }
    }
}
