//! A call's life in the engine: its record ([`Call`]: direction, phase, timers, menu,
//! media), how it begins (`dial`, `on_incoming`), is answered, confirmed and settled,
//! reports its events, and ends.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallDirection {
    Incoming,
    Outgoing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Outgoing: waiting for the RTP port, then the INVITE goes out.
    Preparing,
    /// Ringing (either direction).
    Ringing,
    /// Confirmed; `call_established` follows after the settle time.
    Settling,
    /// Established.
    Established,
    /// Over; waiting for the SIP side to finish.
    Ended,
}

#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) direction: CallDirection,
    pub(crate) ua: Option<CallRef>,
    pub(crate) account: usize,
    pub(crate) info: CallInfo,
    pub(crate) aliases: Vec<String>,
    pub(crate) phase: Phase,
    /// Its deadlines (`timers.rs`): answer, ring timeout, settle, menu.
    pub(crate) timers: CallTimers,
    /// The remote offer (incoming) or our offer (outgoing).
    pub(crate) offer: Option<SessionDescription>,
    pub(crate) webhooks: BTreeMap<String, String>,
    /// The call's menu (the standard menu when none was given).
    pub(crate) menu: MenuSession,
    /// The playback in progress: its id and what it was (for `playback_done`).
    pub(crate) playing: Option<(hasip_menu::PlaybackId, PlaybackKind)>,
    /// Its media (the media room's: `media.rs`).
    pub(crate) media: CallMedia,
    /// Assist, while it runs (`assist.rs`).
    pub(crate) assist: Option<Box<crate::assist::AssistState>>,
}

impl Call {
    /// A call that has just begun: ringing (incoming) or preparing its INVITE (outgoing),
    /// with no media, timers or webhooks yet; the caller sets what differs.
    pub(crate) fn new(
        direction: CallDirection,
        account: usize,
        info: CallInfo,
        aliases: Vec<String>,
        tree: Arc<MenuTree>,
    ) -> Self {
        Self {
            direction,
            ua: None,
            account,
            info,
            aliases,
            phase: match direction {
                CallDirection::Incoming => Phase::Ringing,
                CallDirection::Outgoing => Phase::Preparing,
            },
            timers: CallTimers::default(),
            offer: None,
            webhooks: BTreeMap::new(),
            menu: MenuSession::new(tree),
            playing: None,
            media: CallMedia::default(),
            assist: None,
        }
    }
}

impl Engine {
    pub(crate) fn dial(
        &mut self,
        now: Instant,
        number: String,
        ring_timeout: Option<Duration>,
        sip_account: Option<u8>,
        webhooks: BTreeMap<String, String>,
        menu: Option<Box<hasip_menu::Menu>>,
    ) -> Result<(), CommandError> {
        if self.shutting_down {
            return Err(CommandError("shutting down".into()));
        }
        if self.find(&number).is_ok() {
            // ha-sip ignores a dial to a call in progress ("call already in progress").
            return Err(CommandError(format!("call already in progress: {number}")));
        }
        if hasip_sip::dialog::uri_of(&number)
            .and_then(|u| u.as_sip().copied())
            .is_none()
        {
            return Err(CommandError(format!(
                "number: {number:?} is not a SIP URI (e.g. \"sip:**620@fritz.box\")"
            )));
        }
        let account = match sip_account {
            Some(n) => self
                .config
                .accounts
                .iter()
                .position(|a| a.number == n)
                .ok_or_else(|| {
                    CommandError(format!(
                        "sip_account: {n} is not an account that runs (enabled, with a menu \
                         file that loads)"
                    ))
                })?,
            None => 0,
        };
        if let Some(a) = self.config.accounts.get(account)
            && !a.can_call
        {
            return Err(CommandError(format!(
                "sip_account: {} does not make calls (--can-call disabled in its options)",
                a.number
            )));
        }
        let number_acct = self.config.accounts.get(account).map_or(1, |a| a.number);
        let called = self
            .config
            .accounts
            .get(account)
            .map(|a| format!("<{}>", a.sip.id_uri))
            .unwrap_or_else(|| "<sip:hasip@localhost>".into());
        let key = self.new_key();
        let caller = format!("<{number}>");
        let info = CallInfo {
            parsed_caller: parse_number(&caller),
            parsed_called: parse_number(&called),
            caller,
            called,
            sip_account: number_acct,
            call_id: None,
            internal_id: self.unique_id(&number),
            headers: BTreeMap::new(),
        };
        let aliases = info.parsed_caller.iter().cloned().collect();
        let tree = match menu {
            Some(m) => Arc::new(MenuTree::new(&m)),
            None => Arc::clone(&self.standard_tree),
        };
        self.prefetch(key, &tree);
        self.calls.insert(
            key,
            Call {
                webhooks,
                ..Call::new(CallDirection::Outgoing, account, info, aliases, tree)
            },
        );
        let ring = now + ring_timeout.unwrap_or(Duration::from_secs(300));
        self.set_timer(key, Timer::Ring, Some(ring));
        self.order.push(key);
        self.outputs.push_back(Output::BindRtp { call: key });
        Ok(())
    }

    pub(crate) fn local_sdp(&mut self, key: CallKey, direction: Direction) -> Option<sdp::Local> {
        let c = self.calls.get_mut(&key)?;
        let rtp = c.media.rtp?;
        c.media.session_version += 1;
        // The shell reports the socket's address, or the public one STUN found; a wildcard
        // bind is advertised as `media_ip`.
        let ip = if rtp.ip().is_unspecified() {
            self.config.media_ip
        } else {
            rtp.ip()
        };
        // Behind NAT (the registrar saw the account at another address), the SDP names the
        // public IP, as pjsua's SDP NAT rewrite does; a STUN answer already is one.
        let nat = self
            .config
            .accounts
            .get(c.account)
            .filter(|a| a.sdp_nat_rewrite && ip == self.config.media_ip)
            .and_then(|_| self.ua.public_addr(AccountId(c.account)));
        let ip = nat.map_or(ip, |p| p.ip());
        Some(sdp::Local {
            addr: SocketAddr::new(ip, rtp.port()),
            codecs: self.config.codecs.clone(),
            session_id: self.sdp_seed ^ key.0,
            version: c.media.session_version,
            direction,
        })
    }

    pub(crate) fn send_dial_invite(&mut self, now: Instant, key: CallKey) {
        let Some(local) = self.local_sdp(key, Direction::SendRecv) else {
            return;
        };
        let offer = sdp::offer(&local);
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let target = c
            .info
            .internal_id
            .split('#')
            .next()
            .unwrap_or("")
            .to_owned();
        let account = (c.account < self.config.accounts.len()).then_some(AccountId(c.account));
        let body = Bytes::from(offer.to_string());
        c.offer = Some(offer);
        match self.ua.invite(now, account, &target, body, Vec::new()) {
            Ok(r) => {
                c.ua = Some(r);
                c.phase = Phase::Ringing;
                c.info.call_id = self.ua.sip_call_id(r).map(str::to_owned);
                if let Some(id) = c.info.call_id.clone() {
                    c.aliases.push(id);
                }
                self.by_ua.insert(r, key);
                self.event(key, EventKind::OutgoingCallInitiated);
            }
            Err(e) => {
                tracing::warn!(call = key.0, error = %e, "dial failed");
                self.end(now, key);
            }
        }
    }

    pub(crate) fn hangup_call(&mut self, now: Instant, key: CallKey) {
        let Some(c) = self.calls.get(&key) else {
            return;
        };
        match c.ua {
            Some(r) => {
                let _ = self.ua.hangup(now, r);
            }
            None => self.end(now, key),
        }
    }

    /// Per-call timers: ring timeout, answer due, settle done.
    pub(crate) fn call_timers(&mut self, now: Instant, key: CallKey) {
        let Some(c) = self.calls.get(&key) else {
            return;
        };
        if c.phase == Phase::Ended {
            return;
        }
        if c.phase != Phase::Established && c.timers.due(Timer::Ring, now) {
            self.set_timer(key, Timer::Ring, None);
            self.event(key, EventKind::RingTimeout);
            self.hangup_call(now, key);
            return;
        }
        if c.phase == Phase::Ringing
            && c.direction == CallDirection::Incoming
            && c.timers.due(Timer::Answer, now)
            && c.media.rtp.is_some()
        {
            self.answer_incoming(now, key);
            return;
        }
        if c.phase == Phase::Settling && c.timers.due(Timer::Settle, now) {
            if let Some(c) = self.calls.get_mut(&key) {
                c.phase = Phase::Established;
            }
            self.set_timer(key, Timer::Settle, None);
            self.set_timer(key, Timer::Ring, None);
            self.event(key, EventKind::CallEstablished);
            // ha-sip enters the root menu right after `call_established` (spec §5.4 step 3).
            if let Some(c) = self.calls.get_mut(&key) {
                c.menu.handle_established(now);
            }
            self.drain_menu(now, key);
            return;
        }
        if c.assist.is_some() || c.timers.get(Timer::Assist).is_some() {
            self.assist_timer(now, key);
            if self.assisting(key) {
                return;
            }
        }
        let Some(c) = self.calls.get(&key) else {
            return;
        };
        if c.phase == Phase::Established && c.menu.poll_timeout().is_some_and(|t| t <= now) {
            if let Some(c) = self.calls.get_mut(&key) {
                c.menu.handle_timeout(now);
            }
            self.drain_menu(now, key);
        }
    }

    pub(crate) fn answer_incoming(&mut self, now: Instant, key: CallKey) {
        let Some(local) = self.local_sdp(key, Direction::SendRecv) else {
            return;
        };
        // Picked up: the ring timeout is over (the ACK may take a moment).
        self.set_timer(key, Timer::Answer, None);
        self.set_timer(key, Timer::Ring, None);
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(r) = c.ua else { return };
        let result = c.offer.as_ref().map(|o| sdp::answer(o, &local));
        match result {
            Some(Ok((answer, negotiated))) => {
                if self
                    .ua
                    .accept(now, r, Bytes::from(answer.to_string()))
                    .is_ok()
                {
                    self.media_start(now, key, negotiated);
                }
            }
            Some(Err(e)) => {
                tracing::warn!(call = key.0, error = %e, "incoming call has no usable offer: 488");
                let _ = self.ua.reject(now, r, 488, "Not Acceptable Here");
            }
            None => {
                // An offerless INVITE would need our offer in the 200 and the answer in the
                // ACK; no gateway peer sends one, so it is declined clearly.
                tracing::warn!(call = key.0, "INVITE without SDP offer: 488");
                let _ = self.ua.reject(now, r, 488, "Not Acceptable Here");
            }
        }
    }

    pub(crate) fn event(&mut self, key: CallKey, kind: EventKind) {
        let Some(c) = self.calls.get(&key) else {
            return;
        };
        let call_webhook = if kind == EventKind::IncomingCall {
            None
        } else {
            c.webhooks.get(kind.name()).cloned()
        };
        self.outputs.push_back(Output::Event(Event {
            kind,
            call: c.info.clone(),
            call_webhook,
        }));
    }

    pub(crate) fn end(&mut self, now: Instant, key: CallKey) {
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        if c.phase == Phase::Ended {
            return;
        }
        let answered = matches!(c.phase, Phase::Settling | Phase::Established);
        self.assist_end(now, key, crate::AssistEnd::Hangup);
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        c.phase = Phase::Ended;
        c.menu.handle_call_ended();
        let had_rtp = c.media.rtp.take().is_some();
        // ha-sip: `recording_stopped` comes before `call_disconnected` (spec §3.4.12).
        self.media_stop_recording(key);
        self.media_end(now, key);
        self.event(key, EventKind::CallDisconnected);
        if had_rtp {
            self.outputs.push_back(Output::ReleaseRtp { call: key });
        }
        let info = self.calls.get(&key).map(|c| c.info.clone());
        if let Some(c) = self.calls.remove(&key)
            && let Some(r) = c.ua
        {
            self.by_ua.remove(&r);
        }
        self.order.retain(|k| *k != key);
        if let Some(info) = info {
            // An escalation's attempt: the next number is called once this call is gone.
            self.escalation_call_ended(now, key, answered, &info);
        }
    }

    pub(crate) fn confirmed(&mut self, now: Instant, key: CallKey) {
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let settle = self
            .config
            .accounts
            .get(c.account)
            .map_or(Duration::ZERO, |a| a.settle_time);
        c.phase = Phase::Settling;
        self.set_timer(key, Timer::Settle, Some(now + settle));
        // Answered: the ring timeout no longer applies (it must not end a call that is
        // answered within its settle time).
        self.set_timer(key, Timer::Ring, None);
        self.call_timers(now, key);
    }

    /// The answer to our INVITE: `--debug-headers` logs it; `--extract-headers` takes its
    /// headers when the call has none yet (ha-sip: from the message that confirmed it).
    pub(crate) fn answer_headers(&mut self, key: CallKey, response: &Message) {
        if self.config.debug_headers {
            headers::log_headers("answer", response);
        }
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        if !c.info.headers.is_empty() {
            return;
        }
        if let Some(a) = self.config.accounts.get(c.account)
            && !a.extract_headers.is_empty()
        {
            c.info.headers = headers::extract_headers(response, &a.extract_headers);
        }
    }

    pub(crate) fn on_incoming(
        &mut self,
        now: Instant,
        call: CallRef,
        account: Option<AccountId>,
        invite: &Message,
    ) {
        if self.shutting_down {
            let _ = self.ua.reject(now, call, 503, "Service Unavailable");
            return;
        }
        let idx = account.map_or(0, |a| a.0);
        let acct = self.config.accounts.get(idx).cloned();
        let acct = acct.as_ref();
        let number = acct.map_or(1, |a| a.number);
        let from = ids::name_addr_without_tag(invite.header(HeaderName::From).unwrap_or(""));
        let to = ids::name_addr_without_tag(invite.header(HeaderName::To).unwrap_or(""));
        let call_id = invite.call_id().map(str::to_owned);
        let key = self.new_key();
        let info = CallInfo {
            parsed_caller: parse_number(&from),
            parsed_called: parse_number(&to),
            internal_id: self.unique_id(&from),
            caller: from,
            called: to,
            sip_account: number,
            call_id: call_id.clone(),
            headers: headers::extract_headers(invite, acct.map_or(&[], |a| &a.extract_headers)),
        };
        if self.config.debug_headers {
            headers::log_headers("INVITE", invite);
        }
        let configured = acct.map_or(AnswerMode::Listen, |a| a.answer_mode);
        let file = acct.and_then(|a| a.incoming.clone());
        // The incoming-call file decides with its allowed/blocked numbers (spec §4.3).
        let mode = match &file {
            Some(f) => {
                let c = match configured {
                    AnswerMode::Listen => hasip_menu::AnswerMode::Listen,
                    AnswerMode::Accept => hasip_menu::AnswerMode::Accept,
                };
                match f.answer_mode(c, info.parsed_caller.as_deref()) {
                    hasip_menu::AnswerMode::Listen => AnswerMode::Listen,
                    hasip_menu::AnswerMode::Accept => AnswerMode::Accept,
                }
            }
            None => configured,
        };
        let answer_after = match &file {
            Some(f) => f.answer_after,
            None => acct.map_or(Duration::ZERO, |a| a.answer_after),
        };
        let webhooks: BTreeMap<String, String> = file
            .as_ref()
            .map(|f| f.webhook_to_call.iter().cloned().collect())
            .unwrap_or_default();
        tracing::info!(
            caller = %info.caller, called = %info.called, parsed_caller = ?info.parsed_caller,
            mode = ?mode, "incoming call"
        );
        let aliases = info.parsed_caller.iter().cloned().chain(call_id).collect();
        let offer = SessionDescription::parse(&String::from_utf8_lossy(invite.body())).ok();
        let tree = self
            .incoming_trees
            .get(idx)
            .cloned()
            .unwrap_or_else(|| Arc::clone(&self.standard_tree));
        // Listen mode too: the file's first prompt plays when the call is answered, so it
        // is fetched while it rings.
        self.prefetch(key, &tree);
        self.calls.insert(
            key,
            Call {
                ua: Some(call),
                offer,
                webhooks,
                ..Call::new(CallDirection::Incoming, idx, info, aliases, tree)
            },
        );
        let answer = (mode == AnswerMode::Accept).then_some(now + answer_after);
        self.set_timer(key, Timer::Answer, answer);
        self.set_timer(
            key,
            Timer::Ring,
            Some(now + self.config.incoming_ring_timeout),
        );
        self.order.push(key);
        self.by_ua.insert(call, key);
        // ha-sip rings at once in both modes, then reports the call.
        let _ = self.ua.ring(now, call);
        self.event(key, EventKind::IncomingCall);
        if mode == AnswerMode::Accept {
            // Bind the RTP port while ringing, so that the answer leaves without delay.
            self.outputs.push_back(Output::BindRtp { call: key });
        }
    }

    pub(crate) fn on_reinvite(
        &mut self,
        now: Instant,
        call: CallRef,
        tx: hasip_sip::transaction::TransactionId,
        offer: &Bytes,
    ) {
        let Some(&key) = self.by_ua.get(&call) else {
            return;
        };
        let Some(local) = self.local_sdp(key, Direction::SendRecv) else {
            self.ua.answer_reinvite(now, call, tx, 488, Bytes::new());
            return;
        };
        match SessionDescription::parse(&String::from_utf8_lossy(offer)) {
            Ok(o) => match sdp::answer(&o, &local) {
                Ok((answer, negotiated)) => {
                    tracing::info!(call = key.0, direction = ?negotiated.direction, "re-INVITE answered");
                    self.ua
                        .answer_reinvite(now, call, tx, 200, Bytes::from(answer.to_string()));
                    self.media_start(now, key, negotiated);
                }
                Err(_) => self.ua.answer_reinvite(now, call, tx, 488, Bytes::new()),
            },
            // An offerless re-INVITE (session refresh): answer with our current offer.
            Err(_) => {
                let sd = sdp::offer(&local);
                self.ua
                    .answer_reinvite(now, call, tx, 200, Bytes::from(sd.to_string()));
            }
        }
    }
}
