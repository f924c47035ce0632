//! What the `MediaSession` scenario tests share: a session in virtual time (`Harness`),
//! its packets, and two sessions wired to each other.
#![allow(dead_code)] // each test file uses its own part

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hasip_media::codec::g711::{linear_to_ulaw, ulaw_to_linear};
use hasip_media::rtp::{RtpHeader, RtpPacket};
use hasip_media::tone::DtmfTone;
use hasip_media::{Codec, Digit, Event, MediaConfig, MediaSession, PacketKind, TelephoneEvent};

/// The test's time origin: any instant will do, only differences matter.
#[allow(clippy::disallowed_methods)]
pub(crate) fn start() -> Instant {
    Instant::now()
}

pub(crate) fn remote() -> SocketAddr {
    "192.0.2.10:4000".parse().unwrap()
}

pub(crate) fn config() -> MediaConfig {
    let mut c = MediaConfig::new(Codec::Pcmu, 0);
    c.remote = Some(remote());
    c.telephone_event = Some(TelephoneEvent {
        payload_type: 101,
        clock_rate: 8000,
    });
    c
}

/// A sent packet, owned, for assertions.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    pub to: SocketAddr,
    pub kind: PacketKind,
    pub bytes: Vec<u8>,
}

impl Sent {
    pub(crate) fn rtp(&self) -> RtpPacket<'_> {
        RtpPacket::parse(&self.bytes).unwrap()
    }
}

pub(crate) struct Harness {
    t0: Instant,
    pub session: MediaSession,
    pub sent: Vec<Sent>,
    pub events: Vec<Event>,
}

impl Harness {
    pub(crate) fn new(config: MediaConfig) -> Self {
        let t0 = start();
        Self {
            t0,
            session: MediaSession::new(config, 42, t0).unwrap(),
            sent: Vec::new(),
            events: Vec::new(),
        }
    }

    pub(crate) fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    pub(crate) fn drain(&mut self) {
        while let Some(t) = self.session.poll_transmit() {
            self.sent.push(Sent {
                to: t.to,
                kind: t.kind,
                bytes: t.payload.to_vec(),
            });
        }
        while let Some(e) = self.session.poll_event() {
            self.events.push(e);
        }
    }

    /// Ticks `n` times on the 20 ms grid starting at tick index `from`.
    pub(crate) fn ticks(&mut self, from: u64, n: u64) {
        for k in from..from + n {
            self.session.handle_tick(self.at(20 * k));
            self.drain();
        }
    }

    pub(crate) fn rtp_sent(&self) -> Vec<&Sent> {
        self.sent
            .iter()
            .filter(|s| s.kind == PacketKind::Rtp)
            .collect()
    }

    pub(crate) fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }
}

pub(crate) fn pcmu_packet(seq: u16, ts: u32, ssrc: u32, pcm: &[i16]) -> Vec<u8> {
    let payload: Vec<u8> = pcm.iter().map(|&s| linear_to_ulaw(s)).collect();
    let mut out = Vec::new();
    RtpHeader {
        marker: false,
        payload_type: 0,
        sequence: seq,
        timestamp: ts,
        ssrc,
    }
    .write(&payload, &mut out);
    out
}

/// Two sessions wired back to back through their `poll_transmit`.
pub(crate) fn pair(a_cfg: MediaConfig, b_cfg: MediaConfig) -> (Harness, Harness) {
    (Harness::new(a_cfg), Harness::new(b_cfg))
}

pub(crate) fn run_pair(a: &mut Harness, b: &mut Harness, ticks: u64) {
    for k in 0..ticks {
        let now = a.at(20 * k);
        a.session.handle_tick(now);
        b.session.handle_tick(now);
        while let Some(t) = a.session.poll_transmit() {
            if t.kind == PacketKind::Rtp {
                let bytes = t.payload.to_vec();
                b.session.handle_rtp(now, remote(), &bytes);
            }
        }
        while let Some(t) = b.session.poll_transmit() {
            if t.kind == PacketKind::Rtp {
                let bytes = t.payload.to_vec();
                a.session.handle_rtp(now, remote(), &bytes);
            }
        }
        a.drain();
        b.drain();
    }
}

pub(crate) fn decoded_payloads(h: &Harness) -> Vec<i16> {
    h.rtp_sent()
        .iter()
        .filter(|s| s.rtp().payload_type == 0)
        .flat_map(|s| {
            s.rtp()
                .payload
                .iter()
                .map(|&b| ulaw_to_linear(b))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// 20 ms PCMU packets of `digits` as tones (`on` ms each, `off` ms apart) from `src`.
pub(crate) fn inband_packets(digits: &str, on: usize, off: usize) -> Vec<Vec<u8>> {
    let mut pcm = vec![0i16; 8 * off];
    for c in digits.chars() {
        let mut tone = DtmfTone::new(Digit::from_char(c).unwrap(), 8000);
        let mut part = vec![0i16; 8 * on];
        tone.mix_into(&mut part);
        pcm.extend(part);
        pcm.extend(vec![0i16; 8 * off]);
    }
    pcm.chunks(160)
        .enumerate()
        .map(|(k, chunk)| pcmu_packet(k as u16, 160 * k as u32, 0x77, chunk))
        .collect()
}
