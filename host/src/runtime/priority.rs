//! CPU priority of the threads and processes that run plugin code. Compile
//! workers always run below the server; threads executing runs only when
//! asked (`--plugin-niceness`), because they also write each run's changes
//! to the store, and lowering them delays every run's dispatch when the API
//! keeps the cores busy.

use std::sync::atomic::{AtomicI32, Ordering};

/// How much lower (in `nice` steps) a thread executing runs is than the rest
/// of the server by default: not at all. At 10 the kernel gives it about a
/// tenth of a server thread's share when both want the same core; with 32
/// clients saturating 2 cores that made dispatch p50 4× slower and runs
/// followed to completion 35 % fewer (BENCHMARKS.md).
pub const PLUGIN_NICENESS: i32 = 0;

/// How much lower a compile worker process runs than the server, always: a
/// compile is rare, and a slow one must not take cores from requests.
pub const COMPILE_NICENESS: i32 = 10;

/// The process's setting (`jobhost serve --plugin-niceness`).
static NICENESS: AtomicI32 = AtomicI32::new(PLUGIN_NICENESS);

/// Sets how much lower plugin threads started from now on run (0 to 19).
pub fn set_plugin_niceness(steps: i32) {
    NICENESS.store(steps.clamp(0, 19), Ordering::Relaxed);
}

/// Lowers the calling thread's CPU priority by the plugin niceness, if any.
pub fn lower_this_thread() {
    lower_by(NICENESS.load(Ordering::Relaxed));
}

/// Lowers the calling thread's CPU priority by `steps`. On Linux the nice
/// value belongs to the thread, so only this thread is affected. Failure is
/// logged and ignored: the thread still runs, at the usual priority.
fn lower_by(steps: i32) {
    #[cfg(target_os = "linux")]
    if steps > 0
        && let Err(e) = rustix::process::nice(steps)
    {
        tracing::warn!(error = %e, "could not lower a plugin thread's CPU priority");
    }
    #[cfg(not(target_os = "linux"))]
    let _ = steps;
}

/// Confines a compile worker process (one thread at this point): its CPU
/// priority is lowered by [`COMPILE_NICENESS`], its data segment (heap and
/// private writable mappings) is capped at `memory_bytes`, so a component
/// whose compilation wants more ends the worker instead of the host's
/// memory, and its CPU time at `cpu_ms` (whole seconds, rounded up): the
/// kernel sends `SIGXCPU` at the cap and `SIGKILL` a second later. Neither
/// signal nor an allocator's abort leaves a core file (`RLIMIT_CORE` 0).
pub fn confine_compile_worker(memory_bytes: u64, cpu_ms: Option<u64>) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{Resource, Rlimit, setrlimit};
        let cap = Rlimit {
            current: Some(memory_bytes),
            maximum: Some(memory_bytes),
        };
        setrlimit(Resource::Data, cap)?;
        let none = Rlimit {
            current: Some(0),
            maximum: Some(0),
        };
        setrlimit(Resource::Core, none)?;
        if let Some(ms) = cpu_ms {
            let seconds = ms.div_ceil(1000).max(1);
            let cap = Rlimit {
                current: Some(seconds),
                maximum: Some(seconds + 1),
            };
            setrlimit(Resource::Cpu, cap)?;
        }
    }
    lower_by(COMPILE_NICENESS);
    #[cfg(not(target_os = "linux"))]
    let _ = (memory_bytes, cpu_ms);
    Ok(())
}
