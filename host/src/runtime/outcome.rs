//! How a run ended, and the one mapping from that ending to the run's
//! status, result and error, shared by the workers and `jobhost run`.

use crate::model::{Receipt, RunErrorInfo, RunErrorKind, RunOutput, RunStatus, StopReason};

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The plugin returned a result.
    Completed(RunOutput),
    /// The plugin refused its config.
    InvalidConfig(String),
    /// The plugin reported a failure.
    Failed(String),
    /// The run was cancelled (cooperatively, or interrupted after the grace).
    Cancelled,
    /// A limit stopped the run.
    Stopped(StopReason),
    /// The plugin trapped (e.g. a panic) or misbehaved at the boundary.
    Trapped(String),
    /// The run never started: every instance slot was in use. Retrying later succeeds.
    HostBusy(String),
    /// The run was paused and stopped at a checkpoint, to continue from it.
    Paused,
}

/// How a run ended and what it used.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The ending.
    pub outcome: Outcome,
    /// What it used.
    pub receipt: Receipt,
}

/// What a run's record says after an attempt ended: its status, and its
/// result or error.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// `completed`, `failed` or `cancelled` (`paused` for a run paused at
    /// a checkpoint).
    pub status: RunStatus,
    /// The result, when completed.
    pub output: Option<RunOutput>,
    /// Why it failed, when it did.
    pub error: Option<RunErrorInfo>,
}

impl Outcome {
    /// The run's terminal status and result or error. A run the host was
    /// too busy to start fails with `host_busy`; a server does not ask,
    /// it queues the run again.
    pub fn verdict(self) -> Verdict {
        let failed = |error| Verdict {
            status: RunStatus::Failed,
            output: None,
            error: Some(error),
        };
        match self {
            Outcome::Completed(output) => Verdict {
                status: RunStatus::Completed,
                output: Some(output),
                error: None,
            },
            Outcome::Cancelled => Verdict {
                status: RunStatus::Cancelled,
                output: None,
                error: None,
            },
            Outcome::Paused => Verdict {
                status: RunStatus::Paused,
                output: None,
                error: None,
            },
            Outcome::InvalidConfig(m) => failed(RunErrorInfo::new(RunErrorKind::InvalidConfig, m)),
            Outcome::Failed(m) => failed(RunErrorInfo::new(RunErrorKind::JobFailed, m)),
            Outcome::Trapped(m) => failed(RunErrorInfo::new(RunErrorKind::PluginTrapped, m)),
            Outcome::HostBusy(m) => failed(RunErrorInfo::new(RunErrorKind::HostBusy, m)),
            Outcome::Stopped(limit) => failed(RunErrorInfo::limit(limit)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_maps_to_one_status_and_error_kind() {
        let kind = |o: Outcome| {
            let v = o.verdict();
            (v.status, v.error.map(|e| e.kind))
        };
        assert_eq!(kind(Outcome::Cancelled), (RunStatus::Cancelled, None));
        assert_eq!(
            kind(Outcome::InvalidConfig("x".into())),
            (RunStatus::Failed, Some(RunErrorKind::InvalidConfig))
        );
        assert_eq!(
            kind(Outcome::Failed("x".into())),
            (RunStatus::Failed, Some(RunErrorKind::JobFailed))
        );
        assert_eq!(
            kind(Outcome::Trapped("x".into())),
            (RunStatus::Failed, Some(RunErrorKind::PluginTrapped))
        );
        assert_eq!(
            kind(Outcome::HostBusy("x".into())),
            (RunStatus::Failed, Some(RunErrorKind::HostBusy))
        );
        let stopped = Outcome::Stopped(StopReason::Memory).verdict();
        assert_eq!(stopped.status, RunStatus::Failed);
        let error = stopped.error.unwrap();
        assert_eq!(
            (error.kind, error.limit, error.message.as_str()),
            (
                RunErrorKind::LimitExceeded,
                Some(StopReason::Memory),
                "stopped by the memory limit"
            )
        );
    }
}
