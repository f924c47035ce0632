//! The gateway's use of Home Assistant: webhooks for events, service calls, templates and
//! TTS (hasip-ha does the HTTP). Nothing here blocks the event loop: webhooks go through a
//! bounded queue, everything else runs in its own task.

use std::time::Duration;

use hasip_engine::Event;
use hasip_ha::{AudioCache, HaClient, HaConfig, Mode, Target, TtsEngine, TtsRequest, Webhooks};

use crate::config::{Delivery, Options};

/// The add-on's spool folder, in its persistent `/data`.
const ADDON_SPOOL: &str = "/data/spool";

/// `tts.debug_print` (ha-sip): lists Home Assistant's TTS engines with their languages,
/// and the configured engine's voices, and says whether the configured engine and
/// language exist. In a task: the websocket never holds up start-up.
fn debug_print(client: HaClient, engine: TtsEngine, language: String) {
    let language = if language.is_empty() {
        "en".to_owned()
    } else {
        language
    };
    tokio::spawn(async move {
        match client.tts_report(&engine, &language).await {
            Ok(r) => {
                for e in &r.engines {
                    tracing::info!(engine = e.engine_id, languages = %e.supported_languages.join(", "), "TTS engine");
                }
                if !r.engine_found {
                    tracing::warn!(
                        engine = engine.name(),
                        "tts: the configured engine is not in Home Assistant"
                    );
                } else if !r.language_supported {
                    tracing::warn!(
                        engine = engine.name(),
                        language,
                        "tts: the engine does not speak the configured language"
                    );
                }
                for v in r.voices.iter().flatten() {
                    tracing::info!(
                        engine = engine.name(),
                        language,
                        voice = v.voice_id,
                        name = v.name,
                        "TTS voice"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "tts.debug_print: cannot list the TTS engines"),
        }
    });
}

/// The event type every event is fired as on Home Assistant's bus (its data is the
/// webhook's body, `event` naming the gateway's event).
pub(crate) const EVENT_TYPE: &str = "hasip_event";

/// In add-on mode: asks the Supervisor for Core's port and sends webhooks to Core on the
/// host network (`http://127.0.0.1:<port>/api`), where they come from a local address.
/// Through the Supervisor's proxy, Home Assistant 2026.5 and later does not count them as
/// local, and a `local_only` webhook trigger (the default) silently never fires. Core
/// with HTTPS is left to the proxy (its certificate names a domain, not 127.0.0.1).
fn direct_webhooks(client: HaClient) {
    tokio::spawn(async move {
        let token = client.config().token.clone();
        match hasip_ha::supervisor::core_info(hasip_ha::supervisor::SUPERVISOR_URL, &token).await {
            Ok(core) if !core.ssl => {
                let api = format!("http://127.0.0.1:{}/api", core.port);
                match hasip_ha::Url::parse(&api) {
                    Ok(url) => {
                        tracing::info!(%api, "webhooks go to Home Assistant directly (a local address); the Supervisor's proxy if it cannot be reached");
                        client.set_direct_webhooks(Some(url));
                    }
                    Err(e) => {
                        tracing::warn!(%api, error = %e, "webhooks through the Supervisor's proxy")
                    }
                }
            }
            Ok(_) => tracing::warn!(
                "Home Assistant serves HTTPS: webhooks go through the Supervisor's proxy, which \
                 Home Assistant 2026.5 and later does not count as local; use event triggers \
                 (webhook.delivery: event or both) or `local_only: false`"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "cannot ask the Supervisor for Core's port: webhooks through its proxy")
            }
        }
    });
}

/// Home Assistant, when the gateway can reach one.
#[derive(Clone)]
pub(crate) struct Ha {
    pub client: HaClient,
    webhooks: Webhooks,
    global_webhook: Option<String>,
    delivery: Delivery,
    engine: Option<TtsEngine>,
    voice: Option<String>,
    disk_cache: Option<AudioCache>,
}

impl Ha {
    /// Connects the client if Home Assistant is configured (add-on: `SUPERVISOR_TOKEN`;
    /// stand-alone: `HA_BASE_URL` and `HA_TOKEN`, from the environment or `.env`). Must run
    /// inside the runtime (the webhook queue is a task).
    pub(crate) fn start(
        options: &Options,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Option<Self> {
        let config = match HaConfig::from_env(lookup) {
            Ok(c) => c,
            Err(hasip_ha::ConfigError::NotConfigured) => {
                tracing::info!(
                    "Home Assistant is not configured (no SUPERVISOR_TOKEN, no HA_BASE_URL): \
                     no webhooks, TTS or service calls"
                );
                return None;
            }
            Err(e) => {
                tracing::error!(error = %e, "Home Assistant configuration ignored");
                return None;
            }
        };
        let client = match HaClient::new(config) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot create the Home Assistant client");
                return None;
            }
        };
        let tts = &options.tts;
        let engine = if !tts.engine_id.trim().is_empty() {
            Some(TtsEngine::EngineId(tts.engine_id.trim().to_owned()))
        } else if !tts.platform.trim().is_empty() {
            Some(TtsEngine::Platform(tts.platform.trim().to_owned()))
        } else {
            None
        };
        let cache_dir = options.sip_global.cache_dir.trim();
        let disk_cache = if cache_dir.is_empty() {
            None
        } else {
            match AudioCache::new(cache_dir) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::error!(error = %e, "sip_global.cache_dir: TTS audio is not cached");
                    None
                }
            }
        };
        // Undelivered events wait on disk: the add-on's /data survives restarts and updates.
        let spool_dir = match options.webhook.spool_dir.trim() {
            "" if client.config().mode == Mode::AddOn => {
                Some(std::path::PathBuf::from(ADDON_SPOOL))
            }
            "" => None,
            dir => Some(std::path::PathBuf::from(dir)),
        };
        let webhooks = Webhooks::start_with_spool(
            client.clone(),
            hasip_ha::WebhookOptions::default(),
            spool_dir.as_deref(),
        );
        let delivery = options.webhook.delivery;
        tracing::info!(base = %client.config().base_url, ?delivery, "Home Assistant client ready");
        if client.config().mode == Mode::AddOn && delivery.webhooks() {
            direct_webhooks(client.clone());
        }
        if tts.debug_print {
            if let Some(engine) = engine.clone() {
                debug_print(client.clone(), engine, tts.language.trim().to_owned());
            } else {
                tracing::warn!(
                    "tts.debug_print: no TTS engine configured (tts.engine_id or tts.platform)"
                );
            }
        }
        Some(Self {
            client,
            webhooks,
            global_webhook: Some(options.webhook.id.trim().to_owned()).filter(|s| !s.is_empty()),
            delivery,
            engine,
            voice: Some(options.tts.voice.trim().to_owned()).filter(|s| !s.is_empty()),
            disk_cache,
        })
    }

    /// Queues an event for its per-call webhook (if the call has one), the global one and
    /// the event bus, as `webhook.delivery` says: in that order, in the call's order.
    pub(crate) fn event(&self, ev: &Event, body: &serde_json::Value) {
        let mut targets: Vec<Target> = Vec::new();
        if self.delivery.webhooks() {
            targets.extend(
                ev.call_webhook
                    .iter()
                    .chain(self.global_webhook.iter())
                    .cloned()
                    .map(Target::Webhook),
            );
        }
        if self.delivery.event_bus() {
            targets.push(Target::Event(EVENT_TYPE.to_owned()));
        }
        if let Err(e) = self
            .webhooks
            .try_send_to(&ev.call.internal_id, &targets, body)
        {
            tracing::warn!(error = %e, event = ev.kind.name(), %body, "event not queued");
        }
    }

    /// Calls a service in its own task; failures are logged.
    pub(crate) fn call_service(&self, domain: String, service: String, body: serde_json::Value) {
        let client = self.client.clone();
        tokio::spawn(async move {
            match client.call_service(&domain, &service, &body).await {
                Ok(_) => tracing::info!(domain, service, "service called"),
                Err(e) => tracing::error!(domain, service, error = %e, "service call failed"),
            }
        });
    }

    /// Speaks `text`: the audio file's bytes.
    pub(crate) async fn tts(
        &self,
        text: &str,
        language: &str,
        cache: bool,
        _rate: u32,
    ) -> Result<bytes::Bytes, String> {
        let engine = self.engine.clone().ok_or_else(|| {
            "play_message: no TTS engine configured (tts.engine_id or tts.platform)".to_owned()
        })?;
        let mut req = TtsRequest::new(engine, text, language);
        req.voice.clone_from(&self.voice);
        req.cache = cache;
        // No preferred format: most engines answer MP3, which we decode in a few ms, while
        // asking Home Assistant to convert costs it an ffmpeg run (about 100 ms).
        let audio = self
            .client
            .tts(&req, self.disk_cache.as_ref())
            .await
            .map_err(|e| format!("play_message: {e}"))?;
        Ok(audio.audio.data)
    }

    /// Delivers what the webhook queue still holds, for up to `grace`.
    pub(crate) async fn shutdown(&self, grace: Duration) {
        let stats = self.webhooks.shutdown(grace).await;
        tracing::debug!(?stats, "webhooks at shutdown");
    }
}
