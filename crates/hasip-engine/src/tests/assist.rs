//! Assist in virtual time: the turns the engine starts from the caller's audio (its start,
//! what is sent, where it ends), the answers coming back as events and a played reply, the
//! caller speaking over it, a leave digit, the silence timeout and the call ending.

use super::*;
use crate::assist::AssistPhase;
use crate::{AssistSettings, AssistTap, AssistUpdate, SpokenReply};

/// What the engine hands the shell's Assist, flattened.
#[derive(Debug, Clone, PartialEq)]
enum Tap {
    Started(u64, Option<String>, Instant),
    Audio(usize),
    Ended(u64, Instant),
}

#[derive(Default)]
struct AssistWire {
    taps: Vec<Tap>,
    /// Audio samples sent to the phone that are not silence.
    loud_packets: usize,
    now: Option<Instant>,
}

impl MediaIo for AssistWire {
    fn send(&mut self, _: CallKey, _: SocketAddr, payload: &[u8]) {
        // PCMU: 0xFF and 0x7F are the two zeros.
        if payload.len() == 172 && payload[12..].iter().any(|b| *b & 0x7f < 0x70) {
            self.loud_packets += 1;
        }
    }
    fn record(&mut self, _: CallKey, _: &[i16], _: &[i16], _: u32) {}
    fn assist(&mut self, _: CallKey, tap: AssistTap<'_>) {
        let now = self.now.unwrap_or_else(t0);
        self.taps.push(match tap {
            AssistTap::TurnStarted {
                turn,
                conversation_id,
            } => Tap::Started(turn, conversation_id.map(str::to_owned), now),
            AssistTap::Audio { pcm, rate } => {
                assert_eq!(pcm.len() as u32 % (rate / 50), 0, "whole 20 ms frames");
                Tap::Audio(pcm.len() * 8000 / rate as usize)
            }
        });
    }
}

struct Caller {
    h: H,
    wire: AssistWire,
    codec: Box<dyn hasip_media::AudioCodec>,
    /// The payload type the phone sends with.
    pt: u8,
    seq: u16,
    ts: u32,
    tag: String,
}

impl Caller {
    /// An answered, established call from the phone.
    fn new() -> Self {
        Self::with_codecs(Config::default().codecs)
    }

    /// The same, the gateway offering `codecs` (in re-INVITEs too).
    fn with_codecs(codecs: Vec<hasip_sip::sdp::Codec>) -> Self {
        let mut h = H::with_config(Config {
            accounts: vec![account(AnswerMode::Accept, 0)],
            codecs,
            ..Config::default()
        });
        h.recv(&invite());
        let ok = h.sent.pop().unwrap();
        let tag = ok.to().unwrap().unwrap().tag().unwrap().to_owned();
        h.recv(&in_dialog("ACK", &tag, 1));
        h.at(0);
        assert_eq!(h.names(), vec!["incoming_call", "call_established"]);
        Self {
            h,
            wire: AssistWire::default(),
            codec: hasip_media::Codec::Pcmu.instantiate().unwrap(),
            pt: 0,
            seq: 1,
            ts: 0,
            tag,
        }
    }

    /// A re-INVITE (CSeq `cseq`) from the phone that moves the call to `codec`; the phone
    /// sends with it from then on.
    fn switch_codec(&mut self, codec: hasip_media::Codec, cseq: u32) {
        let pt = codec.static_payload_type().unwrap();
        let name = match codec {
            hasip_media::Codec::Pcma => "PCMA",
            hasip_media::Codec::G722 => "G722",
            other => panic!("{other:?}: not in this test"),
        };
        let sdp = SDP
            .replace("RTP/AVP 0 101", &format!("RTP/AVP {pt} 101"))
            .replace(
                "a=rtpmap:0 PCMU/8000",
                &format!("a=rtpmap:{pt} {name}/8000"),
            );
        let body = sdp.replace('\n', "\r\n");
        let tag = self.tag.clone();
        let reinvite = in_dialog("INVITE", &tag, cseq).replace(
            "Content-Length: 0\n\n",
            &format!(
                "Contact: <sip:door@127.0.0.1:5070>\nContent-Type: application/sdp\nContent-Length: {}\n\n{}",
                body.len(),
                sdp
            ),
        );
        self.h.recv(&reinvite);
        assert!(
            self.h.sent.iter().any(|m| m.status() == Some(200)),
            "the re-INVITE is answered: {:?}",
            self.h.sent
        );
        self.h.sent.clear();
        self.codec = codec.instantiate().unwrap();
        self.pt = pt;
    }

    fn id(&self) -> String {
        self.h.e.call_ids()[0].clone()
    }

    /// The phone sends `ms` of a 300 Hz tone at `amplitude` (0: silence), one packet per
    /// 20 ms at its codec's rate, each followed by the engine's ticks up to that moment.
    fn say(&mut self, ms: u32, amplitude: f64) {
        let remote = SocketAddr::from(([127, 0, 0, 1], 16000));
        let codec = self.codec.codec();
        let rate = codec.sample_rate();
        for _ in 0..ms / 20 {
            let first =
                (u64::from(self.ts) * u64::from(rate) / u64::from(codec.clock_rate())) as u32;
            let pcm: Vec<i16> = (0..rate / 50)
                .map(|i| {
                    let t = f64::from(first + i) / f64::from(rate);
                    (amplitude * (2.0 * std::f64::consts::PI * 300.0 * t).sin()) as i16
                })
                .collect();
            let mut payload = [0u8; 160];
            let n = self.codec.encode(&pcm, &mut payload).unwrap();
            let payload = &payload[..n];
            let mut p = vec![0x80, self.pt, (self.seq >> 8) as u8, self.seq as u8];
            p.extend_from_slice(&self.ts.to_be_bytes());
            p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
            p.extend_from_slice(payload);
            self.seq = self.seq.wrapping_add(1);
            self.ts = self.ts.wrapping_add(codec.rtp_units(pcm.len()));
            let until = self.h.now + Duration::from_millis(20);
            self.h.e.handle_rtp(self.h.now, CallKey(1), remote, &p);
            self.h.drain();
            self.ends();
            self.run_until(until);
        }
    }

    /// Runs the engine's timers up to `until`, draining media at each.
    fn run_until(&mut self, until: Instant) {
        while let Some(t) = self.h.e.poll_timeout().filter(|t| *t <= until) {
            self.h.now = t;
            self.wire.now = Some(t);
            self.h.e.handle_timeout(t);
            self.h.drain();
            self.h.e.drain_media(t, &mut self.wire);
            self.h.drain();
            self.ends();
        }
        self.h.now = until;
    }

    /// The ends of speech the engine reported (outputs), in the taps' timeline.
    fn ends(&mut self) {
        let now = self.h.now;
        for o in &self.h.other {
            if let Output::AssistSpeechEnded { turn, .. } = o {
                self.wire.taps.push(Tap::Ended(*turn, now));
            }
        }
        self.h
            .other
            .retain(|o| !matches!(o, Output::AssistSpeechEnded { .. }));
    }

    fn phase(&self) -> Option<AssistPhase> {
        self.h.e.assist_phase(CallKey(1))
    }

    fn ms(&self, t: Instant) -> u128 {
        t.duration_since(self.h.base).as_millis()
    }

    fn command(&mut self, c: Command) {
        self.h.e.handle_command(self.h.now, c).unwrap();
        self.h.drain();
    }

    fn update(&mut self, turn: u64, u: AssistUpdate) {
        self.h.e.handle_assist(self.h.now, CallKey(1), turn, u);
        self.h.drain();
        self.h.e.drain_media(self.h.now, &mut self.wire);
        self.h.drain();
    }

    fn events(&mut self) -> Vec<(String, Option<String>)> {
        self.h
            .events
            .drain(..)
            .map(|e| {
                let detail = match &e.kind {
                    EventKind::AssistHeard(t) | EventKind::AssistAnswered(t) => Some(t.clone()),
                    EventKind::AssistEnded(r) => Some(r.clone()),
                    EventKind::DtmfDigit(d) => Some(d.to_string()),
                    _ => None,
                };
                (e.kind.name().to_owned(), detail)
            })
            .collect()
    }
}

fn ev(name: &str, detail: Option<&str>) -> (String, Option<String>) {
    (name.to_owned(), detail.map(str::to_owned))
}

#[test]
fn a_turn_starts_with_speech_sends_it_with_its_lead_in_and_ends_after_the_silence() {
    let mut c = Caller::new();
    let number = c.id();
    c.command(Command::Assist {
        number,
        settings: AssistSettings::default(),
    });
    assert!(
        c.h.other.iter().any(|o| matches!(
            o,
            Output::AssistStart {
                call: CallKey(1),
                rate: 8000,
                pipeline: None,
                ..
            }
        )),
        "{:?}",
        c.h.other
    );
    assert_eq!(c.events(), vec![ev("assist_started", None)]);
    // Half a second of silence: nothing goes anywhere.
    c.say(500, 0.0);
    assert!(c.wire.taps.is_empty(), "{:?}", c.wire.taps);
    // One second of "speech", then silence.
    let speech_at = c.h.now;
    c.say(1000, 8000.0);
    c.say(1000, 0.0);
    let started = c.wire.taps.iter().find_map(|t| match t {
        Tap::Started(turn, conv, at) => Some((*turn, conv.clone(), *at)),
        _ => None,
    });
    let (turn, conv, at) = started.expect("a turn started");
    assert_eq!((turn, conv), (1, None));
    // The onset, 60 ms of audio: found when the third packet arrives (handed over 40 ms
    // after the first: a packet is handed over as the 20 ms it carries begin), announced
    // with the next tick's frame.
    let lag = c.ms(at) - c.ms(speech_at);
    assert!(
        (40..=60).contains(&lag),
        "speech found {lag} ms after it began"
    );
    let ended = c.wire.taps.iter().find_map(|t| match t {
        Tap::Ended(turn, at) => Some((*turn, *at)),
        _ => None,
    });
    let (turn, at) = ended.expect("the turn's speech ended");
    assert_eq!(turn, 1);
    // 500 ms of quiet: the 25th quiet packet, handed over 480 ms after the first; found as
    // it arrives, not 40 ms later out of the playout buffer.
    let after_speech = c.ms(at) - c.ms(speech_at) - 1000;
    assert!(
        (480..=500).contains(&after_speech),
        "end of speech {after_speech} ms after the caller stopped"
    );
    // What was sent: the 300 ms of tapped audio before the announcement (the tap runs
    // 40 ms behind the arrivals), then every tapped frame until the end was found: about
    // 300 + 1000 + 480 - 40 ms.
    let samples: usize = c
        .wire
        .taps
        .iter()
        .map(|t| if let Tap::Audio(n) = t { *n } else { 0 })
        .sum();
    let ms = samples / 8;
    assert!((1700..=1760).contains(&ms), "{ms} ms of audio sent");
    assert_eq!(c.phase(), Some(AssistPhase::Thinking));
    // Nothing more is sent while the pipeline thinks.
    let taps = c.wire.taps.len();
    c.say(200, 0.0);
    assert_eq!(c.wire.taps.len(), taps);
}

#[test]
fn answers_become_events_the_reply_plays_and_the_caller_can_speak_over_it() {
    let mut c = Caller::new();
    let number = c.id();
    c.command(Command::Assist {
        number,
        settings: AssistSettings::default(),
    });
    c.say(200, 0.0);
    c.say(800, 8000.0);
    c.say(800, 0.0);
    c.events();
    c.update(1, AssistUpdate::Heard("turn on the light".into()));
    c.update(
        1,
        AssistUpdate::Answer {
            text: "Turned on the light".into(),
            conversation_id: Some("conv-1".into()),
        },
    );
    assert_eq!(
        c.events(),
        vec![
            ev("assist_heard", Some("turn on the light")),
            ev("assist_answered", Some("Turned on the light"))
        ]
    );
    // An answer for an old turn is dropped.
    c.update(7, AssistUpdate::Heard("stale".into()));
    assert!(c.events().is_empty());
    // The spoken answer: two seconds of a loud tone; it plays.
    let reply: Arc<[i16]> = (0..16_000u32)
        .map(|i| ((f64::from(i) * 0.3).sin() * 12_000.0) as i16)
        .collect();
    c.update(
        1,
        AssistUpdate::Reply(Ok(SpokenReply {
            samples: reply.clone(),
            rate: 8000,
        })),
    );
    c.wire.loud_packets = 0;
    c.say(400, 0.0);
    assert!(
        c.wire.loud_packets >= 19,
        "{} loud packets",
        c.wire.loud_packets
    );
    assert_eq!(c.phase(), Some(AssistPhase::Replying));
    // A short sound over the reply does not interrupt it.
    c.say(100, 8000.0);
    c.say(200, 0.0);
    assert_eq!(c.phase(), Some(AssistPhase::Replying));
    // Speech does: the reply stops and turn 2 starts, in the conversation of turn 1.
    c.say(400, 8000.0);
    assert_eq!(c.phase(), Some(AssistPhase::Speaking));
    assert!(
        c.wire.taps.contains(&Tap::Started(
            2,
            Some("conv-1".into()),
            c.wire
                .taps
                .iter()
                .find_map(|t| match t {
                    Tap::Started(2, _, at) => Some(*at),
                    _ => None,
                })
                .unwrap()
        )),
        "{:?}",
        c.wire.taps
    );
    c.wire.loud_packets = 0;
    c.say(200, 0.0);
    assert_eq!(
        c.wire.loud_packets, 0,
        "the reply went on after the barge-in"
    );
    // Turn 2's reply plays out to the end: back to waiting.
    c.say(600, 0.0);
    c.update(
        2,
        AssistUpdate::Reply(Ok(SpokenReply {
            samples: reply[..1600].into(),
            rate: 8000,
        })),
    );
    c.say(600, 0.0);
    assert_eq!(c.phase(), Some(AssistPhase::Waiting));
    // No playback_done for Assist's replies.
    assert!(c.events().iter().all(|(n, _)| n != "playback_done"));
    // A turn without an answer (nothing was recognised): Assist goes on, waiting.
    c.say(200, 0.0);
    c.say(600, 8000.0);
    c.say(700, 0.0);
    assert_eq!(c.phase(), Some(AssistPhase::Thinking));
    c.update(3, AssistUpdate::Reply(Err("stt-no-text-recognized".into())));
    assert_eq!(c.phase(), Some(AssistPhase::Waiting));
    assert!(c.events().iter().all(|(n, _)| n != "assist_ended"));
}

#[test]
fn a_leave_digit_ends_assist_and_reaches_the_menu_other_digits_do_not() {
    let mut c = Caller::new();
    let number = c.id();
    c.command(Command::Assist {
        number,
        settings: AssistSettings {
            leave_digits: "#0".into(),
            ..AssistSettings::default()
        },
    });
    c.events();
    let tag = c.tag.clone();
    c.h.recv(&info_digit(&tag, 2, '5'));
    assert!(c.events().is_empty(), "5 is not a leave digit");
    c.h.recv(&info_digit(&tag, 3, '#'));
    assert_eq!(
        c.events(),
        vec![
            ev("assist_ended", Some("digit")),
            ev("dtmf_digit", Some("#"))
        ]
    );
    assert!(
        c.h.other
            .iter()
            .any(|o| matches!(o, Output::AssistStop { call: CallKey(1) }))
    );
    assert_eq!(c.phase(), None);
}

#[test]
fn silence_ends_assist_and_so_do_a_failed_pipeline_and_the_end_of_the_call() {
    let mut c = Caller::new();
    let number = c.id();
    let settings = AssistSettings {
        silence_timeout: Duration::from_secs(3),
        ..AssistSettings::default()
    };
    c.command(Command::Assist {
        number: number.clone(),
        settings: settings.clone(),
    });
    c.events();
    c.say(2900, 0.0);
    assert!(c.events().is_empty());
    c.say(200, 0.0);
    assert_eq!(c.events(), vec![ev("assist_ended", Some("silence"))]);

    c.command(Command::Assist {
        number: number.clone(),
        settings: settings.clone(),
    });
    c.update(0, AssistUpdate::Failed("no pipeline".into()));
    assert_eq!(
        c.events(),
        vec![
            ev("assist_started", None),
            ev("assist_ended", Some("error"))
        ]
    );

    c.command(Command::Assist { number, settings });
    c.events();
    let tag = c.tag.clone();
    c.h.recv(&in_dialog("BYE", &tag, 9));
    assert_eq!(
        c.events(),
        vec![
            ev("assist_ended", Some("hangup")),
            ev("call_disconnected", None)
        ]
    );
}

#[test]
fn assist_needs_a_connected_call_and_stop_assist_a_running_one() {
    let mut h = H::new(vec![account(AnswerMode::Listen, 0)]);
    h.recv(&invite());
    let id = h.e.call_ids()[0].clone();
    let err =
        h.e.handle_command(
            h.now,
            Command::Assist {
                number: id.clone(),
                settings: AssistSettings::default(),
            },
        )
        .unwrap_err();
    assert!(err.0.contains("not connected"), "{err}");
    let err =
        h.e.handle_command(h.now, Command::StopAssist { number: id })
            .unwrap_err();
    assert!(err.0.contains("does not run assist"), "{err}");
}

/// A re-INVITE that changes the codec (PCMU to PCMA) gives the call a new media session;
/// Assist's detector keeps hearing the caller on it.
#[test]
fn a_codec_change_in_the_middle_of_assist_keeps_the_caller_heard() {
    let mut c = Caller::new();
    let number = c.id();
    c.command(Command::Assist {
        number,
        settings: AssistSettings::default(),
    });
    c.say(200, 0.0);
    c.switch_codec(hasip_media::Codec::Pcma, 5);
    c.say(200, 0.0);
    c.say(600, 8000.0);
    c.say(700, 0.0);
    assert!(
        c.wire
            .taps
            .iter()
            .any(|t| matches!(t, Tap::Started(1, _, _))),
        "{:?}",
        c.wire.taps
    );
    assert_eq!(c.phase(), Some(AssistPhase::Thinking));
}

/// A spoken answer decoded at the rate the call had (PCMU, 8 kHz) plays at its own speed
/// after a re-INVITE moved the call to G.722 (16 kHz) while Home Assistant was thinking:
/// the engine resamples it (played unchanged, one second of answer would last half a
/// second).
#[test]
fn an_answer_decoded_before_a_codec_change_plays_at_its_speed() {
    use hasip_media::Codec;
    use hasip_sip::sdp::Codec as Offered;
    let mut c = Caller::with_codecs(vec![Offered::Pcmu, Offered::Pcma, Offered::G722]);
    let number = c.id();
    c.command(Command::Assist {
        number,
        settings: AssistSettings::default(),
    });
    c.say(200, 0.0);
    c.say(600, 8000.0);
    c.say(700, 0.0);
    assert_eq!(c.phase(), Some(AssistPhase::Thinking));
    c.switch_codec(Codec::G722, 5);
    c.say(100, 0.0);
    let reply: Arc<[i16]> = (0..8000u32)
        .map(|i| ((f64::from(i) * 0.3).sin() * 12_000.0) as i16)
        .collect();
    c.update(
        1,
        AssistUpdate::Reply(Ok(SpokenReply {
            samples: reply,
            rate: 8000,
        })),
    );
    assert_eq!(c.phase(), Some(AssistPhase::Replying));
    c.say(800, 0.0);
    assert_eq!(
        c.phase(),
        Some(AssistPhase::Replying),
        "one second of answer is over after 0.8 s"
    );
    c.say(400, 0.0);
    assert_eq!(
        c.phase(),
        Some(AssistPhase::Waiting),
        "one second of answer still plays after 1.2 s"
    );
}
