//! CPU priority of the threads and processes that run plugin code: below the
//! threads that serve the API and write the store, so a plugin that burns
//! its whole deadline slows healthy requests as little as the cores allow.

use std::sync::atomic::{AtomicI32, Ordering};

/// How much lower (in `nice` steps) a thread executing plugin code runs than
/// the rest of the server by default: at 10 the kernel gives it about a
/// tenth of the share of a server thread when both want the same core.
pub const PLUGIN_NICENESS: i32 = 10;

/// The process's setting (`jobhost serve --plugin-niceness`).
static NICENESS: AtomicI32 = AtomicI32::new(PLUGIN_NICENESS);

/// Sets how much lower plugin threads started from now on run (0 to 19).
pub fn set_plugin_niceness(steps: i32) {
    NICENESS.store(steps.clamp(0, 19), Ordering::Relaxed);
}

/// The process's setting, handed on to compile workers.
pub(crate) fn plugin_niceness() -> i32 {
    NICENESS.load(Ordering::Relaxed)
}

/// Lowers the calling thread's CPU priority by the plugin niceness. On Linux
/// the nice value belongs to the thread, so only this thread is affected.
/// Failure is logged and ignored: the thread still runs, at the usual priority.
pub fn lower_this_thread() {
    let steps = plugin_niceness();
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
/// priority is lowered like a plugin thread's, and its data segment (heap and private writable
/// mappings) is capped at `memory_bytes`, so a component whose compilation
/// wants more ends the worker instead of the host's memory.
pub fn confine_compile_worker(memory_bytes: u64) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{Resource, Rlimit, setrlimit};
        let cap = Rlimit {
            current: Some(memory_bytes),
            maximum: Some(memory_bytes),
        };
        setrlimit(Resource::Data, cap)?;
    }
    lower_this_thread();
    #[cfg(not(target_os = "linux"))]
    let _ = memory_bytes;
    Ok(())
}
