//! `jobhost serve`: its flags, and how they map to the server's settings.

use super::{Common, egress};
use crate::server::ServeConfig;
use crate::store::postgres::DatabaseConfig;
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    #[command(flatten)]
    egress: egress::EgressArgs,
    /// Address to listen on.
    #[arg(long, env = "JOBHOST_LISTEN", default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// Directory of extra plugin components (`*.wasm`); default DATA_DIR/plugins.
    #[arg(long, env = "JOBHOST_PLUGINS_DIR")]
    plugins_dir: Option<PathBuf>,
    /// Do not load the bundled example job types.
    #[arg(long)]
    no_bundled: bool,
    /// Worker threads executing runs; default: the number of cores.
    #[arg(long, env = "JOBHOST_WORKERS")]
    workers: Option<usize>,
    /// The most runs one tenant may have executing at once; default (and
    /// at most) the worker count. Below it, a tenant that fills the queue
    /// with long runs always leaves workers to the others.
    #[arg(long, env = "JOBHOST_TENANT_MAX_RUNNING")]
    tenant_max_running: Option<std::num::NonZeroUsize>,
    /// Seconds running runs get to finish at shutdown before they are interrupted.
    #[arg(long, env = "JOBHOST_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    shutdown_grace_secs: u64,
    /// Milliseconds of CPU time a plugin from the plugins directory or an
    /// upload may take to compile (in a separate worker process on one
    /// thread at lowered priority; whole seconds, rounded up) before it is
    /// refused; a busy host slows a compile without refusing it, up to 10x
    /// the cap in wall-clock time. Python and JavaScript components take
    /// 5-20 s of Cranelift.
    #[arg(long, env = "JOBHOST_COMPILE_TIMEOUT_MS", default_value_t = 120_000)]
    compile_timeout_ms: u64,
    /// How many `nice` steps (0-19) below the API threads the threads that
    /// execute runs work: CPU-heavy plugins then slow requests less, but
    /// runs are dispatched later when requests keep the cores busy.
    #[arg(long, env = "JOBHOST_PLUGIN_NICENESS", default_value_t = crate::runtime::PLUGIN_NICENESS,
          value_parser = clap::value_parser!(i32).range(0..=19))]
    pub(super) plugin_niceness: i32,
    /// Milliseconds a running attempt's lease lasts unless its worker renews
    /// it (every third of it); a lapsed attempt is retried or failed.
    #[arg(long, env = "JOBHOST_LEASE_TTL_MS", default_value_t = 30_000)]
    lease_ttl_ms: u64,
    /// Token file; default DATA_DIR/tokens.json (created with an operator token if missing).
    #[arg(long, env = "JOBHOST_TOKENS_FILE")]
    tokens_file: Option<PathBuf>,
    /// Runs that may wait in the queue; past it `POST /job-runs` answers 429.
    #[arg(long, env = "JOBHOST_MAX_QUEUED_RUNS", default_value_t = 100_000)]
    max_queued_runs: usize,
    /// Milliseconds between checks of the plugins directory for added, changed
    /// or removed components; 0 turns hot reload off.
    #[arg(long, env = "JOBHOST_RELOAD_INTERVAL_MS", default_value_t = 2000)]
    reload_interval_ms: u64,
    /// Callback targets allowed: networks (CIDR), addresses or host names
    /// (`*.example.com`); repeat or separate with commas. Without it any
    /// address is allowed except loopback, link-local, metadata, unspecified
    /// and multicast ones; a listed network lifts those denials inside it.
    #[arg(long, env = "JOBHOST_CALLBACK_ALLOW", value_delimiter = ',')]
    callback_allow: Vec<crate::webhooks::Allow>,
    /// Callback retries after the first attempt.
    #[arg(long, env = "JOBHOST_CALLBACK_RETRIES", default_value_t = 5)]
    callback_retries: u32,
    /// Delay before the first callback retry, doubled for each next one (ms).
    #[arg(long, env = "JOBHOST_CALLBACK_BACKOFF_MS", default_value_t = 1000)]
    callback_backoff_ms: u64,
    /// Jobs one token may create per minute (also the burst); 0 = unlimited.
    #[arg(long, env = "JOBHOST_JOB_CREATE_RATE", default_value_t = 30)]
    job_create_rate: u32,
    /// Runs that may be paused in memory at once (their instance held, and a
    /// worker thread started in the stead of each); past it a pause is 409.
    #[arg(long, env = "JOBHOST_MAX_PAUSED_IN_MEMORY", default_value_t = 8)]
    max_paused_in_memory: usize,
    /// Seconds an `Idempotency-Key` is remembered after its first request.
    #[arg(long, env = "JOBHOST_IDEMPOTENCY_TTL_SECS", default_value_t = crate::service::DEFAULT_IDEMPOTENCY_TTL.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=30 * 86_400))]
    idempotency_ttl_secs: u64,
    /// Milliseconds a client gets to send a request's headers.
    #[arg(long, env = "JOBHOST_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    header_timeout_ms: u64,
    /// Serve `GET /metrics` to anyone (default: an operator token is required).
    #[arg(long, env = "JOBHOST_METRICS_PUBLIC")]
    metrics_public: bool,
    /// Hours run logs are kept after the run was created.
    #[arg(long, env = "JOBHOST_LOG_RETENTION_HOURS", default_value_t = 168)]
    log_retention_hours: u64,
    /// Event streams (`GET /events`, `GET /job-runs/{id}/events`) one token
    /// may hold open; past it a new one gets 429.
    #[arg(long, env = "JOBHOST_MAX_STREAMS_PER_TOKEN", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_streams_per_token: u32,
    /// Event streams one tenant's tokens may hold open together.
    #[arg(long, env = "JOBHOST_MAX_STREAMS_PER_TENANT", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_streams_per_tenant: u32,
    /// Largest JSON request body accepted, in bytes (a job's config travels
    /// in one, and is stored with the job and each of its runs).
    #[arg(long, env = "JOBHOST_MAX_BODY_BYTES", default_value_t = crate::api::DEFAULT_MAX_BODY_BYTES as u64,
          value_parser = clap::value_parser!(u64).range(1024..=(256 << 20)))]
    max_body_bytes: u64,
    /// `Host` names `/mcp` accepts (any port unless `name:port`); repeat or
    /// separate with commas. The default, loopback names only, keeps pages
    /// on other sites from reaching a local server through DNS rebinding;
    /// name the host clients use when serving beyond this machine.
    #[arg(long, env = "JOBHOST_MCP_ALLOWED_HOSTS", value_delimiter = ',',
          default_values_t = crate::mcp::DEFAULT_ALLOWED_HOSTS.map(String::from))]
    mcp_allowed_hosts: Vec<String>,
    /// Seconds an MCP job type tool waits for its run before answering
    /// with the run's id.
    #[arg(long, env = "JOBHOST_MCP_WAIT_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    mcp_wait_secs: u64,
    /// MCP sessions (protocol versions before 2026-07-28) open at once.
    #[arg(long, env = "JOBHOST_MCP_MAX_SESSIONS", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..))]
    mcp_max_sessions: u32,
    /// Largest component accepted (uploads and files), in bytes.
    #[arg(long, env = "JOBHOST_MAX_PLUGIN_BYTES", default_value_t = 32 << 20)]
    max_plugin_bytes: usize,
    /// Store in this PostgreSQL database instead of sled in the data
    /// directory: `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (or
    /// libpq's `host=... dbname=...`). Its schema is migrated at start.
    #[arg(
        long,
        env = "JOBHOST_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    database: Option<String>,
    /// Seconds to wait for a database connection before giving up.
    #[arg(long, env = "JOBHOST_DATABASE_CONNECT_TIMEOUT", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    database_connect_timeout: u64,
    /// Database connections open at most.
    #[arg(long, env = "JOBHOST_DATABASE_POOL_SIZE", default_value_t = 16,
          value_parser = clap::value_parser!(u64).range(1..=1000))]
    database_pool_size: u64,
}

/// The server's settings from the common flags and `serve`'s.
pub(super) fn config(common: Common, args: ServeArgs) -> anyhow::Result<ServeConfig> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let workers = args.workers.unwrap_or(cores).max(1);
    let database = args.database.map(|url| DatabaseConfig {
        url,
        pool_size: args.database_pool_size as usize,
        connect_timeout: Duration::from_secs(args.database_connect_timeout),
    });
    Ok(ServeConfig {
        database,
        listen: args.listen,
        plugins_dir: Some(
            args.plugins_dir
                .unwrap_or_else(|| common.data_dir.join("plugins")),
        ),
        data_dir: common.data_dir,
        egress: Arc::new(args.egress.egress()?),
        grants_file: args.egress.grants.clone(),
        secrets_key_file: args.egress.secrets_key_file.clone(),
        bundled: !args.no_bundled,
        workers,
        tenant_max_running: args
            .tenant_max_running
            .map_or(workers, |n| n.get().min(workers)),
        shutdown_grace: Duration::from_secs(args.shutdown_grace_secs),
        lease_ttl: Duration::from_millis(args.lease_ttl_ms.max(50)),
        compile_timeout: Duration::from_millis(args.compile_timeout_ms.max(1)),
        compile_program: None,
        tokens_file: args.tokens_file,
        cache: !common.no_cache,
        max_queued_runs: args.max_queued_runs,
        reload_every: (args.reload_interval_ms > 0)
            .then(|| Duration::from_millis(args.reload_interval_ms)),
        max_plugin_bytes: args.max_plugin_bytes,
        log_retention: Duration::from_secs(args.log_retention_hours * 3600),
        metrics_public: args.metrics_public,
        job_creates_per_minute: args.job_create_rate,
        idempotency_ttl: Duration::from_secs(args.idempotency_ttl_secs),
        max_paused_in_memory: args.max_paused_in_memory,
        max_body_bytes: args.max_body_bytes as usize,
        mcp: crate::mcp::McpSettings {
            allowed_hosts: args.mcp_allowed_hosts,
            wait: Duration::from_secs(args.mcp_wait_secs),
            max_sessions: args.mcp_max_sessions as usize,
            ..crate::mcp::McpSettings::default()
        },
        streams: crate::events::StreamLimits {
            per_token: args.max_streams_per_token as usize,
            per_tenant: args.max_streams_per_tenant as usize,
        },
        http: crate::listener::Limits {
            header_read_timeout: Duration::from_millis(args.header_timeout_ms.max(1)),
            ..crate::listener::Limits::default()
        },
        webhooks: crate::webhooks::Settings {
            policy: Arc::new(crate::webhooks::Policy {
                allow: args.callback_allow,
            }),
            retries: args.callback_retries,
            backoff: Duration::from_millis(args.callback_backoff_ms),
            timeout: Duration::from_secs(10),
        },
    })
}
