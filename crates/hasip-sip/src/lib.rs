//! SIP for ha-sip-rs, sans-IO.
//!
//! This crate owns everything SIP: the message layer ([`message`]: our own zero-copy
//! parser, validation and builder, and stream framing), transactions, dialogs, the user
//! agent (registration, calls, who may call), digest authentication, SDP offer/answer and
//! STUN.
//!
//! It never touches a socket, never reads the clock, never spawns and never reads the
//! environment or files: bytes, `now` and seeds come in as arguments, and bytes, events
//! and deadlines go out as values. The shell (`crates/hasip`) does the I/O.
#![forbid(unsafe_code)]
#![warn(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod admission;
pub mod dialog;
pub mod digest;
#[doc(hidden)]
pub mod fuzzing;
pub mod message;
pub mod rng;
pub mod sdp;
pub mod stun;
pub mod transaction;
pub mod transport;
pub mod ua;
