//! Recovery at start: runs a crash left `running` are resumed from their
//! checkpoint, restarted, or failed, per their job type's policy, and
//! `pending` runs are put back in the queue. Nothing stays `running`.

use crate::model::InterruptedPolicy;
use crate::model::{JobRun, RunErrorInfo, RunErrorKind, RunStatus, now};
use crate::registry::Registry;
use crate::store::{Store, StoreError};

/// Attempts a run gets before an interruption fails it.
pub const MAX_ATTEMPTS: u32 = 3;

/// Moves an interrupted run to its next state per `policy`.
pub(crate) fn interrupted(run: &mut JobRun, policy: InterruptedPolicy, why: &str) {
    let now = now();
    run.updated_at = now;
    run.lease = None;
    let retry = matches!(
        policy,
        InterruptedPolicy::Resume | InterruptedPolicy::Restart
    );
    if retry && run.attempt < MAX_ATTEMPTS {
        run.status = RunStatus::Pending;
        run.attempt += 1;
        run.started_at = None;
        if policy == InterruptedPolicy::Restart {
            run.progress = 0;
            run.progress_message = None;
        }
    } else {
        run.status = RunStatus::Failed;
        run.finished_at = Some(now);
        let message = if retry {
            format!("{why}; gave up after {} attempts", run.attempt)
        } else {
            format!("{why}; the job type does not retry interrupted runs")
        };
        run.error = Some(RunErrorInfo::new(RunErrorKind::Interrupted, message));
    }
}

/// Counts of what recovery did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Interrupted runs queued again.
    pub requeued: usize,
    /// Interrupted runs failed.
    pub failed: usize,
    /// Runs waiting in the queue after recovery (including the re-queued ones).
    pub pending: usize,
}

/// Recovers every run left `running` or `pending` by the previous process.
pub fn recover(store: &Store, registry: &Registry) -> Result<Recovered, StoreError> {
    let mut done = Recovered::default();
    for mut run in store.runs_in_status(RunStatus::Running)? {
        let policy = registry
            .get(run.job_type.as_str(), &run.job_type_version)
            .map(|p| p.info.interrupted)
            .unwrap_or(InterruptedPolicy::Fail);
        interrupted(&mut run, policy, "the host stopped while it ran");
        if run.status == RunStatus::Pending {
            done.requeued += 1;
        } else {
            done.failed += 1;
        }
        store.update_run(RunStatus::Running, &run)?;
    }
    for run in store.runs_in_status(RunStatus::Pending)? {
        store.requeue(&run)?;
        done.pending += 1;
    }
    store.flush_blocking()?;
    Ok(done)
}
