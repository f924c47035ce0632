//! What the engine hands the shell: events for Home Assistant and the outputs to perform.

use super::*;

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
    /// An escalation's callee pressed the acknowledging digit (carries the call that did).
    EscalationAcknowledged(Box<crate::EscalationReport>),
    /// Nobody acknowledged an escalation (carries its last call, if one was made).
    EscalationFailed(Box<crate::EscalationReport>),
    /// Assist began on the call (ha-sip-rs addition).
    AssistStarted,
    /// What Assist's speech-to-text heard the caller say.
    AssistHeard(String),
    /// What the conversation agent answered (then spoken to the caller).
    AssistAnswered(String),
    /// Assist ended, and why (`digit`, `silence`, `hangup`, `error`, `stopped`).
    AssistEnded(String),
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
            Self::EscalationAcknowledged(_) => "escalation_acknowledged",
            Self::EscalationFailed(_) => "escalation_failed",
            Self::AssistStarted => "assist_started",
            Self::AssistHeard(_) => "assist_heard",
            Self::AssistAnswered(_) => "assist_answered",
            Self::AssistEnded(_) => "assist_ended",
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
    /// Assist begins on `call`: its turns and audio follow through [`MediaIo::assist`];
    /// answer each turn with [`Engine::handle_assist`].
    AssistStart {
        /// The call.
        call: CallKey,
        /// The pipeline (`None`: the preferred one, or the first in `language`).
        pipeline: Option<String>,
        /// The language asked for.
        language: Option<String>,
        /// The rate the spoken answers are wanted at (the call's codec's).
        rate: u32,
    },
    /// The caller stopped speaking (or talked for the longest utterance): turn `turn`'s
    /// audio is complete.
    AssistSpeechEnded {
        /// The call.
        call: CallKey,
        /// The turn.
        turn: u64,
    },
    /// Assist is over on `call`: drop what is in flight.
    AssistStop {
        /// The call.
        call: CallKey,
    },
}
