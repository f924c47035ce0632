//! One task per TCP or TLS connection: it frames what it reads (Content-Length,
//! keep-alives) and passes whole messages to the loop, and writes what the loop sends it.
//! Outgoing connections are made inside the task (TCP connect, then the TLS handshake), so
//! a slow or unreachable peer never holds up the loop; what the loop sends meanwhile waits
//! in the connection's queue.

use std::net::SocketAddr;

use bytes::Bytes;
use hasip_sip::message::Limits;
use hasip_sip::message::framing::{Frame, PONG, StreamFramer};
use hasip_sip::transport::ConnectionId;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What a connection reports to the loop.
#[derive(Debug)]
pub(crate) enum ConnEvent {
    Frame {
        id: ConnectionId,
        from: SocketAddr,
        data: Bytes,
    },
    Closed {
        id: ConnectionId,
    },
    /// An outgoing connection could not be made (connect or TLS handshake failed).
    ConnectFailed {
        id: ConnectionId,
    },
    /// A connection a peer opened has been quiet for [`IDLE_LIFETIME`]: the loop closes it
    /// unless a call or transaction still uses it.
    Idle {
        id: ConnectionId,
    },
}

/// The loop's handle on a connection.
#[derive(Debug)]
pub(crate) struct ConnHandle {
    tx: mpsc::Sender<Bytes>,
    task: JoinHandle<()>,
}

impl ConnHandle {
    /// Queues bytes for the connection; a full queue means the peer does not read, and the
    /// message is dropped rather than blocking every other call.
    pub(crate) fn send(&self, data: Bytes) {
        if self.tx.try_send(data).is_err() {
            tracing::warn!("TCP connection not draining, message dropped");
        }
    }

    pub(crate) fn close(self) {
        self.task.abort();
    }
}

/// How long a connect (and a TLS handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection a peer opened must complete its first SIP message within this time (a TLS
/// handshake counts in): one that sends nothing, or half a request, is closed.
pub(crate) const FIRST_MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection a peer opened that carries nothing for this long is offered to the loop for
/// closing (kamailio's default lifetime). Connections we opened (to a registrar or proxy,
/// which carry the registration and the calls it brings) are never closed for idleness.
pub(crate) const IDLE_LIFETIME: Duration = Duration::from_secs(120);
/// The read buffer of a connection (the framer keeps what a message needs beyond it).
const READ_BUFFER: usize = 4 * 1024;

/// Serves a connection a peer opened to us.
pub(crate) fn spawn(
    id: ConnectionId,
    stream: TcpStream,
    from: SocketAddr,
    events: mpsc::Sender<ConnEvent>,
) -> ConnHandle {
    let (tx, rx) = mpsc::channel(256);
    let task = tokio::spawn(serve(id, stream, from, events, rx, Some(Instant::now())));
    ConnHandle { tx, task }
}

/// Serves a TLS connection a peer opened to our TLS listener, once the handshake is done
/// (a failed or slow handshake closes it).
pub(crate) fn accept_tls(
    id: ConnectionId,
    stream: TcpStream,
    from: SocketAddr,
    acceptor: tokio_rustls::TlsAcceptor,
    events: mpsc::Sender<ConnEvent>,
) -> ConnHandle {
    let (tx, rx) = mpsc::channel(256);
    let task = tokio::spawn(async move {
        let accepted = Instant::now();
        match tokio::time::timeout(CONNECT_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(s)) => {
                tracing::debug!(%from, "TLS connection accepted");
                serve(id, s, from, events, rx, Some(accepted)).await;
            }
            Ok(Err(e)) => {
                tracing::warn!(%from, error = %e, "TLS handshake with a client failed");
                let _ = events.send(ConnEvent::Closed { id }).await;
            }
            Err(_) => {
                tracing::warn!(%from, "TLS handshake with a client timed out");
                let _ = events.send(ConnEvent::Closed { id }).await;
            }
        }
    });
    ConnHandle { tx, task }
}

/// TLS for an outgoing connection: the client configuration and the name to check.
pub(crate) type TlsTarget = (
    Arc<rustls::ClientConfig>,
    rustls::pki_types::ServerName<'static>,
);

/// Opens a connection to `to` (TLS when `tls` is given) and serves it.
pub(crate) fn connect(
    id: ConnectionId,
    to: SocketAddr,
    tls: Option<TlsTarget>,
    events: mpsc::Sender<ConnEvent>,
) -> ConnHandle {
    let (tx, rx) = mpsc::channel(256);
    let task = tokio::spawn(async move {
        let what = if tls.is_some() { "TLS" } else { "TCP" };
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(to)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::warn!(%to, error = %e, "{what} connect failed");
                let _ = events.send(ConnEvent::ConnectFailed { id }).await;
                return;
            }
            Err(_) => {
                tracing::warn!(%to, "{what} connect timed out");
                let _ = events.send(ConnEvent::ConnectFailed { id }).await;
                return;
            }
        };
        let _ = stream.set_nodelay(true);
        match tls {
            None => serve(id, stream, to, events, rx, None).await,
            Some((config, name)) => {
                let connector = tokio_rustls::TlsConnector::from(config);
                match tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, stream)).await {
                    Ok(Ok(s)) => {
                        tracing::debug!(%to, "TLS connection up");
                        serve(id, s, to, events, rx, None).await;
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(%to, error = %e, "TLS handshake failed");
                        let _ = events.send(ConnEvent::ConnectFailed { id }).await;
                    }
                    Err(_) => {
                        tracing::warn!(%to, "TLS handshake timed out");
                        let _ = events.send(ConnEvent::ConnectFailed { id }).await;
                    }
                }
            }
        }
    });
    ConnHandle { tx, task }
}

/// Reads and writes one connection until it closes. `accepted` is when a peer opened it
/// (`None`: we did), which puts it under [`FIRST_MESSAGE_TIMEOUT`] and [`IDLE_LIFETIME`].
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    id: ConnectionId,
    stream: S,
    from: SocketAddr,
    events: mpsc::Sender<ConnEvent>,
    mut outgoing: mpsc::Receiver<Bytes>,
    accepted: Option<Instant>,
) {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut framer = StreamFramer::new(Limits::DEFAULT.max_message);
    let mut buf = vec![0u8; READ_BUFFER];
    let mut got_message = false;
    // The next check: the first message's deadline, then the idle lifetime.
    let mut deadline = accepted.map(|t| t + FIRST_MESSAGE_TIMEOUT);
    'conn: loop {
        tokio::select! {
            () = sleep_until(deadline) => {
                if !got_message {
                    tracing::debug!(%from, "no complete SIP message in time, closing");
                    break;
                }
                // Quiet for the idle lifetime: the loop decides (a call may still use it).
                if events.send(ConnEvent::Idle { id }).await.is_err() {
                    break;
                }
                deadline = Some(Instant::now() + IDLE_LIFETIME);
            }
            r = rd.read(&mut buf) => {
                let n = match r {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) => {
                        tracing::debug!(%from, error = %e, "TCP read failed");
                        break;
                    }
                };
                framer.push(&buf[..n]);
                while let Some(frame) = framer.next_frame() {
                    match frame {
                        Ok(Frame::Message(data)) => {
                            got_message = true;
                            if accepted.is_some() {
                                deadline = Some(Instant::now() + IDLE_LIFETIME);
                            }
                            if events.send(ConnEvent::Frame { id, from, data }).await.is_err() {
                                break 'conn;
                            }
                        }
                        Ok(Frame::Ping) => {
                            // A keep-alive keeps an established connection (RFC 5626).
                            if got_message && accepted.is_some() {
                                deadline = Some(Instant::now() + IDLE_LIFETIME);
                            }
                            if wr.write_all(PONG).await.is_err() || wr.flush().await.is_err() {
                                break 'conn;
                            }
                        }
                        Ok(Frame::Pong) => tracing::debug!(%from, "keep-alive answered (pong)"),
                        Err(e) => {
                            tracing::warn!(%from, error = %e, "TCP stream cannot be framed, closing");
                            break 'conn;
                        }
                    }
                }
            }
            msg = outgoing.recv() => match msg {
                Some(data) => {
                    if got_message && accepted.is_some() {
                        deadline = Some(Instant::now() + IDLE_LIFETIME);
                    }
                    if let Err(e) = async { wr.write_all(&data).await?; wr.flush().await }.await {
                        tracing::debug!(%from, error = %e, "TCP write failed");
                        break;
                    }
                }
                None => break,
            },
        }
    }
    let _ = events.send(ConnEvent::Closed { id }).await;
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}
