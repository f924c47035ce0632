//! The HTTP client: one `reqwest::Client` (connection pool, rustls with ring) shared by
//! every request, each request with a connect and a total timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, Response, Url};
use serde_json::Value;

use crate::config::{HaConfig, Mode};
use crate::error::{ErrorKind, HaError, error_chain, shorten};

/// The largest response body read (TTS audio included): 64 MiB.
pub const MAX_BODY: usize = 64 << 20;

/// A Home Assistant client. Cheap to clone (all clones share one connection pool).
#[derive(Clone)]
pub struct HaClient {
    inner: Arc<Inner>,
}

struct Inner {
    /// Built on the first request: a gateway that has not talked to Home Assistant yet
    /// (an idle one) holds no connection pool and no TLS set-up (about 0.5 MiB).
    http: std::sync::OnceLock<Result<reqwest::Client, String>>,
    config: HaConfig,
    auth: HeaderValue,
    requests: AtomicU64,
    /// Core's own REST root for webhooks (add-on mode: `http://127.0.0.1:<port>/api` on
    /// the host network), so that they arrive from a local address; `None`: the base URL.
    direct_webhooks: std::sync::RwLock<Option<Url>>,
}

impl std::fmt::Debug for HaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HaClient")
            .field("mode", &self.inner.config.mode)
            .field("base_url", &self.inner.config.base_url.as_str())
            .finish_non_exhaustive()
    }
}

/// Which request, for logs and errors: `POST /api/template` (never the token).
fn label(method: &Method, url: &Url) -> String {
    format!("{method} {}", url.path())
}

impl HaClient {
    /// Builds the client. Installs the ring crypto provider first if none is installed, so
    /// that building cannot panic (see [`crate::install_crypto_provider`]).
    pub fn new(config: HaConfig) -> Result<Self, HaError> {
        crate::install_crypto_provider();
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", config.token.expose()))
            .map_err(|_| {
                HaError::new(
                    "client set-up",
                    ErrorKind::InvalidRequest(
                        "the token contains characters not allowed in an HTTP header".into(),
                    ),
                )
            })?;
        auth.set_sensitive(true);
        tracing::debug!(
            mode = ?config.mode,
            base = %config.base_url,
            "Home Assistant client ready"
        );
        Ok(Self {
            inner: Arc::new(Inner {
                http: std::sync::OnceLock::new(),
                config,
                auth,
                requests: AtomicU64::new(0),
                direct_webhooks: std::sync::RwLock::new(None),
            }),
        })
    }

    /// Posts webhooks to `api` (Core's own REST root, ending in `/api`) instead of the base
    /// URL. In add-on mode the Supervisor's proxy is not a local address to Home Assistant
    /// 2026.5 and later, so a `local_only` webhook trigger (the default) would never fire;
    /// Core on the host network is. A connection Core refuses falls back to the base URL.
    pub fn set_direct_webhooks(&self, api: Option<Url>) {
        if let Ok(mut d) = self.inner.direct_webhooks.write() {
            *d = api;
        }
    }

    /// Where webhooks go first, if not to the base URL.
    pub fn direct_webhooks(&self) -> Option<Url> {
        self.inner
            .direct_webhooks
            .read()
            .ok()
            .and_then(|d| d.clone())
    }

    /// The HTTP client, built on first use.
    fn http(&self, what: &str) -> Result<&reqwest::Client, HaError> {
        let config = &self.inner.config;
        self.inner
            .http
            .get_or_init(|| {
                reqwest::Client::builder()
                    .connect_timeout(config.timeouts.connect)
                    .timeout(config.timeouts.request)
                    .pool_idle_timeout(Duration::from_secs(60))
                    .redirect(reqwest::redirect::Policy::limited(5))
                    .user_agent(concat!("ha-sip-rs/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| error_chain(&e))
            })
            .as_ref()
            .map_err(|e| {
                HaError::new(
                    what,
                    ErrorKind::InvalidRequest(format!("client set-up: {e}")),
                )
            })
    }

    /// The configuration.
    pub fn config(&self) -> &HaConfig {
        &self.inner.config
    }

    /// How many HTTP requests this client (and its clones) has sent so far.
    pub fn requests_sent(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// `{base}/seg/seg…`, each segment percent-encoded (a webhook id cannot escape its path).
    pub fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.config.base_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// Resolves a path Home Assistant returned (`/api/tts_proxy/x.mp3`) against the base URL:
    /// the part after `/api/` is appended to the base, so that in add-on mode it goes through
    /// the Supervisor (`http://supervisor/core/api/tts_proxy/x.mp3`).
    pub fn resolve_api_path(&self, path: &str) -> Option<Url> {
        let path = path.split(['?', '#']).next().unwrap_or(path);
        let rest = path
            .strip_prefix("/api/")
            .or_else(|| path.split_once("/api/").map(|(_, r)| r))?;
        let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        if segments.is_empty() || segments.iter().any(|s| *s == ".." || *s == ".") {
            return None;
        }
        Some(self.endpoint(&segments))
    }

    /// True when `url` is on the same origin as the base URL (the token may be sent there).
    pub(crate) fn same_origin(&self, url: &Url) -> bool {
        let base = &self.inner.config.base_url;
        url.scheme() == base.scheme()
            && url.host_str() == base.host_str()
            && url.port_or_known_default() == base.port_or_known_default()
    }

    /// Sends one request with the token (when `auth`) and `timeout`, and returns a 2xx
    /// response; everything else is an error naming the request.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: Url,
        json_body: Option<Bytes>,
        timeout: Duration,
        auth: bool,
    ) -> Result<Response, HaError> {
        let what = label(&method, &url);
        let mut req = self.http(&what)?.request(method, url).timeout(timeout);
        if auth {
            req = req.header(AUTHORIZATION, self.inner.auth.clone());
        }
        if let Some(body) = json_body {
            req = req
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body);
        }
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        tracing::trace!(request = %what, "sending");
        let resp = req
            .send()
            .await
            .map_err(|e| HaError::from_reqwest(what.clone(), &e, timeout))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = match read_limited(resp, 4096).await {
            Ok(b) => shorten(String::from_utf8_lossy(&b).trim(), 300),
            Err(_) => String::new(),
        };
        Err(HaError::new(
            what,
            ErrorKind::Status {
                status: status.as_u16(),
                body,
            },
        ))
    }

    /// Reads a whole body (at most [`MAX_BODY`] bytes).
    pub(crate) async fn body(
        &self,
        what: &str,
        resp: Response,
        timeout: Duration,
    ) -> Result<Bytes, HaError> {
        read_limited(resp, MAX_BODY).await.map_err(|e| match e {
            ReadError::TooLarge => HaError::new(
                what,
                ErrorKind::InvalidResponse(format!("body larger than {MAX_BODY} bytes")),
            ),
            ReadError::Http(e) => HaError::from_reqwest(what, &e, timeout),
        })
    }

    async fn post_json(&self, url: Url, body: &Value) -> Result<(String, Bytes), HaError> {
        let what = label(&Method::POST, &url);
        let bytes = serde_json::to_vec(body)
            .map_err(|e| HaError::new(what.clone(), ErrorKind::InvalidRequest(e.to_string())))?;
        let timeout = self.inner.config.timeouts.request;
        let resp = self
            .send(Method::POST, url, Some(Bytes::from(bytes)), timeout, true)
            .await?;
        let body = self.body(&what, resp, timeout).await?;
        Ok((what, body))
    }

    /// `POST {base}/webhook/<id>` with a JSON body (already serialised, so that a retried
    /// delivery sends the same bytes). One attempt; [`crate::Webhooks`] retries. With
    /// [`HaClient::set_direct_webhooks`], Core's own address first (no token: webhooks
    /// take none), and the base URL when Core cannot be connected to.
    pub async fn post_webhook(&self, webhook_id: &str, json_body: Bytes) -> Result<u16, HaError> {
        let timeout = self.inner.config.timeouts.request;
        if let Some(mut url) = self.direct_webhooks() {
            if let Ok(mut path) = url.path_segments_mut() {
                path.pop_if_empty().extend(["webhook", webhook_id]);
            }
            match self
                .send(Method::POST, url, Some(json_body.clone()), timeout, false)
                .await
            {
                Ok(resp) => return Ok(resp.status().as_u16()),
                Err(e) if matches!(e.kind, ErrorKind::Connect(_)) => {
                    tracing::debug!(error = %e, "Core not reachable directly; webhook through the proxy");
                }
                Err(e) => return Err(e),
            }
        }
        let url = self.endpoint(&["webhook", webhook_id]);
        let resp = self
            .send(Method::POST, url, Some(json_body), timeout, true)
            .await?;
        Ok(resp.status().as_u16())
    }

    /// `POST {base}/events/<event_type>` with a JSON body: fires the event on Home
    /// Assistant's event bus (automations with an `event` trigger). Needs the token, not a
    /// local address, so it arrives through the Supervisor's proxy as well.
    pub async fn post_event(&self, event_type: &str, json_body: Bytes) -> Result<u16, HaError> {
        let url = self.endpoint(&["events", event_type]);
        let timeout = self.inner.config.timeouts.request;
        let resp = self
            .send(Method::POST, url, Some(json_body), timeout, true)
            .await?;
        Ok(resp.status().as_u16())
    }

    /// `POST {base}/services/<domain>/<service>` with `data` (for example
    /// `{"entity_id": "light.hall"}` merged with `service_data`, as ha-sip sends it).
    /// Returns Home Assistant's answer (the states that changed).
    pub async fn call_service(
        &self,
        domain: &str,
        service: &str,
        data: &Value,
    ) -> Result<Value, HaError> {
        for (what, name) in [("domain", domain), ("service", service)] {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(HaError::new(
                    format!("POST {}/services/{domain}/{service}", self.base_path()),
                    ErrorKind::InvalidRequest(format!(
                        "{what} {name:?} is not a Home Assistant name (letters, digits, _)"
                    )),
                ));
            }
        }
        let url = self.endpoint(&["services", domain, service]);
        tracing::debug!(domain, service, "calling service");
        let (what, body) = self.post_json(url, data).await?;
        if body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&body)
            .map_err(|e| HaError::new(what, ErrorKind::InvalidResponse(format!("not JSON: {e}"))))
    }

    /// `POST {base}/states/<entity_id>` with `{"state": state, "attributes": attributes}`:
    /// creates or updates an entity's state (ha-sip 5.5's sensors).
    pub async fn set_state(
        &self,
        entity_id: &str,
        state: &str,
        attributes: &Value,
    ) -> Result<(), HaError> {
        let valid = entity_id.split_once('.').is_some_and(|(d, o)| {
            !d.is_empty()
                && !o.is_empty()
                && entity_id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
        });
        if !valid {
            return Err(HaError::new(
                format!("POST {}/states/{entity_id}", self.base_path()),
                ErrorKind::InvalidRequest(format!(
                    "{entity_id:?} is not an entity id (domain.object_id, lower case)"
                )),
            ));
        }
        let url = self.endpoint(&["states", entity_id]);
        self.post_json(
            url,
            &serde_json::json!({ "state": state, "attributes": attributes }),
        )
        .await?;
        Ok(())
    }

    /// `POST {base}/template` with `{"template": text}`: the rendered text.
    pub async fn render_template(&self, template: &str) -> Result<String, HaError> {
        let url = self.endpoint(&["template"]);
        let (what, body) = self
            .post_json(url, &serde_json::json!({ "template": template }))
            .await?;
        String::from_utf8(body.to_vec()).map_err(|_| {
            HaError::new(
                what,
                ErrorKind::InvalidResponse("rendered text is not UTF-8".into()),
            )
        })
    }

    /// `GET {base}/config` → Home Assistant's core state (`RUNNING`, `NOT_RUNNING`,
    /// `STARTING`, …), or `None` for versions that do not report one.
    pub async fn core_state(&self) -> Result<Option<String>, HaError> {
        let url = self.endpoint(&["config"]);
        let what = label(&Method::GET, &url);
        let timeout = self.inner.config.timeouts.request;
        let resp = self.send(Method::GET, url, None, timeout, true).await?;
        let body = self.body(&what, resp, timeout).await?;
        let v: Value = serde_json::from_slice(&body).map_err(|e| {
            HaError::new(what, ErrorKind::InvalidResponse(format!("not JSON: {e}")))
        })?;
        Ok(v.get("state").and_then(Value::as_str).map(str::to_owned))
    }

    /// `GET {base}/`: succeeds when the API answers and accepts the token.
    pub async fn check(&self) -> Result<(), HaError> {
        let url = self.endpoint(&[""]);
        let timeout = self.inner.config.timeouts.request;
        self.send(Method::GET, url, None, timeout, true).await?;
        Ok(())
    }

    pub(crate) fn tts_timeout(&self) -> Duration {
        self.inner.config.timeouts.tts
    }

    pub(crate) fn mode(&self) -> Mode {
        self.inner.config.mode
    }

    fn base_path(&self) -> &str {
        self.inner.config.base_url.path()
    }
}

enum ReadError {
    TooLarge,
    Http(reqwest::Error),
}

async fn read_limited(mut resp: Response, limit: usize) -> Result<Bytes, ReadError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(ReadError::TooLarge);
    }
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = resp.chunk().await.map_err(ReadError::Http)? {
        if buf.len() + chunk.len() > limit {
            if limit < MAX_BODY {
                // Error bodies are only shown in part: keep what fits.
                let take = limit - buf.len();
                buf.extend_from_slice(&chunk[..take]);
                return Ok(buf.freeze());
            }
            return Err(ReadError::TooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str) -> HaClient {
        HaClient::new(HaConfig::standalone(base, "t", None).unwrap()).unwrap()
    }

    #[test]
    fn endpoints_are_encoded() {
        let c = client("http://127.0.0.1:8123/api");
        assert_eq!(
            c.endpoint(&["webhook", "a b/../c"]).as_str(),
            "http://127.0.0.1:8123/api/webhook/a%20b%2F..%2Fc"
        );
        assert_eq!(c.endpoint(&[""]).as_str(), "http://127.0.0.1:8123/api/");
        let a = HaClient::new(HaConfig::addon("t")).unwrap();
        assert_eq!(
            a.endpoint(&["services", "light", "turn_on"]).as_str(),
            "http://supervisor/core/api/services/light/turn_on"
        );
    }

    #[test]
    fn api_paths_resolve_against_the_base() {
        let a = HaClient::new(HaConfig::addon("t")).unwrap();
        assert_eq!(
            a.resolve_api_path("/api/tts_proxy/abc_en_-_demo.mp3")
                .unwrap()
                .as_str(),
            "http://supervisor/core/api/tts_proxy/abc_en_-_demo.mp3"
        );
        assert_eq!(
            a.resolve_api_path("/ha/api/tts_proxy/x.wav?token=1")
                .unwrap()
                .as_str(),
            "http://supervisor/core/api/tts_proxy/x.wav"
        );
        assert!(a.resolve_api_path("/local/x.mp3").is_none());
        assert!(a.resolve_api_path("/api/../x").is_none());
    }

    #[test]
    fn origin_check() {
        let c = client("http://127.0.0.1:8123/api");
        assert!(c.same_origin(&Url::parse("http://127.0.0.1:8123/api/tts_proxy/x").unwrap()));
        assert!(!c.same_origin(&Url::parse("http://127.0.0.1:8124/api/x").unwrap()));
        assert!(!c.same_origin(&Url::parse("https://127.0.0.1:8123/api/x").unwrap()));
        assert!(!c.same_origin(&Url::parse("http://example.com:8123/api/x").unwrap()));
    }
}
