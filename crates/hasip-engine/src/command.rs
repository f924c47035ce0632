//! The commands the engine takes (validated by the bus) and how they fail.

use super::*;

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
    /// `assist` (ha-sip-rs addition): the caller talks to Home Assistant's Assist
    /// pipeline, turn after turn, until a leave digit, silence or the end of the call.
    Assist {
        /// The call (`self` in a menu action).
        number: String,
        /// Pipeline, language, leave digits and timeouts.
        settings: crate::AssistSettings,
    },
    /// `stop_assist` (ha-sip-rs addition): ends the call's Assist.
    StopAssist {
        /// The call.
        number: String,
    },
    /// Log the calls in progress.
    State,
    /// Hang up, unregister, exit.
    Quit,
    /// `escalate` (ha-sip-rs addition): ring a list of numbers in turn until someone
    /// acknowledges with a digit.
    Escalate(Box<crate::EscalationRequest>),
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
