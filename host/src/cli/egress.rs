//! `serve` flags for plugins' outbound HTTP: which grants an operator gives
//! from a file, which networks plugins may reach beyond the public internet,
//! fixed name resolution, and the per-run caps.

use crate::egress::{Egress, Fixed, HttpCaps, PluginNets, Resolver};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(super) struct EgressArgs {
    /// JSON file of grants for plugins loaded from the plugins directory:
    /// `{"JOB_TYPE@VERSION": {"http": ["https://api.example.com"], "secrets": ["api_key"]}}`.
    /// An approval given over the API for the same version wins.
    #[arg(long, env = "JOBHOST_GRANTS")]
    pub(super) grants: Option<PathBuf>,
    /// File holding the key tenants' secrets are sealed with (64 hex
    /// digits); created with mode 0600 when missing. Default:
    /// DATA_DIR/secrets.key. Keep it out of backups of the data directory.
    #[arg(long, env = "JOBHOST_SECRETS_KEY_FILE")]
    pub(super) secrets_key_file: Option<PathBuf>,
    /// Networks plugin requests may reach although they are denied by
    /// default (loopback, private, link-local, CGNAT, unique-local...), as
    /// CIDRs. Which hosts a plugin may call still comes from its grant.
    #[arg(long, env = "JOBHOST_HTTP_ALLOW_NET", value_delimiter = ',')]
    http_allow_net: Vec<ipnet::IpNet>,
    /// Fixed addresses for a host name, as NAME=ADDRESS[,ADDRESS...] (like
    /// curl's --resolve), or for one port and to another port as
    /// NAME:PORT=ADDRESS:PORT (like curl's --connect-to). The addresses are
    /// checked like any other.
    #[arg(long = "resolve", env = "JOBHOST_RESOLVE", value_parser = crate::egress::parse_fixed)]
    resolve: Vec<Fixed>,
    /// PEM file of CA certificates plugins' TLS connections trust besides
    /// the web's public roots (an internal CA).
    #[arg(long, env = "JOBHOST_HTTP_CA_FILE")]
    http_ca_file: Option<PathBuf>,
    /// Outbound HTTP requests per run.
    #[arg(long, env = "JOBHOST_HTTP_MAX_REQUESTS", default_value_t = HttpCaps::default().requests)]
    http_max_requests: u64,
    /// Largest response body a plugin may receive, in bytes.
    #[arg(long, env = "JOBHOST_HTTP_MAX_RESPONSE_BYTES", default_value_t = HttpCaps::default().response_bytes)]
    http_max_response_bytes: u64,
    /// Response body bytes per run, all requests together.
    #[arg(long, env = "JOBHOST_HTTP_MAX_RUN_RESPONSE_BYTES", default_value_t = HttpCaps::default().run_response_bytes)]
    http_max_run_response_bytes: u64,
    /// Largest request body a plugin may send, in bytes.
    #[arg(long, env = "JOBHOST_HTTP_MAX_REQUEST_BODY_BYTES", default_value_t = HttpCaps::default().request_body_bytes)]
    http_max_request_body_bytes: u64,
    /// Connections one run may have open at once.
    #[arg(long, env = "JOBHOST_HTTP_MAX_CONNECTIONS", default_value_t = HttpCaps::default().connections)]
    http_max_connections: u32,
}

impl EgressArgs {
    pub(super) fn egress(&self) -> anyhow::Result<Egress> {
        let extra = match &self.http_ca_file {
            Some(path) => crate::egress::read_ca_file(path)
                .map_err(|e| anyhow::anyhow!("--http-ca-file {e}"))?,
            None => Vec::new(),
        };
        Egress::with_roots(
            PluginNets {
                open: self.http_allow_net.clone(),
            },
            Resolver::with_fixed(self.resolve.clone()),
            HttpCaps {
                requests: self.http_max_requests,
                response_bytes: self.http_max_response_bytes,
                run_response_bytes: self.http_max_run_response_bytes,
                request_body_bytes: self.http_max_request_body_bytes,
                connections: self.http_max_connections.max(1),
            },
            extra,
        )
        .map_err(|e| anyhow::anyhow!("--http-ca-file: {e}"))
    }
}
