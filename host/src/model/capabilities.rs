//! What a job type declares it may reach: HTTP destinations and secrets.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Most destinations a job type may declare or an operator may grant.
pub const MAX_DESTINATIONS: usize = 64;
/// Most secrets a job type may declare.
pub const MAX_SECRETS: usize = 32;
/// Longest reason or description, in bytes.
pub const MAX_REASON: usize = 500;
/// Longest secret name, in bytes.
pub const MAX_SECRET_NAME: usize = 64;

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// 80 or 443.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    /// The scheme named `s` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "http" => Some(Scheme::Http),
            "https" => Some(Scheme::Https),
            _ => None,
        }
    }
}

/// Scheme, host (exact, or `*.` and a domain for its subdomains) and port:
/// one entry of an allow-list. Written as `https://api.example.com`,
/// `https://*.example.com` or `http://10.0.0.5:8080`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    /// The scheme.
    pub scheme: Scheme,
    /// Lowercase host name or address; may start with `*.`.
    pub host: String,
    /// The port; the scheme's default when absent.
    pub port: Option<u16>,
}

impl Origin {
    /// Builds an origin from its parts, checking each.
    pub fn new(scheme: &str, host: &str, port: Option<u16>) -> Result<Self, String> {
        let scheme = Scheme::parse(scheme)
            .ok_or_else(|| format!("scheme `{scheme}` is not `http` or `https`"))?;
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let name = host.strip_prefix("*.").unwrap_or(&host);
        let bracketed = name.starts_with('[') && name.ends_with(']');
        let valid_name = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        let valid_v6 = bracketed
            && name[1..name.len() - 1]
                .parse::<std::net::Ipv6Addr>()
                .is_ok();
        if !(valid_name || valid_v6) || (valid_v6 && host.starts_with("*.")) {
            return Err(format!(
                "host `{host}` is not a host name, `*.` and a domain, or an address"
            ));
        }
        if port == Some(0) {
            return Err("port 0 is not a port".into());
        }
        Ok(Origin { scheme, host, port })
    }

    /// The port requests go to.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(self.scheme.default_port())
    }

    /// Whether a request to `scheme://host:port` falls under this entry.
    pub fn matches(&self, scheme: Scheme, host: &str, port: u16) -> bool {
        if scheme != self.scheme || port != self.effective_port() {
            return false;
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        match self.host.strip_prefix("*.") {
            Some(domain) => host.len() > domain.len() + 1 && host.ends_with(&format!(".{domain}")),
            None => host == self.host,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.host)?;
        match self.port {
            Some(p) => write!(f, ":{p}"),
            None => Ok(()),
        }
    }
}

impl std::str::FromStr for Origin {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| format!("`{s}` is not `scheme://host[:port]`"))?;
        if rest.contains(['/', '?', '#', '@']) {
            return Err(format!(
                "`{s}` has a path, query or user part; a destination is `scheme://host[:port]`"
            ));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| format!("`{p}` in `{s}` is not a port (1-65535)"))?;
                (h, Some(port))
            }
            _ => (rest, None),
        };
        Origin::new(scheme, host, port).map_err(|e| format!("`{s}`: {e}"))
    }
}

impl Serialize for Origin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Origin {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A declared destination and why the job type needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    /// Where.
    pub url: Origin,
    /// Why, in one line.
    pub reason: String,
}

/// Where a job type's requests may go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HttpNeeds {
    /// No requests.
    #[default]
    None,
    /// These destinations, approved in whole or in part.
    Destinations {
        /// The list.
        destinations: Vec<Destination>,
    },
    /// Whatever an operator grants; nothing until then.
    OperatorChosen {
        /// What the destinations are for.
        reason: String,
    },
}

/// A named secret a job type reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretNeed {
    /// `[a-z][a-z0-9_]*`.
    pub name: String,
    /// What it is.
    pub description: String,
}

/// What a job type's runs may reach once approved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Outbound HTTP.
    pub http: HttpNeeds,
    /// Secrets.
    pub secrets: Vec<SecretNeed>,
}

impl Capabilities {
    /// Whether the job type declares anything an operator must approve.
    pub fn needs_approval(&self) -> bool {
        !matches!(self.http, HttpNeeds::None) || !self.secrets.is_empty()
    }

    /// The grant that approves everything declared (operator-chosen
    /// destinations stay empty): what bundled job types come with.
    pub fn everything_declared(&self) -> Vec<Origin> {
        match &self.http {
            HttpNeeds::Destinations { destinations } => {
                destinations.iter().map(|d| d.url.clone()).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Checks what a plugin declared; the error names the offending place.
    pub fn check(&self) -> Result<(), String> {
        if let HttpNeeds::Destinations { destinations } = &self.http {
            if destinations.len() > MAX_DESTINATIONS {
                return Err(format!(
                    "declares {} HTTP destinations; at most {MAX_DESTINATIONS} are allowed",
                    destinations.len()
                ));
            }
            for d in destinations {
                check_text(&format!("the reason of destination {}", d.url), &d.reason)?;
            }
        }
        if let HttpNeeds::OperatorChosen { reason } = &self.http {
            check_text("the reason of its operator-chosen destinations", reason)?;
        }
        if self.secrets.len() > MAX_SECRETS {
            return Err(format!(
                "declares {} secrets; at most {MAX_SECRETS} are allowed",
                self.secrets.len()
            ));
        }
        for (i, s) in self.secrets.iter().enumerate() {
            check_secret_name(&s.name).map_err(|e| format!("secret {i}: {e}"))?;
            if self.secrets[..i].iter().any(|o| o.name == s.name) {
                return Err(format!("secret `{}` is declared twice", s.name));
            }
            check_text(
                &format!("the description of secret `{}`", s.name),
                &s.description,
            )?;
        }
        Ok(())
    }
}

fn check_text(what: &str, text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err(format!("{what} is empty"));
    }
    if text.len() > MAX_REASON {
        return Err(format!(
            "{what} is {} bytes; at most {MAX_REASON} are allowed",
            text.len()
        ));
    }
    Ok(())
}

/// Checks a secret name: `[a-z][a-z0-9_]*`, at most 64 bytes.
pub fn check_secret_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if !first_ok
        || name.len() > MAX_SECRET_NAME
        || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(format!(
            "`{name}` is not a secret name: `[a-z][a-z0-9_]*`, at most {MAX_SECRET_NAME} bytes"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse_print_and_match() {
        let o: Origin = "https://API.example.com".parse().unwrap();
        assert_eq!(o.to_string(), "https://api.example.com");
        assert!(o.matches(Scheme::Https, "api.example.com", 443));
        assert!(o.matches(Scheme::Https, "api.example.com.", 443));
        assert!(!o.matches(Scheme::Http, "api.example.com", 443));
        assert!(!o.matches(Scheme::Https, "api.example.com", 8443));
        assert!(!o.matches(Scheme::Https, "x.api.example.com", 443));

        let w: Origin = "https://*.example.com:8443".parse().unwrap();
        assert!(w.matches(Scheme::Https, "a.b.example.com", 8443));
        assert!(!w.matches(Scheme::Https, "example.com", 8443));
        assert!(!w.matches(Scheme::Https, "badexample.com", 8443));
        assert!(!w.matches(Scheme::Https, "a.example.com", 443));

        let v6: Origin = "http://[::1]:8080".parse().unwrap();
        assert!(v6.matches(Scheme::Http, "[::1]", 8080));

        for bad in [
            "ftp://x.com",
            "https://x.com/path",
            "https://u@x.com",
            "x.com",
            "https://",
            "https://x.com:0",
            "https://x.com:99999",
            "https://bad host",
            "https://*.[::1]",
        ] {
            assert!(bad.parse::<Origin>().is_err(), "{bad}");
        }
    }
}
