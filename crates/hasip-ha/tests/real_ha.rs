//! The client against a real Home Assistant Core (2024.3.3, started by the harness in
//! `tests/src/ha.rs`): webhooks land with the exact body, in order per call, and survive a
//! Home Assistant restart; TTS from a WAV and an MP3 engine, cached and re-fetched; errors
//! that name their cause; service calls and templates.
//!
//! Each test is synchronous and owns a multi-thread runtime, so that the harness's blocking
//! waits never stall the client's tasks.

use std::time::{Duration, Instant};

use hasip_ha::{
    AudioCache, AudioFormat, HaClient, HaConfig, PreferredAudio, Timeouts, TtsEngine, TtsRequest,
    TtsStage, WebhookOptions, Webhooks,
};
use hasip_tests::ha::{HaOptions, HomeAssistant, LoggedWebhook};
use hasip_tests::workdir::WorkDir;
use hasip_tests::{have, wait_for};
use serde_json::{Value, json};

const GLOBAL: &str = "sip_call_webhook_id";
const PER_CALL: &str = "sip_call_webhook_id_2";

fn runtime() -> tokio::runtime::Runtime {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "hasip_ha=debug".into()),
        )
        .with_test_writer()
        .with_ansi(false)
        .try_init();
    hasip_ha::install_crypto_provider();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn client_for(ha: &HomeAssistant) -> HaClient {
    let env = |k: &str| match k {
        "HA_BASE_URL" => Some(ha.base_url.clone()),
        "HA_TOKEN" => Some(ha.token.clone()),
        "HA_WEBSOCKET_URL" => Some(ha.websocket_url.clone()),
        _ => None,
    };
    HaClient::new(HaConfig::from_env(env).expect("config")).expect("client")
}

/// An event as ha-sip posts it (spec §6.2 fields, then the event's own).
fn event(name: &str, call: &str, seq: usize) -> Value {
    json!({
        "event": name,
        "caller": "<sip:+4930123456@pbx.test>",
        "called": "<sip:ha@pbx.test>",
        "parsed_caller": "+4930123456",
        "parsed_called": "ha",
        "sip_account": 1,
        "call_id": format!("{call}@pbx.test"),
        "internal_id": call,
        "headers": {"X-Umlaut": "Grüße äöü €", "X-Empty": null},
        "digit": seq.to_string(),
        "seq": seq,
    })
}

fn per_call_order(logged: &[LoggedWebhook], call: &str) -> Vec<u64> {
    logged
        .iter()
        .filter(|w| w.json["internal_id"] == call)
        .filter_map(|w| w.json["seq"].as_u64())
        .collect()
}

#[test]
fn webhooks_arrive_exactly_and_in_order() {
    let dir = WorkDir::new("ha-webhooks");
    let ha = HomeAssistant::start(&dir);
    let rt = runtime();
    let client = client_for(&ha);
    let hooks = rt.block_on(async { Webhooks::start(client.clone(), WebhookOptions::default()) });

    // One event with a per-call id: the per-call webhook first, then the global one (§6.1),
    // each with exactly the body given.
    let body = event("call_established", "call-1", 0);
    hooks
        .try_send("call-1", &[PER_CALL.into(), GLOBAL.into()], &body)
        .expect("queued");
    let logged = ha
        .wait_webhooks(2, Duration::from_secs(20))
        .expect("two webhooks logged");
    assert_eq!(logged[0].webhook_id, PER_CALL);
    assert_eq!(logged[1].webhook_id, GLOBAL);
    assert_eq!(logged[0].json, body);
    assert_eq!(logged[1].json, body);
    // Field order as given (the bus builds ha-sip's order; HA's log re-sorts, so check
    // what we send).
    assert!(
        body.to_string()
            .starts_with(r#"{"event":"call_established","caller":"#)
    );

    // 50 events each for two calls, interleaved: per-call order kept.
    let t0 = Instant::now();
    for i in 1..=50 {
        for call in ["call-a", "call-b"] {
            hooks
                .try_send(call, &[GLOBAL.into()], &event("dtmf_digit", call, i))
                .expect("queued");
        }
    }
    let queued_in = t0.elapsed();
    assert!(
        queued_in < Duration::from_millis(200),
        "try_send must not wait: 100 events took {queued_in:?}"
    );
    let logged = ha
        .wait_webhooks(102, Duration::from_secs(60))
        .unwrap_or_else(|| panic!("only {} of 102 webhooks logged", ha.webhooks().len()));
    let want: Vec<u64> = (1..=50).collect();
    assert_eq!(per_call_order(&logged, "call-a"), want);
    assert_eq!(per_call_order(&logged, "call-b"), want);
    let stats = rt.block_on(hooks.shutdown(Duration::from_secs(5)));
    assert_eq!(stats.delivered, 102);
    assert_eq!(
        (stats.failed, stats.dropped, stats.rejected, stats.queued),
        (0, 0, 0, 0)
    );
}

#[test]
fn webhooks_wait_for_home_assistant_to_come_back() {
    let dir = WorkDir::new("ha-restart");
    let mut ha = HomeAssistant::start(&dir);
    let rt = runtime();
    let client = client_for(&ha);
    let opts = WebhookOptions {
        first_retry: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        ..WebhookOptions::default()
    };
    let hooks = rt.block_on(async { Webhooks::start(client.clone(), opts) });
    for i in 0..5 {
        hooks
            .try_send(
                "call-a",
                &[GLOBAL.into()],
                &event("dtmf_digit", "call-a", i),
            )
            .expect("queued");
    }
    ha.wait_webhooks(5, Duration::from_secs(20))
        .expect("first five logged");

    ha.stop();
    // Calls go on while Home Assistant is away: events queue without waiting.
    let t0 = Instant::now();
    for i in 5..25 {
        hooks
            .try_send(
                "call-a",
                &[GLOBAL.into()],
                &event("dtmf_digit", "call-a", i),
            )
            .expect("queued");
        if i < 15 {
            hooks
                .try_send(
                    "call-b",
                    &[GLOBAL.into()],
                    &event("dtmf_digit", "call-b", i),
                )
                .expect("queued");
        }
    }
    assert!(t0.elapsed() < Duration::from_millis(100), "try_send waited");
    // The deliveries are being retried against the stopped Home Assistant.
    wait_for(Duration::from_secs(10), Duration::from_millis(20), || {
        (hooks.stats().retries >= 2).then_some(())
    })
    .expect("retries while Home Assistant is down");
    assert_eq!(hooks.stats().queued, 30);

    ha.restart();
    let logged = ha
        .wait_webhooks(35, Duration::from_secs(60))
        .unwrap_or_else(|| panic!("only {} of 35 webhooks logged", ha.webhooks().len()));
    assert_eq!(
        per_call_order(&logged, "call-a"),
        (0..25).collect::<Vec<u64>>()
    );
    assert_eq!(
        per_call_order(&logged, "call-b"),
        (5..15).collect::<Vec<u64>>()
    );
    let stats = rt.block_on(hooks.shutdown(Duration::from_secs(5)));
    assert_eq!(stats.delivered, 35, "{stats:?}");
    assert_eq!((stats.failed, stats.dropped, stats.queued), (0, 0, 0));
}

fn wav_rate(data: &[u8]) -> u32 {
    u32::from_le_bytes([data[24], data[25], data[26], data[27]])
}

fn wav_channels(data: &[u8]) -> u16 {
    u16::from_le_bytes([data[22], data[23]])
}

#[test]
fn tts_from_both_engines_with_cache_and_errors() {
    assert!(
        have("ffmpeg"),
        "Home Assistant converts TTS with ffmpeg: install it (./build.sh deps)"
    );
    let dir = WorkDir::new("ha-tts");
    let ha = HomeAssistant::start(&dir);
    let rt = runtime();
    let client = client_for(&ha);
    let cache_dir = dir.file("cache");
    std::fs::create_dir_all(&cache_dir).expect("cache dir");
    let cache = AudioCache::new(&cache_dir).expect("cache");
    let wav_engine = TtsEngine::EngineId("sip_test_tts".into());
    let mp3_engine = TtsEngine::EngineId("demo".into());

    rt.block_on(async {
        // WAV engine, native format: 5 characters of 60 ms tone + 20 ms gap at 16 kHz mono.
        let mut hello = TtsRequest::new(wav_engine.clone(), "Hello", "en");
        hello.cache = true;
        let sent = client.requests_sent();
        let got = client.tts(&hello, Some(&cache)).await.expect("tts wav");
        assert!(!got.from_cache);
        assert_eq!(got.audio.format(), AudioFormat::Wav);
        assert_eq!(got.audio.media_type, "audio/wav");
        assert_eq!(wav_rate(&got.audio.data), 16_000);
        assert_eq!(got.audio.data.len(), 44 + 5 * (960 + 320) * 2);
        assert!(got.audio.data[44..].iter().any(|b| *b != 0), "silent audio");
        assert_eq!(client.requests_sent() - sent, 2, "tts_get_url + download");

        // Second identical request: from the cache, no HTTP request at all.
        let sent = client.requests_sent();
        let again = client.tts(&hello, Some(&cache)).await.expect("cached");
        assert!(again.from_cache);
        assert_eq!(again.audio, got.audio);
        assert_eq!(client.requests_sent(), sent, "a cache hit sent a request");
        // Proof from the other side: a client whose Home Assistant cannot be reached at all
        // still gets it from the same cache.
        let dead = HaClient::new(
            HaConfig::standalone("http://127.0.0.1:9/api", "x", None)
                .expect("config")
                .with_timeouts(Timeouts {
                    connect: Duration::from_millis(300),
                    request: Duration::from_millis(500),
                    tts: Duration::from_millis(500),
                }),
        )
        .expect("client");
        let offline = dead
            .tts(&hello, Some(&cache))
            .await
            .expect("cache without HA");
        assert!(offline.from_cache);
        // ... but not a different voice or language (ha-sip's key ignored both).
        let mut other = hello.clone();
        other.language = "de".into();
        assert!(dead.tts(&other, Some(&cache)).await.is_err());

        // A truncated cache file is detected and fetched again (and repaired).
        let key = hello.cache_key();
        let path = cache.content_path(&key);
        let full = std::fs::read(&path).expect("cache file");
        std::fs::write(&path, &full[..full.len() / 2]).expect("truncate");
        let sent = client.requests_sent();
        let refetched = client.tts(&hello, Some(&cache)).await.expect("refetch");
        assert!(!refetched.from_cache);
        assert_eq!(client.requests_sent() - sent, 2);
        assert_eq!(refetched.audio, got.audio);
        assert_eq!(std::fs::read(&path).expect("repaired"), full);

        // cache_audio off: nothing is stored.
        let files = std::fs::read_dir(&cache_dir).expect("ls").count();
        let mut uncached = TtsRequest::new(wav_engine.clone(), "Not cached", "en");
        uncached.cache = false;
        assert!(
            !client
                .tts(&uncached, Some(&cache))
                .await
                .expect("tts")
                .from_cache
        );
        assert_eq!(std::fs::read_dir(&cache_dir).expect("ls").count(), files);

        // The MP3 engine, native: an MP3 (ID3 tag first, as HA writes it).
        let mp3 = client
            .tts(
                &TtsRequest::new(mp3_engine.clone(), "Hello from the SIP gateway", "en"),
                None,
            )
            .await
            .expect("tts mp3");
        assert_eq!(mp3.audio.format(), AudioFormat::Mp3);
        assert!(mp3.audio.data.starts_with(b"ID3"));
        assert!(mp3.audio.data.len() > 1000);

        // Preferred WAV at the codec rate: HA converts (demo) or resamples (sip_test_tts).
        for (engine, rate) in [
            (&mp3_engine, 8000),
            (&wav_engine, 8000),
            (&wav_engine, 48_000),
        ] {
            let mut r = TtsRequest::new(engine.clone(), "Preferred format", "en");
            r.voice = (engine == &wav_engine).then(|| "tones".into());
            r.preferred = Some(PreferredAudio::wav(rate));
            let a = client.tts(&r, None).await.expect("preferred wav");
            assert_eq!(a.audio.format(), AudioFormat::Wav, "{engine:?} {rate}");
            assert_eq!(wav_rate(&a.audio.data), rate, "{engine:?}");
            assert_eq!(wav_channels(&a.audio.data), 1);
        }
        // Legacy `platform` works too.
        let p = client
            .tts(
                &TtsRequest::new(TtsEngine::Platform("demo".into()), "Hallo", "de"),
                None,
            )
            .await
            .expect("platform");
        assert_eq!(p.audio.format(), AudioFormat::Mp3);

        // Errors name status, engine, language and message.
        let e = client
            .tts(
                &TtsRequest::new(TtsEngine::EngineId("tts.no_such_engine".into()), "Hi", "en"),
                None,
            )
            .await
            .expect_err("bad engine");
        assert_eq!(e.stage, TtsStage::GetUrl);
        let status = e.status().expect("a status");
        assert!(status >= 400, "{e}");
        let text = e.to_string();
        for part in [
            "tts.no_such_engine",
            "\"en\"",
            "\"Hi\"",
            &status.to_string(),
        ] {
            assert!(text.contains(part), "{text} lacks {part}");
        }

        let e = client
            .tts(&TtsRequest::new(mp3_engine.clone(), "Bonjour", "fr"), None)
            .await
            .expect_err("unsupported language");
        assert!(e.status().is_some_and(|s| s >= 400), "{e}");
        assert!(e.to_string().contains("\"fr\""), "{e}");

        // The engine fails while generating: tts_get_url answers 200, the download 404.
        let mut broken = TtsRequest::new(wav_engine.clone(), "Broken voice", "en");
        broken.voice = Some("no_such_voice".into());
        broken.cache = true;
        let e = client.tts(&broken, Some(&cache)).await.expect_err("404");
        assert_eq!(e.stage, TtsStage::Download, "{e}");
        assert_eq!(e.status(), Some(404), "{e}");
        assert!(e.to_string().contains("no_such_voice") || e.to_string().contains("Broken voice"));
        assert!(
            !cache.content_path(&broken.cache_key()).exists(),
            "an error was cached"
        );
    });
}

#[test]
fn services_templates_and_an_unreachable_public_url() {
    let dir = WorkDir::new("ha-services");
    // tts_get_url will answer with URLs on a port nothing listens on, as an add-on sees a
    // public URL it cannot reach (ha-sip #90).
    let ha = HomeAssistant::start_with(
        &dir,
        &HaOptions {
            public_url: Some("http://127.0.0.1:9".into()),
            ..HaOptions::default()
        },
    );
    let rt = runtime();
    let client = client_for(&ha);
    rt.block_on(async {
        assert_eq!(
            client.core_state().await.expect("config").as_deref(),
            Some("RUNNING")
        );
        client.check().await.expect("api");

        // A service call toggles the boolean (checked through the REST API).
        let before = ha.state("input_boolean.sip_test").expect("state");
        let changed = client
            .call_service(
                "input_boolean",
                "toggle",
                &json!({"entity_id": "input_boolean.sip_test"}),
            )
            .await
            .expect("service");
        assert!(changed.is_array(), "{changed}");
        let after = ha.state("input_boolean.sip_test").expect("state");
        assert_ne!(before, after);
        // Service data passes through (the script writes it into an input_text).
        client
            .call_service("script", "sip_test_script", &json!({"message": "über"}))
            .await
            .expect("script");
        let text = wait_for(Duration::from_secs(10), Duration::from_millis(20), || {
            ha.state("input_text.sip_last_event")
                .filter(|s| s == "script: über")
        });
        assert!(text.is_some());

        let e = client
            .call_service("no_such", "service", &json!({}))
            .await
            .expect_err("unknown service");
        assert_eq!(e.status(), Some(400), "{e}");
        assert!(
            e.to_string().contains("/api/services/no_such/service"),
            "{e}"
        );
        let e = client
            .call_service("light", "../template", &json!({}))
            .await
            .expect_err("invalid name");
        assert!(e.to_string().contains("not a Home Assistant name"), "{e}");

        // Templates.
        assert_eq!(
            client
                .render_template("{{ 1 + 1 }}")
                .await
                .expect("template"),
            "2"
        );
        assert_eq!(
            client
                .render_template("{{ states('input_boolean.sip_test') }}")
                .await
                .expect("template"),
            after
        );
        let e = client
            .render_template("{{ 1 + }}")
            .await
            .expect_err("syntax error");
        assert_eq!(e.status(), Some(400), "{e}");

        // TTS although the URL Home Assistant returns is unreachable: the path goes
        // through the base URL.
        let r = TtsRequest::new(TtsEngine::EngineId("sip_test_tts".into()), "Hi", "en");
        let target = client.tts_get_url(&r).await.expect("tts_get_url");
        assert!(
            target
                .url
                .as_ref()
                .is_some_and(|u| u.as_str().starts_with("http://127.0.0.1:9/")),
            "{target:?}"
        );
        let audio = client.tts(&r, None).await.expect("tts via base");
        assert_eq!(audio.audio.format(), AudioFormat::Wav);

        // debug_print over the websocket: engines, languages, voices.
        let wav = TtsEngine::EngineId("sip_test_tts".into());
        let report = client.tts_report(&wav, "en").await.expect("report");
        assert!(
            report.engine_found && report.language_supported,
            "{report:?}"
        );
        let ids: Vec<&str> = report
            .engines
            .iter()
            .map(|e| e.engine_id.as_str())
            .collect();
        assert!(
            ids.contains(&"demo") && ids.contains(&"sip_test_tts"),
            "{ids:?}"
        );
        let voices = report.voices.expect("voices");
        assert!(voices.iter().any(|v| v.voice_id == "tones"), "{voices:?}");
        let report = client
            .tts_report(&TtsEngine::EngineId("demo".into()), "fr")
            .await
            .expect("report");
        assert!(report.engine_found && !report.language_supported);
        let report = client
            .tts_report(&TtsEngine::EngineId("tts.nope".into()), "en")
            .await
            .expect("report");
        assert!(!report.engine_found);
        let bad = HaClient::new(
            HaConfig::standalone(&ha.base_url, "not-a-token", Some(&ha.websocket_url))
                .expect("config"),
        )
        .expect("client");
        let e = bad.websocket().await.expect_err("bad token");
        assert!(e.to_string().contains("authentication failed"), "{e}");
        assert!(!e.to_string().contains("not-a-token"), "{e}");
    });
}

/// Issue 20, its first part: one turn of Home Assistant's Assist pipeline over the
/// websocket API, twice in one conversation. The test speech-to-text keeps the audio it
/// was sent and answers "turn on SIP test switch"; the default conversation agent switches
/// the test entity on and says so; the answer's speech has a URL.
#[test]
fn an_assist_turn_streams_the_audio_and_brings_back_the_answer_twice() {
    assert!(have("python3"), "python3 is needed: run ./build.sh test");
    let dir = WorkDir::new("ha-assist-turn");
    let ha = HomeAssistant::start_with(
        &dir,
        &HaOptions {
            voip_port: Some(hasip_tests::ports::free_port()),
            ..HaOptions::default()
        },
    );
    let rt = runtime();
    let client = client_for(&ha);
    // One second of a 440 Hz tone at 16 kHz, in 20 ms chunks: the caller's "words".
    let speak = || {
        let (tx, rx) = tokio::sync::mpsc::channel::<Vec<i16>>(64);
        (0..50u32).for_each(|k| {
            let chunk: Vec<i16> = (0..320u32)
                .map(|i| {
                    let t = f64::from(k * 320 + i) / 16_000.0;
                    (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
                })
                .collect();
            let _ = tx.try_send(chunk);
        });
        // Dropping the sender ends the speech.
        rx
    };
    let mut reported = Vec::new();
    let first = rt
        .block_on(
            client.assist_turn(&hasip_ha::AssistRequest::default(), speak(), |p| {
                reported.push(p)
            }),
        )
        .unwrap_or_else(|e| panic!("the first turn: {e}\n{}", ha.log_text()));
    assert_eq!(first.heard, "turn on SIP test switch", "{first:?}");
    assert!(!first.answer.is_empty(), "{first:?}");
    // What the turn reported as it went: the words, then the answer.
    assert_eq!(
        reported,
        vec![
            hasip_ha::AssistProgress::Heard(first.heard.clone()),
            hasip_ha::AssistProgress::Answer {
                text: first.answer.clone(),
                conversation_id: first.conversation_id.clone()
            }
        ]
    );
    let on = wait_for(Duration::from_secs(10), Duration::from_millis(50), || {
        (ha.state("switch.sip_test_switch").as_deref() == Some("on")).then_some(())
    });
    assert!(on.is_some(), "the agent did not switch the entity on");
    // Home Assistant's speech-to-text got the whole second of audio.
    let heard = std::fs::read(ha.config_dir().join("stt_received.wav")).expect("stt_received.wav");
    assert_eq!(heard.len(), 44 + 2 * 16_000, "bytes the STT engine kept");
    let url = first.tts_url.clone().expect("the answer's speech");
    let path = url
        .split_once("/api/")
        .map(|(_, p)| p.to_owned())
        .expect("an /api/ URL");
    let (status, _) = ha.get(&path).expect("the spoken answer");
    assert_eq!(status, 200, "{url}");

    let second = rt
        .block_on(client.assist_turn(
            &hasip_ha::AssistRequest {
                conversation_id: first.conversation_id.clone(),
                ..hasip_ha::AssistRequest::default()
            },
            speak(),
            |_| {},
        ))
        .unwrap_or_else(|e| panic!("the second turn: {e}"));
    assert_eq!(second.heard, "turn on SIP test switch");
    assert!(!second.answer.is_empty(), "{second:?}");
    // Home Assistant 2024.3's default agent gives no conversation id back; a later one, or
    // another agent, does, and the next turn passes it on.
    assert_eq!(second.conversation_id, first.conversation_id);
}
