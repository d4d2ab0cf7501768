//! Run statuses and the transitions allowed between them:
//! pending → running → completed | failed | cancelled, with paused between
//! running and running (or pending, when it resumes from a checkpoint),
//! pending ⇄ paused, and pending → cancelled. Terminal states never change.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a job run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Queued, not yet started.
    Pending,
    /// Executing.
    Running,
    /// Execution paused.
    Paused,
    /// Finished successfully.
    Completed,
    /// Ended with an error.
    Failed,
    /// Stopped before completion.
    Cancelled,
}

/// An illegal status change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot transition from '{from}' to '{to}'")]
pub struct TransitionError {
    /// The current status.
    pub from: RunStatus,
    /// The requested status.
    pub to: RunStatus,
}

impl RunStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [RunStatus; 6] = [
        RunStatus::Pending,
        RunStatus::Running,
        RunStatus::Paused,
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Cancelled,
    ];

    /// The statuses of a run that is not finished.
    pub const ACTIVE: [RunStatus; 3] = [RunStatus::Pending, RunStatus::Running, RunStatus::Paused];

    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Paused => "paused",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// Whether no further transition is possible.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
        )
    }

    /// Whether `self → to` is allowed.
    pub fn can_become(self, to: RunStatus) -> bool {
        use RunStatus::*;
        matches!(
            (self, to),
            (Pending | Paused, Running | Cancelled | Failed)
                | (Pending, Paused)
                | (Paused, Pending)
                | (Running, Paused | Completed | Failed | Cancelled | Pending)
        )
    }

    /// Checks `self → to`.
    pub fn transition(self, to: RunStatus) -> Result<RunStatus, TransitionError> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(TransitionError { from: self, to })
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunStatus::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = RunStatus::ALL.iter().map(|v| v.as_str()).collect();
                format!("unknown status `{s}`; expected one of {}", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::RunStatus::*;
    use super::*;

    #[test]
    fn terminal_states_never_change() {
        for from in [Completed, Failed, Cancelled] {
            for to in RunStatus::ALL {
                assert!(from.transition(to).is_err(), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn the_lifecycle_is_allowed() {
        assert_eq!(Pending.transition(Running), Ok(Running));
        assert_eq!(Running.transition(Completed), Ok(Completed));
        assert_eq!(Pending.transition(Cancelled), Ok(Cancelled));
        assert_eq!(
            Running.transition(Pending),
            Ok(Pending),
            "a crashed run is re-queued"
        );
        let e = Pending.transition(Completed).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot transition from 'pending' to 'completed'"
        );
    }

    #[test]
    fn names_round_trip() {
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert!("done".parse::<RunStatus>().unwrap_err().contains("pending"));
    }
}
