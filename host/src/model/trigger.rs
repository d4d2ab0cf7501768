//! What started a run: a caller, a schedule, or a rerun of another run.

use serde::{Deserialize, Serialize};

/// The entry path a run was created by, served as its `trigger`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// `POST /job-runs`, one by one or in a batch.
    #[default]
    Api,
    /// A tick of the job's schedule (or its `run-now`).
    Schedule,
    /// `POST /job-runs/{id}/rerun`.
    Rerun,
}

impl Trigger {
    /// The name as served.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Api => "api",
            Trigger::Schedule => "schedule",
            Trigger::Rerun => "rerun",
        }
    }
}
