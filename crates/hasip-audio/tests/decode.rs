//! Decoding the committed fixtures (tests/fixtures/README.md says how each was made) and
//! synthetic WAVs of every PCM variant; bad input of every kind gives an error that says
//! what is wrong, never a panic.

mod common;

use std::time::Duration;

use common::{Pcm, mean_power, rms_i16, sine, tone_power, wav_bytes, zero_crossing_freq};
use hasip_audio::{Converter, Decoder, Error, Format, Options, convert, decode_mono, probe};

const SPEECH_22050: &[u8] = include_bytes!("fixtures/speech_22050.wav");
const SPEECH_8K: &[u8] = include_bytes!("fixtures/speech_8k.wav");
const STEREO_44100: &[u8] = include_bytes!("fixtures/stereo_44100.wav");
const MP3_ID3: &[u8] = include_bytes!("fixtures/speech_24k_id3.mp3");
const OGG: &[u8] = include_bytes!("fixtures/speech_16k.ogg");
const FLAC: &[u8] = include_bytes!("fixtures/speech_16k.flac");
const ESPEAK_PIPED: &[u8] = include_bytes!("fixtures/espeak_piped.wav");
const ALAW: &[u8] = include_bytes!("fixtures/alaw_8k.wav");
const ULAW: &[u8] = include_bytes!("fixtures/ulaw_8k.wav");
const TRUNCATED_MP3: &[u8] = include_bytes!("fixtures/truncated.mp3");
const GARBAGE: &[u8] = include_bytes!("fixtures/garbage.bin");
const IMA_ADPCM: &[u8] = include_bytes!("fixtures/ima_adpcm_8k.wav");

struct Case {
    name: &'static str,
    bytes: &'static [u8],
    format: Format,
    rate: u32,
    channels: u16,
    /// Decoded length (what sox/soxi report for the source).
    secs: f64,
    /// Allowed difference in seconds.
    tolerance: f64,
    speech: bool,
}

const CASES: &[Case] = &[
    Case {
        name: "speech_22050.wav",
        bytes: SPEECH_22050,
        format: Format::Wav,
        rate: 22050,
        channels: 1,
        secs: 1.105850,
        tolerance: 0.001,
        speech: true,
    },
    Case {
        name: "speech_8k.wav",
        bytes: SPEECH_8K,
        format: Format::Wav,
        rate: 8000,
        channels: 1,
        secs: 2.939125,
        tolerance: 0.001,
        speech: true,
    },
    Case {
        name: "stereo_44100.wav",
        bytes: STEREO_44100,
        format: Format::Wav,
        rate: 44100,
        channels: 2,
        secs: 0.25,
        tolerance: 0.001,
        speech: false,
    },
    // LAME's encoder delay and padding (1464 frames here) stay in: no Xing/LAME gapless
    // header from sox. ffmpeg decodes the same 3.000 s.
    Case {
        name: "speech_24k_id3.mp3",
        bytes: MP3_ID3,
        format: Format::Mp3,
        rate: 24000,
        channels: 1,
        secs: 2.94,
        tolerance: 0.08,
        speech: true,
    },
    Case {
        name: "speech_16k.ogg",
        bytes: OGG,
        format: Format::Ogg,
        rate: 16000,
        channels: 1,
        secs: 2.939125,
        tolerance: 0.005,
        speech: true,
    },
    Case {
        name: "speech_16k.flac",
        bytes: FLAC,
        format: Format::Flac,
        rate: 16000,
        channels: 1,
        secs: 2.939125,
        tolerance: 0.001,
        speech: true,
    },
    // RIFF and data sizes are the placeholder 0x7FFFF000: (31640 - 44) / 2 frames of audio.
    Case {
        name: "espeak_piped.wav",
        bytes: ESPEAK_PIPED,
        format: Format::Wav,
        rate: 22050,
        channels: 1,
        secs: 15798.0 / 22050.0,
        tolerance: 0.001,
        speech: true,
    },
    Case {
        name: "alaw_8k.wav",
        bytes: ALAW,
        format: Format::Wav,
        rate: 8000,
        channels: 1,
        secs: 0.5,
        tolerance: 0.001,
        speech: false,
    },
    Case {
        name: "ulaw_8k.wav",
        bytes: ULAW,
        format: Format::Wav,
        rate: 8000,
        channels: 1,
        secs: 0.5,
        tolerance: 0.001,
        speech: false,
    },
];

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[test]
fn every_fixture_probes_decodes_and_converts() {
    for case in CASES {
        let info = probe(case.bytes).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(info.format, case.format, "{}", case.name);
        assert_eq!(info.sample_rate, case.rate, "{}", case.name);
        assert_eq!(info.channels, case.channels, "{}", case.name);

        let decoded = decode_mono(case.bytes, Options::default())
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let got = secs(decoded.duration());
        assert!(
            (got - case.secs).abs() <= case.tolerance,
            "{}: decoded {got:.4} s, expected {:.4} ± {} s",
            case.name,
            case.secs,
            case.tolerance
        );
        assert_eq!(decoded.report.skipped_packets, 0, "{}", case.name);
        assert_eq!(decoded.report.truncated, None, "{}", case.name);
        let rms = mean_power(&decoded.samples).sqrt();
        if case.speech {
            assert!(rms > 0.03, "{}: RMS {rms:.4}: silence?", case.name);
        }
        assert!(
            decoded
                .samples
                .iter()
                .all(|s| s.is_finite() && s.abs() <= 1.0)
        );

        for rate in [8000u32, 16000, 48000] {
            let c = convert(case.bytes, rate, Options::default())
                .unwrap_or_else(|e| panic!("{} → {rate}: {e}", case.name));
            let expected =
                (decoded.samples.len() as u64 * u64::from(rate)).div_ceil(u64::from(case.rate));
            assert_eq!(c.samples.len() as u64, expected, "{} → {rate}", case.name);
            assert_eq!(c.sample_rate, rate);
            let converted_rms = rms_i16(&c.samples);
            if case.speech {
                assert!(
                    converted_rms > 0.03,
                    "{} → {rate}: RMS {converted_rms:.4}",
                    case.name
                );
            }
            // Speech has little energy above 4 kHz: resampling keeps the level within 1.5 dB.
            let ratio_db = 20.0 * (converted_rms / rms).log10();
            assert!(
                ratio_db.abs() < 1.5,
                "{} → {rate}: level changed {ratio_db:.2} dB",
                case.name
            );
        }
    }
}

#[test]
fn espeak_placeholder_header_gives_no_duration_but_decodes_to_the_end() {
    let info = probe(ESPEAK_PIPED).unwrap();
    assert_eq!(
        info.frames, None,
        "0x7FFFF000 bytes cannot be in a 31 KB file"
    );
    assert_eq!(info.duration, None);
    let d = decode_mono(ESPEAK_PIPED, Options::default()).unwrap();
    assert_eq!(d.samples.len(), 15798);
    assert_eq!(d.report.truncated, None);
}

#[test]
fn header_durations_are_reported() {
    let info = probe(SPEECH_8K).unwrap();
    assert_eq!(info.frames, Some(23513));
    assert_eq!(info.duration, Some(Duration::from_micros(2_939_125)));
    assert_eq!(info.codec, "pcm_s16le");
    assert_eq!(probe(FLAC).unwrap().frames, Some(47026));
    assert_eq!(probe(OGG).unwrap().codec, "vorbis");
    assert_eq!(probe(ALAW).unwrap().codec, "pcm_alaw");
    assert_eq!(probe(ULAW).unwrap().codec, "pcm_mulaw");
}

#[test]
fn stereo_downmix_is_the_mean_of_the_channels() {
    // 440 Hz left and 1000 Hz right, each a 0.5 peak sine (sox `gain -6`).
    let d = decode_mono(STEREO_44100, Options::default()).unwrap();
    let p440 = tone_power(&d.samples, 440.0, 44100);
    let p1000 = tone_power(&d.samples, 1000.0, 44100);
    // Each tone at half amplitude: 0.25 peak → power 0.03125 (sox's -6 dB is 0.501).
    for p in [p440, p1000] {
        assert!((p / 0.0314 - 1.0).abs() < 0.05, "tone power {p}");
    }
}

#[test]
fn g711_wavs_decode_to_the_tone() {
    for bytes in [ALAW, ULAW] {
        let d = decode_mono(bytes, Options::default()).unwrap();
        let f = zero_crossing_freq(&d.samples, 8000);
        assert!((f - 1000.0).abs() < 2.0, "{f} Hz");
        let p = tone_power(&d.samples, 1000.0, 8000);
        assert!((p / 0.1256 - 1.0).abs() < 0.05, "power {p}");
    }
}

#[test]
fn every_pcm_variant_decodes_to_the_same_tone() {
    for (channels, rate) in [
        (1u16, 8000u32),
        (2, 11025),
        (1, 32000),
        (2, 48000),
        (1, 96000),
        (6, 44100),
    ] {
        let mono = sine(1000.0, 0.5, rate, 0.2);
        let interleaved: Vec<f32> = mono
            .iter()
            .flat_map(|&s| std::iter::repeat_n(s, usize::from(channels)))
            .collect();
        for pcm in [Pcm::U8, Pcm::S16, Pcm::S24, Pcm::S32, Pcm::F32, Pcm::F64] {
            let bytes = wav_bytes(&interleaved, channels, rate, pcm);
            let what = format!("{pcm:?} {channels} ch {rate} Hz");
            let info = probe(&bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(
                (info.sample_rate, info.channels),
                (rate, channels),
                "{what}"
            );
            let d =
                decode_mono(&bytes, Options::default()).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(d.samples.len(), mono.len(), "{what}");
            let tolerance = if pcm == Pcm::U8 {
                1.0 / 100.0
            } else {
                1.0 / 16000.0
            };
            let worst = d
                .samples
                .iter()
                .zip(&mono)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst < tolerance, "{what}: worst error {worst}");
        }
    }
}

#[test]
fn a_huge_id3_tag_is_skipped() {
    // 3 MiB of ID3v2 padding: beyond symphonia's 1 MiB probe depth.
    let size = 3 << 20;
    let mut bytes = b"ID3\x04\x00\x00".to_vec();
    bytes.extend(
        [
            (size >> 21) & 0x7f,
            (size >> 14) & 0x7f,
            (size >> 7) & 0x7f,
            size & 0x7f,
        ]
        .map(|b| b as u8),
    );
    bytes.resize(10 + size, 0);
    bytes.extend_from_slice(MP3_ID3);
    let with = decode_mono(&bytes, Options::default()).unwrap();
    let without = decode_mono(MP3_ID3, Options::default()).unwrap();
    assert_eq!(with.samples, without.samples);
    // An ID3 tag in front of a WAV (some tools do that) is skipped too.
    let mut wav = b"ID3\x03\x00\x00\x00\x00\x00\x10".to_vec();
    wav.extend([0u8; 16]);
    wav.extend_from_slice(SPEECH_8K);
    assert_eq!(
        decode_mono(&wav, Options::default()).unwrap().samples.len(),
        23513
    );
}

#[test]
fn truncated_files_end_without_error() {
    let full = decode_mono(MP3_ID3, Options::default()).unwrap();
    let cut = decode_mono(TRUNCATED_MP3, Options::default()).unwrap();
    assert!(cut.samples.len() > 20_000 && cut.samples.len() < full.samples.len());
    assert_eq!(cut.samples[..], full.samples[..cut.samples.len()]);
    // Every fixture cut at 80 % and mid-sample: shorter audio, no error, no panic.
    for case in CASES {
        let n = case.bytes.len() * 8 / 10 + 1;
        let d = decode_mono(&case.bytes[..n], Options::default())
            .unwrap_or_else(|e| panic!("{} cut at {n}: {e}", case.name));
        assert!(!d.samples.is_empty(), "{} cut", case.name);
        assert!(
            secs(d.duration()) < case.secs + case.tolerance,
            "{} cut",
            case.name
        );
    }
}

#[test]
fn a_file_cut_before_its_first_audio_page_is_malformed() {
    // speech_16k.ogg's first audio page runs from byte 3409 to 7616.
    let e = decode_mono(&OGG[..6000], Options::default()).unwrap_err();
    assert!(matches!(e, Error::Malformed { format: "ogg", .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "malformed ogg file: the file ends inside its headers or its first audio page"
    );
    let e = probe(&FLAC[..20]).unwrap_err();
    assert!(
        matches!(e, Error::Malformed { format: "flac", .. }),
        "{e:?}"
    );
}

#[test]
fn errors_say_what_is_wrong() {
    let e = probe(b"").unwrap_err();
    assert!(matches!(e, Error::Empty));
    assert_eq!(e.to_string(), "empty input: 0 bytes");

    let e = probe(GARBAGE).unwrap_err();
    assert!(matches!(e, Error::UnknownFormat { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("unknown format: not a WAV, MP3, Ogg Vorbis or FLAC file"),
        "{e}"
    );

    let e = probe(b"ID3\x03\x00\x00\x00\x00\x00\x02ab").unwrap_err();
    assert!(e.to_string().contains("only an ID3v2 tag"), "{e}");

    // A WAV of IMA ADPCM: the container is fine, the codec is not ours.
    let e = probe(IMA_ADPCM).unwrap_err();
    assert!(
        matches!(e, Error::UnsupportedCodec { format: "wav", .. }),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .starts_with("unsupported codec in wav file: IMA ADPCM"),
        "{e}"
    );
    // The format tag says ADPCM but the header is PCM's: malformed, naming the fault.
    let mut adpcm = wav_bytes(&sine(440.0, 0.5, 8000, 0.1), 1, 8000, Pcm::S16);
    adpcm[20..22].copy_from_slice(&0x11u16.to_le_bytes());
    let e = probe(&adpcm).unwrap_err();
    assert!(matches!(e, Error::Malformed { format: "wav", .. }), "{e:?}");
    assert!(e.to_string().contains("bits per sample"), "{e}");
    // No channels.
    let mut none = wav_bytes(&sine(440.0, 0.5, 8000, 0.1), 1, 8000, Pcm::S16);
    none[22..24].copy_from_slice(&0u16.to_le_bytes());
    assert!(
        probe(&none)
            .unwrap_err()
            .to_string()
            .contains("channel count")
    );

    // Sample rate 0 and 1 MHz in the header.
    for rate in [0u32, 1_000_000] {
        let mut bytes = wav_bytes(&sine(440.0, 0.5, 8000, 0.1), 1, 8000, Pcm::S16);
        bytes[24..28].copy_from_slice(&rate.to_le_bytes());
        let e = probe(&bytes).unwrap_err();
        assert!(
            matches!(e, Error::UnsupportedRate { rate: r } if r == rate),
            "{e:?}"
        );
    }

    // A WAV header without a single complete sample decodes to nothing, without error.
    let header_only = &SPEECH_8K[..45];
    assert_eq!(
        decode_mono(header_only, Options::default())
            .unwrap()
            .samples
            .len(),
        0
    );

    // The duration limit.
    let e = decode_mono(SPEECH_8K, Options { max_secs: 1 }).unwrap_err();
    assert!(matches!(e, Error::TooLong { limit_secs: 1 }), "{e:?}");
    assert_eq!(e.to_string(), "audio longer than the limit of 1 s");
}

#[test]
fn corrupt_packets_are_skipped_and_counted() {
    // Overwrite the middle of the MP3 with garbage: decoding resyncs and goes on.
    let mut bytes = MP3_ID3.to_vec();
    let mid = bytes.len() / 2;
    for (i, b) in bytes[mid..mid + 600].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37) ^ 0x5a;
    }
    let d = decode_mono(&bytes, Options::default()).unwrap();
    assert!(secs(d.duration()) > 2.5, "{:?}", d.duration());
    // Nothing but garbage after an MP3 frame header: either an error naming the packet or
    // a short decode, never a panic.
    let mut bad = MP3_ID3[..MP3_ID3.len().min(2000)].to_vec();
    let start = 400;
    for b in &mut bad[start..] {
        *b = 0x33;
    }
    match decode_mono(&bad, Options::default()) {
        Ok(d) => assert!(d.samples.len() < 24000),
        Err(e) => assert!(e.to_string().contains("mp3"), "{e}"),
    }
}

#[test]
fn streaming_conversion_matches_whole_file_length_and_level() {
    for case in CASES {
        for rate in [8000u32, 16000, 48000] {
            let whole = convert(case.bytes, rate, Options::default()).unwrap();
            let decoder = Decoder::new(case.bytes).unwrap();
            let mut conv = Converter::new(decoder, rate).unwrap();
            assert_eq!(conv.frame_len(), rate as usize / 50);
            let mut streamed = Vec::new();
            let mut frames = 0;
            while let Some(frame) = conv.next_frame().unwrap() {
                assert!(frame.len() <= rate as usize / 50);
                streamed.extend_from_slice(frame);
                frames += 1;
            }
            assert_eq!(
                streamed.len(),
                whole.samples.len(),
                "{} → {rate}",
                case.name
            );
            assert_eq!(frames, streamed.len().div_ceil(rate as usize / 50));
            let (a, b) = (rms_i16(&streamed), rms_i16(&whole.samples));
            assert!(
                (20.0 * (a / b).log10()).abs() < 0.5,
                "{} → {rate}: {a} vs {b}",
                case.name
            );
            assert!(conv.next_frame().unwrap().is_none());
        }
    }
}

#[test]
fn owned_decoder_outlives_the_borrow() {
    let bytes: std::sync::Arc<[u8]> = SPEECH_8K.into();
    let mut d = Decoder::from_owned(bytes, Options::default()).unwrap();
    drop(SPEECH_8K.to_vec());
    let mut out = Vec::new();
    while d.next_mono(&mut out).unwrap() {}
    assert_eq!(out.len(), 23513);
    assert!(!d.next_mono(&mut out).unwrap(), "stays at the end");
    assert_eq!(d.decoded_frames(), 23513);
}
