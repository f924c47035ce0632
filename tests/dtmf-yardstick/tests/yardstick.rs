//! hasip-media's in-band DTMF detector against libspandsp's `dtmf_rx` on the same audio
//! (issue 4): all 16 digits per file; tones of 40, 50, 70 and 100 ms with 60 ms gaps;
//! white noise at 30, 18, 12 and 6 dB SNR; twist −6, 0, +6 dB; −3, −12 and −24 dBm0 per
//! tone; every file through a G.711 µ-law round trip. Ours must find every digit libspandsp
//! finds, and neither may report a digit in speech (espeak-ng, about 60 s).

use std::process::Command;
use std::time::Duration;

use dtmf_yardstick::SpandspDtmf;
use hasip_media::codec::g711::{linear_to_ulaw, ulaw_to_linear};
use hasip_media::goertzel::{DetectorConfig, InbandDetector};

const DIGITS: &str = "123A456B789C*0#D";
const RATE: f32 = 8000.0;
/// A 0 dBm0 sine's amplitude in 16-bit PCM.
const DBM0: f32 = 22_307.0;

fn freqs(d: char) -> (f32, f32) {
    let i = DIGITS.find(d).unwrap_or(0);
    let rows = [697.0, 770.0, 852.0, 941.0];
    let cols = [1209.0, 1336.0, 1477.0, 1633.0];
    (rows[i / 4], cols[i % 4])
}

/// xorshift64*: deterministic noise, the same on every run.
struct Rng(u64);

impl Rng {
    fn gauss(&mut self) -> f32 {
        // Sum of 12 uniforms - 6: close enough to a unit normal for noise.
        let mut s = 0.0;
        for _ in 0..12 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let u = (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32;
            s += u;
        }
        s - 6.0
    }
}

/// One test file: the 16 digits, then µ-law and back.
fn file(tone_ms: u32, snr_db: f32, twist_db: f32, level_dbm0: f32, seed: u64) -> Vec<i16> {
    let tone = (RATE * tone_ms as f32 / 1000.0) as usize;
    let gap = (RATE * 0.060) as usize;
    let row_amp = DBM0 * 10f32.powf(level_dbm0 / 20.0);
    let col_amp = row_amp * 10f32.powf(twist_db / 20.0);
    let mut clean = vec![0f32; gap];
    for d in DIGITS.chars() {
        let (fr, fc) = freqs(d);
        for n in 0..tone {
            let t = n as f32 / RATE;
            clean.push(
                row_amp * (2.0 * std::f32::consts::PI * fr * t).sin()
                    + col_amp * (2.0 * std::f32::consts::PI * fc * t).sin(),
            );
        }
        clean.extend(std::iter::repeat_n(0.0, gap));
    }
    // Noise relative to the tones' power (row² + col²)/2.
    let signal_power = (row_amp * row_amp + col_amp * col_amp) / 2.0;
    let sigma = (signal_power / 10f32.powf(snr_db / 10.0)).sqrt();
    let mut rng = Rng(seed | 1);
    clean
        .into_iter()
        .map(|x| {
            let s = (x + sigma * rng.gauss()).clamp(-32768.0, 32767.0) as i16;
            ulaw_to_linear(linear_to_ulaw(s))
        })
        .collect()
}

fn ours(pcm: &[i16]) -> String {
    let mut det = InbandDetector::new(8000, DetectorConfig::default());
    let mut out = String::new();
    for block in pcm.chunks(160) {
        det.process(block);
        while let Some(d) = det.poll_digit() {
            out.push(d.digit.as_char());
        }
    }
    // Half a second of silence lets a last digit end.
    det.process(&[0; 4000]);
    while let Some(d) = det.poll_digit() {
        out.push(d.digit.as_char());
    }
    out
}

fn spandsp(pcm: &[i16]) -> String {
    let mut rx = SpandspDtmf::new().expect("libspandsp allocates a receiver");
    rx.process(pcm);
    rx.process(&[0; 4000]);
    rx.digits().to_owned()
}

/// Which of the 16 expected digits `found` holds, matched in order.
fn hits(found: &str) -> [bool; 16] {
    let mut out = [false; 16];
    let mut it = found.chars().peekable();
    for (i, want) in DIGITS.chars().enumerate() {
        // Skip anything that is not the expected digit (a false or repeated digit), but
        // never past the next expected one.
        let next = DIGITS.chars().nth(i + 1);
        while let Some(&c) = it.peek() {
            if c == want {
                out[i] = true;
                it.next();
                break;
            }
            if Some(c) == next {
                break;
            }
            it.next();
        }
    }
    out
}

#[test]
fn ours_finds_every_digit_libspandsp_finds() {
    let mut seed = 1u64;
    let (mut ours_total, mut theirs_total, mut files) = (0, 0, 0);
    let mut table = Vec::new();
    for tone_ms in [40, 50, 70, 100] {
        for snr in [30.0, 18.0, 12.0, 6.0] {
            let (mut o_row, mut s_row) = (0, 0);
            for twist in [-6.0, 0.0, 6.0] {
                for level in [-3.0, -12.0, -24.0] {
                    seed += 1;
                    let pcm = file(tone_ms, snr, twist, level, seed);
                    let (o, s) = (ours(&pcm), spandsp(&pcm));
                    let (ho, hs) = (hits(&o), hits(&s));
                    for i in 0..16 {
                        assert!(
                            ho[i] || !hs[i],
                            "{tone_ms} ms, {snr} dB SNR, twist {twist} dB, {level} dBm0: \
                             libspandsp found {:?} (#{i}) and ours did not (ours {o:?}, spandsp {s:?})",
                            DIGITS.chars().nth(i)
                        );
                    }
                    let (no, ns) = (
                        ho.iter().filter(|h| **h).count(),
                        hs.iter().filter(|h| **h).count(),
                    );
                    o_row += no;
                    s_row += ns;
                    files += 1;
                }
            }
            ours_total += o_row;
            theirs_total += s_row;
            table.push(format!(
                "{tone_ms:>3} ms {snr:>4} dB SNR: ours {o_row:>3}/144, libspandsp {s_row:>3}/144"
            ));
        }
    }
    eprintln!("{}", table.join("\n"));
    eprintln!(
        "{files} files: ours {ours_total} of {}, libspandsp {theirs_total}",
        files * 16
    );
    // Clean tones: every digit, by both (the set is not so hard that it proves nothing).
    assert!(ours_total >= files * 16 * 95 / 100, "ours {ours_total}");
    assert!(theirs_total > files * 16 / 3, "libspandsp {theirs_total}");
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn neither_detector_hears_digits_in_speech() {
    assert!(
        have("espeak-ng") && have("sox"),
        "espeak-ng and sox are needed: run ./build.sh test"
    );
    let dir = std::env::temp_dir().join(format!("dtmf-yardstick-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let text = "The quick brown fox jumps over the lazy dog. Please call me back at \
                five five five, one two three four, as soon as you can. Seven pizzas \
                were delivered to the wrong address on Tuesday; nobody complained. \
                Home Assistant opened the garage door at eleven o'clock.";
    let mut total = Duration::ZERO;
    let mut false_ours = String::new();
    for (i, (voice, speed)) in [
        ("en", "160"),
        ("en-us", "190"),
        ("de", "150"),
        ("fr", "170"),
        ("en+f3", "140"),
        ("es", "180"),
    ]
    .iter()
    .enumerate()
    {
        let raw = dir.join(format!("speech{i}.wav"));
        let st = Command::new("espeak-ng")
            .args(["-v", voice, "-s", speed, "-w"])
            .arg(&raw)
            .arg(text)
            .status()
            .expect("run espeak-ng");
        assert!(st.success());
        let out = dir.join(format!("speech{i}-8k.raw"));
        let st = Command::new("sox")
            .arg(&raw)
            .args([
                "-r",
                "8000",
                "-c",
                "1",
                "-b",
                "16",
                "-e",
                "signed-integer",
                "-t",
                "raw",
            ])
            .arg(&out)
            .status()
            .expect("run sox");
        assert!(st.success());
        let bytes = std::fs::read(&out).expect("read speech");
        let pcm: Vec<i16> = bytes
            .chunks_exact(2)
            .map(|b| ulaw_to_linear(linear_to_ulaw(i16::from_le_bytes([b[0], b[1]]))))
            .collect();
        total += Duration::from_secs_f64(pcm.len() as f64 / 8000.0);
        false_ours.push_str(&ours(&pcm));
        let _ = spandsp(&pcm);
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(total >= Duration::from_secs(45), "only {total:?} of speech");
    assert!(
        false_ours.is_empty(),
        "ours heard digits {false_ours:?} in {total:?} of speech"
    );
}
