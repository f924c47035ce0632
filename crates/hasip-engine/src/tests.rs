//! Engine behaviour at its boundary: bytes and commands in, transmits, requests and events
//! out, in virtual time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hasip_sip::message::{HeaderName, Message};
use hasip_sip::transport::{Peer, Transport};
use hasip_sip::ua::{AccountConfig, Credentials};

use std::sync::Arc;

use super::*;

mod assist;
mod pair;

#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

fn phone() -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: SocketAddr::from(([127, 0, 0, 1], 5070)),
        connection: None,
    }
}

fn account(mode: AnswerMode, settle_ms: u64) -> Account {
    Account {
        number: 1,
        sip: AccountConfig {
            id_uri: "sip:hasip@127.0.0.1".into(),
            registrar: None,
            proxy: None,
            credentials: Credentials::default(),
            expires: 300,
            keepalive: None,
            allow_calls_from: None,
            headers: Vec::new(),
            can_be_called: true,
            nat: hasip_sip::ua::NatRewrite::default(),
        },
        answer_mode: mode,
        settle_time: Duration::from_millis(settle_ms),
        answer_after: Duration::ZERO,
        incoming: None,
        extract_headers: Vec::new(),
        can_call: true,
        sdp_nat_rewrite: true,
    }
}

struct H {
    e: Engine,
    base: Instant,
    now: Instant,
    sent: Vec<Message>,
    events: Vec<Event>,
    other: Vec<Output>,
}

impl H {
    fn new(accounts: Vec<Account>) -> Self {
        Self::with_config(Config {
            accounts,
            ..Config::default()
        })
    }

    fn with_config(cfg: Config) -> Self {
        let base = t0();
        let mut h = Self {
            e: Engine::new(cfg, 3),
            base,
            now: base,
            sent: Vec::new(),
            events: Vec::new(),
            other: Vec::new(),
        };
        h.e.start(base);
        h.drain();
        h
    }

    fn drain(&mut self) {
        while let Some(o) = self.e.poll_output() {
            match o {
                Output::Transmit(t) => self.sent.push(Message::parse(t.payload).unwrap()),
                Output::Event(ev) => self.events.push(ev),
                Output::BindRtp { call } => {
                    // The shell binds at once; so does the test.
                    self.e.handle_rtp_bound(
                        self.now,
                        call,
                        Ok(SocketAddr::from(([127, 0, 0, 1], 40_000))),
                    );
                    self.other.push(Output::BindRtp { call });
                }
                o => self.other.push(o),
            }
        }
    }

    fn recv(&mut self, text: &str) {
        self.e
            .handle_sip(self.now, phone(), Bytes::from(text.replace('\n', "\r\n")));
        self.drain();
    }

    fn at(&mut self, ms: u64) {
        self.now = self.base + Duration::from_millis(ms);
        self.e.handle_timeout(self.now);
        self.drain();
    }

    fn lines(&mut self) -> Vec<String> {
        self.sent
            .drain(..)
            .map(|m| match m.method() {
                Some(meth) => meth.to_string(),
                None => format!("{}", m.status().unwrap_or(0)),
            })
            .collect()
    }

    fn names(&mut self) -> Vec<&'static str> {
        self.events.drain(..).map(|e| e.kind.name()).collect()
    }
}

const SDP: &str = "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 16000 RTP/AVP 0 101\na=rtpmap:0 PCMU/8000\na=rtpmap:101 telephone-event/8000\n";

fn invite() -> String {
    let body = SDP.replace('\n', "\r\n");
    format!(
        "INVITE sip:hasip@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKe1;rport
From: \"Door\" <sip:door@127.0.0.1:5070>;tag=d1
To: <sip:hasip@127.0.0.1:5060>
Call-ID: e-1@127.0.0.1
CSeq: 1 INVITE
Contact: <sip:door@127.0.0.1:5070>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: {}

{}",
        body.len(),
        SDP
    )
}

fn in_dialog(method: &str, to_tag: &str, cseq: u32) -> String {
    format!(
        "{method} sip:hasip@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKe{cseq};rport
From: \"Door\" <sip:door@127.0.0.1:5070>;tag=d1
To: <sip:hasip@127.0.0.1:5060>;tag={to_tag}
Call-ID: e-1@127.0.0.1
CSeq: {cseq} {method}
Max-Forwards: 70
Content-Length: 0

"
    )
}

#[test]
fn options_is_answered_with_the_full_allow_list() {
    let mut h = H::new(vec![]);
    h.recv(&in_dialog("OPTIONS", "x", 1).replace(";tag=x", ""));
    let ok = h.sent.pop().unwrap();
    assert_eq!(ok.status(), Some(200));
    let allow: Vec<_> = ok.tokens(HeaderName::Allow).collect();
    for m in ["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO"] {
        assert!(allow.contains(&m), "{m} missing from {allow:?}");
    }
}

#[test]
fn accept_mode_answers_at_once_and_reports_in_ha_sip_order() {
    let mut h = H::new(vec![account(AnswerMode::Accept, 1000)]);
    h.recv(&invite());
    let ok = h.sent.pop().unwrap();
    assert_eq!(h.lines(), vec!["180"]);
    assert_eq!(
        ok.status(),
        Some(200),
        "ringing, then answered without delay"
    );
    assert_eq!(h.names(), vec!["incoming_call"]);
    // A retransmitted INVITE is absorbed (RFC 6026): the 2xx is resent on its own timer.
    h.recv(&invite());
    assert!(h.sent.is_empty());
    let answer = String::from_utf8_lossy(ok.body()).into_owned();
    assert!(answer.contains("m=audio 40000 RTP/AVP 0 101"), "{answer}");
    assert!(h.other.iter().any(|o| matches!(o, Output::MediaStart { negotiated, .. } if negotiated.remote == Some("127.0.0.1:16000".parse().unwrap()))));
    let tag = ok.to().unwrap().unwrap().tag().unwrap().to_owned();
    h.recv(&in_dialog("ACK", &tag, 1));
    assert!(
        h.names().is_empty(),
        "established only after the settle time"
    );
    h.at(999);
    assert!(h.names().is_empty());
    h.at(1000);
    let ev: Vec<Event> = h.events.drain(..).collect();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].kind, EventKind::CallEstablished);
    assert_eq!(ev[0].call.caller, "\"Door\" <sip:door@127.0.0.1:5070>");
    assert_eq!(ev[0].call.parsed_caller.as_deref(), Some("door"));
    assert_eq!(ev[0].call.internal_id, "\"Door\" <sip:door@127.0.0.1:5070>");
    assert_eq!(ev[0].call.call_id.as_deref(), Some("e-1@127.0.0.1"));
    assert_eq!(ev[0].call.sip_account, 1);
    h.recv(
        &in_dialog("INFO", &tag, 2)
            .replace(
                "Content-Length: 0\n",
                "Content-Type: application/dtmf-relay\nContent-Length: 10\n\nSignal=5\r\n",
            )
            .replace("\n\n\n", "\n"),
    );
    assert_eq!(
        h.events.drain(..).map(|e| e.kind).collect::<Vec<_>>(),
        vec![EventKind::DtmfDigit('5')]
    );
    h.sent.clear();
    h.recv(&in_dialog("BYE", &tag, 3));
    assert_eq!(h.lines(), vec!["200"]);
    assert_eq!(h.names(), vec!["call_disconnected"]);
    assert!(
        h.other
            .iter()
            .any(|o| matches!(o, Output::ReleaseRtp { .. }))
    );
    assert_eq!(h.e.call_count(), 0);
}

#[test]
fn listen_mode_rings_until_answer_command_by_any_id() {
    let mut h = H::new(vec![account(AnswerMode::Listen, 0)]);
    h.recv(&invite());
    assert_eq!(h.lines(), vec!["180"]);
    assert_eq!(h.names(), vec!["incoming_call"]);
    h.at(10_000);
    assert!(h.sent.is_empty(), "listen mode never answers by itself");
    // The parsed number and the SIP Call-ID are aliases of the call.
    assert!(
        h.e.handle_command(
            h.now,
            Command::Hangup {
                number: "nobody".into()
            }
        )
        .is_err()
    );
    h.e.handle_command(
        h.now,
        Command::Answer {
            number: "door".into(),
            webhook_to_call: None,
            menu: None,
        },
    )
    .unwrap();
    h.drain();
    assert_eq!(h.lines(), vec!["200"]);
}

/// The usual door opener: `answer`, then at once `send_dtmf` (ha-sip sends as soon as the
/// call is confirmed; the settle time only delays `call_established` and the menu).
#[test]
fn commands_act_on_a_call_from_its_confirmation_not_after_the_settle_time() {
    let mut h = H::new(vec![account(AnswerMode::Listen, 1000)]);
    h.recv(&invite());
    h.lines();
    h.names();
    let dtmf = |digits: &str, method| Command::SendDtmf {
        number: "door".into(),
        digits: digits.into(),
        method,
        tone: None,
        gap: None,
    };
    let before = h.e.handle_command(h.now, dtmf("1", DtmfMethod::SipInfo));
    assert!(before.is_err(), "a ringing call cannot send DTMF yet");
    h.e.handle_command(
        h.now,
        Command::Answer {
            number: "door".into(),
            webhook_to_call: None,
            menu: None,
        },
    )
    .unwrap();
    h.drain();
    let ok = h.sent.pop().unwrap();
    assert_eq!(ok.status(), Some(200));
    // Before the ACK arrives: the digit goes out all the same (the 200 OK was sent), and
    // a second answer is no error.
    h.e.handle_command(h.now, dtmf("4", DtmfMethod::SipInfo))
        .unwrap();
    h.e.handle_command(
        h.now,
        Command::Answer {
            number: "door".into(),
            webhook_to_call: None,
            menu: None,
        },
    )
    .unwrap();
    h.drain();
    let info = h.sent.pop().expect("INFO sent before the ACK");
    assert!(String::from_utf8_lossy(info.body()).contains("Signal=4"));
    assert!(h.sent.is_empty(), "no second 200 OK: {:?}", h.sent);
    let tag = ok.to().unwrap().unwrap().tag().unwrap().to_owned();
    h.recv(&in_dialog("ACK", &tag, 1));
    h.at(10);
    assert!(
        h.names().is_empty(),
        "still settling: no call_established yet"
    );
    // A second answer while settling is no error (the call is answered).
    h.e.handle_command(
        h.now,
        Command::Answer {
            number: "door".into(),
            webhook_to_call: None,
            menu: None,
        },
    )
    .unwrap();
    h.e.handle_command(h.now, dtmf("5", DtmfMethod::SipInfo))
        .unwrap();
    h.drain();
    let info = h.sent.pop().expect("INFO sent while settling");
    assert_eq!(
        info.method().map(|m| m.to_string()).as_deref(),
        Some("INFO")
    );
    assert!(String::from_utf8_lossy(info.body()).contains("Signal=5"));
    h.e.handle_command(h.now, dtmf("9", DtmfMethod::Rfc2833))
        .unwrap();
    let mut wire = Wire::default();
    h.e.drain_media(h.now, &mut wire);
    for _ in 0..5 {
        let t = h.e.poll_timeout().expect("media ticks");
        h.now = t;
        h.e.handle_timeout(t);
        h.drain();
        h.e.drain_media(t, &mut wire);
    }
    assert!(
        wire.sent
            .iter()
            .any(|(_, _, p)| p[1] & 0x7f == 101 && p[12] == 9),
        "an RFC 4733 event for 9 left while settling"
    );
    h.e.handle_command(
        h.now,
        Command::Transfer {
            number: "door".into(),
            transfer_to: "sip:reception@127.0.0.1".into(),
        },
    )
    .unwrap();
    h.drain();
    assert_eq!(h.lines(), vec!["REFER"]);
    assert!(h.now < h.base + Duration::from_millis(1000));
    assert!(h.names().is_empty());
    h.at(1010);
    assert_eq!(h.names(), vec!["call_established"]);
}

#[test]
fn listen_mode_ring_timeout_declines_after_300s() {
    let mut h = H::new(vec![account(AnswerMode::Listen, 0)]);
    h.recv(&invite());
    h.lines();
    h.names();
    h.at(299_999);
    assert!(h.names().is_empty());
    h.at(300_000);
    assert_eq!(h.names(), vec!["ring_timeout", "call_disconnected"]);
    assert_eq!(h.lines(), vec!["603"]);
}

#[test]
fn caller_cancel_in_listen_mode_reports_disconnected() {
    let mut h = H::new(vec![account(AnswerMode::Listen, 0)]);
    h.recv(&invite());
    h.lines();
    h.names();
    let cancel = invite()
        .replace("INVITE sip:", "CANCEL sip:")
        .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL");
    let cancel = cancel.split("Content-Type").next().unwrap().to_owned() + "Content-Length: 0\n\n";
    h.recv(&cancel);
    assert_eq!(h.lines(), vec!["200", "487"]);
    assert_eq!(h.names(), vec!["call_disconnected"]);
}

fn answer_to(req: &Message, code: u16, to_tag: &str, body: &str) -> String {
    let body = body.replace('\n', "\r\n");
    let ct = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\n".into()
    };
    format!(
        "SIP/2.0 {code} X\nVia: {}\nFrom: {}\nTo: {};tag={to_tag}\nCall-ID: {}\nCSeq: {}\nContact: <sip:bob@127.0.0.1:5070>\n{ct}Content-Length: {}\n\n{body}",
        req.header(HeaderName::Via).unwrap(),
        req.header(HeaderName::From).unwrap(),
        req.header(HeaderName::To).unwrap(),
        req.call_id().unwrap(),
        req.header(HeaderName::CSeq).unwrap(),
        body.len()
    )
}

/// `dial` to bob at 127.0.0.1:5070, with a ring timeout in seconds and one per-call webhook.
fn dial_bob(ring_timeout: Option<u64>, webhook: Option<(&str, &str)>) -> Command {
    Command::Dial {
        number: "sip:bob@127.0.0.1:5070".into(),
        ring_timeout: ring_timeout.map(Duration::from_secs),
        sip_account: None,
        webhook_to_call: webhook
            .map(|(event, id)| BTreeMap::from([(event.to_owned(), id.to_owned())]))
            .unwrap_or_default(),
        menu: None,
    }
}

#[test]
fn dial_offers_sdp_and_reports_established_after_settle() {
    let mut h = H::new(vec![account(AnswerMode::Listen, 500)]);
    h.e.handle_command(
        h.now,
        dial_bob(Some(20), Some(("call_established", "per_call_hook"))),
    )
    .unwrap();
    h.drain();
    let inv = h.sent.pop().unwrap();
    assert_eq!(
        inv.method().map(|m| m.to_string()).as_deref(),
        Some("INVITE")
    );
    let offer = String::from_utf8_lossy(inv.body()).into_owned();
    assert!(offer.contains("m=audio 40000 RTP/AVP 0 8 101"), "{offer}");
    assert_eq!(h.names(), vec!["outgoing_call_initiated"]);
    // A second dial to the same number is refused, as in ha-sip.
    let dup = h.e.handle_command(h.now, dial_bob(None, None));
    assert!(dup.unwrap_err().0.contains("already in progress"));
    h.recv(&answer_to(&inv, 200, "b1", SDP));
    assert_eq!(h.lines(), vec!["ACK"]);
    h.at(500);
    let ev: Vec<Event> = h.events.drain(..).collect();
    assert_eq!(
        ev.iter().map(|e| e.kind.name()).collect::<Vec<_>>(),
        vec!["call_established"]
    );
    assert_eq!(ev[0].call.internal_id, "sip:bob@127.0.0.1:5070");
    assert_eq!(ev[0].call.caller, "<sip:bob@127.0.0.1:5070>");
    assert_eq!(ev[0].call_webhook.as_deref(), Some("per_call_hook"));
    h.e.handle_command(
        h.now,
        Command::Hangup {
            number: "bob".into(),
        },
    )
    .unwrap();
    h.drain();
    assert_eq!(h.lines(), vec!["BYE"]);
    assert_eq!(h.names(), vec!["call_disconnected"]);
}

#[test]
fn unanswered_dial_gets_ring_timeout_and_cancel() {
    let mut h = H::new(vec![account(AnswerMode::Listen, 0)]);
    h.e.handle_command(h.now, dial_bob(Some(5), None)).unwrap();
    h.drain();
    let inv = h.sent.pop().unwrap();
    h.names();
    h.recv(&answer_to(&inv, 180, "b1", ""));
    h.at(4_999);
    assert!(h.names().is_empty());
    h.at(5_000);
    assert_eq!(h.names(), vec!["ring_timeout"]);
    assert!(h.lines().contains(&"CANCEL".to_owned()));
    h.recv(&answer_to(&inv, 487, "b1", ""));
    assert_eq!(h.names(), vec!["call_disconnected"]);
}

#[test]
fn dial_rejects_a_number_that_is_not_a_sip_uri() {
    let mut h = H::new(vec![account(AnswerMode::Listen, 0)]);
    let e = h.e.handle_command(
        h.now,
        Command::Dial {
            number: "0123".into(),
            ring_timeout: None,
            sip_account: None,
            webhook_to_call: BTreeMap::new(),
            menu: None,
        },
    );
    assert!(
        e.unwrap_err()
            .0
            .starts_with("number: \"0123\" is not a SIP URI")
    );
    assert_eq!(h.e.call_count(), 0);
}

#[test]
fn garbage_is_dropped_and_logged_with_a_rate_limit() {
    let mut h = H::new(vec![]);
    for i in 0..5 {
        h.e.handle_sip(
            h.base + Duration::from_millis(i),
            phone(),
            Bytes::from_static(b"junk"),
        );
    }
    h.drain();
    assert!(h.sent.is_empty());
    assert_eq!(h.e.drops.suppressed(phone().addr.ip()), Some(4));
}

#[test]
fn same_seed_same_bytes() {
    let run = || {
        let mut h = H::new(vec![account(AnswerMode::Accept, 0)]);
        h.recv(&invite());
        h.sent.iter().map(|m| format!("{m:?}")).collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

const PIN_FILE: &str = "
allowed_numbers:
  - 'door'
menu:
  message: Please enter your access code
  choices_are_pin: true
  timeout: 10
  choices:
    '1234':
      id: owner
      message: Welcome beautiful.
      post_action: hangup
    default:
      id: wrong_code
      message: Wrong code, please try again
      post_action: return
";

fn info_digit(tag: &str, cseq: u32, d: char) -> String {
    in_dialog("INFO", tag, cseq).replace(
        "Content-Length: 0\n\n",
        &format!("Content-Type: application/dtmf-relay\nContent-Length: 10\n\nSignal={d}\r\n"),
    )
}

/// Answers every FetchAudio with a 20 ms clip (or an error) and returns the requests.
fn audio_requests(h: &mut H, ok: bool) -> Vec<AudioSource> {
    let reqs: Vec<(CallKey, u64, AudioSource)> = h
        .other
        .drain(..)
        .filter_map(|o| match o {
            Output::FetchAudio {
                call,
                playback,
                source,
                ..
            } => Some((call, playback, source)),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    for (call, playback, source) in reqs {
        let r = if ok {
            Ok(Audio {
                samples: vec![0i16; 160].into(),
                spoken: None,
            })
        } else {
            Err("no TTS in this test".to_owned())
        };
        h.e.handle_audio(h.now, call, playback, r);
        out.push(source);
    }
    h.drain();
    out
}

#[test]
fn incoming_call_file_pin_menu_runs_on_sip_info_digits() {
    let file = hasip_menu::IncomingCallFile::from_yaml(PIN_FILE, Some("incoming.yaml")).unwrap();
    let mut acct = account(AnswerMode::Accept, 0);
    acct.incoming = Some(Arc::new(file));
    let mut h = H::new(vec![acct]);
    h.recv(&invite());
    let ok = h.sent.pop().unwrap();
    let tag = ok.to().unwrap().unwrap().tag().unwrap().to_owned();
    h.sent.clear();
    h.recv(&in_dialog("ACK", &tag, 1));
    h.at(0);
    assert_eq!(h.names(), vec!["incoming_call", "call_established"]);
    let asked = audio_requests(&mut h, false);
    assert!(
        matches!(&asked[..], [AudioSource::Tts { message, language, .. }] if message == "Please enter your access code" && language == "en"),
        "{asked:?}"
    );
    for (i, d) in "1234".chars().enumerate() {
        h.recv(&info_digit(&tag, 2 + i as u32, d));
    }
    let names = h.names();
    assert_eq!(
        names,
        vec![
            "dtmf_digit",
            "dtmf_digit",
            "dtmf_digit",
            "dtmf_digit",
            "entered_menu"
        ],
        "{names:?}"
    );
    let asked = audio_requests(&mut h, false);
    assert!(
        matches!(&asked[..], [AudioSource::Tts { message, .. }] if message == "Welcome beautiful."),
        "{asked:?}"
    );
    // The failed prompt is replaced by the error tone (1.19 s); post_action hangup runs
    // once it is over: playback_done as for a played prompt, then BYE.
    let mut bye_at = None;
    for ms in (20..=1600).step_by(20) {
        h.at(ms);
        if bye_at.is_none() && h.lines().contains(&"BYE".to_owned()) {
            bye_at = Some(ms);
            break;
        }
    }
    let bye_at = bye_at.expect("BYE after the error tone");
    assert!((1180..=1260).contains(&bye_at), "BYE at {bye_at} ms");
    assert_eq!(h.names(), vec!["playback_done", "call_disconnected"]);
}

#[test]
fn blocked_by_allowed_numbers_rings_in_listen_mode() {
    let file =
        hasip_menu::IncomingCallFile::from_yaml(&PIN_FILE.replace("'door'", "'5551234'"), None)
            .unwrap();
    let mut acct = account(AnswerMode::Accept, 0);
    acct.incoming = Some(Arc::new(file));
    let mut h = H::new(vec![acct]);
    h.recv(&invite());
    assert_eq!(
        h.lines(),
        vec!["180"],
        "a caller not on the allowed list is not answered"
    );
}

#[test]
fn call_service_merges_entity_and_service_data() {
    let mut h = H::new(vec![]);
    let mut data = serde_json::Map::new();
    data.insert("brightness".into(), 200.into());
    h.e.handle_command(
        h.now,
        Command::CallService {
            domain: "light".into(),
            service: "turn_on".into(),
            entity_id: Some("light.hall".into()),
            service_data: data,
        },
    )
    .unwrap();
    h.drain();
    let body = h.other.iter().find_map(|o| match o {
        Output::CallService {
            domain,
            service,
            body,
        } if domain == "light" && service == "turn_on" => Some(body.clone()),
        _ => None,
    });
    assert_eq!(
        body,
        Some(serde_json::json!({"entity_id": "light.hall", "brightness": 200}))
    );
}

/// Records what the engine's media hands out.
#[derive(Default)]
struct Wire {
    sent: Vec<(CallKey, SocketAddr, Vec<u8>)>,
}

impl MediaIo for Wire {
    fn send(&mut self, call: CallKey, to: SocketAddr, payload: &[u8]) {
        self.sent.push((call, to, payload.to_vec()));
    }
    fn record(&mut self, _: CallKey, _: &[i16], _: &[i16], _: u32) {}
}

fn rtp_event(seq: u16, ts: u32, code: u8, end: bool, duration: u16) -> Vec<u8> {
    let mut p = vec![0x80, 101, (seq >> 8) as u8, seq as u8];
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    p.extend_from_slice(&[code, if end { 0x80 | 10 } else { 10 }]);
    p.extend_from_slice(&duration.to_be_bytes());
    p
}

#[test]
fn media_ticks_on_a_drift_free_grid_and_rfc4733_digits_reach_the_menu() {
    let mut h = H::new(vec![account(AnswerMode::Accept, 0)]);
    h.recv(&invite());
    let ok = h.sent.pop().unwrap();
    let tag = ok.to().unwrap().unwrap().tag().unwrap().to_owned();
    h.recv(&in_dialog("ACK", &tag, 1));
    h.at(0);
    assert_eq!(h.names(), vec!["incoming_call", "call_established"]);
    let call = CallKey(1);
    let remote = SocketAddr::from(([127, 0, 0, 1], 16000));
    // Ticks come from poll_timeout, 20 ms apart on the grid; each sends one packet.
    let mut wire = Wire::default();
    let mut ticks = Vec::new();
    for _ in 0..10 {
        let t = h.e.poll_timeout().expect("a tick is due while media runs");
        ticks.push(t.duration_since(h.base).as_millis());
        h.now = t;
        h.e.handle_timeout(t);
        h.drain();
        h.e.drain_media(t, &mut wire);
    }
    // Tick 0 ran with the ACK's timers at 0 ms.
    assert_eq!(ticks, (1..=10).map(|k| k * 20).collect::<Vec<_>>());
    let rtp: Vec<_> = wire
        .sent
        .iter()
        .filter(|(_, _, p)| p[1] & 0x7f == 0)
        .collect();
    assert_eq!(rtp.len(), 11);
    assert!(
        rtp.iter()
            .all(|(c, to, p)| *c == call && *to == remote && p.len() == 172)
    );
    // A digit as RFC 4733: start, update, three end packets with one timestamp.
    let from = remote;
    for (i, (end, dur)) in [
        (false, 160),
        (false, 320),
        (true, 800),
        (true, 800),
        (true, 800),
    ]
    .into_iter()
    .enumerate()
    {
        let seq = 100 + u16::try_from(i.min(2)).unwrap();
        h.e.handle_rtp(h.now, call, from, &rtp_event(seq, 8000, 5, end, dur));
        h.drain();
    }
    let ev: Vec<Event> = h.events.drain(..).collect();
    assert_eq!(ev.len(), 1, "one digit, once: {ev:?}");
    assert_eq!(ev[0].kind, EventKind::DtmfDigit('5'));
    // The caller hangs up: the session ends, its RTCP BYE leaves, no more ticks.
    h.recv(&in_dialog("BYE", &tag, 2));
    assert_eq!(h.names(), vec!["call_disconnected"]);
    wire.sent.clear();
    h.e.drain_media(h.now, &mut wire);
    let has_bye = |p: &[u8]| {
        let mut off = 0;
        while off + 4 <= p.len() {
            if p[off + 1] == 203 {
                return true;
            }
            off += (usize::from(u16::from_be_bytes([p[off + 2], p[off + 3]])) + 1) * 4;
        }
        false
    };
    assert!(
        wire.sent
            .iter()
            .any(|(_, to, p)| to.port() == 16001 && has_bye(p)),
        "RTCP BYE to the RTCP port: {:?}",
        wire.sent
    );
    let next = h.e.poll_timeout();
    assert!(
        next.is_none_or(|t| t > h.now + Duration::from_millis(20)),
        "no media tick after the last call: {next:?}"
    );
}

#[test]
fn start_recording_asks_for_the_commanded_channels_or_the_configured_default() {
    let mut h = H::new(vec![account(AnswerMode::Accept, 0)]);
    h.e.config.recording_channels = RecordingChannels::Mono;
    h.recv(&invite());
    h.other.clear();
    let mut asked = Vec::new();
    for (path, channels) in [
        ("/r/default.wav", None),
        ("/r/stereo.wav", Some(RecordingChannels::Stereo)),
    ] {
        h.e.handle_command(
            h.now,
            Command::StartRecording {
                number: "door".into(),
                recording_file: path.into(),
                channels,
            },
        )
        .unwrap();
        h.drain();
        for o in h.other.drain(..) {
            if let Output::StartRecording {
                call,
                path,
                channels,
                ..
            } = o
            {
                h.e.handle_recording_opened(h.now, call, Ok(()));
                assert!(h.e.media_stop_recording(call));
                asked.push((path, channels));
            }
        }
    }
    assert_eq!(
        asked,
        vec![
            ("/r/default.wav".to_owned(), RecordingChannels::Mono),
            ("/r/stereo.wav".to_owned(), RecordingChannels::Stereo)
        ]
    );
}

#[test]
fn calls_send_in_phases_spread_over_the_tick_each_on_a_steady_20_ms_grid() {
    let mut h = H::new(vec![account(AnswerMode::Accept, 0)]);
    // Eight callers: each its own Call-ID, tag and RTP port.
    for n in 1..=8u16 {
        let invite = invite()
            .replace("e-1@127.0.0.1", &format!("e-{n}@127.0.0.1"))
            .replace("tag=d1", &format!("tag=d{n}"))
            .replace("branch=z9hG4bKe1", &format!("branch=z9hG4bKe1n{n}"))
            .replace("m=audio 16000", &format!("m=audio {}", 16000 + 2 * n));
        h.recv(&invite);
    }
    let mut wire = Wire::default();
    let mut sends: std::collections::BTreeMap<u16, Vec<u128>> = Default::default();
    for i in 0..40 {
        let t = h.e.poll_timeout().expect("a media tick is due");
        // Woken up 4 ms late now and then: no packet moves to another tick.
        h.now = t + Duration::from_millis(if i % 3 == 0 { 4 } else { 0 });
        h.e.handle_timeout(h.now);
        h.drain();
        wire.sent.clear();
        h.e.drain_media(h.now, &mut wire);
        for (_, to, p) in &wire.sent {
            if p[1] & 0x7f == 0 {
                sends
                    .entry(to.port())
                    .or_default()
                    .push(t.duration_since(h.base).as_micros());
            }
        }
    }
    assert_eq!(sends.len(), 8, "every call sends: {sends:?}");
    let mut offsets = std::collections::BTreeMap::<u128, usize>::new();
    for (port, times) in &sends {
        for w in times.windows(2).skip(1) {
            assert_eq!(w[1] - w[0], 20_000, "call on port {port}: {times:?}");
        }
        *offsets.entry(times[2] % 20_000).or_default() += 1;
    }
    // Four phases 5 ms apart, two calls each.
    assert_eq!(
        offsets.into_iter().collect::<Vec<_>>(),
        vec![(0, 2), (5_000, 2), (10_000, 2), (15_000, 2)],
        "{sends:?}"
    );
}

#[test]
fn a_dial_answered_just_before_its_ring_timeout_is_not_ended_by_it_during_settle() {
    let mut h = H::new(vec![account(AnswerMode::Listen, 1_000)]);
    h.e.handle_command(h.now, dial_bob(Some(5), None)).unwrap();
    h.drain();
    let inv = h.sent.pop().unwrap();
    h.names();
    h.recv(&answer_to(&inv, 180, "b1", ""));
    h.at(4_500);
    h.recv(&answer_to(&inv, 200, "b1", SDP));
    assert_eq!(h.lines(), vec!["ACK"]);
    // The ring timeout (5 s) falls inside the settle time (4.5 s + 1 s): it is over.
    h.at(5_200);
    assert!(h.names().is_empty());
    assert!(h.lines().is_empty(), "nothing sent: no BYE");
    h.at(5_500);
    assert_eq!(h.names(), vec!["call_established"]);
}

#[test]
fn a_refused_answer_changes_nothing() {
    let mut h = H::new(vec![account(AnswerMode::Listen, 0)]);
    h.e.handle_command(h.now, dial_bob(None, Some(("call_disconnected", "mine"))))
        .unwrap();
    h.drain();
    let inv = h.sent.pop().unwrap();
    h.names();
    h.recv(&answer_to(&inv, 180, "b1", ""));
    // An outgoing call that is still ringing cannot be answered: refused as a whole.
    let err =
        h.e.handle_command(
            h.now,
            Command::Answer {
                number: "bob".into(),
                webhook_to_call: Some(BTreeMap::from([(
                    "call_disconnected".into(),
                    "theirs".into(),
                )])),
                menu: None,
            },
        )
        .unwrap_err();
    assert!(
        err.0.contains("not an incoming call that is ringing"),
        "{err:?}"
    );
    h.recv(&answer_to(&inv, 486, "b1", ""));
    let ev: Vec<Event> = h.events.drain(..).collect();
    let gone = ev
        .iter()
        .find(|e| e.kind.name() == "call_disconnected")
        .expect("call_disconnected");
    assert_eq!(gone.call_webhook.as_deref(), Some("mine"));
}
