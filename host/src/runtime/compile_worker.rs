//! Compilation in a child process with a CPU-time cap. A component from
//! outside the binary (a plugins directory, an upload) is compiled by
//! `jobhost plugin compile-worker`, which reads the component on stdin and
//! writes the precompiled artifact on stdout. The worker compiles on one
//! thread at lowered priority, so the cap counts its CPU time (enforced by
//! the kernel, `RLIMIT_CPU`): a compile bomb costs at most the cap, and a
//! busy host, which gives the worker less of a core, does not refuse a sound
//! component for being slow. A wall-clock backstop of [`WALL_FACTOR`] times
//! the cap kills a worker that never gets that far. At most
//! [`MAX_PARALLEL`] compile at once.

use super::RuntimeConfig;
use super::compile::CompileError;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Compiles running at once; more wait their turn.
pub const MAX_PARALLEL: usize = 2;

/// How many times the CPU cap a worker may take in wall-clock time.
pub const WALL_FACTOR: u32 = 10;

/// Largest artifact read back from a worker.
const MAX_ARTIFACT_BYTES: usize = 512 << 20;

/// Default cap of a worker's data segment (heap): a compile that needs more
/// is refused.
pub const MEMORY_BYTES: u64 = 2 << 30;

/// Where and how long untrusted components are compiled.
#[derive(Debug, Clone)]
pub struct CompileWorker {
    /// The `jobhost` binary to run as `PROGRAM plugin compile-worker`.
    pub program: PathBuf,
    /// CPU-time cap of one compilation (whole seconds on Linux, rounded
    /// up); [`WALL_FACTOR`] times it in wall-clock time.
    pub timeout: Duration,
    /// Cap of the worker's data segment ([`MEMORY_BYTES`] by default).
    pub memory_bytes: u64,
}

static SLOTS: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());

/// One of the [`MAX_PARALLEL`] compile slots, held while a child runs.
struct Slot;

impl Slot {
    fn take() -> Slot {
        let (count, freed) = &SLOTS;
        let mut n = count.lock().unwrap_or_else(|p| p.into_inner());
        while *n >= MAX_PARALLEL {
            n = freed.wait(n).unwrap_or_else(|p| p.into_inner());
        }
        *n += 1;
        Slot
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let (count, freed) = &SLOTS;
        *count.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
        freed.notify_one();
    }
}

/// The engine settings a worker needs to compile for this runtime's engine
/// (the artifact is refused on load if they differ).
pub(crate) fn engine_args(config: &RuntimeConfig) -> Vec<String> {
    vec![
        "--max-instances".into(),
        config.max_instances.to_string(),
        "--max-memory-bytes".into(),
        config.ceilings.max_memory_bytes.to_string(),
        "--max-component-bytes".into(),
        config.max_component_bytes.to_string(),
        "--fuel".into(),
        config.ceilings.fuel.is_some().to_string(),
    ]
}

/// Compiles `bytes` in a child; returns the precompiled artifact.
pub(crate) fn compile(
    worker: &CompileWorker,
    config: &RuntimeConfig,
    bytes: &[u8],
) -> Result<Vec<u8>, CompileError> {
    let _slot = Slot::take();
    let failed = |what: &str, e: std::io::Error| CompileError::Worker(format!("{what}: {e}"));
    let mut child = Command::new(&worker.program)
        .args(["plugin", "compile-worker"])
        .args(engine_args(config))
        .arg(format!("--memory-bytes={}", worker.memory_bytes))
        .arg(format!("--cpu-ms={}", worker.timeout.as_millis()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed("starting the compile worker", e))?;
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    std::thread::scope(|s| {
        let input = bytes.to_vec();
        s.spawn(move || stdin.map(|mut i| i.write_all(&input)));
        let out = s.spawn(move || {
            let mut buf = Vec::new();
            stdout.map(|o| o.take(MAX_ARTIFACT_BYTES as u64).read_to_end(&mut buf));
            buf
        });
        let err = s.spawn(move || {
            let mut text = String::new();
            stderr.map(|e| e.take(64 << 10).read_to_string(&mut text));
            text
        });
        let limit_ms = worker.timeout.as_millis() as u64;
        let deadline = Instant::now() + worker.timeout * WALL_FACTOR;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) if over_cpu_cap(status) => {
                    break Err(CompileError::Timeout { limit_ms });
                }
                Ok(Some(status)) => break Ok(status),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(CompileError::Timeout { limit_ms });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => break Err(failed("waiting for the compile worker", e)),
            }
        };
        let out = out.join().unwrap_or_default();
        let err = err.join().unwrap_or_default();
        status.and_then(|status| verdict(status, out, err.trim(), worker.memory_bytes))
    })
}

/// Whether the kernel ended the worker at its CPU cap (`SIGXCPU`, whose
/// default action ends the process; the hard limit a second later is only a
/// backstop).
fn over_cpu_cap(status: std::process::ExitStatus) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        status.signal() == Some(SIGXCPU)
    }
    #[cfg(not(unix))]
    {
        let _ = status;
        false
    }
}

/// What a worker's exit status says: the artifact, a component that does
/// not compile (exit [`EXIT_INVALID`], the reason on stderr), a compile that
/// ran out of memory (the allocator aborts the process: `SIGABRT`), or a
/// worker that failed otherwise.
fn verdict(
    status: std::process::ExitStatus,
    artifact: Vec<u8>,
    stderr: &str,
    memory_bytes: u64,
) -> Result<Vec<u8>, CompileError> {
    if status.success() {
        return Ok(artifact);
    }
    if status.code() == Some(EXIT_INVALID) {
        return Err(CompileError::Invalid(stderr.to_string()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if status.signal() == Some(SIGABRT) {
            return Err(CompileError::Worker(format!(
                "compiling needs more than the compile worker's {} MiB of memory",
                memory_bytes >> 20
            )));
        }
    }
    let _ = memory_bytes;
    Err(CompileError::Worker(format!(
        "the compile worker ended with {status}: {stderr}"
    )))
}

/// The worker's exit status when the component does not compile; its
/// stderr then holds only the reason.
const EXIT_INVALID: i32 = 2;

/// The signal a process gets when its allocator gives up.
#[cfg(unix)]
const SIGABRT: i32 = 6;

/// The signal of a process at its CPU-time limit.
#[cfg(unix)]
const SIGXCPU: i32 = 24;

/// The worker's side: confines itself (see [`super::priority`]), reads a
/// component on stdin, writes the artifact on stdout. Exit status 0 on
/// success; [`EXIT_INVALID`] with the reason on stderr when the component
/// does not compile.
pub fn worker_main(config: &RuntimeConfig, memory_bytes: u64, cpu_ms: Option<u64>) -> i32 {
    if let Err(e) = super::priority::confine_compile_worker(memory_bytes, cpu_ms) {
        eprintln!("confining the compile worker: {e}");
        return 1;
    }
    let mut bytes = Vec::new();
    let limit = config.max_component_bytes as u64 + 1;
    if let Err(e) = std::io::stdin().take(limit).read_to_end(&mut bytes) {
        eprintln!("reading the component: {e}");
        return 1;
    }
    // One compiler thread: a compile (a bomb included) holds at most one
    // core, at the lowered priority, however many functions it has.
    let mut settings = super::engine::wasmtime_config(config);
    settings.parallel_compilation(false);
    let engine = match wasmtime::Engine::new(&settings) {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("configuring the engine: {e}");
            return 1;
        }
    };
    // `Component::new` also checks the component against the engine's
    // instance pool (table and memory sizes), as the server would on load.
    match wasmtime::component::Component::new(&engine, &bytes).and_then(|c| c.serialize()) {
        Ok(artifact) => match std::io::stdout().lock().write_all(&artifact) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("writing the artifact: {e}");
                1
            }
        },
        Err(e) => {
            eprint!("{e:#}");
            EXIT_INVALID
        }
    }
}
