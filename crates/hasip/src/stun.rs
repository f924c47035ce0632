//! STUN on a UDP socket: runs a [`hasip_sip::stun::Binding`] against the configured
//! server (`--stun-server`) to learn the public address of the SIP socket (at start) or of
//! a call's RTP socket (before its SDP is written).

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use hasip_sip::stun::{Binding, DEFAULT_PORT, StunError};
use tokio::net::UdpSocket;

/// A datagram that arrived during the binding but was not its answer (SIP on the SIP
/// socket): the caller handles it afterwards.
pub(crate) type Stray = (bytes::Bytes, SocketAddr);

/// Resolves `--stun-server HOST[:PORT]` (port 3478 by default; `[v6]:port` for IPv6).
pub(crate) async fn resolve(server: &str) -> Result<SocketAddr, String> {
    let server = server.trim();
    if let Ok(a) = server.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = server.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, DEFAULT_PORT));
    }
    let (host, port) = match server.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("--stun-server {server:?}: {p:?} is not a port"))?,
        ),
        None => (server, DEFAULT_PORT),
    };
    tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("--stun-server {server:?}: cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("--stun-server {server:?}: {host} has no address"))
}

/// Asks `server` which address `sock` is seen from. Datagrams from anyone else that
/// arrive meanwhile are returned, not lost.
pub(crate) async fn mapped_address(
    sock: &UdpSocket,
    server: SocketAddr,
    transaction: [u8; 12],
) -> (Result<SocketAddr, StunError>, Vec<Stray>) {
    let mut binding = Binding::new(Instant::now(), transaction);
    let mut strays = Vec::new();
    let mut buf = vec![0u8; 1500];
    loop {
        if let Some(r) = binding.result() {
            return (r.clone(), strays);
        }
        while let Some(req) = binding.poll_transmit() {
            if let Err(e) = sock.send_to(&req, server).await {
                tracing::debug!(%server, error = %e, "STUN request not sent");
            }
        }
        let Some(at) = binding.poll_timeout() else {
            continue;
        };
        tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
                Ok((n, from)) => {
                    let data = &buf[..n];
                    if !(from == server && binding.handle_input(data)) && strays.len() < 64 {
                        strays.push((bytes::Bytes::copy_from_slice(data), from));
                    }
                }
                // ICMP port unreachable from the server surfaces here; keep retrying.
                Err(e) => tracing::debug!(%server, error = %e, "STUN receive error"),
            },
            () = tokio::time::sleep_until(tokio::time::Instant::from_std(at)) => {
                binding.handle_timeout(Instant::now());
            }
        }
    }
}
