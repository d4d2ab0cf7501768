//! CPU time a process used, whole or by kind of thread, from `/proc`.

use std::time::Duration;

/// User plus system CPU time in a `/proc/.../stat` line.
fn stat_cpu(stat: &str) -> Duration {
    // The fields after the command (which may hold spaces) start after ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line: 11 and 12 after ')'.
    let hz = 100; // sysconf(_SC_CLK_TCK) on Linux
    Duration::from_millis((ticks(11) + ticks(12)) * 1000 / hz)
}

/// CPU time process `pid` used so far.
pub fn process(pid: u32) -> Duration {
    stat_cpu(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default())
}

/// CPU time of a server's live threads so far, by what they do.
#[derive(Debug, Clone, Copy, Default)]
pub struct Threads {
    /// Request handling (the tokio runtime's threads).
    pub api: Duration,
    /// Run execution (the worker threads).
    pub workers: Duration,
    /// Everything else (storage I/O, the epoch ticker, the scheduler...).
    pub other: Duration,
}

impl std::ops::Sub for Threads {
    type Output = Threads;
    fn sub(self, before: Threads) -> Threads {
        Threads {
            api: self.api.saturating_sub(before.api),
            workers: self.workers.saturating_sub(before.workers),
            other: self.other.saturating_sub(before.other),
        }
    }
}

/// [`Threads`] of process `pid` now.
pub fn threads(pid: u32) -> Threads {
    let mut t = Threads::default();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return t;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let used = stat_cpu(&std::fs::read_to_string(path.join("stat")).unwrap_or_default());
        if name.starts_with("tokio-rt") {
            t.api += used;
        } else if name.starts_with("jobhost-worker") {
            t.workers += used;
        } else {
            t.other += used;
        }
    }
    t
}
