//! The data of one `Store`: the locked-down WASI context, the limiter, the
//! meter of host calls and logs, and the host imports the plugin may call.

use super::bindings::jobhost::plugin::{host, types};
use super::cancel::CancelToken;
use super::limits::{Ceilings, Limiter, RunLimits};
use super::observe::{LogBook, LogLevel, LogSource, RunObserver};
use super::receipt::StopReason;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::{StoreContextMut, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Counters shared by the host imports and the stdio pipes of one run.
pub(crate) struct Meter {
    pub(crate) book: LogBook,
    pub(crate) host_calls: u64,
    host_call_cap: u64,
    pub(crate) stop: Option<StopReason>,
    pub(crate) last_stderr: String,
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
    ) -> Self {
        let meter = Arc::new(Mutex::new(Meter {
            book: LogBook::new(observer, ceilings.log_bytes, ceilings.log_line_bytes),
            host_calls: 0,
            host_call_cap: ceilings.host_calls,
            stop: None,
            last_stderr: String::new(),
        }));
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
            limiter: Limiter::new(limits.memory_bytes),
            meter,
            cancel,
            deadline: Instant::now() + limits.timeout,
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

    /// Runs on every epoch tick: enforces the deadline and forced cancellation.
    pub(crate) fn on_tick(
        mut store: StoreContextMut<'_, RunState>,
    ) -> wasmtime::Result<UpdateDeadline> {
        let state = store.data_mut();
        let now = Instant::now();
        if now >= state.deadline {
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

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl From<host::LogLevel> for LogLevel {
    fn from(level: host::LogLevel) -> Self {
        match level {
            host::LogLevel::Trace => LogLevel::Trace,
            host::LogLevel::Debug => LogLevel::Debug,
            host::LogLevel::Info => LogLevel::Info,
            host::LogLevel::Warn => LogLevel::Warn,
            host::LogLevel::Error => LogLevel::Error,
        }
    }
}

impl types::Host for RunState {}

impl host::Host for RunState {
    fn log(&mut self, level: host::LogLevel, message: String) -> wasmtime::Result<()> {
        let mut meter = lock(&self.meter);
        meter.call()?;
        meter.book.write(level.into(), LogSource::Plugin, &message);
        Ok(())
    }

    fn progress(&mut self, percent: u8, mut message: String) -> wasmtime::Result<()> {
        let meter = &mut *lock(&self.meter);
        meter.call()?;
        if message.len() > self.progress_cap {
            let mut cut = self.progress_cap;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
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
        Ok(())
    }
}
