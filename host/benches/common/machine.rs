//! What a benchmark's first line says, so that figures from different days
//! and machines can be read side by side: the commit measured and the
//! latency of a synced 4 KiB write on the disk the server writes to.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// The commit of the work tree (`+changes` when it has uncommitted ones).
pub fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let Some(head) = git(&["rev-parse", "--short", "HEAD"]) else {
        return "unknown".into();
    };
    match git(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(s) if !s.is_empty() => format!("{head}+changes"),
        _ => head,
    }
}

/// Median and p90 of `n` writes of 4 KiB to a file in `dir`, each followed
/// by `fdatasync`.
pub fn fsync_latency(dir: &Path, n: usize) -> (Duration, Duration) {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path).expect("a probe file");
    let block = [0x5au8; 4096];
    let mut took: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            file.write_all(&block).expect("a 4 KiB write");
            file.sync_data().expect("fdatasync");
            t.elapsed()
        })
        .collect();
    drop(file);
    let _ = std::fs::remove_file(path);
    took.sort();
    (took[n / 2], took[n * 9 / 10])
}

/// The line that opens a benchmark's output.
pub fn header(name: &str, dir: &Path) -> String {
    let (median, p90) = fsync_latency(dir, 100);
    format!(
        "{name}: commit {}, {} cores, 4 KiB synced write median {median:.2?} (p90 {p90:.2?})",
        commit(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    )
}
