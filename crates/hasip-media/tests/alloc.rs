//! The hot paths allocate nothing once a session is warm: a tick (mix, encode, packetise)
//! with its `poll_transmit` drain, and a received packet (parse, decode, in-band
//! detection, playout buffer).
//!
//! (libopus allocates nothing per packet either, but through C's allocator, which this
//! does not see.)
//!
//! Allocations are counted by `stats_alloc` as the global allocator of this test binary
//! (writing our own `GlobalAlloc` would need `unsafe`, which the workspace forbids).

use std::alloc::System;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hasip_media::rtp::RtpHeader;
use hasip_media::{Codec, MediaConfig, MediaSession, PlaybackId, TelephoneEvent};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

/// The test's time origin: any instant will do, only differences matter.
#[allow(clippy::disallowed_methods)]
fn start() -> Instant {
    Instant::now()
}

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn session(codec: Codec) -> (MediaSession, Instant, SocketAddr) {
    let remote: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    let mut c = MediaConfig::new(codec, codec.static_payload_type().unwrap_or(111));
    c.remote = Some(remote);
    c.telephone_event = Some(TelephoneEvent {
        payload_type: 101,
        clock_rate: codec.clock_rate(),
    });
    let t0 = start();
    (MediaSession::new(c, 7, t0).unwrap(), t0, remote)
}

#[test]
fn warm_ticks_and_receives_do_not_allocate() {
    let codecs = [Codec::Pcmu, Codec::Pcma, Codec::G722, Codec::Opus];
    for codec in codecs.into_iter().filter(|c| c.is_available()) {
        let (mut s, t0, remote) = session(codec);
        s.set_tap(true);
        let n = codec.samples_in(20);
        let audio: Arc<[i16]> = (0..n * 600)
            .map(|i| ((i * 31) % 4000) as i16 - 2000)
            .collect();
        s.play(t0, PlaybackId(1), audio);
        let mut packet = Vec::with_capacity(2000);
        // A real payload of this codec (20 ms of a tone).
        let mut encoder = codec.instantiate().unwrap();
        let tone: Vec<i16> = (0..n)
            .map(|i| (6000.0 * (i as f32 * 0.2).sin()) as i16)
            .collect();
        let mut payload = vec![0u8; 1500];
        let len = encoder.encode(&tone, &mut payload).unwrap();
        payload.truncate(len);
        let mut run = |s: &mut MediaSession, k: u32| {
            let now = t0 + Duration::from_millis(20 * u64::from(k));
            RtpHeader {
                marker: false,
                payload_type: codec.static_payload_type().unwrap_or(111),
                sequence: k as u16,
                timestamp: 160 * k,
                ssrc: 9,
            }
            .write(&payload, &mut packet);
            s.handle_rtp(now, remote, &packet);
            s.handle_tick(now);
            while s.poll_transmit().is_some() {}
            while s.poll_event().is_some() {}
            while s.poll_frame().is_some() {}
        };
        // Warm up: buffers reach their steady sizes.
        for k in 0..100 {
            run(&mut s, k);
        }
        let region = Region::new(GLOBAL);
        for k in 100..500 {
            run(&mut s, k);
        }
        let stats = region.change();
        assert_eq!(stats.allocations, 0, "{codec:?}: {stats:?}");
        assert_eq!(stats.reallocations, 0, "{codec:?}: {stats:?}");
    }
}
