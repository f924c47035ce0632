//! Delivery rules that a real Home Assistant cannot be made to show on demand (a 404 or 503
//! for a webhook, a request that never gets an answer, a starting core), against a small
//! scripted HTTP server on 127.0.0.1.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hasip_ha::{ErrorKind, HaClient, HaConfig, Timeouts, WebhookError, WebhookOptions, Webhooks};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request the server received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What to answer: `None` never answers (the connection stays open).
type Handler = dyn Fn(&Seen, usize) -> Option<(u16, String)> + Send + Sync;

struct Fake {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    async fn start(
        handler: impl Fn(&Seen, usize) -> Option<(u16, String)> + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let log = Arc::clone(&log);
                let handler = Arc::clone(&handler);
                tokio::spawn(async move {
                    let Some(req) = read_request(&mut sock).await else {
                        return;
                    };
                    let n = {
                        let mut l = log.lock().expect("log");
                        l.push(req.clone());
                        l.iter().filter(|s| s.path == req.path).count()
                    };
                    match handler(&req, n) {
                        Some((status, body)) => {
                            let resp = format!(
                                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                                body.len()
                            );
                            let _ = sock.write_all(resp.as_bytes()).await;
                            let _ = sock.shutdown().await;
                        }
                        None => {
                            // Hold the connection without answering.
                            let mut buf = [0u8; 1];
                            let _ = sock.read(&mut buf).await;
                        }
                    }
                });
            }
        });
        Self { port, seen }
    }

    fn client(&self, timeouts: Timeouts) -> HaClient {
        let cfg = HaConfig::standalone(
            &format!("http://127.0.0.1:{}/api", self.port),
            "tok-en",
            None,
        )
        .expect("config")
        .with_timeouts(timeouts);
        HaClient::new(cfg).expect("client")
    }

    fn seen(&self, path: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .expect("log")
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }
}

async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut first = lines.next()?.split_whitespace();
    let method = first.next()?.to_owned();
    let path = first.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Seen {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn fast() -> Timeouts {
    Timeouts {
        connect: Duration::from_millis(500),
        request: Duration::from_millis(500),
        tts: Duration::from_millis(500),
    }
}

fn quick_retries() -> WebhookOptions {
    WebhookOptions {
        first_retry: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        ..WebhookOptions::default()
    }
}

/// Polls `cond` every 10 ms for up to `timeout`.
async fn until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cond()
}

const RUNNING: &str = r#"{"state": "RUNNING"}"#;

#[tokio::test]
async fn a_4xx_is_not_retried() {
    let fake = Fake::start(|_, _| Some((404, "{}".into()))).await;
    let hooks = Webhooks::start(fake.client(fast()), quick_retries());
    let body = json!({"event": "call_established", "internal_id": "c1"});
    hooks
        .try_send("c1", &["hook".into()], &body)
        .expect("queued");
    assert!(until(Duration::from_secs(5), || hooks.stats().rejected == 1).await);
    let stats = hooks.shutdown(Duration::from_secs(1)).await;
    assert_eq!((stats.delivered, stats.retries, stats.queued), (0, 0, 0));
    let seen = fake.seen("/api/webhook/hook");
    assert_eq!(seen.len(), 1);
    assert!(fake.seen("/api/config").is_empty());
    // ha-sip's headers: the bearer token and JSON.
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].header("authorization"), Some("Bearer tok-en"));
    assert_eq!(seen[0].header("content-type"), Some("application/json"));
    assert_eq!(seen[0].body, body.to_string());
}

#[tokio::test]
async fn a_5xx_is_retried_until_home_assistant_runs() {
    // Two 503s, then 200; the first two state probes say the core is still starting.
    let fake = Fake::start(|req, n| match req.path.as_str() {
        "/api/webhook/hook" if n <= 2 => Some((503, "busy".into())),
        "/api/webhook/hook" => Some((200, String::new())),
        "/api/config" if n <= 2 => Some((200, r#"{"state": "STARTING"}"#.into())),
        "/api/config" => Some((200, RUNNING.into())),
        _ => Some((404, String::new())),
    })
    .await;
    let hooks = Webhooks::start(fake.client(fast()), quick_retries());
    let body = json!({"event": "dtmf_digit", "digit": "5"});
    hooks
        .try_send("c1", &["hook".into()], &body)
        .expect("queued");
    assert!(until(Duration::from_secs(10), || hooks.stats().delivered == 1).await);
    let seen = fake.seen("/api/webhook/hook");
    assert_eq!(seen.len(), 3, "{seen:?}");
    let text = body.to_string();
    assert!(seen.iter().all(|s| s.body == text));
    // No webhook was posted while the core said STARTING.
    assert!(fake.seen("/api/config").len() >= 3);
    let stats = hooks.shutdown(Duration::from_secs(1)).await;
    assert_eq!((stats.failed, stats.rejected, stats.dropped), (0, 0, 0));
}

#[tokio::test]
async fn one_stuck_call_does_not_hold_up_another() {
    let fake = Fake::start(|req, _| {
        if req.path == "/api/config" {
            return Some((200, RUNNING.into()));
        }
        let v: Value = serde_json::from_str(&req.body).unwrap_or_default();
        if v["internal_id"] == "stuck" {
            Some((500, String::new()))
        } else {
            Some((200, String::new()))
        }
    })
    .await;
    let hooks = Webhooks::start(fake.client(fast()), quick_retries());
    let stuck = json!({"event": "call_established", "internal_id": "stuck"});
    hooks
        .try_send("stuck", &["g".into()], &stuck)
        .expect("queued");
    // The stuck call's later event waits behind its first (order per call) ...
    hooks
        .try_send(
            "stuck",
            &["g".into()],
            &json!({"event": "call_disconnected", "internal_id": "stuck"}),
        )
        .expect("queued");
    for i in 0..3 {
        let e = json!({"event": "dtmf_digit", "internal_id": "free", "seq": i});
        hooks.try_send("free", &["g".into()], &e).expect("queued");
    }
    // ... while the other call's events all go through.
    assert!(until(Duration::from_secs(5), || hooks.stats().delivered == 3).await);
    let stuck_tries = || {
        fake.seen("/api/webhook/g")
            .into_iter()
            .filter(|s| s.body.contains("stuck"))
            .collect::<Vec<Seen>>()
    };
    assert!(
        until(Duration::from_secs(5), || stuck_tries().len() >= 2).await,
        "retried"
    );
    let stuck_bodies = stuck_tries();
    assert!(
        stuck_bodies
            .iter()
            .all(|s| s.body.contains("call_established")),
        "a later event of the stuck call overtook its first"
    );
    assert_eq!(hooks.stats().queued, 2);
    // Shutdown reports the two undelivered events (and logs them with their content).
    let t0 = Instant::now();
    let stats = hooks.shutdown(Duration::from_millis(300)).await;
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert_eq!((stats.failed, stats.queued), (2, 0));
    assert_eq!(
        hooks.try_send("free", &["g".into()], &json!({})),
        Err(WebhookError::Closed)
    );
}

#[tokio::test]
async fn the_bound_drops_new_events_and_says_so() {
    // Nothing listens: every delivery keeps retrying.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        l.local_addr().expect("addr").port()
    };
    let cfg = HaConfig::standalone(&format!("http://127.0.0.1:{port}/api"), "t", None)
        .expect("config")
        .with_timeouts(fast());
    let client = HaClient::new(cfg).expect("client");
    let opts = WebhookOptions {
        capacity: 3,
        ..quick_retries()
    };
    let hooks = Webhooks::start(client, opts);
    let t0 = Instant::now();
    for i in 0..3 {
        hooks
            .try_send(&format!("c{i}"), &["g".into()], &json!({"seq": i}))
            .expect("queued");
    }
    assert_eq!(
        hooks.try_send("c9", &["g".into()], &json!({"seq": 9})),
        Err(WebhookError::Full(3))
    );
    assert!(t0.elapsed() < Duration::from_millis(50), "try_send waited");
    // No id: nothing to do, nothing queued.
    assert_eq!(hooks.try_send("c9", &[], &json!({})), Ok(()));
    let stats = hooks.stats();
    assert_eq!((stats.queued, stats.dropped), (3, 1));
    let stats = hooks.shutdown(Duration::from_millis(100)).await;
    assert_eq!((stats.failed, stats.queued, stats.delivered), (3, 0, 0));
}

#[tokio::test]
async fn give_up_after_is_honoured() {
    let fake = Fake::start(|req, _| match req.path.as_str() {
        "/api/config" => Some((200, RUNNING.into())),
        _ => Some((502, String::new())),
    })
    .await;
    let opts = WebhookOptions {
        give_up_after: Duration::from_millis(200),
        ..quick_retries()
    };
    let hooks = Webhooks::start(fake.client(fast()), opts);
    hooks
        .try_send("c1", &["a".into(), "b".into()], &json!({"event": "x"}))
        .expect("queued");
    // Both ids are tried (in order) and given up; the call's queue moves on.
    assert!(until(Duration::from_secs(5), || hooks.stats().failed == 2).await);
    assert!(until(Duration::from_secs(1), || hooks.stats().queued == 0).await);
    let a = fake.seen("/api/webhook/a");
    let b = fake.seen("/api/webhook/b");
    assert!(a.len() >= 2 && !b.is_empty());
}

#[tokio::test]
async fn every_request_has_a_timeout() {
    let fake = Fake::start(|_, _| None).await;
    let client = fake.client(Timeouts {
        connect: Duration::from_millis(500),
        request: Duration::from_millis(300),
        tts: Duration::from_millis(300),
    });
    let t0 = Instant::now();
    let e = client
        .render_template("{{ 1 }}")
        .await
        .expect_err("timeout");
    assert!(matches!(e.kind, ErrorKind::Timeout(_)), "{e}");
    assert!(e.to_string().contains("/api/template"), "{e}");
    let e = client
        .call_service("light", "turn_on", &json!({}))
        .await
        .expect_err("timeout");
    assert!(matches!(e.kind, ErrorKind::Timeout(_)), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
}

#[tokio::test]
async fn the_token_stays_on_the_home_assistant_origin() {
    let wav = "RIFF\u{0}\u{0}\u{0}\u{0}WAVEfmt ".to_owned();
    let w1 = wav.clone();
    let ha = Fake::start(move |_, _| Some((200, w1.clone()))).await;
    let other = Fake::start(move |_, _| Some((200, wav.clone()))).await;
    let client = ha.client(fast());
    let on_ha = hasip_ha::Url::parse(&format!("http://127.0.0.1:{}/api/tts_proxy/a.wav", ha.port))
        .expect("url");
    let elsewhere = hasip_ha::Url::parse(&format!(
        "http://127.0.0.1:{}/api/tts_proxy/a.wav",
        other.port
    ))
    .expect("url");
    let a = client.fetch_audio(&on_ha).await.expect("audio");
    assert_eq!(a.media_type, "audio/wav");
    client.fetch_audio(&elsewhere).await.expect("audio");
    let token = |f: &Fake| {
        f.seen("/api/tts_proxy/a.wav")[0]
            .header("authorization")
            .map(str::to_owned)
    };
    assert_eq!(token(&ha).as_deref(), Some("Bearer tok-en"));
    assert_eq!(token(&other), None);
}
