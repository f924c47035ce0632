//! Who may call: which INVITEs from outside a dialog an account takes.
//!
//! A SIP scanner that sends INVITEs straight to the gateway must not ring the house, run
//! the user's automations or reach a PIN menu. So an account that registers takes calls
//! only from its registrar's and its proxy's addresses (as resolved, SRV targets included)
//! and from the networks its `--allow-calls-from` adds; an account without a registrar
//! (direct calls from an intercom or a phone) takes them from its `--allow-calls-from`
//! networks, by default the private and loopback ones, and there only for its own user (an
//! empty user, as some intercoms send, counts as its own). Whatever is refused is answered
//! (403 or 404, never silence that invites retries) and reported for the log.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

pub use ipnet::IpNet;

/// The networks a direct-call account takes calls from when it names none: loopback,
/// the RFC 1918 and RFC 6598 (carrier-grade NAT) ranges, link-local, and IPv6's unique
/// local and link-local ranges.
pub const PRIVATE_NETWORKS: &[&str] = &[
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
];

/// Parses a comma- or space-separated list of networks (`192.168.1.0/24`) and addresses
/// (`192.168.1.5`, a /32 or /128); `any` stands for every address.
///
/// # Errors
/// The first item that is neither, named.
pub fn parse_networks(text: &str) -> Result<Vec<IpNet>, String> {
    let mut out = Vec::new();
    for item in text
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if item.eq_ignore_ascii_case("any") {
            out.push(IpNet::V4(ipnet::Ipv4Net::default()));
            out.push(IpNet::V6(ipnet::Ipv6Net::default()));
            continue;
        }
        let net = match item.parse::<IpNet>() {
            Ok(n) => n,
            Err(_) => item
                .parse::<IpAddr>()
                .map(IpNet::from)
                .map_err(|_| format!("{item:?} is not a network (192.168.1.0/24) or an address"))?,
        };
        out.push(net.trunc());
    }
    Ok(out)
}

/// The default networks of a direct-call account.
pub fn private_networks() -> Vec<IpNet> {
    PRIVATE_NETWORKS
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// True when `ip` (an IPv4-mapped IPv6 address counts as its IPv4 one) is in `nets`.
pub fn in_networks(nets: &[IpNet], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    nets.iter().any(|n| n.contains(&ip))
}

/// How many new calls one source may start: `burst` at once, then `per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallRate {
    /// Sustained new calls per second per source address (0: no limit).
    pub per_second: u32,
    /// How many may come at once.
    pub burst: u32,
}

impl Default for CallRate {
    /// 2 calls a second, 10 at once: far above what rings a house, far below a flood.
    fn default() -> Self {
        Self {
            per_second: 2,
            burst: 10,
        }
    }
}

/// Sources remembered by the rate limit; beyond this, full buckets are forgotten first.
const RATE_SOURCES: usize = 1024;

/// A token bucket per source address for new calls.
#[derive(Debug, Default)]
pub(crate) struct CallBuckets {
    /// (tokens, when last refilled)
    sources: HashMap<IpAddr, (f64, Instant)>,
}

impl CallBuckets {
    /// Takes one new call from `ip` if its bucket allows it.
    pub(crate) fn allow(&mut self, rate: CallRate, now: Instant, ip: IpAddr) -> bool {
        if rate.per_second == 0 {
            return true;
        }
        let (per_second, burst) = (f64::from(rate.per_second), f64::from(rate.burst.max(1)));
        let refill = |tokens: f64, at: Instant| {
            (tokens + now.saturating_duration_since(at).as_secs_f64() * per_second).min(burst)
        };
        if self.sources.len() >= RATE_SOURCES && !self.sources.contains_key(&ip) {
            // Forget the sources whose bucket has filled up again; if none, the oldest.
            self.sources
                .retain(|_, (tokens, at)| refill(*tokens, *at) < burst);
            if self.sources.len() >= RATE_SOURCES
                && let Some(oldest) = self
                    .sources
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| *k)
            {
                self.sources.remove(&oldest);
            }
        }
        let (tokens, at) = self.sources.entry(ip).or_insert((burst, now));
        *tokens = refill(*tokens, *at);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Why an INVITE was refused: the answer sent and a line for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 403 (the source may not call) or 404 (no such user here).
    pub code: u16,
    /// The reason phrase sent.
    pub reason: &'static str,
    /// For the log: what was refused and the option that would allow it.
    pub why: String,
}

impl Refusal {
    pub(crate) fn forbidden(ip: IpAddr) -> Self {
        Self {
            code: 403,
            reason: "Forbidden",
            why: format!(
                "INVITE from {ip}, which is not the registrar or proxy of any account nor in \
                 a network an account takes calls from; to take it, add the address to the \
                 account's options: --allow-calls-from {ip}"
            ),
        }
    }

    pub(crate) fn too_fast(ip: IpAddr, rate: CallRate) -> Self {
        Self {
            code: 503,
            reason: "Service Unavailable",
            why: format!(
                "INVITEs from {ip} come faster than {} a second ({} at once); to take more, \
                 raise --call-rate-limit in sip_global.global_options (0: no limit)",
                rate.per_second, rate.burst
            ),
        }
    }

    pub(crate) fn not_called(id_uri: &str) -> Self {
        Self {
            code: 403,
            reason: "Forbidden",
            why: format!(
                "INVITE for {id_uri}, an account that takes no calls (--can-be-called \
                 disabled in its options)"
            ),
        }
    }

    pub(crate) fn no_user(user: &str) -> Self {
        Self {
            code: 404,
            reason: "Not Found",
            why: format!(
                "INVITE for user {user:?}, which is no account's user (a direct-call account \
                 takes calls for the user of its id_uri, or with an empty user)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_and_loopback_by_default_and_nothing_else() {
        let nets = private_networks();
        assert_eq!(nets.len(), PRIVATE_NETWORKS.len());
        for inside in [
            "127.0.0.2",
            "10.1.2.3",
            "172.31.255.1",
            "192.168.178.20",
            "::1",
            "fd00::5",
            "::ffff:192.168.1.9",
        ] {
            assert!(in_networks(&nets, ip(inside)), "{inside}");
        }
        for outside in [
            "8.8.8.8",
            "172.32.0.1",
            "192.169.0.1",
            "2001:db8::1",
            "::ffff:1.2.3.4",
        ] {
            assert!(!in_networks(&nets, ip(outside)), "{outside}");
        }
    }

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn the_call_rate_allows_a_burst_then_the_rate_per_source() {
        let t0 = Instant::now();
        let rate = CallRate::default();
        let mut b = CallBuckets::default();
        let a = ip("127.0.0.2");
        let allowed = (0..100).filter(|_| b.allow(rate, t0, a)).count();
        assert_eq!(allowed, 10, "the burst");
        // Another source has its own bucket.
        assert!(b.allow(rate, t0, ip("127.0.0.3")));
        // Half a second later, one more (2 a second).
        let later = t0 + std::time::Duration::from_millis(500);
        assert!(b.allow(rate, later, a));
        assert!(!b.allow(rate, later, a));
        // No limit.
        let off = CallRate {
            per_second: 0,
            burst: 0,
        };
        assert!((0..1000).all(|_| b.allow(off, t0, a)));
    }

    #[test]
    fn lists_take_networks_addresses_and_any_and_name_what_is_wrong() {
        let nets = parse_networks("192.168.1.0/24, 10.0.0.7 2001:db8::/32").unwrap();
        assert!(in_networks(&nets, ip("192.168.1.200")));
        assert!(in_networks(&nets, ip("10.0.0.7")));
        assert!(!in_networks(&nets, ip("10.0.0.8")));
        assert!(in_networks(&nets, ip("2001:db8:1::1")));
        // A host address with a prefix is the network it belongs to.
        let nets = parse_networks("192.168.1.77/24").unwrap();
        assert!(in_networks(&nets, ip("192.168.1.1")));
        let any = parse_networks("any").unwrap();
        assert!(in_networks(&any, ip("8.8.8.8")) && in_networks(&any, ip("2001:db8::1")));
        let e = parse_networks("192.168.1.0/24,intercom").unwrap_err();
        assert!(e.contains("\"intercom\" is not a network"), "{e}");
        assert!(parse_networks("").unwrap().is_empty());
    }
}
