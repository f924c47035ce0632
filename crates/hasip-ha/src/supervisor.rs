//! What the Supervisor tells an add-on: the MQTT broker (normally the Mosquitto add-on)
//! and its credentials from `GET /services/mqtt`, which an add-on with
//! `services: [mqtt:want]` may read with its `SUPERVISOR_TOKEN`, and Core's own port from
//! `GET /core/info` (webhooks go there directly, see [`crate::HaClient::set_direct_webhooks`]).

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::config::Secret;

/// The Supervisor's own API (not the Core proxy under `/core/api`).
pub const SUPERVISOR_URL: &str = "http://supervisor";

/// An MQTT broker as the Supervisor describes it.
#[derive(Clone, PartialEq, Eq)]
pub struct MqttService {
    /// Host name (for the Mosquitto add-on: `core-mosquitto`).
    pub host: String,
    /// Port.
    pub port: u16,
    /// TLS to the broker.
    pub ssl: bool,
    /// User name, if the service has one.
    pub username: Option<String>,
    /// Password.
    pub password: Option<Secret>,
}

impl fmt::Debug for MqttService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttService")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("ssl", &self.ssl)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// `GET {base}{path}` with the add-on's token: the answer's body.
async fn get(base: &str, path: &str, token: &Secret) -> Result<bytes::Bytes, (String, String)> {
    crate::install_crypto_provider();
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let fail = |why: String| (url.clone(), why);
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| fail(format!("Supervisor client: {e}")))?;
    let resp = http
        .get(&url)
        .bearer_auth(token.expose())
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    let status = resp.status();
    let body = resp
        .bytes()
        .await
        .map_err(|e| fail(format!("reading the answer: {e}")))?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Err(fail(format!("{status} {text}")));
    }
    Ok(body)
}

/// Asks the Supervisor at `base` (normally [`SUPERVISOR_URL`]) for the MQTT service.
///
/// # Errors
/// A message that says what failed: the request, the status (404 or 400 when no MQTT
/// broker is installed) or the body.
pub async fn mqtt_service(base: &str, token: &Secret) -> Result<MqttService, String> {
    let body = get(base, "/services/mqtt", token)
        .await
        .map_err(|(url, why)| {
            if why.starts_with(|c: char| c.is_ascii_digit()) {
                format!("GET {url}: {why} (is an MQTT broker add-on installed?)")
            } else {
                format!("GET {url}: {why}")
            }
        })?;
    parse(&body).map_err(|e| format!("GET {base}/services/mqtt: {e}"))
}

/// Home Assistant Core as the Supervisor describes it (`GET /core/info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoreInfo {
    /// The port Core's HTTP server listens on (8123 unless the user changed it).
    pub port: u16,
    /// Whether Core serves HTTPS there (`http: ssl_certificate` in its configuration).
    pub ssl: bool,
}

/// Asks the Supervisor at `base` for Core's port and scheme.
///
/// # Errors
/// The request, the status or the field that is missing.
pub async fn core_info(base: &str, token: &Secret) -> Result<CoreInfo, String> {
    let body = get(base, "/core/info", token)
        .await
        .map_err(|(url, why)| format!("GET {url}: {why}"))?;
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| format!("GET {base}/core/info: not JSON: {e}"))?;
    let data = &v["data"];
    let port = data["port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("GET {base}/core/info: data.port: missing or not a port"))?;
    Ok(CoreInfo {
        port,
        ssl: data["ssl"].as_bool().unwrap_or(false),
    })
}

fn parse(body: &[u8]) -> Result<MqttService, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let data = v
        .get("data")
        .filter(|d| d.is_object())
        .ok_or("no `data` object in the answer")?;
    let text = |k: &str| data.get(k).and_then(Value::as_str).map(str::to_owned);
    let host = text("host")
        .filter(|h| !h.is_empty())
        .ok_or("data.host: missing")?;
    let port = data
        .get("port")
        .and_then(|p| {
            p.as_u64()
                .or_else(|| p.as_str().and_then(|s| s.parse().ok()))
        })
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
        .ok_or("data.port: missing or not a port number")?;
    Ok(MqttService {
        host,
        port,
        ssl: data.get("ssl").and_then(Value::as_bool).unwrap_or(false),
        username: text("username").filter(|u| !u.is_empty()),
        password: text("password").map(Secret::new),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn parses_the_supervisor_answer() {
        let s = parse(
            br#"{"result":"ok","data":{"addon":"core_mosquitto","host":"core-mosquitto","port":1883,
                "ssl":false,"protocol":"3.1.1","username":"addons","password":"s3cret"}}"#,
        )
        .unwrap();
        assert_eq!(s.host, "core-mosquitto");
        assert_eq!(s.port, 1883);
        assert!(!s.ssl);
        assert_eq!(s.username.as_deref(), Some("addons"));
        assert_eq!(s.password.as_ref().map(Secret::expose), Some("s3cret"));
        assert!(!format!("{s:?}").contains("s3cret"));
    }

    #[test]
    fn bad_answers_name_the_field() {
        assert!(parse(b"<html>").unwrap_err().starts_with("not JSON"));
        assert!(parse(br#"{"result":"ok"}"#).unwrap_err().contains("data"));
        assert!(
            parse(br#"{"data":{"port":1883}}"#)
                .unwrap_err()
                .contains("data.host")
        );
        let e = parse(br#"{"data":{"host":"h","port":70000}}"#).unwrap_err();
        assert!(e.contains("data.port"), "{e}");
        // A string port, as some Supervisor versions write it, is read.
        assert_eq!(
            parse(br#"{"data":{"host":"h","port":"8883","ssl":true}}"#)
                .unwrap()
                .port,
            8883
        );
    }

    /// One HTTP exchange with a stand-in for the Supervisor (it cannot run here): the
    /// request carries the token and asks the right path.
    #[tokio::test]
    async fn asks_with_the_token() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).await.unwrap();
                assert!(n > 0);
                req.extend_from_slice(&buf[..n]);
            }
            let body = r#"{"result":"ok","data":{"host":"127.0.0.1","port":1883,"ssl":false}}"#;
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            s.write_all(resp.as_bytes()).await.unwrap();
            String::from_utf8(req).unwrap()
        });
        let s = mqtt_service(&format!("http://{addr}"), &Secret::new("tok"))
            .await
            .unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.username),
            ("127.0.0.1", 1883, None)
        );
        let req = server.await.unwrap();
        assert!(req.starts_with("GET /services/mqtt HTTP/1.1\r\n"), "{req}");
        assert!(
            req.to_ascii_lowercase()
                .contains("authorization: bearer tok\r\n"),
            "{req}"
        );
    }

    #[tokio::test]
    async fn no_broker_is_a_clear_error() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let body = r#"{"result":"error","message":"No service mqtt"}"#;
            let resp = format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            s.write_all(resp.as_bytes()).await.unwrap();
        });
        let e = mqtt_service(&format!("http://{addr}"), &Secret::new("tok"))
            .await
            .unwrap_err();
        assert!(e.contains("400") && e.contains("MQTT broker"), "{e}");
    }
}
