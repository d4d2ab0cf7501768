//! Recovery at start: runs a crash left `running` (or paused in memory)
//! are resumed from their checkpoint, restarted, or failed, per their job
//! type's policy, and `pending` runs are put back in the queue. Nothing
//! stays `running`; runs paused at a checkpoint or before they started stay
//! paused.

use crate::identity::HostId;
use crate::model::InterruptedPolicy;
use crate::model::{JobRun, PauseMode, RunErrorInfo, RunErrorKind, RunStatus, now};
use crate::registry::Registry;
use crate::store::{Store, StoreError};

/// Attempts a run gets in all unless its retry policy says otherwise.
pub const MAX_ATTEMPTS: u32 = crate::model::RetryPolicy::HOST_DEFAULT.max_attempts;

/// Moves an interrupted run to its next state per `policy`: another
/// attempt (at once) while its retry policy's ceiling allows, else failed.
/// The interrupted attempt is kept on the run.
pub(crate) fn interrupted(run: &mut JobRun, policy: InterruptedPolicy, why: &str) {
    let now = now();
    run.updated_at = now;
    run.lease = None;
    let retry = matches!(
        policy,
        InterruptedPolicy::Resume | InterruptedPolicy::Restart
    );
    let error = |message: String| RunErrorInfo::new(RunErrorKind::Interrupted, message);
    if retry && run.attempt < run.retry.max_attempts {
        run.end_attempt(RunStatus::Failed, Some(error(why.to_string())), now);
        run.queue_next_attempt(None);
        if policy == InterruptedPolicy::Restart {
            run.progress = 0;
            run.progress_message = None;
        }
    } else {
        let message = if retry {
            format!("{why}; gave up after {} attempts", run.attempt)
        } else {
            format!("{why}; the job type does not retry interrupted runs")
        };
        run.end_attempt(RunStatus::Failed, Some(error(message.clone())), now);
        run.status = RunStatus::Failed;
        run.finished_at = Some(now);
        run.error = Some(error(message));
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

/// Recovers every run left `running` or `pending` by the previous process
/// of `host`. On a store other hosts share, a run another host holds under
/// a lease that has not lapsed may be executing there: it is left to its
/// holder (or, once its lease lapses, to the lease keepers). The runs
/// `host`'s own workers held are this host's to recover at once.
pub fn recover(store: &Store, registry: &Registry, host: &HostId) -> Result<Recovered, StoreError> {
    let mut done = Recovered::default();
    let started = now();
    let held_elsewhere = |run: &JobRun| {
        store.shared()
            && run
                .lease
                .as_ref()
                .is_some_and(|l| l.expires_at > started && !host.holds(&l.holder))
    };
    let policy = |run: &JobRun| {
        registry
            .get(run.job_type.as_str(), &run.job_type_version)
            .map(|p| p.info.interrupted)
            .unwrap_or(InterruptedPolicy::Fail)
    };
    // One pass over the open runs; each is in one status.
    for mut run in store.open_runs()? {
        if matches!(run.status, RunStatus::Running | RunStatus::Paused) && held_elsewhere(&run) {
            continue;
        }
        match run.status {
            RunStatus::Running => {
                let policy = policy(&run);
                let observed = (run.attempt, run.lease.clone());
                interrupted(&mut run, policy, "the host stopped while it ran");
                match store.take_over(&run, observed.0, observed.1.as_ref()) {
                    // Another host took it first.
                    Err(StoreError::Conflict) => continue,
                    other => other?,
                }
            }
            // Paused at a checkpoint or before it started: it stays paused.
            RunStatus::Paused if run.paused.is_some_and(|p| p.mode == PauseMode::InMemory) => {
                let policy = policy(&run);
                let observed = (run.attempt, run.lease.clone());
                run.paused = None;
                run.pause_requested = false;
                interrupted(
                    &mut run,
                    policy,
                    "the host stopped while the run was paused in memory",
                );
                match store.take_over(&run, observed.0, observed.1.as_ref()) {
                    Err(StoreError::Conflict) => continue,
                    other => other?,
                }
            }
            // Queued already: the store rebuilt its queue when it opened.
            RunStatus::Pending => {
                done.pending += 1;
                continue;
            }
            _ => continue,
        }
        if run.status == RunStatus::Pending {
            done.requeued += 1;
            done.pending += 1;
        } else {
            done.failed += 1;
        }
    }
    store.flush_blocking()?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Job, RetryPolicy, TenantId};

    fn running(max_attempts: u32, attempt: u32) -> JobRun {
        let job = Job::new(
            TenantId("t".into()),
            crate::job_type::JobTypeId::parse("x").unwrap(),
            semver::Version::new(1, 0, 0),
            serde_json::json!({}),
            "a@example.com",
        );
        let mut run = JobRun::pending(&job, serde_json::json!({}), "a@example.com");
        run.retry = RetryPolicy::declared(max_attempts, 0, 1.0, 0);
        run.status = RunStatus::Running;
        run.attempt = attempt;
        run
    }

    #[test]
    fn interruptions_and_failures_share_the_attempt_ceiling() {
        // Attempt 1 failed and was retried by the policy; the host stops
        // under attempt 2 of 2: no third attempt.
        let mut run = running(2, 2);
        interrupted(&mut run, InterruptedPolicy::Resume, "the host stopped");
        assert_eq!(run.status, RunStatus::Failed);
        assert!(
            run.error
                .as_ref()
                .unwrap()
                .message
                .contains("gave up after 2 attempts")
        );
        assert_eq!(run.attempts.len(), 1);

        let mut run = running(5, 2);
        interrupted(&mut run, InterruptedPolicy::Restart, "the host stopped");
        assert_eq!((run.status, run.attempt), (RunStatus::Pending, 3));
        assert_eq!(
            run.next_attempt_at, None,
            "an interrupted run goes again at once"
        );
        let kept = &run.attempts[0];
        assert_eq!((kept.attempt, kept.status), (2, RunStatus::Failed));
        assert_eq!(kept.error.as_ref().unwrap().kind, RunErrorKind::Interrupted);
    }
}
