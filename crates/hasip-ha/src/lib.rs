//! The Home Assistant client of ha-sip-rs: TTS URL and download with an on-disk cache,
//! webhooks that are retried and kept in order, service calls and templates, for both the
//! Supervisor (add-on) and stand-alone endpoints.
//!
//! It is empty until the Home Assistant issue fills it.
#![forbid(unsafe_code)]
