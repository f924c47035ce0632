//! RTP sockets and recording files: the shell's half of the media.
//!
//! Each call has one UDP socket. A small task per socket waits for datagrams and passes
//! them to the event loop over one shared channel (the buffer is reused once the loop has
//! handled a packet, so steady-state receiving allocates nothing); sending happens on the
//! loop itself with a non-blocking `sendto`, which never waits. Recording frames are
//! written to a buffered WAV file on the loop: 1.3 KB per call per 20 ms, flushed once a
//! second.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use hasip_audio::{Layout, WavWriter};
use hasip_engine::{CallKey, MediaIo};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The largest RTP datagram taken; larger ones are truncated (and then fail to parse).
const MAX_DATAGRAM: usize = 1500;

/// A datagram that arrived on a call's RTP socket.
#[derive(Debug)]
pub(crate) struct RtpIn {
    pub call: CallKey,
    pub from: SocketAddr,
    pub data: Bytes,
}

/// One call's RTP socket and its receive task.
#[derive(Debug)]
pub(crate) struct RtpSocket {
    sock: Arc<UdpSocket>,
    task: JoinHandle<()>,
}

impl Drop for RtpSocket {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds a UDP socket for RTP: a port from `range` (even ports first, as RTP wants, then
/// odd ones), or any port when `range` is `None`.
fn bind(ip: IpAddr, range: Option<&RangeInclusive<u16>>, start: u16) -> std::io::Result<UdpSocket> {
    let try_port = |port: u16| {
        std::net::UdpSocket::bind((ip, port)).and_then(|s| {
            s.set_nonblocking(true)?;
            UdpSocket::from_std(s)
        })
    };
    let Some(range) = range else {
        return try_port(0);
    };
    let (lo, hi) = (*range.start(), *range.end());
    let span = u32::from(hi - lo) + 1;
    let offset = u32::from(start) % span;
    let mut last = std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        format!("no free UDP port in {lo}-{hi}"),
    );
    for parity in [0u32, 1] {
        for i in 0..span {
            let p = lo as u32 + (offset + i) % span;
            if p % 2 != parity {
                continue;
            }
            match u16::try_from(p).map(try_port) {
                Ok(Ok(s)) => return Ok(s),
                Ok(Err(e)) => last = e,
                Err(_) => {}
            }
        }
    }
    Err(last)
}

/// Binds the call's socket and starts its receive task.
pub(crate) fn open(
    call: CallKey,
    ip: IpAddr,
    range: Option<&RangeInclusive<u16>>,
    tx: mpsc::Sender<RtpIn>,
) -> std::io::Result<(SocketAddr, RtpSocket)> {
    start(call, bind_for(call, ip, range)?, tx)
}

/// Binds the call's socket without receiving yet (a STUN binding runs on it first).
pub(crate) fn bind_for(
    call: CallKey,
    ip: IpAddr,
    range: Option<&RangeInclusive<u16>>,
) -> std::io::Result<UdpSocket> {
    let start = u16::try_from(call.0.wrapping_mul(2) % 65_536).unwrap_or(0);
    bind(ip, range, start)
}

/// Starts the receive task of a socket [`bind_for`] made.
pub(crate) fn start(
    call: CallKey,
    sock: UdpSocket,
    tx: mpsc::Sender<RtpIn>,
) -> std::io::Result<(SocketAddr, RtpSocket)> {
    let sock = Arc::new(sock);
    let addr = sock.local_addr()?;
    let task = tokio::spawn(receive(call, Arc::clone(&sock), tx));
    Ok((addr, RtpSocket { sock, task }))
}

async fn receive(call: CallKey, sock: Arc<UdpSocket>, tx: mpsc::Sender<RtpIn>) {
    let mut buf = BytesMut::with_capacity(MAX_DATAGRAM);
    loop {
        // Reclaims the previous packet's memory once the loop has dropped it.
        buf.clear();
        buf.reserve(MAX_DATAGRAM);
        match sock.recv_buf_from(&mut buf).await {
            Ok((_, from)) => {
                let data = buf.split().freeze();
                if tx.send(RtpIn { call, from, data }).await.is_err() {
                    return;
                }
            }
            // ICMP port unreachable from an earlier send surfaces here on Linux.
            Err(e) => tracing::trace!(call = call.0, error = %e, "RTP receive error"),
        }
    }
}

/// A recording in progress.
pub(crate) struct Recorder {
    writer: WavWriter<BufWriter<File>>,
    path: String,
    failed: bool,
}

impl Recorder {
    /// Creates (or overwrites) `path` as a WAV at `rate`: stereo puts the remote party
    /// left and our side right, mono mixes both.
    pub(crate) fn create(
        path: &str,
        rate: u32,
        channels: hasip_engine::RecordingChannels,
    ) -> Result<Self, String> {
        let p = std::path::Path::new(path);
        if let Some(dir) = p.parent()
            && !dir.as_os_str().is_empty()
            && !dir.is_dir()
        {
            return Err(format!(
                "Call recordings directory not found: {}",
                dir.display()
            ));
        }
        let file = File::create(p).map_err(|e| format!("cannot create {path}: {e}"))?;
        let layout = match channels {
            hasip_engine::RecordingChannels::Stereo => Layout::Stereo,
            hasip_engine::RecordingChannels::Mono => Layout::Mono,
        };
        let writer = WavWriter::new(BufWriter::new(file), rate, layout)
            .map_err(|e| format!("cannot write {path}: {e}"))?;
        Ok(Self {
            writer,
            path: path.to_owned(),
            failed: false,
        })
    }

    /// Finishes the header and closes the file.
    pub(crate) fn finish(self) {
        let path = self.path;
        match self.writer.finish() {
            Ok(mut w) => {
                if let Err(e) = std::io::Write::flush(&mut w) {
                    tracing::error!(file = %path, error = %e, "recording not completely written");
                }
            }
            Err(e) => tracing::error!(file = %path, error = %e, "recording not completely written"),
        }
    }
}

/// The engine's media outputs, performed on the loop.
pub(crate) struct Sink<'a> {
    pub sockets: &'a HashMap<CallKey, RtpSocket>,
    pub recorders: &'a mut HashMap<CallKey, Recorder>,
    /// Datagrams the kernel did not take (socket buffer full).
    pub dropped: &'a mut u64,
    /// Browsers talking in calls: each gets its call's received audio.
    pub talks: &'a HashMap<CallKey, (String, crate::talk::Talk)>,
    /// Calls that run Assist: their turns and audio go to Home Assistant.
    pub assists: &'a mut crate::assist::Links,
}

impl MediaIo for Sink<'_> {
    fn send(&mut self, call: CallKey, to: SocketAddr, payload: &[u8]) {
        let Some(s) = self.sockets.get(&call) else {
            return;
        };
        // Straight to the kernel, not through tokio's `try_send_to`: that one answers
        // WouldBlock without trying until the reactor has once seen the socket writable,
        // which a socket bound moments ago may not have been yet — the first packet of a
        // call's first prompt was lost that way whenever the ACK came in before the loop
        // next polled the reactor. The socket is non-blocking, so a full buffer is still
        // WouldBlock.
        match socket2::SockRef::from(&*s.sock).send_to(payload, &to.into()) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => *self.dropped += 1,
            Err(e) => tracing::trace!(call = call.0, %to, error = %e, "RTP send failed"),
        }
    }

    fn talk(&mut self, call: CallKey, remote: &[i16], rate: u32) {
        if let Some((_, t)) = self.talks.get(&call) {
            t.send(remote, rate);
        }
    }

    fn assist(&mut self, call: CallKey, tap: hasip_engine::AssistTap<'_>) {
        self.assists.tap(call, tap);
    }

    fn record(&mut self, call: CallKey, remote: &[i16], local: &[i16], _rate: u32) {
        let Some(r) = self.recorders.get_mut(&call) else {
            return;
        };
        if r.failed {
            return;
        }
        if let Err(e) = r.writer.write_sides(remote, local) {
            tracing::error!(call = call.0, file = %r.path, error = %e, "recording stopped: cannot write");
            r.failed = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The first packet of a call goes out even when the loop has not polled the reactor
    /// since the socket was bound (an ACK right behind the INVITE): it once counted as
    /// "dropped" without being tried, and prompts lost their first 20 ms now and then.
    #[tokio::test(flavor = "current_thread")]
    async fn a_socket_bound_moments_ago_sends_its_first_packet() {
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind the peer");
        peer.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("read timeout");
        let to = peer.local_addr().expect("peer address");
        let (tx, _rx) = mpsc::channel(4);
        let call = CallKey(7);
        let (_, sock) = open(call, IpAddr::from([127, 0, 0, 1]), None, tx).expect("bind RTP");
        let sockets = HashMap::from([(call, sock)]);
        let (mut recorders, mut dropped) = (HashMap::new(), 0);
        // No await between binding and sending: the reactor has not seen the socket yet.
        Sink {
            sockets: &sockets,
            recorders: &mut recorders,
            dropped: &mut dropped,
            talks: &HashMap::new(),
            assists: &mut crate::assist::Links::new(mpsc::channel(1).0),
        }
        .send(call, to, b"first packet");
        assert_eq!(dropped, 0, "the packet was not even tried");
        let mut buf = [0u8; 64];
        let (n, _) = peer.recv_from(&mut buf).expect("the first packet arrives");
        assert_eq!(&buf[..n], b"first packet");
    }
}
