//! ha-sip 5.5's sensors (spec §6.5), when `sensors.enabled`: for every enabled account n,
//! `sensor.<prefix>_account_<n>` (`true` during a call), `sensor.<prefix>_registration_<n>`
//! (`registered`, `unregistered`, `failed`, `unknown`) and `sensor.<prefix>_last_call_<n>`
//! (`incoming`, `outgoing`, `none`), written with `POST /api/states/<entity>`.
//!
//! Updates go through one queue and one task, so an entity's states arrive in order; a
//! failed write is logged and the next one goes on.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use hasip_sip::ua::RegistrationState;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::ha::Ha;

/// One state to write.
type Update = (String, String, Value);

/// The sensors of all accounts.
#[derive(Debug)]
pub(crate) struct Sensors {
    prefix: String,
    tx: mpsc::Sender<Update>,
    /// Direction of each live call by internal id (from incoming_call or
    /// outgoing_call_initiated), for the last-call sensor.
    direction: HashMap<String, &'static str>,
}

/// Seconds since 1970 as `YYYY-MM-DDTHH:MM:SS+00:00` (what Python's `isoformat()` of an
/// aware UTC time gives, without the fraction).
pub(crate) fn iso_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn now_iso() -> String {
    iso_utc(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

/// The event fields a sensor carries, without nulls (ha-sip drops null attributes).
fn call_fields(body: &Value, keys: &[&str]) -> Map<String, Value> {
    keys.iter()
        .filter_map(|k| {
            body.get(*k)
                .filter(|v| !v.is_null())
                .map(|v| ((*k).to_owned(), v.clone()))
        })
        .collect()
}

const BASE: &[&str] = &[
    "caller",
    "called",
    "parsed_caller",
    "parsed_called",
    "sip_account",
    "call_id",
    "internal_id",
    "headers",
];

impl Sensors {
    /// Starts the writer and sets every account's sensors to their initial states.
    pub(crate) fn start(prefix: String, ha: &Ha, accounts: &[u8]) -> Self {
        let (tx, mut rx) = mpsc::channel::<Update>(1024);
        let client = ha.client.clone();
        tokio::spawn(async move {
            while let Some((entity, state, attributes)) = rx.recv().await {
                if let Err(e) = client.set_state(&entity, &state, &attributes).await {
                    tracing::warn!(entity, state, error = %e, "sensor not written");
                }
            }
        });
        let s = Self {
            prefix,
            tx,
            direction: HashMap::new(),
        };
        for &n in accounts {
            s.account(n, false, Map::new());
            s.write(
                format!("registration_{n}"),
                "unknown",
                json!({"friendly_name": format!("SIP Account {n} registration"), "icon": "mdi:phone-clock"}),
            );
            s.write(
                format!("last_call_{n}"),
                "none",
                json!({"friendly_name": format!("SIP Account {n} last call"), "icon": "mdi:phone-log"}),
            );
        }
        tracing::info!(prefix = s.prefix, accounts = ?accounts, "sensors on");
        s
    }

    fn write(&self, object: String, state: &str, attributes: Value) {
        let entity = format!("sensor.{}_{object}", self.prefix);
        if self
            .tx
            .try_send((entity.clone(), state.to_owned(), attributes))
            .is_err()
        {
            tracing::warn!(entity, state, "sensor queue full, update dropped");
        }
    }

    fn account(&self, n: u8, active: bool, mut attrs: Map<String, Value>) {
        attrs.insert("friendly_name".into(), format!("SIP Account {n}").into());
        attrs.insert(
            "icon".into(),
            if active {
                "mdi:phone-in-talk"
            } else {
                "mdi:phone"
            }
            .into(),
        );
        self.write(
            format!("account_{n}"),
            if active { "true" } else { "false" },
            Value::Object(attrs),
        );
    }

    /// Follows a call event (its webhook body).
    pub(crate) fn event(&mut self, body: &Value) {
        let Some(n) = body
            .get("sip_account")
            .and_then(Value::as_u64)
            .and_then(|n| u8::try_from(n).ok())
        else {
            return;
        };
        let id = body
            .get("internal_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        match body.get("event").and_then(Value::as_str) {
            Some("incoming_call") => {
                self.direction.insert(id, "incoming");
                self.account(n, true, call_fields(body, BASE));
            }
            Some("outgoing_call_initiated") => {
                self.direction.insert(id, "outgoing");
            }
            Some("call_established") => self.account(n, true, call_fields(body, BASE)),
            Some("call_disconnected") => {
                let direction = self.direction.remove(&id).unwrap_or("incoming");
                self.account(n, false, Map::new());
                let mut attrs = call_fields(
                    body,
                    &[
                        "caller",
                        "called",
                        "parsed_caller",
                        "parsed_called",
                        "internal_id",
                    ],
                );
                attrs.insert("timestamp".into(), now_iso().into());
                attrs.insert(
                    "friendly_name".into(),
                    format!("SIP Account {n} last call").into(),
                );
                attrs.insert("icon".into(), "mdi:phone-log".into());
                self.write(format!("last_call_{n}"), direction, Value::Object(attrs));
            }
            _ => {}
        }
    }

    /// Account `n` does not run (its configuration cannot be used).
    pub(crate) fn misconfigured(&self, n: u8, reason: &str) {
        self.write(
            format!("registration_{n}"),
            "failed",
            json!({
                "friendly_name": format!("SIP Account {n} registration"),
                "icon": "mdi:phone-alert",
                "status_code": 0,
                "reason": reason,
                "last_change": now_iso(),
            }),
        );
    }

    /// Follows a registration change of account `n`.
    pub(crate) fn registration(&self, n: u8, state: &RegistrationState) {
        let (value, code, reason, icon) = match state {
            RegistrationState::Registered { .. } => {
                ("registered", 200, "OK".to_owned(), "mdi:phone-check")
            }
            RegistrationState::Unregistered => ("unregistered", 0, String::new(), "mdi:phone-off"),
            RegistrationState::Failed { code, reason, .. } => {
                ("failed", *code, reason.clone(), "mdi:phone-alert")
            }
        };
        self.write(
            format!("registration_{n}"),
            value,
            json!({
                "friendly_name": format!("SIP Account {n} registration"),
                "icon": icon,
                "status_code": code,
                "reason": reason,
                "last_change": now_iso(),
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::iso_utc;

    #[test]
    fn iso_times_are_right_across_leap_years_and_centuries() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(iso_utc(951_782_400), "2000-02-29T00:00:00+00:00");
        assert_eq!(iso_utc(1_795_000_000), "2026-11-18T11:06:40+00:00");
        assert_eq!(iso_utc(4_107_542_399), "2100-02-28T23:59:59+00:00");
    }
}
