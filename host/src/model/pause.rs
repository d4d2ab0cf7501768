//! How a run is paused: held out of the queue before it started, stopped at
//! a checkpoint to continue from it later, or suspended in memory where it
//! stands.

use super::Timestamp;
use serde::{Deserialize, Serialize};

/// How a paused run waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseMode {
    /// It had not started: it is held out of the queue.
    Queued,
    /// It stopped at a checkpoint; it continues from it (survives restarts).
    Checkpoint,
    /// Its instance is suspended in memory and continues from the same
    /// instruction; a restart meanwhile applies its interrupted policy.
    InMemory,
}

/// Since when and how a run is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paused {
    /// How it waits.
    pub mode: PauseMode,
    /// When it was paused.
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
}
