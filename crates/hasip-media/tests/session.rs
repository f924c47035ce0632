//! `MediaSession` scenarios in virtual time: pacing on the shared tick, playback without
//! gaps, DTMF in all directions, symmetric RTP, RTCP, taps and bridges.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hasip_media::codec::g711::{linear_to_ulaw, ulaw_to_linear};
use hasip_media::rtcp::{self, RtcpPacket};
use hasip_media::rtp::{RtpHeader, RtpPacket};
use hasip_media::telephone_event::EventPayload;
use hasip_media::tone::DtmfTone;
use hasip_media::{
    Codec, Digit, Direction, DtmfError, DtmfMethod, DtmfSource, DtmfTiming, Event, Idle,
    MediaConfig, MediaSession, PacketKind, PlaybackEnd, PlaybackId, TelephoneEvent, Timer,
};

/// The test's time origin: any instant will do, only differences matter.
#[allow(clippy::disallowed_methods)]
fn start() -> Instant {
    Instant::now()
}

fn remote() -> SocketAddr {
    "192.0.2.10:4000".parse().unwrap()
}

fn config() -> MediaConfig {
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
struct Sent {
    to: SocketAddr,
    kind: PacketKind,
    bytes: Vec<u8>,
}

impl Sent {
    fn rtp(&self) -> RtpPacket<'_> {
        RtpPacket::parse(&self.bytes).unwrap()
    }
}

struct Harness {
    t0: Instant,
    session: MediaSession,
    sent: Vec<Sent>,
    events: Vec<Event>,
}

impl Harness {
    fn new(config: MediaConfig) -> Self {
        let t0 = start();
        Self {
            t0,
            session: MediaSession::new(config, 42, t0).unwrap(),
            sent: Vec::new(),
            events: Vec::new(),
        }
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    fn drain(&mut self) {
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
    fn ticks(&mut self, from: u64, n: u64) {
        for k in from..from + n {
            self.session.handle_tick(self.at(20 * k));
            self.drain();
        }
    }

    fn rtp_sent(&self) -> Vec<&Sent> {
        self.sent
            .iter()
            .filter(|s| s.kind == PacketKind::Rtp)
            .collect()
    }

    fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }
}

fn pcmu_packet(seq: u16, ts: u32, ssrc: u32, pcm: &[i16]) -> Vec<u8> {
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

#[test]
fn rfc3550_5_1_one_packet_per_tick_with_exact_timestamps_and_first_marker() {
    let mut h = Harness::new(config());
    h.ticks(0, 50);
    let rtp = h.rtp_sent();
    assert_eq!(rtp.len(), 50);
    let first = rtp[0].rtp();
    assert!(first.marker);
    for (k, s) in rtp.iter().enumerate() {
        let p = s.rtp();
        assert_eq!(s.to, remote());
        assert_eq!(p.payload_type, 0);
        assert_eq!(p.ssrc, first.ssrc);
        assert_eq!(p.sequence, first.sequence.wrapping_add(k as u16));
        assert_eq!(p.timestamp, first.timestamp.wrapping_add(160 * k as u32));
        assert_eq!(p.payload.len(), 160);
        assert_eq!(p.marker, k == 0);
        // Idle: encoded silence.
        assert!(p.payload.iter().all(|&b| b == 0xFF));
    }
    // The same seed gives the same SSRC, sequence and timestamp.
    let mut again = Harness::new(config());
    again.ticks(0, 1);
    assert_eq!(again.sent[0].bytes, h.sent[0].bytes);
    assert_eq!(h.session.ssrc(), first.ssrc);
}

#[test]
fn pacing_tolerates_jitter_catches_up_and_skips_long_stalls() {
    let mut h = Harness::new(config());
    h.session.handle_tick(h.at(0));
    // Ticks up to half a packet early or late produce exactly one packet each.
    for (k, skew) in [(1u64, 9i64), (2, -9), (3, 0), (4, 5)] {
        let at = if skew >= 0 {
            h.at(20 * k) + Duration::from_millis(skew as u64)
        } else {
            h.at(20 * k) - Duration::from_millis(skew.unsigned_abs())
        };
        h.session.handle_tick(at);
        h.drain();
        assert_eq!(
            h.rtp_sent().len() as u64,
            k + 1,
            "tick {k} skewed {skew} ms"
        );
    }
    // A tick missed: the next one sends two packets with consecutive timestamps.
    h.session.handle_tick(h.at(120));
    h.drain();
    let rtp = h.rtp_sent();
    assert_eq!(rtp.len(), 7);
    assert_eq!(
        rtp[6].rtp().timestamp.wrapping_sub(rtp[5].rtp().timestamp),
        160
    );
    // A one-second stall: one packet, timestamps jump to where they belong, marker set.
    let before = rtp[6].rtp().timestamp;
    h.session.handle_tick(h.at(1120));
    h.drain();
    let rtp = h.rtp_sent();
    assert_eq!(rtp.len(), 8);
    let p = rtp[7].rtp();
    assert_eq!(p.timestamp.wrapping_sub(before), 160 * 50);
    assert!(p.marker);
    assert_eq!(h.session.stats().skipped_packets, 49);
    // A `now` from the past is ignored.
    h.session.handle_tick(h.at(500));
    h.drain();
    assert_eq!(h.rtp_sent().len(), 8);
}

#[test]
fn a_prompt_started_between_ticks_stays_on_the_tick_grid_when_ticks_come_late() {
    let mut h = Harness::new(config());
    h.session.set_grid(h.at(0));
    h.ticks(0, 2);
    assert_eq!(h.rtp_sent().len(), 2);
    // Nothing plays; a prompt starts 13 ms after a tick: its first packet leaves at once.
    let prompt: Arc<[i16]> = vec![1000i16; 8000].into();
    h.session.play_now(h.at(33), PlaybackId(1), prompt);
    h.drain();
    assert_eq!(h.rtp_sent().len(), 3);
    // Then one packet per tick, whether a tick comes on time or up to 9 ms late: the
    // session's grid is the ticks', not the prompt's start.
    for (k, late) in [(2u64, 9u64), (3, 0), (4, 9), (5, 9), (6, 0), (7, 3)] {
        h.session
            .handle_tick(h.at(20 * k) + Duration::from_millis(late));
        h.drain();
        assert_eq!(h.rtp_sent().len() as u64, k + 2, "tick {k}, {late} ms late");
    }
}

#[test]
fn ptime_40_sends_every_second_tick() {
    let mut c = config();
    c.ptime = Duration::from_millis(40);
    let mut h = Harness::new(c);
    h.ticks(0, 10);
    let rtp = h.rtp_sent();
    assert_eq!(rtp.len(), 5);
    assert_eq!(rtp[0].rtp().payload.len(), 320);
    assert_eq!(
        rtp[1].rtp().timestamp.wrapping_sub(rtp[0].rtp().timestamp),
        320
    );
    let mut bad = config();
    bad.ptime = Duration::from_millis(25);
    assert!(MediaSession::new(bad, 1, start()).is_err());
}

fn decoded_payloads(h: &Harness) -> Vec<i16> {
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

#[test]
fn playback_queue_plays_items_back_to_back_without_gap() {
    let mut h = Harness::new(config());
    // Items that do not fill whole packets: 250 and 330 samples.
    let a: Arc<[i16]> = (0..250).map(|i| 1000 + i as i16).collect();
    let b: Arc<[i16]> = (0..330).map(|i| -2000 - i as i16).collect();
    h.session.play(h.at(0), PlaybackId(1), a.clone());
    h.session.play(h.at(0), PlaybackId(2), b.clone());
    assert!(h.session.is_playing());
    h.ticks(0, 5);
    let audio = decoded_payloads(&h);
    let expected: Vec<i16> = a
        .iter()
        .chain(b.iter())
        .map(|&s| ulaw_to_linear(linear_to_ulaw(s)))
        .chain(std::iter::repeat(0))
        .take(800)
        .collect();
    assert_eq!(audio, expected, "no gap between items, silence after");
    // Item 1 ends in the second packet, item 2 in the fourth.
    let finished: Vec<_> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::PlaybackFinished { id, end } => Some((*id, *end)),
            _ => None,
        })
        .collect();
    assert_eq!(
        finished,
        [
            (PlaybackId(1), PlaybackEnd::Completed),
            (PlaybackId(2), PlaybackEnd::Completed)
        ]
    );
    assert!(!h.session.is_playing());
}

#[test]
fn stop_playback_reports_every_item_stopped() {
    let mut h = Harness::new(config());
    h.session
        .play(h.at(0), PlaybackId(7), Arc::from(vec![500i16; 8000]));
    h.session
        .play(h.at(0), PlaybackId(8), Arc::from(vec![500i16; 8000]));
    h.ticks(0, 3);
    h.session.stop_playback();
    h.ticks(3, 2);
    let events = h.take_events();
    assert_eq!(
        events,
        [
            Event::PlaybackFinished {
                id: PlaybackId(7),
                end: PlaybackEnd::Stopped
            },
            Event::PlaybackFinished {
                id: PlaybackId(8),
                end: PlaybackEnd::Stopped
            },
        ]
    );
    let audio = decoded_payloads(&h);
    assert!(audio[..480].iter().all(|&s| s != 0));
    assert!(audio[480..].iter().all(|&s| s == 0));
}

#[test]
fn rfc4961_symmetric_rtp_latches_to_the_real_source() {
    let mut h = Harness::new(config());
    let nat: SocketAddr = "198.51.100.7:31000".parse().unwrap();
    h.session
        .handle_rtp(h.at(5), nat, &pcmu_packet(1, 0, 0xAA, &[0; 160]));
    h.ticks(1, 1);
    assert_eq!(h.take_events(), [Event::RemoteLatched { addr: nat }]);
    assert_eq!(h.sent.last().unwrap().to, nat);
    assert_eq!(h.session.remote(), Some(nat));
    // Someone else sends three packets: dropped, no switch.
    let attacker: SocketAddr = "203.0.113.9:5000".parse().unwrap();
    for k in 0..3 {
        h.session.handle_rtp(
            h.at(30 + k),
            attacker,
            &pcmu_packet(100 + k as u16, 0, 0xBB, &[0; 160]),
        );
    }
    assert_eq!(h.session.stats().foreign_source, 3);
    assert_eq!(h.session.remote(), Some(nat));
    // The real source keeps sending, which resets the count.
    h.session
        .handle_rtp(h.at(40), nat, &pcmu_packet(2, 160, 0xAA, &[0; 160]));
    for k in 0..3 {
        h.session.handle_rtp(
            h.at(41 + k),
            attacker,
            &pcmu_packet(200 + k as u16, 0, 0xBB, &[0; 160]),
        );
    }
    assert_eq!(h.session.remote(), Some(nat));
    // A source that moved (NAT rebinding) and sends four in a row is followed.
    let moved: SocketAddr = "198.51.100.7:31002".parse().unwrap();
    for k in 0..4u16 {
        h.session.handle_rtp(
            h.at(60 + u64::from(k)),
            moved,
            &pcmu_packet(3 + k, 320, 0xAA, &[0; 160]),
        );
    }
    assert_eq!(h.session.remote(), Some(moved));
    h.drain();
    assert_eq!(h.take_events(), [Event::RemoteLatched { addr: moved }]);
}

#[test]
fn garbage_unknown_payload_types_and_duplicates_are_counted_not_used() {
    let mut h = Harness::new(config());
    h.session.handle_rtp(h.at(1), remote(), b"\x00\x01garbage");
    h.session.handle_rtp(h.at(1), remote(), &[]);
    let mut pt96 = pcmu_packet(1, 0, 1, &[0; 160]);
    pt96[1] = 96;
    h.session.handle_rtp(h.at(2), remote(), &pt96);
    let p = pcmu_packet(5, 0, 1, &[0; 160]);
    h.session.handle_rtp(h.at(3), remote(), &p);
    h.session.handle_rtp(h.at(4), remote(), &p);
    let stats = h.session.stats();
    assert_eq!(stats.malformed, 2);
    assert_eq!(stats.unknown_payload_type, 1);
    assert_eq!(stats.duplicates, 1);
    assert_eq!(stats.packets_received, 1);
}

fn event_packet(seq: u16, ts: u32, marker: bool, payload: EventPayload) -> Vec<u8> {
    let mut out = Vec::new();
    RtpHeader {
        marker,
        payload_type: 101,
        sequence: seq,
        timestamp: ts,
        ssrc: 0x1234,
    }
    .write(&payload.to_bytes(), &mut out);
    out
}

#[test]
fn rfc4733_digits_arrive_once_and_switch_off_inband_detection() {
    let mut h = Harness::new(config());
    let mut seq = 0;
    for (i, event) in [1u8, 1, 11].into_iter().enumerate() {
        let ts = 10_000 + 4000 * i as u32;
        let base = 1000 * i as u64;
        for k in 1..=5u16 {
            seq += 1;
            let p = EventPayload {
                event,
                end: false,
                volume: 10,
                duration: 160 * k,
            };
            h.session.handle_rtp(
                h.at(base + 20 * u64::from(k)),
                remote(),
                &event_packet(seq, ts, k == 1, p),
            );
        }
        for k in 0..3 {
            seq += 1;
            let p = EventPayload {
                event,
                end: true,
                volume: 10,
                duration: 960,
            };
            h.session.handle_rtp(
                h.at(base + 120 + 20 * k),
                remote(),
                &event_packet(seq, ts, false, p),
            );
        }
    }
    h.drain();
    let digits: Vec<_> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Dtmf {
                digit,
                source: DtmfSource::Rfc4733,
            } => Some(digit.as_char()),
            _ => None,
        })
        .collect();
    assert_eq!(digits, ['1', '1', '#']);
    let ended: Vec<_> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::DtmfEnded {
                digit,
                source: DtmfSource::Rfc4733,
                duration: 960,
                clock_rate: 8000,
            } => Some(digit.as_char()),
            _ => None,
        })
        .collect();
    assert_eq!(ended, ['1', '1', '#']);
    assert_eq!(
        h.events.len(),
        6,
        "three digits, each started and ended, nothing else"
    );
    // Each digit was reported on its first packet, before its end packets.
    assert!(matches!(h.events[0], Event::Dtmf { .. }));
    assert!(matches!(h.events[1], Event::DtmfEnded { .. }));
}

#[test]
fn rfc4733_lost_end_packets_end_the_digit_on_the_tick() {
    let mut h = Harness::new(config());
    h.ticks(0, 1);
    for k in 1..=4u16 {
        let p = EventPayload {
            event: 5,
            end: false,
            volume: 10,
            duration: 160 * k,
        };
        h.session.handle_rtp(
            h.at(20 * u64::from(k)),
            remote(),
            &event_packet(k, 800, k == 1, p),
        );
    }
    let (deadline, why) = h.session.poll_timeout().unwrap();
    assert_eq!((deadline, why), (h.at(80 + 250), Timer::DtmfEventEnd));
    h.ticks(1, 16);
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, Event::Dtmf { digit, .. } if digit.as_char() == '5')),
        "reported on its first packet"
    );
    assert!(
        !h.events
            .iter()
            .any(|e| matches!(e, Event::DtmfEnded { .. }))
    );
    h.ticks(17, 1); // 340 ms: past the deadline
    assert!(h.events.iter().any(
        |e| matches!(e, Event::DtmfEnded { digit, duration: 640, .. } if digit.as_char() == '5')
    ));
    assert_eq!(
        h.events
            .iter()
            .filter(|e| matches!(e, Event::Dtmf { .. }))
            .count(),
        1
    );
}

/// 20 ms PCMU packets of `digits` as tones (`on` ms each, `off` ms apart) from `src`.
fn inband_packets(digits: &str, on: usize, off: usize) -> Vec<Vec<u8>> {
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

/// A phone that sends a key both ways: the tone in its audio, and RFC 4733 events a
/// little behind it. One press, one digit; the next press of the same key is a digit again.
#[test]
fn a_press_sent_in_band_and_as_rfc4733_is_reported_once() {
    let mut h = Harness::new(config());
    let audio = inband_packets("5", 120, 40);
    let mut seq = 1000;
    for (k, p) in audio.iter().enumerate() {
        let t = 20 * k as u64;
        h.session.handle_rtp(h.at(t), remote(), p);
        // Events for the same press start at 100 ms, end at 160 ms.
        if (100..=160).contains(&t) {
            seq += 1;
            let p = EventPayload {
                event: 5,
                end: t == 160,
                volume: 10,
                duration: (t - 80) as u16 * 8,
            };
            h.session.handle_rtp(
                h.at(t + 1),
                remote(),
                &event_packet(seq, 50_000, t == 100, p),
            );
        }
    }
    // A second press, events only, a second later.
    for k in 0..4u16 {
        seq += 1;
        let p = EventPayload {
            event: 5,
            end: k == 3,
            volume: 10,
            duration: 160 * (k + 1),
        };
        h.session.handle_rtp(
            h.at(1200 + 20 * u64::from(k)),
            remote(),
            &event_packet(seq, 90_000, k == 0, p),
        );
    }
    h.drain();
    let digits: Vec<_> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Dtmf { digit, source } => Some((digit.as_char(), *source)),
            _ => None,
        })
        .collect();
    assert_eq!(
        digits,
        [('5', DtmfSource::InBand), ('5', DtmfSource::Rfc4733)],
        "{:?}",
        h.events
    );
}

#[test]
fn inband_digits_are_detected_in_received_audio() {
    let mut c = config();
    c.telephone_event = None;
    let mut h = Harness::new(c);
    for (k, p) in inband_packets("1590*#D", 80, 80).iter().enumerate() {
        h.session.handle_rtp(h.at(20 * k as u64), remote(), p);
    }
    h.drain();
    let digits: String = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::DtmfEnded {
                digit,
                source: DtmfSource::InBand,
                clock_rate: 8000,
                duration,
            } => {
                // 80 ms is 640 samples; the detector measures whole blocks of 102.
                assert!((440..=760).contains(duration), "{duration}");
                Some(digit.as_char())
            }
            _ => None,
        })
        .collect();
    assert_eq!(digits, "1590*#D");
}

#[test]
fn rfc4733_sending_replaces_audio_and_reports_each_digit() {
    let mut h = Harness::new(config());
    h.session.set_dtmf_timing(DtmfTiming {
        tone: Duration::from_millis(100),
        pause: Duration::from_millis(100),
    });
    assert_eq!(
        h.session.send_dtmf("1x", DtmfMethod::Rfc4733),
        Err(DtmfError::InvalidDigit('x'))
    );
    h.session.send_dtmf("1#", DtmfMethod::Rfc4733).unwrap();
    h.ticks(0, 25);
    let rtp = h.rtp_sent();
    let kinds: String = rtp
        .iter()
        .map(|s| {
            if s.rtp().payload_type == 101 {
                'E'
            } else {
                'a'
            }
        })
        .collect();
    // 5 tone packets + 2 repeated ends, 3 audio packets of pause, then the next digit.
    assert_eq!(&kinds[..20], "EEEEEEEaaaEEEEEEEaaa");
    let first = rtp[0].rtp();
    assert!(first.marker);
    assert_eq!(EventPayload::parse(first.payload).unwrap().duration, 160);
    let second_digit = rtp[10].rtp();
    assert!(second_digit.marker);
    assert_eq!(EventPayload::parse(second_digit.payload).unwrap().event, 11);
    assert_eq!(
        second_digit.timestamp,
        first.timestamp.wrapping_add(160 * 10)
    );
    // Sequence numbers run on across event and audio packets.
    for w in rtp.windows(2) {
        assert_eq!(w[1].rtp().sequence, w[0].rtp().sequence.wrapping_add(1));
    }
    let sent: Vec<_> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::DtmfSent {
                digit,
                method: DtmfMethod::Rfc4733,
            } => Some(digit.as_char()),
            _ => None,
        })
        .collect();
    assert_eq!(sent, ['1', '#']);
    let mut c = config();
    c.telephone_event = None;
    let mut no_te = Harness::new(c);
    assert_eq!(
        no_te.session.send_dtmf("1", DtmfMethod::Rfc4733),
        Err(DtmfError::NotNegotiated)
    );
}

/// Two sessions wired back to back through their `poll_transmit`.
fn pair(a_cfg: MediaConfig, b_cfg: MediaConfig) -> (Harness, Harness) {
    (Harness::new(a_cfg), Harness::new(b_cfg))
}

fn run_pair(a: &mut Harness, b: &mut Harness, ticks: u64) {
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

#[test]
fn inband_sending_is_heard_by_an_inband_detector_at_every_codec() {
    let codecs = [Codec::Pcmu, Codec::Pcma, Codec::G722, Codec::Opus];
    for codec in codecs.into_iter().filter(|c| c.is_available()) {
        let mut c = MediaConfig::new(codec, codec.static_payload_type().unwrap_or(111));
        c.remote = Some(remote());
        c.dtmf_timing = DtmfTiming {
            tone: Duration::from_millis(80),
            pause: Duration::from_millis(80),
        };
        let (mut a, mut b) = pair(c.clone(), c);
        a.session.send_dtmf("19#", DtmfMethod::InBand).unwrap();
        run_pair(&mut a, &mut b, 40);
        let heard: String = b
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Dtmf {
                    digit,
                    source: DtmfSource::InBand,
                    ..
                } => Some(digit.as_char()),
                _ => None,
            })
            .collect();
        assert_eq!(heard, "19#", "{codec:?}");
        let sent = a
            .events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Event::DtmfSent {
                        method: DtmfMethod::InBand,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(sent, 3);
    }
}

#[test]
fn an_inband_digit_sent_right_after_an_rfc4733_one_sounds_whole_after_it() {
    let mut c = config();
    c.dtmf_timing = DtmfTiming {
        tone: Duration::from_millis(100),
        pause: Duration::from_millis(100),
    };
    let mut h = Harness::new(c);
    h.session.send_dtmf("1", DtmfMethod::Rfc4733).unwrap();
    h.session.send_dtmf("5", DtmfMethod::InBand).unwrap();
    h.ticks(0, 30);
    let rtp = h.rtp_sent();
    let events = rtp.iter().filter(|s| s.rtp().payload_type == 101).count();
    assert_eq!(
        events, 7,
        "the RFC 4733 digit: 5 packets and 2 repeated ends"
    );
    // All 100 ms of the '5' tone (770 + 1336 Hz) follow, none of it lost under the events.
    let audio = decoded_payloads(&h);
    let toned = audio
        .chunks(160)
        .filter(|f| {
            let power = f.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>();
            power > 160.0 * 1000.0 * 1000.0
        })
        .count();
    assert_eq!(toned, 5, "five 20 ms frames of tone");
    let sent: Vec<_> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::DtmfSent { digit, method } => Some((digit.as_char(), *method)),
            _ => None,
        })
        .collect();
    assert_eq!(
        sent,
        vec![('1', DtmfMethod::Rfc4733), ('5', DtmfMethod::InBand)]
    );
}

#[test]
fn rfc4733_sending_is_heard_by_the_receiver_at_48000() {
    let Some(opus) = Some(Codec::Opus).filter(|c| c.is_available()) else {
        return;
    };
    let mut c = MediaConfig::new(opus, 111);
    c.remote = Some(remote());
    c.telephone_event = Some(TelephoneEvent {
        payload_type: 101,
        clock_rate: 48_000,
    });
    let (mut a, mut b) = pair(c.clone(), c);
    a.session.send_dtmf("42", DtmfMethod::Rfc4733).unwrap();
    run_pair(&mut a, &mut b, 40);
    let heard: Vec<_> = b
        .events
        .iter()
        .filter_map(|e| match e {
            Event::DtmfEnded {
                digit,
                source: DtmfSource::Rfc4733,
                duration,
                clock_rate: 48_000,
            } => Some((digit.as_char(), *duration)),
            _ => None,
        })
        .collect();
    // 180 ms at 48 kHz.
    assert_eq!(heard, [('4', 8640), ('2', 8640)]);
    let opus_ts: Vec<u32> = a
        .rtp_sent()
        .iter()
        .filter(|s| s.rtp().payload_type == 111)
        .map(|s| s.rtp().timestamp)
        .collect();
    assert!(
        opus_ts
            .windows(2)
            .all(|w| w[1].wrapping_sub(w[0]) % 960 == 0)
    );
}

#[test]
fn g722_packets_carry_320_samples_in_160_bytes_on_an_8000_clock() {
    let mut c = MediaConfig::new(Codec::G722, 9);
    c.remote = Some(remote());
    let mut h = Harness::new(c);
    assert_eq!(h.session.frame_samples(), 320);
    h.ticks(0, 3);
    let rtp = h.rtp_sent();
    assert_eq!(rtp[0].rtp().payload.len(), 160);
    assert_eq!(
        rtp[1].rtp().timestamp.wrapping_sub(rtp[0].rtp().timestamp),
        160
    );
}

#[test]
fn no_media_is_reported_once_and_rearmed_by_packets() {
    let mut c = config();
    c.no_media_timeout = Some(Duration::from_secs(2));
    let mut h = Harness::new(c);
    h.ticks(0, 99);
    assert!(!h.events.iter().any(|e| matches!(e, Event::NoMedia { .. })));
    h.ticks(99, 60);
    let n: Vec<_> = h
        .events
        .iter()
        .filter(|e| matches!(e, Event::NoMedia { .. }))
        .collect();
    assert_eq!(
        n,
        [&Event::NoMedia {
            silent_for: Duration::from_secs(2)
        }]
    );
    h.session
        .handle_rtp(h.at(3200), remote(), &pcmu_packet(1, 0, 5, &[0; 160]));
    h.ticks(160, 120);
    let n = h
        .events
        .iter()
        .filter(|e| matches!(e, Event::NoMedia { .. }))
        .count();
    assert_eq!(n, 2, "reported again 2 s after the last packet");
    // On hold (we only send), no media is expected.
    let mut c = config();
    c.no_media_timeout = Some(Duration::from_secs(1));
    c.direction = Direction::SendOnly;
    let mut held = Harness::new(c);
    held.ticks(0, 100);
    assert!(
        !held
            .events
            .iter()
            .any(|e| matches!(e, Event::NoMedia { .. }))
    );
}

#[test]
fn rfc3550_6_rtcp_reports_go_to_the_next_port_and_bye_on_close() {
    let mut h = Harness::new(config());
    // Receive a little so that the report has a block about the remote.
    for k in 0..10u16 {
        h.session.handle_rtp(
            h.at(20 * u64::from(k)),
            remote(),
            &pcmu_packet(k, 160 * u32::from(k), 0xABC, &[0; 160]),
        );
    }
    h.ticks(0, 400); // 8 s: at least one report (the interval is 2.5–7.5 s)
    let rtcp: Vec<&Sent> = h
        .sent
        .iter()
        .filter(|s| s.kind == PacketKind::Rtcp)
        .collect();
    assert!(!rtcp.is_empty());
    let report = rtcp[0];
    assert_eq!(report.to, "192.0.2.10:4001".parse().unwrap());
    let packets: Vec<_> = rtcp::parse_compound(&report.bytes)
        .map(Result::unwrap)
        .collect();
    match packets[0] {
        RtcpPacket::SenderReport { ssrc, info, blocks } => {
            assert_eq!(ssrc, h.session.ssrc());
            assert!(info.packet_count > 100);
            let b: Vec<_> = blocks.iter().collect();
            assert_eq!(b.len(), 1);
            assert_eq!(b[0].ssrc, 0xABC);
            assert_eq!(b[0].highest_sequence, 9);
        }
        ref other => panic!("expected an SR first: {other:?}"),
    }
    assert!(
        matches!(packets[1], RtcpPacket::Sdes(s) if s.cname(h.session.ssrc()) == Some(&b"hasip"[..]))
    );
    h.sent.clear();
    h.session.close(h.at(8000));
    h.drain();
    let bye = &h.sent[0];
    let last = rtcp::parse_compound(&bye.bytes).last().unwrap().unwrap();
    assert_eq!(last.bye_ssrcs().collect::<Vec<_>>(), [h.session.ssrc()]);
    h.ticks(401, 5);
    assert_eq!(h.sent.len(), 1, "nothing after close");
}

#[test]
fn rfc5761_rtcp_mux_uses_the_rtp_socket() {
    let mut c = config();
    c.rtcp_mux = true;
    c.rtcp_interval = Some(Duration::from_secs(1));
    let mut h = Harness::new(c);
    h.ticks(0, 100);
    let reports: Vec<&Sent> = h
        .sent
        .iter()
        .filter(|s| hasip_media::rtp::looks_like_rtcp(&s.bytes))
        .collect();
    assert!(!reports.is_empty());
    assert!(
        reports
            .iter()
            .all(|s| s.to == remote() && s.kind == PacketKind::Rtp)
    );
    // RTCP arriving on the RTP port is read as RTCP.
    let mut rr = Vec::new();
    rtcp::write_receiver_report(&mut rr, 9, &[]);
    h.session.handle_rtp(h.at(2001), remote(), &rr);
    assert_eq!(h.session.stats().malformed, 0);
    assert_eq!(h.session.stats().unknown_payload_type, 0);
}

#[test]
fn keepalive_idle_mode_sends_sparse_packets_and_marks_talk_spurts() {
    let mut c = config();
    c.idle = Idle::Keepalive(Duration::from_secs(1));
    let mut h = Harness::new(c);
    h.ticks(0, 150); // 3 s idle
    let rtp = h.rtp_sent();
    assert_eq!(rtp.len(), 3, "one at start, then one per second");
    assert!(rtp.iter().all(|s| s.rtp().marker));
    h.sent.clear();
    h.session
        .play(h.at(3000), PlaybackId(1), Arc::from(vec![1000i16; 480]));
    h.ticks(150, 3);
    let rtp = h.rtp_sent();
    assert_eq!(rtp.len(), 3);
    let marks: Vec<bool> = rtp.iter().map(|s| s.rtp().marker).collect();
    assert_eq!(marks, [true, false, false]);
}

#[test]
fn directions_gate_sending_and_receiving() {
    let mut c = config();
    c.direction = Direction::RecvOnly;
    let mut h = Harness::new(c);
    h.ticks(0, 10);
    assert!(h.rtp_sent().is_empty());
    h.session.set_direction(Direction::SendRecv);
    h.ticks(10, 2);
    let rtp = h.rtp_sent();
    assert_eq!(rtp.len(), 2);
    assert!(rtp[0].rtp().marker, "resuming starts a talk-spurt");

    let mut c = config();
    c.direction = Direction::SendOnly;
    c.telephone_event = None;
    let mut h = Harness::new(c);
    for (k, p) in inband_packets("5", 100, 60).iter().enumerate() {
        h.session.handle_rtp(h.at(20 * k as u64), remote(), p);
    }
    h.drain();
    assert!(!h.events.iter().any(|e| matches!(e, Event::Dtmf { .. })));
    // Hold with a null address: nothing is sent until a new address arrives.
    let mut h = Harness::new(config());
    h.session.set_remote(h.at(0), None);
    h.ticks(0, 5);
    assert!(h.rtp_sent().is_empty());
    let new: SocketAddr = "192.0.2.99:6000".parse().unwrap();
    h.session.set_remote(h.at(100), Some(new));
    h.ticks(5, 1);
    assert_eq!(h.rtp_sent()[0].to, new);
    assert!(h.rtp_sent()[0].rtp().marker);
}

#[test]
fn tap_frames_carry_both_sides_and_a_bridge_carries_audio_across() {
    let (mut a, mut b) = pair(config(), config());
    a.session.set_tap(true);
    b.session.set_tap(true);
    a.session
        .play(a.at(0), PlaybackId(1), Arc::from(vec![3000i16; 8000]));
    let mut a_received = Vec::new();
    let mut a_sent = Vec::new();
    let mut bridged = Vec::new();
    // A bridge partner C that receives B's received audio, as the engine would wire it.
    let mut c = Harness::new(config());
    for k in 0..30u64 {
        run_pair(&mut a, &mut b, 0);
        let now = a.at(20 * k);
        a.session.handle_tick(now);
        b.session.handle_tick(now);
        c.session.handle_tick(now);
        while let Some(t) = a.session.poll_transmit() {
            let bytes = t.payload.to_vec();
            b.session.handle_rtp(now, remote(), &bytes);
        }
        while let Some(t) = b.session.poll_transmit() {
            let bytes = t.payload.to_vec();
            a.session.handle_rtp(now, remote(), &bytes);
        }
        while let Some(f) = a.session.poll_frame() {
            assert_eq!(f.sample_rate, 8000);
            assert_eq!(f.sent.len(), 160);
            a_sent.extend_from_slice(f.sent);
            a_received.extend_from_slice(f.received);
        }
        while let Some(f) = b.session.poll_frame() {
            let received = f.received.to_vec();
            c.session.handle_bridge_audio(now, &received, 8000);
        }
        while let Some(t) = c.session.poll_transmit() {
            if let Ok(p) = RtpPacket::parse(t.payload) {
                bridged.extend(p.payload.iter().map(|&x| ulaw_to_linear(x)));
            }
        }
    }
    assert!(
        a_sent.iter().all(|&s| s == 3000),
        "A's own side is its playback"
    );
    assert!(a_received.iter().all(|&s| s == 0), "B sends silence");
    // C sends what B received from A, after the playout delay and one tick of bridging.
    let loud = bridged
        .iter()
        .filter(|&&s| (2900..=3100).contains(&s))
        .count();
    assert!(loud >= 160 * 25, "{loud} of {}", bridged.len());
}

#[test]
fn bridge_audio_is_converted_between_rates() {
    let mut c = MediaConfig::new(Codec::G722, 9);
    c.remote = Some(remote());
    let mut h = Harness::new(c);
    h.session.set_tap(true);
    h.session
        .handle_bridge_audio(h.at(0), &[1000i16; 160], 8000);
    h.session.handle_tick(h.at(0));
    let f = h.session.poll_frame().unwrap();
    assert_eq!(f.sample_rate, 16_000);
    assert_eq!(f.sent.len(), 320);
    assert!(f.sent.iter().all(|&s| s == 1000));
}

#[test]
fn play_now_sends_the_first_prompt_packet_at_once_and_keeps_the_grid_from_there() {
    let t0 = start();
    let mut s = MediaSession::new(config(), 7, t0).unwrap();
    s.handle_tick(t0);
    while s.poll_transmit().is_some() {}
    // 7 ms after a tick, a prompt starts: its first packet leaves now, with the marker.
    let t = t0 + Duration::from_millis(7);
    s.play_now(t, PlaybackId(1), Arc::from(vec![1000i16; 1600]));
    let first = s
        .poll_transmit()
        .expect("first prompt packet at once")
        .payload
        .to_vec();
    assert_eq!(first[1] & 0x80, 0x80, "marker bit");
    assert_eq!(
        ulaw_to_linear(first[12]),
        ulaw_to_linear(linear_to_ulaw(1000))
    );
    assert!(s.poll_transmit().is_none());
    // The grid restarted at 7 ms: packet 2 (due at 27 ms) goes on the nearest shared tick,
    // 20 ms; packet 3 (47 ms) on the tick at 40 ms.
    s.handle_tick(t0 + Duration::from_millis(20));
    let at20 = std::iter::from_fn(|| s.poll_transmit().map(|_| ())).count();
    s.handle_tick(t0 + Duration::from_millis(40));
    let at40 = std::iter::from_fn(|| s.poll_transmit().map(|_| ())).count();
    assert_eq!((at20, at40), (1, 1));
}
