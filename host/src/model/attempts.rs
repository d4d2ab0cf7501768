//! A run's attempts: each one that ended is kept on the run with its times
//! and error, and a run waiting to be retried says when its next attempt
//! may start.

use super::{JobRun, RunErrorInfo, RunStatus, Timestamp};
use serde::{Deserialize, Serialize};

/// One attempt of a run that has ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// Its number, from 1.
    pub attempt: u32,
    /// When it started (none when it never did).
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<Timestamp>,
    /// When it ended.
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: Timestamp,
    /// How it ended: `completed`, `failed` or `cancelled`.
    pub status: RunStatus,
    /// Why it failed.
    pub error: Option<RunErrorInfo>,
}

impl JobRun {
    /// Keeps the current attempt, ended at `at` with `status` and `error`.
    pub fn end_attempt(&mut self, status: RunStatus, error: Option<RunErrorInfo>, at: Timestamp) {
        self.attempts.push(Attempt {
            attempt: self.attempt,
            started_at: self.started_at,
            finished_at: at,
            status,
            error,
        });
    }

    /// Makes the run wait for its next attempt, which may start at
    /// `not_before` (at once when `None`).
    pub fn queue_next_attempt(&mut self, not_before: Option<Timestamp>) {
        self.status = RunStatus::Pending;
        self.attempt += 1;
        self.started_at = None;
        self.error = None;
        self.next_attempt_at = not_before;
    }
}
