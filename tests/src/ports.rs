//! Free loopback ports, chosen per test so that tests (and test binaries) run in parallel.

use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};

/// Ports come from 20000–31999, below Linux's ephemeral range, so that the kernel does not
/// hand them to other sockets between our check and the peer's bind.
const FIRST: u32 = 20_000;
const SPAN: u32 = 12_000;

static NEXT: AtomicU32 = AtomicU32::new(0);

fn candidate() -> u16 {
    // Each process starts at a different offset (its pid), then walks forward.
    let n = NEXT.fetch_add(7, Ordering::Relaxed);
    let base = std::process::id().wrapping_mul(131);
    (FIRST + (base.wrapping_add(n)) % SPAN) as u16
}

fn free(port: u16) -> bool {
    let a = (Ipv4Addr::LOCALHOST, port);
    UdpSocket::bind(a).is_ok() && TcpListener::bind(a).is_ok()
}

/// A port free on 127.0.0.1 for both UDP and TCP.
///
/// # Panics
/// When no free port is found after many tries (the machine is out of ports).
pub fn free_port() -> u16 {
    free_ports(1)
}

/// The first of `n` consecutive ports, all free for UDP and TCP (RTP needs pairs).
///
/// # Panics
/// When no such run is found after many tries.
pub fn free_ports(n: u16) -> u16 {
    for _ in 0..2000 {
        let p = candidate();
        if u32::from(p) + u32::from(n) >= FIRST + SPAN {
            continue;
        }
        if (0..n).all(|i| free(p + i)) {
            // Skip past this run so that the next caller in this process does not get it.
            NEXT.fetch_add(u32::from(n), Ordering::Relaxed);
            return p;
        }
    }
    panic!("no free loopback port found");
}
