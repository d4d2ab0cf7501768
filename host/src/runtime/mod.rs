//! The sandboxed runtime: one engine and linker, components compiled once
//! (optionally through an on-disk cache), and a fresh `Store` with limits for
//! every call into a plugin. Plugins get WASI without files, environment or
//! sockets, and `wasi:http` to the destinations their run was granted; their
//! stdout and stderr become log lines; their secret values are scrubbed from
//! everything they report.

mod access;
mod bindings;
mod cache;
mod call;
mod cancel;
mod compile;
mod compile_worker;
mod engine;
mod guest;
mod limits;
mod observe;
mod outcome;
mod priority;
mod shape;
mod state;
mod stdio;

pub use access::{RunAccess, SecretValue};
pub use cache::ArtifactCache;
pub use cancel::CancelToken;
pub use compile::{CompileError, Compiled, CompiledFrom};
pub use compile_worker::{
    CompileWorker, MAX_PARALLEL as MAX_PARALLEL_COMPILES, MEMORY_BYTES as COMPILE_MEMORY_BYTES,
    worker_main,
};
pub use guest::PluginInfo;
pub use limits::{Ceilings, RunLimits};
pub use observe::{Collector, LogEntry, RunObserver};
pub use outcome::{Outcome, RunReport, Verdict};
pub use priority::{PLUGIN_NICENESS, lower_this_thread, set_plugin_niceness};
pub use shape::{CodeCaps, CodeShape};

use crate::egress::Egress;
use crate::model::{OutputData, Receipt, RunOutput, StopReason};
use call::{Export, Returned, RunContext};
use guest::{GuestError, GuestOutput};
use state::RunState;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use wasmtime::Store;

/// How to build a [`Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Ceilings and defaults of every run.
    pub ceilings: Ceilings,
    /// Instances that may exist at once (runs plus `describe` calls); sizes the pool.
    pub max_instances: u32,
    /// Largest component accepted, in bytes.
    pub max_component_bytes: usize,
    /// Caps on a component's code, checked before compiling.
    pub code_caps: CodeCaps,
    /// Where precompiled components are cached; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// Limits of a `describe` call.
    pub describe_limits: RunLimits,
    /// Where components from outside the binary are compiled, with a time
    /// cap; `None` compiles them on the caller's thread.
    pub compile_worker: Option<CompileWorker>,
    /// How plugin requests reach the network.
    pub egress: Arc<Egress>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            ceilings: Ceilings::default(),
            max_instances: 64,
            max_component_bytes: 32 << 20,
            code_caps: CodeCaps::default(),
            cache_dir: None,
            describe_limits: RunLimits {
                timeout: Duration::from_secs(2),
                memory_bytes: 64 << 20,
                fuel: None,
            },
            compile_worker: None,
            egress: Arc::default(),
        }
    }
}

/// Errors building a runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The engine rejected the configuration.
    #[error("configuring the WebAssembly engine: {0}")]
    Engine(String),
    /// The cache directory cannot be used.
    #[error("opening the artifact cache {path}: {source}")]
    Cache {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// One run's request.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The config, a JSON object as text.
    pub config: String,
    /// The run's id.
    pub run_id: String,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// The checkpoint to resume from.
    pub checkpoint: Option<Vec<u8>>,
    /// Limits of this run.
    pub limits: RunLimits,
    /// What it may reach.
    pub access: Arc<RunAccess>,
}

/// Why a call into a plugin did not return normally.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// A limit stopped it.
    #[error("stopped by the {0} limit")]
    Stopped(StopReason),
    /// It trapped.
    #[error("trapped: {0}")]
    Trapped(String),
    /// It stopped at a checkpoint because its run was paused.
    #[error("paused at a checkpoint")]
    Paused,
    /// Every instance slot is in use; try again later.
    #[error("the host is busy: {0}")]
    Busy(String),
    /// It returned a value the host refuses.
    #[error("returned a value the host refuses: {0}")]
    Malformed(String),
}

/// The runtime. Cheap to share behind an `Arc`; every method is thread-safe.
pub struct Runtime {
    engine: engine::Engine,
    config: RuntimeConfig,
}

impl Runtime {
    /// Builds the engine, the linker and the epoch ticker.
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        Ok(Runtime {
            engine: engine::Engine::new(&config)?,
            config,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Compiles (or loads from the cache) a component and checks it fits the
    /// `job-plugin` world; in the compile worker, under its time cap, when
    /// the runtime has one.
    pub fn compile(&self, bytes: &[u8]) -> Result<Compiled, CompileError> {
        self.engine.compile(bytes, &self.config, true)
    }

    /// [`Runtime::compile`] on the caller's thread: for the components built
    /// into the binary.
    pub fn compile_bundled(&self, bytes: &[u8]) -> Result<Compiled, CompileError> {
        self.engine.compile(bytes, &self.config, false)
    }

    /// Removes the precompiled artifact of a component no longer loaded.
    pub fn forget_cached(&self, digest: &str) {
        if let Some(cache) = self.engine.cache() {
            cache.remove(digest);
        }
    }

    /// Removes every precompiled artifact whose component is not in `keep`;
    /// returns how many went.
    pub fn retain_cached(&self, keep: &[&str]) -> std::io::Result<usize> {
        match self.engine.cache() {
            Some(cache) => cache.retain(keep),
            None => Ok(0),
        }
    }

    /// Creates a fresh store and instance of `compiled` and calls nothing:
    /// the fixed cost of every run, for benchmarks and health checks.
    pub fn instantiate_only(&self, compiled: &Compiled) -> Result<(), CallError> {
        let observer: Arc<dyn RunObserver> = Arc::new(Collector::default());
        let limits = self.config.describe_limits;
        self.call(
            compiled,
            &limits,
            observer,
            CancelToken::new(),
            (Arc::default(), access::Scrubber::default()),
            Export::Nothing,
        )
        .0
        .map(drop)
    }

    /// Calls `describe` under the describe limits.
    pub fn describe(&self, compiled: &Compiled) -> Result<PluginInfo, CallError> {
        let observer: Arc<dyn RunObserver> = Arc::new(Collector::default());
        let (result, _) = self.call(
            compiled,
            &self.config.describe_limits,
            observer,
            CancelToken::new(),
            (Arc::default(), access::Scrubber::default()),
            Export::Describe,
        );
        match result? {
            Returned::Info(info) => info.map(|i| *i).map_err(CallError::Malformed),
            _ => Err(CallError::Trapped("describe returned nothing".into())),
        }
    }

    /// Runs one job in a fresh instance. Never panics on plugin behaviour:
    /// every ending is an [`Outcome`].
    pub fn run(
        &self,
        compiled: &Compiled,
        request: &RunRequest,
        observer: Arc<dyn RunObserver>,
        cancel: &CancelToken,
    ) -> RunReport {
        let scrubber = access::Scrubber::new(&request.access);
        let context = RunContext {
            run_id: request.run_id.clone(),
            attempt: request.attempt,
            checkpoint: request.checkpoint.clone(),
        };
        let (result, mut receipt) = self.call(
            compiled,
            &request.limits,
            observer,
            cancel.clone(),
            (request.access.clone(), scrubber.clone()),
            Export::Run {
                config: &request.config,
                context: &context,
            },
        );
        let result = result.and_then(|r| match r {
            Returned::Run(r) => Ok(r.0),
            _ => Err(CallError::Trapped("run returned nothing".into())),
        });
        let scrub = |m: String| scrubber.scrub(&m).into_owned();
        let outcome = match result {
            Ok(Ok(output)) => self.accept_output(output, &scrubber, &mut receipt),
            Ok(Err(GuestError::InvalidConfig(m))) => Outcome::InvalidConfig(scrub(m)),
            Ok(Err(GuestError::Failed(m))) => Outcome::Failed(scrub(m)),
            Ok(Err(GuestError::Cancelled)) => Outcome::Cancelled,
            Err(CallError::Stopped(StopReason::Cancelled)) => Outcome::Cancelled,
            Err(CallError::Stopped(reason)) => Outcome::Stopped(reason),
            Err(CallError::Trapped(m)) => Outcome::Trapped(scrub(m)),
            Err(CallError::Busy(m)) => Outcome::HostBusy(m),
            Err(CallError::Malformed(m)) => Outcome::Trapped(scrub(m)),
            Err(CallError::Paused) => Outcome::Paused,
        };
        RunReport { outcome, receipt }
    }

    fn accept_output(
        &self,
        output: GuestOutput,
        scrubber: &access::Scrubber,
        receipt: &mut Receipt,
    ) -> Outcome {
        let mut references = output.references;
        let mut value = output.value;
        if !scrubber.is_empty() {
            value = scrubber.scrub_json_text(&value);
            for r in &mut references {
                if let OutputData::Inline(bytes) = &r.data
                    && let Ok(text) = std::str::from_utf8(bytes)
                {
                    r.data = OutputData::Inline(scrubber.scrub(text).into_owned().into_bytes());
                }
                r.name = scrubber.scrub(&r.name).into_owned();
                if let OutputData::Location(l) = &r.data {
                    r.data = OutputData::Location(scrubber.scrub(l).into_owned());
                }
            }
        }
        let size = value.len()
            + references
                .iter()
                .map(|r| r.name.len() + r.media_type.len() + r.data.size())
                .sum::<usize>();
        if size > self.config.ceilings.output_bytes {
            receipt.stopped_by = Some(StopReason::OutputSize);
            return Outcome::Stopped(StopReason::OutputSize);
        }
        match serde_json::from_str(&value) {
            Ok(value) => Outcome::Completed(RunOutput { value, references }),
            Err(e) => Outcome::Trapped(format!(
                "the plugin returned a result that is not JSON: {e}"
            )),
        }
    }

    /// Instantiates `compiled` in a fresh store with `limits` and calls `f`.
    fn call(
        &self,
        compiled: &Compiled,
        limits: &RunLimits,
        observer: Arc<dyn RunObserver>,
        cancel: CancelToken,
        (access, scrubber): (Arc<RunAccess>, access::Scrubber),
        export: Export<'_>,
    ) -> (Result<Returned, CallError>, Receipt) {
        let started = Instant::now();
        let state = RunState::new(
            limits,
            &self.config.ceilings,
            observer,
            cancel.clone(),
            self.config.egress.clone(),
            access,
            scrubber,
        );
        let mut store = Store::new(self.engine.wasmtime(), state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(RunState::on_tick);
        // An engine that meters fuel traps a store without fuel at once, so
        // every call gets fuel when metering is on (describe included).
        let fuel = self
            .config
            .ceilings
            .fuel
            .map(|ceiling| limits.fuel.unwrap_or(ceiling).min(ceiling));
        if let Some(fuel) = fuel {
            // Cannot fail: the engine meters fuel whenever the ceilings carry fuel.
            let _ = store.set_fuel(fuel);
        }
        let result = call::call(
            compiled,
            &mut store,
            export,
            &cancel,
            self.config.ceilings.cancel_grace,
        );
        let wall = started.elapsed();

        let fuel_consumed = fuel.map(|fuel| fuel - store.get_fuel().unwrap_or(0));
        let state = store.data();
        let stop = state.stop_reason();
        let mut meter = state::lock(&state.meter);
        meter.book.flush_stdio();
        let receipt = Receipt {
            wall_time_us: wall.as_micros() as u64,
            fuel_consumed,
            peak_memory_bytes: state.limiter.memory_peak as u64,
            host_calls: meter.host_calls,
            log_bytes: meter.book.used as u64,
            log_lines_dropped: meter.book.dropped,
            checkpoints: state.checkpoints,
            http_requests: state.http.meter().requests.load(Relaxed),
            http_bytes_in: state.http.meter().bytes_in.load(Relaxed),
            http_bytes_out: state.http.meter().bytes_out.load(Relaxed),
            secrets_read: meter.secrets_read.clone(),
            stopped_by: None,
        };
        let result = result.map_err(|e| call::classify(&e, stop, &meter.last_stderr));
        let receipt = Receipt {
            stopped_by: match &result {
                Err(CallError::Stopped(r)) => Some(*r),
                _ => None,
            },
            ..receipt
        };
        (result, receipt)
    }
}
