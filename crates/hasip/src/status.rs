//! What the gateway knows about itself, for those who ask: each account's registration, its
//! calls and its last caller. The health check (`hasip health`, `health.rs`) and the MQTT
//! device (`discovery.rs`) read it; the loop keeps it up to date from the engine's
//! registration outputs and events.

use hasip_sip::ua::RegistrationState;
use serde_json::{Value, json};

/// Where an account's registration stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Registration {
    /// No registrar: direct calls only, nothing to register.
    Direct,
    /// The first REGISTER has not been answered yet.
    Registering,
    /// Registered.
    Registered,
    /// The last attempt failed for a reason that may pass (no answer, a transport error,
    /// a server error); the next attempt is scheduled.
    Retrying {
        /// Status code (408 for no answer, 503 for a transport error).
        code: u16,
        /// Reason phrase or cause.
        reason: String,
    },
    /// The registrar refused the account (wrong credentials, forbidden, unknown user): it
    /// retries, but the user has to change something.
    Refused {
        /// Status code.
        code: u16,
        /// Reason phrase.
        reason: String,
    },
    /// Unregistered (at shutdown).
    Unregistered,
    /// The account does not run: its configuration cannot be used (an `incoming_call_file`
    /// that is missing or does not load). The other accounts run.
    Misconfigured {
        /// The error, naming the file, line and key.
        reason: String,
    },
}

impl Registration {
    fn from_state(state: &RegistrationState) -> Self {
        match state {
            RegistrationState::Registered { .. } => Self::Registered,
            RegistrationState::Unregistered => Self::Unregistered,
            RegistrationState::Failed { code, reason, .. } => {
                let (code, reason) = (*code, reason.clone());
                // 408: no answer; 429: slow down; 5xx: the server's trouble. The other
                // final 4xx and 6xx answers refuse this account as configured.
                if code == 408 || code == 429 || (500..600).contains(&code) {
                    Self::Retrying { code, reason }
                } else {
                    Self::Refused { code, reason }
                }
            }
        }
    }

    /// A word for people and for the MQTT sensor's attributes.
    pub(crate) fn word(&self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Registering => "registering",
            Self::Registered => "registered",
            Self::Retrying { .. } => "retrying",
            Self::Refused { .. } => "refused",
            Self::Unregistered => "unregistered",
            Self::Misconfigured { .. } => "misconfigured",
        }
    }

    /// Whether calls can reach the account (the connectivity sensor).
    pub(crate) fn is_up(&self) -> bool {
        matches!(self, Self::Direct | Self::Registered)
    }
}

/// Where one call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum CallState {
    /// We dialled; the other side has not answered.
    Dialling,
    /// It rings here.
    Ringing,
    /// Answered (settling or established).
    InCall,
}

impl CallState {
    fn word(self) -> &'static str {
        match self {
            Self::Dialling => "dialling",
            Self::Ringing => "ringing",
            Self::InCall => "in call",
        }
    }
}

/// One account's state.
#[derive(Debug, Clone)]
pub(crate) struct AccountStatus {
    /// 1, 2 or 3 (`sip`, `sip_2`, `sip_3`).
    pub number: u8,
    /// Its `id_uri`.
    pub id_uri: String,
    /// Its registration.
    pub registration: Registration,
    /// Its live calls by internal id, in the order they began.
    calls: Vec<(String, CallState)>,
    /// Who called last (`parsed_caller`, else `caller`).
    pub last_caller: Option<String>,
}

impl AccountStatus {
    /// `idle`, `dialling`, `ringing` or `in call`: the most advanced of its calls.
    pub(crate) fn call_state(&self) -> &'static str {
        self.calls
            .iter()
            .map(|(_, s)| *s)
            .max()
            .map_or("idle", CallState::word)
    }

    /// The call a button acts on: the newest ringing call for `answer` and `reject`, the
    /// newest call in any state for `hang up`.
    pub(crate) fn call_for(&self, ringing_only: bool) -> Option<&str> {
        self.calls
            .iter()
            .rev()
            .find(|(_, s)| !ringing_only || *s == CallState::Ringing)
            .map(|(id, _)| id.as_str())
    }
}

/// All accounts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Status {
    accounts: Vec<AccountStatus>,
}

impl Status {
    /// The enabled accounts: `(number, id_uri, has a registrar)`.
    pub(crate) fn new(accounts: impl IntoIterator<Item = (u8, String, bool)>) -> Self {
        Self {
            accounts: accounts
                .into_iter()
                .map(|(number, id_uri, registers)| AccountStatus {
                    number,
                    id_uri,
                    registration: if registers {
                        Registration::Registering
                    } else {
                        Registration::Direct
                    },
                    calls: Vec::new(),
                    last_caller: None,
                })
                .collect(),
        }
    }

    /// Adds an account that does not run, with why.
    pub(crate) fn misconfigured(&mut self, number: u8, id_uri: String, reason: String) {
        self.accounts.push(AccountStatus {
            number,
            id_uri,
            registration: Registration::Misconfigured { reason },
            calls: Vec::new(),
            last_caller: None,
        });
        self.accounts.sort_by_key(|a| a.number);
    }

    /// The accounts.
    pub(crate) fn accounts(&self) -> &[AccountStatus] {
        &self.accounts
    }

    /// Account `number`.
    pub(crate) fn account(&self, number: u8) -> Option<&AccountStatus> {
        self.accounts.iter().find(|a| a.number == number)
    }

    /// A registration output. Returns whether anything changed.
    pub(crate) fn registration(&mut self, account: u8, state: &RegistrationState) -> bool {
        let Some(a) = self.accounts.iter_mut().find(|a| a.number == account) else {
            return false;
        };
        let new = Registration::from_state(state);
        let changed = a.registration != new;
        a.registration = new;
        changed
    }

    /// An event body as the webhooks get it. Returns the account whose state it changed.
    pub(crate) fn event(&mut self, body: &Value) -> Option<u8> {
        let number = body
            .get("sip_account")
            .and_then(Value::as_u64)
            .and_then(|n| u8::try_from(n).ok())?;
        let id = body.get("internal_id").and_then(Value::as_str)?;
        let a = self.accounts.iter_mut().find(|a| a.number == number)?;
        let set = |calls: &mut Vec<(String, CallState)>, state: CallState| match calls
            .iter_mut()
            .find(|(c, _)| c == id)
        {
            Some((_, s)) => *s = state,
            None => calls.push((id.to_owned(), state)),
        };
        match body.get("event").and_then(Value::as_str)? {
            "incoming_call" => {
                set(&mut a.calls, CallState::Ringing);
                a.last_caller = ["parsed_caller", "caller"]
                    .iter()
                    .find_map(|k| body.get(*k).and_then(Value::as_str))
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned);
            }
            "outgoing_call_initiated" => set(&mut a.calls, CallState::Dialling),
            "call_established" => set(&mut a.calls, CallState::InCall),
            "call_disconnected" => a.calls.retain(|(c, _)| c != id),
            _ => return None,
        }
        Some(number)
    }

    /// The health report: healthy when every account is registered, direct, or retrying
    /// after a failure that may pass; unhealthy when a registrar refused an account. An
    /// account that does not run for its configuration leaves the report healthy (a restart
    /// by the watchdog cannot mend a file, and would cut the other accounts' calls); it is
    /// named in the summary and its reason given.
    pub(crate) fn health(&self, calls: usize) -> Value {
        let refused: Vec<String> = self
            .accounts
            .iter()
            .filter_map(|a| match &a.registration {
                Registration::Refused { code, reason } => Some(format!(
                    "account {} ({}): the registrar refused the registration: {code} {reason}",
                    a.number, a.id_uri
                )),

                _ => None,
            })
            .collect();
        let accounts: Vec<Value> = self
            .accounts
            .iter()
            .map(|a| {
                let mut v = json!({
                    "account": a.number,
                    "id_uri": a.id_uri,
                    "registration": a.registration.word(),
                    "call_state": a.call_state(),
                });
                if let Registration::Retrying { code, reason }
                | Registration::Refused { code, reason } = &a.registration
                {
                    v["code"] = json!(code);
                    v["reason"] = json!(reason);
                }
                if let Registration::Misconfigured { reason } = &a.registration {
                    v["reason"] = json!(reason);
                }
                v
            })
            .collect();
        let summary = if refused.is_empty() {
            let parts: Vec<String> = self
                .accounts
                .iter()
                .map(|a| format!("account {} {}", a.number, a.registration.word()))
                .collect();
            if parts.is_empty() {
                format!("running, no accounts, {calls} calls")
            } else {
                format!("running, {}, {calls} calls", parts.join(", "))
            }
        } else {
            refused.join("; ")
        };
        json!({
            "healthy": refused.is_empty(),
            "summary": summary,
            "calls": calls,
            "accounts": accounts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(code: u16) -> RegistrationState {
        RegistrationState::Failed {
            code,
            reason: "X".into(),
            retry_in: 30,
        }
    }

    #[test]
    fn health_follows_registration() {
        let mut s = Status::new([(1, "sip:a@h".into(), true), (2, "sip:b@h".into(), false)]);
        let h = s.health(0);
        assert_eq!(h["healthy"], true);
        assert_eq!(
            h["summary"],
            "running, account 1 registering, account 2 direct, 0 calls"
        );
        assert!(s.registration(1, &RegistrationState::Registered { expires: 300 }));
        assert!(!s.registration(1, &RegistrationState::Registered { expires: 300 }));
        assert_eq!(s.health(2)["accounts"][0]["registration"], "registered");
        s.registration(1, &failed(503));
        assert_eq!(s.health(0)["healthy"], true, "retrying after a 503");
        s.registration(1, &failed(408));
        assert_eq!(s.health(0)["healthy"], true, "retrying after no answer");
        s.registration(1, &failed(403));
        let h = s.health(0);
        assert_eq!(h["healthy"], false);
        assert_eq!(
            h["summary"],
            "account 1 (sip:a@h): the registrar refused the registration: 403 X"
        );
        s.registration(1, &failed(401));
        assert_eq!(s.health(0)["healthy"], false, "credentials refused");
    }

    #[test]
    fn calls_give_each_account_its_state_and_last_caller() {
        let mut s = Status::new([(1, "sip:a@h".into(), false)]);
        let ev = |event: &str, id: &str| {
            json!({"event": event, "sip_account": 1, "internal_id": id,
                   "caller": "<sip:door@h>", "parsed_caller": "door"})
        };
        let a = |s: &Status| s.account(1).map(AccountStatus::call_state);
        assert_eq!(a(&s), Some("idle"));
        assert_eq!(s.event(&ev("incoming_call", "c1")), Some(1));
        assert_eq!(a(&s), Some("ringing"));
        assert_eq!(
            s.account(1).and_then(|a| a.last_caller.clone()).as_deref(),
            Some("door")
        );
        s.event(&ev("outgoing_call_initiated", "c2"));
        assert_eq!(a(&s), Some("ringing"), "ringing wins over dialling");
        assert_eq!(s.account(1).and_then(|a| a.call_for(true)), Some("c1"));
        assert_eq!(s.account(1).and_then(|a| a.call_for(false)), Some("c2"));
        s.event(&ev("call_established", "c1"));
        assert_eq!(a(&s), Some("in call"));
        assert_eq!(s.account(1).and_then(|a| a.call_for(true)), None);
        s.event(&ev("call_disconnected", "c1"));
        s.event(&ev("call_disconnected", "c2"));
        assert_eq!(a(&s), Some("idle"));
        assert_eq!(s.event(&ev("dtmf_digit", "c3")), None);
        assert_eq!(s.event(&json!({"event": "incoming_call"})), None);
    }
}
