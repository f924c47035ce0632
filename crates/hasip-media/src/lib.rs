//! Media for ha-sip-rs, sans-IO: RTP/RTCP, the 20 ms packet clock, G.711/G.722/Opus,
//! RFC 4733 telephone-events, in-band DTMF detection and generation, the playout buffer and
//! the mixing used by bridges and recordings.
//!
//! The centre is [`MediaSession`], the media of one call, which the engine owns. It takes
//! datagrams ([`MediaSession::handle_rtp`]), ticks of the shell's shared 20 ms clock
//! ([`MediaSession::handle_tick`]; the tick contract is in [`session`]'s docs) and
//! commands (play, stop, send DTMF, tap); it gives back datagrams
//! ([`MediaSession::poll_transmit`]), events ([`MediaSession::poll_event`]: digits,
//! playback finished, no media, remote latched), tap frames
//! ([`MediaSession::poll_frame`]) and deadlines ([`MediaSession::poll_timeout`]).
//!
//! The parts are usable on their own: [`rtp`] and [`rtcp`] (wire formats), [`codec`]
//! (the [`codec::AudioCodec`] trait and its implementations), [`telephone_event`]
//! (RFC 4733), [`goertzel`] (the in-band detector), [`tone`] (DTMF synthesis), [`jitter`]
//! (the playout buffer), [`stats`] (RFC 3550 reception statistics), [`vad`] (where speech
//! starts and ends) and [`mix`].
//!
//! This crate never touches a socket, never reads the clock and never spawns: bytes and
//! `now` come in as arguments, and bytes, events and deadlines go out as values. It depends
//! on no other hasip crate; the engine maps `hasip_sip`'s negotiated SDP onto
//! [`MediaConfig`]. Opus needs the `opus` cargo feature (on by default; it links Debian's
//! libopus); without it every other codec works and Opus sessions fail to start.
#![forbid(unsafe_code)]
#![warn(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod codec;
pub mod dtmf;
mod dtmf_rx;
#[doc(hidden)]
pub mod fuzzing;
pub mod goertzel;
pub mod jitter;
pub mod mix;
pub mod rng;
pub mod rtcp;
pub mod rtp;
pub mod session;
pub mod stats;
pub mod telephone_event;
pub mod tone;
pub mod vad;

pub use codec::{AudioCodec, Codec, CodecError};
pub use dtmf::{Digit, DtmfError, DtmfMethod, DtmfSource, DtmfTiming};
pub use session::{
    Direction, Event, Idle, LEARNING, MediaConfig, MediaError, MediaSession, MediaStats,
    PacketKind, PlaybackEnd, PlaybackId, TICK, TapFrame, TelephoneEvent, Timer, Transmit,
};
