//! Name resolution for plugin requests: the system resolver, or fixed
//! addresses an operator gives for a name (`--resolve NAME=ADDR`, like
//! curl's). Every address either way is checked before any connection.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Most addresses kept from one lookup.
const MAX_ADDRESSES: usize = 16;

/// Resolves host names.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    fixed: HashMap<String, Vec<IpAddr>>,
}

impl Resolver {
    /// A resolver with fixed answers for some names.
    pub fn with_fixed(entries: impl IntoIterator<Item = (String, Vec<IpAddr>)>) -> Self {
        Resolver {
            fixed: entries
                .into_iter()
                .map(|(n, a)| (n.trim_end_matches('.').to_ascii_lowercase(), a))
                .collect(),
        }
    }

    /// The addresses of `host` (a name or a bracketed IPv6 / IPv4 literal)
    /// at `port`, within `timeout`.
    pub async fn lookup(
        &self,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<Vec<SocketAddr>, String> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        if let Some(fixed) = self.fixed.get(&name) {
            return Ok(fixed.iter().map(|ip| SocketAddr::new(*ip, port)).collect());
        }
        let found = tokio::time::timeout(timeout, tokio::net::lookup_host((name.as_str(), port)))
            .await
            .map_err(|_| format!("resolving `{name}` took longer than {timeout:?}"))?
            .map_err(|e| format!("resolving `{name}` failed: {e}"))?;
        let found: Vec<SocketAddr> = found.take(MAX_ADDRESSES).collect();
        if found.is_empty() {
            return Err(format!("`{name}` has no addresses"));
        }
        Ok(found)
    }
}

/// Parses `NAME=ADDR[,ADDR...]`.
pub fn parse_fixed(s: &str) -> Result<(String, Vec<IpAddr>), String> {
    let (name, addrs) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not NAME=ADDRESS[,ADDRESS...]"))?;
    let addrs = addrs
        .split(',')
        .map(|a| {
            a.trim()
                .parse::<IpAddr>()
                .map_err(|_| format!("`{a}` in `{s}` is not an IP address"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if name.is_empty() {
        return Err(format!("`{s}` has no name before `=`"));
    }
    Ok((name.to_string(), addrs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn literals_and_fixed_names_resolve_without_dns() {
        let r = Resolver::with_fixed([parse_fixed("API.example.test=127.0.0.1,::1").unwrap()]);
        let t = Duration::from_secs(1);
        let a = r.lookup("api.example.test", 8080, t).await.unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0], "127.0.0.1:8080".parse().unwrap());
        let v6 = r.lookup("[::1]", 80, t).await.unwrap();
        assert_eq!(v6, vec!["[::1]:80".parse().unwrap()]);
        assert!(parse_fixed("x=notanip").is_err());
        assert!(parse_fixed("noequals").is_err());
    }
}
