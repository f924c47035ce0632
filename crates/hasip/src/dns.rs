//! DNS for SIP hosts (RFC 3263 §4.2): with `sip_global.name_server` set (ha-sip's option:
//! "must be set if the SIP server must be resolved via SRV record"), an SRV query for the
//! host, then A records (AAAA when a name has none), sent to those servers over UDP and
//! asked again over TCP when the answer comes back truncated (RFC 7766); without it, the
//! system resolver (A/AAAA only, as ha-sip did).
//!
//! The client is small on purpose: one question per query, answers parsed with bounds
//! checks on every read (a malformed answer is an error, never a panic), compression
//! pointers followed at most 16 deep.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpStream, UdpSocket};

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const TYPE_SRV: u16 = 33;
/// How long one server may take for one query.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// `sip_global.name_server`: a comma list of `ip` or `ip:port` (port 53 by default).
///
/// # Errors
/// An entry that is not an address, named.
pub(crate) fn parse_servers(text: &str) -> Result<Vec<SocketAddr>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<SocketAddr>()
                .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                .map_err(|_| {
                    format!(
                        "sip_global.name_server: {s:?} is not an IP address (e.g. \"192.168.1.1\" or \"192.168.1.1:53\")"
                    )
                })
        })
        .collect()
}

/// An SRV record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

/// What an answer held that we can use.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Answer {
    pub srv: Vec<Srv>,
    /// A and AAAA records by owner name (from the answer and additional sections), in the
    /// order they came.
    pub a: Vec<(String, IpAddr)>,
    /// The server cut the answer to fit UDP (TC): ask again over TCP.
    pub truncated: bool,
}

impl Answer {
    /// The first address of `name` (an IPv4 one if there is one).
    fn address_of(&self, name: &str) -> Option<IpAddr> {
        let of = || self.a.iter().filter(|(n, _)| n == name).map(|(_, ip)| *ip);
        of().find(IpAddr::is_ipv4).or_else(|| of().next())
    }
}

pub(crate) fn query(id: u16, name: &str, qtype: u16) -> Option<Vec<u8>> {
    let mut q = Vec::with_capacity(name.len() + 18);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00]); // RD
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // one question
    for label in name.trim_end_matches('.').split('.') {
        let len = u8::try_from(label.len())
            .ok()
            .filter(|l| (1..=63).contains(l))?;
        q.push(len);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes()); // IN
    Some(q)
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Reads a (possibly compressed) name at `at`; returns it and the position after it.
fn name_at(b: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut end = None;
    for _ in 0..16 {
        loop {
            let len = *b.get(at)?;
            match len {
                0 => {
                    return Some((out, end.unwrap_or(at + 1)));
                }
                l if l & 0xC0 == 0xC0 => {
                    let ptr = usize::from(u16_at(b, at)? & 0x3FFF);
                    end.get_or_insert(at + 2);
                    at = ptr;
                    break;
                }
                l if l < 64 => {
                    let label = b.get(at + 1..at + 1 + usize::from(l))?;
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(&String::from_utf8_lossy(label).to_ascii_lowercase());
                    at += 1 + usize::from(l);
                }
                _ => return None,
            }
        }
    }
    None
}

/// Parses a response to query `id`.
pub(crate) fn parse(b: &[u8], id: u16) -> Option<Answer> {
    if u16_at(b, 0)? != id || b.get(2)? & 0x80 == 0 {
        return None;
    }
    let rcode = b.get(3)? & 0x0F;
    let qd = u16_at(b, 4)?;
    let records = u16_at(b, 6)?
        .checked_add(u16_at(b, 8)?)?
        .checked_add(u16_at(b, 10)?)?;
    let mut at = 12;
    for _ in 0..qd {
        at = name_at(b, at)?.1 + 4;
    }
    let mut ans = Answer {
        truncated: b.get(2)? & 0x02 != 0,
        ..Answer::default()
    };
    if rcode != 0 {
        return Some(ans);
    }
    for _ in 0..records {
        let (owner, next) = name_at(b, at)?;
        let rtype = u16_at(b, next)?;
        let rdlen = usize::from(u16_at(b, next + 8)?);
        let rdata = next + 10;
        b.get(rdata..rdata + rdlen)?;
        match rtype {
            TYPE_A if rdlen == 4 => {
                let octets: [u8; 4] = b.get(rdata..rdata + 4)?.try_into().ok()?;
                ans.a.push((owner, IpAddr::V4(Ipv4Addr::from(octets))));
            }
            TYPE_AAAA if rdlen == 16 => {
                let octets: [u8; 16] = b.get(rdata..rdata + 16)?.try_into().ok()?;
                ans.a.push((owner, IpAddr::V6(Ipv6Addr::from(octets))));
            }
            TYPE_SRV if rdlen >= 7 => {
                ans.srv.push(Srv {
                    priority: u16_at(b, rdata)?,
                    weight: u16_at(b, rdata + 2)?,
                    port: u16_at(b, rdata + 4)?,
                    target: name_at(b, rdata + 6)?.0,
                });
            }
            _ => {}
        }
        at = rdata + rdlen;
    }
    Some(ans)
}

async fn ask(servers: &[SocketAddr], name: &str, qtype: u16, id: u16) -> Option<Answer> {
    let q = query(id, name, qtype)?;
    for server in servers {
        let got = match tokio::time::timeout(QUERY_TIMEOUT, ask_udp(*server, &q, id)).await {
            Ok(Some(a)) if a.truncated => {
                match tokio::time::timeout(QUERY_TIMEOUT, ask_tcp(*server, &q, id))
                    .await
                    .ok()
                    .flatten()
                {
                    Some(full) => {
                        tracing::info!(%server, name, srv_records = full.srv.len(), "DNS answer too large for UDP: read again over TCP");
                        Some(full)
                    }
                    // A server without TCP: what fitted is still an answer.
                    None => {
                        tracing::warn!(%server, name, "DNS answer too large for UDP and not to be had over TCP: using what fitted");
                        Some(a)
                    }
                }
            }
            Ok(a) => a,
            Err(_) => None,
        };
        match got {
            Some(a) => return Some(a),
            None => tracing::debug!(%server, name, "no DNS answer"),
        }
    }
    None
}

async fn ask_udp(server: SocketAddr, q: &[u8], id: u16) -> Option<Answer> {
    let bind: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(bind).await.ok()?;
    sock.send_to(q, server).await.ok()?;
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, from) = sock.recv_from(&mut buf).await.ok()?;
        // Only the server asked, only an answer to this query.
        if from == server
            && let Some(a) = parse(&buf[..n], id)
        {
            return Some(a);
        }
    }
}

/// One query over TCP: both ways prefixed with a two-byte length (RFC 1035 §4.2.2).
async fn ask_tcp(server: SocketAddr, q: &[u8], id: u16) -> Option<Answer> {
    let mut conn = TcpStream::connect(server).await.ok()?;
    let len = u16::try_from(q.len()).ok()?;
    let mut out = Vec::with_capacity(q.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(q);
    conn.write_all(&out).await.ok()?;
    let mut len = [0u8; 2];
    conn.read_exact(&mut len).await.ok()?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    conn.read_exact(&mut buf).await.ok()?;
    parse(&buf, id)
}

/// The address of `name`: its A record, else its AAAA record.
async fn address(servers: &[SocketAddr], name: &str, ids: [u16; 2]) -> Option<IpAddr> {
    if let Some(ip) = ask(servers, name, TYPE_A, ids[0])
        .await
        .and_then(|a| a.address_of(name))
    {
        return Some(ip);
    }
    ask(servers, name, TYPE_AAAA, ids[1])
        .await
        .and_then(|a| a.address_of(name))
}

/// Resolves `host`: SRV `service.host` first (lowest priority, then highest weight), then
/// the target's address (from the answer's additional records, else A, else AAAA);
/// without an SRV record, the host's own address and no port. `ids` are the queries' ids,
/// random (an off-path forger must guess them).
pub(crate) async fn resolve(
    servers: &[SocketAddr],
    host: &str,
    service: Option<&str>,
    ids: [u16; 5],
) -> Option<(IpAddr, Option<u16>)> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if let Some(service) = service {
        let name = format!("{service}.{host}");
        if let Some(mut ans) = ask(servers, &name, TYPE_SRV, ids[0]).await
            && !ans.srv.is_empty()
        {
            ans.srv
                .sort_by(|a, b| a.priority.cmp(&b.priority).then(b.weight.cmp(&a.weight)));
            for srv in &ans.srv {
                if srv.target.is_empty() || srv.target == "." {
                    continue;
                }
                let ip = match ans.address_of(&srv.target) {
                    Some(ip) => Some(ip),
                    None => address(servers, &srv.target, [ids[1], ids[2]]).await,
                };
                if let Some(ip) = ip {
                    tracing::info!(host, service, target = srv.target, port = srv.port, %ip, "SRV");
                    return Some((ip, Some(srv.port)));
                }
            }
        }
    }
    address(servers, &host, [ids[3], ids[4]])
        .await
        .map(|ip| (ip, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer as a server writes it: the question, an SRV with a compressed target,
    /// and the target's A record in the additional section.
    fn answer() -> Vec<u8> {
        let mut b = query(7, "_sip._udp.pbx.test", TYPE_SRV).unwrap();
        b[2] = 0x81;
        b[3] = 0x80;
        b[7] = 1; // one answer
        b[11] = 1; // one additional
        // SRV: owner = pointer to the question name (offset 12).
        b.extend_from_slice(&[0xC0, 12, 0, 33, 0, 1, 0, 0, 0, 60]);
        let mut rdata = vec![0, 10, 0, 5, 0x13, 0xC4]; // prio 10, weight 5, port 5060
        rdata.extend_from_slice(&[3, b'r', b'e', b'g', 0xC0, 12 + 10]); // reg.pbx.test
        b.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        b.extend_from_slice(&rdata);
        // A for reg.pbx.test: owner written out.
        b.extend_from_slice(&[
            3, b'r', b'e', b'g', 3, b'p', b'b', b'x', 4, b't', b'e', b's', b't', 0,
        ]);
        b.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 9]);
        b
    }

    #[test]
    fn parses_srv_with_compression_and_the_additional_a_record() {
        let a = parse(&answer(), 7).unwrap();
        assert_eq!(
            a.srv,
            vec![Srv {
                priority: 10,
                weight: 5,
                port: 5060,
                target: "reg.pbx.test".into()
            }]
        );
        assert_eq!(
            a.a,
            vec![("reg.pbx.test".into(), IpAddr::from([127, 0, 0, 9]))]
        );
        assert!(!a.truncated);
        assert!(parse(&answer(), 8).is_none(), "another query's answer");
    }

    #[test]
    fn parses_aaaa_and_the_truncation_flag_and_prefers_ipv4() {
        let mut b = query(9, "reg.pbx.test", TYPE_AAAA).unwrap();
        b[2] = 0x83; // answer, TC, RD
        b[3] = 0x80;
        b[7] = 2;
        // AAAA ::1 then A 127.0.0.9, both for the question's name.
        b.extend_from_slice(&[0xC0, 12, 0, 28, 0, 1, 0, 0, 0, 60, 0, 16]);
        b.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        b.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 9]);
        let a = parse(&b, 9).unwrap();
        assert!(a.truncated);
        assert_eq!(a.a.len(), 2);
        assert_eq!(
            a.address_of("reg.pbx.test"),
            Some(IpAddr::from([127, 0, 0, 9]))
        );
        // The A record (the last 16 bytes) becomes another type: the AAAA is left.
        let n = b.len();
        b[n - 14] = 0;
        b[n - 13] = 99;
        let a = parse(&b, 9).unwrap();
        assert_eq!(
            a.address_of("reg.pbx.test"),
            Some(IpAddr::V6(Ipv6Addr::LOCALHOST))
        );
        assert_eq!(a.address_of("other.test"), None);
    }

    #[test]
    fn every_truncation_and_garbage_is_an_error_not_a_panic() {
        let full = answer();
        for n in 0..full.len() {
            let _ = parse(&full[..n], 7);
        }
        // A pointer loop.
        let mut looped = full.clone();
        let i = looped.len() - 16;
        looped[i] = 0xC0;
        looped[i + 1] = u8::try_from(i).unwrap_or(0);
        let _ = parse(&looped, 7);
        let mut x: u64 = 1;
        for _ in 0..2000 {
            let mut b = full.clone();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = (x as usize) % b.len();
            b[at] = (x >> 32) as u8;
            let _ = parse(&b, 7);
        }
    }

    #[test]
    fn name_servers_parse_with_and_without_port() {
        assert_eq!(
            parse_servers("192.168.1.1, 127.0.0.1:5353").unwrap(),
            vec![
                "192.168.1.1:53".parse().unwrap(),
                "127.0.0.1:5353".parse().unwrap()
            ]
        );
        assert!(parse_servers("").unwrap().is_empty());
        let e = parse_servers("fritz.box").unwrap_err();
        assert!(
            e.starts_with("sip_global.name_server: \"fritz.box\""),
            "{e}"
        );
    }
}
