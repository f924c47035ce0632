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

use std::net::IpAddr;

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
