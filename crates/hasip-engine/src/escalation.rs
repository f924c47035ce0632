//! Escalation, the "alarm calls" job: one command rings a list of numbers in turn, each
//! with its ring timeout and message, until someone acknowledges with a digit; then it
//! stops and reports who did (`escalation_acknowledged`), or that nobody did
//! (`escalation_failed`), with the list and what each attempt came to.
//!
//! Each attempt is an ordinary dialled call whose menu says the message and waits for the
//! acknowledging digit; its events are the usual ones. The escalation follows its current
//! call: the digit marks it acknowledged (the menu thanks the callee and hangs up), and the
//! call's end moves on to the next number or finishes.

use super::*;

/// One number of an escalation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationTarget {
    /// The SIP URI to dial.
    pub number: String,
    /// How long it may ring (`None`: the escalation's default).
    pub ring_timeout: Option<Duration>,
    /// What it is told (`None`: the escalation's message).
    pub message: Option<String>,
}

/// The `escalate` command's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationRequest {
    /// Names the escalation in its events; one is made up when `None`.
    pub id: Option<String>,
    /// The numbers, in the order they are called.
    pub targets: Vec<EscalationTarget>,
    /// What a callee is told, unless its target says otherwise.
    pub message: String,
    /// The digit that acknowledges.
    pub acknowledge_digit: char,
    /// How long an answered callee has to acknowledge.
    pub acknowledge_timeout: Duration,
    /// How long each number rings, unless its target says otherwise.
    pub ring_timeout: Duration,
    /// The account to call from (`None`: the first).
    pub sip_account: Option<u8>,
}

/// What an escalation came to, in its final event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationReport {
    /// The escalation's id.
    pub id: String,
    /// Every number of the list, in order.
    pub numbers: Vec<String>,
    /// Each attempt made: the number and its outcome (`acknowledged`, `not answered`,
    /// `not acknowledged`, or why it could not be dialled).
    pub attempts: Vec<(String, String)>,
    /// The number that acknowledged, if one did.
    pub acknowledged_by: Option<String>,
}

/// An escalation in progress.
#[derive(Debug)]
pub(crate) struct Escalation {
    request: EscalationRequest,
    id: String,
    /// The next target to call.
    next: usize,
    /// The call of the current attempt and its number.
    current: Option<(CallKey, String)>,
    acknowledged: bool,
    attempts: Vec<(String, String)>,
    /// The last attempt's call fields, which the final event carries.
    last_call: Option<CallInfo>,
}

/// The menu of one attempt: the message, then the digit or a hang-up at the timeout.
fn attempt_menu(message: &str, digit: char, timeout: Duration) -> hasip_menu::Menu {
    use hasip_menu::{Menu, PostAction};
    Menu {
        message: Some(message.to_owned()),
        timeout,
        choices: vec![(
            digit.to_string(),
            Menu {
                id: Some("escalation_acknowledged".into()),
                message: Some("Thank you. Nobody else will be called.".into()),
                post_action: PostAction::Hangup,
                ..Menu::default()
            },
        )],
        on_timeout: Some(Box::new(Menu {
            post_action: PostAction::Hangup,
            ..Menu::default()
        })),
        ..Menu::default()
    }
}

impl Engine {
    /// Starts an escalation: checks it, then calls its first number.
    pub(crate) fn escalate(
        &mut self,
        now: Instant,
        request: EscalationRequest,
    ) -> Result<(), CommandError> {
        if request.targets.is_empty() {
            return Err(CommandError(
                "numbers: an escalation needs at least one number".into(),
            ));
        }
        if !request.acknowledge_digit.is_ascii_digit()
            && !matches!(request.acknowledge_digit, '*' | '#')
        {
            return Err(CommandError(format!(
                "acknowledge_digit: {:?} is not a key (0-9, * or #)",
                request.acknowledge_digit
            )));
        }
        self.next_escalation += 1;
        let id = request
            .id
            .clone()
            .unwrap_or_else(|| format!("escalation-{}", self.next_escalation));
        if self.escalations.iter().any(|e| e.id == id) {
            return Err(CommandError(format!(
                "id: escalation {id:?} is already running"
            )));
        }
        tracing::info!(
            escalation = id,
            numbers = request.targets.len(),
            "escalation starts"
        );
        self.escalations.push(Escalation {
            request,
            id: id.clone(),
            next: 0,
            current: None,
            acknowledged: false,
            attempts: Vec::new(),
            last_call: None,
        });
        self.escalation_next(now, &id);
        Ok(())
    }

    /// Calls the escalation's next number; finishes it when none is left.
    fn escalation_next(&mut self, now: Instant, id: &str) {
        loop {
            let Some(e) = self.escalations.iter_mut().find(|e| e.id == id) else {
                return;
            };
            let Some(target) = e.request.targets.get(e.next).cloned() else {
                self.escalation_finish(id, None);
                return;
            };
            e.next += 1;
            let message = target.message.unwrap_or_else(|| e.request.message.clone());
            let menu = attempt_menu(
                &message,
                e.request.acknowledge_digit,
                e.request.acknowledge_timeout,
            );
            let ring = target.ring_timeout.unwrap_or(e.request.ring_timeout);
            let account = e.request.sip_account;
            let before = self.next_key;
            match self.dial(
                now,
                target.number.clone(),
                Some(ring),
                account,
                BTreeMap::new(),
                Some(Box::new(menu)),
            ) {
                Ok(()) if self.next_key != before => {
                    let key = CallKey(self.next_key);
                    if let Some(e) = self.escalations.iter_mut().find(|e| e.id == id) {
                        e.current = Some((key, target.number));
                    }
                    return;
                }
                Ok(()) => return,
                Err(err) => {
                    tracing::warn!(
                        escalation = id,
                        number = target.number,
                        "cannot dial: {err}"
                    );
                    if let Some(e) = self.escalations.iter_mut().find(|e| e.id == id) {
                        e.attempts
                            .push((target.number, format!("not dialled: {err}")));
                    }
                }
            }
        }
    }

    /// A digit on a call: the acknowledgement when it is the current attempt's call.
    pub(crate) fn escalation_digit(&mut self, key: CallKey, digit: char) {
        if let Some(e) = self
            .escalations
            .iter_mut()
            .find(|e| e.current.as_ref().is_some_and(|(k, _)| *k == key))
            && digit == e.request.acknowledge_digit
            && !e.acknowledged
        {
            tracing::info!(escalation = e.id, call = key.0, "escalation acknowledged");
            e.acknowledged = true;
        }
    }

    /// A call ended: if it was an escalation's attempt, record it and go on (or finish).
    pub(crate) fn escalation_call_ended(
        &mut self,
        now: Instant,
        key: CallKey,
        answered: bool,
        info: &CallInfo,
    ) {
        let Some(e) = self
            .escalations
            .iter_mut()
            .find(|e| e.current.as_ref().is_some_and(|(k, _)| *k == key))
        else {
            return;
        };
        let Some((_, number)) = e.current.take() else {
            return;
        };
        let outcome = if e.acknowledged {
            "acknowledged"
        } else if answered {
            "not acknowledged"
        } else {
            "not answered"
        };
        e.attempts.push((number.clone(), outcome.to_owned()));
        e.last_call = Some(info.clone());
        let id = e.id.clone();
        if e.acknowledged {
            self.escalation_finish(&id, Some(number));
        } else {
            self.escalation_next(now, &id);
        }
    }

    /// Reports the escalation's end (on the acknowledging call, or on the last call
    /// tried) and forgets it.
    fn escalation_finish(&mut self, id: &str, acknowledged: Option<String>) {
        let Some(pos) = self.escalations.iter().position(|e| e.id == id) else {
            return;
        };
        let e = self.escalations.remove(pos);
        let report = EscalationReport {
            id: e.id.clone(),
            numbers: e.request.targets.iter().map(|t| t.number.clone()).collect(),
            attempts: e.attempts,
            acknowledged_by: acknowledged.clone(),
        };
        let kind = match acknowledged {
            Some(_) => EventKind::EscalationAcknowledged(Box::new(report.clone())),
            None => EventKind::EscalationFailed(Box::new(report.clone())),
        };
        tracing::info!(escalation = e.id, result = kind.name(), attempts = ?report.attempts, "escalation over");
        let info = e.last_call.unwrap_or_else(|| CallInfo {
            caller: String::new(),
            called: String::new(),
            parsed_caller: None,
            parsed_called: None,
            sip_account: self.config.accounts.first().map_or(1, |a| a.number),
            call_id: None,
            internal_id: e.id.clone(),
            headers: BTreeMap::new(),
        });
        self.outputs.push_back(Output::Event(Event {
            kind,
            call: info,
            call_webhook: None,
        }));
    }
}
