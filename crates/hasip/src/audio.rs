//! Audio for playbacks: files and Home Assistant TTS, decoded to mono PCM at the call's rate
//! (hasip-audio) off the event loop, and kept in memory so that a prompt played again is
//! ready at once.
//!
//! Files are cached by path, size, modification time and rate (a changed file is decoded
//! again); TTS results only when the command asked for `cache_audio`, since a message can
//! depend on the moment it is spoken. The cache is bounded by its total samples.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

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

/// Converted audio, kept between playbacks.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    entries: HashMap<Key, Arc<[i16]>>,
    samples: usize,
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

fn decode(bytes: &[u8], rate: u32, what: &str) -> Result<Arc<[i16]>, String> {
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
    cache: &Cache,
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
            let ha = ha.clone();
            let done = done.clone();
            tokio::spawn(async move {
                let result = speak(&ha, message, template, language, keep, rate).await;
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
        ha.client
            .render_template(&message)
            .await
            .map_err(|e| format!("play_message: template: {e}"))?
    } else {
        message
    };
    let bytes = ha.tts(&text, &language, keep, rate).await?;
    let what = "play_message: TTS audio".to_owned();
    let samples = tokio::task::spawn_blocking(move || decode(&bytes, rate, &what))
        .await
        .map_err(|e| format!("play_message: decoder failed: {e}"))??;
    Ok(Audio {
        samples,
        spoken: Some(text),
    })
}
