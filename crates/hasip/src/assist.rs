//! Assist's link to Home Assistant (issue 20): each turn the engine starts for a call
//! becomes one `assist_pipeline/run` over the websocket (hasip-ha), fed with the caller's
//! audio as the engine taps it (resampled to 16 kHz on the loop, a few microseconds and
//! one allocation a frame) until the engine says the caller stopped; what the pipeline reports, and the
//! spoken answer fetched and decoded at the rate of the call's latest audio (the engine
//! resamples it should a re-INVITE change that rate meanwhile), go back to the loop as
//! [`AssistMsg`]s for [`hasip_engine::Engine::handle_assist`].
//!
//! A pipeline asked for by `language` is looked up once per Assist (the first pipeline in
//! that language, the preferred one first) and kept for its turns.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use hasip_engine::{AssistTap, AssistUpdate, CallKey, SpokenReply};
use hasip_ha::{ASSIST_RATE, AssistProgress, AssistRequest, HaClient};
use tokio::sync::{OnceCell, mpsc};
use tokio::task::JoinHandle;

/// The pipeline's error code when speech-to-text heard no words.
const NO_WORDS: &str = "stt-no-text-recognized";

/// What a turn reports to the loop.
#[derive(Debug)]
pub(crate) struct AssistMsg {
    pub call: CallKey,
    pub turn: u64,
    pub update: AssistUpdate,
}

/// The pipeline to use, once known (`None`: Home Assistant's preferred one).
type Pipeline = Arc<OnceCell<Result<Option<String>, String>>>;

/// 20 ms chunks a turn may have queued for the websocket (10 s): a Home Assistant that
/// reads slower than the caller speaks loses the newest audio, not the loop's time.
const QUEUED_CHUNKS: usize = 500;

/// The Assist of each call that runs it.
#[derive(Debug)]
pub(crate) struct Links {
    links: HashMap<CallKey, Link>,
    tx: mpsc::Sender<AssistMsg>,
}

#[derive(Debug)]
struct Link {
    client: Option<HaClient>,
    pipeline: Pipeline,
    asked: Option<String>,
    language: Option<String>,
    /// The rate of the call's latest tapped audio (its codec's, which a re-INVITE can
    /// change): spoken answers are decoded to it, read when the answer arrives, so that a
    /// call moved to G.722 gets the answer decoded at 16 kHz rather than an 8 kHz decode
    /// the engine would have to upsample (it does only for a change during the answer's
    /// fetch).
    rate: Arc<AtomicU32>,
    /// The turn whose audio is flowing, and where it goes.
    current: Option<(u64, mpsc::Sender<Vec<i16>>)>,
    tasks: Vec<JoinHandle<()>>,
}

impl Links {
    pub(crate) fn new(tx: mpsc::Sender<AssistMsg>) -> Self {
        Self {
            links: HashMap::new(),
            tx,
        }
    }

    /// `Output::AssistStart`.
    pub(crate) fn start(
        &mut self,
        client: Option<&HaClient>,
        call: CallKey,
        pipeline: Option<String>,
        language: Option<String>,
        rate: u32,
    ) {
        self.stop(call);
        if client.is_none() {
            let _ = self.tx.try_send(AssistMsg {
                call,
                turn: 0,
                update: AssistUpdate::Failed(
                    "assist needs Home Assistant (SUPERVISOR_TOKEN, or HA_BASE_URL and HA_TOKEN)"
                        .into(),
                ),
            });
        }
        self.links.insert(
            call,
            Link {
                client: client.cloned(),
                pipeline: Arc::new(OnceCell::new()),
                asked: pipeline,
                language,
                rate: Arc::new(AtomicU32::new(rate)),
                current: None,
                tasks: Vec::new(),
            },
        );
    }

    /// `Output::AssistStop`: what is in flight for the call is dropped.
    pub(crate) fn stop(&mut self, call: CallKey) {
        if let Some(link) = self.links.remove(&call) {
            for t in link.tasks {
                t.abort();
            }
        }
    }

    /// What the engine taps for the call's Assist.
    pub(crate) fn tap(&mut self, call: CallKey, tap: AssistTap<'_>) {
        let Some(link) = self.links.get_mut(&call) else {
            return;
        };
        match tap {
            AssistTap::TurnStarted {
                turn,
                conversation_id,
            } => {
                let Some(client) = link.client.clone() else {
                    return;
                };
                let (audio_tx, audio_rx) = mpsc::channel(QUEUED_CHUNKS);
                link.current = Some((turn, audio_tx));
                link.tasks.retain(|t| !t.is_finished());
                link.tasks.push(tokio::spawn(run_turn(Turn {
                    client,
                    pipeline: link.pipeline.clone(),
                    asked: link.asked.clone(),
                    language: link.language.clone(),
                    call,
                    turn,
                    conversation_id: conversation_id.map(str::to_owned),
                    rate: link.rate.clone(),
                    audio: audio_rx,
                    tx: self.tx.clone(),
                })));
            }
            AssistTap::Audio { pcm, rate } => {
                link.rate.store(rate, Ordering::Relaxed);
                let Some((turn, audio)) = &link.current else {
                    return;
                };
                // Resampled straight into what crosses to the turn's task: one allocation.
                let mut chunk =
                    Vec::with_capacity(pcm.len() * ASSIST_RATE as usize / rate.max(1) as usize + 1);
                hasip_media::mix::resample_into(pcm, rate, ASSIST_RATE, &mut chunk);
                if audio.try_send(chunk).is_err() {
                    tracing::debug!(
                        call = call.0,
                        turn,
                        "assist: audio dropped (Home Assistant reads slowly)"
                    );
                }
            }
        }
    }

    /// `Output::AssistSpeechEnded`: the turn's audio is complete (dropping its sender ends
    /// it).
    pub(crate) fn speech_ended(&mut self, call: CallKey, turn: u64) {
        if let Some(link) = self.links.get_mut(&call)
            && link.current.as_ref().is_some_and(|(t, _)| *t == turn)
        {
            link.current = None;
        }
    }
}

/// One turn, as its task needs it.
struct Turn {
    client: HaClient,
    pipeline: Pipeline,
    asked: Option<String>,
    language: Option<String>,
    call: CallKey,
    turn: u64,
    conversation_id: Option<String>,
    rate: Arc<AtomicU32>,
    audio: mpsc::Receiver<Vec<i16>>,
    tx: mpsc::Sender<AssistMsg>,
}

async fn run_turn(t: Turn) {
    let (call, turn, tx) = (t.call, t.turn, t.tx.clone());
    let update = match turn_update(t).await {
        Ok(update) => update,
        // A cough or a door slam: speech-to-text found no words. The caller may try again,
        // as after an answer; Assist goes on.
        Err(e) if e.contains(NO_WORDS) => AssistUpdate::Reply(Err(e)),
        Err(e) => AssistUpdate::Failed(e),
    };
    let _ = tx.send(AssistMsg { call, turn, update }).await;
}

/// Runs the turn; its last word: the spoken answer (or why there is none).
async fn turn_update(t: Turn) -> Result<AssistUpdate, String> {
    let pipeline = t
        .pipeline
        .get_or_init(|| choose_pipeline(&t.client, t.asked.clone(), t.language.clone()))
        .await
        .clone()?;
    let request = AssistRequest {
        pipeline,
        conversation_id: t.conversation_id,
    };
    let (call, turn, progress_tx) = (t.call, t.turn, t.tx.clone());
    let result = t
        .client
        .assist_turn(&request, t.audio, |p| {
            let update = match p {
                AssistProgress::Heard(text) => AssistUpdate::Heard(text),
                AssistProgress::Answer {
                    text,
                    conversation_id,
                } => AssistUpdate::Answer {
                    text,
                    conversation_id,
                },
            };
            let _ = progress_tx.try_send(AssistMsg { call, turn, update });
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(AssistUpdate::Reply(
        spoken_answer(
            &t.client,
            result.tts_url.as_deref(),
            t.rate.load(Ordering::Relaxed),
        )
        .await,
    ))
}

/// The pipeline named, else the first in `language`, else the preferred one (`None`).
async fn choose_pipeline(
    client: &HaClient,
    asked: Option<String>,
    language: Option<String>,
) -> Result<Option<String>, String> {
    if asked.is_some() {
        return Ok(asked);
    }
    let Some(language) = language else {
        return Ok(None);
    };
    let list = client.assist_pipelines().await.map_err(|e| e.to_string())?;
    let wanted = language.to_ascii_lowercase();
    let base = |l: &str| l.split(['-', '_']).next().unwrap_or(l).to_owned();
    list.iter()
        .find(|(_, l)| l.to_ascii_lowercase() == wanted)
        .or_else(|| {
            list.iter()
                .find(|(_, l)| base(&l.to_ascii_lowercase()) == base(&wanted))
        })
        .map(|(id, _)| Some(id.clone()))
        .ok_or_else(|| {
            let have: Vec<&str> = list.iter().map(|(_, l)| l.as_str()).collect();
            format!(
                "language: no Assist pipeline speaks {language:?} (Home Assistant has {})",
                have.join(", ")
            )
        })
}

/// Fetches the answer's speech from `url` (a path on Home Assistant or a full URL) and
/// decodes it at `rate`, off the loop.
async fn spoken_answer(
    client: &HaClient,
    url: Option<&str>,
    rate: u32,
) -> Result<SpokenReply, String> {
    let url = url.ok_or("the pipeline gave no spoken answer")?;
    let parsed = if url.starts_with("http://") || url.starts_with("https://") {
        hasip_ha::Url::parse(url).ok()
    } else {
        client.resolve_api_path(url)
    }
    .ok_or_else(|| format!("the spoken answer's URL {url:?} cannot be read"))?;
    let audio = client
        .fetch_audio(&parsed)
        .await
        .map_err(|e| e.to_string())?;
    let samples = tokio::task::spawn_blocking(move || {
        crate::audio::decode(&audio.data, rate, "assist: the spoken answer")
    })
    .await
    .map_err(|e| format!("assist: decoder failed: {e}"))??;
    Ok(SpokenReply { samples, rate })
}
