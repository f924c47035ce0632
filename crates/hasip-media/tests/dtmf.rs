//! `MediaSession` DTMF scenarios in virtual time: RFC 4733 and in-band digits received
//! (reported on their first packet, once per press) and sent, heard by a second session.

mod common;

use std::time::Duration;

use hasip_media::rtp::RtpHeader;
use hasip_media::telephone_event::EventPayload;
use hasip_media::{
    Codec, DtmfError, DtmfMethod, DtmfSource, DtmfTiming, Event, MediaConfig, TelephoneEvent, Timer,
};

use common::*;

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
