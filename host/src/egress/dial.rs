//! Reaching a request's destination: its timeouts held to the run's
//! deadline, one resolution with every address checked against the
//! networks plugins may not reach, a connection to a checked address, and
//! TLS that names the URL's host.

use super::send::{Draft, Shared};
use crate::model::Scheme;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error, RequestOptions};

/// Where a request goes.
pub(super) struct Target {
    pub(super) scheme: Scheme,
    pub(super) host: String,
    pub(super) port: u16,
}

/// A request's timeouts: the guest's wishes, held to the run's deadline.
pub(super) struct Timeouts {
    pub(super) connect: Duration,
    pub(super) first_byte: Duration,
    pub(super) between_bytes: Duration,
}

impl Timeouts {
    /// `None` once the run's deadline has passed.
    pub(super) fn new(shared: &Shared, options: RequestOptions) -> Option<Timeouts> {
        let remaining = shared.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return None;
        }
        // A little past the deadline, so that the run's own deadline (which
        // stops it with the `timeout` limit) is what ends a request held to it.
        let ceiling = remaining + Duration::from_millis(100);
        let clamp =
            |wish: Option<Duration>, default: Duration| wish.unwrap_or(default).min(ceiling);
        Some(Timeouts {
            connect: clamp(options.connect_timeout, Duration::from_secs(10)),
            first_byte: clamp(options.first_byte_timeout, remaining),
            between_bytes: clamp(options.between_bytes_timeout, Duration::from_secs(60))
                .max(Duration::from_millis(1)),
        })
    }
}

/// Resolves the target, refuses it if any address is in a prohibited
/// network, connects to a checked address, and speaks TLS for `https`.
pub(super) async fn dial(
    shared: &Shared,
    target: &Target,
    timeout: Duration,
    draft: &mut Draft,
) -> Result<Box<dyn Io>, Error> {
    let Target { scheme, host, port } = target;
    let addrs = shared
        .egress
        .resolver
        .lookup(host, *port, timeout)
        .await
        .map_err(|e| {
            draft.fail(
                Error::DnsError {
                    rcode: None,
                    info_code: None,
                },
                e,
            )
        })?;
    for addr in &addrs {
        if let Err(why) = shared.egress.nets.check(host, addr.ip()) {
            return Err(draft.deny(Error::DestinationIpProhibited, why));
        }
    }
    let tcp = connect(&addrs, timeout)
        .await
        .map_err(|(e, what)| draft.fail(e, what))?;
    let _ = tcp.set_nodelay(true);
    if *scheme == Scheme::Http {
        return Ok(Box::new(tcp));
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let name = match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => rustls::pki_types::ServerName::from(ip),
        Err(_) => rustls::pki_types::ServerName::try_from(bare.to_string())
            .map_err(|e| draft.fail(Error::HttpRequestUriInvalid, format!("TLS name: {e}")))?,
    };
    let connector = tokio_rustls::TlsConnector::from(shared.egress.tls.clone());
    let tls = tokio::time::timeout(timeout, connector.connect(name, tcp))
        .await
        .map_err(|_| {
            draft.fail(
                Error::ConnectionTimeout,
                "the TLS handshake timed out".into(),
            )
        })?
        .map_err(|e| draft.fail(Error::TlsProtocolError, format!("TLS: {e}")))?;
    Ok(Box::new(tls))
}

pub(super) trait Io:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static
{
}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Io for T {}

/// Connects to the first address that answers within `timeout` in all.
async fn connect(addrs: &[SocketAddr], timeout: Duration) -> Result<TcpStream, (Error, String)> {
    let attempt = async {
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some((*addr, e)),
            }
        }
        let (addr, e) = last.expect("a lookup returns at least one address");
        Err((
            Error::ConnectionRefused,
            format!("connecting to {addr}: {e}"),
        ))
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| {
            Err((
                Error::ConnectionTimeout,
                format!("no connection within {} ms", timeout.as_millis()),
            ))
        })
}
