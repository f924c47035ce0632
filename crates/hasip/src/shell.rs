//! The event loop: one task owns the [`Engine`], the SIP sockets and the RTP sockets; TCP
//! connections, stdin and DNS lookups run in their own tasks and talk to the loop over
//! channels.
//!
//! The loop wakes only on input (a datagram, a frame, a command line, a lookup, a signal) or
//! on the engine's next deadline: there is no polling, so an idle gateway uses no CPU.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use hasip_engine::{Account, AnswerMode, CallKey, Config as EngineConfig, Engine, Output};
use hasip_sip::transport::{ConnectionId, Peer, Transport};
use hasip_sip::ua::{AccountConfig, Credentials, NatRewrite, Transmit};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::audio::{self, Fetched};
use crate::config::{self, Checked};
use crate::ha::Ha;
use crate::mqtt;
use crate::rtp::{self, Recorder, RtpIn, RtpSocket, Sink};
use crate::stdin::{self, StdinEvent};
use crate::tcp::{self, ConnEvent, ConnHandle};

mod give_back;
mod inputs;
mod outputs;
mod start;
mod turn;
use give_back::GiveBack;
use inputs::{
    begin_shutdown, on_connection, on_mqtt, on_resolved, on_rtp, on_stdin, on_stun_bound, on_talk,
    on_web, report_broken_accounts, warn_ignored_flags,
};
use outputs::{drain, mqtt_message, run_command};

/// Command-line values that win over the configuration file.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    /// SIP port.
    pub port: Option<u16>,
    /// Bind address.
    pub bind: Option<IpAddr>,
    /// Log level (0-6).
    pub log_level: Option<u8>,
}

/// How long shutdown waits for BYEs and un-REGISTERs to be answered.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Maps ha-sip's pjsip levels (0-6) to a tracing filter. Level 5 and up log every SIP
/// message, as ha-sip does at its default. Release builds compile trace-level logging out
/// (`release_max_level_debug` in Cargo.toml: fewer static callsites resident at idle), so
/// there level 6 logs what 5 does.
fn log_filter(level: u8) -> tracing_subscriber::filter::LevelFilter {
    use tracing_subscriber::filter::LevelFilter;
    match level {
        0 | 1 => LevelFilter::ERROR,
        2 => LevelFilter::WARN,
        3 | 4 => LevelFilter::INFO,
        5 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    }
}

fn init_logging(level: u8) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_target(false)
        .with_writer(std::io::stdout);
    // RUST_LOG (directives, parsed with regexes) only when it is set; the usual case is one
    // level, which needs none of that code at start-up.
    let registry = tracing_subscriber::registry().with(fmt);
    match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => {
            let _ = registry
                .with(tracing_subscriber::EnvFilter::new(v))
                .try_init();
        }
        _ => {
            let _ = registry.with(log_filter(level)).try_init();
        }
    }
}

/// Loads and checks the configuration, starts logging and runs the gateway until SIGTERM
/// or SIGINT.
///
/// # Errors
/// A configuration error (naming the field) or a socket that cannot be bound.
pub fn main(config_path: Option<&Path>, overrides: Overrides) -> anyhow::Result<()> {
    let (mut options, origin) = match config::load(config_path) {
        Ok(o) => o,
        Err(e) => {
            crate::notify::startup_error(&format!("{e:#}"), config::env_lookup);
            return Err(e);
        }
    };
    if let Some(p) = overrides.port {
        options.sip_global.port = p;
    }
    if let Some(b) = overrides.bind {
        options.sip_global.bind_address = b;
    }
    if let Some(l) = overrides.log_level {
        options.sip_global.log_level = l;
    }
    let checked = match config::check(options).with_context(|| format!("configuration {origin}")) {
        Ok(c) => c,
        Err(e) => {
            crate::notify::startup_error(&format!("{e:#}"), config::env_lookup);
            return Err(e);
        }
    };
    init_logging(checked.options.sip_global.log_level);
    tracing::info!(config = %origin, version = env!("CARGO_PKG_VERSION"), "ha-sip-rs starting");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(run(checked));
    // The stdin reader sits in a blocking read that only the next line or EOF ends; do not
    // wait for it.
    runtime.shutdown_background();
    if let Err(e) = &result {
        crate::notify::startup_error(&format!("{e:#}"), config::env_lookup);
    }
    result
}

/// 32 bytes of the operating system's randomness (getrandom(2)), the seed of every
/// identifier the gateway draws.
fn os_seed() -> anyhow::Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| anyhow::anyhow!("cannot read the operating system's randomness: {e}"))?;
    Ok(seed)
}

/// A call's RTP socket after its STUN binding.
struct StunBound {
    call: CallKey,
    sock: UdpSocket,
    result: Result<SocketAddr, hasip_sip::stun::StunError>,
}

/// A STUN transaction id.
fn transaction(rng: &mut hasip_sip::rng::Rng) -> [u8; 12] {
    let mut id = [0u8; 12];
    id[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    id[8..].copy_from_slice(&rng.next_u64().to_le_bytes()[..4]);
    id
}

/// The TLS listener of `--tls enabled` on `--tls-port`, when `--tls-cert` and `--tls-key`
/// give it a certificate; without them TLS stays client-only (logged).
async fn tls_listener(
    checked: &Checked,
) -> anyhow::Result<Option<(TcpListener, tokio_rustls::TlsAcceptor)>> {
    let g = &checked.global;
    if !g.tls {
        return Ok(None);
    }
    let (Some(cert), Some(key)) = (g.tls_cert.as_deref(), g.tls_key.as_deref()) else {
        tracing::warn!(
            "--tls enabled without --tls-cert and --tls-key: no TLS listener; TLS works for \
             connections the gateway opens"
        );
        return Ok(None);
    };
    let config = crate::tls::server_config(cert, key).map_err(anyhow::Error::msg)?;
    let addr = SocketAddr::new(checked.options.sip_global.bind_address, g.tls_port);
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot bind SIP TLS on {addr} (--tls-port)"))?;
    tracing::info!(%addr, "SIP TLS listener ready");
    Ok(Some((listener, tokio_rustls::TlsAcceptor::from(config))))
}

/// What the binding at start found (see [`stun_at_start`]).
#[derive(Default)]
struct StunStart {
    /// The public address of the SIP UDP socket (`--use-stun-for-sip`).
    sip: Option<SocketAddr>,
    /// The server to ask for each call's RTP address (`--use-stun-for-media`).
    media: Option<SocketAddr>,
    /// SIP datagrams that arrived meanwhile, for the engine once it runs.
    strays: Vec<crate::stun::Stray>,
}

/// One binding at start, on the SIP socket (or a spare one without UDP): its answer is the
/// public SIP address, and a server that does not answer turns STUN off rather than
/// delaying every call by the binding's timeout. The per-account flags count when any
/// enabled account has them on: the accounts share the sockets.
async fn stun_at_start(
    checked: &Checked,
    udp: Option<&UdpSocket>,
    rng: &mut hasip_sip::rng::Rng,
) -> anyhow::Result<StunStart> {
    let Some(server) = stun_server(checked).await else {
        return Ok(StunStart::default());
    };
    let any = |flag: fn(&crate::flags::AccountFlags) -> bool| {
        checked.accounts.iter().any(|(_, _, f, _)| flag(f))
    };
    let spare;
    let sock = match udp {
        Some(u) => u,
        None => {
            spare = UdpSocket::bind((checked.options.sip_global.bind_address, 0))
                .await
                .context("cannot bind a UDP socket for STUN")?;
            &spare
        }
    };
    let (result, strays) = crate::stun::mapped_address(sock, server, transaction(rng)).await;
    match result {
        Ok(a) => {
            tracing::info!(%server, public = %a, "STUN: the SIP socket is seen as this address");
            Ok(StunStart {
                sip: (udp.is_some() && any(|f| f.use_stun_for_sip)).then_some(a),
                media: any(|f| f.use_stun_for_media).then_some(server),
                strays,
            })
        }
        Err(e) => {
            tracing::warn!(%server, error = %e, "STUN is off: the local addresses are used");
            Ok(StunStart {
                strays,
                ..StunStart::default()
            })
        }
    }
}

/// `--stun-server`, resolved; `None` (with a warning) when it cannot be.
async fn stun_server(checked: &Checked) -> Option<SocketAddr> {
    let text = checked.global.stun_server.as_deref()?;
    match crate::stun::resolve(text).await {
        Ok(a) => Some(a),
        Err(e) => {
            tracing::warn!(error = %e, "STUN is off");
            None
        }
    }
}

/// The address other hosts reach us at: the bind address, or for a wildcard bind the
/// address of the interface that routes to `towards` (found with a connected UDP socket,
/// which sends nothing).
fn advertised_ip(bind: IpAddr, towards: Option<IpAddr>) -> IpAddr {
    if !bind.is_unspecified() {
        return bind;
    }
    let target = towards.unwrap_or(IpAddr::from([192, 0, 2, 1]));
    std::net::UdpSocket::bind((bind, 0))
        .and_then(|s| {
            s.connect((target, 9))?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

fn engine_config(
    checked: &Checked,
    local: Vec<(Transport, SocketAddr)>,
    media_ip: IpAddr,
) -> EngineConfig {
    let accounts = checked
        .accounts
        .iter()
        .map(|(number, a, flags, incoming)| Account {
            number: *number,
            sip: AccountConfig {
                id_uri: a.id_uri.clone(),
                registrar: (!a.registrar_uri.is_empty()).then(|| a.registrar_uri.clone()),
                proxy: flags.proxy.clone(),
                credentials: Credentials {
                    username: a.user_name.clone(),
                    password: a.password.expose().to_owned(),
                    realm: a.realm.clone(),
                },
                expires: flags.register_expires,
                keepalive: (flags.keepalive_secs > 0)
                    .then(|| Duration::from_secs(u64::from(flags.keepalive_secs))),
                allow_calls_from: flags.allow_calls_from.clone(),
                headers: flags.headers.clone(),
                can_be_called: flags.can_be_called,
                nat: NatRewrite {
                    contact: flags.use_contact_rewrite,
                    via: flags.use_via_rewrite,
                },
            },
            answer_mode: match a.answer_mode {
                config::AnswerMode::Listen => AnswerMode::Listen,
                config::AnswerMode::Accept => AnswerMode::Accept,
            },
            settle_time: Duration::from_secs_f64(a.settle_time),
            answer_after: Duration::ZERO,
            incoming: incoming.clone(),
            extract_headers: flags.extract_headers.clone(),
            can_call: flags.can_call,
            sdp_nat_rewrite: flags.use_sdp_nat_rewrite,
        })
        .collect();
    EngineConfig {
        local,
        media_ip,
        accounts,
        codecs: checked.global.codecs.clone(),
        recording_channels: checked.global.recording_channels,
        debug_headers: checked.global.debug_headers,
        dtmf_timing: checked.global.dtmf_timing,
        call_rate: checked.global.call_rate,
        tts_language: if checked.options.tts.language.trim().is_empty() {
            "en".to_owned()
        } else {
            checked.options.tts.language.trim().to_owned()
        },
        ..EngineConfig::default()
    }
}

/// At most this many connections opened by peers at once (each costs a descriptor and
/// about 6 KiB); more are closed as they are accepted.
const MAX_ACCEPTED: usize = 500;
/// At most this many of them from one address.
const MAX_ACCEPTED_PER_SOURCE: u32 = 32;

/// A host and what it resolved to: its address and, from an SRV record, its port.
type Resolved = (String, Option<(IpAddr, Option<u16>)>);

/// The sockets and connections the loop owns.
struct Io {
    udp: Option<UdpSocket>,
    bind_ip: IpAddr,
    conns: HashMap<ConnectionId, (Transport, ConnHandle)>,
    /// Stream connections by transport and remote address, for reuse (RFC 5923 style).
    by_addr: HashMap<(Transport, SocketAddr), ConnectionId>,
    /// Host names the shell resolved, by address: the name a TLS certificate must carry.
    names: HashMap<IpAddr, String>,
    /// The TLS client configuration, made on the first TLS connection.
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// `--tls-verify-server`.
    tls_verify: bool,
    next_conn: u64,
    /// The source of each connection a peer opened to us, and how many each source has:
    /// bounded by [`MAX_ACCEPTED`] and [`MAX_ACCEPTED_PER_SOURCE`].
    /// (source, has sent a whole message)
    accepted: HashMap<ConnectionId, (IpAddr, bool)>,
    per_source: HashMap<IpAddr, u32>,
    /// Connections refused for a cap since the last warning (one warning a minute).
    refused_conns: (u64, Option<Instant>),
    conn_tx: mpsc::Sender<ConnEvent>,
    rtp: HashMap<CallKey, RtpSocket>,
    rtp_tx: mpsc::Sender<RtpIn>,
    rtp_ports: Option<std::ops::RangeInclusive<u16>>,
    /// The STUN server asked for each call's RTP address (`--use-stun-for-media`).
    stun_media: Option<SocketAddr>,
    /// Draws STUN transaction ids and DNS query ids (ChaCha20, seeded from the OS).
    rng: hasip_sip::rng::Rng,
    stun_tx: mpsc::Sender<StunBound>,
    /// RTP sockets released by the engine, closed after the next media drain (the last
    /// RTCP of the call still leaves through them).
    released: Vec<CallKey>,
    recorders: HashMap<CallKey, Recorder>,
    /// RTP datagrams the kernel refused (send buffer full).
    rtp_dropped: u64,
    ha: Option<Ha>,
    /// The MQTT client, once connected or connecting.
    mqtt: Option<hasip_bus::mqtt::MqttHandle>,
    /// ha-sip 5.5's sensors, when on and Home Assistant is there.
    sensors: Option<crate::sensors::Sensors>,
    audio_cache: audio::Cache,
    audio_tx: mpsc::Sender<Fetched>,
    resolve_tx: mpsc::Sender<Resolved>,
    /// `sip_global.name_server`: SRV and A lookups go there (none: the system resolver).
    name_servers: Vec<SocketAddr>,
    /// `quit` was commanded: leave once the engine is idle.
    quit: bool,
    /// Each account's registration and calls, for the health check and the MQTT device.
    status: crate::status::Status,
    /// The MQTT device (`mqtt.discovery`).
    discovery: Option<crate::discovery::Discovery>,
    /// Persistent notifications of accounts that do not register (add-on mode).
    registration_notices: crate::notify::Registrations,
    /// The dashboard page, when it is served.
    web: Option<crate::web::Web>,
    /// Behind the Supervisor's ingress the browser cannot reach the address it reached the
    /// page at: Talk offers `advertised` instead.
    web_ingress: bool,
    /// The gateway's advertised address.
    advertised: IpAddr,
    /// Browsers talking in calls (the call's internal id, the session).
    talks: HashMap<CallKey, (String, crate::talk::Talk)>,
    talk_tx: mpsc::Sender<crate::talk::TalkEvent>,
    /// Calls that run Assist.
    assists: crate::assist::Links,
}

impl Io {
    /// The page's account rows, from the accounts' status.
    fn web_accounts(&self) {
        let Some(web) = &self.web else { return };
        web.accounts(self.status.accounts().iter().map(|a| {
            use crate::status::Registration as R;
            let why = match &a.registration {
                R::Retrying { code, reason } | R::Refused { code, reason } => {
                    Some(format!("{code} {reason}"))
                }
                R::Misconfigured { reason } => Some(reason.clone()),
                _ => None,
            };
            (a.number, a.id_uri.clone(), a.registration.word(), why)
        }));
    }

    /// Publishes on any topic if MQTT is on; a full queue is logged, never waited for.
    fn publish(&self, topic: &str, payload: &str, retain: bool) {
        if let Some(m) = &self.mqtt
            && let Err(e) = m.publish(topic, payload, retain)
        {
            tracing::warn!(error = %e, "MQTT message not published");
        }
    }

    /// The MQTT device's configs and every account's state (after a connection, and when
    /// Home Assistant announces itself).
    fn publish_device(&self) {
        let Some(d) = &self.discovery else { return };
        if self.mqtt.is_none() {
            return;
        }
        for (topic, payload) in d.configs() {
            self.publish(&topic, &payload, true);
        }
        for a in self.status.accounts() {
            let (topic, payload) = d.state(a);
            self.publish(&topic, &payload, true);
        }
        tracing::debug!("MQTT device published");
    }

    /// In the add-on, creates or dismisses the account's persistent notification when its
    /// registration (or whether it runs at all) changed in a way worth telling.
    fn notify_registration(&mut self, account: u8) {
        let addon = self
            .ha
            .as_ref()
            .filter(|h| h.client.config().mode == hasip_ha::Mode::AddOn);
        if let (Some(ha), Some(a)) = (addon, self.status.account(account)) {
            let (uri, reg) = (a.id_uri.clone(), a.registration.clone());
            if let Some((id, body)) = self.registration_notices.update(account, &uri, &reg) {
                crate::notify::send(&ha.client, id, body);
            }
        }
    }

    /// One account's state on the MQTT device.
    fn publish_account(&self, account: u8) {
        if let (Some(d), Some(a)) = (&self.discovery, self.status.account(account)) {
            let (topic, payload) = d.state(a);
            self.publish(&topic, &payload, true);
        }
    }

    /// Publishes a state-topic body if MQTT is on; a full queue is logged, never waited for.
    fn publish_state(&self, body: &serde_json::Value) {
        if let Some(m) = &self.mqtt
            && let Err(e) = m.publish_state(&body.to_string())
        {
            tracing::warn!(error = %e, "event not published");
        }
    }

    /// Logs a command that failed and reports it on the state topic.
    fn command_failed(&self, source: &str, error: &str) {
        tracing::warn!(source, "command failed: {error}");
        self.publish_state(&hasip_bus::command_error_json(source, error));
    }

    /// Serves a connection a peer opened to one of our listeners (TLS when `tls` is given),
    /// unless that would pass a cap: then it is closed at once (`None`).
    fn add_conn(
        &mut self,
        stream: TcpStream,
        from: SocketAddr,
        tls: Option<&tokio_rustls::TlsAcceptor>,
    ) -> Option<ConnectionId> {
        let source = from.ip().to_canonical();
        let from_source = self.per_source.get(&source).copied().unwrap_or(0);
        if self.accepted.len() >= MAX_ACCEPTED && from_source < MAX_ACCEPTED_PER_SOURCE {
            // Full: the oldest connection that has not sent a whole message yet makes room
            // (silent and half-sent connections are what a flood leaves), so a peer that
            // means to talk still gets in.
            let oldest_silent = self
                .accepted
                .iter()
                .filter(|(_, (_, spoke))| !spoke)
                .map(|(id, _)| *id)
                .min();
            if let Some(id) = oldest_silent {
                tracing::debug!(conn = id.0, "silent connection closed to make room");
                self.remove_conn(id);
            }
        }
        if self.accepted.len() >= MAX_ACCEPTED || from_source >= MAX_ACCEPTED_PER_SOURCE {
            drop(stream);
            self.refused_conns.0 += 1;
            let now = Instant::now();
            if self
                .refused_conns
                .1
                .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(60))
            {
                tracing::warn!(
                    %from,
                    open = self.accepted.len(),
                    from_source,
                    refused = self.refused_conns.0,
                    "connection refused: at most {MAX_ACCEPTED} connections from peers, \
                     {MAX_ACCEPTED_PER_SOURCE} from one address"
                );
                self.refused_conns = (0, Some(now));
            }
            return None;
        }
        self.next_conn += 1;
        let id = ConnectionId(self.next_conn);
        let _ = stream.set_nodelay(true);
        let events = self.conn_tx.clone();
        let (transport, conn) = match tls {
            None => (Transport::Tcp, tcp::spawn(id, stream, from, events)),
            Some(a) => (
                Transport::Tls,
                tcp::accept_tls(id, stream, from, a.clone(), events),
            ),
        };
        self.conns.insert(id, (transport, conn));
        self.by_addr.insert((transport, from), id);
        self.accepted.insert(id, (source, false));
        *self.per_source.entry(source).or_default() += 1;
        Some(id)
    }

    fn remove_conn(&mut self, id: ConnectionId) {
        if let Some((_, c)) = self.conns.remove(&id) {
            c.close();
        }
        self.by_addr.retain(|_, v| *v != id);
        if let Some((source, _)) = self.accepted.remove(&id)
            && let Some(n) = self.per_source.get_mut(&source)
        {
            *n -= 1;
            if *n == 0 {
                self.per_source.remove(&source);
            }
        }
    }

    /// Sends over the stream connection `t` names, or the one to its address, or a new one.
    fn stream_send(&mut self, t: Transmit) {
        let transport = t.to.transport;
        let id =
            t.to.connection
                .filter(|c| self.conns.contains_key(c))
                .or_else(|| self.by_addr.get(&(transport, t.to.addr)).copied());
        if let Some((_, c)) = id.and_then(|c| self.conns.get(&c)) {
            c.send(t.payload);
            return;
        }
        let tls = if transport == Transport::Tls {
            if self.tls.is_none() {
                match crate::tls::client_config(self.tls_verify) {
                    Ok(c) => self.tls = Some(c),
                    Err(e) => {
                        tracing::error!(to = %t.to.addr, error = %e, "TLS not available, message dropped");
                        return;
                    }
                }
            }
            let name = crate::tls::server_name(
                self.names.get(&t.to.addr.ip()).map(String::as_str),
                t.to.addr.ip(),
            );
            self.tls.clone().map(|c| (c, name))
        } else {
            None
        };
        self.next_conn += 1;
        let id = ConnectionId(self.next_conn);
        let c = tcp::connect(id, t.to.addr, tls, self.conn_tx.clone());
        c.send(t.payload);
        self.conns.insert(id, (transport, c));
        self.by_addr.insert((transport, t.to.addr), id);
    }

    async fn transmit(&mut self, t: Transmit) {
        trace_message("send", t.to.transport, t.to.addr, &t.payload);
        match t.to.transport {
            Transport::Udp => match &self.udp {
                Some(udp) => {
                    if let Err(e) = udp.send_to(&t.payload, t.to.addr).await {
                        tracing::warn!(to = %t.to.addr, error = %e, "UDP send failed");
                    }
                }
                None => tracing::warn!(to = %t.to.addr, "UDP is disabled (--udp), message dropped"),
            },
            Transport::Tcp | Transport::Tls => self.stream_send(t),
        }
    }
}

/// Runs the gateway until a termination signal arrives.
///
/// # Errors
/// A socket that cannot be bound or a signal handler that cannot be installed.
/// Runs the gateway until SIGTERM, SIGINT or `quit`: start-up (`start.rs`), then turns of
/// the loop (`turn.rs`) until shutdown has finished, then the last flushes.
pub async fn run(checked: Checked) -> anyhow::Result<()> {
    let mut shell = start::start(&checked).await?;
    while !shell.finished() {
        shell.turn().await;
    }
    shell.stop().await;
    Ok(())
}

async fn recv_udp(udp: Option<&UdpSocket>, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    match udp {
        Some(u) => u.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

async fn accept_tcp(l: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match l {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

fn trace_message(dir: &str, transport: Transport, peer: SocketAddr, data: &[u8]) {
    if tracing::enabled!(tracing::Level::DEBUG) {
        tracing::debug!(
            "{dir} {} bytes {transport} {peer}\n{}",
            data.len(),
            String::from_utf8_lossy(data)
        );
    }
}
