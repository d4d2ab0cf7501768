//! The process's memory allocator: mimalloc for the server, the system
//! allocator for the compile worker.
//!
//! A run's requests, records and sandbox allocate and free many small blocks
//! across threads; glibc's allocator served them at about a fifth of the
//! server's CPU, mimalloc at a fraction of that. The compile worker
//! (`jobhost plugin compile-worker`) runs under a data-segment cap
//! (`setrlimit(RLIMIT_DATA)`) that must end it with an
//! allocation failure, and mimalloc's address-space reservations would count
//! against that cap before any compile starts; it keeps the system allocator.
//!
//! The choice is made once, at the first allocation, from the process's own
//! command line (read from `/proc/self/cmdline` into a stack buffer, so the
//! decision itself allocates nothing), and never changes afterwards: every
//! block is freed by the allocator that made it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, Ordering};

/// The global allocator of the `jobhost` binary (see the module docs).
pub struct Allocator;

const UNDECIDED: u8 = 0;
const SYSTEM: u8 = 1;
const MIMALLOC: u8 = 2;

static CHOICE: AtomicU8 = AtomicU8::new(UNDECIDED);

/// The allocator this process uses; decided on the first call.
#[inline]
fn choice() -> u8 {
    match CHOICE.load(Ordering::Relaxed) {
        UNDECIDED => {
            // Two threads racing here read the same command line and agree.
            let chosen = if is_compile_worker() {
                SYSTEM
            } else {
                MIMALLOC
            };
            CHOICE.store(chosen, Ordering::Relaxed);
            chosen
        }
        chosen => chosen,
    }
}

/// Whether this process runs as `jobhost ... plugin compile-worker ...`.
/// Reads no more than a page of the command line and allocates nothing.
#[cfg(target_os = "linux")]
fn is_compile_worker() -> bool {
    use rustix::fs::{Mode, OFlags, open};
    let Ok(fd) = open(
        c"/proc/self/cmdline",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return false;
    };
    let mut buf = [0u8; 4096];
    let mut len = 0;
    while len < buf.len() {
        match rustix::io::read(&fd, &mut buf[len..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => len += n,
        }
    }
    is_compile_worker_command(&buf[..len])
}

#[cfg(not(target_os = "linux"))]
fn is_compile_worker() -> bool {
    false
}

/// Whether a NUL-separated command line has `plugin` followed by
/// `compile-worker` among its arguments (global options may come first).
fn is_compile_worker_command(cmdline: &[u8]) -> bool {
    let mut previous: &[u8] = &[];
    for arg in cmdline.split(|&b| b == 0).skip(1) {
        if previous == b"plugin" && arg == b"compile-worker" {
            return true;
        }
        previous = arg;
    }
    false
}

// SAFETY: every call goes to the allocator chosen once for the whole process,
// so a block is always freed or resized by the allocator that made it; both
// allocators uphold `GlobalAlloc`'s contract themselves.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe {
            match choice() {
                SYSTEM => System.alloc(layout),
                _ => mimalloc::MiMalloc.alloc(layout),
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe {
            match choice() {
                SYSTEM => System.alloc_zeroed(layout),
                _ => mimalloc::MiMalloc.alloc_zeroed(layout),
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from the same allocator (see above).
        unsafe {
            match choice() {
                SYSTEM => System.dealloc(ptr, layout),
                _ => mimalloc::MiMalloc.dealloc(ptr, layout),
            }
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from the same allocator (see above).
        unsafe {
            match choice() {
                SYSTEM => System.realloc(ptr, layout, new_size),
                _ => mimalloc::MiMalloc.realloc(ptr, layout, new_size),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_compile_worker_command;

    #[test]
    fn only_the_compile_worker_command_keeps_the_system_allocator() {
        let worker = b"/bin/jobhost\0plugin\0compile-worker\0--memory-bytes=1\0";
        assert!(is_compile_worker_command(worker));
        let global_first = b"jobhost\0--data-dir\0d\0plugin\0compile-worker\0";
        assert!(is_compile_worker_command(global_first));
        assert!(!is_compile_worker_command(b"jobhost\0serve\0"));
        assert!(!is_compile_worker_command(
            b"jobhost\0plugin\0publish\0compile-worker\0"
        ));
        assert!(!is_compile_worker_command(b"compile-worker\0serve\0"));
        assert!(!is_compile_worker_command(b""));
    }
}
