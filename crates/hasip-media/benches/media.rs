//! Per-call CPU cost of media: one 20 ms tick (mix, encode, packetise, drain) and one
//! received packet (parse, decode, in-band DTMF detection), per codec; and one tick of
//! 500 PCMU sessions, as the shell's shared ticker runs it.
//!
//! Run: `cargo bench -p hasip-media --bench media`. Figures in BENCHMARKS.md.

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use hasip_media::rtp::RtpHeader;
use hasip_media::{Codec, MediaConfig, MediaSession, PlaybackId, TelephoneEvent};

/// The test's time origin: any instant will do, only differences matter.
#[allow(clippy::disallowed_methods)]
fn start() -> Instant {
    Instant::now()
}

fn remote() -> SocketAddr {
    "127.0.0.1:4000".parse().unwrap()
}

/// Ten minutes of a prompt at the codec's rate, shared by every session that plays it.
fn prompt(codec: Codec) -> Arc<[i16]> {
    let n = codec.samples_in(20) * 50 * 600;
    (0..n).map(|i| ((i * 37) % 6000) as i16 - 3000).collect()
}

fn session(codec: Codec, seed: u64, t0: Instant, audio: &Arc<[i16]>) -> MediaSession {
    let mut c = MediaConfig::new(codec, codec.static_payload_type().unwrap_or(111));
    c.remote = Some(remote());
    c.telephone_event = Some(TelephoneEvent {
        payload_type: 101,
        clock_rate: codec.clock_rate(),
    });
    let mut s = MediaSession::new(c, seed, t0).unwrap();
    // A long prompt, so every tick encodes real audio.
    s.play(t0, PlaybackId(1), audio.clone());
    s
}

fn drain(s: &mut MediaSession) -> usize {
    let mut bytes = 0;
    while let Some(t) = s.poll_transmit() {
        bytes += black_box(t.payload).len();
    }
    while s.poll_event().is_some() {}
    bytes
}

fn codecs() -> Vec<Codec> {
    [Codec::Pcmu, Codec::Pcma, Codec::G722, Codec::Opus]
        .into_iter()
        .filter(|c| c.is_available())
        .collect()
}

fn tick(c: &mut Criterion) {
    let mut g = c.benchmark_group("tick");
    for codec in codecs() {
        let t0 = start();
        let mut s = session(codec, 1, t0, &prompt(codec));
        let mut k = 0u64;
        g.bench_function(BenchmarkId::from_parameter(format!("{codec:?}")), |b| {
            b.iter(|| {
                k += 1;
                s.handle_tick(t0 + Duration::from_millis(20 * k));
                drain(&mut s)
            })
        });
    }
    g.finish();
}

fn tick_500(c: &mut Criterion) {
    let mut g = c.benchmark_group("tick_500_sessions");
    g.sample_size(20);
    let t0 = start();
    let audio = prompt(Codec::Pcmu);
    let mut sessions: Vec<MediaSession> = (0..500)
        .map(|i| session(Codec::Pcmu, i, t0, &audio))
        .collect();
    let mut k = 0u64;
    g.bench_function("Pcmu", |b| {
        b.iter(|| {
            k += 1;
            let now = t0 + Duration::from_millis(20 * k);
            let mut bytes = 0;
            for s in &mut sessions {
                s.handle_tick(now);
                bytes += drain(s);
            }
            bytes
        })
    });
    g.finish();
}

fn receive(c: &mut Criterion) {
    let mut g = c.benchmark_group("receive");
    for codec in codecs() {
        let t0 = start();
        let mut s = session(codec, 2, t0, &prompt(codec));
        // A real payload of this codec: encode 20 ms of a tone.
        let mut enc = codec.instantiate().unwrap();
        let n = codec.samples_in(20);
        let pcm: Vec<i16> = (0..n)
            .map(|i| (8000.0 * (i as f32 * 0.3).sin()) as i16)
            .collect();
        let mut payload = vec![0u8; 1500];
        let len = enc.encode(&pcm, &mut payload).unwrap();
        payload.truncate(len);
        let mut packet = Vec::with_capacity(1600);
        let mut k = 0u32;
        g.bench_function(BenchmarkId::from_parameter(format!("{codec:?}")), |b| {
            b.iter(|| {
                k = k.wrapping_add(1);
                RtpHeader {
                    marker: false,
                    payload_type: codec.static_payload_type().unwrap_or(111),
                    sequence: k as u16,
                    timestamp: k.wrapping_mul(codec.rtp_units(n)),
                    ssrc: 5,
                }
                .write(&payload, &mut packet);
                let now = t0 + Duration::from_millis(20 * u64::from(k));
                s.handle_rtp(now, remote(), black_box(&packet));
                while s.poll_event().is_some() {}
            })
        });
    }
    g.finish();
}

criterion_group!(benches, tick, tick_500, receive);
criterion_main!(benches);
