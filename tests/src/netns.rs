//! A home network behind NAT, made of network namespaces: the gateway runs in a "LAN"
//! namespace whose only way out is a "router" namespace that masquerades (Linux NAT, as a
//! home router does) onto a "WAN" link to the test's own namespace, where the provider's
//! peers (kamailio, baresip) listen. Nothing on the WAN side can reach the LAN address:
//! only answers to what the LAN sent (conntrack), exactly as behind a real router.
//!
//! Needs root (or CAP_NET_ADMIN), `ip` (iproute2) and `iptables`; every namespace and link
//! is removed when the value is dropped.

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The namespaces and addresses of one NAT set-up.
#[derive(Debug)]
pub struct Nat {
    /// The LAN namespace, where the gateway runs.
    pub lan_ns: String,
    /// The gateway's (private) address in the LAN.
    pub lan_ip: Ipv4Addr,
    /// The router's public address on the WAN: what the provider sees.
    pub public_ip: Ipv4Addr,
    /// The test's own address on the WAN link, for the provider's peers.
    pub wan_ip: Ipv4Addr,
    router_ns: String,
    wan_link: String,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn ip(args: &[&str]) -> Result<(), String> {
    run("ip", args)
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(crate::tool(program))
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Nat {
    /// Builds the namespaces, links, routes and the masquerading rule.
    ///
    /// # Errors
    /// The `ip`/`iptables` command that failed and what it said (no root, no iproute2).
    pub fn new() -> Result<Self, String> {
        // Distinct per process and per set-up, so tests run side by side.
        let n = (std::process::id() * 7 + NEXT.fetch_add(1, Ordering::Relaxed)) % 250 + 1;
        let octet = u8::try_from(n).map_err(|e| e.to_string())?;
        let nat = Self {
            lan_ns: format!("hasip-lan-{n}"),
            router_ns: format!("hasip-rtr-{n}"),
            wan_link: format!("hsw{n}"),
            lan_ip: Ipv4Addr::new(10, 199, octet, 2),
            public_ip: Ipv4Addr::new(100, 64, octet, 2),
            wan_ip: Ipv4Addr::new(100, 64, octet, 1),
        };
        nat.remove();
        nat.build()?;
        Ok(nat)
    }

    fn build(&self) -> Result<(), String> {
        let (lan, rtr, wan) = (&self.lan_ns, &self.router_ns, &self.wan_link);
        let wan_peer = format!("{wan}r");
        let wan_cidr = format!("{}/24", self.wan_ip);
        let public_cidr = format!("{}/24", self.public_ip);
        let [a, b, c, _] = self.lan_ip.octets();
        let lan_gw = Ipv4Addr::new(a, b, c, 1).to_string();
        let lan_gw_cidr = format!("{lan_gw}/24");
        let lan_cidr = format!("{}/24", self.lan_ip);
        ip(&["netns", "add", lan])?;
        ip(&["netns", "add", rtr])?;
        // WAN: the test's namespace <-> the router.
        ip(&[
            "link", "add", wan, "type", "veth", "peer", "name", &wan_peer,
        ])?;
        ip(&["link", "set", &wan_peer, "netns", rtr])?;
        ip(&["addr", "add", &wan_cidr, "dev", wan])?;
        ip(&["link", "set", wan, "up"])?;
        // The LAN's private addresses lead nowhere from the WAN (not out of this machine).
        ip(&["route", "add", "blackhole", &self.lan_net()])?;
        ip(&["-n", rtr, "addr", "add", &public_cidr, "dev", &wan_peer])?;
        ip(&["-n", rtr, "link", "set", &wan_peer, "up"])?;
        ip(&["-n", rtr, "link", "set", "lo", "up"])?;
        // LAN: the router <-> the gateway's namespace, whose default route is the router.
        ip(&[
            "-n", rtr, "link", "add", "lan0", "type", "veth", "peer", "name", "lan1", "netns", lan,
        ])?;
        ip(&["-n", rtr, "addr", "add", &lan_gw_cidr, "dev", "lan0"])?;
        ip(&["-n", rtr, "link", "set", "lan0", "up"])?;
        ip(&["-n", lan, "addr", "add", &lan_cidr, "dev", "lan1"])?;
        ip(&["-n", lan, "link", "set", "lan1", "up"])?;
        ip(&["-n", lan, "link", "set", "lo", "up"])?;
        ip(&["-n", lan, "route", "add", "default", "via", &lan_gw])?;
        // The router forwards and masquerades what leaves on the WAN side.
        run(
            "ip",
            &[
                "netns",
                "exec",
                rtr,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ],
        )?;
        run(
            "ip",
            &[
                "netns",
                "exec",
                rtr,
                "iptables",
                "-t",
                "nat",
                "-A",
                "POSTROUTING",
                "-o",
                &wan_peer,
                "-j",
                "MASQUERADE",
            ],
        )
    }

    /// The command prefix that runs a program in the LAN namespace.
    pub fn in_lan(&self) -> Vec<String> {
        ["ip", "netns", "exec", &self.lan_ns]
            .map(str::to_owned)
            .to_vec()
    }

    fn lan_net(&self) -> String {
        let [a, b, c, _] = self.lan_ip.octets();
        format!("{a}.{b}.{c}.0/24")
    }

    fn remove(&self) {
        // Deleting a namespace deletes the links in it, and a veth's peer with it.
        let _ = ip(&["netns", "del", &self.lan_ns]);
        let _ = ip(&["netns", "del", &self.router_ns]);
        let _ = ip(&["link", "del", &self.wan_link]);
        let _ = ip(&["route", "del", "blackhole", &self.lan_net()]);
    }
}

impl Drop for Nat {
    fn drop(&mut self) {
        self.remove();
    }
}
