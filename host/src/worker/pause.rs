//! Pausing runs that execute here: a run whose job type resumes from
//! checkpoints is asked to stop at its next one; any other is suspended in
//! place, its instance parked on its worker thread. A parked instance holds
//! its thread, so the pool starts a thread in its stead and retires one
//! when the run resumes or ends: a paused run never takes capacity from
//! the others.

use super::{Shared, Workers, lock, work};
use crate::model::{JobRun, PauseMode, Paused, RunId, RunStatus, now};
use crate::store::StoreError;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// What a pause or resume found.
#[derive(Debug)]
pub enum PauseResult {
    /// Done; the run as now stored.
    Done(Box<JobRun>),
    /// No worker here executes the run.
    NotHere,
    /// A worker here claimed the run and is starting it (its status says
    /// `running` already): ask again in a moment.
    Starting,
    /// As many runs as allowed are suspended in memory already.
    TooMany {
        /// The cap.
        max: usize,
    },
}

impl Workers {
    /// Asks a run executing here to stop at its next checkpoint (or, with
    /// `asked` false, no longer to).
    pub fn stop_at_checkpoint(&self, id: RunId, asked: bool) -> Result<PauseResult, StoreError> {
        let (cancel, recorder) = match self.shared.held(id) {
            Held::NotHere => return Ok(PauseResult::NotHere),
            Held::Starting => return Ok(PauseResult::Starting),
            Held::Executing(cancel, recorder) => (cancel, recorder),
        };
        cancel.stop_at_checkpoint(asked);
        let run = recorder.update(|run| run.pause_requested = asked)?;
        Ok(PauseResult::Done(Box::new(run)))
    }

    /// Suspends a run executing here in place, unless `max` runs are
    /// suspended already.
    pub fn suspend(&self, id: RunId, max: usize) -> Result<PauseResult, StoreError> {
        let shared = &self.shared;
        let (cancel, recorder) = {
            let mut running = lock(&shared.running);
            let suspended = running.values().filter(|h| h.suspended.is_some()).count();
            let Some(held) = running.get_mut(&id) else {
                return Ok(PauseResult::NotHere);
            };
            let Some(recorder) = held.recorder.clone() else {
                return Ok(PauseResult::Starting);
            };
            if held.suspended.is_some() {
                return Ok(PauseResult::Done(Box::new(recorder.run())));
            }
            if suspended >= max {
                return Ok(PauseResult::TooMany { max });
            }
            held.suspended = Some(recorder.run().tenant);
            (held.cancel.clone(), recorder)
        };
        cancel.suspend();
        let stored = recorder.update(|run| {
            run.status = RunStatus::Paused;
            run.paused = Some(Paused {
                mode: PauseMode::InMemory,
                at: now(),
            });
        });
        match stored {
            Ok(run) => {
                self.add_thread();
                Ok(PauseResult::Done(Box::new(run)))
            }
            Err(e) => {
                cancel.resume();
                if let Some(held) = lock(&shared.running).get_mut(&id) {
                    held.suspended = None;
                }
                Err(e)
            }
        }
    }

    /// Lets a run suspended here go on from where it stands.
    pub fn resume_suspended(&self, id: RunId) -> Result<PauseResult, StoreError> {
        let shared = &self.shared;
        let (cancel, recorder) = {
            let mut running = lock(&shared.running);
            let Some(held) = running.get_mut(&id).filter(|h| h.suspended.is_some()) else {
                return Ok(PauseResult::NotHere);
            };
            let Some(recorder) = held.recorder.clone() else {
                return Ok(PauseResult::NotHere);
            };
            (held.cancel.clone(), recorder)
        };
        let run = recorder.update(|run| {
            run.status = RunStatus::Running;
            run.paused = None;
        })?;
        cancel.resume();
        if let Some(held) = lock(&shared.running).get_mut(&id)
            && held.suspended.take().is_some()
        {
            shared.retire.fetch_add(1, Ordering::SeqCst);
            shared.wake.notify_all();
        }
        Ok(PauseResult::Done(Box::new(run)))
    }

    /// The attempts executing here (running or suspended).
    pub fn executing(&self) -> Vec<(RunId, u32)> {
        self.shared.executing()
    }

    /// Runs suspended in memory here.
    pub fn suspended(&self) -> usize {
        lock(&self.shared.running)
            .values()
            .filter(|h| h.suspended.is_some())
            .count()
    }

    /// Starts a worker thread in the stead of one holding a suspended run.
    fn add_thread(&self) {
        let shared = self.shared.clone();
        let index = shared.extra_started.fetch_add(1, Ordering::SeqCst);
        let spawned = std::thread::Builder::new()
            .name(format!("jobhost-worker-x{index}"))
            .spawn(move || {
                crate::runtime::lower_this_thread();
                work(&shared, 1000 + index);
            });
        match spawned {
            Ok(thread) => lock(&self.shared.extra).push(thread),
            Err(e) => {
                tracing::error!(error = %e, "starting a worker thread for a paused run failed");
            }
        }
    }
}

/// What this host's workers hold of a run.
enum Held {
    /// Nothing.
    NotHere,
    /// Claimed, its recorder not attached yet.
    Starting,
    /// Executing: its control and recorder.
    Executing(crate::runtime::CancelToken, Arc<super::recorder::Recorder>),
}

impl Shared {
    /// What the workers here hold of run `id`.
    fn held(&self, id: RunId) -> Held {
        let running = lock(&self.running);
        match running.get(&id) {
            None => Held::NotHere,
            Some(held) => match &held.recorder {
                None => Held::Starting,
                Some(recorder) => Held::Executing(held.cancel.clone(), recorder.clone()),
            },
        }
    }
}
