//! G.711 µ-law and A-law (ITU-T G.711, with the bit-exact conversions of the ITU-T G.191
//! software tools): table-driven both ways, with the tables built at compile time from the
//! reference conversion rules below.
//!
//! Encoding depends only on the top 14 bits (µ-law) or 13 bits (A-law) of a 16-bit sample,
//! which is what G.711 quantises, so the encode tables are indexed by `sample >> 2` and
//! `sample >> 4`.

use super::{AudioCodec, Codec, CodecError};

/// The G.191 µ-law compression of one 16-bit sample.
const fn ulaw_compress(x: i32) -> u8 {
    // One's complement for negatives, 14-bit magnitude, bias 33.
    let mut absno = if x < 0 {
        ((!x) >> 2) + 33
    } else {
        (x >> 2) + 33
    };
    if absno > 0x1FFF {
        absno = 0x1FFF;
    }
    let mut i = absno >> 6;
    let mut segno = 1;
    while i != 0 {
        segno += 1;
        i >>= 1;
    }
    let high = 8 - segno;
    let low = 0x0F - ((absno >> segno) & 0x0F);
    let mut out = (high << 4) | low;
    if x >= 0 {
        out |= 0x80;
    }
    out as u8
}

/// The G.191 µ-law expansion of one code to a 16-bit sample.
const fn ulaw_expand(code: u8) -> i16 {
    let sign: i32 = if code < 0x80 { -1 } else { 1 };
    let inverted = !(code as i32);
    let exponent = (inverted >> 4) & 0x07;
    let segment = exponent + 1;
    let mantissa = inverted & 0x0F;
    let step = 4 << segment;
    (sign * ((0x80 << exponent) + step * mantissa + step / 2 - 4 * 33)) as i16
}

/// The G.191 A-law compression of one 16-bit sample.
const fn alaw_compress(x: i32) -> u8 {
    // One's complement for negatives, 12-bit magnitude.
    let mut ix = if x < 0 { (!x) >> 4 } else { x >> 4 };
    if ix > 15 {
        let mut exponent = 1;
        while ix > 16 + 15 {
            ix >>= 1;
            exponent += 1;
        }
        ix -= 16;
        ix += exponent << 4;
    }
    if x >= 0 {
        ix |= 0x80;
    }
    (ix ^ 0x55) as u8
}

/// The G.191 A-law expansion of one code to a 16-bit sample.
const fn alaw_expand(code: u8) -> i16 {
    let ix = ((code ^ 0x55) & 0x7F) as i32;
    let exponent = ix >> 4;
    let mut mantissa = ix & 0x0F;
    if exponent > 0 {
        mantissa += 16;
    }
    mantissa = (mantissa << 4) + 0x08;
    if exponent > 1 {
        mantissa <<= exponent - 1;
    }
    (if code > 0x7F { mantissa } else { -mantissa }) as i16
}

const ULAW_ENCODE: [u8; 16384] = {
    let mut t = [0u8; 16384];
    let mut i = 0;
    while i < 16384 {
        t[i] = ulaw_compress((i as i32 - 8192) << 2);
        i += 1;
    }
    t
};

const ALAW_ENCODE: [u8; 4096] = {
    let mut t = [0u8; 4096];
    let mut i = 0;
    while i < 4096 {
        t[i] = alaw_compress((i as i32 - 2048) << 4);
        i += 1;
    }
    t
};

const ULAW_DECODE: [i16; 256] = {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ulaw_expand(i as u8);
        i += 1;
    }
    t
};

const ALAW_DECODE: [i16; 256] = {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alaw_expand(i as u8);
        i += 1;
    }
    t
};

/// µ-law code of a 16-bit sample.
#[inline]
pub fn linear_to_ulaw(sample: i16) -> u8 {
    ULAW_ENCODE[((i32::from(sample) >> 2) + 8192) as usize]
}

/// 16-bit sample of a µ-law code.
#[inline]
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_DECODE[usize::from(code)]
}

/// A-law code of a 16-bit sample.
#[inline]
pub fn linear_to_alaw(sample: i16) -> u8 {
    ALAW_ENCODE[((i32::from(sample) >> 4) + 2048) as usize]
}

/// 16-bit sample of an A-law code.
#[inline]
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_DECODE[usize::from(code)]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Law {
    Mu,
    A,
}

/// A G.711 codec (stateless; one byte per sample).
#[derive(Debug, Clone)]
pub struct G711 {
    law: Law,
}

impl G711 {
    /// µ-law (PCMU).
    pub fn ulaw() -> Self {
        Self { law: Law::Mu }
    }

    /// A-law (PCMA).
    pub fn alaw() -> Self {
        Self { law: Law::A }
    }
}

impl AudioCodec for G711 {
    fn codec(&self) -> Codec {
        match self.law {
            Law::Mu => Codec::Pcmu,
            Law::A => Codec::Pcma,
        }
    }

    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        let out = out.get_mut(..pcm.len()).ok_or(CodecError::OutputTooSmall)?;
        match self.law {
            Law::Mu => {
                for (o, &s) in out.iter_mut().zip(pcm) {
                    *o = linear_to_ulaw(s);
                }
            }
            Law::A => {
                for (o, &s) in out.iter_mut().zip(pcm) {
                    *o = linear_to_alaw(s);
                }
            }
        }
        Ok(pcm.len())
    }

    fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        let out = out
            .get_mut(..payload.len())
            .ok_or(CodecError::OutputTooSmall)?;
        let table = match self.law {
            Law::Mu => &ULAW_DECODE,
            Law::A => &ALAW_DECODE,
        };
        for (o, &c) in out.iter_mut().zip(payload) {
            *o = table[usize::from(c)];
        }
        Ok(payload.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Code points from ITU-T G.711 Tables 2a/2b (µ-law) and 1a/1b (A-law), scaled to
    /// 16 bits as G.191 does (µ-law ×4, A-law ×8): the decision and output values at the
    /// segment ends and zero.
    #[test]
    fn itu_t_g711_decode_code_points() {
        // µ-law: 0xFF/0x7F are +0/−0, 0x80/0x00 are ±8031 (×4 = 32124).
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0xFE), 8); // 2 × 4
        assert_eq!(ulaw_to_linear(0xF0), 120); // 30 × 4, top of segment 1
        assert_eq!(ulaw_to_linear(0xEF), 132); // 33 × 4, start of segment 2
        assert_eq!(ulaw_to_linear(0xDF), 396);
        assert_eq!(ulaw_to_linear(0x8F), 16764); // 4191 × 4, start of segment 8
        // A-law: 0xD5/0x55 are ±1 (×8 = 8), 0xAA/0x2A are ±4032 (×8 = 32256).
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        assert_eq!(alaw_to_linear(0xD4), 24); // 3 × 8
        assert_eq!(alaw_to_linear(0xC5), 264); // 33 × 8, start of segment 2
        assert_eq!(alaw_to_linear(0xF5), 528); // 66 × 8, start of segment 3
    }

    #[test]
    fn itu_t_g711_encode_code_points() {
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_ulaw(-1), 0x7F);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(linear_to_ulaw(32124), 0x80);
        assert_eq!(linear_to_ulaw(1000), 0xCE);
        assert_eq!(linear_to_ulaw(-1000), 0x4E);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_alaw(-1), 0x55);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
        assert_eq!(linear_to_alaw(1000), 0xFA);
        assert_eq!(linear_to_alaw(-1000), 0x7A);
    }

    #[test]
    fn every_code_survives_decode_then_encode() {
        for c in 0..=255u8 {
            let back = linear_to_ulaw(ulaw_to_linear(c));
            // −0 (0x7F) decodes to 0, which encodes as +0 (0xFF).
            assert_eq!(back, if c == 0x7F { 0xFF } else { c }, "µ-law {c:#04x}");
            assert_eq!(linear_to_alaw(alaw_to_linear(c)), c, "A-law {c:#04x}");
        }
    }

    #[test]
    fn encoding_is_monotonic_and_the_error_is_within_half_a_step() {
        let mut prev_u = ulaw_to_linear(linear_to_ulaw(i16::MIN));
        let mut prev_a = alaw_to_linear(linear_to_alaw(i16::MIN));
        for s in i16::MIN..=i16::MAX {
            let u = ulaw_to_linear(linear_to_ulaw(s));
            let a = alaw_to_linear(linear_to_alaw(s));
            assert!(u >= prev_u && a >= prev_a, "not monotonic at {s}");
            prev_u = u;
            prev_a = a;
            // Relative error of a logarithmic quantiser: under 1/16 of the magnitude plus
            // the smallest step.
            let tol = i32::from(s).abs() / 16 + 16;
            if s.unsigned_abs() <= 32124 {
                assert!(
                    (i32::from(u) - i32::from(s)).abs() <= tol,
                    "µ-law at {s}: {u}"
                );
            }
            if s.unsigned_abs() <= 32256 {
                assert!(
                    (i32::from(a) - i32::from(s)).abs() <= tol,
                    "A-law at {s}: {a}"
                );
            }
        }
    }

    #[test]
    fn codec_encodes_and_decodes_frames() {
        let mut c = G711::ulaw();
        let pcm = [0i16, 1000, -1000, 32767];
        let mut out = [0u8; 4];
        assert_eq!(c.encode(&pcm, &mut out), Ok(4));
        assert_eq!(out, [0xFF, 0xCE, 0x4E, 0x80]);
        let mut back = [0i16; 4];
        assert_eq!(c.decode(&out, &mut back), Ok(4));
        assert_eq!(back[3], 32124);
        assert_eq!(
            c.encode(&pcm, &mut [0u8; 3]),
            Err(CodecError::OutputTooSmall)
        );
        assert_eq!(G711::alaw().codec(), Codec::Pcma);
    }
}
