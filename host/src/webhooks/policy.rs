//! Which addresses callbacks may reach. Denied unless allowed: loopback,
//! link-local (which holds the cloud metadata services), unspecified,
//! multicast and broadcast addresses, and the known metadata addresses.
//! An allow-list of networks and host names, when given, is the only set
//! reachable; a listed network also lifts the default denials inside it.

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

/// Why an address is denied by default, if it is.
fn denied_by_default(ip: IpAddr) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
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
        match denied_by_default(ip) {
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
