//! The dashboard page (issue 19): each account and its registration, each call (caller,
//! state, duration) with answer, reject, hang-up and digit buttons, and the events as they
//! happen, pushed to the page as server-sent events.
//!
//! In the add-on it is the Supervisor's ingress: port 8099 (`ingress_port`), served only to
//! the Supervisor's ingress proxy (172.30.32.2), which has already authenticated the user,
//! under the path prefix it gives in `X-Ingress-Path`. Stand-alone it is off unless
//! `WEB_LISTEN` names an address, and then every request must carry `WEB_TOKEN` (a bearer
//! header, a `token` query parameter or the cookie the page sets).
//!
//! axum serves it on the loop's runtime; the server exists only when configured, and its
//! tasks hold nothing while no page is open. The loop keeps the [`Board`] and pings the
//! open pages when it changes; each page's task then sends a snapshot. Commands from the
//! page go to the loop over a channel and are answered with the engine's verdict.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::BroadcastStream;

mod board;
pub(crate) use board::Board;

/// The page itself: HTML, CSS and script in one file, with `{{BASE}}` for the path prefix.
const PAGE: &str = include_str!("web/page.html");
/// The Supervisor's ingress proxy (its `hassio` network address).
const SUPERVISOR_INGRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(172, 30, 32, 2));
/// The add-on's `ingress_port`.
const INGRESS_PORT: u16 = 8099;

/// Who may open the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Access {
    /// The add-on: only this peer (the Supervisor's ingress proxy), no token.
    Ingress(IpAddr),
    /// Stand-alone: every request carries this token.
    Token(String),
}

/// Where the page is served and to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WebConfig {
    pub(crate) listen: SocketAddr,
    pub(crate) access: Access,
    /// The accounts' menu files (number, path), for the page's checker and simulator.
    pub(crate) menus: Vec<(u8, String)>,
}

/// The page's settings from the environment (and `.env`): `WEB_LISTEN` and `WEB_TOKEN`
/// stand-alone; in the add-on (`SUPERVISOR_TOKEN` set) the ingress, on `INGRESS_PORT`
/// (8099) for the peer `INGRESS_PEER` (172.30.32.2).
///
/// # Errors
/// A value that cannot be used, named.
pub(crate) fn config(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<WebConfig>, String> {
    let get = |name: &str| {
        lookup(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    if let Some(listen) = get("WEB_LISTEN") {
        let listen = listen
            .parse::<SocketAddr>()
            .or_else(|_| listen.parse::<u16>().map(|p| SocketAddr::from(([0, 0, 0, 0], p))))
            .map_err(|_| {
                format!("WEB_LISTEN: {listen:?} is not an address and port (e.g. 0.0.0.0:8099) or a port")
            })?;
        let token = get("WEB_TOKEN").ok_or(
            "WEB_TOKEN: the page is served to whoever has this token: set one of at least 16 characters",
        )?;
        if token.chars().count() < 16 {
            return Err("WEB_TOKEN: at least 16 characters, please".to_owned());
        }
        return Ok(Some(WebConfig {
            listen,
            access: Access::Token(token),
            menus: Vec::new(),
        }));
    }
    if get("SUPERVISOR_TOKEN").is_none() {
        return Ok(None);
    }
    let port = match get("INGRESS_PORT") {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("INGRESS_PORT: {p:?} is not a port"))?,
        None => INGRESS_PORT,
    };
    let peer = match get("INGRESS_PEER") {
        Some(p) => p
            .parse::<IpAddr>()
            .map_err(|_| format!("INGRESS_PEER: {p:?} is not an IP address"))?,
        None => SUPERVISOR_INGRESS,
    };
    Ok(Some(WebConfig {
        listen: SocketAddr::from(([0, 0, 0, 0], port)),
        access: Access::Ingress(peer),
        menus: Vec::new(),
    }))
}

/// What the page asks of the loop, with where to send the answer.
#[derive(Debug)]
pub(crate) enum WebRequest {
    /// A command (JSON, as on stdin); the answer is the engine's verdict.
    Command {
        text: String,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Talk in a call from the browser: the SDP offer, the local address the browser
    /// reached the page at; the answer is the SDP answer.
    Talk {
        call: String,
        offer: String,
        local_ip: IpAddr,
        reply: oneshot::Sender<Result<String, String>>,
    },
}

/// The loop's side: the board and the pages to ping.
#[derive(Debug)]
pub(crate) struct Web {
    board: Arc<Mutex<Board>>,
    changed: broadcast::Sender<()>,
}

#[derive(Clone)]
struct Shared {
    board: Arc<Mutex<Board>>,
    changed: broadcast::Sender<()>,
    commands: mpsc::Sender<WebRequest>,
    access: Access,
    menus: Arc<[(u8, String)]>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Web {
    /// Binds the page's port and serves it in a task; `None` (logged) when it cannot bind:
    /// the gateway runs without its page.
    pub(crate) async fn start(
        config: WebConfig,
        commands: mpsc::Sender<WebRequest>,
    ) -> Option<Self> {
        let listener = match tokio::net::TcpListener::bind(config.listen).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(listen = %config.listen, error = %e, "cannot bind the dashboard page's port; running without it");
                return None;
            }
        };
        let mut b = Board::default();
        b.set_menus(config.menus.clone());
        let board = Arc::new(Mutex::new(b));
        let (changed, _) = broadcast::channel(16);
        let shared = Shared {
            board: Arc::clone(&board),
            changed: changed.clone(),
            commands,
            access: config.access.clone(),
            menus: config.menus.clone().into(),
        };
        let who = match &config.access {
            Access::Ingress(peer) => format!("ingress, for {peer} only"),
            Access::Token(_) => "with WEB_TOKEN".to_owned(),
        };
        tracing::info!(listen = %config.listen, "dashboard page served ({who})");
        tokio::spawn(async move {
            // Nothing of the HTTP server is built until someone opens the page: an idle
            // gateway keeps one listening socket and this task.
            let first = loop {
                match listener.accept().await {
                    Ok(c) => break c,
                    Err(e) => {
                        tracing::warn!(error = %e, "dashboard: accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                }
            };
            let listener = Primed {
                first: Some(first),
                inner: listener,
            };
            let service = router(shared).into_make_service_with_connect_info::<PeerAddr>();
            if let Err(e) = axum::serve(listener, service).await {
                tracing::error!(error = %e, "the dashboard page's server stopped");
            }
        });
        Some(Self { board, changed })
    }

    fn update(&self, f: impl FnOnce(&mut Board)) {
        f(&mut self.board.lock().unwrap_or_else(PoisonError::into_inner));
        // Nobody listening is the usual case: nothing is sent then.
        if self.changed.receiver_count() > 0 {
            let _ = self.changed.send(());
        }
    }

    /// An event of the engine (its webhook body).
    pub(crate) fn event(&self, body: &Value) {
        self.update(|b| b.event(body, now_ms()));
    }

    /// The accounts' rows changed.
    pub(crate) fn accounts(
        &self,
        accounts: impl IntoIterator<Item = (u8, String, &'static str, Option<String>)>,
    ) {
        self.update(|b| b.set_accounts(accounts));
    }

    /// A command from the page failed.
    pub(crate) fn command_failed(&self, error: &str) {
        self.update(|b| b.command_failed(error, now_ms()));
    }
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/state", get(state))
        .route("/api/events", get(events))
        .route("/api/command", post(command))
        .route("/api/menu", post(menu))
        .route("/api/talk", post(talk))
        .route("/api/recording", get(recording))
        .layer(middleware::from_fn_with_state(shared.clone(), guard))
        .with_state(shared)
}

/// The page's listener, with the connection that woke it still to be served.
struct Primed {
    first: Option<(tokio::net::TcpStream, SocketAddr)>,
    inner: tokio::net::TcpListener,
}

impl axum::serve::Listener for Primed {
    type Io = tokio::net::TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        if let Some(first) = self.first.take() {
            return first;
        }
        axum::serve::Listener::accept(&mut self.inner).await
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// The two ends of a request's connection: the peer (the guard lets only the ingress
/// proxy through in the add-on) and our address the peer reached (Talk's host candidate).
#[derive(Debug, Clone, Copy)]
struct PeerAddr(SocketAddr, Option<SocketAddr>);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, Primed>> for PeerAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, Primed>) -> Self {
        Self(*stream.remote_addr(), stream.io().local_addr().ok())
    }
}

fn snapshot(board: &Mutex<Board>) -> Value {
    board
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .snapshot(now_ms())
}

/// Constant-time comparison of the token given with ours.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The token a request carries: bearer header, `token` query parameter or cookie.
fn token_of(req: &Request) -> Option<String> {
    let headers = req.headers();
    if let Some(t) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(t.trim().to_owned());
    }
    if let Some(t) = req.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("token="))
            .map(str::to_owned)
    }) {
        return Some(t);
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix("hasip_token=").map(str::to_owned))
}

/// Lets through the ingress peer (add-on) or a request with the token (stand-alone).
async fn guard(
    State(s): State<Shared>,
    ConnectInfo(PeerAddr(peer, _)): ConnectInfo<PeerAddr>,
    req: Request,
    next: Next,
) -> Response {
    match &s.access {
        Access::Ingress(allowed) => {
            if peer.ip().to_canonical() != *allowed {
                tracing::debug!(%peer, "dashboard: not the Supervisor's ingress; refused");
                return (
                    StatusCode::FORBIDDEN,
                    "only through Home Assistant's ingress\n",
                )
                    .into_response();
            }
            next.run(req).await
        }
        Access::Token(token) => {
            let given = token_of(&req);
            if !given.as_deref().is_some_and(|g| same(g, token)) {
                return (
                    StatusCode::UNAUTHORIZED,
                    "a token is needed: open the page as /?token=WEB_TOKEN\n",
                )
                    .into_response();
            }
            let mut resp = next.run(req).await;
            // The page's own requests carry it as a cookie from now on.
            if let Ok(v) = HeaderValue::from_str(&format!(
                "hasip_token={token}; HttpOnly; SameSite=Strict; Path=/"
            )) {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            resp
        }
    }
}

/// `X-Ingress-Path` when it is a plain path (it goes into the page's `<base>`).
fn ingress_path(headers: &HeaderMap) -> String {
    headers
        .get("x-ingress-path")
        .and_then(|v| v.to_str().ok())
        .filter(|p| {
            p.starts_with('/')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/_-.".contains(c))
        })
        .map(|p| p.trim_end_matches('/').to_owned())
        .unwrap_or_default()
}

async fn page(headers: HeaderMap) -> impl IntoResponse {
    let base = format!("{}/", ingress_path(&headers));
    (
        [(header::CACHE_CONTROL, "no-store")],
        Html(PAGE.replace("{{BASE}}", &base)),
    )
}

async fn state(State(s): State<Shared>) -> impl IntoResponse {
    axum::Json(snapshot(&s.board))
}

async fn events(
    State(s): State<Shared>,
) -> Sse<impl tokio_stream::Stream<Item = Result<Event, Infallible>>> {
    let board = Arc::clone(&s.board);
    let first = tokio_stream::once(());
    let changes = BroadcastStream::new(s.changed.subscribe()).map(|_| ());
    let stream = first.chain(changes).map(move |()| {
        Ok(Event::default()
            .event("state")
            .data(snapshot(&board).to_string()))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn command(State(s): State<Shared>, body: String) -> Response {
    let (reply, verdict) = oneshot::channel();
    if s.commands
        .send(WebRequest::Command { text: body, reply })
        .await
        .is_err()
    {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    match verdict.await {
        Ok(Ok(())) => axum::Json(json!({"ok": true})).into_response(),
        Ok(Err(e)) => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"ok": false, "error": e})),
        )
            .into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response(),
    }
}

/// Talk from the browser (WHEP-style): the body is the browser's SDP offer for call
/// `?call=ID`; the answer is the gateway's SDP (201, `application/sdp`).
async fn talk(
    State(s): State<Shared>,
    ConnectInfo(PeerAddr(_, local)): ConnectInfo<PeerAddr>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
    offer: String,
) -> Response {
    let Some(call) = q.get("call").cloned() else {
        return (StatusCode::BAD_REQUEST, "call: which call to talk in\n").into_response();
    };
    let local_ip = local.map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |a| a.ip().to_canonical());
    let (reply, answer) = oneshot::channel();
    let request = WebRequest::Talk {
        call,
        offer,
        local_ip,
        reply,
    };
    if s.commands.send(request).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    match answer.await {
        Ok(Ok(sdp)) => (
            StatusCode::CREATED,
            [(header::CONTENT_TYPE, "application/sdp")],
            sdp,
        )
            .into_response(),
        Ok(Err(e)) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response(),
    }
}

/// The page's menu checker and simulator: `hasip menu check|simulate` on an account's
/// menu file (by number) or on YAML the page sends.
#[derive(Debug, serde::Deserialize)]
struct MenuRequest {
    /// `check` or `simulate`.
    action: String,
    /// An account's `incoming_call_file`, by account number.
    account: Option<u8>,
    /// Or the file's text.
    yaml: Option<String>,
    #[serde(default)]
    digits: String,
    timeout_after: Option<f64>,
    #[serde(default)]
    barge_in: bool,
    prompt_seconds: Option<f64>,
}

async fn menu(State(s): State<Shared>, body: String) -> Response {
    let fail = |e: String| {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"ok": false, "error": e})),
        )
            .into_response()
    };
    let req: MenuRequest = match serde_json::from_str(&body) {
        Ok(r) => r,
        Err(e) => return fail(format!("the request: {e}")),
    };
    let (text, name) = match (req.account, req.yaml) {
        (Some(n), _) => {
            let Some((_, path)) = s.menus.iter().find(|(a, _)| *a == n) else {
                return fail(format!("account: {n} has no incoming_call_file"));
            };
            match tokio::fs::read_to_string(path).await {
                Ok(t) => (t, path.clone()),
                Err(e) => return fail(format!("{path}: {e}")),
            }
        }
        (None, Some(y)) => (y, "the page's YAML".to_owned()),
        (None, None) => return fail("account or yaml: say which menu".to_owned()),
    };
    // Off the loop's thread: a long menu and a long script take their time.
    let result = tokio::task::spawn_blocking(move || match req.action.as_str() {
        "check" => crate::menu_tool::check(&text, &name),
        "simulate" => crate::menu_tool::simulate(
            &text,
            &name,
            &crate::menu_tool::Caller {
                digits: req.digits,
                timeout_after: req.timeout_after,
                barge_in: req.barge_in,
                prompt_seconds: req.prompt_seconds.unwrap_or(2.0),
            },
            std::time::Instant::now(),
        ),
        other => Err(format!("action: {other:?} is neither check nor simulate")),
    })
    .await
    .unwrap_or_else(|e| Err(format!("the menu tool failed: {e}")));
    match result {
        Ok(out) => axum::Json(json!({"ok": true, "output": out})).into_response(),
        Err(e) => fail(e),
    }
}

/// A finished recording the page lists (no other file is served).
async fn recording(
    State(s): State<Shared>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let Some(path) = q.get("path") else {
        return (StatusCode::BAD_REQUEST, "path: which recording\n").into_response();
    };
    let listed = s
        .board
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .has_recording(path);
    if !listed {
        return (StatusCode::NOT_FOUND, "not a recording of this gateway\n").into_response();
    }
    match tokio::fs::read(path).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, "audio/wav")], bytes).into_response(),
        Err(e) => (StatusCode::NOT_FOUND, format!("{path}: {e}\n")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn off_stand_alone_unless_asked_and_then_only_with_a_real_token() {
        assert_eq!(config(env(&[])).unwrap(), None);
        let c = config(env(&[
            ("WEB_LISTEN", "127.0.0.1:8088"),
            ("WEB_TOKEN", "0123456789abcdef"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:8088".parse().unwrap());
        assert_eq!(c.access, Access::Token("0123456789abcdef".into()));
        let e = config(env(&[("WEB_LISTEN", "8088")])).unwrap_err();
        assert!(e.starts_with("WEB_TOKEN:"), "{e}");
        let e = config(env(&[("WEB_LISTEN", "8088"), ("WEB_TOKEN", "short")])).unwrap_err();
        assert!(e.starts_with("WEB_TOKEN:"), "{e}");
        let e = config(env(&[
            ("WEB_LISTEN", "here"),
            ("WEB_TOKEN", "0123456789abcdef"),
        ]))
        .unwrap_err();
        assert!(e.starts_with("WEB_LISTEN:"), "{e}");
    }

    #[test]
    fn the_add_on_serves_the_ingress_peer_on_8099() {
        let c = config(env(&[("SUPERVISOR_TOKEN", "x")])).unwrap().unwrap();
        assert_eq!(c.listen.port(), 8099);
        assert_eq!(c.access, Access::Ingress(SUPERVISOR_INGRESS));
    }

    #[test]
    fn tokens_compare_whole_and_the_ingress_path_is_only_a_path() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd") && !same("abc", "ab"));
        let mut h = HeaderMap::new();
        h.insert(
            "x-ingress-path",
            HeaderValue::from_static("/api/hassio_ingress/Ab-1_x/"),
        );
        assert_eq!(ingress_path(&h), "/api/hassio_ingress/Ab-1_x");
        h.insert("x-ingress-path", HeaderValue::from_static("/x\"><script>"));
        assert_eq!(ingress_path(&h), "");
    }
}
