//! Which addresses the host's outbound connections may reach: one policy
//! module for webhooks and plugin requests.
//!
//! Always denied unless an operator lists the network: loopback, link-local
//! (which holds the cloud metadata services), unspecified, multicast and
//! broadcast addresses, and the known metadata addresses. Plugin requests
//! are also denied private networks: RFC 1918, CGNAT (100.64.0.0/10), IPv6
//! unique-local (fc00::/7), and the other reserved ranges. IPv6 forms that
//! embed an IPv4 address (`::ffff:a.b.c.d`, `::a.b.c.d`, NAT64
//! `64:ff9b::/96`, 6to4 `2002::/16`) are judged by the address they embed.
//!
//! For webhooks (callback URLs) an allow-list of networks and host names, when given, is
//! the only set reachable; for plugins the destinations come from grants and
//! the listed networks only lift the default denials inside them.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest callback URL accepted.
pub const MAX_URL: usize = 2048;

/// One allow-list entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allow {
    /// A network, e.g. `10.0.0.0/8` or `127.0.0.1/32`.
    Net(IpNet),
    /// A host name, exact (`hooks.example.com`) or a suffix (`*.example.com`).
    Host(String),
}

impl std::str::FromStr for Allow {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(net) = s.parse::<IpNet>() {
            return Ok(Allow::Net(net));
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Allow::Net(IpNet::from(ip)));
        }
        let host = s.to_ascii_lowercase();
        let name = host.strip_prefix("*.").unwrap_or(&host);
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(format!(
                "`{s}` is not a network (CIDR), an address or a host name"
            ));
        }
        Ok(Allow::Host(host))
    }
}

/// How much of the address space is denied by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// Callbacks: private networks are reachable (internal receivers are common).
    Callbacks,
    /// Plugin requests: private and reserved networks are denied too.
    Plugins,
}

/// The callback target policy.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Empty: every address not denied by default.
    pub allow: Vec<Allow>,
}

fn metadata(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4 == Ipv4Addr::new(169, 254, 169, 254) || v4 == Ipv4Addr::new(100, 100, 100, 200)
        }
        IpAddr::V6(v6) => v6 == "fd00:ec2::254".parse::<Ipv6Addr>().expect("a literal"),
    }
}

/// The IPv4 address an IPv6 address carries, in the forms that route to it:
/// IPv4-mapped, IPv4-compatible, NAT64 and 6to4.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = v6.segments();
    let tail = |a: u16, b: u16| Ipv4Addr::new((a >> 8) as u8, a as u8, (b >> 8) as u8, b as u8);
    // ::a.b.c.d (deprecated IPv4-compatible), but not :: and ::1.
    if s[..6] == [0; 6] && (s[6] != 0 || s[7] > 1) {
        return Some(tail(s[6], s[7]));
    }
    // NAT64 well-known prefix 64:ff9b::/96.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail(s[6], s[7]));
    }
    // 6to4 2002:AABB:CCDD::/48.
    if s[0] == 0x2002 {
        return Some(tail(s[1], s[2]));
    }
    None
}

/// Why an address is denied to plugin requests beyond the callback
/// denials, if it is: private and reserved networks.
fn private(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_private() {
                Some("a private (RFC 1918) address")
            } else if a == 100 && (64..128).contains(&b) {
                Some("a shared (CGNAT, 100.64.0.0/10) address")
            } else if a >= 240
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || a == 198 && (b == 18 || b == 19)
            {
                Some("a reserved address")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            if (s[0] & 0xfe00) == 0xfc00 {
                Some("a unique-local (fc00::/7) address")
            } else if (s[0] & 0xffc0) == 0xfec0 {
                Some("a site-local address")
            } else if s[0] == 0x2001 && s[1] == 0x0db8 {
                Some("a documentation address")
            } else if s[0] == 0x0100 && s[1..4] == [0, 0, 0] {
                Some("a discard-only address")
            } else {
                None
            }
        }
    }
}

/// Why an address is denied by default, if it is.
pub fn denied_by_default(ip: IpAddr, strictness: Strictness) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    if strictness == Strictness::Plugins
        && let Some(why) = private(ip)
    {
        return Some(why);
    }
    if metadata(ip) {
        return Some("a cloud metadata address");
    }
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() => Some("a loopback address"),
        IpAddr::V4(v4) if v4.is_link_local() => Some("a link-local address"),
        IpAddr::V4(v4) if v4.is_unspecified() || v4.octets()[0] == 0 => {
            Some("an unspecified address")
        }
        IpAddr::V4(v4) if v4.is_multicast() || v4.is_broadcast() => {
            Some("a multicast or broadcast address")
        }
        IpAddr::V6(v6) if v6.is_loopback() => Some("a loopback address"),
        IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80 => Some("a link-local address"),
        IpAddr::V6(v6) if v6.is_unspecified() => Some("an unspecified address"),
        IpAddr::V6(v6) if v6.is_multicast() => Some("a multicast address"),
        _ => None,
    }
}

impl Policy {
    /// Whether `host` (as written in the URL) resolving to `ip` may be called.
    pub fn check(&self, host: &str, ip: IpAddr) -> Result<(), String> {
        let host = host.to_ascii_lowercase();
        let listed_net = self.allow.iter().any(|a| match a {
            Allow::Net(n) => n.contains(&ip),
            Allow::Host(_) => false,
        });
        let listed_host = self.allow.iter().any(|a| match a {
            Allow::Host(h) => match h.strip_prefix("*.") {
                Some(suffix) => host.ends_with(&format!(".{suffix}")),
                None => *h == host,
            },
            Allow::Net(_) => false,
        });
        if !self.allow.is_empty() && !listed_net && !listed_host {
            return Err(format!("{ip} ({host}) is not in the callback allow-list"));
        }
        match denied_by_default(ip, Strictness::Callbacks) {
            Some(why) if !listed_net => Err(format!(
                "{ip} ({host}) is {why}; list its network in --callback-allow to permit it"
            )),
            _ => Ok(()),
        }
    }

    /// Checks a callback URL's form, and its host at once when it is an
    /// address; names are checked again when resolved at delivery.
    pub fn check_url(&self, raw: &str) -> Result<reqwest::Url, String> {
        if raw.len() > MAX_URL {
            return Err(format!(
                "is {} bytes; at most {MAX_URL} are allowed",
                raw.len()
            ));
        }
        let url = reqwest::Url::parse(raw).map_err(|e| format!("is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("must be http or https, not {}", url.scheme()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry credentials".into());
        }
        match url.host() {
            None => Err("has no host".into()),
            Some(url::Host::Ipv4(v4)) => self.check(&v4.to_string(), IpAddr::V4(v4)).map(|_| url),
            Some(url::Host::Ipv6(v6)) => self.check(&v6.to_string(), IpAddr::V6(v6)).map(|_| url),
            Some(url::Host::Domain(_)) => Ok(url),
        }
    }
}

/// The networks an operator opened to plugin requests
/// (`--http-allow-net`); which hosts they may call comes from grants.
#[derive(Debug, Clone, Default)]
pub struct PluginNets {
    /// Networks in which the default denials are lifted.
    pub open: Vec<IpNet>,
}

impl PluginNets {
    /// Whether a plugin request to `host` may connect to `ip`.
    pub fn check(&self, host: &str, ip: IpAddr) -> Result<(), String> {
        if self.open.iter().any(|n| n.contains(&ip)) {
            return Ok(());
        }
        match denied_by_default(ip, Strictness::Plugins) {
            Some(why) => Err(format!(
                "`{host}` resolves to {ip}, {why}; an operator can open its network with \
                 --http-allow-net"
            )),
            None => Ok(()),
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
    fn denies_loopback_link_local_and_metadata_by_default() {
        let p = Policy::default();
        for bad in [
            "127.0.0.1",
            "169.254.169.254",
            "169.254.1.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "fd00:ec2::254",
            "100.100.100.200",
            "224.0.0.1",
        ] {
            assert!(p.check("h", ip(bad)).is_err(), "{bad}");
        }
        for good in [
            "10.1.2.3",
            "192.168.1.10",
            "93.184.216.34",
            "2606:2800:220:1::1",
        ] {
            assert!(p.check("h", ip(good)).is_ok(), "{good}");
        }
    }

    #[test]
    fn plugins_are_denied_private_networks_and_embedded_forms() {
        let p = PluginNets::default();
        for bad in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
        ] {
            assert!(p.check("h", ip(bad)).is_err(), "{bad}");
        }
        for good in [
            "93.184.216.34",
            "2606:2800:220:1::1",
            "8.8.8.8",
            "2002:5db8:d822::",
        ] {
            assert!(p.check("h", ip(good)).is_ok(), "{good}");
        }
        let open = PluginNets {
            open: vec!["127.0.0.0/8".parse().unwrap()],
        };
        assert!(open.check("h", ip("127.0.0.1")).is_ok());
        assert!(open.check("h", ip("10.0.0.1")).is_err());
        let said = p
            .check("api.example.test", ip("169.254.169.254"))
            .unwrap_err();
        assert!(
            said.contains("api.example.test") && said.contains("metadata"),
            "{said}"
        );
    }

    #[test]
    fn an_allow_list_restricts_and_can_open_a_denied_network() {
        let p = Policy {
            allow: vec![
                "127.0.0.1/32".parse().unwrap(),
                "*.example.com".parse().unwrap(),
            ],
        };
        assert!(p.check("localhost", ip("127.0.0.1")).is_ok());
        assert!(p.check("hooks.example.com", ip("10.0.0.1")).is_ok());
        assert!(p.check("other.org", ip("10.0.0.1")).is_err());
        // A host name listed does not lift the denial of what it resolves to.
        assert!(p.check("evil.example.com", ip("169.254.169.254")).is_err());
        assert!("not a host!".parse::<Allow>().is_err());
    }

    #[test]
    fn urls_are_checked_for_form_and_literal_addresses() {
        let p = Policy::default();
        assert!(p.check_url("https://hooks.example.com/x").is_ok());
        for bad in [
            "ftp://x/",
            "http://user:pw@x/",
            "http://169.254.169.254/latest",
            "not a url",
            "http://[::1]:80/",
        ] {
            assert!(p.check_url(bad).is_err(), "{bad}");
        }
    }
}
