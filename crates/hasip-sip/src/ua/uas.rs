//! The answering side of an incoming call: ringing, accepting (with the 2xx retransmitted
//! until the ACK), rejecting.

use super::*;

impl UserAgent {
    pub(super) fn uas_call(&self, call: CallRef) -> Result<(&Call, TransactionId), CommandError> {
        let c = self.calls.get(&call).ok_or(CommandError::UnknownCall)?;
        if c.role != Role::Uas || !matches!(c.state, CallState::Initial | CallState::Early) {
            return Err(CommandError::WrongState("not ringing"));
        }
        let tx = c.invite_tx.ok_or(CommandError::WrongState("not ringing"))?;
        Ok((c, tx))
    }

    /// Sends 180 Ringing for an incoming call.
    pub fn ring(&mut self, now: Instant, call: CallRef) -> Result<(), CommandError> {
        let (c, tx) = self.uas_call(call)?;
        let (invite, tag, account, transport) = (
            c.invite.clone(),
            c.local_tag.clone(),
            c.account,
            c.peer.transport,
        );
        let contact = self.contact(account, transport);
        // RFC 3261 §12.1.1: dialog-creating responses copy the Record-Route set.
        let mut extra: Vec<(HeaderName, String)> = invite
            .header_all(HeaderName::RecordRoute)
            .map(|v| (HeaderName::RecordRoute, v.to_owned()))
            .collect();
        extra.push((HeaderName::Contact, contact));
        self.reply(now, tx, &invite, (180, "Ringing"), Some(&tag), &extra);
        if let Some(c) = self.calls.get_mut(&call) {
            c.state = CallState::Early;
        }
        self.drain_tx(now);
        Ok(())
    }

    /// Answers an incoming call with 200 OK and our SDP answer.
    pub fn accept(&mut self, now: Instant, call: CallRef, sdp: Bytes) -> Result<(), CommandError> {
        let (c, tx) = self.uas_call(call)?;
        let (invite, tag, account, transport) = (
            c.invite.clone(),
            c.local_tag.clone(),
            c.account,
            c.peer.transport,
        );
        let contact = self.contact(account, transport);
        let mut b = response_to(&invite, 200, "OK", Some(&tag));
        for rr in invite.header_all(HeaderName::RecordRoute) {
            b.header(HeaderName::RecordRoute, rr);
        }
        b.header(HeaderName::Contact, contact);
        b.header(HeaderName::Allow, &self.allow);
        b.header(HeaderName::Supported, "");
        b.header(HeaderName::Server, &self.cfg.user_agent);
        let wire = b.finish_with_body("application/sdp", &sdp);
        self.tx.respond(now, tx, 200, wire.clone());
        let t1 = self.cfg.timers.t1;
        let reliable = transport.is_reliable();
        if let Some(c) = self.calls.get_mut(&call) {
            c.state = CallState::Accepted;
            // RFC 3261 §13.3.1.4: the UAS core retransmits the 2xx until the ACK (only the
            // give-up timer on reliable transports).
            let next = if reliable { now + 64 * t1 } else { now + t1 };
            c.ok_retx = Some((wire, t1, next, now + 64 * t1));
            self.arm_ok_retx(call);
        }
        self.drain_tx(now);
        Ok(())
    }

    pub(super) fn retransmit_ok(&mut self, now: Instant, call: CallRef) {
        let t2 = self.cfg.timers.t2;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some((wire, interval, next, give_up)) = c.ok_retx.clone() else {
            return;
        };
        if give_up <= now {
            c.ok_retx = None;
            // No ACK: the call is dead (RFC 3261 §13.3.1.4); end it with a BYE.
            self.end_call_with_bye(now, call, EndReason::Timeout);
            return;
        }
        if next <= now {
            let peer = c.peer;
            let interval = (interval * 2).min(t2);
            c.ok_retx = Some((wire.clone(), interval, now + interval, give_up));
            if let Some(tx) = c.invite_tx {
                self.tx.respond(now, tx, 200, wire.clone());
            } else {
                self.transmits.push_back(Transmit {
                    to: peer,
                    payload: wire,
                });
            }
            self.arm_ok_retx(call);
            self.drain_tx(now);
        }
    }

    /// Rejects an incoming call (486 Busy Here, 603 Decline, 488, …).
    pub fn reject(
        &mut self,
        now: Instant,
        call: CallRef,
        code: u16,
        reason: &str,
    ) -> Result<(), CommandError> {
        let (c, tx) = self.uas_call(call)?;
        let (invite, tag) = (c.invite.clone(), c.local_tag.clone());
        self.reply(now, tx, &invite, (code, reason), Some(&tag), &[]);
        self.drain_tx(now);
        self.end_call(call, EndReason::Declined { code });
        Ok(())
    }
}
