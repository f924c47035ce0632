//! Media for ha-sip-rs: RTP/RTCP, the media clock and 20 ms pacing, G.711/G.722/Opus,
//! RFC 4733 telephone-events, in-band DTMF detection and generation, jitter buffering,
//! and the mixing used by bridges and recordings.
//!
//! This crate is sans-IO: it never touches a socket, never reads the clock and never
//! spawns. It is empty until the media issue fills it; nothing here pretends to work yet.
#![forbid(unsafe_code)]
