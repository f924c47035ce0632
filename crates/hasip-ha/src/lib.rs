//! The Home Assistant client of ha-sip-rs: TTS URL and download with an on-disk cache,
//! webhooks that are retried and kept in order, service calls and templates, for both the
//! Supervisor (add-on) and stand-alone endpoints.
//!
//! - [`HaConfig`]: where Home Assistant is ([`HaConfig::from_env`] reads ha-sip's
//!   variables through a lookup function), the token ([`Secret`], never shown) and the
//!   [`Timeouts`] every request carries.
//! - [`HaClient`]: one connection pool; [`HaClient::tts`], [`HaClient::call_service`],
//!   [`HaClient::render_template`], [`HaClient::post_webhook`] (to Core directly in add-on
//!   mode when [`HaClient::set_direct_webhooks`] says where), [`HaClient::post_event`],
//!   [`HaClient::core_state`], and over the websocket [`HaClient::tts_report`] (ha-sip's
//!   `debug_print`) and [`HaClient::assist_turn`] (one turn of the Assist pipeline: the
//!   caller's audio in, the recognised text, the answer and its speech's URL out).
//! - [`Webhooks`]: the delivery queue to webhooks and the event bus ([`Webhooks::try_send`]
//!   and [`Webhooks::try_send_to`] never wait).
//! - [`AudioCache`] and [`CacheKey`]: the checked, atomically written disk cache.
//!
//! Audio is returned as bytes with a media type ([`Audio`]); decoding is the engine's job.
//! HTTPS uses rustls with the ring provider only: call [`install_crypto_provider`] first
//! thing in `main` (the client also calls it, so it can never panic for lack of one).
#![forbid(unsafe_code)]
#![warn(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod assist;
mod cache;
mod client;
mod config;
mod error;
mod spool;
pub mod supervisor;
mod tts;
mod webhook;
mod websocket;

pub use assist::{ASSIST_RATE, AssistProgress, AssistRequest, AssistTurn};
pub use cache::{AudioCache, CacheError, CacheKey};
pub use client::{HaClient, MAX_BODY};
pub use config::{
    ConfigError, HaConfig, Mode, SUPERVISOR_API, SUPERVISOR_WEBSOCKET, Secret, Timeouts,
};
pub use error::{ErrorKind, HaError, TtsError, TtsStage};
pub use reqwest::Url;
pub use tts::{Audio, AudioFormat, PreferredAudio, TtsAudio, TtsEngine, TtsRequest, TtsUrl};
pub use webhook::{Target, WebhookError, WebhookOptions, WebhookStats, Webhooks};
pub use websocket::{TtsEngineInfo, TtsReport, TtsVoice, WsSession};

/// Installs rustls' ring crypto provider as the process default, unless a provider is
/// installed already. Idempotent and safe to call from several places; the binary calls it
/// first thing in `main` (reqwest, tokio-rustls and rumqttc all use the default).
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another thread installing one is fine: one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn crypto_provider_is_idempotent() {
        super::install_crypto_provider();
        super::install_crypto_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
