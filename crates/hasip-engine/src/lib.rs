//! The ha-sip-rs gateway as one sans-IO state machine.
//!
//! The engine composes the SIP user agent ([`hasip_sip::ua`]) with the gateway's call model
//! (ha-sip's call ids, answer modes, settle and ring timers, events), each call's media
//! session and menu. It never performs I/O, never reads a clock and never draws from the
//! operating system: the shell does, and hands it what happened.
//!
//! # The contract
//!
//! Create it with [`Engine::with_rng`] (production: a generator seeded from the OS) or
//! [`Engine::new`] (tests: a number, so the same seed gives the same bytes), then call
//! [`Engine::start`] once. Each turn of the shell's loop is:
//!
//! 1. **One input**, stamped with the `now` the shell read when it woke:
//!    [`Engine::handle_sip`] (a SIP message arrived, with its source and connection),
//!    [`Engine::handle_rtp`] (a datagram on a call's RTP socket),
//!    [`Engine::handle_rtp_bound`] (the RTP port asked for by [`Output::BindRtp`] is bound,
//!    or could not be), [`Engine::handle_audio`] (the audio asked for by
//!    [`Output::FetchAudio`] is decoded, or failed), [`Engine::handle_resolved`] (a host
//!    asked for by [`Output::Resolve`]), [`Engine::handle_connection_failed`] (a TCP or TLS
//!    connect failed), [`Engine::handle_command`] (a command from stdin or MQTT; an error
//!    names the field or call and changes nothing), [`Engine::handle_timeout`] (the
//!    deadline of `poll_timeout` passed), [`Engine::shutdown`] (SIGTERM: hang up,
//!    unregister).
//! 2. **Every output**: [`Engine::poll_output`] until `None`. Each [`Output`] says what to
//!    do: send bytes, bind or release an RTP port, fetch audio, open, write or close a
//!    recording, call a Home Assistant service, post an event (webhook, event bus, MQTT),
//!    look up a host, report a registration. Media datagrams and recording frames are lent
//!    through [`Engine::drain_media`] without copying.
//! 3. **Sleep** until the next input or [`Engine::poll_timeout`], whichever comes first.
//!
//! The shell may ask at any time: [`Engine::connection_in_use`] (before closing an idle
//! connection a peer opened), [`Engine::is_idle`] (leave after `shutdown` once nothing is
//! pending), [`Engine::call_count`] and [`Engine::call_ids`].
//!
//! One faulty message or command affects only its own call.
#![forbid(unsafe_code)]
#![warn(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod assist;
mod call;
mod command;
mod config;
mod dispatch;
mod drop_log;
mod escalation;
mod headers;
mod ids;
mod media;
mod menus;
mod output;
mod timers;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hasip_menu::{IncomingCallFile, MenuSession, MenuTree};

use bytes::Bytes;
use hasip_sip::message::{HeaderName, Message};
use hasip_sip::rng::Rng;
use hasip_sip::sdp::{self, Codec, Direction, Negotiated, SessionDescription};
use hasip_sip::transport::{Peer, Transport};
use hasip_sip::ua::{
    self, AccountConfig, AccountId, CallRef, EndReason, RegistrationState, UaConfig, UaEvent,
    UserAgent,
};

pub use assist::{AssistEnd, AssistSettings, AssistTap, AssistUpdate, SpokenReply};
use call::{Call, CallDirection, Phase};
pub use command::{Command, CommandError, DtmfMethod};
pub use config::{Account, AnswerMode, Config, RecordingChannels};
use drop_log::DropLog;
pub use escalation::{EscalationReport, EscalationRequest, EscalationTarget};
pub use hasip_media::DtmfTiming;
pub use ids::parse_number;
pub use media::MediaIo;
use media::{CallMedia, Recording};
pub use output::{Audio, AudioSource, CallInfo, Event, EventKind, Output, PlaybackKind};
use timers::{CallTimers, Deadlines, Timer};

/// The engine's handle of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallKey(pub u64);

/// The gateway.
#[derive(Debug)]
pub struct Engine {
    config: Config,
    ua: UserAgent,
    calls: HashMap<CallKey, Call>,
    /// Calls in creation order, for id resolution (oldest first).
    order: Vec<CallKey>,
    by_ua: HashMap<CallRef, CallKey>,
    next_key: u64,
    outputs: VecDeque<Output>,
    drops: DropLog,
    /// Calls refused by who-may-call, logged once per source per minute.
    refusals: DropLog,
    /// Escalations in progress (`escalate`).
    escalations: Vec<escalation::Escalation>,
    /// Numbers the escalations that were given no id.
    next_escalation: u64,
    /// Draws each media session's seed (SSRC, first sequence number and timestamp).
    rng: Rng,
    /// Mixed with the call's key into its SDP session id (`o=`), which is public.
    sdp_seed: u64,
    shutting_down: bool,
    /// The menu tree of each account's incoming calls (from its incoming-call file).
    incoming_trees: Vec<Arc<MenuTree>>,
    standard_tree: Arc<MenuTree>,
    /// Calls whose media has something to hand out at the next `drain_media`.
    media_dirty: Vec<CallKey>,
    /// Calls with a media session.
    media_sessions: usize,
    /// The shared tick's grid: sub-tick k is due at `anchor + k × 20 ms / PHASES`, and
    /// runs the calls of phase `k % PHASES`.
    tick_anchor: Option<Instant>,
    next_tick: Option<Instant>,
    /// The first sub-tick not run yet.
    next_sub: u64,
    /// Reused frame buffers (received, sent) of `drain_media`.
    scratch: (Vec<i16>, Vec<i16>),
    /// Media of ended calls, kept until their last RTCP has been handed out.
    closing: Vec<(CallKey, Box<hasip_media::MediaSession>)>,
    /// Every call's armed deadlines in time order (`timers.rs`).
    deadlines: Deadlines,
}

impl Engine {
    /// A new engine. `seed` drives every random choice (tags, branches, Call-IDs, SSRCs):
    /// the same seed gives the same bytes, for tests. Production seeds from the operating
    /// system with [`Engine::with_rng`].
    pub fn new(config: Config, seed: u64) -> Self {
        Self::with_rng(config, Rng::new(seed))
    }

    /// A new engine drawing every random choice from `rng` (a cryptographic generator:
    /// identifiers a peer could aim a forged request with are unpredictable).
    pub fn with_rng(config: Config, mut rng: Rng) -> Self {
        let incoming_trees = config
            .accounts
            .iter()
            .map(|a| {
                Arc::new(MenuTree::from_option(
                    a.incoming.as_ref().and_then(|f| f.menu.as_ref()),
                ))
            })
            .collect();
        let ua_cfg = UaConfig {
            user_agent: config.user_agent.clone(),
            local: config.local.clone(),
            timers: Default::default(),
            accounts: config.accounts.iter().map(|a| a.sip.clone()).collect(),
            call_rate: config.call_rate,
        };
        Self {
            ua: UserAgent::with_rng(ua_cfg, rng.fork()),
            sdp_seed: rng.next_u64(),
            rng,
            config,
            calls: HashMap::new(),
            order: Vec::new(),
            by_ua: HashMap::new(),
            next_key: 0,
            outputs: VecDeque::new(),
            drops: DropLog::drops(),
            refusals: DropLog::refusals(),
            escalations: Vec::new(),
            next_escalation: 0,
            shutting_down: false,
            incoming_trees,
            standard_tree: Arc::new(MenuTree::standard()),
            media_dirty: Vec::new(),
            media_sessions: 0,
            tick_anchor: None,
            next_tick: None,
            next_sub: 0,
            scratch: (Vec::new(), Vec::new()),
            closing: Vec::new(),
            deadlines: Deadlines::default(),
        }
    }

    /// Starts the registrations of the accounts that have a registrar.
    pub fn start(&mut self, now: Instant) {
        for i in 0..self.config.accounts.len() {
            if self.config.accounts[i].sip.registrar.is_some() {
                let _ = self.ua.register(now, AccountId(i));
            }
        }
        self.pump(now);
    }

    /// Begins a clean shutdown: hangs up every call and removes every registration.
    /// Keep driving the engine until [`Engine::is_idle`] (or a grace period passes).
    pub fn shutdown(&mut self, now: Instant) {
        self.shutting_down = true;
        let keys: Vec<CallKey> = self.order.clone();
        for k in keys {
            self.hangup_call(now, k);
        }
        for i in 0..self.config.accounts.len() {
            let _ = self.ua.unregister(now, AccountId(i));
        }
        self.pump(now);
    }

    /// True when nothing is left in flight (no call, no REGISTER, no BYE).
    pub fn is_idle(&self) -> bool {
        self.calls.is_empty() && !self.ua.has_pending_requests()
    }

    /// Takes the next output.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        if let Some(t) = self.ua.poll_transmit() {
            return Some(Output::Transmit(t));
        }
        self.outputs.pop_front()
    }

    /// The next instant at which [`Engine::handle_timeout`] has work: the earliest of the
    /// user agent's timers, the media tick (while a call has media) and the calls'
    /// deadlines, each read off its own ordered table, so this costs the same with 1 call
    /// or 500, however often the shell asks.
    #[must_use]
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        [
            self.ua.poll_timeout(),
            self.media_timeout(),
            self.deadlines.next(&self.calls),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Sets one of a call's deadlines (`None` disarms it).
    pub(crate) fn set_timer(&mut self, key: CallKey, timer: Timer, at: Option<Instant>) {
        self.deadlines.set(&mut self.calls, key, timer, at);
    }

    /// Handles a SIP message (a UDP datagram, or one frame of a stream) from `source`.
    pub fn handle_sip(&mut self, now: Instant, source: Peer, data: Bytes) {
        self.ua.handle_datagram(now, source, data);
        self.pump(now);
    }

    /// Fires what is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.media_tick(now);
        self.ua.handle_timeout(now);
        self.pump(now);
        for k in self.deadlines.take_due(&self.calls, now) {
            self.call_timers(now, k);
        }
        self.pump(now);
    }

    /// The shell could not open a TCP or TLS connection to `addr` (connect or handshake
    /// failed): requests waiting on it fail now instead of at their timeout.
    pub fn handle_connection_failed(
        &mut self,
        now: Instant,
        transport: hasip_sip::transport::Transport,
        addr: SocketAddr,
    ) {
        self.ua.handle_connection_failed(now, transport, addr);
        self.pump(now);
    }

    /// True when a call or a pending transaction uses stream connection `id` (the shell
    /// keeps an idle connection a peer opened while this holds).
    pub fn connection_in_use(&self, id: hasip_sip::transport::ConnectionId) -> bool {
        self.ua.connection_in_use(id)
    }

    /// The shell resolved a host the engine asked for: its address and, from an SRV
    /// record, its port (`None`: it could not).
    pub fn handle_resolved(
        &mut self,
        now: Instant,
        host: &str,
        addr: Option<(IpAddr, Option<u16>)>,
    ) {
        self.ua.handle_resolved(now, host, addr);
        self.pump(now);
    }

    /// The shell bound an RTP port for `call` (or failed to).
    pub fn handle_rtp_bound(
        &mut self,
        now: Instant,
        call: CallKey,
        result: Result<SocketAddr, String>,
    ) {
        let Some(c) = self.calls.get_mut(&call) else {
            if result.is_ok() {
                self.outputs.push_back(Output::ReleaseRtp { call });
            }
            return;
        };
        match result {
            Ok(addr) => {
                c.media.rtp = Some(addr);
                // An answer that waited for the port can happen now.
                self.deadlines.rearm(&self.calls, call, Timer::Answer);
                let Some(c) = self.calls.get(&call) else {
                    return;
                };
                match c.direction {
                    CallDirection::Outgoing => self.send_dial_invite(now, call),
                    CallDirection::Incoming => self.call_timers(now, call),
                }
            }
            Err(e) => {
                tracing::error!(call = call.0, error = %e, "no RTP port for the call");
                if let Some(r) = c.ua {
                    let _ = match c.direction {
                        CallDirection::Incoming => {
                            self.ua.reject(now, r, 503, "Service Unavailable")
                        }
                        CallDirection::Outgoing => self.ua.hangup(now, r),
                    };
                }
                self.end(now, call);
            }
        }
        self.pump(now);
    }

    /// Carries out a command from stdin or MQTT.
    ///
    /// # Errors
    /// A message naming the call or field at fault; nothing else changes.
    pub fn handle_command(&mut self, now: Instant, command: Command) -> Result<(), CommandError> {
        self.handle_command_from(now, None, command)
    }

    /// Carries out a command; `from_call` is the call whose menu action runs it (it is
    /// what `self` names, spec §3.4.6).
    ///
    /// # Errors
    /// A message naming the call or field at fault; nothing else changes.
    pub fn handle_command_from(
        &mut self,
        now: Instant,
        from_call: Option<CallKey>,
        command: Command,
    ) -> Result<(), CommandError> {
        let r = self.command(now, from_call, command);
        self.pump(now);
        r
    }

    fn rtp_requested(&self, key: CallKey) -> bool {
        self.outputs
            .iter()
            .any(|o| matches!(o, Output::BindRtp { call } if *call == key))
    }

    /// Resolves a command's `number` to a call (ha-sip spec §3.3): an exact primary id,
    /// else the oldest call with that alias (parsed number or SIP Call-ID).
    fn find_from(&self, from_call: Option<CallKey>, number: &str) -> Result<CallKey, CommandError> {
        if number == "self" {
            return from_call
                .filter(|k| self.calls.contains_key(k))
                .ok_or_else(|| {
                    CommandError("number: \"self\" only names a call inside a menu action".into())
                });
        }
        self.find(number)
    }

    fn find(&self, number: &str) -> Result<CallKey, CommandError> {
        let live = |k: &&CallKey| self.calls.get(k).is_some_and(|c| c.phase != Phase::Ended);
        self.order
            .iter()
            .filter(live)
            .find(|k| {
                self.calls
                    .get(k)
                    .is_some_and(|c| c.info.internal_id == number)
            })
            .or_else(|| {
                self.order.iter().filter(live).find(|k| {
                    self.calls
                        .get(k)
                        .is_some_and(|c| c.aliases.iter().any(|a| a == number))
                })
            })
            .copied()
            .ok_or_else(|| not_found(number))
    }

    /// A primary id that no live call uses yet: the plain form, else `form#2`, `#3`, …
    fn unique_id(&self, base: &str) -> String {
        let taken = |id: &str| {
            self.calls
                .values()
                .any(|c| c.phase != Phase::Ended && c.info.internal_id == id)
        };
        if !taken(base) {
            return base.to_owned();
        }
        (2..)
            .map(|n| format!("{base}#{n}"))
            .find(|id| !taken(id))
            .unwrap_or_else(|| base.to_owned())
    }

    fn new_key(&mut self) -> CallKey {
        self.next_key += 1;
        CallKey(self.next_key)
    }

    /// Moves the user agent's events into the engine.
    fn pump(&mut self, now: Instant) {
        while let Some(ev) = self.ua.poll_event() {
            self.on_ua_event(now, ev);
        }
    }

    fn on_ua_event(&mut self, now: Instant, ev: UaEvent) {
        match ev {
            UaEvent::Registration { account, state } => {
                let number = self.config.accounts.get(account.0).map_or(0, |a| a.number);
                match &state {
                    RegistrationState::Registered { expires } => {
                        match self.ua.public_addr(account) {
                            Some(public) => tracing::info!(
                                account = number,
                                expires,
                                nat_public = %public,
                                "registered"
                            ),
                            None => tracing::info!(account = number, expires, "registered"),
                        }
                    }
                    RegistrationState::Failed {
                        code,
                        reason,
                        retry_in,
                    } => {
                        tracing::warn!(
                            account = number,
                            code,
                            reason,
                            retry_in,
                            "registration failed"
                        )
                    }
                    RegistrationState::Unregistered => {
                        tracing::info!(account = number, "unregistered")
                    }
                }
                self.outputs.push_back(Output::Registration {
                    account: number,
                    state,
                });
            }
            UaEvent::IncomingCall {
                call,
                account,
                invite,
            } => self.on_incoming(now, call, account, &invite),
            UaEvent::Progress { call, code, .. } => {
                tracing::debug!(call = %call, code, "progress");
            }
            UaEvent::Answered { call, response } => {
                let Some(&key) = self.by_ua.get(&call) else {
                    return;
                };
                self.answer_headers(key, &response);
                let answer = SessionDescription::parse(&String::from_utf8_lossy(response.body()));
                let Some(c) = self.calls.get_mut(&key) else {
                    return;
                };
                let negotiated = match (&c.offer, answer) {
                    (Some(offer), Ok(a)) => sdp::accept_answer(offer, &a).ok(),
                    _ => None,
                };
                match negotiated {
                    Some(n) => self.media_start(now, key, n),
                    None => tracing::warn!(
                        call = key.0,
                        "answer without a usable SDP; the call has no media"
                    ),
                }
                self.confirmed(now, key);
            }
            UaEvent::Confirmed { call } => {
                if let Some(&key) = self.by_ua.get(&call) {
                    self.confirmed(now, key);
                }
            }
            UaEvent::ReInvite { call, tx, offer } => self.on_reinvite(now, call, tx, &offer),
            UaEvent::Info {
                call,
                content_type,
                body,
            } => {
                let Some(&key) = self.by_ua.get(&call) else {
                    return;
                };
                if let Some(d) = ids::dtmf_from_info(&content_type, &body) {
                    self.dtmf(now, key, d);
                }
            }
            UaEvent::ReferProgress { call, code, done } => {
                tracing::info!(call = %call, code, done, "transfer progress");
                // RFC 5589 §6.1: once the transfer has succeeded the transferor ends its
                // own leg (ha-sip left it up until the other side hung up).
                if done
                    && (200..300).contains(&code)
                    && let Some(&key) = self.by_ua.get(&call)
                {
                    tracing::info!(call = key.0, "transfer succeeded: hanging up our leg");
                    self.hangup_call(now, key);
                }
            }
            UaEvent::Ended { call, reason } => {
                if let Some(&key) = self.by_ua.get(&call) {
                    tracing::info!(call = key.0, ?reason, "call ended");
                    if matches!(
                        reason,
                        EndReason::Rejected { .. } | EndReason::Timeout | EndReason::AuthFailed
                    ) {
                        tracing::warn!(call = key.0, ?reason, "call failed");
                    }
                    self.end(now, key);
                }
            }
            UaEvent::ResolveHost { host, srv } => {
                self.outputs.push_back(Output::Resolve { host, srv });
            }
            UaEvent::Rejected { from, why } => {
                tracing::info!(%from.addr, transport = %from.transport, why, "request rejected");
            }
            UaEvent::Dropped { from, why } => self.drops.note(now, from, &why),
            UaEvent::Refused { from, refusal } => {
                self.refusals.note(now, from, &refusal.why);
            }
        }
    }

    /// Number of calls in progress.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// The primary ids of the calls in progress, oldest first.
    pub fn call_ids(&self) -> Vec<String> {
        self.order
            .iter()
            .filter_map(|k| self.calls.get(k))
            .map(|c| c.info.internal_id.clone())
            .collect()
    }
}

fn not_found(number: &str) -> CommandError {
    CommandError(format!("call not in progress: {number}"))
}

#[cfg(test)]
mod tests;
