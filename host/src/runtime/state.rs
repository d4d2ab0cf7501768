//! The data of one `Store`: the locked-down WASI context, the `wasi:http`
//! hooks of the run, the limiter, the meter of host calls and logs, the
//! run's secrets, and the host imports of every contract version.

use super::access::{RunAccess, Scrubber};
use super::bindings::{v1, v2};
use super::cancel::CancelToken;
use super::limits::{Ceilings, Limiter, RunLimits};
use super::observe::{LogBook, RunObserver};
use crate::egress::{AuditSink, Egress, RunHttp};
use crate::model::StopReason;
use crate::model::{LogLevel, LogSource};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::{StoreContextMut, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Counters shared by the host imports and the stdio pipes of one run.
pub(crate) struct Meter {
    pub(crate) book: LogBook,
    pub(crate) host_calls: u64,
    host_call_cap: u64,
    pub(crate) stop: Option<StopReason>,
    pub(crate) last_stderr: String,
    /// Names of the secrets the plugin read, in the order first read.
    pub(crate) secrets_read: Vec<String>,
}

impl Meter {
    /// Counts one host call; past the cap the run is stopped.
    pub(crate) fn call(&mut self) -> wasmtime::Result<()> {
        self.host_calls += 1;
        if self.host_calls > self.host_call_cap {
            return Err(self.stop_with(StopReason::HostCalls));
        }
        Ok(())
    }

    pub(crate) fn stop_with(&mut self, reason: StopReason) -> wasmtime::Error {
        self.stop.get_or_insert(reason);
        wasmtime::format_err!("run stopped by the host: {reason} limit")
    }
}

pub(crate) type SharedMeter = Arc<Mutex<Meter>>;

pub(crate) fn lock(meter: &SharedMeter) -> MutexGuard<'_, Meter> {
    meter
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Everything one run's store holds.
pub(crate) struct RunState {
    wasi: WasiCtx,
    table: ResourceTable,
    http_ctx: WasiHttpCtx,
    pub(crate) http: RunHttp,
    access: Arc<RunAccess>,
    pub(crate) limiter: Limiter,
    pub(crate) meter: SharedMeter,
    cancel: CancelToken,
    deadline: Instant,
    cancel_grace: Duration,
    checkpoint_cap: usize,
    progress_cap: usize,
    pub(crate) checkpoints: u64,
}

impl RunState {
    pub(crate) fn new(
        limits: &RunLimits,
        ceilings: &Ceilings,
        observer: Arc<dyn RunObserver>,
        cancel: CancelToken,
        egress: Arc<Egress>,
        access: Arc<RunAccess>,
        scrubber: Scrubber,
    ) -> Self {
        let meter = Arc::new(Mutex::new(Meter {
            book: LogBook::new(
                observer,
                ceilings.log_bytes,
                ceilings.log_line_bytes,
                scrubber,
            ),
            host_calls: 0,
            host_call_cap: ceilings.host_calls,
            stop: None,
            last_stderr: String::new(),
            secrets_read: Vec::new(),
        }));
        let deadline = Instant::now() + limits.timeout;
        let sink: AuditSink = {
            let meter = meter.clone();
            Arc::new(move |audit| lock(&meter).book.http(audit))
        };
        let http = RunHttp::new(egress, access.http.clone(), deadline, sink);
        let wasi = wasmtime_wasi::WasiCtxBuilder::new()
            .stdout(super::stdio::StdioPipe::new(
                meter.clone(),
                LogSource::Stdout,
            ))
            .stderr(super::stdio::StdioPipe::new(
                meter.clone(),
                LogSource::Stderr,
            ))
            .build();
        RunState {
            wasi,
            table: ResourceTable::new(),
            http_ctx: WasiHttpCtx::new(),
            http,
            access,
            limiter: Limiter::new(limits.memory_bytes),
            meter,
            cancel,
            deadline,
            cancel_grace: ceilings.cancel_grace,
            checkpoint_cap: ceilings.checkpoint_bytes,
            progress_cap: 1024,
            checkpoints: 0,
        }
    }

    /// When the run's wall-clock limit is up.
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The limit that stopped the run, if one did.
    pub(crate) fn stop_reason(&self) -> Option<StopReason> {
        self.limiter.hit.or(lock(&self.meter).stop)
    }

    /// Runs on every epoch tick: parks the instance while it is suspended,
    /// and enforces the deadline (less the time suspended) and forced
    /// cancellation.
    pub(crate) fn on_tick(
        mut store: StoreContextMut<'_, RunState>,
    ) -> wasmtime::Result<UpdateDeadline> {
        let state = store.data_mut();
        if state.cancel.suspension_asked() && !state.cancel.is_cancelled() {
            return Ok(UpdateDeadline::YieldCustom(
                1,
                Box::pin(state.cancel.clone().parked()),
            ));
        }
        let now = Instant::now();
        if now >= state.deadline + state.cancel.suspended_for() {
            return Err(lock(&state.meter).stop_with(StopReason::Timeout));
        }
        if let Some(at) = state.cancel.cancelled_at()
            && now.duration_since(at) >= state.cancel_grace
        {
            return Err(lock(&state.meter).stop_with(StopReason::Cancelled));
        }
        Ok(UpdateDeadline::Continue(1))
    }
}

/// A plugin stopped at a checkpoint because its run was paused.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("paused at a checkpoint")]
pub(crate) struct PausedAtCheckpoint;

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RunState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http_ctx,
            table: &mut self.table,
            hooks: &mut self.http,
        }
    }
}

/// The host imports, shared by every contract version.
impl RunState {
    fn log(&mut self, level: LogLevel, message: &str) -> wasmtime::Result<()> {
        let mut meter = lock(&self.meter);
        meter.call()?;
        meter.book.write(level, LogSource::Plugin, message);
        Ok(())
    }

    fn progress(&mut self, percent: u8, message: String) -> wasmtime::Result<()> {
        let meter = &mut *lock(&self.meter);
        meter.call()?;
        let message = meter
            .book
            .scrubber()
            .scrub_and_cut(&message, self.progress_cap);
        meter.book.observer().progress(percent.min(100), &message);
        Ok(())
    }

    fn cancelled(&mut self) -> wasmtime::Result<bool> {
        lock(&self.meter).call()?;
        Ok(self.cancel.is_cancelled())
    }

    fn checkpoint(&mut self, state: Vec<u8>) -> wasmtime::Result<()> {
        let mut meter = lock(&self.meter);
        meter.call()?;
        if state.len() > self.checkpoint_cap {
            return Err(meter.stop_with(StopReason::CheckpointSize));
        }
        meter.book.observer().checkpoint(&state);
        self.checkpoints += 1;
        if self.cancel.stops_at_checkpoint() {
            // Paused: the checkpoint is kept; the run continues from it.
            return Err(wasmtime::Error::new(PausedAtCheckpoint));
        }
        Ok(())
    }
}

macro_rules! host_imports {
    ($v:ident) => {
        impl $v::jobhost::plugin::types::Host for RunState {}

        impl $v::jobhost::plugin::host::Host for RunState {
            fn log(
                &mut self,
                level: $v::jobhost::plugin::host::LogLevel,
                message: String,
            ) -> wasmtime::Result<()> {
                use $v::jobhost::plugin::host::LogLevel as L;
                let level = match level {
                    L::Trace => LogLevel::Trace,
                    L::Debug => LogLevel::Debug,
                    L::Info => LogLevel::Info,
                    L::Warn => LogLevel::Warn,
                    L::Error => LogLevel::Error,
                };
                RunState::log(self, level, &message)
            }

            fn progress(&mut self, percent: u8, message: String) -> wasmtime::Result<()> {
                RunState::progress(self, percent, message)
            }

            fn cancelled(&mut self) -> wasmtime::Result<bool> {
                RunState::cancelled(self)
            }

            fn checkpoint(&mut self, state: Vec<u8>) -> wasmtime::Result<()> {
                RunState::checkpoint(self, state)
            }
        }
    };
}

host_imports!(v1);
host_imports!(v2);

impl v2::jobhost::plugin::secrets::Host for RunState {
    fn get(
        &mut self,
        name: String,
    ) -> wasmtime::Result<Result<String, v2::jobhost::plugin::secrets::SecretError>> {
        use v2::jobhost::plugin::secrets::SecretError as E;
        let mut meter = lock(&self.meter);
        meter.call()?;
        Ok(match self.access.secret(&name) {
            Err(super::access::Missing::Undeclared) => Err(E::NotDeclared),
            Err(super::access::Missing::Ungranted) => Err(E::NotGranted),
            Err(super::access::Missing::Unset) => Err(E::NotSet),
            Ok(value) => {
                if !meter.secrets_read.contains(&name) {
                    meter.secrets_read.push(name);
                }
                Ok(value.to_string())
            }
        })
    }
}
