//! The media of calls: one [`MediaSession`] per call with negotiated media, driven by one
//! shared 20 ms tick; playback, DTMF both ways, recording taps and bridges.
//!
//! The engine keeps the tick on a drift-free grid (tick *k* at `anchor + k × 20 ms`) and
//! offers it through [`Engine::poll_timeout`] only while a session exists, so an idle
//! gateway has no timer at all. Datagrams and recorded frames leave through
//! [`Engine::drain_media`], which lends them to a [`MediaIo`] without copying; only calls
//! touched since the last drain are visited, so one received packet costs one call's work,
//! not a walk over every call.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hasip_media::{
    Codec as MediaCodec, Direction as MediaDirection, DtmfMethod as MediaDtmf, Event as MediaEvent,
    MediaConfig, MediaSession, PlaybackEnd as MediaEnd, PlaybackId, TICK, TelephoneEvent,
};
use hasip_menu::PlaybackEnd;
use hasip_sip::sdp::{Codec, Direction, Negotiated};

use crate::{
    CallKey, CommandError, DtmfMethod, Engine, EventKind, Output, Phase, RecordingChannels,
};

/// Where the engine's media goes: the shell's sockets and recording files.
pub trait MediaIo {
    /// Sends `payload` from `call`'s RTP socket to `to`.
    fn send(&mut self, call: CallKey, to: SocketAddr, payload: &[u8]);
    /// One 20 ms frame of a recorded call: what the remote sent and what we sent, same
    /// length, at `rate`.
    fn record(&mut self, call: CallKey, remote: &[i16], local: &[i16], rate: u32);
    /// One 20 ms frame of what the remote side of `call` said, at `rate`, for the browser
    /// that talks in the call (see [`Engine::set_talk`]).
    fn talk(&mut self, call: CallKey, remote: &[i16], rate: u32) {
        let _ = (call, remote, rate);
    }
    /// The turns and audio of `call`'s Assist, in order (see [`crate::AssistTap`]).
    fn assist(&mut self, call: CallKey, tap: crate::AssistTap<'_>) {
        let _ = (call, tap);
    }
}

/// A recording of a call, as the engine tracks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Recording {
    /// Asked for before the call had media: starts when media does (ha-sip §3.4.11).
    Pending(String, RecordingChannels),
    /// The shell is opening the file.
    Opening(String),
    /// Frames go to the file.
    Running(String),
}

/// A call's media, owned by this room: its RTP socket, the negotiated session and when
/// the shared tick serves it, its bridge partner and its recording.
#[derive(Debug)]
pub(crate) struct CallMedia {
    /// The call's RTP address as the shell bound it (or as STUN saw it).
    pub(crate) rtp: Option<SocketAddr>,
    /// Our SDP's version (`o=`), raised with every offer or answer we send.
    pub(crate) session_version: u64,
    /// The codec's sample rate once media is negotiated.
    pub(crate) rate: u32,
    /// RTP, RTCP, playback and DTMF, once media is negotiated.
    pub(crate) session: Option<Box<MediaSession>>,
    /// Listed in `Engine::media_dirty`.
    pub(crate) dirty: bool,
    /// Which phase of the media tick sends this call's packets.
    pub(crate) tick_phase: u32,
    /// The call whose audio this one exchanges (`bridge_audio`).
    pub(crate) bridged: Option<CallKey>,
    /// `start_recording`.
    pub(crate) recording: Option<Recording>,
    /// A browser talks in the call (the dashboard's Talk): the call's received audio goes
    /// to [`MediaIo::talk`], the browser's comes in with [`Engine::handle_talk_audio`].
    pub(crate) talk: bool,
    /// The call runs Assist: its received audio goes to the voice-activity detector and,
    /// while the caller speaks, to [`MediaIo::assist`].
    pub(crate) assisting: bool,
}

impl CallMedia {
    /// Whether the session must hand out each tick's frames (to a bridge partner, a
    /// recording, a browser or Assist).
    pub(crate) fn wants_tap(&self) -> bool {
        self.bridged.is_some()
            || matches!(self.recording, Some(Recording::Running(_)))
            || self.talk
            || self.assisting
    }
}

impl Default for CallMedia {
    fn default() -> Self {
        Self {
            rtp: None,
            session_version: 1,
            rate: 8000,
            session: None,
            dirty: false,
            tick_phase: 0,
            bridged: None,
            recording: None,
            talk: false,
            assisting: false,
        }
    }
}

impl Recording {
    pub(crate) fn path(&self) -> &str {
        match self {
            Self::Pending(p, _) | Self::Opening(p) | Self::Running(p) => p,
        }
    }
}

fn media_codec(c: Codec) -> MediaCodec {
    match c {
        Codec::Pcmu => MediaCodec::Pcmu,
        Codec::Pcma => MediaCodec::Pcma,
        Codec::G722 => MediaCodec::G722,
        Codec::Opus => MediaCodec::Opus,
    }
}

fn media_direction(d: Direction) -> MediaDirection {
    match d {
        Direction::SendRecv => MediaDirection::SendRecv,
        Direction::SendOnly => MediaDirection::SendOnly,
        Direction::RecvOnly => MediaDirection::RecvOnly,
        Direction::Inactive => MediaDirection::Inactive,
    }
}

/// The calls' packets are sent in this many groups spread over each 20 ms tick rather than
/// all at once: sending hundreds of datagrams in one burst can take milliseconds, which
/// made the last calls of a burst late (BENCHMARKS.md, media load).
pub(crate) const PHASES: u32 = 4;

/// The time between two phases' sub-ticks.
fn sub_tick() -> Duration {
    TICK / PHASES
}

impl Engine {
    /// Starts the call's media with what was negotiated, or updates it (re-INVITE: new
    /// address, hold, resume).
    pub(crate) fn media_start(&mut self, now: Instant, key: CallKey, n: Negotiated) {
        // A fresh draw from the engine's cryptographic generator: one call's SSRC tells
        // nothing about another's.
        let seed = self.rng.next_u64();
        let no_media = self.config.no_media_timeout;
        let phase = self.least_used_phase(key);
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let codec = media_codec(n.codec);
        if let Some(m) = c.media.session.as_mut()
            && m.config().codec == codec
            && m.config().payload_type == n.pt
        {
            m.set_remote(now, n.remote);
            m.set_direction(media_direction(n.direction));
            self.outputs.push_back(Output::MediaStart {
                call: key,
                negotiated: n,
            });
            return;
        }
        let mut cfg = MediaConfig::new(codec, n.pt);
        cfg.telephone_event = n.telephone_event.map(|(pt, clock)| TelephoneEvent {
            payload_type: pt,
            clock_rate: clock,
        });
        cfg.remote = n.remote;
        cfg.rtcp_mux = n.rtcp_mux;
        // Strict RTP: media from the SDP's host, or (a phone behind NAT) from the host its
        // SIP came from.
        cfg.signalling_ip = c.ua.and_then(|r| self.ua.peer_of(r)).map(|p| p.addr.ip());
        cfg.local_ip = Some(self.config.media_ip);
        cfg.direction = media_direction(n.direction);
        cfg.ptime = Duration::from_millis(u64::from(n.ptime.clamp(10, 60)));
        cfg.no_media_timeout = no_media;
        // In-band detection stays on even with telephone-event: the session turns it off
        // by itself once the phone sends an RFC 4733 event, so a phone that only sends
        // tones is still heard.
        cfg.inband_dtmf = true;
        cfg.cname = format!("hasip-{}", key.0);
        match MediaSession::new(cfg, seed, now) {
            Ok(mut m) => {
                if c.media.session.is_some() {
                    tracing::info!(call = key.0, codec = n.codec.name(), "codec changed");
                }
                m.set_tap(c.media.wants_tap());
                // A new session (a re-INVITE) of a call that runs Assist: its detector goes on.
                m.set_arrival_tap(c.media.assisting);
                let anchor = *self.tick_anchor.get_or_insert(now);
                let grid = anchor + sub_tick() * phase;
                m.set_grid(grid);
                c.media.tick_phase = phase;
                c.media.rate = codec.sample_rate();
                c.media.session = Some(Box::new(m));
                self.count_media();
                // The phase's next sub-tick, if it comes before the one planned.
                let k = now
                    .saturating_duration_since(grid)
                    .as_nanos()
                    .div_ceil(TICK.as_nanos());
                let first = grid + TICK * u32::try_from(k).unwrap_or(u32::MAX);
                if self.next_tick.is_none_or(|t| first < t) {
                    self.next_tick = Some(first);
                }
            }
            Err(e) => {
                tracing::error!(call = key.0, codec = n.codec.name(), error = %e, "cannot start media");
            }
        }
        self.outputs.push_back(Output::MediaStart {
            call: key,
            negotiated: n,
        });
        // A recording asked for before media starts now (ha-sip §3.4.11).
        if let Some(c) = self.calls.get_mut(&key)
            && c.media.session.is_some()
            && let Some(super::Recording::Pending(path, channels)) = c.media.recording.clone()
        {
            c.media.recording = Some(super::Recording::Opening(path.clone()));
            let rate = c.media.rate;
            self.outputs.push_back(Output::StartRecording {
                call: key,
                path,
                rate,
                channels,
            });
        }
    }

    /// Ends the call's media: the session sends its RTCP BYE at the next drain, the
    /// bridge is undone.
    pub(crate) fn media_end(&mut self, now: Instant, key: CallKey) {
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let partner = c.media.bridged.take();
        if let Some(mut m) = c.media.session.take() {
            m.close(now);
            let s = m.stats();
            tracing::info!(
                call = key.0,
                sent = s.packets_sent,
                received = s.packets_received,
                lost = s.packets_lost,
                jitter_ms =
                    u64::from(s.jitter) * 1000 / u64::from(m.config().codec.clock_rate().max(1)),
                late = s.playout_late,
                underruns = s.playout_underruns,
                trimmed_ms =
                    s.playout_trimmed * 1000 / u64::from(m.config().codec.sample_rate().max(1)),
                "media stats"
            );
            self.closing.push((key, m));
        }
        if let Some(p) = partner {
            self.unbridge_one(p);
        }
        self.count_media();
    }

    fn unbridge_one(&mut self, key: CallKey) {
        if let Some(c) = self.calls.get_mut(&key) {
            c.media.bridged = None;
            let tap = c.media.wants_tap();
            if let Some(m) = c.media.session.as_mut() {
                m.set_tap(tap);
            }
            tracing::info!(call = key.0, "bridge ended");
        }
    }

    pub(crate) fn mark_media(&mut self, key: CallKey) {
        if let Some(c) = self.calls.get_mut(&key)
            && !c.media.dirty
        {
            c.media.dirty = true;
            self.media_dirty.push(key);
        }
    }

    /// When the next media tick is due (only while some call has media).
    pub(crate) fn media_timeout(&self) -> Option<Instant> {
        self.next_tick.filter(|_| self.media_sessions > 0)
    }

    /// The phase with the fewest calls with media (`key` itself not counted), so that
    /// the calls' packets leave spread over the 20 ms.
    fn least_used_phase(&self, key: CallKey) -> u32 {
        let mut used = [0usize; PHASES as usize];
        for (k, c) in &self.calls {
            if *k != key && c.media.session.is_some() {
                used[c.media.tick_phase as usize % used.len()] += 1;
            }
        }
        (0..PHASES).min_by_key(|p| used[*p as usize]).unwrap_or(0)
    }

    /// Runs the sub-ticks that are due: each ticks the calls of its phase.
    pub(crate) fn media_tick(&mut self, now: Instant) {
        let (Some(anchor), Some(due)) = (self.tick_anchor, self.next_tick) else {
            return;
        };
        if now < due {
            return;
        }
        if self.media_sessions == 0 {
            self.tick_anchor = None;
            self.next_tick = None;
            self.next_sub = 0;
            return;
        }
        let sub = sub_tick().as_nanos().max(1);
        let current = u64::try_from(now.saturating_duration_since(anchor).as_nanos() / sub)
            .unwrap_or(u64::MAX);
        // The phases whose sub-ticks passed since the last run (all of them after a stall).
        let from = self
            .next_sub
            .max(current.saturating_sub(u64::from(PHASES) - 1));
        let mut due_phases = [false; PHASES as usize];
        for j in from..=current {
            due_phases[(j % u64::from(PHASES)) as usize] = true;
        }
        self.next_sub = current.saturating_add(1);
        let mut in_use = [false; PHASES as usize];
        for i in 0..self.order.len() {
            let Some(&key) = self.order.get(i) else {
                break;
            };
            let Some(c) = self.calls.get_mut(&key) else {
                continue;
            };
            let phase = c.media.tick_phase as usize % in_use.len();
            let Some(m) = c.media.session.as_mut() else {
                continue;
            };
            in_use[phase] = true;
            if !due_phases[phase] {
                continue;
            }
            m.handle_tick(now);
            self.mark_media(key);
            self.media_events(now, key);
        }
        // The next sub-tick of a phase that has calls.
        let next = (1..=u64::from(PHASES))
            .map(|d| current.saturating_add(d))
            .find(|j| in_use[(j % u64::from(PHASES)) as usize])
            .unwrap_or(current.saturating_add(u64::from(PHASES)));
        let nanos = u64::try_from(sub).unwrap_or(u64::MAX).saturating_mul(next);
        self.next_tick = Some(anchor + Duration::from_nanos(nanos));
    }

    /// An RTP (or RTCP) datagram arrived on `call`'s socket.
    pub fn handle_rtp(&mut self, now: Instant, call: CallKey, from: SocketAddr, data: &[u8]) {
        let Some(m) = self
            .calls
            .get_mut(&call)
            .and_then(|c| c.media.session.as_mut())
        else {
            return;
        };
        if hasip_media::rtp::looks_like_rtcp(data) {
            m.handle_rtcp(now, from, data);
        } else {
            m.handle_rtp(now, from, data);
            // Assist's detector hears the packet as it arrives.
            if let Some(pcm) = m.take_arrival() {
                let mut heard = std::mem::take(&mut self.scratch.0);
                heard.clear();
                heard.extend_from_slice(pcm);
                let rate = self.calls.get(&call).map_or(8000, |c| c.media.rate);
                self.assist_arrival(now, call, &heard, rate);
                self.scratch.0 = heard;
            }
        }
        self.mark_media(call);
        self.media_events(now, call);
        self.pump(now);
    }

    /// What the call's media session reported.
    pub(crate) fn media_events(&mut self, now: Instant, key: CallKey) {
        // Bounded: a session holds a bounded number of events.
        for _ in 0..256 {
            let Some(ev) = self
                .calls
                .get_mut(&key)
                .and_then(|c| c.media.session.as_mut())
                .and_then(|m| m.poll_event())
            else {
                return;
            };
            match ev {
                MediaEvent::Dtmf { digit, source } => {
                    // Reported when the press starts, not when the key is let go (issue 24).
                    tracing::debug!(call = key.0, digit = %digit.as_char(), ?source, "DTMF received");
                    self.dtmf(now, key, digit.as_char());
                }
                MediaEvent::DtmfEnded {
                    digit,
                    source,
                    duration,
                    clock_rate,
                } => {
                    tracing::debug!(call = key.0, digit = %digit.as_char(), ?source, duration, clock_rate, "DTMF ended");
                }
                MediaEvent::DtmfSent { digit, method } => {
                    tracing::info!(call = key.0, digit = %digit.as_char(), ?method, "DTMF sent");
                }
                MediaEvent::PlaybackFinished { id, end } => {
                    if end == MediaEnd::Completed && !self.assist_reply_done(now, key, id.0) {
                        self.playback_ended(now, key, id.0, PlaybackEnd::Finished);
                    }
                }
                MediaEvent::NoMedia { silent_for } => {
                    tracing::warn!(
                        call = key.0,
                        silent_ms = u64::try_from(silent_for.as_millis()).unwrap_or(u64::MAX),
                        "no RTP from the remote"
                    );
                }
                MediaEvent::RemoteLatched { addr } => {
                    tracing::debug!(call = key.0, %addr, "RTP latched");
                }
            }
        }
    }

    /// Hands every datagram and recorded frame waiting since the last call to `io`, and
    /// moves bridged audio from each call to its partner.
    pub fn drain_media(&mut self, now: Instant, io: &mut dyn MediaIo) {
        let mut dirty = std::mem::take(&mut self.media_dirty);
        let (mut rx, mut tx) = std::mem::take(&mut self.scratch);
        for &key in &dirty {
            let Some(c) = self.calls.get_mut(&key) else {
                continue;
            };
            c.media.dirty = false;
            let recording = matches!(c.media.recording, Some(super::Recording::Running(_)));
            let partner = c.media.bridged;
            let talk = c.media.talk;
            let assisting = c.media.assisting;
            let Some(m) = c.media.session.as_mut() else {
                continue;
            };
            while let Some(t) = m.poll_transmit() {
                io.send(key, t.to, t.payload);
            }
            // Tap frames: recordings take both sides, a bridge takes what the remote said.
            for _ in 0..16 {
                let Some(m) = self
                    .calls
                    .get_mut(&key)
                    .and_then(|c| c.media.session.as_mut())
                else {
                    break;
                };
                let Some(f) = m.poll_frame() else {
                    break;
                };
                rx.clear();
                rx.extend_from_slice(f.received);
                tx.clear();
                tx.extend_from_slice(f.sent);
                let rate = f.sample_rate;
                if recording {
                    io.record(key, &rx, &tx, rate);
                }
                if talk {
                    io.talk(key, &rx, rate);
                }
                if assisting {
                    self.assist_frame(key, &rx, rate, io);
                }
                if let Some(p) = partner
                    && let Some(pm) = self
                        .calls
                        .get_mut(&p)
                        .and_then(|c| c.media.session.as_mut())
                {
                    pm.handle_bridge_audio(now, &rx, rate);
                }
            }
        }
        dirty.clear();
        // Sessions of ended calls: their last RTCP (BYE) goes out, then they are dropped.
        for (key, mut m) in self.closing.drain(..) {
            while let Some(t) = m.poll_transmit() {
                io.send(key, t.to, t.payload);
            }
        }
        // Reuse the allocations.
        self.scratch = (rx, tx);
        if self.media_dirty.is_empty() {
            self.media_dirty = dirty;
        }
    }

    /// The call named `id` (any of its ids, as commands name calls).
    pub fn call_key(&self, id: &str) -> Option<CallKey> {
        self.find(id).ok()
    }

    /// A browser starts (`on`) or stops talking in `call` (the dashboard's Talk): while
    /// on, each tick's received audio goes to [`MediaIo::talk`].
    ///
    /// # Errors
    /// The call does not exist or has no media yet.
    pub fn set_talk(&mut self, call: CallKey, on: bool) -> Result<(), CommandError> {
        let c = self
            .calls
            .get_mut(&call)
            .ok_or_else(|| CommandError(format!("call {} is over", call.0)))?;
        if on && c.media.session.is_none() {
            return Err(CommandError(format!(
                "call {} has no audio yet: answer it first",
                c.info.internal_id
            )));
        }
        c.media.talk = on;
        let tap = c.media.wants_tap();
        if let Some(m) = c.media.session.as_mut() {
            m.set_tap(tap);
        }
        tracing::info!(call = call.0, on, "browser talk");
        Ok(())
    }

    /// Audio from the browser that talks in `call` (any rate): mixed into what the call
    /// sends, as a bridged call's audio is.
    pub fn handle_talk_audio(&mut self, now: Instant, call: CallKey, pcm: &[i16], rate: u32) {
        if let Some(m) = self
            .calls
            .get_mut(&call)
            .filter(|c| c.media.talk)
            .and_then(|c| c.media.session.as_mut())
        {
            m.handle_bridge_audio(now, pcm, rate);
        }
    }

    /// Counts the sessions again after a call gained or lost its media.
    pub(crate) fn count_media(&mut self) {
        self.media_sessions = self
            .calls
            .values()
            .filter(|c| c.media.session.is_some())
            .count();
    }

    /// Starts playing decoded audio on the call.
    pub(crate) fn media_play(
        &mut self,
        now: Instant,
        call: CallKey,
        playback: u64,
        samples: Arc<[i16]>,
    ) {
        let Some(m) = self
            .calls
            .get_mut(&call)
            .and_then(|c| c.media.session.as_mut())
        else {
            tracing::warn!(
                call = call.0,
                playback,
                "the call has no media: playback not heard"
            );
            self.playback_ended(now, call, playback, PlaybackEnd::Failed);
            return;
        };
        // One playback at a time: what played before is replaced (the menu decides).
        if m.is_playing() {
            m.stop_playback();
        }
        m.play_now(now, PlaybackId(playback), samples);
        self.mark_media(call);
        self.media_events(now, call);
    }

    pub(crate) fn media_stop(&mut self, now: Instant, call: CallKey) {
        if let Some(m) = self
            .calls
            .get_mut(&call)
            .and_then(|c| c.media.session.as_mut())
        {
            m.stop_playback();
        }
        self.media_events(now, call);
    }

    pub(crate) fn media_send_dtmf(
        &mut self,
        key: CallKey,
        number: &str,
        digits: &str,
        method: DtmfMethod,
        timing: crate::DtmfTiming,
    ) -> Result<(), CommandError> {
        let m = self
            .calls
            .get_mut(&key)
            .and_then(|c| c.media.session.as_mut())
            .ok_or_else(|| CommandError(format!("call {number} has no media")))?;
        let method = match method {
            DtmfMethod::InBand => MediaDtmf::InBand,
            DtmfMethod::Rfc2833 => MediaDtmf::Rfc4733,
            DtmfMethod::SipInfo => return Ok(()),
        };
        m.send_dtmf_timed(digits, method, timing)
            .map_err(|e| CommandError(format!("send_dtmf: call {number}: {e}")))
    }

    pub(crate) fn media_bridge(
        &mut self,
        a: CallKey,
        b: CallKey,
        names: (&str, &str),
    ) -> Result<(), CommandError> {
        if a == b {
            return Err(CommandError(format!(
                "bridge_to: {:?} is the same call as number",
                names.1
            )));
        }
        for (k, name) in [(a, names.0), (b, names.1)] {
            let c = self
                .calls
                .get(&k)
                .ok_or_else(|| CommandError(format!("call not in progress: {name}")))?;
            if c.media.session.is_none() || c.phase == Phase::Ended {
                return Err(CommandError(format!(
                    "call {name} has no media: cannot bridge audio"
                )));
            }
        }
        // A call is in at most one bridge: a new bridge replaces the old ones.
        for k in [a, b] {
            if let Some(old) = self.calls.get_mut(&k).and_then(|c| c.media.bridged.take()) {
                self.unbridge_one(old);
            }
        }
        for (k, other) in [(a, b), (b, a)] {
            if let Some(c) = self.calls.get_mut(&k) {
                c.media.bridged = Some(other);
                if let Some(m) = c.media.session.as_mut() {
                    m.set_tap(true);
                }
            }
        }
        tracing::info!(a = a.0, b = b.0, "calls bridged");
        Ok(())
    }

    pub(crate) fn media_start_recording(
        &mut self,
        key: CallKey,
        number: &str,
        path: String,
        channels: Option<RecordingChannels>,
    ) -> Result<(), CommandError> {
        let channels = channels.unwrap_or(self.config.recording_channels);
        let c = self
            .calls
            .get_mut(&key)
            .ok_or_else(|| CommandError(format!("call not in progress: {number}")))?;
        if let Some(r) = &c.media.recording {
            tracing::info!(call = key.0, file = r.path(), "Recording already running");
            return Ok(());
        }
        if c.media.session.is_none() {
            tracing::info!(call = key.0, file = %path, "Recording will start once media is available");
            c.media.recording = Some(super::Recording::Pending(path, channels));
            return Ok(());
        }
        c.media.recording = Some(super::Recording::Opening(path.clone()));
        let rate = c.media.rate;
        self.outputs.push_back(Output::StartRecording {
            call: key,
            path,
            rate,
            channels,
        });
        Ok(())
    }

    /// The shell opened (or failed to open) the recording file the engine asked for.
    pub fn handle_recording_opened(
        &mut self,
        _now: Instant,
        call: CallKey,
        result: Result<(), String>,
    ) {
        let Some(c) = self.calls.get_mut(&call) else {
            // The call ended meanwhile: the shell closes what it opened.
            self.outputs.push_back(Output::StopRecording { call });
            return;
        };
        let Some(super::Recording::Opening(path)) = c.media.recording.clone() else {
            return;
        };
        match result {
            Ok(()) => {
                c.media.recording = Some(super::Recording::Running(path.clone()));
                if let Some(m) = c.media.session.as_mut() {
                    m.set_tap(true);
                }
                self.event(call, EventKind::RecordingStarted(path));
            }
            Err(e) => {
                tracing::error!(call = call.0, file = %path, error = %e, "cannot record the call");
                c.media.recording = None;
            }
        }
    }

    /// Stops the call's recording; `Ok(false)` when it was not recording.
    pub(crate) fn media_stop_recording(&mut self, key: CallKey) -> bool {
        let Some(c) = self.calls.get_mut(&key) else {
            return false;
        };
        let Some(r) = c.media.recording.take() else {
            return false;
        };
        let tap = c.media.wants_tap();
        if let Some(m) = c.media.session.as_mut() {
            m.set_tap(tap);
        }
        match r {
            super::Recording::Pending(..) => {}
            super::Recording::Opening(_) => {
                self.outputs.push_back(Output::StopRecording { call: key });
            }
            super::Recording::Running(path) => {
                self.outputs.push_back(Output::StopRecording { call: key });
                self.event(key, EventKind::RecordingStopped(path));
            }
        }
        true
    }
}
