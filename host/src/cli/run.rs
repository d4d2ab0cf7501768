//! `jobhost run FILE`: one run of a component without a server, its
//! progress and logs on stderr, its status, result or error and receipt as
//! JSON on stdout (the same verdict a server records).

use super::{Common, load, runtime};
use crate::model::RunStatus;
use crate::registry::ConfigError;
use crate::runtime::{CancelToken, LogEntry, RunObserver, RunRequest};
use anyhow::Context as _;
use clap::Args;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Args)]
pub(super) struct RunArgs {
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

pub(super) fn run(common: &Common, args: RunArgs) -> anyhow::Result<i32> {
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
