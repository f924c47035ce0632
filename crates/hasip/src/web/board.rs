//! What the dashboard shows, kept by the loop: each account and its registration, each
//! live call (caller, state, since when) and the last events. The loop writes it from the
//! engine's events and registration changes; the page's tasks read it to send a snapshot.

use std::collections::VecDeque;

use serde_json::{Value, json};

/// How many events the page's log keeps.
const LOG: usize = 100;

/// One live call as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CallView {
    /// ha-sip's `internal_id`: what the buttons' commands name.
    id: String,
    caller: String,
    called: String,
    account: u64,
    /// `ringing`, `dialling` or `in call`.
    state: &'static str,
    /// When it entered `state`, milliseconds since the Unix epoch.
    since_ms: u64,
}

/// The accounts, calls and recent events.
#[derive(Debug, Default)]
pub(crate) struct Board {
    /// Each account: number, `id_uri`, registration word, and why when it is not up.
    accounts: Vec<(u8, String, &'static str, Option<String>)>,
    calls: Vec<CallView>,
    log: VecDeque<(u64, Value)>,
    /// Finished recordings (path, caller, when), newest last: the page plays these, and
    /// only these files are served.
    recordings: VecDeque<(String, String, u64)>,
    /// The accounts' menu files (number, path), for the checker and simulator.
    menus: Vec<(u8, String)>,
}

/// How many recordings the page lists.
const RECORDINGS: usize = 50;

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_owned()
}

impl Board {
    /// Replaces the accounts' rows.
    pub(crate) fn set_accounts(
        &mut self,
        accounts: impl IntoIterator<Item = (u8, String, &'static str, Option<String>)>,
    ) {
        self.accounts = accounts.into_iter().collect();
    }

    /// An event of the engine (its webhook body), at `now_ms`.
    pub(crate) fn event(&mut self, body: &Value, now_ms: u64) {
        let id = text(body, "internal_id");
        let name = body["event"].as_str().unwrap_or_default();
        let state = match name {
            "incoming_call" => Some("ringing"),
            "outgoing_call_initiated" => Some("dialling"),
            "call_established" => Some("in call"),
            _ => None,
        };
        if name == "recording_stopped" {
            let path = text(body, "recording_file");
            if !path.is_empty() {
                self.recordings.retain(|(p, ..)| *p != path);
                if self.recordings.len() == RECORDINGS {
                    self.recordings.pop_front();
                }
                self.recordings
                    .push_back((path, text(body, "caller"), now_ms));
            }
        }
        match (name, state) {
            ("call_disconnected" | "ring_timeout", _) => self.calls.retain(|c| c.id != id),
            (_, Some(state)) if !id.is_empty() => {
                let view = CallView {
                    id: id.clone(),
                    caller: text(body, "caller"),
                    called: text(body, "called"),
                    account: body["sip_account"].as_u64().unwrap_or(0),
                    state,
                    since_ms: now_ms,
                };
                match self.calls.iter_mut().find(|c| c.id == id) {
                    Some(c) => *c = view,
                    None => self.calls.push(view),
                }
            }
            _ => {}
        }
        self.log_entry(now_ms, body.clone());
    }

    /// A command from the page that failed, for its log.
    pub(crate) fn command_failed(&mut self, error: &str, now_ms: u64) {
        self.log_entry(now_ms, json!({"event": "command_failed", "error": error}));
    }

    fn log_entry(&mut self, now_ms: u64, entry: Value) {
        if self.log.len() == LOG {
            self.log.pop_front();
        }
        self.log.push_back((now_ms, entry));
    }

    /// The accounts' menu files.
    pub(crate) fn set_menus(&mut self, menus: Vec<(u8, String)>) {
        self.menus = menus;
    }

    /// Whether `path` is a recording the page lists (the only files it serves).
    pub(crate) fn has_recording(&self, path: &str) -> bool {
        self.recordings.iter().any(|(p, ..)| p == path)
    }

    /// Everything, as the page reads it.
    pub(crate) fn snapshot(&self, now_ms: u64) -> Value {
        json!({
            "now_ms": now_ms,
            "accounts": self.accounts.iter().map(|(n, id, state, why)| json!({
                "number": n, "id_uri": id, "registration": state, "reason": why,
            })).collect::<Vec<_>>(),
            "calls": self.calls.iter().map(|c| json!({
                "id": c.id, "caller": c.caller, "called": c.called, "account": c.account,
                "state": c.state, "since_ms": c.since_ms,
            })).collect::<Vec<_>>(),
            "log": self.log.iter().rev().map(|(t, e)| json!({"at_ms": t, "event": e})).collect::<Vec<_>>(),
            "menus": self.menus.iter().map(|(n, p)| json!({"account": n, "path": p})).collect::<Vec<_>>(),
            "recordings": self.recordings.iter().rev().map(|(p, caller, t)| json!({
                "path": p, "caller": caller, "at_ms": t,
            })).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_rings_is_answered_and_leaves_and_the_log_keeps_the_last_events() {
        let mut b = Board::default();
        let ring = json!({"event": "incoming_call", "internal_id": "door", "caller": "<sip:door@x>",
                          "called": "<sip:hasip@x>", "sip_account": 1});
        b.event(&ring, 1_000);
        let s = b.snapshot(1_500);
        assert_eq!(s["calls"][0]["state"], "ringing");
        assert_eq!(s["calls"][0]["since_ms"], 1_000);
        b.event(
            &json!({"event": "call_established", "internal_id": "door", "caller": "<sip:door@x>"}),
            2_000,
        );
        assert_eq!(b.snapshot(2_000)["calls"][0]["state"], "in call");
        b.event(
            &json!({"event": "dtmf_digit", "internal_id": "door", "digit": "1"}),
            2_500,
        );
        assert_eq!(b.snapshot(2_500)["calls"].as_array().map(Vec::len), Some(1));
        b.event(
            &json!({"event": "call_disconnected", "internal_id": "door"}),
            3_000,
        );
        let s = b.snapshot(3_000);
        assert_eq!(s["calls"].as_array().map(Vec::len), Some(0));
        assert_eq!(
            s["log"][0]["event"]["event"], "call_disconnected",
            "newest first"
        );
        for i in 0..2 * LOG as u64 {
            b.event(&json!({"event": "dtmf_digit", "internal_id": "x"}), i);
        }
        assert_eq!(b.snapshot(0)["log"].as_array().map(Vec::len), Some(LOG));
        // Only finished recordings are listed and served.
        b.event(
            &json!({"event": "recording_started", "recording_file": "/r/a.wav"}),
            1,
        );
        assert!(!b.has_recording("/r/a.wav"));
        b.event(
            &json!({"event": "recording_stopped", "recording_file": "/r/a.wav",
                        "caller": "door"}),
            2,
        );
        assert!(b.has_recording("/r/a.wav") && !b.has_recording("/etc/passwd"));
        assert_eq!(b.snapshot(3)["recordings"][0]["path"], "/r/a.wav");
    }
}
