//! The websocket API, for ha-sip's `debug_print` (spec §7.4): authenticate, list the TTS
//! engines with their languages, and the voices of the configured engine.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::client::HaClient;
use crate::error::{ErrorKind, HaError, error_chain, shorten};
use crate::tts::TtsEngine;

pub(crate) type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An authenticated websocket connection.
pub struct WsSession {
    stream: Stream,
    next_id: u64,
    timeout: Duration,
    label: String,
}

impl std::fmt::Debug for WsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsSession")
            .field("url", &self.label)
            .finish_non_exhaustive()
    }
}

/// One TTS engine as `tts/engine/list` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TtsEngineInfo {
    /// `engine_id` (an entity id, or the platform name of a legacy engine).
    pub engine_id: String,
    /// Its languages.
    pub supported_languages: Vec<String>,
}

/// A voice as `tts/engine/voices` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TtsVoice {
    /// `voice_id`, the value for `tts.voice`.
    pub voice_id: String,
    /// Its name.
    pub name: String,
}

/// What `debug_print` finds out about the configured engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TtsReport {
    /// Every engine Home Assistant has.
    pub engines: Vec<TtsEngineInfo>,
    /// The configured engine is among them.
    pub engine_found: bool,
    /// It supports the configured language.
    pub language_supported: bool,
    /// Its voices for that language (`None`: the engine has no voices, or was not found).
    pub voices: Option<Vec<TtsVoice>>,
}

impl HaClient {
    /// Connects to the websocket API and authenticates with the token.
    pub async fn websocket(&self) -> Result<WsSession, HaError> {
        let url = self.config().websocket_url.clone().ok_or_else(|| {
            HaError::new(
                "websocket",
                ErrorKind::InvalidRequest("no websocket URL configured (HA_WEBSOCKET_URL)".into()),
            )
        })?;
        let label = format!("websocket {}", url.path());
        let timeouts = self.config().timeouts;
        let connect = tokio::time::timeout(
            timeouts.connect + timeouts.request,
            tokio_tungstenite::connect_async(url.as_str()),
        )
        .await
        .map_err(|_| HaError::new(label.clone(), ErrorKind::Timeout(timeouts.connect)))?;
        let (stream, _) = connect
            .map_err(|e| HaError::new(label.clone(), ErrorKind::Connect(error_chain(&e))))?;
        let mut ws = WsSession {
            stream,
            next_id: 0,
            timeout: timeouts.request,
            label,
        };
        let first = ws.recv().await?;
        if first["type"] != "auth_required" {
            return Err(ws.unexpected(&first));
        }
        let auth = json!({"type": "auth", "access_token": self.config().token.expose()});
        ws.send(&auth).await?;
        let answer = ws.recv().await?;
        match answer["type"].as_str() {
            Some("auth_ok") => Ok(ws),
            Some("auth_invalid") => Err(HaError::new(
                ws.label.clone(),
                ErrorKind::Status {
                    status: 401,
                    body: format!(
                        "authentication failed: {}",
                        answer["message"].as_str().unwrap_or("invalid token")
                    ),
                },
            )),
            _ => Err(ws.unexpected(&answer)),
        }
    }

    /// ha-sip's `debug_print`: the engines, and whether `engine` exists and speaks
    /// `language`; then its voices. The shell logs the report; no failure here stops
    /// start-up.
    pub async fn tts_report(
        &self,
        engine: &TtsEngine,
        language: &str,
    ) -> Result<TtsReport, HaError> {
        let mut ws = self.websocket().await?;
        let engines = ws.tts_engines().await?;
        let found = engines.iter().find(|e| e.engine_id == engine.name());
        let language_supported =
            found.is_some_and(|e| e.supported_languages.iter().any(|l| l == language));
        let voices = if language_supported {
            ws.tts_voices(engine.name(), language).await?
        } else {
            None
        };
        ws.close().await;
        Ok(TtsReport {
            engine_found: found.is_some(),
            engines,
            language_supported,
            voices,
        })
    }
}

impl WsSession {
    /// Sends one command (`{"type": …, …}`; the id is added) and returns its `result`.
    pub async fn call(&mut self, mut command: Value) -> Result<Value, HaError> {
        self.next_id += 1;
        let id = self.next_id;
        let what = format!(
            "{} {}",
            self.label,
            command["type"].as_str().unwrap_or("command")
        );
        if let Some(obj) = command.as_object_mut() {
            obj.insert("id".into(), json!(id));
        }
        self.send(&command).await?;
        loop {
            let msg = self.recv().await?;
            if msg["id"] != id || msg["type"] != "result" {
                continue;
            }
            if msg["success"] == true {
                return Ok(msg["result"].clone());
            }
            return Err(HaError::new(
                what,
                ErrorKind::InvalidResponse(format!("failed: {}", msg["error"])),
            ));
        }
    }

    /// `tts/engine/list`.
    pub async fn tts_engines(&mut self) -> Result<Vec<TtsEngineInfo>, HaError> {
        let result = self.call(json!({"type": "tts/engine/list"})).await?;
        Ok(result["providers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                Some(TtsEngineInfo {
                    engine_id: p["engine_id"].as_str()?.to_owned(),
                    supported_languages: p["supported_languages"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|l| l.as_str().map(str::to_owned))
                        .collect(),
                })
            })
            .collect())
    }

    /// `tts/engine/voices` (`None` when the engine has no voices).
    pub async fn tts_voices(
        &mut self,
        engine_id: &str,
        language: &str,
    ) -> Result<Option<Vec<TtsVoice>>, HaError> {
        let result = self
            .call(
                json!({"type": "tts/engine/voices", "engine_id": engine_id, "language": language}),
            )
            .await?;
        Ok(result["voices"].as_array().map(|voices| {
            voices
                .iter()
                .filter_map(|v| {
                    Some(TtsVoice {
                        voice_id: v["voice_id"].as_str()?.to_owned(),
                        name: v["name"].as_str().unwrap_or_default().to_owned(),
                    })
                })
                .collect()
        }))
    }

    /// The connection itself, for a conversation of its own (Assist's binary audio).
    pub(crate) fn into_stream(self) -> Stream {
        self.stream
    }

    /// Closes the connection politely.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(self.timeout, self.stream.close(None)).await;
    }

    async fn send(&mut self, v: &Value) -> Result<(), HaError> {
        let sent =
            tokio::time::timeout(self.timeout, self.stream.send(Message::text(v.to_string())))
                .await
                .map_err(|_| HaError::new(self.label.clone(), ErrorKind::Timeout(self.timeout)))?;
        sent.map_err(|e| HaError::new(self.label.clone(), ErrorKind::Transport(error_chain(&e))))
    }

    async fn recv(&mut self) -> Result<Value, HaError> {
        loop {
            let next = tokio::time::timeout(self.timeout, self.stream.next())
                .await
                .map_err(|_| HaError::new(self.label.clone(), ErrorKind::Timeout(self.timeout)))?;
            let msg = match next {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    return Err(HaError::new(
                        self.label.clone(),
                        ErrorKind::Transport(error_chain(&e)),
                    ));
                }
                None => {
                    return Err(HaError::new(
                        self.label.clone(),
                        ErrorKind::Transport("connection closed".into()),
                    ));
                }
            };
            let text = match msg {
                Message::Text(t) => t.to_string(),
                Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
                Message::Close(_) => {
                    return Err(HaError::new(
                        self.label.clone(),
                        ErrorKind::Transport("closed by Home Assistant".into()),
                    ));
                }
                _ => continue,
            };
            return serde_json::from_str(&text).map_err(|e| {
                HaError::new(
                    self.label.clone(),
                    ErrorKind::InvalidResponse(format!("not JSON ({e}): {}", shorten(&text, 100))),
                )
            });
        }
    }

    fn unexpected(&self, msg: &Value) -> HaError {
        HaError::new(
            self.label.clone(),
            ErrorKind::InvalidResponse(format!(
                "unexpected message {}",
                shorten(&msg.to_string(), 200)
            )),
        )
    }
}
