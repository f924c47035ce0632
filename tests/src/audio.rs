//! Audio checks for media tests: read the WAVs peers record, find a known signal in them
//! and say how faithfully it arrived (alignment, correlation, SNR, active duration, tone).

use std::path::Path;
use std::time::Duration;

/// A 16-bit PCM WAV: its rate and each channel's samples.
#[derive(Debug, Clone)]
pub struct Wav {
    /// Samples per second.
    pub rate: u32,
    /// One vector per channel.
    pub channels: Vec<Vec<i16>>,
}

/// Reads a 16-bit PCM WAV (the format baresip's sndfile and our recorder write). Accepts
/// the placeholder sizes a process that is still writing leaves.
///
/// # Panics
/// When the file cannot be read or is not 16-bit PCM.
pub fn read_wav(path: &Path) -> Wav {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert!(
        bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WAVE",
        "{} is not a WAV file",
        path.display()
    );
    let mut pos = 12;
    let (mut rate, mut channels, mut bits) = (0u32, 0usize, 0u16);
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let size = u32::from_le_bytes([
            bytes[pos + 4],
            bytes[pos + 5],
            bytes[pos + 6],
            bytes[pos + 7],
        ]) as usize;
        let body = pos + 8;
        if id == b"fmt " {
            channels = usize::from(u16::from_le_bytes([bytes[body + 2], bytes[body + 3]]));
            rate = u32::from_le_bytes([
                bytes[body + 4],
                bytes[body + 5],
                bytes[body + 6],
                bytes[body + 7],
            ]);
            bits = u16::from_le_bytes([bytes[body + 14], bytes[body + 15]]);
        } else if id == b"data" {
            assert!(
                bits == 16 && channels > 0,
                "{}: not 16-bit PCM",
                path.display()
            );
            // A writer that has not finished leaves 0 (or a placeholder) here: take the rest.
            let end = if size == 0 {
                bytes.len()
            } else {
                body.saturating_add(size).min(bytes.len())
            };
            let data = &bytes[body..end];
            let mut out = vec![Vec::new(); channels];
            for (i, s) in data.chunks_exact(2).enumerate() {
                out[i % channels].push(i16::from_le_bytes([s[0], s[1]]));
            }
            return Wav {
                rate,
                channels: out,
            };
        }
        pos = body + size + (size & 1);
    }
    panic!("{}: no data chunk", path.display())
}

/// Root mean square, full scale = 1.
pub fn rms(s: &[i16]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let sum: f64 = s.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    (sum / s.len() as f64).sqrt() / 32768.0
}

/// Seconds of `s` in 10 ms blocks louder than `threshold` (RMS, full scale 1), from the
/// first loud block to the last.
pub fn active_span(s: &[i16], rate: u32, threshold: f64) -> Option<(f64, f64)> {
    let block = (rate / 100) as usize;
    let loud: Vec<usize> = s
        .chunks(block)
        .enumerate()
        .filter(|(_, b)| rms(b) > threshold)
        .map(|(i, _)| i)
        .collect();
    let (first, last) = (*loud.first()?, *loud.last()?);
    Some((first as f64 / 100.0, (last + 1) as f64 / 100.0))
}

fn envelope(s: &[i16], block: usize) -> Vec<f64> {
    s.chunks(block).map(rms).collect()
}

/// How `reference` appears in `recording` (same rate).
#[derive(Debug, Clone, Copy)]
pub struct Match {
    /// Where it starts in the recording, in samples.
    pub offset: usize,
    /// Normalised correlation at that offset (1 = identical shape).
    pub correlation: f64,
    /// Reference power over the power of the difference (after the best gain), in dB.
    pub snr_db: f64,
}

/// `s` cut to its loud part (see [`active_span`]) with `margin` seconds either side.
pub fn trim(s: &[i16], rate: u32, threshold: f64, margin: f64) -> &[i16] {
    let Some((a, b)) = active_span(s, rate, threshold) else {
        return s;
    };
    let r = f64::from(rate);
    let start = ((a - margin).max(0.0) * r) as usize;
    let end = (((b + margin) * r) as usize).min(s.len());
    &s[start.min(end)..end]
}

/// Finds `reference` in `recording`: a coarse search on 10 ms energy envelopes, then a
/// sample-exact one around it.
pub fn find(reference: &[i16], recording: &[i16], rate: u32) -> Option<Match> {
    let block = (rate / 100) as usize;
    let (er, ec) = (envelope(reference, block), envelope(recording, block));
    if ec.len() < er.len() || er.is_empty() {
        return None;
    }
    let mut best = (0usize, f64::MIN);
    for lag in 0..=(ec.len() - er.len()) {
        let c: f64 = er.iter().zip(&ec[lag..]).map(|(a, b)| a * b).sum();
        if c > best.1 {
            best = (lag, c);
        }
    }
    let centre = best.0 * block;
    let lo = centre.saturating_sub(2 * block);
    let hi = (centre + 2 * block).min(recording.len().saturating_sub(reference.len()));
    let mut fine: Option<Match> = None;
    for off in lo..=hi {
        let seg = &recording[off..off + reference.len()];
        let (mut xy, mut xx, mut yy) = (0f64, 0f64, 0f64);
        for (&a, &b) in reference.iter().zip(seg) {
            let (a, b) = (f64::from(a), f64::from(b));
            xy += a * b;
            xx += a * a;
            yy += b * b;
        }
        if xx == 0.0 || yy == 0.0 {
            continue;
        }
        let corr = xy / (xx * yy).sqrt();
        if fine.is_none_or(|f| corr > f.correlation) {
            let gain = xy / yy;
            let noise: f64 = reference
                .iter()
                .zip(seg)
                .map(|(&a, &b)| {
                    let d = f64::from(a) - gain * f64::from(b);
                    d * d
                })
                .sum();
            fine = Some(Match {
                offset: off,
                correlation: corr,
                snr_db: 10.0 * (xx / noise.max(1e-9)).log10(),
            });
        }
    }
    fine
}

/// The share (0..1) of `reference`'s loud 0.5 s pieces that are in `recording` with a
/// correlation of at least `min`, each piece searched within 0.3 s of where the whole
/// reference matches best. For audio whose sender's timing wandered (a starved sender's
/// gaps shift the rest of the audio, which lowers the correlation of the whole); `None`
/// when the reference is not found at all.
pub fn share_found(reference: &[i16], recording: &[i16], rate: u32, min: f64) -> Option<f64> {
    share_found_in_pieces(reference, recording, rate, min, Duration::from_millis(500))
}

/// [`share_found`] with pieces of `piece`: shorter pieces make a stretch that a receiver's
/// own processing changed (noise suppression settling at the onset of speech) cost less,
/// while a lost stretch still costs every piece it spans.
pub fn share_found_in_pieces(
    reference: &[i16],
    recording: &[i16],
    rate: u32,
    min: f64,
    piece: Duration,
) -> Option<f64> {
    let whole = find(reference, recording, rate)?;
    let len = (f64::from(rate) * piece.as_secs_f64()) as usize;
    if len == 0 {
        return None;
    }
    let slack = (rate as usize * 3) / 10;
    let peak = rms(reference);
    let (mut tried, mut found) = (0usize, 0usize);
    for (i, p) in reference.chunks_exact(len).enumerate() {
        if rms(p) < peak / 2.0 {
            continue;
        }
        tried += 1;
        let expected = whole.offset + i * len;
        let lo = expected.saturating_sub(slack);
        let hi = (expected + slack).min(recording.len().saturating_sub(len));
        let xx: f64 = p.iter().map(|&a| f64::from(a) * f64::from(a)).sum();
        let best = (lo..=hi)
            .filter_map(|off| {
                let seg = recording.get(off..off + len)?;
                let (mut xy, mut yy) = (0f64, 0f64);
                for (&a, &b) in p.iter().zip(seg) {
                    xy += f64::from(a) * f64::from(b);
                    yy += f64::from(b) * f64::from(b);
                }
                (xx > 0.0 && yy > 0.0).then(|| xy / (xx * yy).sqrt())
            })
            .fold(f64::MIN, f64::max);
        if best >= min {
            found += 1;
        }
    }
    (tried > 0).then(|| found as f64 / tried as f64)
}

/// Power of `freq` in `s` relative to the whole signal's power (0..1), by Goertzel.
pub fn tone_share(s: &[i16], rate: u32, freq: f64) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0f64, 0f64);
    let mut total = 0f64;
    for &x in s {
        let x = f64::from(x);
        total += x * x;
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    let n = s.len() as f64;
    if total == 0.0 {
        return 0.0;
    }
    // A pure tone of amplitude A gives power (A n / 2)^2 and total A^2 n / 2.
    (2.0 * power / n) / total
}

/// Runs sox with `args`.
///
/// # Panics
/// When sox is missing or fails.
pub fn sox(args: &[&str]) {
    let status = std::process::Command::new("sox")
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("run sox (./build.sh test installs it): {e}"));
    assert!(status.success(), "sox {args:?} failed");
}

/// Writes `path`: a sine of `hz` for `seconds`, 8 kHz mono 16-bit at -6 dBFS (sox).
///
/// # Panics
/// When sox fails.
pub fn tone_wav(path: &Path, hz: u32, seconds: u32) {
    sox(&[
        "-n",
        "-r",
        "8000",
        "-c",
        "1",
        "-b",
        "16",
        path.to_str().unwrap_or_default(),
        "synth",
        &seconds.to_string(),
        "sine",
        &hz.to_string(),
        "gain",
        "-6",
    ]);
}

/// Writes `path`: `lead` seconds of silence, then for each `(low Hz, high Hz, on, off)` a
/// DTMF-like pair of sines for `on` seconds at -9 dBFS and `off` seconds of silence; 8 kHz
/// mono 16-bit (sox).
///
/// # Panics
/// When sox fails.
pub fn dtmf_wav(path: &Path, lead: f64, tones: &[(u32, u32, f64, f64)]) {
    let part = |i: usize| path.with_extension(format!("part{i}.wav"));
    let mut parts = Vec::new();
    for (i, &(low, high, on, off)) in tones.iter().enumerate() {
        let p = part(i);
        let pad_before = if i == 0 { lead } else { 0.0 };
        sox(&[
            "-n",
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            p.to_str().unwrap_or_default(),
            "synth",
            &on.to_string(),
            "sine",
            &low.to_string(),
            "sine",
            &high.to_string(),
            "channels",
            "1",
            "gain",
            "-9",
            "pad",
            &pad_before.to_string(),
            &off.to_string(),
        ]);
        parts.push(p.to_string_lossy().into_owned());
    }
    let mut args: Vec<&str> = parts.iter().map(String::as_str).collect();
    args.push(path.to_str().unwrap_or_default());
    sox(&args);
}

/// Any audio file sox reads, as 8 kHz mono 16-bit samples (converted next to `out`).
///
/// # Panics
/// When sox fails or the result cannot be read.
pub fn as_8k_mono(input: &Path, out: &Path) -> Vec<i16> {
    sox(&[
        input.to_str().unwrap_or_default(),
        "-r",
        "8000",
        "-c",
        "1",
        "-b",
        "16",
        out.to_str().unwrap_or_default(),
    ]);
    read_wav(out)
        .channels
        .into_iter()
        .next()
        .unwrap_or_default()
}
