//! Outbound network access of the host: which addresses connections may
//! reach (one policy for webhooks and plugin requests), name
//! resolution, and the sender of plugins' `wasi:http` requests, which checks
//! each request against the run's granted destinations and caps, pins the
//! connection to a checked address and audits what happened.

mod body;
mod dial;
pub mod policy;
mod resolve;
mod send;

pub use policy::PluginNets;
pub use resolve::{Fixed, Resolver, parse_fixed};
pub use rustls::pki_types::CertificateDer;
pub use send::{AuditSink, HttpAudit, RunHttp};

use std::sync::Arc;

/// Caps on one run's outbound HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpCaps {
    /// Requests per run.
    pub requests: u64,
    /// Bytes of one response body.
    pub response_bytes: u64,
    /// Bytes of all response bodies of a run.
    pub run_response_bytes: u64,
    /// Bytes of one request body.
    pub request_body_bytes: u64,
    /// Connections open at once.
    pub connections: u32,
}

impl Default for HttpCaps {
    fn default() -> Self {
        HttpCaps {
            requests: 100,
            response_bytes: 16 << 20,
            run_response_bytes: 64 << 20,
            request_body_bytes: 4 << 20,
            connections: 8,
        }
    }
}

/// Everything the host needs to send plugin requests, shared by every run.
#[derive(Clone)]
pub struct Egress {
    /// Networks opened to plugins.
    pub nets: PluginNets,
    /// Name resolution.
    pub resolver: Resolver,
    /// Caps per run.
    pub caps: HttpCaps,
    tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for Egress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Egress")
            .field("nets", &self.nets)
            .field("caps", &self.caps)
            .finish_non_exhaustive()
    }
}

impl Default for Egress {
    fn default() -> Self {
        Egress::new(
            PluginNets::default(),
            Resolver::default(),
            HttpCaps::default(),
        )
    }
}

/// Reads the PEM certificates of `--http-ca-file`.
pub fn read_ca_file(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

impl Egress {
    /// Egress trusting the web's public roots for TLS.
    pub fn new(nets: PluginNets, resolver: Resolver, caps: HttpCaps) -> Self {
        Egress::with_roots(nets, resolver, caps, Vec::new()).expect("no extra roots to refuse")
    }

    /// Egress trusting the web's public roots and `extra` (an internal CA).
    pub fn with_roots(
        nets: PluginNets,
        resolver: Resolver,
        caps: HttpCaps,
        extra: Vec<CertificateDer<'static>>,
    ) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        for cert in extra {
            roots
                .add(cert)
                .map_err(|e| format!("a CA certificate is not usable: {e}"))?;
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Egress {
            nets,
            resolver,
            caps,
            tls: Arc::new(tls),
        })
    }
}
