//! Cost of getting a prompt ready to play: decode + downmix + resample to 8 kHz + 16-bit,
//! for a 3 s MP3 (the committed 24 kHz speech fixture) and 3 s WAVs (22050 Hz mono as TTS
//! engines write them, 44.1 kHz stereo as a user's file might be); the streaming form per
//! file and per 20 ms chunk.
//!
//! Run: `cargo bench -p hasip-audio --bench audio`. Figures in BENCHMARKS.md.

use std::hint::black_box;
use std::io::Cursor;

use criterion::{Criterion, criterion_group, criterion_main};
use hasip_audio::{
    Converter, Decoder, Layout, Options, Resampler, WavWriter, convert, decode_mono, resample,
    to_i16,
};

const MP3: &[u8] = include_bytes!("../tests/fixtures/speech_24k_id3.mp3");

/// The MP3's speech as a 16-bit WAV at `rate`, mono or with a delayed copy on the right.
fn wav(rate: u32, layout: Layout) -> Vec<u8> {
    let speech = decode_mono(MP3, Options::default()).unwrap();
    let pcm = to_i16(&resample(&speech.samples, speech.info.sample_rate, rate).unwrap());
    let mut w = WavWriter::new(Cursor::new(Vec::new()), rate, layout).unwrap();
    match layout {
        Layout::Mono => w.write_frames(&pcm).unwrap(),
        Layout::Stereo => {
            let delayed: Vec<i16> = std::iter::repeat_n(0, 441)
                .chain(pcm.iter().copied())
                .take(pcm.len())
                .collect();
            w.write_sides(&pcm, &delayed).unwrap();
        }
    }
    w.finish().unwrap().into_inner()
}

fn bench(c: &mut Criterion) {
    let wav_22050 = wav(22050, Layout::Mono);
    let wav_44100 = wav(44100, Layout::Stereo);
    let inputs: [(&str, &[u8]); 3] = [
        ("mp3_24k_mono_3s", MP3),
        ("wav_22050_mono_3s", &wav_22050),
        ("wav_44100_stereo_3s", &wav_44100),
    ];

    let mut g = c.benchmark_group("convert_to_8k");
    for (name, bytes) in inputs {
        g.bench_function(name, |b| {
            b.iter(|| convert(black_box(bytes), 8000, Options::default()).unwrap())
        });
    }
    g.finish();

    let mut g = c.benchmark_group("decode_only");
    for (name, bytes) in inputs {
        g.bench_function(name, |b| {
            b.iter(|| decode_mono(black_box(bytes), Options::default()).unwrap())
        });
    }
    g.finish();

    let mut g = c.benchmark_group("stream_to_8k");
    for (name, bytes) in inputs {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut conv =
                    Converter::new(Decoder::new(black_box(bytes)).unwrap(), 8000).unwrap();
                let mut n = 0;
                while let Some(frame) = conv.next_frame().unwrap() {
                    n += frame.len();
                }
                n
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("resample_20ms_chunk");
    for (from, to) in [(24000u32, 8000u32), (44100, 8000), (8000, 48000)] {
        let mut r = Resampler::new(from, to).unwrap();
        let chunk: Vec<f32> = (0..from as usize / 50)
            .map(|i| ((i * 37) % 200) as f32 / 400.0 - 0.25)
            .collect();
        let mut out = Vec::with_capacity(4096);
        g.bench_function(format!("{from}_to_{to}"), |b| {
            b.iter(|| {
                out.clear();
                r.process(black_box(&chunk), &mut out).unwrap();
                out.len()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
