//! One task per TCP connection: it frames what it reads (Content-Length, keep-alives) and
//! passes whole messages to the loop, and writes what the loop sends it.

use std::net::SocketAddr;

use bytes::Bytes;
use hasip_sip::message::Limits;
use hasip_sip::message::framing::{Frame, PONG, StreamFramer};
use hasip_sip::transport::ConnectionId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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

pub(crate) fn spawn(
    id: ConnectionId,
    stream: TcpStream,
    from: SocketAddr,
    events: mpsc::Sender<ConnEvent>,
) -> ConnHandle {
    let (tx, rx) = mpsc::channel(256);
    let task = tokio::spawn(serve(id, stream, from, events, rx));
    ConnHandle { tx, task }
}

async fn serve(
    id: ConnectionId,
    stream: TcpStream,
    from: SocketAddr,
    events: mpsc::Sender<ConnEvent>,
    mut outgoing: mpsc::Receiver<Bytes>,
) {
    let (mut rd, mut wr) = stream.into_split();
    let mut framer = StreamFramer::new(Limits::DEFAULT.max_message);
    let mut buf = vec![0u8; 16 * 1024];
    'conn: loop {
        tokio::select! {
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
                            if events.send(ConnEvent::Frame { id, from, data }).await.is_err() {
                                break 'conn;
                            }
                        }
                        Ok(Frame::Ping) => {
                            if wr.write_all(PONG).await.is_err() {
                                break 'conn;
                            }
                        }
                        Ok(Frame::Pong) => {}
                        Err(e) => {
                            tracing::warn!(%from, error = %e, "TCP stream cannot be framed, closing");
                            break 'conn;
                        }
                    }
                }
            }
            msg = outgoing.recv() => match msg {
                Some(data) => {
                    if let Err(e) = wr.write_all(&data).await {
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
