//! [`MediaSession`]: the media of one call — RTP out and in, RTCP, playback, DTMF both
//! ways, and the taps that recordings and bridges read.
//!
//! # The tick contract
//!
//! The shell runs **one** ticker for all calls, on a drift-free grid: tick *k* is due at
//! `start + k × 20 ms`, computed from `start`, never by adding up sleeps. On each tick the
//! engine calls [`MediaSession::handle_tick`] on every running session with the tick's
//! instant and then drains [`MediaSession::poll_transmit`] and
//! [`MediaSession::poll_event`]. A session anchors its own packet grid at its first tick
//! (on the engine's tick grid, given by [`MediaSession::set_grid`]) and sends the packets
//! due by `now` plus half a tick ([`TICK`]), so:
//!
//! - packet *N* carries timestamp `ts0 + N × frame` and is produced on the tick nearest to
//!   `anchor + N × ptime`; a tick up to 10 ms early or late changes nothing;
//! - a tick that comes a whole packet late produces the missed packets at once (up to
//!   [`MAX_CATCH_UP`]); a longer stall skips ahead: timestamps jump, the marker bit is set;
//! - a session with a `ptime` of 40 or 60 ms simply sends on every second or third tick.
//!
//! A tick is cheap: it never allocates once the session is warm (the packet and frame
//! buffers are recycled), it schedules no timer of its own (the session never asks for a
//! 20 ms timeout), and the work is one frame of mixing plus one encode. Timers that are not
//! ticks — the end of an RFC 4733 event whose end packets were lost, the no-media timeout,
//! RTCP — are run by every tick too, and are also offered through
//! [`MediaSession::poll_timeout`] / [`MediaSession::handle_timeout`] for precise handling.
//!
//! Received packets are handled when they arrive ([`MediaSession::handle_rtp`]): parsed,
//! checked against the latched source, decoded, run through the in-band DTMF detector and,
//! if the tap is on, put into a playout buffer that each tick reads one frame from.

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::codec::{AudioCodec, Codec, CodecError, MAX_PAYLOAD};
use crate::dtmf::{Digit, DtmfError, DtmfMethod, DtmfSource, DtmfTiming, parse_digits};
use crate::dtmf_rx::DtmfReceiver;
use crate::goertzel::DetectorConfig;
use crate::jitter::PlayoutBuffer;
use crate::mix;
use crate::rng::SplitMix64;
use crate::rtcp::{self, RtcpPacket, SenderInfo};
use crate::rtp::{self, RtpHeader, RtpPacket};
use crate::stats::{ReceiveStats, SeqStatus};
use crate::telephone_event::EventSender;
use crate::tone::InbandSender;

/// The interval of the shell's shared ticker.
pub const TICK: Duration = Duration::from_millis(20);
/// The most packets one tick produces to catch up after a late tick; beyond this the
/// stream skips ahead instead of bursting.
pub const MAX_CATCH_UP: u64 = 5;
/// Packets in a row (one SSRC, consecutive sequence numbers) from another port of an
/// allowed host before RTP latches to it.
const RELATCH_PACKETS: u32 = 4;
/// How long after the session starts (or a re-INVITE moves it) RTP may latch to another
/// port than the SDP's: a NAT's mapping shows in the first packets, not later.
pub const LEARNING: Duration = Duration::from_secs(5);
/// Static payload type of comfort noise (RFC 3389): accepted and ignored.
const PT_CN: u8 = 13;
/// Packets kept for [`MediaSession::poll_transmit`] if the caller does not drain them.
const MAX_QUEUED_PACKETS: usize = 64;
/// Tap frames kept if the caller does not drain them.
const MAX_QUEUED_FRAMES: usize = 8;
/// Seconds between 1900 (NTP) and 1970 (Unix).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// telephone-event as negotiated: payload type and clock rate (8000 or 48000).
///
/// RFC 4733 §2.1 wants the audio codec's clock rate. If the remote offered another one,
/// event timestamps still follow the audio clock (one timestamp space per SSRC) and
/// durations are counted in this clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Its payload type.
    pub payload_type: u8,
    /// Its clock rate in Hz.
    pub clock_rate: u32,
}

/// Our direction of the media stream (RFC 3264 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Both ways.
    #[default]
    SendRecv,
    /// We send only (we put the remote on hold, or it holds us with recvonly).
    SendOnly,
    /// We receive only.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    /// Whether we send RTP.
    pub fn sends(self) -> bool {
        matches!(self, Self::SendRecv | Self::SendOnly)
    }

    /// Whether we expect and use RTP from the remote.
    pub fn receives(self) -> bool {
        matches!(self, Self::SendRecv | Self::RecvOnly)
    }
}

/// What to send while there is nothing to play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idle {
    /// Encoded silence every packet time (what most PBXs and phones expect).
    Silence,
    /// Nothing, except one silence packet per interval to keep NAT bindings open; the
    /// packet after a pause carries the marker bit (a new talk-spurt).
    Keepalive(Duration),
}

/// Everything a session needs to know about its call. The engine fills it from the SDP
/// negotiation (`hasip_sip::sdp::Negotiated`) and the account's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaConfig {
    /// The codec both sides use.
    pub codec: Codec,
    /// Its payload type.
    pub payload_type: u8,
    /// telephone-event, if negotiated.
    pub telephone_event: Option<TelephoneEvent>,
    /// Where to send RTP, from the SDP (`None`: not yet known or on hold).
    pub remote: Option<SocketAddr>,
    /// Where to send RTCP, if the SDP said (`a=rtcp`); otherwise the RTP port + 1, or the
    /// RTP address itself with `rtcp_mux`.
    pub remote_rtcp: Option<SocketAddr>,
    /// RTP and RTCP share one port (RFC 5761).
    pub rtcp_mux: bool,
    /// Send to where the remote's packets come from (symmetric RTP, RFC 4961), once they
    /// come from the SDP's address, or from another port of the SDP's host or of
    /// `signalling_ip` with consecutive sequence numbers within [`LEARNING`].
    pub symmetric_rtp: bool,
    /// The address the call's SIP came from. Behind NAT, a phone's SDP names its private
    /// address while its packets come from the NAT's, which is where its SIP came from:
    /// media is taken from this host as well as from the SDP's, never from a third.
    pub signalling_ip: Option<IpAddr>,
    /// This host's advertised address. A peer on this host whose SDP names a loopback
    /// address sends what it addresses to us from this one (the kernel picks the source
    /// address of the route), so it counts as the SDP's host; Linux drops packets from
    /// outside that claim a local source address.
    pub local_ip: Option<IpAddr>,
    /// Our direction.
    pub direction: Direction,
    /// Packet time (10–60 ms in steps of 10; Opus: 10, 20, 40 or 60).
    pub ptime: Duration,
    /// What to send when idle.
    pub idle: Idle,
    /// Report [`Event::NoMedia`] after this long without RTP (while we expect some).
    pub no_media_timeout: Option<Duration>,
    /// Mean RTCP report interval (`None`: no RTCP).
    pub rtcp_interval: Option<Duration>,
    /// Run the in-band DTMF detector on received audio. It stops on its own once the
    /// remote sends an RFC 4733 event, so that a phone sending both is not heard twice.
    pub inband_dtmf: bool,
    /// Detector tuning.
    pub detector: DetectorConfig,
    /// Tone and pause of sent digits.
    pub dtmf_timing: DtmfTiming,
    /// End a received RFC 4733 event this long after its last packet if its end packets
    /// are lost.
    pub dtmf_event_timeout: Duration,
    /// Delay of the playout buffer behind the tap.
    pub playout_delay: Duration,
    /// SDES CNAME.
    pub cname: String,
    /// Wall-clock time (since the Unix epoch) at the `now` given to
    /// [`MediaSession::new`], for RTCP sender-report timestamps; `None` sends times
    /// relative to the session start.
    pub wall_clock: Option<Duration>,
}

impl MediaConfig {
    /// A configuration with defaults: sendrecv, 20 ms, silence when idle, symmetric RTP,
    /// RTCP every 5 s on the next port, no-media after 30 s, in-band detection on.
    pub fn new(codec: Codec, payload_type: u8) -> Self {
        Self {
            codec,
            payload_type,
            telephone_event: None,
            remote: None,
            remote_rtcp: None,
            rtcp_mux: false,
            symmetric_rtp: true,
            signalling_ip: None,
            local_ip: None,
            direction: Direction::SendRecv,
            ptime: Duration::from_millis(20),
            idle: Idle::Silence,
            no_media_timeout: Some(Duration::from_secs(30)),
            rtcp_interval: Some(Duration::from_secs(5)),
            inband_dtmf: true,
            detector: DetectorConfig::default(),
            dtmf_timing: DtmfTiming::default(),
            dtmf_event_timeout: Duration::from_millis(250),
            playout_delay: Duration::from_millis(40),
            cname: "hasip".to_owned(),
            wall_clock: None,
        }
    }
}

/// Why a session could not be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaError {
    /// The codec is not built in or could not be initialised.
    Codec(CodecError),
    /// A packet time the codec cannot use.
    Ptime(Duration),
}

impl fmt::Display for MediaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Codec(e) => write!(f, "{e}"),
            Self::Ptime(p) => write!(f, "unsupported packet time {} ms", p.as_millis()),
        }
    }
}

impl std::error::Error for MediaError {}

/// Identifies one queued playback, chosen by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlaybackId(pub u64);

/// How a playback ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaybackEnd {
    /// Its last sample was sent.
    Completed,
    /// [`MediaSession::stop_playback`] removed it.
    Stopped,
}

/// What the session reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A received digit, reported once, as soon as it is one: on the first packet of an
    /// RFC 4733 event that arrives, or once an in-band tone has lasted the detector's
    /// `min_on`. A press sent both ways (tones in the audio and events) is reported once.
    Dtmf {
        /// The digit.
        digit: Digit,
        /// How it arrived.
        source: DtmfSource,
    },
    /// A digit reported by [`Event::Dtmf`] has ended: how long it lasted (for logs; it is
    /// not a second digit).
    DtmfEnded {
        /// The digit.
        digit: Digit,
        /// How it arrived.
        source: DtmfSource,
        /// How long it lasted, in units of `clock_rate`.
        duration: u32,
        /// The telephone-event clock (RFC 4733) or the audio sample rate (in-band).
        clock_rate: u32,
    },
    /// A digit we sent has finished (its tone, or its last end packet).
    DtmfSent {
        /// The digit.
        digit: Digit,
        /// How it was sent.
        method: DtmfMethod,
    },
    /// A playback item ended.
    PlaybackFinished {
        /// The caller's id.
        id: PlaybackId,
        /// How.
        end: PlaybackEnd,
    },
    /// No RTP arrived for the configured time (reported once until media flows again).
    NoMedia {
        /// Time since the last packet (or since the start).
        silent_for: Duration,
    },
    /// RTP is now sent to this address: where the remote's packets come from.
    RemoteLatched {
        /// The address.
        addr: SocketAddr,
    },
}

/// Which socket a packet leaves from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// The RTP socket.
    Rtp,
    /// The RTCP socket (the RTP socket with `rtcp_mux`).
    Rtcp,
}

/// A packet to send, borrowed until the next call of [`MediaSession::poll_transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit<'a> {
    /// Destination.
    pub to: SocketAddr,
    /// Which socket.
    pub kind: PacketKind,
    /// The datagram.
    pub payload: &'a [u8],
}

/// One tick's audio both ways, for recording (remote left, local right) and bridging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TapFrame<'a> {
    /// What the remote sent, through the playout buffer (silence where nothing came).
    pub received: &'a [i16],
    /// What we sent (playback, bridged audio and in-band tones, mixed).
    pub sent: &'a [i16],
    /// Sample rate of both.
    pub sample_rate: u32,
}

/// Why [`MediaSession::poll_timeout`] wants to be called back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// A received RFC 4733 event may have lost its end packets.
    DtmfEventEnd,
    /// No media for the configured time.
    NoMedia,
    /// An RTCP report is due.
    Rtcp,
}

/// Counters for logs and RTCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MediaStats {
    /// RTP packets sent.
    pub packets_sent: u64,
    /// RTP payload octets sent.
    pub octets_sent: u64,
    /// RTP packets received and used.
    pub packets_received: u64,
    /// Packets lost on the way in (RFC 3550 A.3).
    pub packets_lost: i64,
    /// Interarrival jitter in RTP timestamp units.
    pub jitter: u32,
    /// Round-trip time from the remote's reports, if it sent any.
    pub round_trip: Option<Duration>,
    /// Datagrams that were not RTP or RTCP.
    pub malformed: u64,
    /// RTP with a payload type we did not negotiate.
    pub unknown_payload_type: u64,
    /// RTP from an address we are not latched to.
    pub foreign_source: u64,
    /// Duplicated RTP packets.
    pub duplicates: u64,
    /// Payloads the decoder refused.
    pub decode_errors: u64,
    /// Packets skipped because ticks stalled for longer than [`MAX_CATCH_UP`] packets.
    pub skipped_packets: u64,
    /// Times the playout buffer (recordings, bridges) ran dry.
    pub playout_underruns: u64,
    /// Packets that reached the playout buffer after their time.
    pub playout_late: u64,
    /// Samples the playout buffer dropped to keep its delay bounded.
    pub playout_trimmed: u64,
}

#[derive(Debug)]
struct Queued {
    to: SocketAddr,
    kind: PacketKind,
    buf: Vec<u8>,
}

#[derive(Debug)]
struct Playback {
    id: PlaybackId,
    samples: Arc<[i16]>,
    pos: usize,
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    addr: SocketAddr,
    ssrc: u32,
    /// The sequence number of its last packet.
    seq: u16,
    /// Its packets in a row with consecutive sequence numbers.
    count: u32,
}

/// The media of one call. See the [module docs](self) for the tick contract.
pub struct MediaSession {
    config: MediaConfig,
    codec: Box<dyn AudioCodec>,
    rng: SplitMix64,
    created: Instant,
    last_now: Instant,
    closed: bool,

    // Sending.
    frame_samples: usize,
    frame_units: u32,
    ssrc: u32,
    seq: u16,
    ts: u32,
    ts_initial: u32,
    anchor: Option<Instant>,
    /// A point of the engine's tick grid for this session (see [`MediaSession::set_grid`]).
    grid: Option<Instant>,
    frames_done: u64,
    marker_next: bool,
    last_sent: Option<Instant>,
    frame: Vec<i16>,
    payload: Vec<u8>,
    playback: VecDeque<Playback>,
    bridge_in: VecDeque<i16>,
    resample_scratch: Vec<i16>,
    inband_tx: InbandSender,
    event_tx: Option<EventSender>,
    sent_since_report: bool,

    // Outputs.
    tx_queue: VecDeque<Queued>,
    tx_pool: Vec<Vec<u8>>,
    /// Capacity of a packet buffer: the largest RTP packet of this codec, or an RTCP
    /// compound, whichever is larger.
    buffer_capacity: usize,
    tx_lent: Option<Queued>,
    events: VecDeque<Event>,

    // Receiving.
    remote_rtp: Option<SocketAddr>,
    remote_rtcp: Option<SocketAddr>,
    latched: Option<SocketAddr>,
    candidate: Option<Candidate>,
    /// Until when RTP may latch to another port than the SDP's (see [`LEARNING`]).
    learn_until: Instant,
    remote_ssrc: Option<u32>,
    rx_stats: ReceiveStats,
    rx_pcm: Vec<i16>,
    dtmf_rx: DtmfReceiver,
    last_rx: Option<Instant>,
    no_media_reported: bool,

    // Taps.
    tap: bool,
    /// The last received packet's audio, decoded, kept for [`MediaSession::take_arrival`].
    arrival_tap: bool,
    arrival: Vec<i16>,
    arrival_fresh: bool,
    playout: PlayoutBuffer,
    tap_queue: VecDeque<(Vec<i16>, Vec<i16>)>,
    tap_pool: Vec<(Vec<i16>, Vec<i16>)>,
    tap_lent: Option<(Vec<i16>, Vec<i16>)>,

    // RTCP.
    next_rtcp: Option<Instant>,
    last_sr: Option<(u32, Instant)>,
    stats: MediaStats,
}

impl fmt::Debug for MediaSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaSession")
            .field("codec", &self.config.codec)
            .field("ssrc", &format_args!("{:#010x}", self.ssrc))
            .field("remote", &self.remote_rtp)
            .field("direction", &self.config.direction)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn valid_ptime(codec: Codec, ptime: Duration) -> bool {
    let ms = ptime.as_millis();
    if ptime != Duration::from_millis(ms as u64)
        || !(10..=60).contains(&ms)
        || !ms.is_multiple_of(10)
    {
        return false;
    }
    codec != Codec::Opus || matches!(ms, 10 | 20 | 40 | 60)
}

fn rtcp_for(rtp: SocketAddr, mux: bool) -> SocketAddr {
    if mux {
        rtp
    } else {
        let mut a = rtp;
        a.set_port(rtp.port().saturating_add(1));
        a
    }
}

impl MediaSession {
    /// A session for one call. SSRC, the first sequence number and the first timestamp are
    /// drawn from SplitMix64 seeded with `seed` (RFC 3550 §5.1: random starting values).
    ///
    /// # Errors
    /// [`MediaError::Codec`] when the codec is not built in (Opus without the `opus`
    /// feature) and [`MediaError::Ptime`] for a packet time the codec cannot use.
    pub fn new(config: MediaConfig, seed: u64, now: Instant) -> Result<Self, MediaError> {
        if !valid_ptime(config.codec, config.ptime) {
            return Err(MediaError::Ptime(config.ptime));
        }
        let codec = config.codec.instantiate().map_err(MediaError::Codec)?;
        let mut rng = SplitMix64::new(seed);
        let ssrc = rng.next_u32();
        let seq = rng.next_u32() as u16;
        let ts = rng.next_u32();
        let c = config.codec;
        let frame_samples = c.samples_in(config.ptime.as_millis() as u32);
        let frame_units = c.rtp_units(frame_samples);
        let rate = c.sample_rate();
        let te = config.telephone_event;
        let delay = (config.playout_delay.as_micros() * u128::from(rate) / 1_000_000) as usize;
        let remote_rtcp = config
            .remote_rtcp
            .or(config.remote.map(|r| rtcp_for(r, config.rtcp_mux)));
        let max_payload = match c {
            Codec::Pcmu | Codec::Pcma => frame_samples,
            Codec::G722 => frame_samples / 2,
            Codec::Opus => MAX_PAYLOAD,
        };
        let buffer_capacity = (rtp::HEADER_LEN + max_payload).max(512);
        // Two buffers: the RTP packet and the RTCP report of the same tick, so that even
        // the first report does not allocate.
        let tx_pool = (0..2)
            .map(|_| Vec::with_capacity(buffer_capacity))
            .collect();
        let mut session = Self {
            codec,
            created: now,
            last_now: now,
            closed: false,
            frame_samples,
            frame_units,
            ssrc,
            seq,
            ts,
            ts_initial: ts,
            anchor: None,
            grid: None,
            frames_done: 0,
            marker_next: true,
            last_sent: None,
            frame: vec![0; frame_samples],
            payload: vec![0; MAX_PAYLOAD],
            playback: VecDeque::new(),
            bridge_in: VecDeque::with_capacity(frame_samples * 6),
            resample_scratch: Vec::new(),
            inband_tx: InbandSender::new(rate),
            event_tx: te.map(|t| EventSender::new(t.clock_rate, config.ptime)),
            sent_since_report: false,
            tx_queue: VecDeque::with_capacity(8),
            tx_pool,
            buffer_capacity,
            tx_lent: None,
            events: VecDeque::with_capacity(4),
            remote_rtp: config.remote,
            remote_rtcp,
            latched: None,
            learn_until: now + LEARNING,
            candidate: None,
            remote_ssrc: None,
            rx_stats: ReceiveStats::default(),
            // The longest packet we decode: 120 ms (Opus), or 60 ms of G.711/G.722 bytes
            // times two.
            rx_pcm: vec![0; (rate as usize * 120 / 1000).max(MAX_PAYLOAD * 2)],
            dtmf_rx: DtmfReceiver::new(
                rate,
                config.inband_dtmf.then_some(config.detector),
                te.map(|t| t.clock_rate),
                config.dtmf_event_timeout,
            ),
            last_rx: None,
            no_media_reported: false,
            tap: false,
            arrival_tap: false,
            arrival: Vec::new(),
            arrival_fresh: false,
            playout: PlayoutBuffer::new(rate, c.clock_rate(), delay, delay + frame_samples * 4),
            tap_queue: VecDeque::new(),
            tap_pool: Vec::new(),
            tap_lent: None,
            next_rtcp: None,
            last_sr: None,
            stats: MediaStats::default(),
            rng,
            config,
        };
        session.next_rtcp = session.rtcp_deadline(now);
        Ok(session)
    }

    /// The RTCP interval randomised over [0.5, 1.5] × the mean (RFC 3550 §6.3.1).
    fn rtcp_deadline(&mut self, now: Instant) -> Option<Instant> {
        let mean = self.config.rtcp_interval?;
        let factor = 0.5 + f64::from(self.rng.next_u32()) / f64::from(u32::MAX);
        Some(now + mean.mul_f64(factor))
    }

    /// Time is an input and never goes backwards: an earlier `now` counts as the last one.
    fn clamp(&mut self, now: Instant) -> Instant {
        if now > self.last_now {
            self.last_now = now;
        }
        self.last_now
    }

    // ---------------------------------------------------------------- inputs

    /// Produces the packets due by `now` (see the tick contract) and runs due timers.
    pub fn handle_tick(&mut self, now: Instant) {
        let now = self.clamp(now);
        self.handle_timeout(now);
        if self.closed {
            return;
        }
        let ptime = self.config.ptime;
        let mut due = match self.anchor {
            None => {
                self.anchor = Some(self.on_grid(now));
                1
            }
            Some(anchor) => {
                // A packet is due on the tick nearest to its time: up to half a tick early.
                let elapsed =
                    now.saturating_duration_since(anchor) + TICK / 2 - Duration::from_nanos(1);
                let expected = (elapsed.as_nanos() / ptime.as_nanos().max(1)) as u64 + 1;
                expected.saturating_sub(self.frames_done)
            }
        };
        if due > MAX_CATCH_UP {
            let skip = due - 1;
            self.ts = self
                .ts
                .wrapping_add(self.frame_units.wrapping_mul(skip as u32));
            self.frames_done += skip;
            self.stats.skipped_packets += skip;
            self.marker_next = true;
            due = 1;
        }
        for _ in 0..due {
            self.produce_frame(now);
        }
    }

    /// Runs the timers due by `now` (also run by every tick).
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.clamp(now);
        self.dtmf_rx.timeout(now, &mut self.events);
        if let Some(at) = self.no_media_deadline()
            && now >= at
        {
            self.no_media_reported = true;
            let since = self.last_rx.unwrap_or(self.created);
            self.events.push_back(Event::NoMedia {
                silent_for: now.saturating_duration_since(since),
            });
        }
        if let Some(at) = self.next_rtcp
            && now >= at
            && !self.closed
        {
            self.send_rtcp(now, false);
            self.next_rtcp = self.rtcp_deadline(now);
        }
    }

    /// Queues audio to play after what is already queued, with no gap between items.
    /// `samples` is mono PCM at the codec's [`Codec::sample_rate`].
    pub fn play(&mut self, now: Instant, id: PlaybackId, samples: Arc<[i16]>) {
        self.clamp(now);
        self.playback.push_back(Playback {
            id,
            samples,
            pos: 0,
        });
    }

    /// Starts playing `samples` at once when nothing is playing: the packet grid restarts
    /// at `now` (a new talk-spurt: marker bit set, timestamps continue) and the first
    /// packet is produced now instead of on the next tick, so a prompt starts without the
    /// up-to-20 ms wait for its slot. When something plays already it is queued as with
    /// [`MediaSession::play`].
    pub fn play_now(&mut self, now: Instant, id: PlaybackId, samples: Arc<[i16]>) {
        let idle = self.playback.is_empty()
            && self.bridge_in.is_empty()
            && self.inband_tx.is_idle()
            && self.event_tx.as_ref().is_none_or(EventSender::is_idle)
            && !self.closed
            && self.config.direction.sends();
        self.play(now, id, samples);
        if idle {
            let now = self.clamp(now);
            self.anchor = Some(self.on_grid(now));
            self.frames_done = 0;
            self.marker_next = true;
            self.produce_frame(now);
        }
    }

    /// Stops the current playback and drops the queued ones, reporting each as stopped.
    pub fn stop_playback(&mut self) {
        for p in self.playback.drain(..) {
            self.events.push_back(Event::PlaybackFinished {
                id: p.id,
                end: PlaybackEnd::Stopped,
            });
        }
    }

    /// Whether anything is playing or queued.
    pub fn is_playing(&self) -> bool {
        !self.playback.is_empty()
    }

    /// Queues digits to send with the configured timing.
    ///
    /// # Errors
    /// [`DtmfError::InvalidDigit`] (nothing is queued then) and, for RFC 4733 without a
    /// negotiated telephone-event, [`DtmfError::NotNegotiated`].
    pub fn send_dtmf(&mut self, digits: &str, method: DtmfMethod) -> Result<(), DtmfError> {
        self.send_dtmf_timed(digits, method, self.config.dtmf_timing)
    }

    /// [`MediaSession::send_dtmf`] with this tone and pause (some intercoms need tones of
    /// 250–500 ms).
    ///
    /// # Errors
    /// As [`MediaSession::send_dtmf`].
    pub fn send_dtmf_timed(
        &mut self,
        digits: &str,
        method: DtmfMethod,
        timing: DtmfTiming,
    ) -> Result<(), DtmfError> {
        let digits = parse_digits(digits)?;
        match method {
            DtmfMethod::Rfc4733 => self
                .event_tx
                .as_mut()
                .ok_or(DtmfError::NotNegotiated)?
                .push(&digits, timing),
            DtmfMethod::InBand => self.inband_tx.push(&digits, timing),
        }
        Ok(())
    }

    /// Changes the tone and pause of digits queued from now on.
    pub fn set_dtmf_timing(&mut self, timing: DtmfTiming) {
        self.config.dtmf_timing = timing;
    }

    /// Adds audio from a bridged call to what we send (mixed with playback and tones).
    /// Any rate is accepted and converted; at most 100 ms is kept waiting.
    pub fn handle_bridge_audio(&mut self, now: Instant, pcm: &[i16], sample_rate: u32) {
        self.clamp(now);
        let rate = self.config.codec.sample_rate();
        self.resample_scratch.clear();
        mix::resample_into(pcm, sample_rate, rate, &mut self.resample_scratch);
        self.bridge_in.extend(&self.resample_scratch);
        let cap = rate as usize / 10;
        if self.bridge_in.len() > cap {
            let excess = self.bridge_in.len() - cap;
            self.bridge_in.drain(..excess);
        }
    }

    /// Tells the session when the engine ticks it: `grid` and every [`TICK`] before and
    /// after. Its packet grid is then anchored on those ticks, also when a prompt starts
    /// between two (its first packet leaves at once, the next on the following tick), so a
    /// tick that comes late by up to half a tick never moves a packet to another tick.
    /// Without it the grid is anchored wherever the first packet was made.
    pub fn set_grid(&mut self, grid: Instant) {
        self.grid = Some(grid);
    }

    /// The latest point of the tick grid at or before `now` (`now` without a grid).
    fn on_grid(&self, now: Instant) -> Instant {
        let Some(grid) = self.grid else {
            return now;
        };
        let tick = TICK.as_nanos().max(1);
        if now >= grid {
            let steps = now.duration_since(grid).as_nanos() / tick;
            grid + Duration::from_nanos(u64::try_from(steps * tick).unwrap_or(u64::MAX))
        } else {
            let steps = grid.duration_since(now).as_nanos().div_ceil(tick);
            grid.checked_sub(Duration::from_nanos(
                u64::try_from(steps * tick).unwrap_or(0),
            ))
            .unwrap_or(now)
        }
    }

    /// Keeps each received packet's decoded audio for [`MediaSession::take_arrival`]: what
    /// the remote said as it arrives, ahead of the playout buffer's delay (for a
    /// voice-activity detector that must be quick).
    pub fn set_arrival_tap(&mut self, on: bool) {
        self.arrival_tap = on;
        self.arrival_fresh = false;
    }

    /// The audio of the packet received last, decoded at the codec's rate, once (`None`
    /// when no audio packet arrived since, or the arrival tap is off).
    pub fn take_arrival(&mut self) -> Option<&[i16]> {
        if !std::mem::take(&mut self.arrival_fresh) {
            return None;
        }
        Some(&self.arrival)
    }

    /// Turns the tap on or off: while on, every tick makes a [`TapFrame`] available from
    /// [`MediaSession::poll_frame`].
    pub fn set_tap(&mut self, on: bool) {
        if on && !self.tap {
            self.playout.reset();
        }
        self.tap = on;
        if !on {
            self.tap_queue.clear();
        }
    }

    /// Sends RTP to a new address (a re-INVITE), or to none (hold with a null address).
    /// Latching starts over.
    pub fn set_remote(&mut self, now: Instant, remote: Option<SocketAddr>) {
        self.clamp(now);
        self.config.remote = remote;
        self.remote_rtp = remote;
        self.latched = None;
        self.candidate = None;
        self.learn_until = now + LEARNING;
        self.remote_rtcp = self
            .config
            .remote_rtcp
            .or(remote.map(|r| rtcp_for(r, self.config.rtcp_mux)));
        self.marker_next = true;
    }

    /// Changes our direction (hold and resume).
    pub fn set_direction(&mut self, direction: Direction) {
        if direction.sends() && !self.config.direction.sends() {
            self.marker_next = true;
        }
        self.config.direction = direction;
    }

    /// Ends the session: queues an RTCP BYE; later inputs are ignored.
    pub fn close(&mut self, now: Instant) {
        let now = self.clamp(now);
        if !self.closed {
            self.send_rtcp(now, true);
            self.closed = true;
        }
    }

    // --------------------------------------------------------------- outputs

    /// The next datagram to send. The bytes are lent until the next call, so that their
    /// buffer can be reused: no allocation per packet.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit<'_>> {
        if let Some(done) = self.tx_lent.take() {
            self.tx_pool.push(done.buf);
        }
        let next = self.tx_queue.pop_front()?;
        let lent = self.tx_lent.insert(next);
        Some(Transmit {
            to: lent.to,
            kind: lent.kind,
            payload: &lent.buf,
        })
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next tick's audio both ways, while the tap is on; lent until the next call.
    #[must_use]
    pub fn poll_frame(&mut self) -> Option<TapFrame<'_>> {
        if let Some(done) = self.tap_lent.take() {
            self.tap_pool.push(done);
        }
        let next = self.tap_queue.pop_front()?;
        let lent = self.tap_lent.insert(next);
        Some(TapFrame {
            received: &lent.0,
            sent: &lent.1,
            sample_rate: self.config.codec.sample_rate(),
        })
    }

    /// The earliest timer that is not a tick, and why.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<(Instant, Timer)> {
        let candidates = [
            self.dtmf_rx
                .poll_timeout()
                .map(|t| (t, Timer::DtmfEventEnd)),
            self.no_media_deadline().map(|t| (t, Timer::NoMedia)),
            self.next_rtcp
                .filter(|_| !self.closed)
                .map(|t| (t, Timer::Rtcp)),
        ];
        candidates.into_iter().flatten().min_by_key(|(t, _)| *t)
    }

    // -------------------------------------------------------------- accessors

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Where RTP goes now.
    pub fn remote(&self) -> Option<SocketAddr> {
        self.remote_rtp
    }

    /// The configuration in force.
    pub fn config(&self) -> &MediaConfig {
        &self.config
    }

    /// PCM samples per packet.
    pub fn frame_samples(&self) -> usize {
        self.frame_samples
    }

    /// Counters.
    pub fn stats(&self) -> MediaStats {
        MediaStats {
            packets_lost: self.rx_stats.lost(),
            jitter: self.rx_stats.jitter(),
            playout_underruns: self.playout.underruns(),
            playout_late: self.playout.late(),
            playout_trimmed: self.playout.trimmed(),
            ..self.stats
        }
    }

    // -------------------------------------------------------------- internals

    fn no_media_deadline(&self) -> Option<Instant> {
        let timeout = self.config.no_media_timeout?;
        if self.no_media_reported || self.closed || !self.config.direction.receives() {
            return None;
        }
        Some(self.last_rx.unwrap_or(self.created) + timeout)
    }

    fn units_since_start(&self, now: Instant, rate: u32) -> u64 {
        let ns = now.saturating_duration_since(self.created).as_nanos();
        (ns * u128::from(rate) / 1_000_000_000) as u64
    }

    /// NTP time of `now` (RFC 3550 §4), from the wall clock given at creation.
    fn ntp(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.created);
        let unix = self.config.wall_clock.unwrap_or_default() + since;
        let secs = unix.as_secs() + NTP_UNIX_OFFSET;
        let frac = (u64::from(unix.subsec_nanos()) << 32) / 1_000_000_000;
        (secs << 32) | frac
    }
}

mod receive;
mod send;
