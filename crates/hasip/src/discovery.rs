//! The gateway as a device in Home Assistant, through MQTT discovery
//! (`<prefix>/<component>/<node_id>/<object_id>/config`, retained).
//!
//! One device per gateway (`mqtt.node_id`), and per enabled account:
//!
//! | entity | id (device "ha-sip-rs") | state |
//! |---|---|---|
//! | binary_sensor, connectivity | `binary_sensor.ha_sip_rs_account_1_registration` | on when registered (or a direct account) |
//! | sensor | `sensor.ha_sip_rs_account_1_call_state` | `idle`, `ringing`, `dialling`, `in call` |
//! | sensor | `sensor.ha_sip_rs_account_1_last_caller` | the last caller's number |
//! | event | `event.ha_sip_rs_account_1_events` | fires with every event of the account's calls |
//! | button | `button.ha_sip_rs_account_1_answer`, `_hang_up`, `_reject` | act on the account's ringing or current call |
//!
//! Each account's state is one retained JSON message (`hasip/<node>/account_<n>/state`)
//! that the three sensors read with a template; events go to `.../event` (not retained);
//! buttons publish `answer`, `hangup` or `reject` to `.../command`. Every entity is
//! unavailable when the availability topic says `offline` (the gateway's last will). The
//! configs are published again whenever the client connects and whenever Home Assistant
//! announces itself on `<prefix>/status`; a disabled account's configs are published empty,
//! which removes its entities.

use serde_json::{Value, json};

use crate::status::AccountStatus;

/// The gateway's events, as the event entity's `event_types`.
pub(crate) const EVENT_TYPES: [&str; 18] = [
    "incoming_call",
    "outgoing_call_initiated",
    "call_established",
    "call_disconnected",
    "ring_timeout",
    "dtmf_digit",
    "entered_menu",
    "timeout",
    "pin_lockout",
    "playback_done",
    "recording_started",
    "recording_stopped",
    "escalation_acknowledged",
    "escalation_failed",
    "assist_started",
    "assist_heard",
    "assist_answered",
    "assist_ended",
];

/// What a button asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Press {
    /// Answer the ringing call.
    Answer,
    /// Hang up the newest call.
    Hangup,
    /// Reject the ringing call (486, as the `reject` command).
    Reject,
}

/// The topics and payloads of the device.
#[derive(Debug, Clone)]
pub(crate) struct Discovery {
    prefix: String,
    node: String,
    availability: Option<String>,
    /// `(number, enabled)` for accounts 1 to 3.
    accounts: Vec<(u8, bool)>,
}

impl Discovery {
    /// For `node` under `prefix`; `accounts` are all three with whether each is enabled.
    pub(crate) fn new(
        prefix: &str,
        node: &str,
        availability: Option<String>,
        accounts: Vec<(u8, bool)>,
    ) -> Self {
        Self {
            prefix: prefix.trim().to_owned(),
            node: node.trim().to_owned(),
            availability,
            accounts,
        }
    }

    /// The topics to subscribe to: Home Assistant's birth topic and the buttons'.
    pub(crate) fn subscriptions(&self) -> Vec<String> {
        vec![
            format!("{}/status", self.prefix),
            format!("hasip/{}/+/command", self.node),
        ]
    }

    fn base(&self, account: u8) -> String {
        format!("hasip/{}/account_{account}", self.node)
    }

    fn device(&self) -> Value {
        let name = if self.node == "ha_sip_rs" {
            "ha-sip-rs".to_owned()
        } else {
            format!("ha-sip-rs {}", self.node)
        };
        json!({
            "identifiers": [format!("ha_sip_rs_{}", self.node)],
            "name": name,
            "manufacturer": "ha-sip-rs",
            "model": "SIP gateway",
            "sw_version": env!("CARGO_PKG_VERSION"),
        })
    }

    /// `(component, object id, config)` of one account's entities.
    fn entities(&self, n: u8) -> Vec<(&'static str, String, Value)> {
        let base = self.base(n);
        let state = format!("{base}/state");
        let command = format!("{base}/command");
        let id = |what: &str| format!("{}_account_{n}_{what}", self.node);
        let button = |what: &str, name: &str, press: &str, icon: &str| {
            (
                "button",
                id(what),
                json!({"name": format!("Account {n} {name}"), "command_topic": command,
                       "payload_press": press, "icon": icon}),
            )
        };
        vec![
            (
                "binary_sensor",
                id("registration"),
                json!({"name": format!("Account {n} registration"),
                       "device_class": "connectivity", "state_topic": state,
                       "value_template": "{{ value_json.connected }}",
                       "payload_on": "ON", "payload_off": "OFF",
                       "json_attributes_topic": state,
                       "json_attributes_template":
                           "{{ {'registration': value_json.registration, 'id_uri': value_json.id_uri, 'reason': value_json.reason} | tojson }}"}),
            ),
            (
                "sensor",
                id("call_state"),
                json!({"name": format!("Account {n} call state"), "state_topic": state,
                       "value_template": "{{ value_json.call_state }}", "icon": "mdi:phone",
                       "device_class": "enum",
                       "options": ["idle", "ringing", "dialling", "in call"]}),
            ),
            (
                "sensor",
                id("last_caller"),
                json!({"name": format!("Account {n} last caller"), "state_topic": state,
                       "value_template": "{{ value_json.last_caller }}",
                       "icon": "mdi:phone-incoming"}),
            ),
            (
                "event",
                id("events"),
                json!({"name": format!("Account {n} events"),
                       "state_topic": format!("{base}/event"),
                       "event_types": EVENT_TYPES, "icon": "mdi:phone-message"}),
            ),
            button("answer", "answer", "answer", "mdi:phone"),
            button("hang_up", "hang up", "hangup", "mdi:phone-hangup"),
            button("reject", "reject", "reject", "mdi:phone-cancel"),
        ]
    }

    /// Every config message: `(topic, payload)`, retained. Enabled accounts get their
    /// entities; disabled ones an empty payload on the same topics, which removes them.
    pub(crate) fn configs(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for &(n, enabled) in &self.accounts {
            for (component, object_id, mut config) in self.entities(n) {
                let topic = format!(
                    "{}/{component}/{}/{object_id}/config",
                    self.prefix, self.node
                );
                if !enabled {
                    out.push((topic, String::new()));
                    continue;
                }
                config["unique_id"] = json!(object_id);
                config["has_entity_name"] = json!(true);
                config["device"] = self.device();
                config["origin"] = json!({"name": "ha-sip-rs",
                    "sw_version": env!("CARGO_PKG_VERSION"),
                    "support_url": "https://github.com/ha-sip-rs/ha-sip-rs"});
                if let Some(a) = &self.availability {
                    config["availability_topic"] = json!(a);
                }
                out.push((topic, config.to_string()));
            }
        }
        out
    }

    /// One account's state message: `(topic, payload)`, retained.
    pub(crate) fn state(&self, a: &AccountStatus) -> (String, String) {
        let reason = match &a.registration {
            crate::status::Registration::Retrying { code, reason }
            | crate::status::Registration::Refused { code, reason } => format!("{code} {reason}"),
            crate::status::Registration::Misconfigured { reason } => reason.clone(),
            _ => String::new(),
        };
        let body = json!({
            "connected": if a.registration.is_up() { "ON" } else { "OFF" },
            "registration": a.registration.word(),
            "id_uri": a.id_uri,
            "reason": reason,
            "call_state": a.call_state(),
            "last_caller": a.last_caller.as_deref().unwrap_or("none"),
        });
        (format!("{}/state", self.base(a.number)), body.to_string())
    }

    /// The event entity's message for an event body: `(topic, payload)`, not retained.
    pub(crate) fn event(&self, body: &Value) -> Option<(String, String)> {
        let n = body
            .get("sip_account")
            .and_then(Value::as_u64)
            .and_then(|n| u8::try_from(n).ok())?;
        let name = body.get("event").and_then(Value::as_str)?;
        if !EVENT_TYPES.contains(&name) || !self.accounts.contains(&(n, true)) {
            return None;
        }
        let mut payload = body.clone();
        if let Some(o) = payload.as_object_mut() {
            o.insert("event_type".into(), json!(name));
        }
        Some((format!("{}/event", self.base(n)), payload.to_string()))
    }

    /// A message on a button topic: which account and what to do.
    pub(crate) fn press(&self, topic: &str, payload: &[u8]) -> Option<(u8, Press)> {
        let rest = topic.strip_prefix(&format!("hasip/{}/account_", self.node))?;
        let n: u8 = rest.strip_suffix("/command")?.parse().ok()?;
        let press = match std::str::from_utf8(payload).ok()?.trim() {
            "answer" => Press::Answer,
            "hangup" => Press::Hangup,
            "reject" => Press::Reject,
            _ => return None,
        };
        self.accounts.contains(&(n, true)).then_some((n, press))
    }

    /// Whether `topic` is Home Assistant's birth topic.
    pub(crate) fn is_birth(&self, topic: &str) -> bool {
        topic == format!("{}/status", self.prefix)
    }
}

/// The command a button press stands for: the account's newest ringing call for
/// answer and reject, its newest call for hang up.
///
/// # Errors
/// The account has no such call.
pub(crate) fn button_command(
    status: &crate::status::Status,
    account: u8,
    press: Press,
) -> Result<hasip_engine::Command, String> {
    let ringing = press != Press::Hangup;
    let number = status
        .account(account)
        .and_then(|a| a.call_for(ringing))
        .map(str::to_owned)
        .ok_or_else(|| {
            let which = if ringing { "ringing" } else { "current" };
            format!("account {account}: no {which} call")
        })?;
    Ok(match press {
        Press::Answer => hasip_engine::Command::Answer {
            number,
            webhook_to_call: None,
            menu: None,
        },
        Press::Hangup => hasip_engine::Command::Hangup { number },
        Press::Reject => hasip_engine::Command::Reject { number, code: 486 },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Status;

    fn d() -> Discovery {
        Discovery::new(
            "homeassistant",
            "ha_sip_rs",
            Some("hasip/availability".into()),
            vec![(1, true), (2, false), (3, false)],
        )
    }

    #[test]
    fn configs_follow_the_discovery_conventions() {
        let configs = d().configs();
        // Seven entities per account, for all three (two of them empty: removed).
        assert_eq!(configs.len(), 21);
        let (topic, payload) = &configs[0];
        assert_eq!(
            topic,
            "homeassistant/binary_sensor/ha_sip_rs/ha_sip_rs_account_1_registration/config"
        );
        let v: Value = serde_json::from_str(payload).unwrap();
        assert_eq!(v["unique_id"], "ha_sip_rs_account_1_registration");
        assert_eq!(v["device"]["identifiers"][0], "ha_sip_rs_ha_sip_rs");
        assert_eq!(v["device"]["name"], "ha-sip-rs");
        assert_eq!(v["availability_topic"], "hasip/availability");
        assert_eq!(v["state_topic"], "hasip/ha_sip_rs/account_1/state");
        assert!(
            configs
                .iter()
                .filter(|(t, _)| t.contains("account_2"))
                .all(|(_, p)| p.is_empty())
        );
        assert!(configs.iter().any(|(t, p)| t
            == "homeassistant/button/ha_sip_rs/ha_sip_rs_account_1_hang_up/config"
            && p.contains("\"payload_press\":\"hangup\"")));
    }

    #[test]
    fn state_event_and_buttons() {
        let d = d();
        let mut s = Status::new([(1, "sip:a@h".into(), false)]);
        s.event(
            &json!({"event": "incoming_call", "sip_account": 1, "internal_id": "c",
                         "parsed_caller": "door"}),
        );
        let (topic, payload) = d.state(&s.accounts()[0]);
        assert_eq!(topic, "hasip/ha_sip_rs/account_1/state");
        let v: Value = serde_json::from_str(&payload).unwrap();
        assert_eq!(
            (
                v["connected"].as_str(),
                v["call_state"].as_str(),
                v["last_caller"].as_str()
            ),
            (Some("ON"), Some("ringing"), Some("door"))
        );
        let (t, p) = d
            .event(&json!({"event": "dtmf_digit", "sip_account": 1, "digit": "5"}))
            .unwrap();
        assert_eq!(t, "hasip/ha_sip_rs/account_1/event");
        let v: Value = serde_json::from_str(&p).unwrap();
        assert_eq!(
            (v["event_type"].as_str(), v["digit"].as_str()),
            (Some("dtmf_digit"), Some("5"))
        );
        assert!(
            d.event(&json!({"event": "dtmf_digit", "sip_account": 2}))
                .is_none()
        );
        assert_eq!(
            d.press("hasip/ha_sip_rs/account_1/command", b"answer"),
            Some((1, Press::Answer))
        );
        assert_eq!(
            d.press("hasip/ha_sip_rs/account_2/command", b"answer"),
            None
        );
        assert_eq!(d.press("hasip/ha_sip_rs/account_1/command", b"dance"), None);
        assert!(d.is_birth("homeassistant/status"));
    }
}
