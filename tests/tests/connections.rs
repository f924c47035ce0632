//! Bounded connections (issue 21): thousands of TCP connections that never speak, and
//! hundreds that send half a request, leave the gateway's descriptors and memory bounded;
//! OPTIONS over UDP and over a new TCP connection are still answered meanwhile; the silent
//! and half-sent ones are closed once their first message is overdue.

#![allow(clippy::print_stderr)] // the figures (descriptors, RSS) go to the test's stderr

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use hasip_tests::gateway::Gateway;
use hasip_tests::raw;
use hasip_tests::wait_for;
use hasip_tests::workdir::WorkDir;
use serde_json::json;

/// The gateway's caps (crates/hasip/src/shell.rs): connections from peers, and from one
/// address.
const MAX_ACCEPTED: usize = 500;
const MAX_PER_SOURCE: usize = 32;
/// tcp.rs: a connection's first message must be complete within this.
const FIRST_MESSAGE: Duration = Duration::from_secs(10);

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// True when the gateway has closed `s` (a read gives end of file or a reset).
fn closed_by_peer(s: &mut TcpStream) -> bool {
    let _ = s.set_nonblocking(true);
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    }
}

fn source(i: usize) -> IpAddr {
    // 127.0.1.1 ... : a few hundred "hosts", each under the per-source cap.
    IpAddr::V4(Ipv4Addr::new(
        127,
        0,
        1 + (i / 250) as u8,
        1 + (i % 250) as u8,
    ))
}

fn options_answered(gw: &Gateway, name: &str) {
    let udp = raw::udp_exchange(
        gw.sip,
        &raw::options(gw.sip, "UDP", &format!("{name}-udp")),
        Duration::from_secs(2),
    );
    assert_eq!(
        udp.as_deref().and_then(raw::status),
        Some(200),
        "{name}: UDP"
    );
    let tcp = raw::tcp_exchange(
        gw.sip,
        &raw::options(gw.sip, "TCP", &format!("{name}-tcp")),
        Duration::from_secs(2),
    );
    assert_eq!(
        tcp.as_deref().and_then(raw::status),
        Some(200),
        "{name}: a new TCP connection"
    );
}

#[test]
fn silent_and_half_sent_connections_stay_bounded_and_are_closed_in_time() {
    let dir = WorkDir::new("connections-bounded");
    let options = json!({
        "sip_global": {"log_level": 3},
        "sip": {"enabled": true, "registrar_uri": "", "id_uri": "sip:hasip@127.0.0.1",
                "answer_mode": "listen", "settle_time": 0}
    });
    let mut gw = Gateway::start_with(&dir, Some(&options), &[]);
    options_answered(&gw, "before");
    let pid = gw.process().pid();
    let (rss0, fds0) = (rss_kib(pid), fds(pid));

    // 200 half-sent requests from 10 hosts (20 each), then 5,000 silent connections from
    // 400 more, plus 100 from one host (more than its cap of 32).
    let mut open: Vec<TcpStream> = Vec::new();
    let started = Instant::now();
    let mut attempts = 0usize;
    for i in 0..200 {
        let Ok(mut s) =
            raw::tcp_connect_from(source(1000 + i % 10), gw.sip, Duration::from_secs(2))
        else {
            continue;
        };
        attempts += 1;
        let _ = s.write_all(
            format!("INVITE sip:hasip@{} SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKh{i}\r\nContent-Len", gw.sip)
                .as_bytes(),
        );
        open.push(s);
    }
    for i in 0..5_000 {
        if let Ok(s) = raw::tcp_connect_from(source(i % 400), gw.sip, Duration::from_secs(2)) {
            attempts += 1;
            open.push(s);
        }
        if i % 100 == 99 {
            // Let go of what the gateway closed, so this process's descriptors stay few.
            open.retain_mut(|s| !closed_by_peer(s));
        }
    }
    let spent = started.elapsed();
    assert!(
        attempts >= 5_000,
        "only {attempts} connections could be made"
    );
    // The gateway closes what passes its cap as it accepts it: wait for that.
    let within = wait_for(Duration::from_secs(5), Duration::from_millis(100), || {
        open.retain_mut(|s| !closed_by_peer(s));
        (open.len() <= MAX_ACCEPTED).then_some(())
    });
    assert!(
        within.is_some(),
        "{} connections are open, more than the cap of {MAX_ACCEPTED}",
        open.len()
    );
    let (rss1, fds1) = (rss_kib(pid), fds(pid));
    eprintln!(
        "{attempts} connections in {spent:?}: the gateway holds {} descriptors (was {fds0}), \
         RSS {rss1} KiB (was {rss0}); {} still open here",
        fds1,
        open.len()
    );
    assert!(
        fds1 <= fds0 + MAX_ACCEPTED + 2,
        "descriptors: {fds1} (was {fds0}; cap {MAX_ACCEPTED})"
    );
    assert!(
        rss1 <= rss0 + 8 * 1024,
        "RSS grew from {rss0} KiB to {rss1} KiB"
    );
    // One host never gets more than its share, even when it opens 100.
    let mut one_host: Vec<TcpStream> = (0..100)
        .filter_map(|_| raw::tcp_connect_from(source(900), gw.sip, Duration::from_secs(2)).ok())
        .collect();
    let capped = wait_for(Duration::from_secs(5), Duration::from_millis(100), || {
        one_host.retain_mut(|s| !closed_by_peer(s));
        (one_host.len() <= MAX_PER_SOURCE).then_some(())
    });
    assert!(
        capped.is_some(),
        "one host holds {} connections",
        one_host.len()
    );
    assert_eq!(
        one_host.len(),
        MAX_PER_SOURCE,
        "the first {MAX_PER_SOURCE} are kept"
    );
    open.append(&mut one_host);
    let log = gw.log_text();
    assert!(log.contains("connection refused: at most"), "{log}");
    // Still answering, over UDP and over a new connection (which takes a silent one's place).
    options_answered(&gw, "during");

    // The first-message deadline closes every silent and half-sent connection.
    let drained = wait_for(
        FIRST_MESSAGE + Duration::from_secs(5),
        Duration::from_millis(200),
        || {
            open.retain_mut(|s| !closed_by_peer(s));
            (open.is_empty() && fds(pid) <= fds0 + 2).then_some(())
        },
    );
    assert!(
        drained.is_some(),
        "{} connections still open after {FIRST_MESSAGE:?}; the gateway holds {} descriptors (was {fds0})",
        open.len(),
        fds(pid)
    );
    options_answered(&gw, "after");
    assert!(gw.is_running(), "{}", gw.log_text());
}
