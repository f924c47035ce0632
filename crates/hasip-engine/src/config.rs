//! What the engine is configured with: accounts, answer modes, recording layout.

use super::*;

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
    /// `--can-call`: false for an account that only takes calls (`dial` with it is
    /// refused).
    pub can_call: bool,
    /// `--use-sdp-nat-rewrite`: once the registrar reports a public address for the
    /// account (behind NAT), the SDP advertises that IP instead of the local one (unless
    /// STUN found the RTP socket's own).
    pub sdp_nat_rewrite: bool,
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
