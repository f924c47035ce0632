//! Issue 20, Assist over any call, against the real Home Assistant (its Assist pipeline
//! with the offline test speech-to-text, the default conversation agent and the espeak
//! test TTS): a phone calls the gateway, enters a PIN, and talks to Assist, over PCMU,
//! G.722 and Opus in turn. Home Assistant switches the test entity, the phone hears the
//! spoken answer, a second turn in the same call works, `#` leaves, and a wrong PIN never
//! reaches Assist. And a caller who speaks over the answer cuts it short and is heard.

use std::path::Path;
use std::time::Duration;

use hasip_tests::audio;
use hasip_tests::baresip::{Baresip, BaresipOptions};
use hasip_tests::gateway::Gateway;
use hasip_tests::ha::{HaOptions, HomeAssistant};
use hasip_tests::workdir::WorkDir;
use hasip_tests::{have, wait_for};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);
/// The offline WAV engine of the test Home Assistant (the pipeline's TTS too).
const ENGINE: &str = "sip_test_tts";
/// The test speech-to-text hears this, whatever it is sent.
const SAID: &str = "turn on SIP test switch";
const SWITCH: &str = "switch.sip_test_switch";

/// A PIN in front of Assist: the right one starts it, `#` leaves it (and hangs up).
const MENU: &str = "\
menu:
  id: main
  message: Please enter your code
  choices_are_pin: true
  timeout: 60
  choices:
    '1234':
      id: assistant
      action:
        command: assist
        number: self
        leave_digits: '#'
      choices:
        '#':
          id: goodbye
          post_action: hangup
    default:
      id: wrong
      message: Wrong code
      post_action: hangup
";

fn require(programs: &[&str]) {
    for p in programs {
        assert!(have(p), "{p} is needed: run ./build.sh test");
    }
}

/// Home Assistant's TTS audio for `message` in the pipeline's voice, at 8 kHz mono.
fn spoken(dir: &WorkDir, ha: &HomeAssistant, message: &str, name: &str) -> Vec<i16> {
    let raw = ha.tts_audio(ENGINE, message, "en", &json!({"voice": "espeak"}));
    let src = dir.file(&format!("{name}.wav"));
    std::fs::write(&src, raw).unwrap_or_else(|e| panic!("write {}: {e}", src.display()));
    audio::as_8k_mono(&src, &dir.file(&format!("{name}-8k.wav")))
}

/// What the caller says: `lead` seconds of silence (the PIN is keyed meanwhile), the
/// words, `pause` seconds of silence (the answer plays), the words again.
fn utterance(dir: &WorkDir, words: &Path, lead: f64, pause: f64) -> std::path::PathBuf {
    let out = dir.file("utterance.wav");
    let w = words.to_string_lossy();
    audio::sox(&[
        &w,
        &w,
        out.to_str().unwrap_or_default(),
        "pad",
        &format!("{lead}"),
        // Positions are in the input: after the first copy of the words.
        &format!("{pause}@{}", words_seconds(words)),
    ]);
    out
}

fn words_seconds(words: &Path) -> f64 {
    let w = audio::read_wav(words);
    let n = w.channels.first().map_or(0, Vec::len);
    n as f64 / f64::from(w.rate)
}

fn events_of(gw: &Gateway, call: &str, name: &str) -> Vec<Value> {
    gw.events()
        .into_iter()
        .filter(|e| e["event"] == name && e["internal_id"] == call)
        .collect()
}

fn wait_events(gw: &Gateway, call: &str, name: &str, n: usize, within: Duration) -> Vec<Value> {
    wait_for(within, Duration::from_millis(50), || {
        let got = events_of(gw, call, name);
        (got.len() >= n).then_some(got)
    })
    .unwrap_or_else(|| {
        panic!(
            "{n} × {name} for {call}: {:?}\n{}",
            events_of(gw, call, name),
            gw.log_text()
        )
    })
}

/// The phone's recording of what it received, at 8 kHz, once the call has closed.
fn received(dir: &WorkDir, phone: &Baresip, name: &str) -> Vec<i16> {
    let (dec, _) = wait_for(WAIT, Duration::from_millis(50), || phone.recordings())
        .expect("the phone recorded the call");
    audio::as_8k_mono(&dec, &dir.file(&format!("{name}-heard-8k.wav")))
}

/// Home Assistant with its Assist pipeline, and the gateway with `menu` as the incoming-call
/// file of a direct account in accept mode.
fn gateway_with_assist(dir: &WorkDir, menu: &str) -> (HomeAssistant, Gateway) {
    let ha = HomeAssistant::start_with(
        dir,
        &HaOptions {
            voip_port: Some(hasip_tests::ports::free_port()),
            ..HaOptions::default()
        },
    );
    let file = dir.file("incoming.yaml");
    std::fs::write(&file, menu).unwrap_or_else(|e| panic!("write the menu: {e}"));
    let options = json!({
        "sip_global": {"log_level": 3},
        "sip": {"enabled": true, "registrar_uri": "", "id_uri": "sip:hasip@127.0.0.1",
                "answer_mode": "accept", "settle_time": 0,
                "incoming_call_file": file.to_string_lossy()},
        "tts": {"engine_id": ENGINE, "language": "en"},
        "webhook": {"id": "sip_call_webhook_id"}
    });
    let gw = Gateway::start_env(
        dir,
        Some(&options),
        &[],
        &[("HA_BASE_URL", &ha.base_url), ("HA_TOKEN", &ha.token)],
    );
    (ha, gw)
}

/// `door` calls the gateway and is answered; returns the call's id.
fn call_gateway(door: &Baresip, gw: &Gateway, n: usize) -> String {
    let r = door
        .command("dial", &format!("sip:hasip@{}", gw.sip))
        .expect("dial");
    assert_eq!(r["ok"], true, "{r}");
    door.wait_event("CALL_ESTABLISHED", WAIT)
        .expect("the gateway answers");
    gw.wait_event_n("call_established", n, WAIT)
        .expect("call_established")["internal_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_caller_talks_to_assist_after_a_pin_over_pcmu_g722_and_opus() {
    require(&["baresip", "sox", "espeak-ng"]);
    let dir = WorkDir::new("assist-codecs");
    let (ha, gw) = gateway_with_assist(&dir, MENU);
    let words = spoken(&dir, &ha, SAID, "said");
    let words_file = dir.file("said-8k.wav");
    let source = utterance(&dir, &words_file, 4.0, 9.0);
    let said = audio::trim(&words, 8000, 0.01, 0.02).to_vec();

    for (n, codec) in ["pcmu", "g722", "opus"].into_iter().enumerate() {
        ha.post("services/switch/turn_off", &json!({"entity_id": SWITCH}))
            .expect("switch off");
        wait_for(WAIT, Duration::from_millis(50), || {
            (ha.state(SWITCH).as_deref() == Some("off")).then_some(())
        })
        .expect("the switch is off");
        let mut o = BaresipOptions::direct(&format!("door{n}"));
        o.codecs = codec;
        o.source = Some(source.clone());
        let door = Baresip::start(&dir, &o);
        let call = call_gateway(&door, &gw, n + 1);
        for d in ["1", "2", "3", "4"] {
            assert_eq!(door.command("sndcode", d).expect("sndcode")["ok"], true);
        }
        wait_events(&gw, &call, "assist_started", 1, WAIT);

        // Turn 1: the words reach the speech-to-text engine, the agent switches the entity
        // and answers.
        let heard = wait_events(&gw, &call, "assist_heard", 1, WAIT);
        assert_eq!(heard[0]["text"], SAID, "{codec}");
        let answer = wait_events(&gw, &call, "assist_answered", 1, WAIT)[0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(!answer.is_empty(), "{codec}: an empty answer");
        wait_for(WAIT, Duration::from_millis(50), || {
            (ha.state(SWITCH).as_deref() == Some("on")).then_some(())
        })
        .unwrap_or_else(|| panic!("{codec}: the switch was not turned on\n{}", ha.log_text()));
        let stt = audio::as_8k_mono(
            &ha.config_dir().join("stt_received.wav"),
            &dir.file(&format!("stt-{codec}-8k.wav")),
        );
        let share = audio::share_found(&said, &stt, 8000, 0.7);
        assert!(
            share.is_some_and(|s| s >= 0.75),
            "{codec}: Home Assistant's STT got {share:?} of the words"
        );

        // Turn 2, in the same call (the words again, after the answer played).
        wait_events(&gw, &call, "assist_heard", 2, Duration::from_secs(30));
        wait_events(&gw, &call, "assist_answered", 2, WAIT);

        // `#` leaves Assist; the menu's `#` hangs up.
        assert_eq!(door.command("sndcode", "#").expect("sndcode")["ok"], true);
        let ended = wait_events(&gw, &call, "assist_ended", 1, WAIT);
        assert_eq!(ended[0]["reason"], "digit", "{codec}");
        door.wait_event("CALL_CLOSED", WAIT)
            .expect("the menu hangs up after #");
        // The phone heard the spoken answer (twice).
        let reply = spoken(&dir, &ha, &answer, &format!("answer-{codec}"));
        let reply = audio::trim(&reply, 8000, 0.01, 0.02).to_vec();
        let got = received(&dir, &door, codec);
        let m = audio::find(&reply, &got, 8000);
        assert!(
            m.as_ref().is_some_and(|m| m.correlation > 0.8),
            "{codec}: the answer {answer:?} is not in what the phone heard: {m:?}"
        );
        assert_eq!(events_of(&gw, &call, "assist_heard").len(), 2);
    }

    // A wrong PIN: the menu hangs up, Assist never starts.
    let mut o = BaresipOptions::direct("stranger");
    o.source = Some(source);
    let stranger = Baresip::start(&dir, &o);
    let call = call_gateway(&stranger, &gw, 4);
    for d in ["4", "3", "2", "1"] {
        assert_eq!(stranger.command("sndcode", d).expect("sndcode")["ok"], true);
    }
    stranger
        .wait_event("CALL_CLOSED", WAIT)
        .expect("a wrong PIN is hung up on");
    assert!(events_of(&gw, &call, "assist_started").is_empty());
    assert_eq!(
        gw.events()
            .iter()
            .filter(|e| e["event"] == "assist_started")
            .count(),
        3
    );
}

/// Barge-in: the caller says the words again 0.4 s after the first ones (the file's own
/// silence around the words makes the pause 0.8 s, enough to end the turn), so that they
/// start while the answer plays. The gateway stops the answer (what the phone receives goes quiet where the
/// answer would still be speaking) and takes the words as the next turn.
#[test]
fn a_caller_speaking_over_the_answer_cuts_it_short_and_is_heard() {
    require(&["baresip", "sox", "espeak-ng"]);
    let dir = WorkDir::new("assist-barge-in");
    let (ha, gw) = gateway_with_assist(
        &dir,
        "menu:\n  id: assistant\n  action:\n    command: assist\n    number: self\n",
    );
    // Writes said-8k.wav, the words the phone says.
    spoken(&dir, &ha, SAID, "said");
    let lead = 3.0;
    let pause = 0.4;
    let source = utterance(&dir, &dir.file("said-8k.wav"), lead, pause);
    let mut o = BaresipOptions::direct("door");
    o.source = Some(source);
    let door = Baresip::start(&dir, &o);
    let call = call_gateway(&door, &gw, 1);
    let answer = wait_events(&gw, &call, "assist_answered", 1, WAIT)[0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        gw.wait_log("assist: the caller spoke over the reply", WAIT),
        "no barge-in:\n{}",
        gw.log_text()
    );
    // The words said over the answer are the next turn.
    let heard = wait_events(&gw, &call, "assist_heard", 2, WAIT);
    assert_eq!(heard[1]["text"], SAID);
    wait_events(&gw, &call, "assist_answered", 2, WAIT);
    door.command("hangup", "").expect("hang up");
    door.wait_event("CALL_CLOSED", WAIT).expect("closed");

    // Where the first answer began, in what the phone received: the first sound after the
    // first words (the gateway sends silence until then), checked to be the answer's start.
    let reply = spoken(&dir, &ha, &answer, "answer");
    let reply = audio::trim(&reply, 8000, 0.01, 0.02).to_vec();
    let got = received(&dir, &door, "barge-in");
    let said_len = words_seconds(&dir.file("said-8k.wav"));
    let from = ((lead + said_len) * 8000.0) as usize;
    let onset = (from..got.len().saturating_sub(80))
        .step_by(80)
        .find(|&i| audio::rms(&got[i..i + 80]) > 0.01)
        .unwrap_or_else(|| panic!("the phone heard nothing after the first words"));
    let near = onset.saturating_sub(400);
    // Its first 0.2 s: the caller cuts in soon after.
    let head = &reply[..1600.min(reply.len())];
    let m = audio::find(head, &got[near..(onset + 2400).min(got.len())], 8000)
        .filter(|m| m.correlation > 0.8)
        .unwrap_or_else(|| panic!("what the phone heard after the words is not the answer"));
    let start = near + m.offset;
    // Its last 0.3 s would still be speaking; the phone got (near) silence instead.
    let tail = reply.len().saturating_sub(2400)..reply.len();
    let played = &got[(start + tail.start).min(got.len())..(start + tail.end).min(got.len())];
    let (want, have) = (audio::rms(&reply[tail.clone()]), audio::rms(played));
    assert!(
        want > 0.02 && have < want / 10.0,
        "the answer's end was still played: RMS {have:.4} where the answer has {want:.4} \
         (answer found at {:.2} s, {m:?}; {} samples received)",
        start as f64 / 8000.0,
        got.len()
    );
}
