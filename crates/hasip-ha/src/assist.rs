//! One turn of Home Assistant's Assist pipeline over the websocket API (issue 20):
//! `assist_pipeline/run` from speech-to-text to text-to-speech, the caller's audio streamed
//! as 16 kHz 16-bit mono in binary frames (each prefixed with the handler id Home Assistant
//! gives in `run-start`; a frame of the id alone ends the audio), and what the pipeline
//! reports, as it reports it: the recognised text, the agent's answer, the conversation id
//! for the next turn and the URL of the spoken answer. The pipeline's own voice-activity
//! detection is off (`no_vad`): the gateway ends the audio where the caller stopped.
//! Also: the pipelines Home Assistant has (to pick one by language).

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::client::HaClient;
use crate::error::{ErrorKind, HaError, error_chain, shorten};

/// The audio the pipeline takes: 16 kHz, 16-bit, mono.
pub const ASSIST_RATE: u32 = 16_000;

/// What one turn gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssistTurn {
    /// What speech-to-text heard.
    pub heard: String,
    /// What the conversation agent answered (its plain speech).
    pub answer: String,
    /// The conversation, to pass to the next turn.
    pub conversation_id: Option<String>,
    /// Where the spoken answer is (a path on Home Assistant, or a full URL).
    pub tts_url: Option<String>,
}

/// What a turn reports before it is over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssistProgress {
    /// Speech-to-text is done.
    Heard(String),
    /// The conversation agent answered.
    Answer {
        /// Its plain speech.
        text: String,
        /// The conversation to continue.
        conversation_id: Option<String>,
    },
}

/// Which pipeline, in which conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssistRequest {
    /// A pipeline id; `None`: the preferred one.
    pub pipeline: Option<String>,
    /// The conversation of the previous turn.
    pub conversation_id: Option<String>,
}

fn fail(what: &str, kind: ErrorKind) -> HaError {
    HaError::new(format!("assist_pipeline/run {what}"), kind)
}

impl HaClient {
    /// Runs one turn: streams what arrives on `audio` (16 kHz mono PCM chunks) until the
    /// channel closes (the caller stopped speaking), then waits for the pipeline's answer.
    ///
    /// # Errors
    /// The websocket, or the pipeline's own `error` event (its code and message).
    pub async fn assist_turn(
        &self,
        request: &AssistRequest,
        mut audio: mpsc::Receiver<Vec<i16>>,
        mut progress: impl FnMut(AssistProgress),
    ) -> Result<AssistTurn, HaError> {
        let ws = self.websocket().await?;
        let mut stream = ws.into_stream();
        let mut run = json!({
            "id": 1, "type": "assist_pipeline/run", "start_stage": "stt", "end_stage": "tts",
            "input": {"sample_rate": ASSIST_RATE, "no_vad": true},
        });
        if let Some(p) = &request.pipeline {
            run["pipeline"] = json!(p);
        }
        if let Some(c) = &request.conversation_id {
            run["conversation_id"] = json!(c);
        }
        let transport = |e: tokio_tungstenite::tungstenite::Error| {
            fail("", ErrorKind::Transport(error_chain(&e)))
        };
        stream
            .send(Message::text(run.to_string()))
            .await
            .map_err(transport)?;
        let mut turn = AssistTurn::default();
        let mut handler: Option<u8> = None;
        let mut audio_open = true;
        loop {
            tokio::select! {
                chunk = audio.recv(), if audio_open && handler.is_some() => {
                    let id = handler.unwrap_or(0);
                    let mut frame = vec![id];
                    match chunk {
                        Some(pcm) => frame.extend(pcm.iter().flat_map(|s| s.to_le_bytes())),
                        // The end of the caller's speech: the handler id alone.
                        None => audio_open = false,
                    }
                    stream.send(Message::binary(frame)).await.map_err(transport)?;
                }
                msg = stream.next() => {
                    let text = match msg {
                        Some(Ok(Message::Text(t))) => t.to_string(),
                        Some(Ok(Message::Close(_))) | None => {
                            return Err(fail("", ErrorKind::Transport("closed by Home Assistant".into())));
                        }
                        Some(Ok(_)) => continue,
                        Some(Err(e)) => return Err(transport(e)),
                    };
                    let v: Value = serde_json::from_str(&text).map_err(|e| {
                        fail("", ErrorKind::InvalidResponse(format!("not JSON ({e}): {}", shorten(&text, 100))))
                    })?;
                    if v["type"] == "result" && v["success"] == false {
                        return Err(fail("", ErrorKind::InvalidResponse(format!("refused: {}", v["error"]))));
                    }
                    if v["type"] != "event" {
                        continue;
                    }
                    let data = &v["event"]["data"];
                    match v["event"]["type"].as_str().unwrap_or_default() {
                        "run-start" => {
                            handler = data["runner_data"]["stt_binary_handler_id"]
                                .as_u64()
                                .and_then(|h| u8::try_from(h).ok());
                            if handler.is_none() {
                                return Err(fail("run-start", ErrorKind::InvalidResponse(
                                    "no stt_binary_handler_id".into())));
                            }
                        }
                        "stt-end" => {
                            turn.heard = data["stt_output"]["text"].as_str().unwrap_or_default().to_owned();
                            progress(AssistProgress::Heard(turn.heard.clone()));
                            // Speech-to-text is over: no more audio for this turn.
                            audio_open = false;
                        }
                        "intent-end" => {
                            let out = &data["intent_output"];
                            turn.answer = out["response"]["speech"]["plain"]["speech"]
                                .as_str().unwrap_or_default().to_owned();
                            turn.conversation_id = out["conversation_id"].as_str().map(str::to_owned);
                            progress(AssistProgress::Answer {
                                text: turn.answer.clone(),
                                conversation_id: turn.conversation_id.clone(),
                            });
                        }
                        "tts-end" => {
                            turn.tts_url = data["tts_output"]["url"].as_str().map(str::to_owned);
                        }
                        "error" => {
                            return Err(fail("", ErrorKind::InvalidResponse(format!(
                                "{}: {}",
                                data["code"].as_str().unwrap_or("error"),
                                data["message"].as_str().unwrap_or_default()
                            ))));
                        }
                        "run-end" => {
                            let _ = stream.close(None).await;
                            return Ok(turn);
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// The pipelines Home Assistant has: (id, language), the preferred one first.
    ///
    /// # Errors
    /// The websocket, or an answer without a pipeline list.
    pub async fn assist_pipelines(&self) -> Result<Vec<(String, String)>, HaError> {
        let mut ws = self.websocket().await?;
        let v = ws
            .call(json!({"type": "assist_pipeline/pipeline/list"}))
            .await;
        ws.close().await;
        let v = v?;
        let preferred = v["preferred_pipeline"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let items = v["pipelines"].as_array().ok_or_else(|| {
            fail(
                "pipeline/list",
                ErrorKind::InvalidResponse("no pipelines".into()),
            )
        })?;
        let mut list: Vec<(String, String)> = items
            .iter()
            .filter_map(|p| {
                Some((
                    p["id"].as_str()?.to_owned(),
                    p["language"].as_str().unwrap_or_default().to_owned(),
                ))
            })
            .collect();
        list.sort_by_key(|(id, _)| *id != preferred);
        Ok(list)
    }
}
