//! Audio for playbacks: files and Home Assistant TTS, decoded to mono PCM at the call's rate
//! (hasip-audio) off the event loop, and kept in memory so that a prompt played again is
//! ready at once.
//!
//! Files are cached by path, size, modification time and rate (a changed file is decoded
//! again); TTS results only when the command asked for `cache_audio`, since a message can
//! depend on the moment it is spoken. The cache is bounded by its total samples.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hasip_engine::{Audio, AudioSource, CallKey};
use tokio::sync::mpsc;

use crate::ha::Ha;

/// The most samples the cache keeps (16 MiB of audio: about 17 minutes at 8 kHz).
const CACHE_SAMPLES: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    File {
        path: String,
        len: u64,
        modified: Option<SystemTime>,
        rate: u32,
    },
    Tts {
        message: String,
        language: String,
        rate: u32,
    },
}

/// A finished fetch, for the loop to hand to the engine.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub call: CallKey,
    pub playback: u64,
    key: Option<Key>,
    pub result: Result<Audio, String>,
}

/// TTS audio being fetched, or fetched, ahead of its playback: shared by the prefetch task
/// and the playback's fetch, so the text is asked for once.
type Ahead = Arc<tokio::sync::OnceCell<Result<bytes::Bytes, String>>>;

/// How long a prefetched prompt waits for its call to be answered.
const AHEAD_TTL: Duration = Duration::from_secs(120);
/// The most prompts fetched ahead at once.
const AHEAD_MAX: usize = 64;

/// Converted audio, kept between playbacks.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    entries: HashMap<Key, Arc<[i16]>>,
    samples: usize,
    ahead: HashMap<(String, String), (Instant, Ahead)>,
}

impl Cache {
    fn get(&self, key: &Key) -> Option<Arc<[i16]>> {
        self.entries.get(key).cloned()
    }

    fn put(&mut self, key: Key, samples: Arc<[i16]>) {
        if samples.len() > CACHE_SAMPLES / 4 {
            return;
        }
        if self.samples + samples.len() > CACHE_SAMPLES {
            // Simple and bounded: start over. Prompts in use are shared through their Arc.
            self.entries.clear();
            self.samples = 0;
        }
        self.samples += samples.len();
        if let Some(old) = self.entries.insert(key, samples) {
            self.samples -= old.len();
        }
    }

    /// Starts fetching `message` in `language` from Home Assistant now; the playback that
    /// asks for it later waits for this fetch instead of starting its own.
    pub(crate) fn prefetch(&mut self, ha: &Ha, message: String, language: String, cache: bool) {
        let now = Instant::now();
        self.ahead
            .retain(|_, (t, _)| now.duration_since(*t) < AHEAD_TTL);
        let key = (message, language);
        if self.ahead.contains_key(&key) || self.ahead.len() >= AHEAD_MAX {
            return;
        }
        let cell: Ahead = Arc::default();
        self.ahead.insert(key.clone(), (now, Arc::clone(&cell)));
        let ha = ha.clone();
        tokio::spawn(async move {
            let (message, language) = key;
            let _ = cell
                .get_or_init(|| async { ha.tts(&message, &language, cache, 0).await })
                .await;
        });
    }

    /// The prefetch of `message` in `language`, if there is one (it is used once).
    fn take_ahead(&mut self, message: &str, language: &str) -> Option<Ahead> {
        let (t, cell) = self
            .ahead
            .remove(&(message.to_owned(), language.to_owned()))?;
        (t.elapsed() < AHEAD_TTL).then_some(cell)
    }

    /// Stores what a fetch produced (when it may be kept) and passes it on.
    pub(crate) fn finish(&mut self, f: Fetched) -> (CallKey, u64, Result<Audio, String>) {
        if let (Some(key), Ok(a)) = (f.key, &f.result) {
            self.put(key, Arc::clone(&a.samples));
        }
        (f.call, f.playback, f.result)
    }
}

fn file_key(path: &str, rate: u32) -> Result<Key, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("audio_file: {path}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("audio_file: {path}: not a file"));
    }
    Ok(Key::File {
        path: path.to_owned(),
        len: meta.len(),
        modified: meta.modified().ok(),
        rate,
    })
}

pub(crate) fn decode(bytes: &[u8], rate: u32, what: &str) -> Result<Arc<[i16]>, String> {
    let c = hasip_audio::convert(bytes, rate, hasip_audio::Options::default())
        .map_err(|e| format!("{what}: {e}"))?;
    if c.report.skipped_packets > 0 {
        tracing::warn!(
            what,
            skipped = c.report.skipped_packets,
            "some audio packets could not be decoded and were skipped"
        );
    }
    Ok(c.samples)
}

/// Starts fetching `source` for a playback. A cached prompt is returned at once (`Ok`);
/// otherwise a task is started that reports on `done` (`Err(())`).
pub(crate) fn fetch(
    cache: &mut Cache,
    ha: Option<&Ha>,
    call: CallKey,
    playback: u64,
    source: AudioSource,
    rate: u32,
    done: &mpsc::Sender<Fetched>,
) -> Option<Result<Audio, String>> {
    match source {
        AudioSource::File { path, cache: _ } => {
            let key = match file_key(&path, rate) {
                Ok(k) => k,
                Err(e) => return Some(Err(e)),
            };
            if let Some(samples) = cache.get(&key) {
                return Some(Ok(Audio {
                    samples,
                    spoken: None,
                }));
            }
            let done = done.clone();
            tokio::spawn(async move {
                let p = path.clone();
                let result = tokio::task::spawn_blocking(move || {
                    let bytes = std::fs::read(&p).map_err(|e| format!("audio_file: {p}: {e}"))?;
                    decode(&bytes, rate, &format!("audio_file: {p}"))
                })
                .await
                .unwrap_or_else(|e| Err(format!("audio_file: {path}: decoder failed: {e}")))
                .map(|samples| Audio {
                    samples,
                    spoken: None,
                });
                let _ = done
                    .send(Fetched {
                        call,
                        playback,
                        key: Some(key),
                        result,
                    })
                    .await;
            });
            None
        }
        AudioSource::Tts {
            message,
            template,
            language,
            cache: keep,
        } => {
            let Some(ha) = ha else {
                return Some(Err(
                    "play_message: Home Assistant is not configured (run as an add-on, or set \
                     HA_BASE_URL and HA_TOKEN), so there is no TTS"
                        .to_owned(),
                ));
            };
            let key = (keep && !template).then(|| Key::Tts {
                message: message.clone(),
                language: language.clone(),
                rate,
            });
            if let Some(samples) = key.as_ref().and_then(|k| cache.get(k)) {
                return Some(Ok(Audio {
                    samples,
                    spoken: Some(message),
                }));
            }
            let ahead = if template {
                None
            } else {
                cache.take_ahead(&message, &language)
            };
            let ha = ha.clone();
            let done = done.clone();
            tokio::spawn(async move {
                let result = match ahead {
                    Some(cell) => {
                        let bytes = cell
                            .get_or_init(|| async { ha.tts(&message, &language, keep, rate).await })
                            .await
                            .clone();
                        if bytes.is_ok() {
                            decode_spoken(bytes, message, rate).await
                        } else {
                            // The early fetch failed (Home Assistant restarting?): once more.
                            speak(&ha, message, false, language, keep, rate).await
                        }
                    }
                    None => speak(&ha, message, template, language, keep, rate).await,
                };
                let _ = done
                    .send(Fetched {
                        call,
                        playback,
                        key,
                        result,
                    })
                    .await;
            });
            None
        }
    }
}

async fn speak(
    ha: &Ha,
    message: String,
    template: bool,
    language: String,
    keep: bool,
    rate: u32,
) -> Result<Audio, String> {
    let text = if template {
        // As ha-sip: a template Home Assistant cannot render is spoken as written.
        match ha.client.render_template(&message).await {
            Ok(text) => text,
            Err(e) => {
                tracing::warn!(
                    template = message,
                    "play_message: the template could not be rendered, so it is spoken as \
                     written: {e}"
                );
                message
            }
        }
    } else {
        message
    };
    let bytes = ha.tts(&text, &language, keep, rate).await;
    decode_spoken(bytes, text, rate).await
}

/// Decodes TTS audio off the loop.
async fn decode_spoken(
    bytes: Result<bytes::Bytes, String>,
    text: String,
    rate: u32,
) -> Result<Audio, String> {
    let bytes = bytes?;
    let what = "play_message: TTS audio".to_owned();
    let samples = tokio::task::spawn_blocking(move || decode(&bytes, rate, &what))
        .await
        .map_err(|e| format!("play_message: decoder failed: {e}"))??;
    Ok(Audio {
        samples,
        spoken: Some(text),
    })
}
