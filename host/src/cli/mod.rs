//! The command line: `jobhost serve` (the server), `jobhost run FILE`
//! (one run of a component, without a server), `jobhost plugin
//! new|validate|inspect|publish` (for plugin authors), `jobhost token
//! create|list|revoke` and `jobhost migrate` (a PostgreSQL database's
//! schema). Parsing and the mapping of `serve` flags to the
//! server's settings live here; `main` only calls [`main`].

mod egress;
mod inspect;
mod migrate;
mod run;
mod serve;
mod token;

use crate::registry::{Plugin, Registry};
use crate::runtime::{Ceilings, Runtime, RuntimeConfig};
use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};

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
    /// Bring a PostgreSQL database's schema up to this build's version.
    Migrate(migrate::DatabaseArgs),
    /// Inspect or validate a plugin component.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Run one job locally and print its output, logs and resource receipt.
    Run(run::RunArgs),
    /// Serve the REST API with the bundled job types and a plugins directory.
    Serve(Box<serve::ServeArgs>),
    /// Manage bearer tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
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
        /// destination and secret, the SDK's `http` helper); Rust only.
        #[arg(long)]
        http: bool,
        /// The language: a Rust crate, or a Python, JavaScript or TypeScript
        /// project (with --sdk the plugins/python/sdk or plugins/js/sdk
        /// directory; TypeScript derives the config schema from a type).
        #[arg(long, value_enum, default_value = "rust")]
        lang: crate::author::Lang,
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
        /// Cap of this process's CPU time in milliseconds (rounded up to
        /// whole seconds); none without it.
        #[arg(long)]
        cpu_ms: Option<u64>,
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
            cpu_ms,
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
            Ok(crate::runtime::worker_main(&config, memory_bytes, cpu_ms))
        }
        Command::Plugin(PluginCommand::New {
            name,
            dir,
            sdk,
            sdk_git,
            sdk_rev,
            http,
            lang,
        }) => {
            use crate::author::{Lang, SdkSource};
            if lang != Lang::Rust {
                if http || sdk_git.is_some() {
                    anyhow::bail!("--http and --sdk-git are for --lang rust");
                }
                let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
                let sdk = sdk.unwrap_or_else(|| crate::author::default_sdk_of(lang));
                let sdk = crate::author::new_project(&name, &dir, lang, &sdk)?;
                println!("{}", crate::author::next_steps_of(&name, &dir, lang, &sdk));
                return Ok(0);
            }
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
        Command::Migrate(args) => migrate::main(&args),
        Command::Run(args) => run::run(&cli.common, args),
        Command::Serve(args) => {
            crate::runtime::set_plugin_niceness(args.plugin_niceness);
            crate::server::serve(serve::config(cli.common, *args)?)?;
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

/// The server's settings for a `jobhost` command line whose command is
/// `serve` (`["jobhost", "--data-dir", DIR, "serve", FLAGS...]`): what a
/// test or an embedding program needs to build a server in-process exactly
/// as the command would.
pub fn serve_config<I, T>(args: I) -> anyhow::Result<crate::server::ServeConfig>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::try_parse_from(args)?;
    match cli.command {
        Command::Serve(args) => serve::config(cli.common, *args),
        _ => anyhow::bail!("not a `serve` command line"),
    }
}
