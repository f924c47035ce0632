//! The command and event wire formats of ha-sip: every JSON command of its README and
//! every webhook/MQTT event body, with the exact field names, types and defaults of ha-sip
//! (spec §3 and §6), and errors that name the field at fault.
//!
//! Parsing and serialisation only: transports (stdin, MQTT) live in the shell.
#![forbid(unsafe_code)]
#![warn(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hasip_engine::{Command, Event, EventKind};
use serde_json::{Map, Value};

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
    /// A valid ha-sip command that this build does not carry out yet.
    NotYetSupported(String),
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

/// Parses one command (a JSON value, as one stdin line or one MQTT payload carries it).
///
/// # Errors
/// A message naming the field at fault, or the unknown verb.
pub fn parse_command(value: &Value) -> Result<Request, BusError> {
    let Value::Object(obj) = value else {
        return Err(BusError(format!("not an object: {value}")));
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
    match verb.as_str() {
        "dial" => Ok(Request::Engine(Command::Dial {
            number: required_number(obj)?,
            ring_timeout: ring_timeout(obj),
            sip_account: sip_account(obj)?,
            webhook_to_call: webhooks(obj)?.unwrap_or_default(),
        })),
        "answer" => Ok(Request::Engine(Command::Answer {
            number: required_number(obj)?,
            webhook_to_call: webhooks(obj)?,
        })),
        "hangup" => Ok(Request::Engine(Command::Hangup {
            number: required_number(obj)?,
        })),
        v if VERBS.contains(&v) => Ok(Request::NotYetSupported(v.to_owned())),
        other => {
            let hint = VERBS
                .iter()
                .map(|v| (edit_distance(other, v), *v))
                .filter(|(d, _)| *d <= 2)
                .min()
                .map(|(_, v)| format!(" (did you mean \"{v}\"?)"))
                .unwrap_or_default();
            Err(BusError(format!(
                "command: unknown command {other:?}{hint}"
            )))
        }
    }
}

/// Parses a command line as stdin carries it.
///
/// # Errors
/// Invalid JSON, or an invalid command.
pub fn parse_line(line: &str) -> Result<Request, BusError> {
    let value: Value =
        serde_json::from_str(line).map_err(|e| BusError(format!("not JSON ({e}): {line}")))?;
    parse_command(&value)
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
        EventKind::IncomingCall
        | EventKind::OutgoingCallInitiated
        | EventKind::CallEstablished
        | EventKind::RingTimeout
        | EventKind::CallDisconnected => {}
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hasip_engine::CallInfo;

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
    fn missing_command_is_call_service() {
        assert_eq!(
            parse_line(r#"{"domain":"light","service":"turn_on"}"#).unwrap(),
            Request::NotYetSupported("call_service".into())
        );
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
