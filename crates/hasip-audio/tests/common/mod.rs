//! Helpers shared by the integration tests: synthetic signals, a WAV builder for every PCM
//! variant, and DFT-based measurements (no FFT crate needed).
#![allow(dead_code, unreachable_pub)]

use std::f64::consts::PI;

/// A sine of `freq` Hz at `amp` (peak, full scale 1.0), `secs` long at `rate`.
pub fn sine(freq: f64, amp: f64, rate: u32, secs: f64) -> Vec<f32> {
    let n = (secs * f64::from(rate)).round() as usize;
    (0..n)
        .map(|i| (amp * (2.0 * PI * freq * i as f64 / f64::from(rate)).sin()) as f32)
        .collect()
}

/// Power of `x` at `freq` Hz (Goertzel), normalised so that a full-length sine of peak `a`
/// at exactly that frequency gives `a² / 2`, i.e. its mean power.
pub fn tone_power(x: &[f32], freq: f64, rate: u32) -> f64 {
    let w = 2.0 * PI * freq / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    // A Hann window keeps leakage from other tones out of the bin.
    let n = x.len();
    let mut wsum = 0.0;
    for (i, &v) in x.iter().enumerate() {
        let win = 0.5 - 0.5 * (2.0 * PI * i as f64 / n as f64).cos();
        wsum += win;
        let s = f64::from(v) * win + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    // |X|² of a windowed sine of peak a is (a·wsum/2)²; mean power is a²/2.
    2.0 * power / (wsum * wsum)
}

/// Mean power (mean square).
pub fn mean_power(x: &[f32]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len() as f64
}

/// RMS of 16-bit PCM, full scale 1.0.
pub fn rms_i16(x: &[i16]) -> f64 {
    let f: Vec<f32> = x.iter().map(|&s| f32::from(s) / 32768.0).collect();
    mean_power(&f).sqrt()
}

/// Decibels of a power ratio.
pub fn db(ratio: f64) -> f64 {
    10.0 * ratio.log10()
}

/// Frequency estimated from rising zero crossings (good to a few Hz over a second).
pub fn zero_crossing_freq(x: &[f32], rate: u32) -> f64 {
    let crossings: Vec<usize> = x
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[0] < 0.0 && w[1] >= 0.0)
        .map(|(i, _)| i)
        .collect();
    if crossings.len() < 2 {
        return 0.0;
    }
    let span = (crossings[crossings.len() - 1] - crossings[0]) as f64;
    (crossings.len() - 1) as f64 * f64::from(rate) / span
}

/// Sample encodings for [`wav_bytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pcm {
    U8,
    S16,
    S24,
    S32,
    F32,
    F64,
}

impl Pcm {
    pub fn bits(self) -> u16 {
        match self {
            Pcm::U8 => 8,
            Pcm::S16 => 16,
            Pcm::S24 => 24,
            Pcm::S32 | Pcm::F32 => 32,
            Pcm::F64 => 64,
        }
    }
}

/// A WAV file of `channels` interleaved `samples` (in [-1, 1]) at `rate`, in `pcm`.
/// 24-bit and more than two channels use WAVE_FORMAT_EXTENSIBLE as the spec asks.
pub fn wav_bytes(samples: &[f32], channels: u16, rate: u32, pcm: Pcm) -> Vec<u8> {
    let bits = pcm.bits();
    let block = channels * bits / 8;
    let mut data = Vec::new();
    for &s in samples {
        let s = f64::from(s).clamp(-1.0, 1.0);
        match pcm {
            Pcm::U8 => data.push(((s * 127.0).round() + 128.0) as u8),
            Pcm::S16 => data.extend(((s * 32767.0).round() as i16).to_le_bytes()),
            Pcm::S24 => data.extend(&((s * 8_388_607.0).round() as i32).to_le_bytes()[..3]),
            Pcm::S32 => data.extend(((s * 2_147_483_647.0).round() as i32).to_le_bytes()),
            Pcm::F32 => data.extend((s as f32).to_le_bytes()),
            Pcm::F64 => data.extend(s.to_le_bytes()),
        }
    }
    let float = matches!(pcm, Pcm::F32 | Pcm::F64);
    let extensible = bits == 24 || channels > 2;
    let mut fmt = Vec::new();
    let tag: u16 = if extensible {
        0xFFFE
    } else if float {
        3
    } else {
        1
    };
    fmt.extend(tag.to_le_bytes());
    fmt.extend(channels.to_le_bytes());
    fmt.extend(rate.to_le_bytes());
    fmt.extend((rate * u32::from(block)).to_le_bytes());
    fmt.extend(block.to_le_bytes());
    fmt.extend(bits.to_le_bytes());
    if extensible {
        fmt.extend(22u16.to_le_bytes());
        fmt.extend(bits.to_le_bytes()); // valid bits
        let mask: u32 = if channels == 1 {
            0x4
        } else {
            (1u32 << channels) - 1
        };
        fmt.extend(mask.to_le_bytes());
        // KSDATAFORMAT_SUBTYPE_PCM / IEEE_FLOAT: {0000000X-0000-0010-8000-00aa00389b71}
        fmt.extend((if float { 3u32 } else { 1u32 }).to_le_bytes());
        fmt.extend([
            0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71,
        ]);
    }
    let mut out = Vec::new();
    out.extend(b"RIFF");
    out.extend(((4 + 8 + fmt.len() + 8 + data.len()) as u32).to_le_bytes());
    out.extend(b"WAVE");
    out.extend(b"fmt ");
    out.extend((fmt.len() as u32).to_le_bytes());
    out.extend(&fmt);
    out.extend(b"data");
    out.extend((data.len() as u32).to_le_bytes());
    out.extend(&data);
    out
}
