//! Text to speech through Home Assistant: `POST {base}/tts_get_url`, download, and the
//! disk cache.

use std::time::Instant;

use bytes::Bytes;
use reqwest::{Method, Url};
use serde_json::{Map, Value, json};

use crate::cache::{AudioCache, CacheKey};
use crate::client::HaClient;
use crate::error::{ErrorKind, HaError, TtsError, TtsStage};

/// Audio as Home Assistant delivered it. The engine decodes it (hasip-audio).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audio {
    /// The file's bytes.
    pub data: Bytes,
    /// Its media type, normalised (`audio/mpeg`, `audio/wav`, `audio/ogg`, `audio/flac`), or
    /// what the server said when it is none of those.
    pub media_type: String,
}

impl Audio {
    /// The container format, from the media type.
    pub fn format(&self) -> AudioFormat {
        AudioFormat::from_media_type(&self.media_type)
    }
}

/// The audio containers ha-sip plays (it chooses by file extension: `.mp3`, `.wav`, `.ogg`,
/// `.flac`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioFormat {
    /// MPEG layer III.
    Mp3,
    /// RIFF WAVE.
    Wav,
    /// Ogg (Vorbis or Opus).
    Ogg,
    /// FLAC.
    Flac,
    /// Anything else.
    Unknown,
}

impl AudioFormat {
    /// From a media type (`audio/mpeg`, `audio/x-wav; charset=…`, …).
    pub fn from_media_type(media_type: &str) -> Self {
        let mt = media_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match mt.as_str() {
            "audio/mpeg" | "audio/mp3" | "audio/mpeg3" | "audio/x-mpeg-3" => Self::Mp3,
            "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => Self::Wav,
            "audio/ogg" | "application/ogg" | "audio/opus" => Self::Ogg,
            "audio/flac" | "audio/x-flac" => Self::Flac,
            _ => Self::Unknown,
        }
    }

    /// From a file extension (`mp3`, `WAV`, …), as ha-sip chooses.
    pub fn from_extension(ext: &str) -> Self {
        match ext.to_ascii_lowercase().as_str() {
            "mp3" => Self::Mp3,
            "wav" => Self::Wav,
            "ogg" | "oga" | "opus" => Self::Ogg,
            "flac" => Self::Flac,
            _ => Self::Unknown,
        }
    }

    /// From the first bytes of a file.
    pub fn sniff(data: &[u8]) -> Self {
        if data.len() >= 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WAVE" {
            Self::Wav
        } else if data.starts_with(b"ID3")
            || (data.len() >= 2 && data[0] == 0xFF && data[1] & 0xE0 == 0xE0)
        {
            Self::Mp3
        } else if data.starts_with(b"OggS") {
            Self::Ogg
        } else if data.starts_with(b"fLaC") {
            Self::Flac
        } else {
            Self::Unknown
        }
    }

    /// The normalised media type.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Mp3 => "audio/mpeg",
            Self::Wav => "audio/wav",
            Self::Ogg => "audio/ogg",
            Self::Flac => "audio/flac",
            Self::Unknown => "application/octet-stream",
        }
    }
}

/// Which TTS engine, as ha-sip's `tts.engine_id` or its legacy `tts.platform`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TtsEngine {
    /// `engine_id` (e.g. `tts.google_translate_en_com`).
    EngineId(String),
    /// Legacy `platform` (e.g. `google_translate`).
    Platform(String),
}

impl TtsEngine {
    /// The id or platform name.
    pub fn name(&self) -> &str {
        match self {
            Self::EngineId(s) | Self::Platform(s) => s,
        }
    }

    fn field(&self) -> &'static str {
        match self {
            Self::EngineId(_) => "engine_id",
            Self::Platform(_) => "platform",
        }
    }
}

/// Ask Home Assistant (2023.4 and later) to deliver a given format, so that an engine that
/// can speak WAV at the call's rate skips the MP3 round trip (Home Assistant converts with
/// its own ffmpeg when the engine cannot).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PreferredAudio {
    /// `preferred_format` (`wav`, `mp3`, `flac`, …).
    pub format: String,
    /// `preferred_sample_rate`, in Hz.
    pub sample_rate: Option<u32>,
    /// `preferred_sample_channels`.
    pub channels: Option<u8>,
}

impl PreferredAudio {
    /// Mono WAV at `sample_rate`.
    pub fn wav(sample_rate: u32) -> Self {
        Self {
            format: "wav".into(),
            sample_rate: Some(sample_rate),
            channels: Some(1),
        }
    }
}

/// One TTS request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TtsRequest {
    /// The engine.
    pub engine: TtsEngine,
    /// The text (after templating).
    pub message: String,
    /// The language (`en`, `de-DE`, …).
    pub language: String,
    /// `options.voice`, when set.
    pub voice: Option<String>,
    /// `options.preferred_*`, when set.
    pub preferred: Option<PreferredAudio>,
    /// Use the disk cache (ha-sip's `cache_audio`): look up first, store on success.
    pub cache: bool,
}

impl TtsRequest {
    /// A request without voice, preferred format or caching.
    pub fn new(engine: TtsEngine, message: impl Into<String>, language: impl Into<String>) -> Self {
        Self {
            engine,
            message: message.into(),
            language: language.into(),
            voice: None,
            preferred: None,
            cache: false,
        }
    }

    /// The `options` object sent to Home Assistant (empty when nothing is set; then it is
    /// left out, as ha-sip leaves it out without a voice).
    pub fn options(&self) -> Map<String, Value> {
        let mut o = Map::new();
        if let Some(v) = &self.voice {
            o.insert("voice".into(), json!(v));
        }
        if let Some(p) = &self.preferred {
            o.insert("preferred_format".into(), json!(p.format));
            if let Some(r) = p.sample_rate {
                o.insert("preferred_sample_rate".into(), json!(r));
            }
            if let Some(c) = p.channels {
                o.insert("preferred_sample_channels".into(), json!(c));
            }
        }
        o
    }

    /// The JSON body of `POST /api/tts_get_url`.
    pub fn body(&self) -> Value {
        let mut b = Map::new();
        b.insert(self.engine.field().into(), json!(self.engine.name()));
        b.insert("message".into(), json!(self.message));
        b.insert("language".into(), json!(self.language));
        let options = self.options();
        if !options.is_empty() {
            b.insert("options".into(), Value::Object(options));
        }
        Value::Object(b)
    }

    /// The cache key: engine (and whether it is an id or a platform), language, every
    /// option (voice and preferred format included) and the text. ha-sip's key was the text
    /// alone, so a change of language or voice kept playing the old audio.
    pub fn cache_key(&self) -> CacheKey {
        let options = Value::Object(self.options()).to_string();
        CacheKey::from_parts(
            "tts",
            &[
                self.engine.field(),
                self.engine.name(),
                &self.language,
                &options,
                &self.message,
            ],
        )
    }

    fn error(&self, stage: TtsStage, source: HaError) -> TtsError {
        TtsError {
            engine: self.engine.name().to_owned(),
            language: self.language.clone(),
            message: self.message.clone(),
            stage,
            source,
        }
    }
}

/// What `tts_get_url` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TtsUrl {
    /// The absolute URL Home Assistant built from its internal or external URL setting.
    pub url: Option<Url>,
    /// The path (`/api/tts_proxy/<file>`), when Home Assistant sends one (2023.x and later).
    pub path: Option<String>,
}

/// Speech, ready to decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TtsAudio {
    /// The audio.
    pub audio: Audio,
    /// True when it came from the disk cache (no HTTP request was made).
    pub from_cache: bool,
}

impl HaClient {
    /// Speaks `req`: from the cache when `req.cache` and a cache are given and the entry is
    /// intact; otherwise `tts_get_url`, then the download, then (when caching) the store.
    /// A failure names the step, the status code, engine, language and message.
    pub async fn tts(
        &self,
        req: &TtsRequest,
        cache: Option<&AudioCache>,
    ) -> Result<TtsAudio, TtsError> {
        let cache = cache.filter(|_| req.cache);
        let key = req.cache_key();
        if let Some(c) = cache
            && let Some(audio) = c.get(&key).await
        {
            tracing::debug!(
                engine = req.engine.name(),
                language = %req.language,
                "TTS from cache: {}",
                c.content_path(&key).display()
            );
            return Ok(TtsAudio {
                audio,
                from_cache: true,
            });
        }
        let started = Instant::now();
        let target = self
            .tts_get_url(req)
            .await
            .map_err(|e| req.error(TtsStage::GetUrl, e))?;
        let audio = self
            .download_tts(&target)
            .await
            .map_err(|e| req.error(TtsStage::Download, e))?;
        tracing::debug!(
            engine = req.engine.name(),
            language = %req.language,
            bytes = audio.data.len(),
            media_type = %audio.media_type,
            ms = started.elapsed().as_millis() as u64,
            "TTS fetched"
        );
        if let Some(c) = cache {
            match c.put(&key, &audio).await {
                Ok(path) => tracing::info!("Created cache file: {}", path.display()),
                Err(e) => tracing::warn!("TTS audio not cached: {e}"),
            }
        }
        Ok(TtsAudio {
            audio,
            from_cache: false,
        })
    }

    /// `POST {base}/tts_get_url`.
    pub async fn tts_get_url(&self, req: &TtsRequest) -> Result<TtsUrl, HaError> {
        let url = self.endpoint(&["tts_get_url"]);
        let what = format!("POST {}", url.path());
        let body = req.body();
        tracing::debug!("TTS payload: {body}");
        let bytes = serde_json::to_vec(&body)
            .map_err(|e| HaError::new(what.clone(), ErrorKind::InvalidRequest(e.to_string())))?;
        let timeout = self.tts_timeout();
        let resp = self
            .send(Method::POST, url, Some(Bytes::from(bytes)), timeout, true)
            .await?;
        let body = self.body(&what, resp, timeout).await?;
        let v: Value = serde_json::from_slice(&body).map_err(|e| {
            HaError::new(
                what.clone(),
                ErrorKind::InvalidResponse(format!("not JSON: {e}")),
            )
        })?;
        let url = v
            .get("url")
            .and_then(Value::as_str)
            .and_then(|u| Url::parse(u).ok());
        let path = v
            .get("path")
            .and_then(Value::as_str)
            .filter(|p| p.starts_with('/'))
            .map(str::to_owned);
        if url.is_none() && path.is_none() {
            return Err(HaError::new(
                what,
                ErrorKind::InvalidResponse(format!(
                    "no url in the answer: {}",
                    crate::error::shorten(&v.to_string(), 200)
                )),
            ));
        }
        Ok(TtsUrl { url, path })
    }

    /// Downloads what `tts_get_url` returned. The path is fetched through the configured
    /// base URL first (in add-on mode: the Supervisor, which just answered, where Home
    /// Assistant's own absolute URL may be a public address the add-on cannot reach, ha-sip
    /// #90); the absolute URL is the fallback when the base cannot be reached.
    pub async fn download_tts(&self, target: &TtsUrl) -> Result<Audio, HaError> {
        let via_base = target
            .path
            .as_deref()
            .or_else(|| target.url.as_ref().map(Url::path))
            .and_then(|p| self.resolve_api_path(p));
        let mut candidates: Vec<Url> = Vec::with_capacity(2);
        candidates.extend(via_base);
        if let Some(u) = &target.url
            && !candidates.contains(u)
        {
            candidates.push(u.clone());
        }
        let mut last: Option<HaError> = None;
        for (i, url) in candidates.iter().enumerate() {
            match self.fetch_audio(url).await {
                Ok(a) => return Ok(a),
                Err(e) if e.is_unreachable() && i + 1 < candidates.len() => {
                    tracing::warn!(
                        mode = ?self.mode(),
                        "TTS download through {} failed ({e}); trying {}",
                        url.origin().ascii_serialization(),
                        candidates[i + 1].origin().ascii_serialization()
                    );
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            HaError::new(
                "TTS download",
                ErrorKind::InvalidResponse("no usable URL in the tts_get_url answer".into()),
            )
        }))
    }

    /// `GET url`: the audio and its media type. The token is sent only when `url` is on the
    /// base URL's origin (Home Assistant's TTS proxy needs none, and a public URL must not
    /// receive the Supervisor's token).
    pub async fn fetch_audio(&self, url: &Url) -> Result<Audio, HaError> {
        let what = format!("GET {}", url.path());
        let timeout = self.tts_timeout();
        let auth = self.same_origin(url);
        let resp = self
            .send(Method::GET, url.clone(), None, timeout, auth)
            .await?;
        let header_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let data = self.body(&what, resp, timeout).await?;
        if data.is_empty() {
            return Err(HaError::new(
                what,
                ErrorKind::InvalidResponse("empty audio".into()),
            ));
        }
        let ext = url
            .path()
            .rsplit_once('.')
            .map(|(_, e)| e)
            .filter(|e| !e.contains('/'))
            .unwrap_or("");
        let format = [
            header_type
                .as_deref()
                .map_or(AudioFormat::Unknown, AudioFormat::from_media_type),
            AudioFormat::from_extension(ext),
            AudioFormat::sniff(&data),
        ]
        .into_iter()
        .find(|f| *f != AudioFormat::Unknown);
        let media_type = match (format, header_type) {
            (Some(f), _) => f.media_type().to_owned(),
            (None, Some(h)) => h,
            (None, None) => AudioFormat::Unknown.media_type().to_owned(),
        };
        Ok(Audio { data, media_type })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_matches_ha_sip() {
        let mut r = TtsRequest::new(TtsEngine::EngineId("tts.piper".into()), "Hallo", "de");
        assert_eq!(
            r.body().to_string(),
            r#"{"engine_id":"tts.piper","message":"Hallo","language":"de"}"#
        );
        r.voice = Some("thorsten".into());
        r.preferred = Some(PreferredAudio::wav(8000));
        assert_eq!(
            r.body().to_string(),
            r#"{"engine_id":"tts.piper","message":"Hallo","language":"de","options":{"voice":"thorsten","preferred_format":"wav","preferred_sample_rate":8000,"preferred_sample_channels":1}}"#
        );
        let p = TtsRequest::new(TtsEngine::Platform("google_translate".into()), "x", "en");
        assert!(
            p.body()
                .to_string()
                .starts_with(r#"{"platform":"google_translate""#)
        );
    }

    #[test]
    fn cache_key_covers_everything() {
        let base = TtsRequest::new(TtsEngine::EngineId("a".into()), "Hello", "en");
        let mut variants = vec![base.clone()];
        let mut r = base.clone();
        r.language = "de".into();
        variants.push(r);
        let mut r = base.clone();
        r.voice = Some("v".into());
        variants.push(r);
        let mut r = base.clone();
        r.engine = TtsEngine::Platform("a".into());
        variants.push(r);
        let mut r = base.clone();
        r.engine = TtsEngine::EngineId("b".into());
        variants.push(r);
        let mut r = base.clone();
        r.preferred = Some(PreferredAudio::wav(8000));
        variants.push(r);
        let mut r = base.clone();
        r.preferred = Some(PreferredAudio::wav(16000));
        variants.push(r);
        let mut r = base.clone();
        r.message = "Hello!".into();
        variants.push(r);
        let keys: std::collections::HashSet<_> =
            variants.iter().map(TtsRequest::cache_key).collect();
        assert_eq!(keys.len(), variants.len());
        // The cache flag is not part of the key.
        let mut r = base.clone();
        r.cache = true;
        assert_eq!(r.cache_key(), base.cache_key());
    }

    #[test]
    fn formats() {
        assert_eq!(
            AudioFormat::from_media_type("audio/x-wav"),
            AudioFormat::Wav
        );
        assert_eq!(
            AudioFormat::from_media_type("Audio/MPEG; x=y"),
            AudioFormat::Mp3
        );
        assert_eq!(AudioFormat::from_extension("FLAC"), AudioFormat::Flac);
        assert_eq!(AudioFormat::sniff(b"ID3\x04"), AudioFormat::Mp3);
        assert_eq!(
            AudioFormat::sniff(b"RIFF\0\0\0\0WAVEfmt "),
            AudioFormat::Wav
        );
        assert_eq!(AudioFormat::sniff(b"<html>"), AudioFormat::Unknown);
    }
}
