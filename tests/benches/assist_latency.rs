//! Issue 20's figure: from the end of the caller's speech to the first sound of the spoken
//! answer, with the gateway's Assist and with Home Assistant's own VoIP integration, on
//! the same Home Assistant, the same pipeline (the offline test speech-to-text, the default
//! agent, the espeak test TTS), the same machine, in one run, turns alternating.
//!
//! The caller is a second gateway ("the phone"), the same for both: it dials, plays the
//! caller's words from a WAV file as its menu prompt and records the call in stereo (what
//! it sent on the right, what it received on the left, frame-aligned). Both calls use Opus
//! (the VoIP integration takes nothing else). In each recording:
//!
//! - **start**: where the words end on the right channel, i.e. when the phone sent the
//!   last packet of speech;
//! - **stop**: where the spoken answer begins on the left channel (found by correlation
//!   with Home Assistant's TTS of the answer's text, so the VoIP integration's "processing"
//!   beep does not count), i.e. when that audio came out of the phone's jitter buffer.
//!
//! The phone's playout delay is in both figures alike. Run with `bench/assist_latency.sh
//! [TURNS]`; exits non-zero when the gateway's median is not below the VoIP integration's.
// A benchmark's report is what it prints.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;
use std::time::Duration;

use hasip_tests::audio;
use hasip_tests::gateway::Gateway;
use hasip_tests::ha::{HaOptions, HomeAssistant};
use hasip_tests::wait_for;
use hasip_tests::workdir::WorkDir;
use serde_json::json;

const ENGINE: &str = "sip_test_tts";
const SAID: &str = "turn on SIP test switch";
const SWITCH: &str = "switch.sip_test_switch";
const WAIT: Duration = Duration::from_secs(30);

fn spoken(dir: &WorkDir, ha: &HomeAssistant, message: &str, name: &str) -> Vec<i16> {
    let raw = ha.tts_audio(ENGINE, message, "en", &json!({"voice": "espeak"}));
    let src = dir.file(&format!("{name}.wav"));
    std::fs::write(&src, raw).unwrap_or_else(|e| panic!("write {}: {e}", src.display()));
    audio::as_8k_mono(&src, &dir.file(&format!("{name}-8k.wav")))
}

/// One channel of a recording, at 8 kHz.
fn channel(dir: &WorkDir, wav: &Path, n: u32) -> Vec<i16> {
    let out = dir.file(&format!(
        "{}-ch{n}.wav",
        wav.file_stem().and_then(|s| s.to_str()).unwrap_or("x")
    ));
    audio::sox(&[
        wav.to_str().unwrap_or_default(),
        "-r",
        "8000",
        "-b",
        "16",
        out.to_str().unwrap_or_default(),
        "remix",
        &n.to_string(),
    ]);
    audio::read_wav(&out)
        .channels
        .into_iter()
        .next()
        .unwrap_or_default()
}

/// The margin `audio::trim` leaves around the words (s).
const MARGIN: f64 = 0.02;

/// Seconds from the end of `words` on the right channel to the start of `reply` on the
/// left one.
fn latency(dir: &WorkDir, wav: &Path, words: &[i16], reply: &[i16]) -> Option<f64> {
    let sent = channel(dir, wav, 2);
    let heard = channel(dir, wav, 1);
    let w = audio::find(words, &sent, 8000).filter(|m| m.correlation > 0.8)?;
    let end = (w.offset + words.len()) as f64 / 8000.0 - MARGIN;
    // The answer is searched for after the words only.
    let from = w.offset + words.len();
    let r = audio::find(reply, heard.get(from..)?, 8000).filter(|m| m.correlation > 0.6)?;
    let start = (from + r.offset) as f64 / 8000.0 + MARGIN;
    Some(start - end)
}

fn event_count(gw: &Gateway, name: &str) -> usize {
    gw.events().iter().filter(|e| e["event"] == name).count()
}

/// The phone dials `target`, says the words, records; `answered` waits for the answer to
/// have been given; then the phone waits `tail` for it to play and hangs up.
fn turn(
    phone: &mut Gateway,
    target: &str,
    utterance: &Path,
    recording: &Path,
    answered: &dyn Fn() -> bool,
) {
    let stopped = event_count(phone, "recording_stopped");
    phone.command(
        &json!({"command": "dial", "number": target,
                "menu": {"audio_file": utterance.to_string_lossy(), "timeout": 120}})
        .to_string(),
    );
    phone.command(
        &json!({"command": "start_recording", "number": target,
                "recording_file": recording.to_string_lossy(), "channels": "stereo"})
        .to_string(),
    );
    wait_for(WAIT, Duration::from_millis(50), || answered().then_some(()))
        .unwrap_or_else(|| panic!("no answer from {target}:\n{}", phone.log_text()));
    // The spoken answer plays (about two seconds).
    std::thread::sleep(Duration::from_secs(5));
    phone.command(&json!({"command": "hangup", "number": target}).to_string());
    phone
        .wait_event_n("recording_stopped", stopped + 1, WAIT)
        .expect("the recording is finished");
}

/// Seconds since midnight of a log line's timestamp (`2026-12-07T03:50:19.395674Z ...`).
fn log_time(line: &str) -> Option<f64> {
    let time = line.split_whitespace().next()?.split_once('T')?.1;
    let mut parts = time.trim_end_matches('Z').split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

/// In the gateway's own log, from finding the end of the last turn's speech to starting
/// its answer (Home Assistant's pipeline, fetching and decoding the answer), in ms.
fn inside_gateway(gw: &Gateway) -> Option<f64> {
    let log = gw.log_text();
    let end = log
        .lines()
        .rev()
        .find(|l| l.contains("assist: end of speech"))?;
    let play = log
        .lines()
        .rev()
        .find(|l| l.contains("assist: the answer plays"))?;
    Some((log_time(play)? - log_time(end)?) * 1000.0)
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let turns: usize = std::env::var("ASSIST_TURNS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(5);
    let dir = WorkDir::new("bench-assist");
    let voip = hasip_tests::ports::free_port();
    let ha = HomeAssistant::start_with(
        &dir,
        &HaOptions {
            voip_port: Some(voip),
            ..HaOptions::default()
        },
    );
    let env = [
        ("HA_BASE_URL", ha.base_url.as_str()),
        ("HA_TOKEN", ha.token.as_str()),
    ];
    let menu = dir.file("assist.yaml");
    std::fs::write(
        &menu,
        "menu:\n  id: assist\n  action:\n    command: assist\n    number: self\n",
    )
    .unwrap_or_else(|e| panic!("write the menu: {e}"));
    let gateway = Gateway::start_env(
        &dir,
        Some(&json!({
            "sip_global": {"log_level": 5},
            "sip": {"enabled": true, "registrar_uri": "", "id_uri": "sip:assist@127.0.0.1",
                    "answer_mode": "accept", "settle_time": 0,
                    "incoming_call_file": menu.to_string_lossy()},
        })),
        &[],
        &env,
    );
    let mut phone = Gateway::start_with(
        &dir,
        Some(&json!({
            "sip_global": {"log_level": 3},
            "sip": {"enabled": true, "registrar_uri": "", "id_uri": "sip:phone@127.0.0.1",
                    "answer_mode": "listen"},
        })),
        &[],
    );
    let words = spoken(&dir, &ha, SAID, "said");
    let utterance = dir.file("utterance.wav");
    audio::sox(&[
        dir.file("said-8k.wav").to_str().unwrap_or_default(),
        utterance.to_str().unwrap_or_default(),
        "pad",
        "1.5",
        "10",
    ]);
    let words = audio::trim(&words, 8000, 0.01, MARGIN).to_vec();
    let ours = format!("sip:assist@{}", gateway.sip);
    let theirs = format!("sip:homeassistant@127.0.0.1:{voip}");

    // The VoIP integration answers an unknown device with an announcement and makes an
    // allow-calls switch for it; allowed, it runs the pipeline.
    turn(
        &mut phone,
        &theirs,
        &utterance,
        &dir.file("voip-0.wav"),
        &|| ha.voip_allow_switch().is_some(),
    );
    let allow = wait_for(WAIT, Duration::from_millis(100), || ha.voip_allow_switch())
        .expect("an allow-calls switch");
    ha.post("services/switch/turn_on", &json!({"entity_id": allow}))
        .expect("allow the calls");

    let switch_off = || {
        ha.post("services/switch/turn_off", &json!({"entity_id": SWITCH}))
            .expect("switch off");
        wait_for(WAIT, Duration::from_millis(50), || {
            (ha.state(SWITCH).as_deref() == Some("off")).then_some(())
        })
        .expect("the switch is off");
    };
    let switched_on = || ha.state(SWITCH).as_deref() == Some("on");
    let (mut gw_ms, mut voip_ms, mut pipeline_ms) = (Vec::new(), Vec::new(), Vec::new());
    let mut answer = String::new();
    for k in 0..turns {
        switch_off();
        let before = event_count(&gateway, "assist_answered");
        let rec = dir.file(&format!("gateway-{k}.wav"));
        turn(&mut phone, &ours, &utterance, &rec, &|| {
            event_count(&gateway, "assist_answered") > before
        });
        pipeline_ms.extend(inside_gateway(&gateway));
        if answer.is_empty() {
            answer = gateway
                .events()
                .iter()
                .rev()
                .find(|e| e["event"] == "assist_answered")
                .and_then(|e| e["text"].as_str().map(str::to_owned))
                .unwrap_or_default();
        }
        let reply = spoken(&dir, &ha, &answer, "answer");
        let reply = audio::trim(&reply, 8000, 0.01, MARGIN).to_vec();
        match latency(&dir, &rec, &words, &reply) {
            Some(s) => gw_ms.push(s * 1000.0),
            None => eprintln!(
                "turn {k}: the gateway's answer was not found in {}",
                rec.display()
            ),
        }

        switch_off();
        let rec = dir.file(&format!("voip-{}.wav", k + 1));
        turn(&mut phone, &theirs, &utterance, &rec, &switched_on);
        match latency(&dir, &rec, &words, &reply) {
            Some(s) => voip_ms.push(s * 1000.0),
            None => eprintln!(
                "turn {k}: the VoIP integration's answer was not found in {}",
                rec.display()
            ),
        }
        println!(
            "turn {k}: gateway {:?} ms, VoIP integration {:?} ms",
            gw_ms.last(),
            voip_ms.last()
        );
    }
    if gw_ms.len() < turns.div_ceil(2) || voip_ms.len() < turns.div_ceil(2) {
        eprintln!("too few turns measured: gateway {gw_ms:?}, VoIP {voip_ms:?}");
        std::process::exit(2);
    }
    let (g, v) = (median(&mut gw_ms), median(&mut voip_ms));
    println!(
        "end of speech (the phone's last speech packet) -> the answer's first sound (out of the phone's jitter buffer), median of {} / {} turns:\n  gateway Assist {g:.0} ms (min {:.0}, max {:.0})\n  Home Assistant VoIP integration {v:.0} ms (min {:.0}, max {:.0})",
        gw_ms.len(),
        voip_ms.len(),
        gw_ms[0],
        gw_ms[gw_ms.len() - 1],
        voip_ms[0],
        voip_ms[voip_ms.len() - 1],
    );
    if !pipeline_ms.is_empty() {
        println!(
            "  of the gateway's: end of speech found -> its answer starts playing (the pipeline, fetching and decoding the answer), median {:.0} ms",
            median(&mut pipeline_ms)
        );
    }
    if g >= v {
        eprintln!("MISSED: the gateway is not faster than the VoIP integration");
        std::process::exit(1);
    }
}
