//! Pausing and resuming runs (seed 001's `paused`): a pending run is held
//! out of the queue; a running run whose job type resumes from checkpoints
//! is asked to stop at its next one and continues from it; any other
//! running run is suspended in memory where it stands, within a cap.

use super::{Service, ServiceError};
use crate::auth::Caller;
use crate::model::{InterruptedPolicy, JobRun, PauseMode, Paused, RunId, RunStatus, now};
use crate::store::StoreError;
use crate::worker::PauseResult;

impl Service {
    /// Pauses a run of the caller's tenant. A run that pauses at its next
    /// checkpoint comes back still `running` with `pause_requested`.
    pub async fn pause(&self, caller: &Caller, id: RunId) -> Result<JobRun, ServiceError> {
        for _ in 0..5 {
            let mut run = self.run(caller, id)?;
            match run.status {
                RunStatus::Pending => {
                    run.status = RunStatus::Paused;
                    run.paused = Some(Paused {
                        mode: PauseMode::Queued,
                        at: now(),
                    });
                    run.updated_at = now();
                    match self.inner.store.update_run(RunStatus::Pending, &run) {
                        Ok(()) => return self.durable(run).await,
                        // Started meanwhile: look again.
                        Err(StoreError::Conflict) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                RunStatus::Running => {
                    let workers = &self.inner.workers;
                    let result = if self.resumes_from_checkpoints(&run) {
                        workers.stop_at_checkpoint(id, true)?
                    } else {
                        workers.suspend(id, self.inner.max_paused_in_memory)?
                    };
                    return match result {
                        PauseResult::Done(run) => self.durable(*run).await,
                        PauseResult::TooMany { max } => {
                            Err(ServiceError::TooManyPausedInMemory { max })
                        }
                        PauseResult::NotHere => Err(ServiceError::RunNotPausable {
                            run: id,
                            why: "it is ending, or no worker of this host executes it".into(),
                        }),
                    };
                }
                RunStatus::Paused => return Ok(run),
                terminal => return Err(terminal.transition(RunStatus::Paused).unwrap_err().into()),
            }
        }
        Err(ServiceError::CancelRace(id))
    }

    /// Resumes a paused run of the caller's tenant: one held out of the
    /// queue or stopped at a checkpoint is queued again (and continues from
    /// its checkpoint); one suspended in memory goes on where it stands. A
    /// pause still waiting for a checkpoint is called off.
    pub async fn resume(&self, caller: &Caller, id: RunId) -> Result<JobRun, ServiceError> {
        let mut run = self.run(caller, id)?;
        let workers = &self.inner.workers;
        match (run.status, run.paused.map(|p| p.mode)) {
            (RunStatus::Paused, Some(PauseMode::InMemory)) => {
                match workers.resume_suspended(id)? {
                    PauseResult::Done(run) => self.durable(*run).await,
                    _ => Err(ServiceError::RunNotPausable {
                        run: id,
                        why: "no worker of this host holds it".into(),
                    }),
                }
            }
            (RunStatus::Paused, _) => {
                run.status = RunStatus::Pending;
                run.paused = None;
                run.updated_at = now();
                self.check_room(1)?;
                self.inner.store.update_run(RunStatus::Paused, &run)?;
                let run = self.durable(run).await?;
                workers.notify();
                Ok(run)
            }
            (RunStatus::Running, _) if run.pause_requested => {
                match workers.stop_at_checkpoint(id, false)? {
                    PauseResult::Done(run) => self.durable(*run).await,
                    _ => Ok(run),
                }
            }
            (status, _) => Err(ServiceError::RunNotPaused { run: id, status }),
        }
    }

    /// Whether `run`'s job type resumes interrupted runs from their
    /// checkpoints (so it pauses at one).
    fn resumes_from_checkpoints(&self, run: &JobRun) -> bool {
        self.inner
            .catalog
            .snapshot()
            .get(run.job_type.as_str(), &run.job_type_version)
            .is_some_and(|p| p.info.interrupted == InterruptedPolicy::Resume)
    }

    /// `run` once every write so far is on disk.
    async fn durable(&self, run: JobRun) -> Result<JobRun, ServiceError> {
        self.inner.store.flush().await?;
        Ok(run)
    }
}
