//! The ha-sip-rs shell: configuration, the tokio loop that owns the engine and every
//! socket, and logging. Protocol logic lives in the pure crates; this crate only moves
//! bytes between them and the world, and is the only one that reads the clock.
#![forbid(unsafe_code)]

mod assist;
mod audio;
pub mod config;
mod discovery;
mod dns;
pub mod flags;
mod ha;
pub mod health;
pub mod menu_tool;
mod mqtt;
mod notify;
mod rtp;
mod sensors;
pub mod shell;
mod status;
mod stdin;
mod stun;
mod talk;
mod tcp;
mod tls;
mod web;
