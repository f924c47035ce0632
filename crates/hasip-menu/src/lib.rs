//! The ha-sip menu and PIN state machine, incoming-call files (allowed/blocked numbers
//! with `{*}`/`{?}`), and YAML parsing with errors that name line, column and key path.
//!
//! Sans-IO: digits, playback-done and timer inputs in; play/act/hang-up/event requests out;
//! time is injected. It is empty until the menu issue fills it.
#![forbid(unsafe_code)]
