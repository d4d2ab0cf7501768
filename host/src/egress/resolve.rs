//! Name resolution for plugin requests: the system resolver, or fixed
//! addresses an operator gives for a name (`--resolve NAME=ADDR`, like
//! curl's), optionally for one port and to another port
//! (`NAME:PORT=ADDR:PORT`, like curl's `--connect-to`, for sidecars and
//! tests). Every address either way is checked before any connection.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Most addresses kept from one lookup.
const MAX_ADDRESSES: usize = 16;

/// A fixed answer: for a name (and a port, or any), these addresses (and
/// ports, or the request's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixed {
    /// Lowercase name.
    pub name: String,
    /// The request port it applies to; any when absent.
    pub port: Option<u16>,
    /// Addresses, each with the port to connect to (the request's when absent).
    pub to: Targets,
}

/// Addresses, each with the port to connect to (the request's when absent).
type Targets = Vec<(IpAddr, Option<u16>)>;

/// Resolves host names.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    /// By name and port (`None`: any port).
    fixed: HashMap<(String, Option<u16>), Targets>,
}

impl Resolver {
    /// A resolver with fixed answers for some names.
    pub fn with_fixed(entries: impl IntoIterator<Item = Fixed>) -> Self {
        Resolver {
            fixed: entries
                .into_iter()
                .map(|f| ((f.name, f.port), f.to))
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
        let fixed = self
            .fixed
            .get(&(name.clone(), Some(port)))
            .or_else(|| self.fixed.get(&(name.clone(), None)));
        if let Some(fixed) = fixed {
            return Ok(fixed
                .iter()
                .map(|(ip, to)| SocketAddr::new(*ip, to.unwrap_or(port)))
                .collect());
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

/// Parses `NAME[:PORT]=ADDR[:PORT][,ADDR[:PORT]...]` (IPv6 with a port in
/// brackets: `[::1]:8080`).
pub fn parse_fixed(s: &str) -> Result<Fixed, String> {
    let form = "NAME[:PORT]=ADDRESS[:PORT][,...]";
    let (left, addrs) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not {form}"))?;
    let (name, port) = match left.rsplit_once(':') {
        Some((n, p)) => (
            n,
            Some(
                p.parse::<u16>()
                    .map_err(|_| format!("`{p}` in `{s}` is not a port"))?,
            ),
        ),
        None => (left, None),
    };
    if name.is_empty() {
        return Err(format!("`{s}` has no name before `=`"));
    }
    let to = addrs
        .split(',')
        .map(|a| {
            let a = a.trim();
            if let Ok(ip) = a.parse::<IpAddr>() {
                return Ok((ip, None));
            }
            a.parse::<SocketAddr>()
                .map(|sa| (sa.ip(), Some(sa.port())))
                .map_err(|_| format!("`{a}` in `{s}` is not an address or address:port"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Fixed {
        name: name.trim_end_matches('.').to_ascii_lowercase(),
        port,
        to,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn literals_and_fixed_names_resolve_without_dns() {
        let r = Resolver::with_fixed([
            parse_fixed("API.example.test=127.0.0.1,::1").unwrap(),
            parse_fixed("api.example.test:80=127.0.0.1:9999").unwrap(),
        ]);
        let t = Duration::from_secs(1);
        let a = r.lookup("api.example.test", 8080, t).await.unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0], "127.0.0.1:8080".parse().unwrap());
        let moved = r.lookup("api.example.test", 80, t).await.unwrap();
        assert_eq!(moved, vec!["127.0.0.1:9999".parse().unwrap()]);
        let v6 = r.lookup("[::1]", 80, t).await.unwrap();
        assert_eq!(v6, vec!["[::1]:80".parse().unwrap()]);
        assert!(parse_fixed("x=notanip").is_err());
        assert!(parse_fixed("noequals").is_err());
        assert!(parse_fixed("x:notaport=1.2.3.4").is_err());
    }
}
