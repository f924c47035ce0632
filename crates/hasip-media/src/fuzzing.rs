//! Entry points for fuzzing and for replaying the fuzz corpus in ordinary tests: each runs
//! the parsers and state machines that read network bytes over arbitrary input. Not part of
//! the API.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::codec::Codec;
use crate::rtcp::{self, RtcpPacket};
use crate::rtp::RtpPacket;
use crate::session::{MediaConfig, MediaSession, PlaybackId, TelephoneEvent};
use crate::telephone_event::{EventPayload, EventReceiver};

/// Any instant will do: the entry points only use differences from it. (The one clock
/// read in this crate, and only for fuzzing.)
#[allow(clippy::disallowed_methods)]
fn epoch() -> Instant {
    Instant::now()
}

/// Reads `data` as an RTP packet, as a compound RTCP packet and as a telephone-event
/// payload, then feeds it — whole and cut into pieces — to an RFC 4733 receiver and to a
/// session of each built-in codec.
pub fn rtp_packet(data: &[u8]) {
    if let Ok(p) = RtpPacket::parse(data) {
        let _ = (p.csrcs().count(), p.extension.map(|e| e.data.len()));
    }
    for packet in rtcp::parse_compound(data).flatten() {
        match packet {
            RtcpPacket::SenderReport { blocks, .. } | RtcpPacket::ReceiverReport { blocks, .. } => {
                let _ = blocks.iter().count();
            }
            RtcpPacket::Sdes(s) => {
                for (_, items) in s.chunks() {
                    let _ = items.iter().count();
                }
            }
            RtcpPacket::Bye { .. } | RtcpPacket::Other { .. } => {
                let _ = packet.bye_ssrcs().count();
            }
        }
    }
    telephone_events(data);
    sessions(data);
}

/// Feeds `data` to an RFC 4733 receiver as a stream of packets: each 8-byte record is a
/// timestamp (4 bytes) and a payload (4 bytes), 10 ms apart.
pub fn telephone_events(data: &[u8]) {
    let t0 = epoch();
    for rate in [8000, 48_000] {
        let mut rx = EventReceiver::new(rate, Duration::from_millis(250));
        for (i, rec) in data.chunks(8).enumerate() {
            let now = t0 + Duration::from_millis(10 * i as u64);
            let ts = rec
                .get(..4)
                .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            let payload = rec.get(4..).unwrap_or(&[]);
            let _ = EventPayload::parse(payload);
            rx.handle_packet(now, ts, payload);
            while rx.poll_event().is_some() {}
        }
        rx.handle_timeout(t0 + Duration::from_secs(3600));
        while rx.poll_event().is_some() {}
    }
}

fn sessions(data: &[u8]) {
    let t0 = epoch();
    let remote: SocketAddr = ([127, 0, 0, 1], 4000).into();
    let other: SocketAddr = ([127, 0, 0, 2], 4000).into();
    for codec in [Codec::Pcmu, Codec::Pcma, Codec::G722, Codec::Opus] {
        if !codec.is_available() {
            continue;
        }
        let pt = codec.static_payload_type().unwrap_or(111);
        let mut config = MediaConfig::new(codec, pt);
        config.remote = Some(remote);
        config.telephone_event = Some(TelephoneEvent {
            payload_type: 101,
            clock_rate: codec.clock_rate(),
        });
        let Ok(mut s) = MediaSession::new(config, 1, t0) else {
            continue;
        };
        s.set_tap(true);
        s.play(t0, PlaybackId(1), Arc::from(vec![100i16; 400]));
        let mut now = t0;
        // The datagram as it is, then with its payload type forced to each one the session
        // knows, then cut at every 97th byte.
        let mut variants: Vec<Vec<u8>> = vec![data.to_vec()];
        if data.len() >= 12 {
            for forced in [pt, 101, 13] {
                let mut v = data.to_vec();
                v[0] = 0x80 | (v[0] & 0x3F);
                v[1] = (v[1] & 0x80) | forced;
                variants.push(v);
            }
        }
        for v in &variants {
            for (i, from) in [remote, other].into_iter().enumerate() {
                now += Duration::from_millis(7 + i as u64);
                s.handle_rtp(now, from, v);
                s.handle_rtcp(now, from, v);
                s.handle_tick(now);
                drain(&mut s);
            }
            for cut in (0..v.len()).step_by(97) {
                s.handle_rtp(now, remote, &v[..cut]);
            }
        }
        s.handle_tick(now + Duration::from_secs(40));
        s.close(now + Duration::from_secs(41));
        drain(&mut s);
    }
}

fn drain(s: &mut MediaSession) {
    while s.poll_transmit().is_some() {}
    while s.poll_event().is_some() {}
    while s.poll_frame().is_some() {}
}
