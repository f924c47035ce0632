//! The event loop: one task owns the [`Engine`], the UDP socket and the TCP listener;
//! TCP connections and stdin run in their own tasks and talk to the loop over channels.
//!
//! The loop wakes only on input (a datagram, a frame, a command line, a signal) or on the
//! engine's next deadline: there is no polling, so an idle gateway uses no CPU.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use bytes::Bytes;
use hasip_engine::{Config as EngineConfig, Engine, Output, Transmit};
use hasip_sip::transport::{ConnectionId, Peer, Transport};
use tokio::net::{TcpListener, UdpSocket};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::config::{self, Options};
use crate::stdin::{self, StdinEvent};
use crate::tcp::{self, ConnEvent, ConnHandle};

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

/// Maps ha-sip's pjsip levels (0-6) to a tracing filter. Level 5 and up log every SIP
/// message, as ha-sip does at its default.
fn log_filter(level: u8) -> &'static str {
    match level {
        0 | 1 => "error",
        2 => "warn",
        3 | 4 => "info",
        5 => "debug",
        _ => "trace",
    }
}

fn init_logging(level: u8) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(log_filter(level)));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_target(false)
        .with_writer(std::io::stdout)
        .try_init();
}

/// Loads the configuration, starts logging and runs the gateway until SIGTERM or SIGINT.
///
/// # Errors
/// A configuration error (naming the field) or a socket that cannot be bound.
pub fn main(config_path: Option<&Path>, overrides: Overrides) -> anyhow::Result<()> {
    let (mut options, origin) = config::load(config_path)?;
    if let Some(p) = overrides.port {
        options.sip_global.port = p;
    }
    if let Some(b) = overrides.bind {
        options.sip_global.bind_address = b;
    }
    if let Some(l) = overrides.log_level {
        options.sip_global.log_level = l;
    }
    init_logging(options.sip_global.log_level);
    tracing::info!(config = %origin, version = env!("CARGO_PKG_VERSION"), "ha-sip-rs starting");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(run(options));
    // The stdin reader sits in a blocking read that only the next line or EOF ends; do not
    // wait for it.
    runtime.shutdown_background();
    result
}

/// A seed from the operating system's randomness (std seeds `RandomState` from it).
fn os_seed() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(u64::from(std::process::id()));
    h.finish()
}

/// Runs the gateway with the given options until a termination signal arrives.
///
/// # Errors
/// A socket that cannot be bound or a signal handler that cannot be installed.
pub async fn run(options: Options) -> anyhow::Result<()> {
    let addr = SocketAddr::new(options.sip_global.bind_address, options.sip_global.port);
    let udp = UdpSocket::bind(addr)
        .await
        .with_context(|| format!("cannot bind SIP UDP on {addr} (sip_global.port)"))?;
    let tcp_listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot bind SIP TCP on {addr} (sip_global.port)"))?;
    let mut sigterm = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut sigint = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;

    let mut engine = Engine::new(EngineConfig::default(), os_seed());
    let (conn_tx, mut conn_rx) = mpsc::channel::<ConnEvent>(1024);
    let mut conns: HashMap<ConnectionId, ConnHandle> = HashMap::new();
    let mut next_conn = 0u64;
    let (stdin_tx, mut stdin_rx) = mpsc::channel::<StdinEvent>(64);
    let stdin_task = tokio::spawn(stdin::read_lines(stdin_tx));
    let mut stdin_open = true;

    tracing::info!(udp = %addr, tcp = %addr, "SIP ready");
    let mut buf = vec![0u8; 65_536];
    loop {
        tokio::select! {
            r = udp.recv_from(&mut buf) => match r {
                Ok((n, from)) => {
                    let data = Bytes::copy_from_slice(&buf[..n]);
                    trace_message("recv", Transport::Udp, from, &data);
                    let peer = Peer { transport: Transport::Udp, addr: from, connection: None };
                    engine.handle_sip(Instant::now(), peer, data);
                }
                // ICMP errors from earlier sends surface here on Linux; they are not fatal.
                Err(e) => tracing::debug!(error = %e, "UDP receive error"),
            },
            r = tcp_listener.accept() => match r {
                Ok((stream, from)) => {
                    next_conn += 1;
                    let id = ConnectionId(next_conn);
                    let _ = stream.set_nodelay(true);
                    conns.insert(id, tcp::spawn(id, stream, from, conn_tx.clone()));
                    tracing::debug!(%from, conn = id.0, "TCP connection accepted");
                }
                Err(e) => tracing::warn!(error = %e, "TCP accept failed"),
            },
            Some(ev) = conn_rx.recv() => match ev {
                ConnEvent::Frame { id, from, data } => {
                    trace_message("recv", Transport::Tcp, from, &data);
                    let peer = Peer { transport: Transport::Tcp, addr: from, connection: Some(id) };
                    engine.handle_sip(Instant::now(), peer, data);
                }
                ConnEvent::Closed { id } => {
                    conns.remove(&id);
                }
            },
            ev = stdin_rx.recv(), if stdin_open => match ev {
                Some(StdinEvent::Line(line)) => stdin::handle_line(&line),
                Some(StdinEvent::TooLong) => tracing::error!(
                    limit = stdin::MAX_LINE,
                    "stdin: command line too long, ignored"
                ),
                None => {
                    // EOF: the Supervisor may not attach stdin; keep running.
                    tracing::debug!("stdin closed");
                    stdin_open = false;
                }
            },
            _ = sigterm.recv() => { tracing::info!("SIGTERM: shutting down"); break; }
            _ = sigint.recv() => { tracing::info!("SIGINT: shutting down"); break; }
        }
        while let Some(out) = engine.poll_output() {
            match out {
                Output::Transmit(t) => transmit(&udp, &conns, t).await,
                other => tracing::warn!(?other, "output not handled by this shell"),
            }
        }
    }
    stdin_task.abort();
    for (_, c) in conns.drain() {
        c.close();
    }
    tracing::info!("stopped");
    Ok(())
}

async fn transmit(udp: &UdpSocket, conns: &HashMap<ConnectionId, ConnHandle>, t: Transmit) {
    trace_message("send", t.to.transport, t.to.addr, &t.payload);
    match (t.to.transport, t.to.connection) {
        (Transport::Udp, _) => {
            if let Err(e) = udp.send_to(&t.payload, t.to.addr).await {
                tracing::warn!(to = %t.to.addr, error = %e, "UDP send failed");
            }
        }
        (_, Some(id)) => match conns.get(&id) {
            Some(c) => c.send(t.payload),
            None => tracing::debug!(to = %t.to.addr, "connection gone, message dropped"),
        },
        (transport, None) => {
            tracing::warn!(to = %t.to.addr, %transport, "no connection to send on");
        }
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
