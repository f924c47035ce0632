//! Outgoing calls (INVITE, challenges, the 2xx and its ACK), requests inside a dialog (INFO,
//! re-INVITE, REFER), and how calls end (BYE, CANCEL).

use super::*;

impl UserAgent {
    pub(super) fn new_call_ref(&mut self) -> CallRef {
        self.next_call += 1;
        CallRef(self.next_call)
    }

    /// Starts an outgoing call to `target` with the SDP `offer`.
    ///
    /// # Errors
    /// When the target is not a SIP URI or the account does not exist.
    pub fn invite(
        &mut self,
        now: Instant,
        account: Option<AccountId>,
        target: &str,
        offer: Bytes,
        extra_headers: Vec<(String, String)>,
    ) -> Result<CallRef, CommandError> {
        if let Some(a) = account
            && a.0 >= self.accounts.len()
        {
            return Err(CommandError::UnknownAccount);
        }
        parse_uri_host(target).ok_or_else(|| CommandError::BadTarget(target.to_owned()))?;
        let id = self.new_call_ref();
        let local_tag = self.rng.tag();
        let call_id = format!("{}@hasip", self.rng.hex(16));
        let placeholder = Message::parse(Bytes::from(format!(
            "INVITE {target} SIP/2.0\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\r\n"
        )))
        .map_err(|_| CommandError::BadTarget(target.to_owned()))?;
        self.calls.insert(
            id,
            Call {
                role: Role::Uac,
                account,
                state: CallState::Resolving,
                invite: placeholder,
                invite_tx: None,
                peer: Peer {
                    transport: Transport::Udp,
                    addr: SocketAddr::from(([0, 0, 0, 0], 0)),
                    connection: None,
                },
                local_tag,
                dialog: None,
                cancel_pending: false,
                ack: None,
                ok_retx: None,
                auth_tries: 0,
                offer,
                target: target.to_owned(),
                extra_headers,
            },
        );
        self.send_invite(now, id);
        self.drain_tx(now);
        Ok(id)
    }

    pub(super) fn account_proxy(&self, account: Option<AccountId>) -> Option<String> {
        account
            .and_then(|a| self.accounts.get(a.0))
            .and_then(|a| a.cfg.proxy.clone())
    }

    pub(super) fn local_from(
        &self,
        account: Option<AccountId>,
        tag: &str,
        transport: Transport,
    ) -> String {
        match account.and_then(|a| self.accounts.get(a.0)) {
            Some(a) if !a.cfg.id_uri.is_empty() => format!("<{}>;tag={tag}", a.cfg.id_uri),
            _ => {
                let addr = self.local_addr(transport);
                format!(
                    "<sip:hasip@{}>;tag={tag}",
                    SocketAddr::new(addr.ip(), addr.port())
                )
            }
        }
    }

    pub(super) fn send_invite(&mut self, now: Instant, id: CallRef) {
        let Some(c) = self.calls.get(&id) else { return };
        let (account, target) = (c.account, c.target.clone());
        let proxy = self.account_proxy(account);
        let hop = proxy.clone().unwrap_or_else(|| target.clone());
        let peer = match self.peer_for(&hop) {
            Ok(Some(p)) => p,
            Ok(None) => {
                if let Some(c) = self.calls.get_mut(&id) {
                    c.state = CallState::Resolving;
                }
                return;
            }
            Err(_) => {
                self.end_call(id, EndReason::TransportError);
                return;
            }
        };
        let (via, _) = self.via(peer.transport, account);
        let Some(c) = self.calls.get(&id) else { return };
        let call_id = c.invite.call_id().unwrap_or("").to_owned();
        let seq = c.invite.cseq().and_then(Result::ok).map_or(1, |s| s.seq);
        let from = self.local_from(account, &c.local_tag, peer.transport);
        let contact = self.contact(account, peer.transport);
        let mut b = Builder::request(&Method::Invite, &target);
        b.header(HeaderName::Via, via);
        b.header(HeaderName::MaxForwards, 70);
        if let Some(p) = &proxy {
            let route = if p.starts_with('<') {
                p.clone()
            } else {
                format!("<{p};lr>")
            };
            b.header(HeaderName::Route, route);
        }
        b.header(HeaderName::From, from);
        b.header(HeaderName::To, format!("<{target}>"));
        b.header(HeaderName::CallId, &call_id);
        b.header(HeaderName::CSeq, format_args!("{seq} INVITE"));
        b.header(HeaderName::Contact, contact);
        b.header(HeaderName::Allow, &self.allow);
        b.header(HeaderName::UserAgent, &self.cfg.user_agent);
        if let Some(a) = account.and_then(|a| self.accounts.get(a.0)) {
            for (n, v) in &a.cfg.headers {
                b.header_named(n, v);
            }
        }
        for (n, v) in &c.extra_headers {
            b.header_named(n, v);
        }
        let wire = b.finish_with_body("application/sdp", &c.offer);
        self.start_invite_tx(now, id, peer, wire);
    }

    pub(super) fn start_invite_tx(&mut self, now: Instant, id: CallRef, peer: Peer, wire: Bytes) {
        let Ok(msg) = Message::parse(wire.clone()) else {
            return;
        };
        let Some(tx) = self.tx.send_request(now, peer, msg.clone(), wire) else {
            return;
        };
        self.owners.insert(tx, Owner::Invite(id));
        if let Some(c) = self.calls.get_mut(&id) {
            c.invite = msg;
            c.invite_tx = Some(tx);
            c.peer = peer;
            if c.state == CallState::Resolving {
                c.state = CallState::Initial;
            }
        }
    }

    pub(super) fn on_tx_event(&mut self, now: Instant, ev: TxEvent) {
        match ev {
            TxEvent::Response { tx, response } => {
                let response = *response;
                let owner = self.owners.get(&tx).copied();
                match owner {
                    Some(Owner::Register(a)) => self.on_register_response(now, a, tx, response),
                    Some(Owner::Invite(c)) => self.on_invite_response(now, c, tx, response),
                    Some(Owner::Bye(c)) => {
                        if response.status().is_some_and(|s| s >= 200) {
                            self.forget_call(c);
                        }
                    }
                    Some(Owner::Cancel(_) | Owner::InDialog(_)) | None => {}
                }
            }
            TxEvent::Timeout { tx } | TxEvent::TransportError { tx } => {
                let reason = if matches!(ev, TxEvent::Timeout { .. }) {
                    EndReason::Timeout
                } else {
                    EndReason::TransportError
                };
                match self.owners.get(&tx).copied() {
                    Some(Owner::Register(a)) => {
                        let (code, why) = if reason == EndReason::Timeout {
                            (408, "no answer from registrar")
                        } else {
                            (503, "transport error")
                        };
                        self.accounts[a.0].tx = None;
                        self.registration_failed(now, a, code, why.into(), None);
                    }
                    Some(Owner::Invite(c))
                        if self
                            .calls
                            .get(&c)
                            .is_some_and(|x| x.role == Role::Uac && x.dialog.is_none()) =>
                    {
                        self.end_call(c, reason);
                    }
                    Some(Owner::Bye(c)) => self.forget_call(c),
                    _ => {}
                }
            }
            TxEvent::AckTimeout { .. } => {}
            TxEvent::Terminated { tx } => {
                self.owners.remove(&tx);
                self.by_invite_tx.remove(&tx);
                // A call whose last transaction is gone and that is ending is forgotten.
                let ended: Vec<CallRef> = self
                    .calls
                    .iter()
                    .filter(|(_, c)| c.state == CallState::Ending && c.invite_tx == Some(tx))
                    .map(|(id, _)| *id)
                    .collect();
                for c in ended {
                    self.forget_call(c);
                }
            }
        }
    }

    pub(super) fn on_invite_response(
        &mut self,
        now: Instant,
        id: CallRef,
        tx: TransactionId,
        resp: Message,
    ) {
        let Some(code) = resp.status() else { return };
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.role != Role::Uac || c.invite_tx != Some(tx) {
            return;
        }
        match code {
            100 => {}
            101..=199 => {
                if c.state == CallState::Initial {
                    c.state = CallState::Early;
                }
                if c.cancel_pending {
                    c.cancel_pending = false;
                    self.send_cancel(now, id);
                }
                self.events.push_back(UaEvent::Progress {
                    call: id,
                    code,
                    body: resp.body().clone(),
                });
            }
            200..=299 => self.on_invite_ok(now, id, resp),
            401 | 407 => {
                let header = if code == 401 {
                    HeaderName::WwwAuthenticate
                } else {
                    HeaderName::ProxyAuthenticate
                };
                let creds = c
                    .account
                    .and_then(|a| self.accounts.get(a.0))
                    .map(|a| a.cfg.credentials.clone());
                let tries = c.auth_tries;
                let cancelled = c.cancel_pending || c.state == CallState::Ending;
                let challenge = Challenge::choose(resp.challenges(header).filter_map(Result::ok));
                match (creds, challenge) {
                    (Some(cr), Ok(ch)) if tries < 2 && !cancelled && !cr.username.is_empty() => {
                        if let Some(c) = self.calls.get_mut(&id) {
                            c.auth_tries += 1;
                        }
                        self.resend_invite_with_auth(now, id, code, &ch, &cr);
                    }
                    _ => self.end_call(id, EndReason::AuthFailed),
                }
            }
            _ => {
                let reason = resp.reason().unwrap_or("").to_owned();
                let was_cancel = c.state == CallState::Ending && code == 487;
                self.end_call(
                    id,
                    if was_cancel {
                        EndReason::Local
                    } else {
                        EndReason::Rejected { code, reason }
                    },
                );
            }
        }
    }

    pub(super) fn resend_invite_with_auth(
        &mut self,
        now: Instant,
        id: CallRef,
        code: u16,
        ch: &Challenge,
        cr: &crate::ua::Credentials,
    ) {
        let Some(c) = self.calls.get(&id) else { return };
        let old = c.invite.clone();
        let peer = c.peer;
        let seq = old.cseq().and_then(Result::ok).map_or(1, |s| s.seq) + 1;
        let uri = old.request_uri_str().unwrap_or("").to_owned();
        let cnonce = self.rng.hex(16);
        let auth = authorization(
            ch,
            &cr.username,
            &cr.password,
            RequestParts {
                method: "INVITE",
                uri: &uri,
                body: old.body(),
            },
            1,
            &cnonce,
        );
        let (via, _) = self.via(peer.transport, c.account);
        let mut b = Builder::request(&Method::Invite, &uri);
        b.header(HeaderName::Via, via);
        for h in old.headers() {
            match h.name {
                HeaderName::Via
                | HeaderName::ContentLength
                | HeaderName::ContentType
                | HeaderName::Authorization
                | HeaderName::ProxyAuthorization => {}
                HeaderName::CSeq => {
                    b.header(HeaderName::CSeq, format_args!("{seq} INVITE"));
                }
                HeaderName::Other => {
                    b.header_named(h.name_str, h.value);
                }
                n => {
                    b.header(n, h.value);
                }
            }
        }
        b.header(
            if code == 401 {
                HeaderName::Authorization
            } else {
                HeaderName::ProxyAuthorization
            },
            auth,
        );
        let wire = b.finish_with_body("application/sdp", old.body());
        self.start_invite_tx(now, id, peer, wire);
    }

    pub(super) fn on_invite_ok(&mut self, now: Instant, id: CallRef, resp: Message) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.dialog.is_some() {
            // A retransmitted 2xx: the ACK was lost, send it again.
            if let Some((peer, ack)) = c.ack.clone() {
                self.transmits.push_back(Transmit {
                    to: peer,
                    payload: ack,
                });
            }
            return;
        }
        let Some(mut dialog) = Dialog::from_uac(&c.invite, &resp) else {
            return;
        };
        // A peer that echoes our own Contact in its 2xx (Home Assistant's VoIP integration,
        // voip-utils 0.1.0, does) would have us send ACK and BYE to ourselves: keep sending
        // to where the INVITE went.
        if dialog.route_set.is_empty()
            && crate::dialog::first_contact_uri(&c.invite).as_deref()
                == Some(dialog.remote_target.as_str())
            && let Some(target) = c.invite.request_uri_str()
        {
            dialog.remote_target = target.to_owned();
        }
        let cancelled = c.cancel_pending || c.state == CallState::Ending;
        self.by_dialog
            .insert((dialog.call_id.clone(), dialog.local_tag.clone()), id);
        c.dialog = Some(dialog);
        c.state = CallState::Confirmed;
        let seq = c.invite.cseq().and_then(Result::ok).map_or(1, |s| s.seq);
        if let Some((peer, ack)) = self.build_in_dialog(id, Method::Ack, Some(seq), &[], None) {
            self.transmits.push_back(Transmit {
                to: peer,
                payload: ack.clone(),
            });
            if let Some(c) = self.calls.get_mut(&id) {
                c.ack = Some((peer, ack));
            }
        }
        if cancelled {
            // We hung up while the 2xx was on its way: confirm, then BYE (RFC 3261 §15).
            self.end_call_with_bye(now, id, EndReason::Local);
            return;
        }
        self.events.push_back(UaEvent::Answered {
            call: id,
            response: resp,
        });
    }

    pub(super) fn handle_stray_response(&mut self, _now: Instant, resp: Message) {
        // A 2xx retransmission after the INVITE transaction ended still needs its ACK.
        if resp.status().is_some_and(|s| (200..300).contains(&s))
            && resp
                .cseq()
                .and_then(Result::ok)
                .is_some_and(|c| c.method == Method::Invite)
            && let (Some(call_id), Some(Ok(from))) = (resp.call_id(), resp.from())
            && let Some(tag) = from.tag()
            && let Some(&id) = self.by_dialog.get(&(call_id.to_owned(), tag.to_owned()))
            && let Some((peer, ack)) = self.calls.get(&id).and_then(|c| c.ack.clone())
        {
            self.transmits.push_back(Transmit {
                to: peer,
                payload: ack,
            });
        }
    }

    /// Builds a request inside the call's dialog: ACK (with the INVITE's CSeq number),
    /// BYE, INFO, re-INVITE, REFER.
    pub(super) fn build_in_dialog(
        &mut self,
        id: CallRef,
        method: Method,
        seq: Option<u32>,
        extra: &[(HeaderName, String)],
        body: Option<(&str, &[u8])>,
    ) -> Option<(Peer, Bytes)> {
        let (account, mut dialog) = {
            let c = self.calls.get(&id)?;
            (c.account, c.dialog.clone()?)
        };
        let seq = seq.unwrap_or_else(|| dialog.next_seq());
        let (ruri, routes) = dialog.request_target();
        let hop = dialog.next_hop();
        let mut peer = self.peer_for(&hop).ok().flatten()?;
        // Reuse the stream the call runs on.
        if let Some(c) = self.calls.get(&id)
            && c.peer.transport.is_reliable()
            && c.peer.transport == peer.transport
        {
            peer = c.peer;
        }
        let (via, _) = self.via(peer.transport, account);
        let (from, to) = dialog.from_to();
        let mut b = Builder::request(&method, &ruri);
        b.header(HeaderName::Via, via);
        b.header(HeaderName::MaxForwards, 70);
        for r in routes {
            b.header(HeaderName::Route, r);
        }
        b.header(HeaderName::From, from);
        b.header(HeaderName::To, to);
        b.header(HeaderName::CallId, &dialog.call_id);
        b.header(HeaderName::CSeq, format_args!("{seq} {method}"));
        if matches!(method, Method::Invite | Method::Refer) {
            b.header(HeaderName::Contact, self.contact(account, peer.transport));
        }
        for (n, v) in extra {
            b.header(*n, v);
        }
        b.header(HeaderName::UserAgent, &self.cfg.user_agent);
        let wire = match body {
            Some((ct, data)) => b.finish_with_body(ct, data),
            None => b.finish(),
        };
        if let Some(c) = self.calls.get_mut(&id) {
            c.dialog = Some(dialog);
        }
        Some((peer, wire))
    }

    pub(super) fn send_in_dialog(
        &mut self,
        now: Instant,
        id: CallRef,
        method: Method,
        extra: &[(HeaderName, String)],
        body: Option<(&str, &[u8])>,
        owner: Owner,
    ) -> Result<(), CommandError> {
        let (peer, wire) = self
            .build_in_dialog(id, method, None, extra, body)
            .ok_or(CommandError::WrongState("not established"))?;
        let msg = Message::parse(wire.clone())
            .map_err(|_| CommandError::WrongState("not established"))?;
        if let Some(tx) = self.tx.send_request(now, peer, msg, wire) {
            self.owners.insert(tx, owner);
        }
        self.drain_tx(now);
        Ok(())
    }

    /// Sends an INFO (e.g. `application/dtmf-relay`) in an established call.
    pub fn send_info(
        &mut self,
        now: Instant,
        call: CallRef,
        content_type: &str,
        body: &[u8],
    ) -> Result<(), CommandError> {
        self.established(call)?;
        self.send_in_dialog(
            now,
            call,
            Method::Info,
            &[],
            Some((content_type, body)),
            Owner::InDialog(call),
        )
    }

    /// Sends a re-INVITE with a new offer (hold, resume).
    pub fn reinvite(
        &mut self,
        now: Instant,
        call: CallRef,
        offer: Bytes,
    ) -> Result<(), CommandError> {
        self.established(call)?;
        self.send_in_dialog(
            now,
            call,
            Method::Invite,
            &[],
            Some(("application/sdp", &offer)),
            Owner::InDialog(call),
        )
    }

    /// Transfers an established call (REFER, RFC 3515); progress arrives as
    /// [`UaEvent::ReferProgress`].
    pub fn refer(&mut self, now: Instant, call: CallRef, target: &str) -> Result<(), CommandError> {
        self.established(call)?;
        let referred_by = self
            .calls
            .get(&call)
            .and_then(|c| c.dialog.as_ref())
            .map(|d| d.local_uri.clone())
            .unwrap_or_default();
        self.send_in_dialog(
            now,
            call,
            Method::Refer,
            &[
                (HeaderName::ReferTo, format!("<{target}>")),
                (HeaderName::ReferredBy, referred_by),
            ],
            None,
            Owner::InDialog(call),
        )
    }

    pub(super) fn established(&self, call: CallRef) -> Result<(), CommandError> {
        match self.calls.get(&call) {
            None => Err(CommandError::UnknownCall),
            Some(c)
                if c.state == CallState::Confirmed
                    || (c.role == Role::Uas && c.state == CallState::Accepted) =>
            {
                Ok(())
            }
            Some(_) => Err(CommandError::WrongState("not established")),
        }
    }

    /// Ends a call whatever its state: BYE when established, CANCEL while our INVITE is
    /// pending (after its first provisional, RFC 3261 §9.1), 603 for an unanswered
    /// incoming call.
    pub fn hangup(&mut self, now: Instant, call: CallRef) -> Result<(), CommandError> {
        let c = self.calls.get(&call).ok_or(CommandError::UnknownCall)?;
        match (c.role, c.state) {
            (_, CallState::Ending) => Ok(()),
            (Role::Uas, CallState::Initial | CallState::Early) => {
                self.reject(now, call, 603, "Decline")
            }
            (_, CallState::Confirmed | CallState::Accepted) => {
                self.end_call_with_bye(now, call, EndReason::Local);
                Ok(())
            }
            (_, CallState::Resolving) => {
                self.end_call(call, EndReason::Local);
                Ok(())
            }
            (Role::Uac, CallState::Initial) => {
                // No provisional yet: the CANCEL must wait for one.
                if let Some(c) = self.calls.get_mut(&call) {
                    c.cancel_pending = true;
                }
                Ok(())
            }
            (Role::Uac, CallState::Early) => {
                self.send_cancel(now, call);
                Ok(())
            }
        }
    }

    pub(super) fn send_cancel(&mut self, now: Instant, id: CallRef) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        c.state = CallState::Ending;
        let inv = c.invite.clone();
        let peer = c.peer;
        let mut b = Builder::request(&Method::Cancel, inv.request_uri_str().unwrap_or(""));
        if let Some(v) = inv.header(HeaderName::Via) {
            b.header(HeaderName::Via, v);
        }
        b.header(HeaderName::MaxForwards, 70);
        for name in [
            HeaderName::Route,
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
        ] {
            for v in inv.header_all(name) {
                b.header(name, v);
            }
        }
        let seq = inv.cseq().and_then(Result::ok).map_or(1, |s| s.seq);
        b.header(HeaderName::CSeq, format_args!("{seq} CANCEL"));
        let wire = b.finish();
        if let Ok(msg) = Message::parse(wire.clone())
            && let Some(tx) = self.tx.send_request(now, peer, msg, wire)
        {
            self.owners.insert(tx, Owner::Cancel(id));
        }
        self.drain_tx(now);
    }

    pub(super) fn end_call_with_bye(&mut self, now: Instant, id: CallRef, reason: EndReason) {
        if let Some(c) = self.calls.get_mut(&id) {
            c.state = CallState::Ending;
            c.ok_retx = None;
        }
        if let Some((peer, wire)) = self.build_in_dialog(id, Method::Bye, None, &[], None)
            && let Ok(msg) = Message::parse(wire.clone())
            && let Some(tx) = self.tx.send_request(now, peer, msg, wire)
        {
            self.owners.insert(tx, Owner::Bye(id));
        } else {
            self.forget_call(id);
        }
        self.events.push_back(UaEvent::Ended { call: id, reason });
        self.drain_tx(now);
    }

    pub(super) fn end_call(&mut self, id: CallRef, reason: EndReason) {
        if let Some(c) = self.calls.get_mut(&id) {
            c.state = CallState::Ending;
            c.ok_retx = None;
            self.events.push_back(UaEvent::Ended { call: id, reason });
            // Keep the call until its INVITE transaction ends so that retransmitted
            // responses and CANCEL races still find it; forget it now if there is none.
            if c.invite_tx.is_none_or(|tx| self.tx.peer(tx).is_none()) {
                self.forget_call(id);
            }
        }
    }

    pub(super) fn forget_call(&mut self, id: CallRef) {
        if let Some(c) = self.calls.remove(&id)
            && let Some(d) = c.dialog
        {
            self.by_dialog.remove(&(d.call_id, d.local_tag));
        }
        if crate::transaction::shrink_if_sparse(&mut self.calls) {
            self.by_dialog.shrink_to_fit();
            self.by_invite_tx.shrink_to_fit();
            self.owners.shrink_to_fit();
        }
    }

    /// True when a call or a pending transaction uses stream connection `id`.
    pub fn connection_in_use(&self, id: crate::transport::ConnectionId) -> bool {
        self.calls.values().any(|c| c.peer.connection == Some(id)) || self.tx.uses_connection(id)
    }

    /// Where the call's SIP goes to and comes from: the caller's address for an incoming
    /// call, the first hop (proxy, registrar or callee) for an outgoing one.
    pub fn peer_of(&self, call: CallRef) -> Option<Peer> {
        self.calls.get(&call).map(|c| c.peer)
    }

    /// Number of calls the agent tracks.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// The SIP Call-ID of a call.
    pub fn sip_call_id(&self, call: CallRef) -> Option<&str> {
        self.calls.get(&call).and_then(|c| c.invite.call_id())
    }

    /// The INVITE of a call (received, or the latest sent).
    pub fn invite_of(&self, call: CallRef) -> Option<&Message> {
        self.calls.get(&call).map(|c| &c.invite)
    }
}
