//! The command line: `jobhost plugin inspect|validate FILE` and
//! `jobhost run FILE --config JSON`. Parsing lives here; `main` only calls [`main`].

mod egress;
mod inspect;
mod token;

use crate::model::RunStatus;
use crate::registry::{ConfigError, Plugin, Registry};
use crate::runtime::{
    CancelToken, Ceilings, LogEntry, RunObserver, RunRequest, Runtime, RuntimeConfig,
};
use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A WebAssembly plugin host for job types.
#[derive(Debug, Parser)]
#[command(name = "jobhost", version, about)]
pub struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct Common {
    /// Directory for jobhost's data; precompiled components are cached in its `cache/`.
    #[arg(long, global = true, env = "JOBHOST_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Compile components every time instead of using the precompiled cache.
    #[arg(long, global = true)]
    no_cache: bool,
    /// Log format on stderr: `text`, or `json` (one object per line, with
    /// the run id and job type in every event of a run).
    #[arg(long, global = true, env = "JOBHOST_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

impl Cli {
    /// Whether logs are JSON lines.
    pub fn json_logs(&self) -> bool {
        self.common.log_format == "json"
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect or validate a plugin component.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Run one job locally and print its output, logs and resource receipt.
    Run(RunArgs),
    /// Serve the REST API with the bundled job types and a plugins directory.
    Serve(Box<ServeArgs>),
    /// Manage bearer tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
}

#[derive(Debug, Args)]
struct ServeArgs {
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
    /// Milliseconds a plugin from the plugins directory or an upload may take
    /// to compile (in a separate worker process) before it is refused.
    #[arg(long, env = "JOBHOST_COMPILE_TIMEOUT_MS", default_value_t = 30_000)]
    compile_timeout_ms: u64,
    /// How many `nice` steps (0-19) below the API threads the threads that
    /// execute runs work: CPU-heavy plugins then slow requests less, but
    /// runs are dispatched later when requests keep the cores busy.
    #[arg(long, env = "JOBHOST_PLUGIN_NICENESS", default_value_t = crate::runtime::PLUGIN_NICENESS,
          value_parser = clap::value_parser!(i32).range(0..=19))]
    plugin_niceness: i32,
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
    /// Largest component accepted (uploads and files), in bytes.
    #[arg(long, env = "JOBHOST_MAX_PLUGIN_BYTES", default_value_t = 32 << 20)]
    max_plugin_bytes: usize,
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Print a plugin's metadata and config schema.
    Inspect {
        /// The component file, or the job type id of a bundled example.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check that a file is a loadable plugin; exits non-zero with the reason if not.
    Validate {
        /// The component file, or the job type id of a bundled example.
        file: PathBuf,
    },
    /// Create a new plugin crate from the template.
    New {
        /// The job type id (lowercase letters, digits and `_`), also the crate's name.
        name: String,
        /// Where to create it; default ./NAME.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The guest SDK as a path (plugins/sdk of a jobhost checkout);
        /// default the one this binary was built from.
        #[arg(long, conflicts_with = "sdk_git")]
        sdk: Option<PathBuf>,
        /// The guest SDK from a git repository holding jobhost (cargo
        /// checks it out), instead of a path.
        #[arg(long, value_name = "URL")]
        sdk_git: Option<String>,
        /// With --sdk-git: the branch, tag or commit to use.
        #[arg(long, value_name = "REV", requires = "sdk_git")]
        sdk_rev: Option<String>,
        /// A job type that calls an HTTP API with a secret (a declared
        /// destination and secret, the SDK's `http` helper).
        #[arg(long)]
        http: bool,
    },
    /// Compile a component read on stdin to an artifact on stdout, for a
    /// server's compile worker (internal).
    #[command(hide = true)]
    CompileWorker {
        /// The server engine's instance pool size.
        #[arg(long)]
        max_instances: u32,
        /// The server's memory ceiling per instance.
        #[arg(long)]
        max_memory_bytes: u64,
        /// Largest component accepted.
        #[arg(long)]
        max_component_bytes: usize,
        /// Whether the server meters fuel.
        #[arg(long, action = clap::ArgAction::Set)]
        fuel: bool,
        /// Cap of this process's data segment in bytes.
        #[arg(long, default_value_t = crate::runtime::COMPILE_MEMORY_BYTES)]
        memory_bytes: u64,
    },
    /// Upload a component to a running server (operator token).
    Publish {
        /// The component file.
        file: PathBuf,
        /// The server's base URL.
        #[arg(long, env = "JOBHOST_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// An operator's bearer token (publishing changes the job types every tenant shares).
        #[arg(long, env = "JOBHOST_TOKEN", hide_env_values = true)]
        token: String,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The component file, or the job type id of a bundled example (e.g. `text_stats`).
    file: PathBuf,
    /// The job config: JSON text, or @PATH to read it from a file.
    #[arg(long, default_value = "{}")]
    config: String,
    /// Lower the run's deadline (milliseconds).
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Lower the run's memory limit (MiB).
    #[arg(long)]
    memory_mib: Option<u64>,
    /// Meter fuel and stop the run after this much.
    #[arg(long)]
    fuel: Option<u64>,
    /// Resume from this checkpoint file.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
}

/// Runs the command line; the process exit code is the result.
pub fn main(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Plugin(PluginCommand::Inspect { file, json }) => {
            let plugin = load(&runtime(&cli.common, None)?, &file)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&inspect::plugin_json(&plugin))?
                );
            } else {
                inspect::print_info(&plugin);
            }
            Ok(0)
        }
        Command::Plugin(PluginCommand::Validate { file }) => {
            let plugin = load(&runtime(&cli.common, None)?, &file)?;
            let i = &plugin.info;
            println!(
                "ok: {} {} ({} bytes, sha256 {})",
                i.job_type,
                i.version,
                plugin.compiled.size(),
                plugin.compiled.digest()
            );
            Ok(0)
        }
        Command::Plugin(PluginCommand::CompileWorker {
            max_instances,
            max_memory_bytes,
            max_component_bytes,
            fuel,
            memory_bytes,
        }) => {
            let config = RuntimeConfig {
                ceilings: Ceilings {
                    max_memory_bytes,
                    fuel: fuel.then_some(u64::MAX),
                    ..Ceilings::default()
                },
                max_instances,
                max_component_bytes,
                ..RuntimeConfig::default()
            };
            Ok(crate::runtime::worker_main(&config, memory_bytes))
        }
        Command::Plugin(PluginCommand::New {
            name,
            dir,
            sdk,
            sdk_git,
            sdk_rev,
            http,
        }) => {
            use crate::author::SdkSource;
            let sdk = match (sdk, sdk_git) {
                (_, Some(url)) => SdkSource::Git { url, rev: sdk_rev },
                (Some(path), None) => SdkSource::Path(path),
                (None, None) => SdkSource::built_with(),
            };
            let dir = crate::author::new_plugin(&name, dir, &sdk, http)?;
            println!("{}", crate::author::next_steps(&name, &dir, &sdk));
            Ok(0)
        }
        Command::Plugin(PluginCommand::Publish {
            file,
            server,
            token,
        }) => {
            let answer = crate::author::publish(&file, &server, &token)?;
            println!("{}", serde_json::to_string_pretty(&answer)?);
            Ok(0)
        }
        Command::Run(args) => run(&cli.common, args),
        Command::Serve(args) => {
            crate::runtime::set_plugin_niceness(args.plugin_niceness);
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            let workers = args.workers.unwrap_or(cores).max(1);
            crate::server::serve(crate::server::ServeConfig {
                listen: args.listen,
                plugins_dir: Some(
                    args.plugins_dir
                        .unwrap_or_else(|| cli.common.data_dir.join("plugins")),
                ),
                data_dir: cli.common.data_dir,
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
                tokens_file: args.tokens_file,
                cache: !cli.common.no_cache,
                max_queued_runs: args.max_queued_runs,
                reload_every: (args.reload_interval_ms > 0)
                    .then(|| Duration::from_millis(args.reload_interval_ms)),
                max_plugin_bytes: args.max_plugin_bytes,
                log_retention: Duration::from_secs(args.log_retention_hours * 3600),
                metrics_public: args.metrics_public,
                job_creates_per_minute: args.job_create_rate,
                max_body_bytes: args.max_body_bytes as usize,
                streams: crate::events::StreamLimits {
                    per_token: args.max_streams_per_token as usize,
                    per_tenant: args.max_streams_per_tenant as usize,
                },
                http: crate::listener::Limits {
                    header_read_timeout: Duration::from_millis(args.header_timeout_ms.max(1)),
                    ..crate::listener::Limits::default()
                },
                callbacks: crate::webhooks::Settings {
                    policy: Arc::new(crate::webhooks::Policy {
                        allow: args.callback_allow,
                    }),
                    retries: args.callback_retries,
                    backoff: Duration::from_millis(args.callback_backoff_ms),
                    timeout: Duration::from_secs(10),
                },
            })?;
            Ok(0)
        }
        Command::Token(command) => token::main(command, &cli.common.data_dir),
    }
}

fn runtime(common: &Common, fuel: Option<u64>) -> anyhow::Result<Runtime> {
    let config = RuntimeConfig {
        ceilings: Ceilings {
            fuel,
            ..Ceilings::default()
        },
        max_instances: 4,
        cache_dir: (!common.no_cache).then(|| common.data_dir.join("cache")),
        ..RuntimeConfig::default()
    };
    Ok(Runtime::new(config)?)
}

/// Loads a component file, or a bundled example by job type id when no such file exists.
fn load(runtime: &Runtime, file: &Path) -> anyhow::Result<Plugin> {
    let bundled = file.to_str().and_then(|id| {
        crate::bundled::BUNDLED
            .iter()
            .find(|(name, _)| name.strip_suffix(".wasm") == Some(id))
    });
    let bytes = match bundled {
        Some((_, bytes)) if !file.exists() => bytes.to_vec(),
        _ => std::fs::read(file).with_context(|| {
            let ids: Vec<&str> = crate::bundled::BUNDLED
                .iter()
                .filter_map(|(n, _)| n.strip_suffix(".wasm"))
                .collect();
            format!(
                "reading {} (not a file, nor a bundled job type: {})",
                file.display(),
                ids.join(", ")
            )
        })?,
    };
    Registry::prepare(runtime, &bytes, &file.display().to_string())
        .with_context(|| format!("{} is not a usable plugin", file.display()))
}

/// The metadata as `GET /jobs/schemas` serves it, plus the component's digest and size.
/// Prints log lines to stderr as they arrive.
struct StderrObserver;

impl RunObserver for StderrObserver {
    fn log(&self, e: LogEntry) {
        eprintln!("[{:?} {:?}] {}", e.level, e.source, e.message);
    }
    fn progress(&self, percent: u8, message: &str) {
        eprintln!("[progress {percent:>3}%] {message}");
    }
    fn checkpoint(&self, state: &[u8]) {
        eprintln!("[checkpoint] {} bytes", state.len());
    }
}

fn run(common: &Common, args: RunArgs) -> anyhow::Result<i32> {
    let runtime = runtime(common, args.fuel)?;
    let plugin = load(&runtime, &args.file)?;
    let text = match args.config.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading config file {path}"))?
        }
        None => args.config.clone(),
    };
    let mut config: Value = serde_json::from_str(&text).context("--config is not valid JSON")?;
    if let Err(e) = plugin.validate_config(&mut config) {
        eprintln!("error: {e}");
        if let ConfigError::Schema { violations, .. } = &e {
            for v in violations {
                eprintln!("  at `{}`: {}", v.pointer, v.message);
            }
        }
        return Ok(2);
    }
    let mut limits = plugin.info.limits;
    if let Some(ms) = args.timeout_ms {
        limits.timeout = limits.timeout.min(Duration::from_millis(ms));
    }
    if let Some(mib) = args.memory_mib {
        limits.memory_bytes = limits.memory_bytes.min(mib << 20);
    }
    let checkpoint = match &args.checkpoint {
        Some(p) => {
            Some(std::fs::read(p).with_context(|| format!("reading checkpoint {}", p.display()))?)
        }
        None => None,
    };
    let request = RunRequest {
        config: config.to_string(),
        run_id: uuid::Uuid::new_v4().to_string(),
        attempt: 1,
        checkpoint,
        limits,
        access: Arc::default(),
    };
    let report = runtime.run(
        &plugin.compiled,
        &request,
        Arc::new(StderrObserver),
        &CancelToken::new(),
    );
    let verdict = report.outcome.verdict();
    let mut doc = json!({
        "job_type": plugin.info.job_type,
        "version": plugin.info.version.to_string(),
        "status": verdict.status,
    });
    if let Some(out) = &verdict.output {
        doc["output"] = out.value.clone();
        doc["output_references"] = serde_json::to_value(&out.references)?;
    }
    if let Some(error) = &verdict.error {
        doc["error"] = serde_json::to_value(error)?;
    }
    doc["receipt"] = serde_json::to_value(&report.receipt)?;
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(if verdict.status == RunStatus::Completed {
        0
    } else {
        1
    })
}
