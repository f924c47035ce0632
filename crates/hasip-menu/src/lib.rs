//! The ha-sip menu and PIN state machine, incoming-call files, and YAML with errors that
//! name file, line, column and key path.
//!
//! What this crate owns:
//!
//! - **Loading** ([`Menu`], [`IncomingCallFile`], [`MenuFile`]): every key of ha-sip's
//!   menu object and incoming-call file with its default (spec §4.2, §5.1), from YAML text
//!   (`from_yaml(text, file name)`) or from JSON (`from_json`, for menus inside commands).
//!   Errors read `incoming.yaml:7:18: menu.choices.'1234'.post_action: unknown action
//!   "hangupp", did you mean "hangup"?`. Unknown keys are errors. Booleans read as PyYAML
//!   read them; numbers are decimal, so `0042` stays `"0042"`.
//! - **Normalisation** ([`MenuTree`], spec §5.2): parents, the built-in default
//!   ("Unknown option", then return) and timeout (hang up) menus, the standard menu, the
//!   jump map.
//! - **The per-call machine** ([`MenuSession`], spec §5.3–5.8): digits, playback ends and
//!   timer expiry in; [`Output`]s out — play a prompt, stop it, run an action, hang up,
//!   send an [`Event`] (`dtmf_digit`, `entered_menu`, `timeout`, `pin_lockout`), log a
//!   [`Notice`] — and [`MenuSession::poll_timeout`] for the next deadline.
//! - **Number patterns** ([`NumberPattern`], spec §4.4) and the answer-mode decision
//!   ([`IncomingCallFile::answer_mode`], spec §4.3).
//! - **A simulator** ([`simulate`]): a caller in virtual time, writing a plain-text
//!   transcript; [`MenuTree::render`] prints the tree.
//!
//! Sans-IO: no clock (`now` is an argument), no files (the caller passes the text), no
//! threads. It depends on no other hasip crate. The deliberate differences from ha-sip are
//! listed in `docs/compatibility.md`.
#![forbid(unsafe_code)]
#![warn(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod error;
#[doc(hidden)]
pub mod fuzzing;
mod incoming;
mod load;
mod model;
mod node;
mod session;
pub mod simulate;
mod tree;
mod yaml;

pub use error::{KeyPath, LoadError, Position};
pub use incoming::{AnswerMode, IncomingCallFile, NumberPattern};
pub use load::{INCOMING_KEYS, MENU_KEYS, MenuFile, WEBHOOK_EVENTS};
pub use model::{Action, COMMANDS, DEFAULT_TIMEOUT, Menu, PostAction};
pub use session::{
    Event, LOOP_WINDOW, MAX_QUEUED_DIGITS, MAX_SILENT_ENTRIES, MenuSession, Notice, Output, Play,
    PlayCommand, PlaybackEnd, PlaybackId, Prompt,
};
pub use tree::{MenuIndex, MenuNode, MenuRole, MenuTree};
