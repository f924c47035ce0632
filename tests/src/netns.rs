//! NAT made of network namespaces, as a home router does it: a "LAN" whose only way out
//! is a "router" namespace that masquerades (Linux NAT) onto a "WAN" link. Either the
//! gateway is in the LAN and the provider's peers (kamailio, baresip) are on the WAN side
//! in the test's own namespace ([`Nat::gateway_behind`]), or the test's namespace is the
//! LAN of a phone and the gateway is on the WAN ([`Nat::phone_behind`], with a router that
//! gives every mapping a random port). Nothing on the WAN side can reach a LAN address:
//! only answers to what the LAN sent (conntrack), exactly as behind a real router.
//!
//! Needs root (or CAP_NET_ADMIN), `ip` (iproute2) and `iptables`; every namespace, link
//! and route is removed when the value is dropped.

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The namespaces and addresses of one NAT set-up.
#[derive(Debug)]
pub struct Nat {
    /// The private address in the LAN (the gateway's, or the phone's).
    pub lan_ip: Ipv4Addr,
    /// The router's public address on the WAN: what the other side sees.
    pub public_ip: Ipv4Addr,
    /// The address on the WAN link beyond the router (the provider's peers', or the
    /// gateway's).
    pub wan_ip: Ipv4Addr,
    /// The namespace that is not the test's own (the LAN or the WAN).
    other_ns: String,
    router_ns: String,
    /// The link in the test's namespace.
    link: String,
    /// The route or blackhole added in the test's namespace.
    route: Vec<String>,
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
    /// The gateway behind NAT: the LAN is a namespace of its own (run the gateway there
    /// with [`Nat::wrapper`]); the WAN side is the test's namespace, with `wan_ip`.
    ///
    /// # Errors
    /// The `ip`/`iptables` command that failed and what it said (no root, no iproute2).
    pub fn gateway_behind() -> Result<Self, String> {
        Self::build(true)
    }

    /// A phone behind NAT: the test's namespace is the LAN (`lan_ip`); the gateway runs on
    /// the WAN in a namespace of its own ([`Nat::wrapper`]) at `wan_ip`. The router gives
    /// every mapping a random port, so the phone's packets arrive from other ports than
    /// its SDP and Contact say.
    ///
    /// # Errors
    /// As [`Nat::gateway_behind`].
    pub fn phone_behind() -> Result<Self, String> {
        Self::build(false)
    }

    fn build(gateway_inside: bool) -> Result<Self, String> {
        // Distinct per set-up, so tests run side by side: the first number whose router
        // namespace can be made is this set-up's (one left by a killed run is skipped, never
        // taken over).
        let start = std::process::id() * 7 + NEXT.fetch_add(1, Ordering::Relaxed);
        let n = (0..250)
            .map(|i| (start + i) % 250 + 1)
            .find(|n| ip(&["netns", "add", &format!("hasip-rtr-{n}")]).is_ok())
            .ok_or("no free network namespace name (ip netns add failed 250 times)")?;
        let octet = u8::try_from(n).map_err(|e| e.to_string())?;
        let lan_net = format!("10.199.{n}.0/24");
        let wan_net = format!("100.64.{n}.0/24");
        let nat = Self {
            lan_ip: Ipv4Addr::new(10, 199, octet, 2),
            public_ip: Ipv4Addr::new(100, 64, octet, 2),
            wan_ip: Ipv4Addr::new(100, 64, octet, 1),
            other_ns: format!("hasip-{}-{n}", if gateway_inside { "lan" } else { "wan" }),
            router_ns: format!("hasip-rtr-{n}"),
            link: format!("hsn{n}"),
            route: if gateway_inside {
                // The LAN's private addresses lead nowhere from the WAN (and not out of
                // this machine).
                vec!["blackhole".into(), lan_net]
            } else {
                // The phone's LAN reaches the WAN through the router.
                vec![wan_net, "via".into(), format!("10.199.{n}.1")]
            },
        };
        // From here on, Drop removes whatever was made.
        let (rtr, other, link) = (&nat.router_ns, &nat.other_ns, &nat.link);
        let peer = format!("{link}r");
        let lan_router = format!("10.199.{n}.1/24");
        let lan_host = format!("{}/24", nat.lan_ip);
        let public = format!("{}/24", nat.public_ip);
        let wan = format!("{}/24", nat.wan_ip);
        ip(&["netns", "add", other])?;
        ip(&["-n", rtr, "link", "set", "lo", "up"])?;
        ip(&["-n", other, "link", "set", "lo", "up"])?;
        // The test's namespace <-> the router.
        ip(&["link", "add", link, "type", "veth", "peer", "name", &peer])?;
        ip(&["link", "set", &peer, "netns", rtr])?;
        ip(&["link", "set", link, "up"])?;
        ip(&["-n", rtr, "link", "set", &peer, "up"])?;
        // The router <-> the other namespace.
        ip(&[
            "-n", rtr, "link", "add", "far0", "type", "veth", "peer", "name", "far1", "netns",
            other,
        ])?;
        ip(&["-n", rtr, "link", "set", "far0", "up"])?;
        ip(&["-n", other, "link", "set", "far1", "up"])?;
        let wan_side = if gateway_inside {
            ip(&["addr", "add", &wan, "dev", link])?;
            ip(&["-n", rtr, "addr", "add", &public, "dev", &peer])?;
            ip(&["-n", rtr, "addr", "add", &lan_router, "dev", "far0"])?;
            ip(&["-n", other, "addr", "add", &lan_host, "dev", "far1"])?;
            ip(&[
                "-n",
                other,
                "route",
                "add",
                "default",
                "via",
                &format!("10.199.{n}.1"),
            ])?;
            peer.clone()
        } else {
            ip(&["addr", "add", &lan_host, "dev", link])?;
            ip(&["-n", rtr, "addr", "add", &lan_router, "dev", &peer])?;
            ip(&["-n", rtr, "addr", "add", &public, "dev", "far0"])?;
            ip(&["-n", other, "addr", "add", &wan, "dev", "far1"])?;
            "far0".to_owned()
        };
        let route: Vec<&str> = nat.route.iter().map(String::as_str).collect();
        ip(&[&["route", "add"][..], &route].concat())?;
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
        let mut masquerade = vec![
            "netns",
            "exec",
            rtr,
            "iptables",
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-o",
            &wan_side,
            "-j",
            "MASQUERADE",
        ];
        if !gateway_inside {
            masquerade.push("--random-fully");
        }
        run("ip", &masquerade)?;
        Ok(nat)
    }

    /// The command prefix that runs a program in the namespace that is not the test's own
    /// (the gateway's, either way).
    pub fn wrapper(&self) -> Vec<String> {
        ["ip", "netns", "exec", &self.other_ns]
            .map(str::to_owned)
            .to_vec()
    }

    fn remove(&self) {
        // Deleting a namespace deletes the links in it, and a veth's peer with it.
        let _ = ip(&["netns", "del", &self.other_ns]);
        let _ = ip(&["netns", "del", &self.router_ns]);
        let _ = ip(&["link", "del", &self.link]);
        let route: Vec<&str> = self.route.iter().map(String::as_str).collect();
        let _ = ip(&[&["route", "del"][..], &route].concat());
    }
}

impl Drop for Nat {
    fn drop(&mut self) {
        self.remove();
    }
}
