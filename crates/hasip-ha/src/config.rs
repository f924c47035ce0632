//! Where Home Assistant is and how to talk to it: add-on (Supervisor) or stand-alone
//! endpoints, the token, and the timeouts every request carries.

use std::fmt;
use std::time::Duration;

use reqwest::Url;

/// The Supervisor's proxy to Core's REST API, as ha-sip's `run-in-ha.sh` sets it.
pub const SUPERVISOR_API: &str = "http://supervisor/core/api";
/// The Supervisor's proxy to Core's websocket API.
pub const SUPERVISOR_WEBSOCKET: &str = "ws://supervisor/core/websocket";

/// How the gateway reaches Home Assistant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Running as a Home Assistant add-on: the Supervisor proxy and `SUPERVISOR_TOKEN`.
    AddOn,
    /// Stand-alone: `HA_BASE_URL`, `HA_TOKEN`, `HA_WEBSOCKET_URL` (ha-sip's names).
    Standalone,
}

/// A bearer token. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Timeouts of every request. ha-sip has none: one hung request stops every call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP (and TLS) connection set-up.
    pub connect: Duration,
    /// Whole request, response body included: webhooks, services, templates, probes.
    pub request: Duration,
    /// Whole request for TTS (`tts_get_url`, and the download, each): engines in the cloud
    /// can take seconds to speak a long text.
    pub tts: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            request: Duration::from_secs(10),
            tts: Duration::from_secs(30),
        }
    }
}

/// Everything the client needs to reach Home Assistant. The shell fills it (from the
/// environment through [`HaConfig::from_env`], or field by field).
#[derive(Debug, Clone)]
pub struct HaConfig {
    /// Add-on or stand-alone.
    pub mode: Mode,
    /// The REST root, ending in `/api` (no trailing slash), e.g. `http://host:8123/api`.
    pub base_url: Url,
    /// The websocket API (`debug_print` only).
    pub websocket_url: Option<Url>,
    /// The bearer token.
    pub token: Secret,
    /// Request timeouts.
    pub timeouts: Timeouts,
}

/// A configuration that cannot be used, naming the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Neither stand-alone nor add-on variables are set.
    #[error(
        "Home Assistant is not configured: set HA_BASE_URL and HA_TOKEN (stand-alone), or run \
         as an add-on (SUPERVISOR_TOKEN)"
    )]
    NotConfigured,
    /// `HA_BASE_URL` is set but no token is.
    #[error(
        "{0} is set but HA_TOKEN is empty: create a long-lived access token in your Home Assistant profile"
    )]
    MissingToken(&'static str),
    /// A URL that does not parse or has the wrong scheme.
    #[error("{name}: {value:?} is not a valid {expected} URL: {reason}")]
    BadUrl {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// `http(s)` or `ws(s)`.
        expected: &'static str,
        /// Why.
        reason: String,
    },
}

impl HaConfig {
    /// Add-on mode: the Supervisor proxy with the Supervisor's token.
    pub fn addon(supervisor_token: impl Into<String>) -> Self {
        Self {
            mode: Mode::AddOn,
            base_url: fixed_url(SUPERVISOR_API),
            websocket_url: Some(fixed_url(SUPERVISOR_WEBSOCKET)),
            token: Secret::new(supervisor_token),
            timeouts: Timeouts::default(),
        }
    }

    /// Stand-alone mode. `base_url` is ha-sip's `HA_BASE_URL` and should end in `/api`; a
    /// bare `http://host:8123` gets `/api` appended (ha-sip would 404 on every request).
    /// Without a websocket URL one is derived from the base (`ws[s]://host/api/websocket`).
    pub fn standalone(
        base_url: &str,
        token: impl Into<String>,
        websocket_url: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let base = parse_base("HA_BASE_URL", base_url)?;
        let ws = match websocket_url.map(str::trim).filter(|s| !s.is_empty()) {
            Some(w) => Some(parse_ws("HA_WEBSOCKET_URL", w)?),
            None => derive_ws(&base),
        };
        Ok(Self {
            mode: Mode::Standalone,
            base_url: base,
            websocket_url: ws,
            token: Secret::new(token),
            timeouts: Timeouts::default(),
        })
    }

    /// Reads ha-sip's variables through `lookup` (the shell passes `std::env::var(..).ok()`,
    /// tests a map):
    ///
    /// - `HA_BASE_URL` set: stand-alone, with `HA_TOKEN` (or, if that is empty,
    ///   `SUPERVISOR_TOKEN`) and `HA_WEBSOCKET_URL`;
    /// - otherwise `SUPERVISOR_TOKEN` set: add-on mode through the Supervisor proxy;
    /// - otherwise [`ConfigError::NotConfigured`].
    ///
    /// Empty values count as unset.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if let Some(base) = get("HA_BASE_URL") {
            let token = get("HA_TOKEN")
                .or_else(|| get("SUPERVISOR_TOKEN"))
                .ok_or(ConfigError::MissingToken("HA_BASE_URL"))?;
            return Self::standalone(&base, token, get("HA_WEBSOCKET_URL").as_deref());
        }
        if let Some(token) = get("SUPERVISOR_TOKEN") {
            return Ok(Self::addon(token));
        }
        Err(ConfigError::NotConfigured)
    }

    /// Replaces the timeouts.
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }
}

/// Parses one of this module's URL constants (each is checked by a unit test).
#[allow(clippy::expect_used)]
fn fixed_url(s: &'static str) -> Url {
    Url::parse(s).expect("URL constants parse")
}

fn parse_base(name: &'static str, value: &str) -> Result<Url, ConfigError> {
    let bad = |reason: String| ConfigError::BadUrl {
        name,
        value: value.to_owned(),
        expected: "http(s)",
        reason,
    };
    let mut url = Url::parse(value.trim()).map_err(|e| bad(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(format!("scheme {:?}", url.scheme())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host".to_owned()));
    }
    url.set_query(None);
    url.set_fragment(None);
    let path = url.path().trim_end_matches('/').to_owned();
    let path = if path.is_empty() {
        tracing::warn!(
            "{name} {value:?} has no path: using {}/api (ha-sip expects the URL to end in /api)",
            value.trim_end_matches('/')
        );
        "/api".to_owned()
    } else {
        path
    };
    url.set_path(&path);
    Ok(url)
}

fn parse_ws(name: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|e| ConfigError::BadUrl {
        name,
        value: value.to_owned(),
        expected: "ws(s)",
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "ws" | "wss") {
        return Err(ConfigError::BadUrl {
            name,
            value: value.to_owned(),
            expected: "ws(s)",
            reason: format!("scheme {:?}", url.scheme()),
        });
    }
    Ok(url)
}

fn derive_ws(base: &Url) -> Option<Url> {
    let scheme = if base.scheme() == "https" {
        "wss"
    } else {
        "ws"
    };
    let rest = base.as_str().split_once("://")?.1;
    Url::parse(&format!(
        "{scheme}://{}/websocket",
        rest.trim_end_matches('/')
    ))
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn supervisor_urls_parse() {
        let c = HaConfig::addon("tok");
        assert_eq!(c.base_url.as_str(), "http://supervisor/core/api");
        assert_eq!(
            c.websocket_url.map(|u| u.to_string()).as_deref(),
            Some("ws://supervisor/core/websocket")
        );
    }

    #[test]
    fn from_env_modes() {
        let c = HaConfig::from_env(env(&[("SUPERVISOR_TOKEN", "sup")])).unwrap();
        assert_eq!(c.mode, Mode::AddOn);
        assert_eq!(c.token.expose(), "sup");

        let c = HaConfig::from_env(env(&[
            ("HA_BASE_URL", "http://ha.local:8123/api/"),
            ("HA_TOKEN", "abc"),
            ("SUPERVISOR_TOKEN", "sup"),
        ]))
        .unwrap();
        assert_eq!(c.mode, Mode::Standalone);
        assert_eq!(c.base_url.as_str(), "http://ha.local:8123/api");
        assert_eq!(c.token.expose(), "abc");
        assert_eq!(
            c.websocket_url.unwrap().as_str(),
            "ws://ha.local:8123/api/websocket"
        );

        let c = HaConfig::from_env(env(&[
            ("HA_BASE_URL", "https://ha.example"),
            ("HA_TOKEN", "abc"),
            ("HA_WEBSOCKET_URL", "wss://other/api/websocket"),
        ]))
        .unwrap();
        assert_eq!(c.base_url.as_str(), "https://ha.example/api");
        assert_eq!(
            c.websocket_url.unwrap().as_str(),
            "wss://other/api/websocket"
        );

        assert_eq!(
            HaConfig::from_env(env(&[("HA_BASE_URL", ""), ("HA_TOKEN", "x")])).unwrap_err(),
            ConfigError::NotConfigured
        );
        assert_eq!(
            HaConfig::from_env(env(&[("HA_BASE_URL", "http://h/api")])).unwrap_err(),
            ConfigError::MissingToken("HA_BASE_URL")
        );
        let e = HaConfig::from_env(env(&[("HA_BASE_URL", "ftp://h/api"), ("HA_TOKEN", "x")]))
            .unwrap_err();
        assert!(e.to_string().contains("HA_BASE_URL"), "{e}");
        let e = HaConfig::from_env(env(&[
            ("HA_BASE_URL", "http://h/api"),
            ("HA_TOKEN", "x"),
            ("HA_WEBSOCKET_URL", "http://h/api/websocket"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("HA_WEBSOCKET_URL"), "{e}");
    }

    #[test]
    fn token_is_never_shown() {
        let c = HaConfig::addon("very-secret-token");
        let shown = format!("{c:?} {}", c.token);
        assert!(!shown.contains("very-secret-token"), "{shown}");
    }
}
