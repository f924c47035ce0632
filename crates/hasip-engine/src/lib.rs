//! The ha-sip-rs gateway as one sans-IO state machine.
//!
//! The engine composes the SIP user agent ([`hasip_sip::ua`]) with the gateway's call model
//! (ha-sip's call ids, answer modes, settle and ring timers, events) and, as later issues
//! land, media and menus. It never performs I/O. The shell drives it in this loop:
//!
//! 1. Push what happened: [`Engine::handle_sip`] (a SIP message arrived),
//!    [`Engine::handle_rtp_bound`] (an RTP port the engine asked for is bound),
//!    [`Engine::handle_resolved`] (a host name was resolved), [`Engine::handle_command`]
//!    (a command arrived), [`Engine::handle_timeout`] (the deadline from `poll_timeout` passed).
//! 2. Drain [`Engine::poll_output`] until it returns `None`, performing each output.
//! 3. Sleep until the next input or [`Engine::poll_timeout`].
//!
//! Time is always an argument (`now`); randomness comes from the seed given to
//! [`Engine::new`]. One faulty message or command affects only its own call.
#![forbid(unsafe_code)]
#![warn(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod drop_log;
mod headers;
mod ids;
mod media;
mod menus;

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

use drop_log::DropLog;
pub use hasip_media::DtmfTiming;
pub use ids::parse_number;
pub use media::MediaIo;
use media::Recording;

/// How an account treats incoming calls (ha-sip's `answer_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnswerMode {
    /// Ring and report; answer only on an `answer` command.
    #[default]
    Listen,
    /// Answer after `answer_after`.
    Accept,
}

/// One SIP account of the gateway.
#[derive(Debug, Clone)]
pub struct Account {
    /// ha-sip's account number: 1 for `sip`, 2 for `sip_2`, 3 for `sip_3`.
    pub number: u8,
    /// SIP settings.
    pub sip: AccountConfig,
    /// Incoming-call handling.
    pub answer_mode: AnswerMode,
    /// Delay between the call being confirmed and "established".
    pub settle_time: Duration,
    /// Delay before an accept-mode call is answered (the incoming-call file's
    /// `answer_after` wins when the account has one).
    pub answer_after: Duration,
    /// The account's `incoming_call_file`, loaded by the shell.
    pub incoming: Option<Arc<IncomingCallFile>>,
    /// `--extract-headers`: these headers of the INVITE (incoming calls) or of the 2xx
    /// (outgoing calls) go into every event's `headers`, keyed as configured.
    pub extract_headers: Vec<String>,
}

/// Static settings of the engine.
#[derive(Debug, Clone)]
pub struct Config {
    /// Sent as `Server`/`User-Agent`.
    pub user_agent: String,
    /// The SIP address advertised per transport (Via, Contact).
    pub local: Vec<(Transport, SocketAddr)>,
    /// The address advertised for RTP in SDP.
    pub media_ip: IpAddr,
    /// Enabled accounts, in ha-sip order.
    pub accounts: Vec<Account>,
    /// Codecs in preference order.
    pub codecs: Vec<Codec>,
    /// How long an unanswered incoming call may ring (ha-sip: 300 s).
    pub incoming_ring_timeout: Duration,
    /// The global TTS language (`tts.language`, `en` when empty).
    pub tts_language: String,
    /// Report (log) a call whose remote sends no RTP for this long.
    pub no_media_timeout: Option<Duration>,
    /// How recordings are written when `start_recording` does not say.
    pub recording_channels: RecordingChannels,
    /// `--debug-headers`: log every header of each incoming INVITE and of each answer to
    /// our INVITEs.
    pub debug_headers: bool,
    /// How long a sent digit sounds, and the silence after it, unless `send_dtmf` says
    /// (`--dtmf-tone`, `--dtmf-gap`; pjsua's 180 and 220 ms by default).
    pub dtmf_timing: DtmfTiming,
    /// How many new calls one source address may start (`--call-rate-limit`).
    pub call_rate: hasip_sip::admission::CallRate,
}

/// The channel layout of a call recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordingChannels {
    /// Two channels: the remote party left, the gateway's side right.
    #[default]
    Stereo,
    /// One channel: both sides mixed.
    Mono,
}

impl RecordingChannels {
    /// Reads `stereo`/`2` or `mono`/`1` (any case).
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "stereo" | "2" => Some(Self::Stereo),
            "mono" | "1" => Some(Self::Mono),
            _ => None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            user_agent: format!("ha-sip-rs/{}", env!("CARGO_PKG_VERSION")),
            local: vec![(Transport::Udp, SocketAddr::from(([127, 0, 0, 1], 5060)))],
            media_ip: IpAddr::from([127, 0, 0, 1]),
            accounts: Vec::new(),
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            incoming_ring_timeout: Duration::from_secs(300),
            tts_language: "en".to_owned(),
            no_media_timeout: Some(Duration::from_secs(30)),
            recording_channels: RecordingChannels::Stereo,
            debug_headers: false,
            dtmf_timing: DtmfTiming::default(),
            call_rate: hasip_sip::admission::CallRate::default(),
        }
    }
}

/// The engine's handle of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallKey(pub u64);

/// How `send_dtmf` sends its digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfMethod {
    /// Tones mixed into the audio (ha-sip's default).
    InBand,
    /// RFC 4733 telephone-events.
    Rfc2833,
    /// One SIP INFO per digit (`application/dtmf-relay`).
    SipInfo,
}

/// A command, already validated by the bus (the JSON layer). `number` always names a
/// call by its internal id, number or Call-ID (ha-sip spec §3.3).
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Call a Home Assistant service.
    CallService {
        /// Service domain (`light`).
        domain: String,
        /// Service (`turn_on`).
        service: String,
        /// Target entity, merged into the body when given.
        entity_id: Option<String>,
        /// More body fields, merged at the top level (spec §3.4.1).
        service_data: serde_json::Map<String, serde_json::Value>,
    },
    /// Call `number` (a SIP URI).
    Dial {
        /// The destination, also the call's id.
        number: String,
        /// Seconds until an unanswered call is given up.
        ring_timeout: Option<Duration>,
        /// ha-sip account number (1–3); unknown or disabled falls back to the first.
        sip_account: Option<u8>,
        /// Per-call webhooks, event name → webhook id.
        webhook_to_call: BTreeMap<String, String>,
        /// The menu to run once established (the standard menu when absent).
        menu: Option<Box<hasip_menu::Menu>>,
    },
    /// Answer a ringing incoming call.
    Answer {
        /// The call.
        number: String,
        /// Replaces the per-call webhooks when given.
        webhook_to_call: Option<BTreeMap<String, String>>,
        /// Replaces the call's menu when given.
        menu: Option<Box<hasip_menu::Menu>>,
    },
    /// Decline a ringing incoming call with this status (ha-sip-rs addition).
    Reject {
        /// The call.
        number: String,
        /// 486 Busy Here, 603 Decline, …
        code: u16,
    },
    /// End a call.
    Hangup {
        /// The call.
        number: String,
    },
    /// Blind transfer (REFER).
    Transfer {
        /// The call.
        number: String,
        /// The `Refer-To` URI, verbatim.
        transfer_to: String,
    },
    /// Connect two calls' audio both ways.
    BridgeAudio {
        /// One call (or `self` inside a menu action).
        number: String,
        /// The other call (or `self`).
        bridge_to: String,
    },
    /// Send DTMF digits.
    SendDtmf {
        /// The call.
        number: String,
        /// 0-9, *, #, A-D.
        digits: String,
        /// How.
        method: DtmfMethod,
        /// How long each digit sounds (`None`: the configured default).
        tone: Option<Duration>,
        /// The silence after each digit (`None`: the configured default).
        gap: Option<Duration>,
    },
    /// Speak a message (TTS).
    PlayMessage {
        /// The call.
        number: String,
        /// The text.
        message: String,
        /// TTS language (the global one when absent).
        language: Option<String>,
        /// Render through Home Assistant's template API first.
        handle_as_template: bool,
        /// Keep the TTS audio in the cache.
        cache_audio: bool,
        /// Ignore DTMF while it plays.
        wait_for_audio_to_finish: bool,
        /// Hang up when it ends (`post_action: hangup`).
        hangup_after: bool,
    },
    /// Play an audio file.
    PlayAudioFile {
        /// The call.
        number: String,
        /// Absolute path.
        audio_file: String,
        /// Keep the converted audio in the cache.
        cache_audio: bool,
        /// Ignore DTMF while it plays.
        wait_for_audio_to_finish: bool,
        /// Hang up when it ends.
        hangup_after: bool,
    },
    /// Stop what plays.
    StopPlayback {
        /// The call.
        number: String,
    },
    /// Record the call to a WAV file.
    StartRecording {
        /// The call.
        number: String,
        /// Absolute path.
        recording_file: String,
        /// Stereo or mono; `None`: [`Config::recording_channels`].
        channels: Option<RecordingChannels>,
    },
    /// Stop recording.
    StopRecording {
        /// The call.
        number: String,
    },
    /// Log the calls in progress.
    State,
    /// Hang up, unregister, exit.
    Quit,
}

/// Why a command failed. The message names the field or the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError(pub String);

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CommandError {}

/// The fields every event carries (ha-sip spec §6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallInfo {
    /// The remote URI as a name-addr (`"Door" <sip:door@host>`).
    pub caller: String,
    /// The local URI.
    pub called: String,
    /// The number parsed from `caller`.
    pub parsed_caller: Option<String>,
    /// The number parsed from `called`.
    pub parsed_called: Option<String>,
    /// ha-sip account number.
    pub sip_account: u8,
    /// The SIP Call-ID.
    pub call_id: Option<String>,
    /// The call's primary id.
    pub internal_id: String,
    /// Extracted headers.
    pub headers: BTreeMap<String, Option<String>>,
}

/// What happened, for webhooks and MQTT state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// An INVITE arrived and 180 was sent.
    IncomingCall,
    /// `dial` sent its INVITE (ha-sip 5.5+).
    OutgoingCallInitiated,
    /// Confirmed plus settle time.
    CallEstablished,
    /// Not established within the ring timeout.
    RingTimeout,
    /// A DTMF digit was taken by the menu.
    DtmfDigit(char),
    /// A menu with an id was entered.
    EnteredMenu(String),
    /// A menu's timeout passed (the id of the menu that timed out).
    Timeout(Option<String>),
    /// Too many wrong PINs (ha-sip-rs addition); the call is hung up.
    PinLockout(Option<String>),
    /// A playback ended by itself.
    PlaybackDone(PlaybackKind),
    /// A recording started.
    RecordingStarted(String),
    /// A recording stopped.
    RecordingStopped(String),
    /// The call ended.
    CallDisconnected,
}

/// What a finished playback was (the `playback_done` fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaybackKind {
    /// `type: message` with the text as spoken (after templating).
    Message(String),
    /// `type: audio_file` with the path as given.
    AudioFile(String),
}

impl EventKind {
    /// ha-sip's event name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::IncomingCall => "incoming_call",
            Self::OutgoingCallInitiated => "outgoing_call_initiated",
            Self::CallEstablished => "call_established",
            Self::RingTimeout => "ring_timeout",
            Self::DtmfDigit(_) => "dtmf_digit",
            Self::EnteredMenu(_) => "entered_menu",
            Self::Timeout(_) => "timeout",
            Self::PinLockout(_) => "pin_lockout",
            Self::PlaybackDone(_) => "playback_done",
            Self::RecordingStarted(_) => "recording_started",
            Self::RecordingStopped(_) => "recording_stopped",
            Self::CallDisconnected => "call_disconnected",
        }
    }
}

/// Audio a playback needs, for the shell to fetch and decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioSource {
    /// Text for Home Assistant's TTS.
    Tts {
        /// The text (a template when `template`).
        message: String,
        /// Render it through Home Assistant's template API first.
        template: bool,
        /// The language.
        language: String,
        /// Keep the result in the cache.
        cache: bool,
    },
    /// An audio file.
    File {
        /// The path as given.
        path: String,
        /// Keep the converted audio in the cache.
        cache: bool,
    },
}

/// Decoded audio for a playback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audio {
    /// Mono PCM at the rate the engine asked for.
    pub samples: Arc<[i16]>,
    /// The text as spoken (after templating), for `playback_done`.
    pub spoken: Option<String>,
}

/// An event of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The call's fields.
    pub call: CallInfo,
    /// The per-call webhook for this event, if the call has one (sent before the global one).
    pub call_webhook: Option<String>,
}

/// Something the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// Send bytes.
    Transmit(ua::Transmit),
    /// Bind a UDP port for the call's RTP; answer with [`Engine::handle_rtp_bound`].
    BindRtp {
        /// The call.
        call: CallKey,
    },
    /// The call's media is negotiated: send and receive on `local` with these parameters.
    MediaStart {
        /// The call.
        call: CallKey,
        /// What was agreed.
        negotiated: Negotiated,
    },
    /// Stop the call's media and release its RTP port.
    ReleaseRtp {
        /// The call.
        call: CallKey,
    },
    /// Resolve a host name; answer with [`Engine::handle_resolved`].
    Resolve {
        /// The host.
        host: String,
        /// The SRV service to try first (`_sip._udp`, …) when the URI named no port.
        srv: Option<&'static str>,
    },
    /// Report an event (webhook, MQTT).
    Event(Event),
    /// A registration changed state.
    Registration {
        /// ha-sip account number.
        account: u8,
        /// The state.
        state: RegistrationState,
    },
    /// Start fetching the TTS audio of a call's first prompt while the call is still being
    /// set up, so that it can play as soon as the call is answered (a later `FetchAudio` for
    /// the same text and language uses it). Nothing answers this output.
    Prefetch {
        /// The call (for the log).
        call: CallKey,
        /// The text.
        message: String,
        /// The language.
        language: String,
        /// The menu's `cache_audio`: keep the audio in `cache_dir` (the playback that
        /// follows would).
        cache: bool,
    },
    /// Fetch and decode audio for a playback, as mono PCM at `rate`; answer with
    /// [`Engine::handle_audio`].
    FetchAudio {
        /// The call.
        call: CallKey,
        /// The playback.
        playback: u64,
        /// What to fetch.
        source: AudioSource,
        /// The sample rate the call's codec needs.
        rate: u32,
    },
    /// Call a Home Assistant service: `POST services/<domain>/<service>` with `body`.
    CallService {
        /// Domain.
        domain: String,
        /// Service.
        service: String,
        /// The JSON body.
        body: serde_json::Value,
    },
    /// A menu `action` to carry out as a command with `from_call` as `self`: parse it
    /// (the bus) and give it to [`Engine::handle_command_from`].
    RunAction {
        /// The call whose menu runs it.
        from_call: CallKey,
        /// The command object.
        command: serde_json::Value,
    },
    /// Open `path` for a recording of `call` (WAV at `rate`) and answer with
    /// [`Engine::handle_recording_opened`]; frames then arrive through
    /// [`MediaIo::record`].
    StartRecording {
        /// The call.
        call: CallKey,
        /// Absolute path.
        path: String,
        /// Sample rate of the frames.
        rate: u32,
        /// Stereo (remote left, local right) or both sides mixed.
        channels: RecordingChannels,
    },
    /// Finish and close `call`'s recording file.
    StopRecording {
        /// The call.
        call: CallKey,
    },
    /// `quit`: the engine has hung up and unregistered; exit once idle.
    Quit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction2 {
    Incoming,
    Outgoing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
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
struct Call {
    direction: Direction2,
    ua: Option<CallRef>,
    account: usize,
    info: CallInfo,
    aliases: Vec<String>,
    phase: Phase,
    /// Answer (incoming) as soon as possible from this instant.
    answer_at: Option<Instant>,
    ring_deadline: Option<Instant>,
    settle_at: Option<Instant>,
    rtp: Option<SocketAddr>,
    /// The remote offer (incoming) or our offer (outgoing).
    offer: Option<SessionDescription>,
    webhooks: BTreeMap<String, String>,
    session_version: u64,
    /// The call's menu (the standard menu when none was given).
    menu: MenuSession,
    /// The playback in progress: its id and what it was (for `playback_done`).
    playing: Option<(hasip_menu::PlaybackId, PlaybackKind)>,
    /// The codec's sample rate once media is negotiated.
    rate: u32,
    /// RTP, RTCP, playback and DTMF, once media is negotiated.
    media: Option<Box<hasip_media::MediaSession>>,
    /// Listed in `Engine::media_dirty`.
    media_dirty: bool,
    /// Which phase of the media tick sends this call's packets.
    tick_phase: u32,
    /// The call whose audio this one exchanges (`bridge_audio`).
    bridged: Option<CallKey>,
    /// `start_recording`.
    recording: Option<Recording>,
}

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
    /// `poll_timeout`'s answer, valid until an input that can move a deadline (RTP that
    /// produced no event cannot, so the loop does not walk every call per packet).
    timeout_cache: Option<Option<Instant>>,
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
            timeout_cache: None,
        }
    }

    /// Starts the registrations of the accounts that have a registrar.
    pub fn start(&mut self, now: Instant) {
        self.timeout_cache = None;
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
        self.timeout_cache = None;
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

    /// The next instant at which [`Engine::handle_timeout`] has work.
    #[must_use]
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        if let Some(cached) = self.timeout_cache {
            return cached;
        }
        let next = self.compute_timeout();
        self.timeout_cache = Some(next);
        next
    }

    fn compute_timeout(&mut self) -> Option<Instant> {
        let mut next = self.ua.poll_timeout();
        if let Some(t) = self.media_timeout() {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        for c in self.calls.values() {
            let menu = (c.phase == Phase::Established)
                .then(|| c.menu.poll_timeout())
                .flatten();
            for t in [
                c.answer_at.filter(|_| c.rtp.is_some()),
                c.ring_deadline,
                c.settle_at,
                menu,
            ]
            .into_iter()
            .flatten()
            {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        next
    }

    /// Handles a SIP message (a UDP datagram, or one frame of a stream) from `source`.
    pub fn handle_sip(&mut self, now: Instant, source: Peer, data: Bytes) {
        self.timeout_cache = None;
        self.ua.handle_datagram(now, source, data);
        self.pump(now);
    }

    /// Fires what is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.timeout_cache = None;
        self.media_tick(now);
        self.ua.handle_timeout(now);
        self.pump(now);
        let keys: Vec<CallKey> = self.order.clone();
        for k in keys {
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
        self.timeout_cache = None;
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
        self.timeout_cache = None;
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
        self.timeout_cache = None;
        let Some(c) = self.calls.get_mut(&call) else {
            if result.is_ok() {
                self.outputs.push_back(Output::ReleaseRtp { call });
            }
            return;
        };
        match result {
            Ok(addr) => {
                c.rtp = Some(addr);
                match c.direction {
                    Direction2::Outgoing => self.send_dial_invite(now, call),
                    Direction2::Incoming => self.call_timers(now, call),
                }
            }
            Err(e) => {
                tracing::error!(call = call.0, error = %e, "no RTP port for the call");
                if let Some(r) = c.ua {
                    let _ = match c.direction {
                        Direction2::Incoming => self.ua.reject(now, r, 503, "Service Unavailable"),
                        Direction2::Outgoing => self.ua.hangup(now, r),
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
        self.timeout_cache = None;
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

    fn dial(
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
        let account = sip_account
            .and_then(|n| self.config.accounts.iter().position(|a| a.number == n))
            .unwrap_or(0);
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
                menu: MenuSession::new(tree),
                playing: None,
                rate: 8000,
                media: None,
                media_dirty: false,
                tick_phase: 0,
                bridged: None,
                recording: None,
                direction: Direction2::Outgoing,
                ua: None,
                account,
                info,
                aliases,
                phase: Phase::Preparing,
                answer_at: None,
                ring_deadline: Some(now + ring_timeout.unwrap_or(Duration::from_secs(300))),
                settle_at: None,
                rtp: None,
                offer: None,
                webhooks,
                session_version: 1,
            },
        );
        self.order.push(key);
        self.outputs.push_back(Output::BindRtp { call: key });
        Ok(())
    }

    fn local_sdp(&mut self, key: CallKey, direction: Direction) -> Option<sdp::Local> {
        let c = self.calls.get_mut(&key)?;
        let rtp = c.rtp?;
        c.session_version += 1;
        // The shell reports the socket's address, or the public one STUN found; a wildcard
        // bind is advertised as `media_ip`.
        let ip = if rtp.ip().is_unspecified() {
            self.config.media_ip
        } else {
            rtp.ip()
        };
        Some(sdp::Local {
            addr: SocketAddr::new(ip, rtp.port()),
            codecs: self.config.codecs.clone(),
            session_id: self.sdp_seed ^ key.0,
            version: c.session_version,
            direction,
        })
    }

    fn send_dial_invite(&mut self, now: Instant, key: CallKey) {
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

    fn hangup_call(&mut self, now: Instant, key: CallKey) {
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
    fn call_timers(&mut self, now: Instant, key: CallKey) {
        let Some(c) = self.calls.get(&key) else {
            return;
        };
        if c.phase == Phase::Ended {
            return;
        }
        if c.phase != Phase::Established && c.ring_deadline.is_some_and(|d| d <= now) {
            if let Some(c) = self.calls.get_mut(&key) {
                c.ring_deadline = None;
            }
            self.event(key, EventKind::RingTimeout);
            self.hangup_call(now, key);
            return;
        }
        if c.phase == Phase::Ringing
            && c.direction == Direction2::Incoming
            && c.answer_at.is_some_and(|t| t <= now)
            && c.rtp.is_some()
        {
            self.answer_incoming(now, key);
            return;
        }
        if c.phase == Phase::Settling && c.settle_at.is_some_and(|t| t <= now) {
            if let Some(c) = self.calls.get_mut(&key) {
                c.phase = Phase::Established;
                c.settle_at = None;
                c.ring_deadline = None;
            }
            self.event(key, EventKind::CallEstablished);
            // ha-sip enters the root menu right after `call_established` (spec §5.4 step 3).
            if let Some(c) = self.calls.get_mut(&key) {
                c.menu.handle_established(now);
            }
            self.drain_menu(now, key);
            return;
        }
        if c.phase == Phase::Established && c.menu.poll_timeout().is_some_and(|t| t <= now) {
            if let Some(c) = self.calls.get_mut(&key) {
                c.menu.handle_timeout(now);
            }
            self.drain_menu(now, key);
        }
    }

    fn answer_incoming(&mut self, now: Instant, key: CallKey) {
        let Some(local) = self.local_sdp(key, Direction::SendRecv) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        c.answer_at = None;
        // Picked up: the ring timeout is over (the ACK may take a moment).
        c.ring_deadline = None;
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

    fn event(&mut self, key: CallKey, kind: EventKind) {
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

    fn end(&mut self, now: Instant, key: CallKey) {
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        if c.phase == Phase::Ended {
            return;
        }
        c.phase = Phase::Ended;
        c.menu.handle_call_ended();
        let had_rtp = c.rtp.take().is_some();
        // ha-sip: `recording_stopped` comes before `call_disconnected` (spec §3.4.12).
        self.media_stop_recording(key);
        self.media_end(now, key);
        self.event(key, EventKind::CallDisconnected);
        if had_rtp {
            self.outputs.push_back(Output::ReleaseRtp { call: key });
        }
        if let Some(c) = self.calls.remove(&key)
            && let Some(r) = c.ua
        {
            self.by_ua.remove(&r);
        }
        self.order.retain(|k| *k != key);
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
                        tracing::info!(account = number, expires, "registered")
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

    fn confirmed(&mut self, now: Instant, key: CallKey) {
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let settle = self
            .config
            .accounts
            .get(c.account)
            .map_or(Duration::ZERO, |a| a.settle_time);
        c.phase = Phase::Settling;
        c.settle_at = Some(now + settle);
        // Answered: the ring timeout no longer applies (it must not end a call that is
        // answered within its settle time).
        c.ring_deadline = None;
        self.call_timers(now, key);
    }

    /// The answer to our INVITE: `--debug-headers` logs it; `--extract-headers` takes its
    /// headers when the call has none yet (ha-sip: from the message that confirmed it).
    fn answer_headers(&mut self, key: CallKey, response: &Message) {
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

    fn on_incoming(
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
        if mode == AnswerMode::Accept {
            self.prefetch(key, &tree);
        }
        self.calls.insert(
            key,
            Call {
                menu: MenuSession::new(tree),
                playing: None,
                rate: 8000,
                media: None,
                media_dirty: false,
                tick_phase: 0,
                bridged: None,
                recording: None,
                direction: Direction2::Incoming,
                ua: Some(call),
                account: idx,
                info,
                aliases,
                phase: Phase::Ringing,
                answer_at: (mode == AnswerMode::Accept).then_some(now + answer_after),
                ring_deadline: Some(now + self.config.incoming_ring_timeout),
                settle_at: None,
                rtp: None,
                offer,
                webhooks,
                session_version: 1,
            },
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

    fn on_reinvite(
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
