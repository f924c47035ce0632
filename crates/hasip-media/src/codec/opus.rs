//! Opus (RFC 6716, RTP payload RFC 7587) through Debian's libopus and `opusic-c`: mono,
//! 48 kHz PCM, the VoIP application. `opusic-c` takes PCM as `u16`; the bits are those of
//! `i16`, so samples are cast both ways.

use opusic_c::{Application, Channels, Decoder, Encoder, ErrorCode, SampleRate};

use super::{AudioCodec, Codec, CodecError};

/// The longest frame libopus decodes: 120 ms at 48 kHz (RFC 6716 §2).
const MAX_DECODED: usize = 5760;
/// The longest frame we encode in one call: 60 ms at 48 kHz.
const MAX_ENCODED: usize = 2880;

fn err(e: ErrorCode) -> CodecError {
    CodecError::Opus(match e {
        ErrorCode::Ok => "ok",
        ErrorCode::BadArg => "bad argument",
        ErrorCode::AllocFail => "allocation failed",
        ErrorCode::InvalidState => "invalid state",
        ErrorCode::InvalidPacket => "invalid packet",
        ErrorCode::BufferTooSmall => "buffer too small",
        ErrorCode::Internal => "internal error",
        ErrorCode::Unimplemented => "unimplemented",
        ErrorCode::Unknown => "unknown error",
    })
}

/// One Opus encoder and decoder.
pub(super) struct Opus {
    encoder: Encoder,
    decoder: Decoder,
    pcm: Vec<u16>,
}

impl std::fmt::Debug for Opus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Opus")
    }
}

impl Opus {
    pub(super) fn new() -> Result<Self, CodecError> {
        let encoder =
            Encoder::new(Channels::Mono, SampleRate::Hz48000, Application::Voip).map_err(err)?;
        let decoder = Decoder::new(Channels::Mono, SampleRate::Hz48000).map_err(err)?;
        Ok(Self {
            encoder,
            decoder,
            pcm: Vec::with_capacity(MAX_DECODED),
        })
    }
}

impl AudioCodec for Opus {
    fn codec(&self) -> Codec {
        Codec::Opus
    }

    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        // libopus takes 2.5, 5, 10, 20, 40 or 60 ms.
        if !matches!(pcm.len(), 120 | 240 | 480 | 960 | 1920 | 2880) || pcm.len() > MAX_ENCODED {
            return Err(CodecError::BadLength);
        }
        self.pcm.clear();
        self.pcm.extend(pcm.iter().map(|&s| s as u16));
        self.encoder
            .encode_to_slice(&self.pcm, out)
            .map_err(|e| match e {
                ErrorCode::BufferTooSmall => CodecError::OutputTooSmall,
                other => err(other),
            })
    }

    fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        let want = out.len().min(MAX_DECODED);
        self.pcm.clear();
        self.pcm.resize(want, 0);
        // An empty payload would mean "conceal a lost packet" to libopus; a packet on the
        // wire is never empty, so refuse it rather than invent audio.
        if payload.is_empty() {
            return Err(err(ErrorCode::InvalidPacket));
        }
        let n = self
            .decoder
            .decode_to_slice(payload, &mut self.pcm, false)
            .map_err(|e| match e {
                ErrorCode::BufferTooSmall => CodecError::OutputTooSmall,
                other => err(other),
            })?;
        let n = n.min(want);
        for (o, &s) in out.iter_mut().zip(&self.pcm[..n]) {
            *o = s as i16;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opus_round_trips_a_tone() {
        let mut c = Opus::new().unwrap();
        let mut payload = [0u8; 1500];
        let mut energy_in = 0.0;
        let mut energy_out = 0.0;
        for frame in 0..25 {
            let pcm: Vec<i16> = (0..960)
                .map(|i| {
                    let t = (frame * 960 + i) as f64 / 48000.0;
                    (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
                })
                .collect();
            let n = c.encode(&pcm, &mut payload).unwrap();
            let mut out = [0i16; 960];
            assert_eq!(c.decode(&payload[..n], &mut out), Ok(960));
            if frame >= 5 {
                energy_in += pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
                energy_out += out.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
            }
        }
        // A lossy codec: the level survives within 1 dB.
        let ratio_db = 10.0 * (energy_out / energy_in).log10();
        assert!(ratio_db.abs() < 1.0, "{ratio_db:.2} dB");
    }

    #[test]
    fn opus_rejects_bad_lengths_and_garbage() {
        let mut c = Opus::new().unwrap();
        let mut payload = [0u8; 1500];
        assert_eq!(
            c.encode(&[0; 100], &mut payload),
            Err(CodecError::BadLength)
        );
        let mut out = [0i16; 960];
        assert!(c.decode(&[], &mut out).is_err());
        // Garbage either decodes to something or is an error, never a panic.
        for seed in 0..200u32 {
            let garbage: Vec<u8> = (0..(seed % 40) + 1)
                .map(|i| (seed.wrapping_mul(2_654_435_761).wrapping_add(i * 97) >> 7) as u8)
                .collect();
            let _ = c.decode(&garbage, &mut out);
        }
    }
}
