//! The command and event wire formats of ha-sip: every JSON command of its README and
//! every webhook/MQTT event body, with the exact field names, types and defaults of ha-sip
//! (spec §3 and §6), and errors that name the field at fault.
//!
//! Parsing and serialisation, and the MQTT client ([`mqtt`]); the shell reads stdin.
#![forbid(unsafe_code)]
#![warn(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hasip_engine::{Command, DtmfMethod, Event, EventKind, PlaybackKind, RecordingChannels};
use serde_json::{Map, Value};

pub mod mqtt;

/// A command line could not be turned into a command; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusError(pub String);

impl fmt::Display for BusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BusError {}

/// What a command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// A command the engine carries out.
    Engine(Command),
}

/// The ha-sip verbs.
pub const VERBS: &[&str] = &[
    "call_service",
    "dial",
    "hangup",
    "answer",
    "transfer",
    "bridge_audio",
    "send_dtmf",
    "play_message",
    "play_audio_file",
    "stop_playback",
    "start_recording",
    "stop_recording",
    "escalate",
    "assist",
    "stop_assist",
    "state",
    "quit",
];

fn field_str(obj: &Map<String, Value>, name: &str) -> Result<Option<String>, BusError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        // ha-sip converts a number to a string (5555 becomes "5555").
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(BusError(format!(
            "{name}: expected a string, got {}",
            kind(other)
        ))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn required_number(obj: &Map<String, Value>) -> Result<String, BusError> {
    field_str(obj, "number")?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| BusError("number: required".into()))
}

fn webhooks(obj: &Map<String, Value>) -> Result<Option<BTreeMap<String, String>>, BusError> {
    match obj.get("webhook_to_call") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Err(BusError(format!(
                    "webhook_to_call.{k}: expected a webhook id string, got {}",
                    kind(other)
                ))),
            })
            .collect::<Result<_, _>>()
            .map(Some),
        Some(other) => Err(BusError(format!(
            "webhook_to_call: expected an object of event: webhook id, got {}",
            kind(other)
        ))),
    }
}

/// ha-sip reads `ring_timeout` as float seconds; invalid values become 300.
fn ring_timeout(obj: &Map<String, Value>) -> Option<Duration> {
    let secs = match obj.get("ring_timeout")? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|s| s.is_finite() && *s > 0.0)
    .unwrap_or(300.0);
    Some(Duration::from_secs_f64(secs.min(86_400.0)))
}

/// A length in milliseconds (`tone_ms`, `gap_ms` of `send_dtmf`; ha-sip-rs additions),
/// a number or a numeric string within `range`.
fn millis(
    obj: &Map<String, Value>,
    name: &str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Option<Duration>, BusError> {
    let ms = match obj.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(other) => {
            return Err(BusError(format!(
                "{name}: expected milliseconds, got {}",
                kind(other)
            )));
        }
    };
    ms.filter(|m| m.is_finite() && (*range.start() as f64..=*range.end() as f64).contains(m))
        .map(|m| Some(Duration::from_micros((m * 1000.0) as u64)))
        .ok_or_else(|| {
            BusError(format!(
                "{name}: {} is not milliseconds from {} to {}",
                obj.get(name).map_or_else(String::new, ToString::to_string),
                range.start(),
                range.end()
            ))
        })
}

/// Whole or fractional seconds within `range` (a number or a numeric string), or `default`.
fn seconds(
    obj: &Map<String, Value>,
    name: &str,
    default: Duration,
    range: std::ops::RangeInclusive<f64>,
) -> Result<Duration, BusError> {
    let secs = match obj.get(name) {
        None | Some(Value::Null) => return Ok(default),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(other) => {
            return Err(BusError(format!(
                "{name}: expected seconds, got {}",
                kind(other)
            )));
        }
    };
    secs.filter(|s| s.is_finite() && range.contains(s))
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            BusError(format!(
                "{name}: {} is not seconds from {} to {}",
                obj.get(name).map_or_else(String::new, ToString::to_string),
                range.start(),
                range.end()
            ))
        })
}

/// `assist` (ha-sip-rs addition): `pipeline` (an id), `language`, `leave_digits` ("#"; empty:
/// none), `silence_timeout` (30 s), `end_of_speech_ms` (500).
fn assist_settings(obj: &Map<String, Value>) -> Result<hasip_engine::AssistSettings, BusError> {
    let defaults = hasip_engine::AssistSettings::default();
    let leave_digits = match field_str(obj, "leave_digits")? {
        None => defaults.leave_digits,
        Some(d) => {
            if let Some(bad) = d.chars().find(|c| !"0123456789*#ABCDabcd".contains(*c)) {
                return Err(BusError(format!(
                    "leave_digits: {bad:?} is not a key (0-9, *, #, A-D)"
                )));
            }
            d.to_ascii_uppercase()
        }
    };
    Ok(hasip_engine::AssistSettings {
        pipeline: field_str(obj, "pipeline")?.filter(|p| !p.is_empty()),
        language: field_str(obj, "language")?.filter(|l| !l.is_empty()),
        leave_digits,
        silence_timeout: seconds(
            obj,
            "silence_timeout",
            defaults.silence_timeout,
            1.0..=3600.0,
        )?,
        end_of_speech: millis(obj, "end_of_speech_ms", 200..=5000)?
            .unwrap_or(defaults.end_of_speech),
    })
}

/// `escalate` (ha-sip-rs addition): `numbers` (SIP URIs, or objects with `number`,
/// `ring_timeout` and `message`), `message`, `acknowledge_digit` (1), `acknowledge_timeout`
/// (30 s), `ring_timeout` (30 s), `id`, `sip_account`.
fn escalation(obj: &Map<String, Value>) -> Result<hasip_engine::EscalationRequest, BusError> {
    let list = match obj.get("numbers") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(Value::Array(_)) | None | Some(Value::Null) => {
            return Err(BusError("numbers: required, a list of SIP URIs".into()));
        }
        Some(other) => {
            return Err(BusError(format!(
                "numbers: expected a list of SIP URIs, got {}",
                kind(other)
            )));
        }
    };
    let mut targets = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let target = match item {
            Value::String(s) if !s.trim().is_empty() => hasip_engine::EscalationTarget {
                number: s.trim().to_owned(),
                ring_timeout: None,
                message: None,
            },
            Value::Object(o) => hasip_engine::EscalationTarget {
                number: field_str(o, "number")?
                    .filter(|s| !s.trim().is_empty())
                    .ok_or_else(|| BusError(format!("numbers[{i}].number: required")))?,
                ring_timeout: match o.get("ring_timeout") {
                    None | Some(Value::Null) => None,
                    Some(_) => Some(
                        seconds(o, "ring_timeout", Duration::ZERO, 1.0..=3600.0)
                            .map_err(|e| BusError(format!("numbers[{i}].{}", e.0)))?,
                    ),
                },
                message: field_str(o, "message")?.filter(|m| !m.trim().is_empty()),
            },
            other => {
                return Err(BusError(format!(
                    "numbers[{i}]: expected a SIP URI or an object with number, got {}",
                    kind(other)
                )));
            }
        };
        targets.push(target);
    }
    let digit = field_str(obj, "acknowledge_digit")?.unwrap_or_else(|| "1".into());
    let mut chars = digit.trim().chars();
    let acknowledge_digit = match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_digit() || c == '*' || c == '#' => c,
        _ => {
            return Err(BusError(format!(
                "acknowledge_digit: {digit:?} is not one key (0-9, * or #)"
            )));
        }
    };
    Ok(hasip_engine::EscalationRequest {
        id: field_str(obj, "id")?.filter(|s| !s.trim().is_empty()),
        targets,
        message: required_str(obj, "message")?,
        acknowledge_digit,
        acknowledge_timeout: seconds(
            obj,
            "acknowledge_timeout",
            Duration::from_secs(30),
            1.0..=600.0,
        )?,
        ring_timeout: seconds(obj, "ring_timeout", Duration::from_secs(30), 1.0..=3600.0)?,
        sip_account: sip_account(obj)?,
    })
}

/// ha-sip converts `sip_account` to an integer (int or string accepted).
fn sip_account(obj: &Map<String, Value>) -> Result<Option<u8>, BusError> {
    match obj.get("sip_account") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u8::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                BusError(format!(
                    "sip_account: {n} is not an account number (1, 2 or 3)"
                ))
            }),
        Some(Value::String(s)) => s.trim().parse::<u8>().map(Some).map_err(|_| {
            BusError(format!(
                "sip_account: {s:?} is not an account number (1, 2 or 3)"
            ))
        }),
        Some(other) => Err(BusError(format!(
            "sip_account: expected 1, 2 or 3, got {}",
            kind(other)
        ))),
    }
}

fn required_str(obj: &Map<String, Value>, name: &str) -> Result<String, BusError> {
    field_str(obj, name)?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| BusError(format!("{name}: required")))
}

/// ha-sip reads flags with Python truthiness: `true`, non-zero numbers and non-empty
/// strings are true.
fn flag(obj: &Map<String, Value>, name: &str) -> bool {
    match obj.get(name) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

/// `channels` of `start_recording` (ha-sip-rs addition): `stereo` (remote left, ours
/// right) or `mono` (both mixed); absent: the gateway's `--recording-channels`.
fn recording_channels(obj: &Map<String, Value>) -> Result<Option<RecordingChannels>, BusError> {
    let text = match obj.get("channels") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(BusError(format!(
                "channels: expected \"stereo\" or \"mono\", got {}",
                kind(other)
            )));
        }
    };
    RecordingChannels::parse(&text)
        .map(Some)
        .ok_or_else(|| BusError(format!("channels: {text:?} is not \"stereo\" or \"mono\"")))
}

/// `post_action` of play commands: only `hangup` does something (spec §3.4.8).
fn hangup_after(obj: &Map<String, Value>) -> bool {
    matches!(obj.get("post_action"), Some(Value::String(s)) if s.trim() == "hangup")
}

fn menu(obj: &Map<String, Value>) -> Result<Option<Box<hasip_menu::Menu>>, BusError> {
    match obj.get("menu") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) if m.is_empty() => Ok(None),
        Some(v) => hasip_menu::Menu::from_json(v)
            .map(|m| Some(Box::new(m)))
            .map_err(|e| BusError(format!("menu: {e}"))),
    }
}

/// Parses one command (a JSON value, as one stdin line or one MQTT payload carries it).
///
/// # Errors
/// A message naming the field at fault, or the unknown verb.
pub fn parse_command(value: &Value) -> Result<Request, BusError> {
    let Value::Object(obj) = value else {
        return Err(BusError(format!(
            "not an object: {}",
            excerpt(&value.to_string())
        )));
    };
    // A missing or null `command` means call_service (spec §3.2).
    let verb = match obj.get("command") {
        None | Some(Value::Null) => "call_service".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(BusError(format!(
                "command: expected a string, got {}",
                kind(other)
            )));
        }
    };
    let cmd = match verb.as_str() {
        "call_service" => {
            let (domain, service) = match (field_str(obj, "domain")?, field_str(obj, "service")?) {
                (Some(d), Some(s)) if !d.is_empty() && !s.is_empty() => (d, s),
                _ => {
                    return Err(BusError(
                        "domain, service: both are required for call_service".into(),
                    ));
                }
            };
            let service_data = match obj.get("service_data") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(m)) => m.clone(),
                Some(other) => {
                    return Err(BusError(format!(
                        "service_data: expected an object, got {}",
                        kind(other)
                    )));
                }
            };
            Command::CallService {
                domain,
                service,
                entity_id: field_str(obj, "entity_id")?,
                service_data,
            }
        }
        "dial" => Command::Dial {
            number: required_number(obj)?,
            ring_timeout: ring_timeout(obj),
            sip_account: sip_account(obj)?,
            webhook_to_call: webhooks(obj)?.unwrap_or_default(),
            menu: menu(obj)?,
        },
        "answer" => Command::Answer {
            number: required_number(obj)?,
            webhook_to_call: webhooks(obj)?,
            menu: menu(obj)?,
        },
        "reject" => {
            let code = match obj.get("code") {
                None | Some(Value::Null) => 486,
                Some(Value::Number(n)) => n
                    .as_u64()
                    .and_then(|c| u16::try_from(c).ok())
                    .filter(|c| (400..700).contains(c))
                    .ok_or_else(|| {
                        BusError(format!("code: {n} is not a final error status (400-699)"))
                    })?,
                Some(other) => {
                    return Err(BusError(format!(
                        "code: expected a status such as 486 or 603, got {}",
                        kind(other)
                    )));
                }
            };
            Command::Reject {
                number: required_number(obj)?,
                code,
            }
        }
        "hangup" => Command::Hangup {
            number: required_number(obj)?,
        },
        "transfer" => Command::Transfer {
            number: required_number(obj)?,
            transfer_to: required_str(obj, "transfer_to")?,
        },
        "bridge_audio" => Command::BridgeAudio {
            number: required_number(obj)?,
            bridge_to: required_str(obj, "bridge_to")?,
        },
        "send_dtmf" => {
            // ha-sip checks the method before the digits.
            let method = match field_str(obj, "method")?.as_deref() {
                None | Some("in_band") => DtmfMethod::InBand,
                Some("rfc2833") => DtmfMethod::Rfc2833,
                Some("sip_info") => DtmfMethod::SipInfo,
                Some(other) => {
                    return Err(BusError(format!(
                        "method: {other:?}; must be one of in_band, rfc2833, sip_info"
                    )));
                }
            };
            Command::SendDtmf {
                number: required_number(obj)?,
                digits: required_str(obj, "digits")?,
                method,
                tone: millis(obj, "tone_ms", 20..=5000)?,
                gap: millis(obj, "gap_ms", 0..=5000)?,
            }
        }
        "play_message" => Command::PlayMessage {
            number: required_number(obj)?,
            message: required_str(obj, "message")?,
            language: field_str(obj, "tts_language")?.filter(|l| !l.is_empty()),
            handle_as_template: flag(obj, "handle_as_template"),
            cache_audio: flag(obj, "cache_audio"),
            wait_for_audio_to_finish: flag(obj, "wait_for_audio_to_finish"),
            hangup_after: hangup_after(obj),
        },
        "play_audio_file" => Command::PlayAudioFile {
            number: required_number(obj)?,
            audio_file: required_str(obj, "audio_file")?,
            cache_audio: flag(obj, "cache_audio"),
            wait_for_audio_to_finish: flag(obj, "wait_for_audio_to_finish"),
            hangup_after: hangup_after(obj),
        },
        "stop_playback" => Command::StopPlayback {
            number: required_number(obj)?,
        },
        "start_recording" => Command::StartRecording {
            number: required_number(obj)?,
            recording_file: required_str(obj, "recording_file")?,
            channels: recording_channels(obj)?,
        },
        "stop_recording" => Command::StopRecording {
            number: required_number(obj)?,
        },
        "state" => Command::State,
        "quit" => Command::Quit,
        "escalate" => Command::Escalate(Box::new(escalation(obj)?)),
        "assist" => Command::Assist {
            number: required_number(obj)?,
            settings: assist_settings(obj)?,
        },
        "stop_assist" => Command::StopAssist {
            number: required_number(obj)?,
        },
        other => {
            let hint = VERBS
                .iter()
                .chain(std::iter::once(&"reject"))
                .map(|v| (edit_distance(other, v), *v))
                .filter(|(d, _)| *d <= 2)
                .min()
                .map(|(_, v)| format!(" (did you mean \"{v}\"?)"))
                .unwrap_or_default();
            return Err(BusError(format!(
                "command: unknown command {other:?}{hint}"
            )));
        }
    };
    Ok(Request::Engine(cmd))
}

/// Parses a command line as stdin carries it.
///
/// # Errors
/// Invalid JSON, or an invalid command.
pub fn parse_line(line: &str) -> Result<Request, BusError> {
    let value: Value = serde_json::from_str(line)
        .map_err(|e| BusError(format!("not JSON ({e}): {}", excerpt(line))))?;
    parse_command(&value)
}

/// At most 200 characters of `s` for an error message (the log and the MQTT state topic
/// must not carry a whole oversized line).
fn excerpt(s: &str) -> String {
    const MAX: usize = 200;
    match s.char_indices().nth(MAX) {
        None => s.to_owned(),
        Some((cut, _)) => format!("{}… ({} bytes in all)", &s[..cut], s.len()),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The state-topic body for a command that failed (a ha-sip-rs addition: ha-sip only
/// logged it). `source` is where the command came from (`stdin`, `mqtt`, `menu`).
pub fn command_error_json(source: &str, error: &str) -> Value {
    let mut m = Map::new();
    m.insert("event".into(), "command_error".into());
    m.insert("source".into(), source.into());
    m.insert("error".into(), error.into());
    Value::Object(m)
}

/// The JSON body of an event, exactly as ha-sip posts it (spec §6.2: the base fields first,
/// then the event's own fields).
pub fn event_json(ev: &Event) -> Value {
    let c = &ev.call;
    let mut m = Map::new();
    m.insert("event".into(), ev.kind.name().into());
    m.insert("caller".into(), c.caller.clone().into());
    m.insert("called".into(), c.called.clone().into());
    m.insert(
        "parsed_caller".into(),
        c.parsed_caller.clone().map_or(Value::Null, Value::from),
    );
    m.insert(
        "parsed_called".into(),
        c.parsed_called.clone().map_or(Value::Null, Value::from),
    );
    m.insert("sip_account".into(), c.sip_account.into());
    m.insert(
        "call_id".into(),
        c.call_id.clone().map_or(Value::Null, Value::from),
    );
    m.insert("internal_id".into(), c.internal_id.clone().into());
    let headers: Map<String, Value> = c
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().map_or(Value::Null, Value::from)))
        .collect();
    m.insert("headers".into(), Value::Object(headers));
    match &ev.kind {
        EventKind::DtmfDigit(d) => {
            m.insert("digit".into(), d.to_string().into());
        }
        EventKind::EnteredMenu(id) => {
            m.insert("menu_id".into(), id.clone().into());
        }
        EventKind::Timeout(id) | EventKind::PinLockout(id) => {
            m.insert(
                "menu_id".into(),
                id.clone().map_or(Value::Null, Value::from),
            );
        }
        EventKind::PlaybackDone(PlaybackKind::Message(text)) => {
            m.insert("type".into(), "message".into());
            m.insert("message".into(), text.clone().into());
        }
        EventKind::PlaybackDone(PlaybackKind::AudioFile(path)) => {
            m.insert("type".into(), "audio_file".into());
            m.insert("audio_file".into(), path.clone().into());
        }
        EventKind::AssistHeard(text) | EventKind::AssistAnswered(text) => {
            m.insert("text".into(), text.clone().into());
        }
        EventKind::AssistEnded(reason) => {
            m.insert("reason".into(), reason.clone().into());
        }
        EventKind::RecordingStarted(f) | EventKind::RecordingStopped(f) => {
            m.insert("recording_file".into(), f.clone().into());
        }
        EventKind::EscalationAcknowledged(r) | EventKind::EscalationFailed(r) => {
            m.insert("escalation_id".into(), r.id.clone().into());
            m.insert(
                "numbers".into(),
                Value::Array(r.numbers.iter().cloned().map(Value::from).collect()),
            );
            let attempts: Vec<Value> = r
                .attempts
                .iter()
                .map(|(n, o)| serde_json::json!({"number": n, "outcome": o}))
                .collect();
            m.insert("attempts".into(), Value::Array(attempts));
            m.insert(
                "acknowledged_by".into(),
                r.acknowledged_by.clone().map_or(Value::Null, Value::from),
            );
        }
        EventKind::IncomingCall
        | EventKind::OutgoingCallInitiated
        | EventKind::CallEstablished
        | EventKind::RingTimeout
        | EventKind::CallDisconnected
        | EventKind::AssistStarted => {}
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hasip_engine::CallInfo;

    #[test]
    fn errors_quote_at_most_an_excerpt_of_a_huge_line() {
        let line = "x".repeat(60_000);
        let e = parse_line(&line).unwrap_err().0;
        assert!(e.starts_with("not JSON ("), "{e}");
        assert!(e.len() < 400 && e.ends_with("(60000 bytes in all)"), "{e}");
        let e = parse_line(&format!("[\"{}\"]", "é".repeat(1000)))
            .unwrap_err()
            .0;
        assert!(e.starts_with("not an object: [") && e.len() < 600, "{e}");
    }

    #[test]
    fn dial_with_every_field_as_home_assistant_sends_it() {
        let r = parse_line(
            r#"{"command": "dial", "number": "sip:**620@fritz.box", "ring_timeout": "15", "sip_account": 2, "webhook_to_call": {"call_established": "hook1"}}"#,
        )
        .unwrap();
        let Request::Engine(Command::Dial {
            number,
            ring_timeout,
            sip_account,
            webhook_to_call,
            ..
        }) = r
        else {
            panic!()
        };
        assert_eq!(number, "sip:**620@fritz.box");
        assert_eq!(ring_timeout, Some(Duration::from_secs(15)));
        assert_eq!(sip_account, Some(2));
        assert_eq!(
            webhook_to_call.get("call_established").map(String::as_str),
            Some("hook1")
        );
    }

    #[test]
    fn numbers_become_strings_and_bad_ring_timeouts_become_300() {
        let r = parse_line(r#"{"command":"hangup","number":5555}"#).unwrap();
        assert_eq!(
            r,
            Request::Engine(Command::Hangup {
                number: "5555".into()
            })
        );
        let r =
            parse_line(r#"{"command":"dial","number":"sip:a@b","ring_timeout":"soon"}"#).unwrap();
        assert!(
            matches!(r, Request::Engine(Command::Dial { ring_timeout: Some(d), .. }) if d == Duration::from_secs(300))
        );
    }

    #[test]
    fn assist_takes_its_settings_and_names_a_bad_one() {
        let r = parse_line(r#"{"command":"assist","number":"self"}"#).unwrap();
        assert_eq!(
            r,
            Request::Engine(Command::Assist {
                number: "self".into(),
                settings: hasip_engine::AssistSettings::default()
            })
        );
        let r = parse_line(
            r#"{"command":"assist","number":"door","pipeline":"p1","language":"de",
                "leave_digits":"0#a","silence_timeout":"12.5","end_of_speech_ms":400}"#,
        )
        .unwrap();
        assert_eq!(
            r,
            Request::Engine(Command::Assist {
                number: "door".into(),
                settings: hasip_engine::AssistSettings {
                    pipeline: Some("p1".into()),
                    language: Some("de".into()),
                    leave_digits: "0#A".into(),
                    silence_timeout: Duration::from_millis(12_500),
                    end_of_speech: Duration::from_millis(400),
                }
            })
        );
        for (line, want) in [
            (
                r#"{"command":"assist","number":"d","leave_digits":"1x"}"#,
                "leave_digits: 'x' is not a key (0-9, *, #, A-D)",
            ),
            (
                r#"{"command":"assist","number":"d","end_of_speech_ms":50}"#,
                "end_of_speech_ms: 50 is not milliseconds from 200 to 5000",
            ),
            (
                r#"{"command":"assist","number":"d","silence_timeout":0}"#,
                "silence_timeout: 0 is not seconds from 1 to 3600",
            ),
            (r#"{"command":"assist"}"#, "number: required"),
            (
                r#"{"command":"asist","number":"d"}"#,
                "command: unknown command \"asist\" (did you mean \"assist\"?)",
            ),
        ] {
            let e = parse_line(line).unwrap_err();
            assert!(e.0.starts_with(want), "{line}: {e:?}");
        }
        assert_eq!(
            parse_line(r#"{"command":"stop_assist","number":"d"}"#).unwrap(),
            Request::Engine(Command::StopAssist { number: "d".into() })
        );
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            parse_line(r#"{"command":"dial"}"#).unwrap_err().0,
            "number: required"
        );
        assert_eq!(
            parse_line(r#"{"command":"dail","number":"x"}"#)
                .unwrap_err()
                .0,
            "command: unknown command \"dail\" (did you mean \"dial\"?)"
        );
        assert!(
            parse_line(r#""hangup""#)
                .unwrap_err()
                .0
                .starts_with("not an object")
        );
        assert!(parse_line("{nope").unwrap_err().0.starts_with("not JSON"));
        assert_eq!(
            parse_line(r#"{"command":"answer","number":"x","webhook_to_call":{"a":1}}"#)
                .unwrap_err()
                .0,
            "webhook_to_call.a: expected a webhook id string, got a number"
        );
        assert!(
            parse_line(r#"{"command":"dial","number":"x","sip_account":"two"}"#)
                .unwrap_err()
                .0
                .starts_with("sip_account:")
        );
    }

    #[test]
    fn missing_command_is_call_service_with_service_data() {
        let r = parse_line(r#"{"domain":"script","service":"turn_on","entity_id":"script.x","service_data":{"variables":{"song":"a"}}}"#).unwrap();
        let Request::Engine(Command::CallService {
            domain,
            service,
            entity_id,
            service_data,
        }) = r
        else {
            panic!()
        };
        assert_eq!(
            (domain.as_str(), service.as_str(), entity_id.as_deref()),
            ("script", "turn_on", Some("script.x"))
        );
        assert_eq!(
            service_data.get("variables").and_then(|v| v.get("song")),
            Some(&Value::from("a"))
        );
        assert!(
            parse_line(r#"{"domain":"light"}"#)
                .unwrap_err()
                .0
                .starts_with("domain, service")
        );
    }

    #[test]
    fn start_recording_takes_stereo_or_mono_and_names_a_bad_value() {
        let channels = |line: &str| match parse_line(line) {
            Ok(Request::Engine(Command::StartRecording { channels, .. })) => Ok(channels),
            Ok(Request::Engine(other)) => panic!("{other:?}"),
            Err(e) => Err(e.0),
        };
        let base = r#"{"command":"start_recording","number":"x","recording_file":"/media/r.wav""#;
        assert_eq!(channels(&format!("{base}}}")), Ok(None));
        assert_eq!(
            channels(&format!(r#"{base},"channels":"Mono"}}"#)),
            Ok(Some(RecordingChannels::Mono))
        );
        assert_eq!(
            channels(&format!(r#"{base},"channels":2}}"#)),
            Ok(Some(RecordingChannels::Stereo))
        );
        assert_eq!(
            channels(&format!(r#"{base},"channels":"quad"}}"#)),
            Err(r#"channels: "quad" is not "stereo" or "mono""#.to_owned())
        );
        assert!(
            channels(&format!(r#"{base},"channels":[1]}}"#))
                .unwrap_err()
                .starts_with("channels: expected")
        );
    }

    #[test]
    fn every_verb_parses_with_its_fields() {
        let ok = [
            r#"{"command":"transfer","number":"x","transfer_to":"sip:a@b"}"#,
            r#"{"command":"bridge_audio","number":"self","bridge_to":"x"}"#,
            r#"{"command":"send_dtmf","number":"x","digits":"12#","method":"sip_info"}"#,
            r#"{"command":"play_message","number":"x","message":"hi","tts_language":"de","cache_audio":true,"post_action":"hangup"}"#,
            r#"{"command":"play_audio_file","number":"x","audio_file":"/media/a.mp3"}"#,
            r#"{"command":"stop_playback","number":"x"}"#,
            r#"{"command":"start_recording","number":"x","recording_file":"/media/r.wav"}"#,
            r#"{"command":"stop_recording","number":"x"}"#,
            r#"{"command":"state"}"#,
            r#"{"command":"quit"}"#,
            r#"{"command":"reject","number":"x","code":603}"#,
            r#"{"command":"dial","number":"sip:a@b","menu":{"message":"hello","choices":{"1":{"message":"one"}}}}"#,
        ];
        for line in ok {
            assert!(parse_line(line).is_ok(), "{line}: {:?}", parse_line(line));
        }
        let r = parse_line(
            r#"{"command":"play_message","number":"x","message":"hi","post_action":"return"}"#,
        )
        .unwrap();
        assert!(
            matches!(
                r,
                Request::Engine(Command::PlayMessage {
                    hangup_after: false,
                    ..
                })
            ),
            "only hangup counts"
        );
    }

    #[test]
    fn send_dtmf_takes_tone_and_gap_lengths() {
        let r = parse_line(
            r#"{"command":"send_dtmf","number":"x","digits":"1","tone_ms":400,"gap_ms":"250"}"#,
        )
        .unwrap();
        let Request::Engine(Command::SendDtmf { tone, gap, .. }) = r else {
            panic!("{r:?}");
        };
        assert_eq!(tone, Some(Duration::from_millis(400)));
        assert_eq!(gap, Some(Duration::from_millis(250)));
    }

    #[test]
    fn field_errors_name_the_field() {
        let cases = [
            (
                r#"{"command":"send_dtmf","number":"x","digits":"1","method":"tone"}"#,
                "method: \"tone\"; must be one of in_band, rfc2833, sip_info",
            ),
            (
                r#"{"command":"send_dtmf","number":"x"}"#,
                "digits: required",
            ),
            (
                r#"{"command":"send_dtmf","number":"x","digits":"1","tone_ms":10}"#,
                "tone_ms: 10 is not milliseconds from 20 to 5000",
            ),
            (
                r#"{"command":"send_dtmf","number":"x","digits":"1","gap_ms":"soon"}"#,
                "gap_ms: \"soon\" is not milliseconds from 0 to 5000",
            ),
            (
                r#"{"command":"transfer","number":"x"}"#,
                "transfer_to: required",
            ),
            (
                r#"{"command":"reject","number":"x","code":200}"#,
                "code: 200 is not a final error status (400-699)",
            ),
            (
                r#"{"command":"dial","number":"sip:a@b","menu":{"choices":{"1":{"post_action":"hangupp"}}}}"#,
                "menu: ",
            ),
        ];
        for (line, expected) in cases {
            let e = parse_line(line).unwrap_err().0;
            assert!(e.starts_with(expected), "{line}: {e}");
        }
    }

    #[test]
    fn event_body_has_ha_sip_fields_in_order() {
        let ev = Event {
            kind: EventKind::DtmfDigit('5'),
            call: CallInfo {
                caller: "\"Door\" <sip:door@h>".into(),
                called: "<sip:hasip@h>".into(),
                parsed_caller: Some("door".into()),
                parsed_called: Some("hasip".into()),
                sip_account: 1,
                call_id: Some("c1".into()),
                internal_id: "\"Door\" <sip:door@h>".into(),
                headers: BTreeMap::new(),
            },
            call_webhook: None,
        };
        assert_eq!(
            event_json(&ev).to_string(),
            r#"{"event":"dtmf_digit","caller":"\"Door\" <sip:door@h>","called":"<sip:hasip@h>","parsed_caller":"door","parsed_called":"hasip","sip_account":1,"call_id":"c1","internal_id":"\"Door\" <sip:door@h>","headers":{},"digit":"5"}"#
        );
    }
}
