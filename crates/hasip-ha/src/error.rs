//! Errors that say which request failed and why, without the token.

use std::fmt;
use std::time::Duration;

/// What went wrong with one request to Home Assistant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// No connection (refused, unreachable, DNS, TLS).
    Connect(String),
    /// No complete answer within the timeout.
    Timeout(Duration),
    /// Home Assistant answered with a status other than 2xx.
    Status {
        /// The HTTP status code.
        status: u16,
        /// The start of the response body (at most 300 characters).
        body: String,
    },
    /// The answer arrived but is not what the endpoint promises (not JSON, no `url`, …).
    InvalidResponse(String),
    /// The request was not sent because an argument is invalid (a service name with `/`).
    InvalidRequest(String),
    /// The connection broke while sending or reading.
    Transport(String),
}

/// One failed request: which (`POST /api/template`) and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaError {
    /// The request, e.g. `POST /api/services/light/turn_on`.
    pub request: String,
    /// What went wrong.
    pub kind: ErrorKind,
}

impl HaError {
    pub(crate) fn new(request: impl Into<String>, kind: ErrorKind) -> Self {
        Self {
            request: request.into(),
            kind,
        }
    }

    /// The HTTP status, when Home Assistant answered with an error status.
    pub fn status(&self) -> Option<u16> {
        match self.kind {
            ErrorKind::Status { status, .. } => Some(status),
            _ => None,
        }
    }

    /// True for failures that may go away by themselves: no connection, a timeout, a broken
    /// connection, 5xx, 429 and 408. Never for other 4xx or invalid requests.
    pub fn is_transient(&self) -> bool {
        match &self.kind {
            ErrorKind::Connect(_) | ErrorKind::Timeout(_) | ErrorKind::Transport(_) => true,
            ErrorKind::Status { status, .. } => *status >= 500 || matches!(status, 408 | 429),
            ErrorKind::InvalidResponse(_) | ErrorKind::InvalidRequest(_) => false,
        }
    }

    /// True when Home Assistant could not be reached at all (no answer).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Connect(_) | ErrorKind::Timeout(_) | ErrorKind::Transport(_)
        )
    }

    /// Classifies a reqwest error, with its whole cause chain in the text.
    pub(crate) fn from_reqwest(
        request: impl Into<String>,
        err: &reqwest::Error,
        timeout: Duration,
    ) -> Self {
        let chain = error_chain(err);
        let kind = if err.is_timeout() {
            ErrorKind::Timeout(timeout)
        } else if err.is_connect() {
            ErrorKind::Connect(chain)
        } else if err.is_decode() {
            ErrorKind::InvalidResponse(chain)
        } else if err.is_builder() {
            ErrorKind::InvalidRequest(chain)
        } else {
            ErrorKind::Transport(chain)
        };
        Self::new(request, kind)
    }
}

impl fmt::Display for HaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.request;
        match &self.kind {
            ErrorKind::Connect(e) => write!(f, "{r}: cannot connect to Home Assistant: {e}"),
            ErrorKind::Timeout(t) => {
                write!(
                    f,
                    "{r}: no answer from Home Assistant within {} s",
                    t.as_secs_f32()
                )
            }
            ErrorKind::Status { status, body } => {
                write!(f, "{r}: Home Assistant answered {status}")?;
                let reason = reqwest::StatusCode::from_u16(*status)
                    .ok()
                    .and_then(|s| s.canonical_reason());
                if let Some(reason) = reason {
                    write!(f, " {reason}")?;
                }
                // aiohttp's default body only repeats the status line ("500: Internal Server
                // Error"): show bodies that say more.
                let repeated = reason.is_some_and(|r| *body == format!("{status}: {r}"));
                if !body.is_empty() && !repeated {
                    write!(f, ": {body}")?;
                }
                Ok(())
            }
            ErrorKind::InvalidResponse(e) => write!(f, "{r}: unexpected answer: {e}"),
            ErrorKind::InvalidRequest(e) => write!(f, "{r}: not sent: {e}"),
            ErrorKind::Transport(e) => write!(f, "{r}: connection failed: {e}"),
        }
    }
}

impl std::error::Error for HaError {}

/// Which step of a TTS request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtsStage {
    /// `POST /api/tts_get_url`.
    GetUrl,
    /// Downloading the audio from the returned URL.
    Download,
}

/// A TTS request that produced no audio, naming engine, language and message (the engine
/// logs it and plays the error tone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TtsError {
    /// The engine id or platform.
    pub engine: String,
    /// The language asked for.
    pub language: String,
    /// The text.
    pub message: String,
    /// The step that failed.
    pub stage: TtsStage,
    /// The failed request.
    pub source: HaError,
}

impl TtsError {
    /// The HTTP status Home Assistant answered, if it answered with an error.
    pub fn status(&self) -> Option<u16> {
        self.source.status()
    }
}

impl fmt::Display for TtsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let step = match self.stage {
            TtsStage::GetUrl => "getting the URL",
            TtsStage::Download => "downloading the audio",
        };
        write!(
            f,
            "TTS failed {step} (engine {:?}, language {:?}, message {:?}): {}",
            self.engine,
            self.language,
            shorten(&self.message, 80),
            self.source
        )
    }
}

impl std::error::Error for TtsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// An error and its causes on one line ("error sending request: connection refused").
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        cur = e.source();
    }
    text
}

/// At most `max` characters of `s`, with `…` when cut.
pub(crate) fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tts_error_names_everything() {
        let e = TtsError {
            engine: "tts.nope".into(),
            language: "en".into(),
            message: "Hello there".into(),
            stage: TtsStage::GetUrl,
            source: HaError::new(
                "POST /api/tts_get_url",
                ErrorKind::Status {
                    status: 500,
                    body: "500 Internal Server Error".into(),
                },
            ),
        };
        let s = e.to_string();
        for part in ["tts.nope", "\"en\"", "Hello there", "500", "tts_get_url"] {
            assert!(s.contains(part), "{s} lacks {part}");
        }
        assert_eq!(e.status(), Some(500));
    }

    #[test]
    fn shorten_cuts_on_chars() {
        assert_eq!(shorten("äöü", 2), "äö…");
        assert_eq!(shorten("abc", 3), "abc");
    }

    #[test]
    fn transient_classification() {
        let st = |s| {
            HaError::new(
                "x",
                ErrorKind::Status {
                    status: s,
                    body: String::new(),
                },
            )
        };
        assert!(st(500).is_transient());
        assert!(st(503).is_transient());
        assert!(st(429).is_transient());
        assert!(!st(404).is_transient());
        assert!(!st(400).is_transient());
        assert!(HaError::new("x", ErrorKind::Connect("refused".into())).is_transient());
    }
}
