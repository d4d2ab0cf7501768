//! Driving one call into a plugin: a fresh `Store` with limits, instantiation
//! and the export call on a fiber, driven on the calling thread. The epoch
//! callback stops a plugin that runs wasm past its deadline; a watchdog beside
//! the call ends one that sits in a blocking host call instead (a WASI sleep
//! or poll), which epochs never see.

use super::CallError;
use super::bindings::{v1, v2};
use super::cancel::CancelToken;
use super::compile::{Compiled, Pre};
use super::engine::TICK;
use super::guest::{PluginInfo, RunReturn};
use super::state::{self, RunState};
use crate::model::StopReason;
use std::future::Future;
use std::time::{Duration, Instant};
use wasmtime::Store;

/// Which export to call after instantiating.
pub(crate) enum Export<'a> {
    /// None: instantiation only.
    Nothing,
    /// `describe`.
    Describe,
    /// `run`.
    Run {
        config: &'a str,
        context: &'a RunContext,
    },
}

/// Facts about the run, passed to `run` in each contract's own type.
pub(crate) struct RunContext {
    pub(crate) run_id: String,
    pub(crate) attempt: u32,
    pub(crate) checkpoint: Option<Vec<u8>>,
}

/// What the export returned.
pub(crate) enum Returned {
    Nothing,
    /// What `describe` returned, or why the host refuses it.
    Info(Result<Box<PluginInfo>, String>),
    Run(RunReturn),
}

thread_local! {
    /// One single-threaded executor per thread that calls plugins: WASI's
    /// clocks need a tokio timer; nothing else runs on it.
    static EXECUTOR: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building a single-threaded executor");
}

/// Instantiates `compiled` in `store` and calls `export`, ending the call
/// when it is held in a host call past its deadline or cancellation grace.
pub(crate) fn call(
    compiled: &Compiled,
    store: &mut Store<RunState>,
    export: Export<'_>,
    cancel: &CancelToken,
    grace: Duration,
) -> wasmtime::Result<Returned> {
    let deadline = store.data().deadline();
    let outcome = drive(async {
        let work = async {
            Ok(match compiled.pre() {
                Pre::V1(pre) => {
                    let plugin = pre.instantiate_async(&mut *store).await?;
                    match export {
                        Export::Nothing => Returned::Nothing,
                        Export::Describe => Returned::Info(Ok(Box::new(
                            plugin.call_describe(&mut *store).await?.into(),
                        ))),
                        Export::Run { config, context } => {
                            let context = v1::jobhost::plugin::types::RunContext {
                                run_id: context.run_id.clone(),
                                attempt: context.attempt,
                                checkpoint: context.checkpoint.clone(),
                            };
                            let r = plugin.call_run(&mut *store, config, &context).await?;
                            Returned::Run(r.into())
                        }
                    }
                }
                Pre::V2(pre) => {
                    let plugin = pre.instantiate_async(&mut *store).await?;
                    match export {
                        Export::Nothing => Returned::Nothing,
                        Export::Describe => Returned::Info(
                            PluginInfo::try_from(plugin.call_describe(&mut *store).await?)
                                .map(Box::new),
                        ),
                        Export::Run { config, context } => {
                            let context = v2::jobhost::plugin::types::RunContext {
                                run_id: context.run_id.clone(),
                                attempt: context.attempt,
                                checkpoint: context.checkpoint.clone(),
                            };
                            let r = plugin.call_run(&mut *store, config, &context).await?;
                            Returned::Run(r.into())
                        }
                    }
                }
            })
        };
        tokio::select! {
            biased;
            done = work => Ok(done),
            reason = watchdog(deadline, cancel, grace) => Err(reason),
        }
    });
    match outcome {
        Ok(result) => result,
        // The call future is gone: the store is dropped after this call and
        // never entered again.
        Err(reason) => Err(state::lock(&store.data().meter).stop_with(reason)),
    }
}

/// Resolves once the call has been held past its deadline (less the time
/// it was suspended), or past the grace after a cancellation, by more than
/// the epoch callback needs to stop wasm code: then the plugin is in a host
/// call.
async fn watchdog(deadline: Instant, cancel: &CancelToken, grace: Duration) -> StopReason {
    let slack = TICK * 2;
    loop {
        tokio::time::sleep(TICK).await;
        let now = Instant::now();
        if now >= deadline + cancel.suspended_for() + slack && !cancel.is_suspended() {
            return StopReason::Timeout;
        }
        if let Some(at) = cancel.cancelled_at()
            && now.duration_since(at) >= grace + slack
        {
            return StopReason::Cancelled;
        }
    }
}

/// Runs `f` to completion on this thread's executor. A thread already inside
/// an async runtime (loading plugins while the server starts, an upload)
/// cannot block on another one, so there the call gets a short-lived thread
/// of its own, at the lowered priority of plugin threads.
fn drive<F>(f: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        return std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("jobhost-plugin-call".into())
                .spawn_scoped(s, || {
                    super::priority::lower_this_thread();
                    drive(f)
                })
                .expect("spawning a thread for a plugin call")
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
    }
    EXECUTOR.with(|executor| executor.block_on(f))
}

/// Names why a call failed: a recorded limit first, then the trap code.
pub(crate) fn classify(
    error: &wasmtime::Error,
    stop: Option<StopReason>,
    stderr: &str,
) -> CallError {
    if let Some(reason) = stop {
        return CallError::Stopped(reason);
    }
    if error.downcast_ref::<state::PausedAtCheckpoint>().is_some() {
        return CallError::Paused;
    }
    if let Some(busy) = error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>() {
        return CallError::Busy(busy.to_string());
    }
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::StackOverflow) => return CallError::Stopped(StopReason::Stack),
        Some(wasmtime::Trap::OutOfFuel) => return CallError::Stopped(StopReason::Fuel),
        Some(wasmtime::Trap::Interrupt) => return CallError::Stopped(StopReason::Timeout),
        _ => {}
    }
    if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return CallError::Trapped(format!("the plugin called exit with status {}", exit.0));
    }
    let trap = error
        .downcast_ref::<wasmtime::Trap>()
        .map(|t| t.to_string())
        .unwrap_or_else(|| error.to_string());
    CallError::Trapped(match panic_message(stderr) {
        Some(p) => format!("{trap}; the plugin {p}"),
        None => trap,
    })
}

/// The last Rust panic report in a stderr tail, on one line: "panicked at
/// FILE:LINE:COL: MESSAGE".
fn panic_message(stderr: &str) -> Option<String> {
    let start = stderr.rfind("panicked at ")?;
    let report = &stderr[start..];
    let end = report.find("\nnote:").unwrap_or(report.len());
    let text: Vec<&str> = report[..end]
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    Some(text.join(" ").chars().take(500).collect())
}

#[cfg(test)]
mod tests {
    use super::panic_message;

    #[test]
    fn panic_message_is_one_line() {
        let tail = "junk\nthread '<unnamed>' panicked at src/lib.rs:9:5:\nboom\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            panic_message(tail).unwrap(),
            "panicked at src/lib.rs:9:5: boom"
        );
        assert_eq!(panic_message("no panic here"), None);
    }
}
