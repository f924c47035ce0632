//! `MediaSession` scenarios in virtual time: pacing on the shared tick, playback without
//! gaps, symmetric RTP, RTCP, taps and bridges (DTMF: `dtmf.rs`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hasip_media::codec::g711::{linear_to_ulaw, ulaw_to_linear};
use hasip_media::rtcp::{self, RtcpPacket};
use hasip_media::rtp::RtpPacket;
use hasip_media::{
    Codec, Direction, Event, Idle, MediaConfig, MediaSession, PacketKind, PlaybackEnd, PlaybackId,
};

mod common;
use common::*;

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
fn rfc4961_symmetric_rtp_latches_to_the_nat_port_of_the_signalling_host() {
    // The phone's SDP names its private address; its packets come from its NAT, which is
    // where its SIP came from, on another port.
    let mut cfg = config();
    let nat: SocketAddr = "198.51.100.7:31000".parse().unwrap();
    cfg.signalling_ip = Some(nat.ip());
    let mut h = Harness::new(cfg);
    // Three packets in a row are not enough, and a gap in the sequence starts over.
    for (k, seq) in [1u16, 2, 3, 5].into_iter().enumerate() {
        h.session.handle_rtp(
            h.at(5 + k as u64),
            nat,
            &pcmu_packet(seq, 160 * u32::from(seq), 0xAA, &[0; 160]),
        );
    }
    assert_eq!(h.session.remote(), Some(remote()));
    for seq in 6..=8u16 {
        h.session.handle_rtp(
            h.at(10 + u64::from(seq)),
            nat,
            &pcmu_packet(seq, 160 * u32::from(seq), 0xAA, &[0; 160]),
        );
    }
    h.ticks(1, 1);
    assert_eq!(h.take_events(), [Event::RemoteLatched { addr: nat }]);
    assert_eq!(h.sent.last().unwrap().to, nat);
    assert_eq!(h.session.remote(), Some(nat));
}

#[test]
fn strict_rtp_never_takes_a_third_host_before_or_during_the_call() {
    let mut h = Harness::new(config());
    let attacker: SocketAddr = "203.0.113.9:5000".parse().unwrap();
    // Before the phone's first packet, a burst of consecutive packets with DTMF-like
    // audio from a stranger: dropped, no latch.
    for k in 0..20u16 {
        h.session.handle_rtp(
            h.at(1 + u64::from(k)),
            attacker,
            &pcmu_packet(100 + k, 160 * u32::from(k), 0xBB, &[0x10; 160]),
        );
    }
    assert_eq!(h.session.stats().foreign_source, 20);
    assert_eq!(h.session.stats().packets_received, 0);
    // The phone, from its SDP address: latched at once.
    h.session
        .handle_rtp(h.at(30), remote(), &pcmu_packet(1, 0, 0xAA, &[0; 160]));
    assert_eq!(h.session.stats().packets_received, 1);
    // Mid-call, the stranger keeps spraying between the phone's packets: never taken.
    for k in 0..50u16 {
        h.session.handle_rtp(
            h.at(40 + u64::from(k)),
            attacker,
            &pcmu_packet(200 + k, 160 * u32::from(k), 0xBB, &[0x10; 160]),
        );
        if k % 10 == 0 {
            h.session.handle_rtp(
                h.at(40 + u64::from(k)),
                remote(),
                &pcmu_packet(2 + k / 10, 160 * u32::from(2 + k / 10), 0xAA, &[0; 160]),
            );
        }
    }
    h.ticks(1, 1);
    assert!(
        h.sent.iter().all(|p| p.to.ip() != attacker.ip()),
        "sent to the attacker"
    );
    assert_eq!(h.session.remote(), Some(remote()));
    assert_eq!(h.session.stats().packets_received, 6);
    // Its RTCP is ignored too.
    h.session
        .handle_rtcp(h.at(100), attacker, &[0x80, 201, 0, 1, 0, 0, 0, 1]);
    assert_eq!(h.session.stats().foreign_source, 71);
}

#[test]
fn a_new_port_of_the_phone_is_learned_only_in_the_first_moments() {
    let mut h = Harness::new(config());
    let moved: SocketAddr = "192.0.2.10:4100".parse().unwrap();
    // After the learning window, the SDP host's other port is not followed...
    let late = hasip_media::LEARNING.as_millis() as u64 + 100;
    for k in 0..8u16 {
        h.session.handle_rtp(
            h.at(late + u64::from(k)),
            moved,
            &pcmu_packet(1 + k, 160 * u32::from(k), 0xAA, &[0; 160]),
        );
    }
    assert_eq!(h.session.remote(), Some(remote()));
    assert_eq!(h.session.stats().packets_received, 0);
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

#[test]
fn a_peer_on_this_host_may_send_from_our_advertised_address() {
    // baresip on the gateway's own host: its SDP says 127.0.0.1, and what it sends to our
    // advertised 192.0.2.2 leaves from 192.0.2.2.
    let mut cfg = config();
    cfg.remote = Some("127.0.0.1:26968".parse().unwrap());
    cfg.local_ip = Some("192.0.2.2".parse().unwrap());
    let mut h = Harness::new(cfg.clone());
    let from_host: SocketAddr = "192.0.2.2:26968".parse().unwrap();
    for seq in 1..=4u16 {
        h.session.handle_rtp(
            h.at(u64::from(seq)),
            from_host,
            &pcmu_packet(seq, 160 * u32::from(seq), 0xAA, &[0; 160]),
        );
    }
    assert_eq!(h.session.remote(), Some(from_host));
    // Not when the SDP names another host: then our own address is a third one.
    cfg.remote = Some(remote());
    let mut h = Harness::new(cfg);
    for seq in 1..=4u16 {
        h.session.handle_rtp(
            h.at(u64::from(seq)),
            from_host,
            &pcmu_packet(seq, 160 * u32::from(seq), 0xAA, &[0; 160]),
        );
    }
    assert_eq!(h.session.stats().foreign_source, 4);
}

/// The arrival tap (Assist's detector): each received packet's audio, decoded, once, as
/// soon as it arrives, while the playout buffer still holds it back; nothing when off.
#[test]
fn the_arrival_tap_gives_each_packet_at_once_and_once() {
    let mut h = Harness::new(config());
    let from = remote();
    let speech = [1000i16; 160];
    h.session
        .handle_rtp(h.at(0), from, &pcmu_packet(1, 0, 9, &speech));
    assert!(h.session.take_arrival().is_none(), "the tap is off");
    h.session.set_arrival_tap(true);
    h.session.set_tap(true);
    h.session
        .handle_rtp(h.at(20), from, &pcmu_packet(2, 160, 9, &speech));
    let got = h
        .session
        .take_arrival()
        .expect("the packet's audio")
        .to_vec();
    assert_eq!(got.len(), 160);
    assert!(got.iter().all(|s| (900..=1100).contains(s)), "{got:?}");
    assert!(h.session.take_arrival().is_none(), "once");
    // The tapped frames are still behind the 40 ms playout delay: silence so far.
    h.session.handle_tick(h.at(20));
    let f = h.session.poll_frame().expect("a frame");
    assert!(f.received.iter().all(|&s| s == 0));
    h.session.set_arrival_tap(false);
    h.session
        .handle_rtp(h.at(40), from, &pcmu_packet(3, 320, 9, &speech));
    assert!(h.session.take_arrival().is_none(), "off again");
}
