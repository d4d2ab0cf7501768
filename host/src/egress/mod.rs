//! Outbound network access of the host: which addresses connections may
//! reach (one policy for webhook callbacks and plugin requests), name
//! resolution, and the sender of plugins' `wasi:http` requests, which checks
//! each request against the run's granted destinations and caps, pins the
//! connection to a checked address and audits what happened.

pub mod policy;
mod resolve;
mod send;

pub use policy::PluginNets;
pub use resolve::{Fixed, Resolver, parse_fixed};
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

impl Egress {
    /// Egress with the web's public roots for TLS.
    pub fn new(nets: PluginNets, resolver: Resolver, caps: HttpCaps) -> Self {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        Egress {
            nets,
            resolver,
            caps,
            tls: Arc::new(tls),
        }
    }
}
