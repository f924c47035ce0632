//! Requests that arrive: validation, who may call, stateless answers (OPTIONS, refusals),
//! new INVITEs, re-INVITEs, ACK, CANCEL and the requests inside a dialog.

use super::*;

impl UserAgent {
    /// Handles one datagram (or stream frame) from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: Peer, data: Bytes) {
        match Message::parse(data) {
            Ok(msg) => self.handle_message(now, from, msg),
            Err(e) => self.events.push_back(UaEvent::Dropped {
                from,
                why: e.to_string(),
            }),
        }
    }

    /// Handles one parsed message from `from`.
    pub fn handle_message(&mut self, now: Instant, from: Peer, msg: Message) {
        if msg.is_request() {
            self.handle_request(now, from, msg);
        } else if let Err(why) = validate_response(&msg) {
            self.events.push_back(UaEvent::Dropped {
                from,
                why: format!("bad response: {why}"),
            });
        } else if let Some(stray) = self.tx.handle_response(now, msg) {
            self.handle_stray_response(now, stray);
        }
        self.drain_tx(now);
    }

    pub(super) fn reply(
        &mut self,
        now: Instant,
        tx: TransactionId,
        req: &Message,
        (code, reason): (u16, &str),
        tag: Option<&str>,
        extra: &[(HeaderName, String)],
    ) {
        let mut b = response_to(req, code, reason, tag);
        for (n, v) in extra {
            b.header(*n, v);
        }
        b.header(HeaderName::Server, &self.cfg.user_agent);
        self.tx.respond(now, tx, code, b.finish());
    }

    pub(super) fn handle_request(&mut self, now: Instant, from: Peer, req: Message) {
        let policy = Policy {
            allowed: ALLOWED,
            supported: &[],
            accepted_bodies: ACCEPTED_BODIES,
        };
        let method = req.method().cloned();
        if let Err(rej) = validate_request(&req, &policy) {
            use crate::message::validate::Rejection;
            if method == Some(Method::Ack) || req.header(HeaderName::Via).is_none() {
                // An ACK is never answered; without a Via there is nowhere to answer.
                self.events.push_back(UaEvent::Dropped {
                    from,
                    why: rej.to_string(),
                });
                return;
            }
            // A broken request is answered statelessly: it gets no transaction.
            let mut b = response_to(&req, rej.status(), &rej.reason(), Some(&self.rng.tag()));
            match &rej {
                Rejection::MethodNotAllowed | Rejection::NotImplemented => {
                    b.header(HeaderName::Allow, &self.allow);
                }
                Rejection::BadExtension(t) => {
                    b.header(HeaderName::Unsupported, t.join(", "));
                }
                Rejection::UnsupportedMediaType => {
                    b.header(HeaderName::Accept, ACCEPTED_BODIES.join(", "));
                }
                Rejection::NotAcceptable => {
                    b.header(
                        HeaderName::Warning,
                        "399 hasip \"answers carry application/sdp only\"",
                    );
                }
                Rejection::BadRequest(_)
                | Rejection::VersionNotSupported
                | Rejection::UnsupportedUriScheme => {}
            }
            b.header(HeaderName::Server, &self.cfg.user_agent);
            let payload = b.finish();
            let to = match req.top_via() {
                Some(Ok(v)) => response_destination(from, &v),
                // An unreadable Via still lets the peer match the answer, which goes back to
                // the source; a huge one is not echoed (that would reflect traffic).
                _ if payload.len() > MAX_BLIND_RESPONSE => {
                    self.events.push_back(UaEvent::Dropped {
                        from,
                        why: format!("{rej}; unreadable Via, answer too large"),
                    });
                    return;
                }
                _ => from,
            };
            self.events.push_back(UaEvent::Rejected {
                from,
                why: rej.to_string(),
            });
            self.transmits.push_back(Transmit { to, payload });
            return;
        }
        let Some(method) = method else { return };
        if method == Method::Invite && !self.tx.knows_request(&req) && !in_dialog(&req) {
            // A new call: who may make it is decided before any state is kept for it, so
            // a flood of strangers' INVITEs costs one stateless answer each.
            if let Err(refusal) = self.admit(from, &req) {
                self.refuse(from, &req, refusal);
                return;
            }
            let ip = from.addr.ip().to_canonical();
            if !self.call_buckets.allow(self.cfg.call_rate, now, ip) {
                self.refuse(from, &req, Refusal::too_fast(ip, self.cfg.call_rate));
                return;
            }
        }
        if method == Method::Options {
            // Answered statelessly (RFC 3261 §8.2.7): a flood of OPTIONS (scanners, keep-alive
            // probes) leaves no transaction behind. A retransmission gets the same answer:
            // its tag is derived from the request with a secret key.
            self.answer_options(from, &req);
            return;
        }
        let incoming = self.tx.handle_request(now, from, &req);
        match incoming {
            Incoming::Retransmission | Incoming::AckAbsorbed => {}
            Incoming::Ack => self.handle_ack(now, &req),
            Incoming::New(tx) => match method {
                Method::Invite => self.handle_invite(now, from, tx, req),
                Method::Cancel => self.handle_cancel(now, tx, &req),
                // Answered statelessly before any transaction (see above).
                Method::Options => {}
                _ => self.handle_in_dialog(now, tx, &req, &method),
            },
        }
    }

    pub(super) fn call_of_request(&self, req: &Message) -> Option<CallRef> {
        let call_id = req.call_id()?.to_owned();
        let tag = req.to()?.ok()?.tag()?.to_owned();
        self.by_dialog.get(&(call_id, tag)).copied()
    }

    /// The account a new call from `from` is for, or why it is refused (see
    /// [`crate::admission`]): among the accounts that take calls from the source, the one
    /// whose user the request URI (then the To) names; else an account that registers
    /// (providers put the dialled number in the request URI); else, for direct-call
    /// accounts, one with an empty user in the request, and 404 for any other user.
    pub(super) fn admit(&self, from: Peer, req: &Message) -> Result<Option<AccountId>, Refusal> {
        let ip = from.addr.ip();
        if self.accounts.is_empty() {
            // No account configured: direct calls, from the private networks only.
            return if admission::in_networks(&self.private_networks, ip) {
                Ok(None)
            } else {
                Err(Refusal::forbidden(ip))
            };
        }
        let trusting: Vec<usize> = (0..self.accounts.len())
            .filter(|&i| self.takes_calls_from(i, ip))
            .collect();
        if trusting.is_empty() {
            return Err(Refusal::forbidden(ip));
        }
        let ruri_user = req
            .request_uri()
            .and_then(Result::ok)
            .and_then(|u| u.user().map(|u| u.into_owned()))
            .unwrap_or_default();
        // An account that only makes calls takes none: a call for its user is refused as
        // such, and it is no candidate for any other.
        if let Some(&i) = trusting.iter().find(|&&i| {
            !self.accounts[i].cfg.can_be_called
                && !ruri_user.is_empty()
                && self.accounts[i].user.as_deref() == Some(ruri_user.as_str())
        }) {
            return Err(Refusal::not_called(self.accounts[i].cfg.id_uri.as_str()));
        }
        let callable: Vec<usize> = trusting
            .iter()
            .copied()
            .filter(|&i| self.accounts[i].cfg.can_be_called)
            .collect();
        let Some(&first) = callable.first() else {
            return Err(Refusal::not_called(
                self.accounts[trusting[0]].cfg.id_uri.as_str(),
            ));
        };
        let trusting = callable;
        let to_user = req
            .to()
            .and_then(Result::ok)
            .and_then(|t| t.uri.user().map(|u| u.into_owned()))
            .unwrap_or_default();
        let by_user = |u: &str, registering_only: bool| {
            trusting.iter().copied().find(|&i| {
                !u.is_empty()
                    && self.accounts[i].user.as_deref() == Some(u)
                    && (!registering_only || self.accounts[i].cfg.registrar.is_some())
            })
        };
        // The To names the user only for a provider's calls (a direct caller's To is
        // whatever it typed).
        if let Some(i) = by_user(&ruri_user, false).or_else(|| by_user(&to_user, true)) {
            return Ok(Some(AccountId(i)));
        }
        if let Some(&i) = trusting
            .iter()
            .find(|&&i| self.accounts[i].cfg.registrar.is_some())
        {
            return Ok(Some(AccountId(i)));
        }
        // Only direct-call accounts: their own user, or none (some intercoms send none),
        // or an account with no user of its own.
        if let Some(&i) = trusting.iter().find(|&&i| self.accounts[i].user.is_none()) {
            return Ok(Some(AccountId(i)));
        }
        if ruri_user.is_empty() {
            return Ok(Some(AccountId(first)));
        }
        Err(Refusal::no_user(&ruri_user))
    }

    /// True when account `i` takes calls from `ip`: its registrar's or proxy's address (as
    /// resolved) or its `--allow-calls-from` networks; a direct-call account, its networks
    /// or the private ones.
    pub(super) fn takes_calls_from(&self, i: usize, ip: IpAddr) -> bool {
        let a = &self.accounts[i];
        if a.cfg.registrar.is_none() {
            return match &a.cfg.allow_calls_from {
                Some(nets) => admission::in_networks(nets, ip),
                None => admission::in_networks(&self.private_networks, ip),
            };
        }
        let ip = ip.to_canonical();
        let signalling = [a.cfg.registrar.as_deref(), a.cfg.proxy.as_deref()];
        signalling.into_iter().flatten().any(|uri| {
            parse_uri_host(uri).is_some_and(|(_, host, _)| match host.parse::<IpAddr>() {
                Ok(lit) => lit.to_canonical() == ip,
                Err(_) => self
                    .resolved
                    .get(&host)
                    .is_some_and(|(r, _)| r.to_canonical() == ip),
            })
        }) || a
            .cfg
            .allow_calls_from
            .as_deref()
            .is_some_and(|nets| admission::in_networks(nets, ip))
    }

    /// The stateless 200 to an OPTIONS, with Allow, Accept and a To tag that is the same
    /// for every retransmission of the request (a keyed hash of its Call-ID and branch) and
    /// that no one without the key can foresee.
    pub(super) fn answer_options(&mut self, from: Peer, req: &Message) {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(self.stateless_key);
        h.update(req.call_id().unwrap_or_default().as_bytes());
        if let Some(Ok(v)) = req.top_via() {
            h.update(v.branch().unwrap_or_default().as_bytes());
        }
        let digest = h.finalize();
        let tag: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let mut b = response_to(req, 200, "OK", Some(&tag));
        b.header(HeaderName::Allow, &self.allow);
        b.header(HeaderName::Accept, ACCEPTED_BODIES.join(", "));
        b.header(HeaderName::AcceptLanguage, "en");
        b.header(HeaderName::Supported, "");
        b.header(HeaderName::Server, &self.cfg.user_agent);
        let payload = b.finish();
        let to = match req.top_via() {
            Some(Ok(v)) => response_destination(from, &v),
            _ => from,
        };
        self.transmits.push_back(Transmit { to, payload });
    }

    /// Answers a refused INVITE statelessly (no transaction, so nothing is kept).
    pub(super) fn refuse(&mut self, from: Peer, req: &Message, refusal: Refusal) {
        let mut b = response_to(req, refusal.code, refusal.reason, Some(&self.rng.tag()));
        b.header(HeaderName::Server, &self.cfg.user_agent);
        if refusal.code == 503 {
            b.header(HeaderName::RetryAfter, "5");
        }
        let payload = b.finish();
        let to = match req.top_via() {
            Some(Ok(v)) => response_destination(from, &v),
            _ => from,
        };
        self.transmits.push_back(Transmit { to, payload });
        self.events.push_back(UaEvent::Refused { from, refusal });
    }

    pub(super) fn handle_invite(
        &mut self,
        now: Instant,
        from: Peer,
        tx: TransactionId,
        req: Message,
    ) {
        if let Some(call) = self.call_of_request(&req) {
            self.handle_reinvite(now, call, tx, req);
            return;
        }
        if req
            .to()
            .and_then(Result::ok)
            .is_some_and(|t| t.tag().is_some())
        {
            // A request for a dialog we do not know (RFC 3261 §12.2.2).
            self.reply(
                now,
                tx,
                &req,
                (481, "Call/Transaction Does Not Exist"),
                None,
                &[],
            );
            return;
        }
        let Ok(account) = self.admit(from, &req) else {
            // Admitted when it arrived; a registrar whose address changed since is refused
            // with the next INVITE.
            self.reply(now, tx, &req, (403, "Forbidden"), None, &[]);
            return;
        };
        let id = self.new_call_ref();
        let local_tag = self.rng.tag();
        let dialog = Dialog::from_uas(&req, &local_tag, (self.rng.next_u64() % 10_000) as u32 + 1);
        self.by_invite_tx.insert(tx, id);
        if let Some(d) = &dialog {
            self.by_dialog
                .insert((d.call_id.clone(), local_tag.clone()), id);
        }
        self.calls.insert(
            id,
            Call {
                role: Role::Uas,
                account,
                state: CallState::Initial,
                invite: req.clone(),
                invite_tx: Some(tx),
                peer: from,
                local_tag,
                dialog,
                cancel_pending: false,
                ack: None,
                ok_retx: None,
                auth_tries: 0,
                offer: Bytes::new(),
                target: String::new(),
                extra_headers: Vec::new(),
            },
        );
        self.owners.insert(tx, Owner::Invite(id));
        self.events.push_back(UaEvent::IncomingCall {
            call: id,
            account,
            invite: req,
        });
    }

    pub(super) fn handle_reinvite(
        &mut self,
        now: Instant,
        call: CallRef,
        tx: TransactionId,
        req: Message,
    ) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if let Some(d) = c.dialog.as_mut() {
            let seq = req.cseq().and_then(Result::ok).map_or(0, |c| c.seq);
            if d.remote_seq.is_some_and(|r| seq <= r) {
                let tag = c.local_tag.clone();
                self.reply(
                    now,
                    tx,
                    &req,
                    (500, "Server Internal Error"),
                    Some(&tag),
                    &[(HeaderName::RetryAfter, "1".into())],
                );
                return;
            }
            d.remote_seq = Some(seq);
            d.refresh_target(&req);
        }
        self.owners.insert(tx, Owner::InDialog(call));
        self.events.push_back(UaEvent::ReInvite {
            call,
            tx,
            offer: req.body().clone(),
        });
    }

    /// Answers a re-INVITE with our SDP (200) or a failure code (`sdp` empty, e.g. 488).
    pub fn answer_reinvite(
        &mut self,
        now: Instant,
        call: CallRef,
        tx: TransactionId,
        code: u16,
        sdp: Bytes,
    ) {
        let Some(req) = self.tx.request(tx).cloned() else {
            return;
        };
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let tag = c.local_tag.clone();
        let transport = c.peer.transport;
        let contact = self.contact(c.account, transport);
        let mut b = response_to(
            &req,
            code,
            if code == 200 {
                "OK"
            } else {
                "Not Acceptable Here"
            },
            Some(&tag),
        );
        b.header(HeaderName::Contact, contact);
        b.header(HeaderName::Allow, &self.allow);
        b.header(HeaderName::Server, &self.cfg.user_agent);
        let wire = if (200..300).contains(&code) && !sdp.is_empty() {
            b.finish_with_body("application/sdp", &sdp)
        } else {
            b.finish()
        };
        self.tx.respond(now, tx, code, wire);
        self.drain_tx(now);
    }

    pub(super) fn handle_ack(&mut self, now: Instant, ack: &Message) {
        let Some(call) = self.call_of_request(ack) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.role == Role::Uas && c.state == CallState::Accepted {
            c.state = CallState::Confirmed;
            c.ok_retx = None;
            self.events.push_back(UaEvent::Confirmed { call });
        } else if c.role == Role::Uas {
            // An ACK for a re-INVITE's 2xx, or a duplicate: nothing to do.
            c.ok_retx = None;
        }
        let _ = now;
    }

    pub(super) fn handle_cancel(&mut self, now: Instant, tx: TransactionId, req: &Message) {
        let Some(invite_tx) = self.tx.invite_for_cancel(req) else {
            self.reply(
                now,
                tx,
                req,
                (481, "Call/Transaction Does Not Exist"),
                None,
                &[],
            );
            return;
        };
        self.reply(now, tx, req, (200, "OK"), None, &[]);
        let Some(&call) = self.by_invite_tx.get(&invite_tx) else {
            return;
        };
        if self.tx.is_pending_invite(invite_tx) {
            if let Some(invite) = self.tx.request(invite_tx).cloned() {
                let tag = self.calls.get(&call).map(|c| c.local_tag.clone());
                self.reply(
                    now,
                    invite_tx,
                    &invite,
                    (487, "Request Terminated"),
                    tag.as_deref(),
                    &[],
                );
            }
            self.end_call(call, EndReason::Cancelled);
        }
    }

    pub(super) fn handle_in_dialog(
        &mut self,
        now: Instant,
        tx: TransactionId,
        req: &Message,
        method: &Method,
    ) {
        let Some(call) = self.call_of_request(req) else {
            self.reply(
                now,
                tx,
                req,
                (481, "Call/Transaction Does Not Exist"),
                None,
                &[],
            );
            return;
        };
        if let Some(d) = self.calls.get_mut(&call).and_then(|c| c.dialog.as_mut()) {
            let seq = req.cseq().and_then(Result::ok).map_or(0, |c| c.seq);
            d.remote_seq = Some(d.remote_seq.map_or(seq, |r| r.max(seq)));
        }
        match method {
            Method::Bye => {
                self.reply(now, tx, req, (200, "OK"), None, &[]);
                self.end_call(call, EndReason::RemoteBye);
            }
            Method::Info => {
                let content_type = req.content_type().unwrap_or("").to_ascii_lowercase();
                self.reply(now, tx, req, (200, "OK"), None, &[]);
                self.events.push_back(UaEvent::Info {
                    call,
                    content_type,
                    body: req.body().clone(),
                });
            }
            Method::Notify => {
                self.reply(now, tx, req, (200, "OK"), None, &[]);
                let is_refer = req
                    .header(HeaderName::Event)
                    .is_some_and(|e| e.trim().to_ascii_lowercase().starts_with("refer"));
                if is_refer {
                    let frag = String::from_utf8_lossy(req.body());
                    let code = frag
                        .lines()
                        .next()
                        .and_then(|l| l.strip_prefix("SIP/2.0 "))
                        .and_then(|r| r.get(..3))
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(0);
                    let done = req
                        .header(HeaderName::SubscriptionState)
                        .is_some_and(|s| s.trim().to_ascii_lowercase().starts_with("terminated"));
                    self.events
                        .push_back(UaEvent::ReferProgress { call, code, done });
                }
            }
            Method::Refer => {
                // Transfers are made by us, never taken from the peer.
                self.reply(now, tx, req, (603, "Decline"), None, &[]);
            }
            _ => {
                let allow = self.allow.clone();
                self.reply(
                    now,
                    tx,
                    req,
                    (405, "Method Not Allowed"),
                    None,
                    &[(HeaderName::Allow, allow)],
                );
            }
        }
    }
}
