//! Media on real calls: prompts heard by baresip and compared with their source, DTMF in
//! all three forms both ways (sipp's RFC 4733 pcaps from Debian, baresip's key presses and
//! in-band tones), recordings with both sides, and a bridge between two baresip calls.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hasip_tests::audio::{self, Wav, read_wav};
use hasip_tests::baresip::{Baresip, BaresipOptions};
use hasip_tests::gateway::Gateway;
use hasip_tests::sipp::{self, Transport};
use hasip_tests::workdir::WorkDir;
use hasip_tests::{have, wait_for, workspace_root};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(15);

fn require(programs: &[&str]) {
    for p in programs {
        assert!(have(p), "{p} is needed: run ./build.sh test");
    }
}

fn fixture(name: &str) -> PathBuf {
    workspace_root()
        .join("crates/hasip-audio/tests/fixtures")
        .join(name)
}

/// A registrar-less gateway that answers at once.
fn options() -> Value {
    json!({
        "sip_global": {"log_level": 3},
        "sip": {"enabled": true, "registrar_uri": "", "id_uri": "sip:hasip@127.0.0.1",
                "answer_mode": "accept", "settle_time": 0}
    })
}

fn tone(dir: &WorkDir, name: &str, hz: u32, seconds: u32) -> PathBuf {
    let p = dir.file(name);
    audio::tone_wav(&p, hz, seconds);
    p
}

fn samples_8k(path: &Path) -> Vec<i16> {
    let w = read_wav(path);
    assert_eq!(w.rate, 8000, "{}", path.display());
    w.channels.into_iter().next().unwrap_or_default()
}

/// The gateway dials `peer` with a menu that plays `file` and hangs up; returns what the
/// peer received.
fn play_to_baresip(dir: &WorkDir, file: &Path) -> Vec<i16> {
    let mut gw = Gateway::start_with(dir, Some(&options()), &[]);
    let bob = Baresip::start(dir, &BaresipOptions::direct("bob"));
    let number = format!("sip:bob@{}", bob.sip);
    gw.command(
        &json!({"command": "dial", "number": number,
                "menu": {"audio_file": file.to_string_lossy(), "post_action": "hangup"}})
        .to_string(),
    );
    bob.wait_event("CALL_ESTABLISHED", WAIT)
        .expect("bob: established");
    let done = gw
        .wait_event("playback_done", WAIT)
        .expect("gateway: playback_done");
    assert_eq!(done["type"], "audio_file", "{done}");
    assert_eq!(
        done["audio_file"],
        file.to_string_lossy().as_ref(),
        "{done}"
    );
    bob.wait_event("CALL_CLOSED", WAIT)
        .expect("bob: the menu's hangup");
    let (dec, _) = wait_for(WAIT, Duration::from_millis(50), || bob.recordings())
        .expect("bob recorded the call");
    samples_8k(&dec)
}

fn assert_heard(reference: &[i16], got: &[i16], min_snr: f64) {
    let reference = audio::trim(reference, 8000, 0.01, 0.02);
    let m = audio::find(reference, got, 8000).expect("the prompt is in the recording");
    assert!(
        m.correlation > 0.9 && m.snr_db > min_snr,
        "prompt distorted: {m:?}"
    );
    let (a0, a1) = audio::active_span(reference, 8000, 0.01).expect("reference has speech");
    let (b0, b1) = audio::active_span(got, 8000, 0.01).expect("recording has speech");
    let (want, have) = (a1 - a0, b1 - b0);
    assert!(
        (want - have).abs() <= 0.04,
        "speech lasted {have:.3} s, the source {want:.3} s"
    );
}

#[test]
fn a_wav_prompt_reaches_baresip_as_it_was_sent() {
    require(&["baresip"]);
    let dir = WorkDir::new("media-wav-prompt");
    let file = fixture("speech_8k.wav");
    let got = play_to_baresip(&dir, &file);
    // G.711 both ways: about 35 dB for speech.
    assert_heard(&samples_8k(&file), &got, 25.0);
}

#[test]
fn an_mp3_prompt_is_decoded_resampled_and_heard() {
    require(&["baresip"]);
    let dir = WorkDir::new("media-mp3-prompt");
    let got = play_to_baresip(&dir, &fixture("speech_24k_id3.mp3"));
    // Same speech as the 8 kHz WAV, through MP3 at 32 kbit/s and a resampler.
    assert_heard(&samples_8k(&fixture("speech_8k.wav")), &got, 8.0);
}

/// `file` converted by sox to `name` (the extension picks the format), at 16 kHz, so the
/// gateway decodes and resamples it.
fn converted(dir: &WorkDir, file: &Path, name: &str) -> PathBuf {
    let out = dir.file(name);
    let ok = std::process::Command::new(hasip_tests::tool("sox"))
        .arg(file)
        .args(["-r", "16000"])
        .arg(&out)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "sox could not write {}", out.display());
    out
}

#[test]
fn ogg_vorbis_and_flac_prompts_are_heard() {
    require(&["baresip", "sox"]);
    for (name, min_snr) in [("speech.ogg", 8.0), ("speech.flac", 20.0)] {
        let dir = WorkDir::new(&format!("media-{}-prompt", name.replace('.', "-")));
        let file = converted(&dir, &fixture("speech_8k.wav"), name);
        let got = play_to_baresip(&dir, &file);
        assert_heard(&samples_8k(&fixture("speech_8k.wav")), &got, min_snr);
    }
}

/// sipp calls the gateway and plays Debian's RFC 4733 pcaps (one digit each, the three
/// end packets sharing one sequence number) in the order of their sequence numbers.
#[test]
fn rfc4733_pcaps_from_sipp_give_every_digit_exactly_once() {
    require(&["sipp"]);
    let dir = WorkDir::new("media-rfc4733-pcaps");
    let gw = Gateway::start_with(&dir, Some(&options()), &[]);
    let order = [
        "1", "2", "3", "4", "5", "6", "7", "8", "9", "star", "pound", "0",
    ];
    let base = Path::new("/usr/share/sip-tester");
    let play: String = order
        .iter()
        .map(|d| {
            let p = base.join(format!("dtmf_2833_{d}.pcap"));
            assert!(p.exists(), "{} is missing (package sip-tester)", p.display());
            format!(
                "  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n  <pause milliseconds=\"300\"/>\n",
                p.display()
            )
        })
        .collect();
    let scenario = include_str!("../sipp/uac_media.xml").replace("<!--MEDIA-->", &play);
    let run = sipp::run(
        &dir,
        "pcaps",
        &scenario,
        gw.sip,
        Transport::Udp,
        Duration::from_secs(20),
    );
    assert!(run.passed(), "sipp: {:?}", run.received);
    gw.wait_event("call_disconnected", WAIT)
        .expect("call_disconnected");
    let digits: String = gw
        .events()
        .iter()
        .filter(|e| e["event"] == "dtmf_digit")
        .filter_map(|e| e["digit"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(digits, "123456789*#0");
}

/// The times (log timestamps, seconds) at which each `dtmf_digit` was reported, with its
/// digit.
fn digit_times(gw: &Gateway) -> Vec<(f64, String)> {
    gw.timed_events()
        .into_iter()
        .filter(|(_, e)| e["event"] == "dtmf_digit")
        .filter_map(|(t, e)| Some((t, e["digit"].as_str()?.to_owned())))
        .collect()
}

/// Issue 24: a key held for half a second reaches Home Assistant when it is pressed, not
/// when it is let go. sipp sends three presses as a phone does (a packet every 20 ms, three
/// end packets): `1` for 500 ms, `2` right after it, then `1` again. The `2`'s first packet
/// leaves 520 ms after the `1`'s: reported on first packets, the two digits are about
/// 520 ms apart; reported on their ends (the old behaviour), 140 ms.
#[test]
fn a_long_rfc4733_press_is_reported_on_its_first_packet() {
    require(&["sipp"]);
    let dir = WorkDir::new("media-rfc4733-long-press");
    let gw = Gateway::start_with(&dir, Some(&options()), &[]);
    let ms = Duration::from_millis;
    let packets = hasip_tests::pcap::rfc4733_presses(
        101,
        &[
            (1, ms(0), ms(500)),
            (2, ms(520), ms(100)),
            (1, ms(800), ms(100)),
        ],
    );
    let pcap = dir.file("long-press.pcap");
    hasip_tests::pcap::write(&pcap, &packets);
    let play = format!(
        "  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n  <pause milliseconds=\"1500\"/>\n",
        pcap.display()
    );
    let scenario = include_str!("../sipp/uac_media.xml").replace("<!--MEDIA-->", &play);
    let run = sipp::run(
        &dir,
        "long-press",
        &scenario,
        gw.sip,
        Transport::Udp,
        Duration::from_secs(20),
    );
    assert!(run.passed(), "sipp: {:?}", run.received);
    gw.wait_event("call_disconnected", WAIT)
        .expect("call_disconnected");
    let got = digit_times(&gw);
    let digits: String = got.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(digits, "121", "one digit per press, never two: {got:?}");
    let gap = got[1].0 - got[0].0;
    assert!(
        (0.42..0.8).contains(&gap),
        "the 500 ms press was reported {gap:.3} s before the next one: not on its first packet"
    );
}

/// The in-band form of the same: baresip's microphone holds the tone of `1` for 500 ms,
/// then, 150 ms later, `2` for 100 ms. Reported once each tone has lasted the detector's
/// minimum, they are about 650 ms apart; reported when each tone stops, about 250 ms.
#[test]
fn a_long_in_band_press_is_reported_before_it_ends() {
    require(&["baresip", "sox"]);
    let dir = WorkDir::new("media-inband-long-press");
    let seq = dir.file("presses.wav");
    audio::dtmf_wav(&seq, 0.5, &[(697, 1209, 0.5, 0.15), (697, 1336, 0.1, 1.0)]);
    let (gw, door) = baresip_calls_gateway(&dir, Some(seq));
    gw.wait_event_n("dtmf_digit", 2, WAIT)
        .unwrap_or_else(|| panic!("digits so far: {:?}", digits_of(&gw)));
    door.command("hangup", "").expect("hangup");
    gw.wait_event("call_disconnected", WAIT)
        .expect("call_disconnected");
    let got = digit_times(&gw);
    let digits: String = got.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(digits, "12", "{got:?}");
    let gap = got[1].0 - got[0].0;
    assert!(
        (0.5..0.8).contains(&gap),
        "the 500 ms tone was reported {gap:.3} s before the next: not before it ended"
    );
}

/// baresip calls the gateway; returns both and the established gateway.
fn baresip_calls_gateway(dir: &WorkDir, source: Option<PathBuf>) -> (Gateway, Baresip) {
    let gw = Gateway::start_with(dir, Some(&options()), &[]);
    let mut o = BaresipOptions::direct("door");
    o.source = source;
    let door = Baresip::start(dir, &o);
    let r = door
        .command("dial", &format!("sip:hasip@{}", gw.sip))
        .expect("dial response");
    assert_eq!(r["ok"], true, "{r}");
    door.wait_event("CALL_ESTABLISHED", WAIT)
        .expect("door: established");
    gw.wait_event("call_established", WAIT)
        .expect("gateway: established");
    (gw, door)
}

fn digits_of(gw: &Gateway) -> String {
    gw.events()
        .iter()
        .filter(|e| e["event"] == "dtmf_digit")
        .filter_map(|e| e["digit"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn baresip_key_presses_arrive_as_rfc4733_digits() {
    require(&["baresip"]);
    let dir = WorkDir::new("media-baresip-rfc4733");
    let (gw, door) = baresip_calls_gateway(&dir, None);
    for (i, d) in ["1", "5", "9", "#"].into_iter().enumerate() {
        let r = door.command("sndcode", d).expect("sndcode response");
        assert_eq!(r["ok"], true, "{r}");
        // Counted before the key is sent: the digit is reported on its first packet,
        // often before `sndcode` has answered.
        gw.wait_event_n("dtmf_digit", i + 1, WAIT)
            .unwrap_or_else(|| panic!("digit {d} did not arrive"));
    }
    door.command("hangup", "").expect("hangup");
    gw.wait_event("call_disconnected", WAIT)
        .expect("call_disconnected");
    assert_eq!(digits_of(&gw), "159#");
}

#[test]
fn in_band_tones_from_baresip_are_detected() {
    require(&["baresip", "sox"]);
    let dir = WorkDir::new("media-baresip-inband");
    // 100 ms tones, 100 ms apart, after half a second of silence.
    let keys = [
        ("4", 770, 1209),
        ("8", 852, 1336),
        ("*", 941, 1209),
        ("D", 941, 1633),
    ];
    let seq = dir.file("keys.wav");
    let tones: Vec<(u32, u32, f64, f64)> =
        keys.iter().map(|&(_, lo, hi)| (lo, hi, 0.1, 0.1)).collect();
    audio::dtmf_wav(&seq, 0.5, &tones);
    let (gw, door) = baresip_calls_gateway(&dir, Some(seq));
    let want: String = keys.iter().map(|k| k.0).collect();
    gw.wait_event_n("dtmf_digit", want.len(), WAIT)
        .unwrap_or_else(|| panic!("digits so far: {:?}", digits_of(&gw)));
    door.command("hangup", "").expect("hangup");
    gw.wait_event("call_disconnected", WAIT)
        .expect("call_disconnected");
    assert_eq!(digits_of(&gw), want);
}

/// Issue 22: the usual door-opener automation. The intercom (baresip) calls in listen
/// mode; on `incoming_call` the automation sends `answer` and at once `send_dtmf`. With
/// a 3 s settle time the digits must still reach the intercom before `call_established`.
#[test]
fn answer_then_send_dtmf_at_once_opens_the_door_during_the_settle_time() {
    require(&["baresip"]);
    let dir = WorkDir::new("media-answer-dtmf-settle");
    let listen = json!({
        "sip_global": {"log_level": 3},
        "sip": {"enabled": true, "registrar_uri": "", "id_uri": "sip:hasip@127.0.0.1",
                "answer_mode": "listen", "settle_time": 3}
    });
    let mut gw = Gateway::start_with(&dir, Some(&listen), &[]);
    let door = Baresip::start(&dir, &BaresipOptions::direct("door"));
    let r = door
        .command("dial", &format!("sip:hasip@{}", gw.sip))
        .expect("dial response");
    assert_eq!(r["ok"], true, "{r}");
    let ringing = gw.wait_event("incoming_call", WAIT).expect("incoming_call");
    let id = ringing["internal_id"]
        .as_str()
        .expect("internal_id")
        .to_owned();
    gw.command(&json!({"command": "answer", "number": id}).to_string());
    gw.command(
        &json!({"command": "send_dtmf", "number": id, "digits": "5", "method": "rfc2833"})
            .to_string(),
    );
    let t0 = std::time::Instant::now();
    door.wait_event("CALL_DTMF_START", WAIT)
        .unwrap_or_else(|| panic!("the door got no digit; gateway log:\n{}", gw.log_text()));
    assert!(
        gw.events().iter().all(|e| e["event"] != "call_established"),
        "the digit arrived after the settle time ({:?})",
        t0.elapsed()
    );
    assert!(
        !gw.log_text().contains("command_error") && !gw.log_text().contains("not connected"),
        "{}",
        gw.log_text()
    );
    gw.wait_event("call_established", WAIT)
        .expect("call_established after the settle time");
    door.command("hangup", "").expect("hangup");
    gw.wait_event("call_disconnected", WAIT)
        .expect("call_disconnected");
}

/// The gateway dials baresip and sends digits with `send_dtmf`.
#[test]
fn send_dtmf_rfc2833_and_in_band_reach_baresip() {
    require(&["baresip"]);
    let dir = WorkDir::new("media-send-dtmf");
    let mut gw = Gateway::start_with(&dir, Some(&options()), &[]);
    let bob = Baresip::start(&dir, &BaresipOptions::direct("bob"));
    let number = format!("sip:bob@{}", bob.sip);
    gw.command(&json!({"command": "dial", "number": number}).to_string());
    bob.wait_event("CALL_ESTABLISHED", WAIT)
        .expect("bob: established");
    gw.wait_event("call_established", WAIT)
        .expect("gateway: established");
    gw.command(
        &json!({"command": "send_dtmf", "number": number, "digits": "159#", "method": "rfc2833"})
            .to_string(),
    );
    bob.wait_event_n("CALL_DTMF_START", 4, WAIT)
        .expect("bob received four digits");
    // In-band digits after the RFC 4733 ones have ended (a phone would not mix them).
    wait_for(WAIT, Duration::from_millis(20), || {
        (gw.log_text().matches("DTMF sent").count() >= 4).then_some(())
    })
    .expect("the gateway finished the RFC 4733 digits");
    let got: String = bob
        .events()
        .iter()
        .filter(|e| e["type"] == "CALL_DTMF_START")
        .filter_map(|e| e["param"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(got, "159#");
    gw.command(
        &json!({"command": "send_dtmf", "number": number, "digits": "26*", "method": "in_band"})
            .to_string(),
    );
    // The gateway logs each digit it has finished sending: 4 RFC 4733, then 3 tones.
    wait_for(WAIT, Duration::from_millis(50), || {
        (gw.log_text().matches("DTMF sent").count() >= 7).then_some(())
    })
    .expect("the gateway finished sending the in-band digits");
    gw.command(&json!({"command": "hangup", "number": number}).to_string());
    bob.wait_event("CALL_CLOSED", WAIT).expect("bob: closed");
    let (dec, _) = wait_for(WAIT, Duration::from_millis(50), || bob.recordings())
        .expect("bob recorded the call");
    let heard = samples_8k(&dec);
    // Judged by libspandsp's receiver, not by our own detector: every digit once, in
    // order, nothing false, nothing twice.
    let mut yardstick = dtmf_yardstick::SpandspDtmf::new().expect("libspandsp receiver");
    yardstick.process(&heard);
    assert_eq!(
        yardstick.digits(),
        "26*",
        "in-band digits libspandsp finds in what bob heard"
    );
    // And our detector agrees.
    let mut det = hasip_media::goertzel::InbandDetector::new(8000, Default::default());
    let mut found = String::new();
    for chunk in heard.chunks(160) {
        det.process(chunk);
        while let Some(d) = det.poll_digit() {
            found.push(d.digit.as_char());
        }
    }
    assert_eq!(
        found, "26*",
        "in-band digits our detector finds in what bob heard"
    );
}

/// Dials bob (who says the speech fixture), records the call while a 4 s 440 Hz prompt
/// plays, hangs up, checks the recording events, and returns the recording.
fn record_a_baresip_call(name: &str, options: &Value) -> Wav {
    require(&["baresip", "sox"]);
    let dir = WorkDir::new(name);
    let mut gw = Gateway::start_with(&dir, Some(options), &[]);
    let mut o = BaresipOptions::direct("bob");
    o.source = Some(fixture("speech_8k.wav"));
    let bob = Baresip::start(&dir, &o);
    let prompt = tone(&dir, "prompt.wav", 440, 4);
    let rec = dir.file("call.wav");
    let number = format!("sip:bob@{}", bob.sip);
    // The recording is asked for before the call has media: it starts when media does.
    gw.command(&json!({"command": "dial", "number": number}).to_string());
    gw.command(
        &json!({"command": "start_recording", "number": number,
                "recording_file": rec.to_string_lossy()})
        .to_string(),
    );
    let started = gw
        .wait_event("recording_started", WAIT)
        .expect("recording_started");
    assert_eq!(started["recording_file"], rec.to_string_lossy().as_ref());
    gw.command(
        &json!({"command": "play_audio_file", "number": number,
                "audio_file": prompt.to_string_lossy()})
        .to_string(),
    );
    gw.wait_event("playback_done", WAIT).expect("playback_done");
    gw.command(&json!({"command": "hangup", "number": number}).to_string());
    gw.wait_event("call_disconnected", WAIT)
        .expect("call_disconnected");
    let names: Vec<String> = gw
        .events()
        .iter()
        .filter_map(|e| e["event"].as_str().map(str::to_owned))
        .collect();
    let stop = names.iter().position(|n| n == "recording_stopped");
    let end = names.iter().position(|n| n == "call_disconnected");
    assert!(
        stop.is_some() && stop < end,
        "recording_stopped before call_disconnected: {names:?}"
    );
    read_wav(&rec)
}

/// The stretches of `samples` louder than -26 dBFS, as seconds.
fn loud_part(samples: &[i16]) -> Vec<i16> {
    samples
        .chunks(80)
        .filter(|b| audio::rms(b) > 0.05)
        .flatten()
        .copied()
        .collect()
}

#[test]
fn a_recording_holds_both_sides_of_a_baresip_call() {
    let w = record_a_baresip_call("media-recording", &options());
    assert_eq!(
        (w.rate, w.channels.len()),
        (8000, 2),
        "stereo at the codec rate"
    );
    let (remote, local) = (&w.channels[0], &w.channels[1]);
    // Left: what bob said (his source is the speech fixture).
    assert_heard_in(&samples_8k(&fixture("speech_8k.wav")), remote);
    // Right: our prompt, a 440 Hz tone, and nothing of bob's speech.
    assert_prompt_in(local, 0.9, "on the right");
}

/// The 4 s 440 Hz prompt of [`record_a_baresip_call`] is in `samples`: 4 s of loud audio of
/// which at least `share` of the power is the tone.
fn assert_prompt_in(samples: &[i16], share: f64, place: &str) {
    let loud = loud_part(samples);
    let secs = loud.len() as f64 / 8000.0;
    assert!(secs > 3.9, "the prompt is {place}: {secs} s");
    let tone = audio::tone_share(&loud, 8000, 440.0);
    assert!(tone > share, "the 440 Hz prompt is {place}: {tone}");
}

#[test]
fn recording_channels_mono_mixes_both_sides_into_one_channel() {
    let mut o = options();
    o["sip_global"]["global_options"] = json!("--recording-channels mono");
    let w = record_a_baresip_call("media-recording-mono", &o);
    assert_eq!(
        (w.rate, w.channels.len()),
        (8000, 1),
        "mono at the codec rate"
    );
    let mixed = &w.channels[0];
    // Both sides are in the one channel: the 440 Hz prompt for 4 s ...
    assert_prompt_in(mixed, 0.5, "in the mix");
    // ... and bob's speech, found once the prompt's tone is notched out.
    assert_heard_in(
        &samples_8k(&fixture("speech_8k.wav")),
        &notch(mixed, 8000, 440.0),
    );
}

/// `s` through a narrow (Q = 8) biquad notch at `freq`: removes a steady tone, keeps speech.
fn notch(s: &[i16], rate: u32, freq: f64) -> Vec<i16> {
    let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
    let alpha = w.sin() / (2.0 * 8.0);
    let a0 = 1.0 + alpha;
    let (b0, b1, b2) = (1.0 / a0, -2.0 * w.cos() / a0, 1.0 / a0);
    let (a1, a2) = (-2.0 * w.cos() / a0, (1.0 - alpha) / a0);
    let (mut x1, mut x2, mut y1, mut y2) = (0.0, 0.0, 0.0, 0.0);
    s.iter()
        .map(|&x| {
            let x = f64::from(x);
            let y = b0 * x + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2;
            (x2, x1, y2, y1) = (x1, x, y1, y);
            y.clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

fn assert_heard_in(reference: &[i16], got: &[i16]) {
    let reference = audio::trim(reference, 8000, 0.01, 0.02);
    let m = audio::find(reference, got, 8000).expect("the speech is in the recording");
    assert!(m.correlation > 0.9, "speech distorted: {m:?}");
}

#[test]
fn a_bridge_carries_audio_both_ways_between_two_baresip_calls() {
    require(&["baresip", "sox"]);
    let dir = WorkDir::new("media-bridge");
    let mut gw = Gateway::start_with(&dir, Some(&options()), &[]);
    let mut a = BaresipOptions::direct("alice");
    a.source = Some(tone(&dir, "alice.wav", 500, 30));
    let alice = Baresip::start(&dir, &a);
    let mut b = BaresipOptions::direct("bob");
    b.source = Some(tone(&dir, "bob.wav", 1200, 30));
    let bob = Baresip::start(&dir, &b);
    let (na, nb) = (
        format!("sip:alice@{}", alice.sip),
        format!("sip:bob@{}", bob.sip),
    );
    gw.command(&json!({"command": "dial", "number": na}).to_string());
    gw.command(&json!({"command": "dial", "number": nb}).to_string());
    gw.wait_event_n("call_established", 2, WAIT)
        .expect("both calls established");
    gw.command(&json!({"command": "bridge_audio", "number": na, "bridge_to": nb}).to_string());
    assert!(gw.wait_log("calls bridged", WAIT), "bridge_audio accepted");
    // Two seconds of bridged audio, measured by what alice sent through.
    wait_for(WAIT, Duration::from_millis(100), || {
        let (dec, _) = bob.recordings()?;
        let s = read_wav(&dec).channels.into_iter().next()?;
        let loud = s.chunks(80).filter(|c| audio::rms(c) > 0.05).count();
        (loud >= 200).then_some(())
    })
    .expect("bob hears alice through the bridge");
    gw.command(&json!({"command": "hangup", "number": na}).to_string());
    gw.command(&json!({"command": "hangup", "number": nb}).to_string());
    alice.wait_event("CALL_CLOSED", WAIT).expect("alice closed");
    bob.wait_event("CALL_CLOSED", WAIT).expect("bob closed");
    for (who, peer, want, not) in [
        ("alice", &alice, 1200.0, 500.0),
        ("bob", &bob, 500.0, 1200.0),
    ] {
        let (dec, _) = peer.recordings().expect("recording");
        let s = samples_8k(&dec);
        let loud: Vec<i16> = s
            .chunks(80)
            .filter(|b| audio::rms(b) > 0.05)
            .flatten()
            .copied()
            .collect();
        assert!(
            loud.len() > 8000,
            "{who} heard {} s of audio",
            loud.len() as f64 / 8000.0
        );
        let (w, n) = (
            audio::tone_share(&loud, 8000, want),
            audio::tone_share(&loud, 8000, not),
        );
        assert!(
            w > 0.8 && n < 0.05,
            "{who}: {want} Hz share {w:.3}, own {not} Hz {n:.3}"
        );
    }
}

/// A WAV at any rate, as 8 kHz mono (sox converts).
fn as_8k(dir: &WorkDir, path: &Path) -> Vec<i16> {
    let out = dir.file(&format!(
        "{}-8k.wav",
        path.file_stem().and_then(|s| s.to_str()).unwrap_or("x")
    ));
    audio::as_8k_mono(path, &out)
}

#[test]
fn wideband_codecs_are_negotiated_and_prompts_and_digits_get_through() {
    require(&["baresip", "sox"]);
    for (codec, name, min_snr) in [("g722", "G722", 12.0), ("opus", "opus", 6.0)] {
        let dir = WorkDir::new(&format!("media-{codec}"));
        // The default codec list offers opus, G.722, PCMU, PCMA: bob takes his one.
        let mut gw = Gateway::start_with(&dir, Some(&options()), &[]);
        let mut o = BaresipOptions::direct("bob");
        o.codecs = if codec == "g722" { "g722" } else { "opus" };
        let bob = Baresip::start(&dir, &o);
        let number = format!("sip:bob@{}", bob.sip);
        let file = fixture("speech_8k.wav");
        gw.command(
            &json!({"command": "dial", "number": number,
                    "menu": {"audio_file": file.to_string_lossy(), "timeout": 30,
                             "choices": {"5": {"message": "unused", "post_action": "hangup"}}}})
            .to_string(),
        );
        bob.wait_event("CALL_ESTABLISHED", WAIT)
            .expect("bob: established");
        assert!(
            gw.wait_log(&format!("codec=\"{name}\""), WAIT),
            "{codec} was not negotiated:\n{}",
            gw.log_text()
        );
        gw.wait_event("playback_done", WAIT)
            .unwrap_or_else(|| panic!("{codec}: the prompt did not finish"));
        // A key press on the wideband call (telephone-event at the codec's clock).
        assert_eq!(bob.command("sndcode", "5").expect("sndcode")["ok"], true);
        let d = gw
            .wait_event("dtmf_digit", WAIT)
            .unwrap_or_else(|| panic!("{codec}: no digit:\n{}", gw.log_text()));
        assert_eq!(d["digit"], "5");
        bob.wait_event("CALL_CLOSED", WAIT)
            .expect("the choice hung up");
        let (dec, _) = wait_for(WAIT, Duration::from_millis(50), || bob.recordings())
            .expect("bob recorded the call");
        let got = as_8k(&dir, &dec);
        let reference = samples_8k(&file);
        let reference = audio::trim(&reference, 8000, 0.01, 0.02);
        let m = audio::find(reference, &got, 8000).expect("the prompt is in the recording");
        assert!(
            m.correlation > 0.85 && m.snr_db > min_snr,
            "{codec}: prompt distorted: {m:?}"
        );
    }
}

/// Issue 22 (ha-sip #73): some intercoms need long DTMF tones. `--dtmf-tone MS` sets the
/// default length and `send_dtmf`'s `tone_ms` one command's; baresip hears each digit for
/// that long (from its start to its end event).
#[test]
fn dtmf_tone_length_is_configurable_globally_and_per_command() {
    require(&["baresip"]);
    let dir = WorkDir::new("media-dtmf-length");
    let mut o = options();
    o["sip_global"]["global_options"] = json!("--dtmf-tone 300");
    let mut gw = Gateway::start_with(&dir, Some(&o), &[]);
    let bob = Baresip::start(&dir, &BaresipOptions::direct("bob"));
    let number = format!("sip:bob@{}", bob.sip);
    gw.command(&json!({"command": "dial", "number": number}).to_string());
    bob.wait_event("CALL_ESTABLISHED", WAIT)
        .expect("bob: established");
    gw.wait_event("call_established", WAIT)
        .expect("gateway: established");
    // How long bob hears the n-th digit: its start event to its end event.
    let heard = |n: usize| -> Duration {
        bob.wait_event_n("CALL_DTMF_START", n, WAIT)
            .unwrap_or_else(|| panic!("digit {n} did not start"));
        let t0 = std::time::Instant::now();
        bob.wait_event_n("CALL_DTMF_END", n, WAIT)
            .unwrap_or_else(|| panic!("digit {n} did not end"));
        t0.elapsed()
    };
    gw.command(
        &json!({"command": "send_dtmf", "number": number, "digits": "1", "method": "rfc2833"})
            .to_string(),
    );
    let default = heard(1);
    gw.command(
        &json!({"command": "send_dtmf", "number": number, "digits": "2", "method": "rfc2833",
                "tone_ms": 600})
        .to_string(),
    );
    let long = heard(2);
    assert!(
        (Duration::from_millis(230)..Duration::from_millis(420)).contains(&default),
        "--dtmf-tone 300: heard for {default:?}"
    );
    assert!(
        (Duration::from_millis(530)..Duration::from_millis(720)).contains(&long),
        "tone_ms 600: heard for {long:?}"
    );
}
