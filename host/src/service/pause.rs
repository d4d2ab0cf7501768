//! Pausing and resuming runs (seed 001's `paused`): a pending run is held
//! out of the queue; a running run whose job type resumes from checkpoints
//! is asked to stop at its next one and continues from it; any other
//! running run is suspended in memory where it stands, within a cap.
//!
//! On a store several hosts share, a pause or resume of a run another host
//! executes is asked of that host through the store ([`AskStore`]): it
//! looks for asks about its runs every 250 ms ([`Service::answer_asks`]),
//! carries them out as if asked directly, and answers; the asking host
//! waits up to [`ASK_WAIT`] for the answer.

use super::{Service, ServiceError};
use crate::auth::Caller;
use crate::model::{InterruptedPolicy, JobRun, PauseMode, Paused, RunId, RunStatus, now};
use crate::store::{Answer, Ask, StoreError};
use crate::worker::PauseResult;
use std::time::{Duration, Instant};

/// How long a host waits for the host executing a run to answer a pause or
/// resume asked through the store.
pub const ASK_WAIT: Duration = Duration::from_secs(5);

/// How often the asking host looks for the answer.
const ANSWER_POLL: Duration = Duration::from_millis(25);

/// How long a pause waits for a run claimed here to start executing.
const START_WAIT: Duration = Duration::from_secs(2);

/// How often it looks meanwhile.
const START_POLL: Duration = Duration::from_millis(10);

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
                    let answer = match self.pause_here_once_started(&run).await? {
                        PauseResult::Done(run) => return self.durable(*run).await,
                        PauseResult::TooMany { max } => Answer::TooMany { max },
                        PauseResult::NotHere | PauseResult::Starting => {
                            self.ask_executing_host(&run, Ask::Pause).await?
                        }
                    };
                    return self.answered(caller, id, answer);
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
            (RunStatus::Paused, Some(PauseMode::InMemory)) | (RunStatus::Running, _)
                if run.status == RunStatus::Paused || run.pause_requested =>
            {
                let answer = match self.resume_here(&run)? {
                    PauseResult::Done(run) => return self.durable(*run).await,
                    PauseResult::TooMany { max } => Answer::TooMany { max },
                    PauseResult::NotHere | PauseResult::Starting => {
                        self.ask_executing_host(&run, Ask::Resume).await?
                    }
                };
                self.answered(caller, id, answer)
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
            (status, _) => Err(ServiceError::RunNotPaused { run: id, status }),
        }
    }

    /// [`Self::pause_here`], waiting up to [`START_WAIT`] for a run a worker
    /// here claimed (its status `running`) to start: a pause sent as soon as
    /// a run shows `running` finds it starting.
    async fn pause_here_once_started(&self, run: &JobRun) -> Result<PauseResult, StoreError> {
        let deadline = Instant::now() + START_WAIT;
        loop {
            match self.pause_here(run)? {
                PauseResult::Starting if Instant::now() < deadline => {
                    tokio::time::sleep(START_POLL).await;
                }
                result => return Ok(result),
            }
        }
    }

    /// Pauses `run`, running, if a worker of this host executes it.
    fn pause_here(&self, run: &JobRun) -> Result<PauseResult, StoreError> {
        let workers = &self.inner.workers;
        if self.resumes_from_checkpoints(run) {
            workers.stop_at_checkpoint(run.uuid, true)
        } else {
            workers.suspend(run.uuid, self.inner.max_paused_in_memory)
        }
    }

    /// Resumes `run` (suspended, or asked to pause at a checkpoint) if a
    /// worker of this host executes it.
    fn resume_here(&self, run: &JobRun) -> Result<PauseResult, StoreError> {
        let workers = &self.inner.workers;
        if run.status == RunStatus::Paused {
            workers.resume_suspended(run.uuid)
        } else {
            workers.stop_at_checkpoint(run.uuid, false)
        }
    }

    /// Asks the host executing `run` (on a store other hosts share) and
    /// waits for its answer; [`Answer::NotHere`] on a store only this host
    /// uses.
    async fn ask_executing_host(&self, run: &JobRun, ask: Ask) -> Result<Answer, ServiceError> {
        let store = &self.inner.store;
        let Some(id) = store.ask(run.uuid, run.attempt, ask)? else {
            return Ok(Answer::NotHere);
        };
        let deadline = Instant::now() + ASK_WAIT;
        while Instant::now() < deadline {
            tokio::time::sleep(ANSWER_POLL).await;
            if let Some(answer) = store.answered(id, false)? {
                return Ok(answer);
            }
        }
        Ok(store.answered(id, true)?.unwrap_or(Answer::Failed(format!(
            "the host executing it did not answer within {} s",
            ASK_WAIT.as_secs()
        ))))
    }

    /// The run as stored once the host executing it answered, or the error
    /// its answer means.
    fn answered(&self, caller: &Caller, id: RunId, answer: Answer) -> Result<JobRun, ServiceError> {
        match answer {
            Answer::Done => self.run(caller, id),
            Answer::TooMany { max } => Err(ServiceError::TooManyPausedInMemory { max }),
            Answer::NotHere => Err(ServiceError::RunNotPausable {
                run: id,
                why: "it is ending, or no worker executes it".into(),
            }),
            Answer::Failed(why) => Err(ServiceError::RunNotPausable { run: id, why }),
        }
    }

    /// Carries out the pauses and resumes other hosts asked of the runs
    /// executing here, and answers them. Called every 250 ms on a store
    /// other hosts share.
    pub fn answer_asks(&self) -> Result<usize, StoreError> {
        let store = &self.inner.store;
        let asked = store.asked(&self.inner.workers.executing())?;
        for asked in &asked {
            let answer = match store.run_any_tenant(asked.run)? {
                Some(run) => {
                    let result = match (asked.ask, run.status) {
                        (Ask::Pause, RunStatus::Running) => self.pause_here(&run),
                        (Ask::Resume, RunStatus::Paused | RunStatus::Running) => {
                            self.resume_here(&run)
                        }
                        (Ask::Pause, RunStatus::Paused) => Ok(PauseResult::Done(Box::new(run))),
                        _ => Ok(PauseResult::NotHere),
                    };
                    match result {
                        Ok(PauseResult::Done(_)) => Answer::Done,
                        Ok(PauseResult::NotHere | PauseResult::Starting) => Answer::NotHere,
                        Ok(PauseResult::TooMany { max }) => Answer::TooMany { max },
                        Err(e) => Answer::Failed(e.to_string()),
                    }
                }
                None => Answer::NotHere,
            };
            tracing::info!(run = %asked.run, ask = asked.ask.as_str(), answer = %answer.encode(), "answered another host's ask");
            store.answer(asked.id, &answer)?;
        }
        Ok(asked.len())
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
