//! Runs: trigger (run-time overrides merged into the job's config and
//! validated), read, list, cancel.

use super::config::patched;
use super::idempotency::digest;
use super::{IdempotencyKey, Once, Service, ServiceError, check_priority};
use crate::auth::Caller;
use crate::model::{Job, JobId, JobRun, PauseMode, RetryPolicy, RunId, RunStatus, now};
use crate::registry::Plugin;
use crate::store::{Created, LogFilter, LogRecord, Page, RunFilter, StoreError};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// How long a cancel waits for a running plugin to stop.
const CANCEL_WAIT: Duration = Duration::from_secs(2);

/// A run to trigger.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NewRun {
    /// The job to run.
    pub job_id: JobId,
    /// Run-time overrides: a JSON merge patch of the job's config.
    pub config: Option<Value>,
    /// The run's priority; the job's when absent.
    pub priority: Option<i32>,
    /// Where the finished run is POSTed; the job's when absent.
    pub callback_url: Option<String>,
}

impl Service {
    /// Queues a run of a job of the caller's tenant, durably.
    pub async fn trigger(&self, caller: &Caller, new: NewRun) -> Result<JobRun, ServiceError> {
        self.check_room(1)?;
        let run = self.prepare(caller, &new)?;
        self.admit(std::slice::from_ref(&run)).await?;
        Ok(run)
    }

    /// [`Service::trigger`] under an idempotency key: the same request
    /// under the same key answers the first run as it was created.
    pub async fn trigger_once(
        &self,
        caller: &Caller,
        new: NewRun,
        key: &IdempotencyKey,
    ) -> Result<Once<JobRun>, ServiceError> {
        let request = serde_json::to_value(&new).unwrap_or_default();
        let claim = match self.claim(caller, key, digest("job_run", &request))? {
            Ok(claim) => claim,
            Err(first) => return Ok(Once::Replayed(first)),
        };
        self.check_room(1)?;
        let run = self.prepare(caller, &new)?;
        let body = serde_json::to_value(run.view()).unwrap_or_default();
        claim.remember(Created::Run(run.uuid), 201, body)?;
        self.admit(std::slice::from_ref(&run)).await?;
        crate::faults::after_commit();
        Ok(Once::Fresh(run))
    }

    /// A pending run of a job of the caller's tenant, validated and not yet
    /// stored: the job's config with the overrides merged in and checked
    /// against the job's version, at the priority and callback asked for.
    pub(super) fn prepare(&self, caller: &Caller, new: &NewRun) -> Result<JobRun, ServiceError> {
        let (job, plugin) = self.runnable_job(caller, new.job_id)?;
        self.run_of(caller, &job, &plugin, new)
    }

    /// A job of the caller's tenant that may take new runs, and its version.
    pub(super) fn runnable_job(
        &self,
        caller: &Caller,
        id: JobId,
    ) -> Result<(Job, Arc<Plugin>), ServiceError> {
        let job = self.live_job(caller, id)?;
        let plugin = self.runnable(&job)?;
        Ok((job, plugin))
    }

    /// A job of the caller's tenant that may still run (not deleted).
    pub(super) fn live_job(&self, caller: &Caller, id: JobId) -> Result<Job, ServiceError> {
        let job = self.job(caller, id)?;
        if job.is_deleted {
            return Err(ServiceError::JobDeleted {
                job: job.uuid,
                to_run: true,
            });
        }
        Ok(job)
    }

    /// A pending run of `job` (running `plugin`) as `new` asks.
    pub(super) fn run_of(
        &self,
        caller: &Caller,
        job: &Job,
        plugin: &Plugin,
        new: &NewRun,
    ) -> Result<JobRun, ServiceError> {
        let config = patched(
            plugin,
            &job.config,
            new.config.as_ref(),
            "run-time overrides must be a JSON object (a JSON merge patch)",
        )?;
        let mut run = JobRun::pending(job, config, caller.user.clone());
        run.retry = retry_policy(job, plugin);
        run.priority = check_priority(new.priority.unwrap_or(job.priority))?;
        if let Some(url) = &new.callback_url {
            run.callback_url = self.check_callback(Some(url.clone()))?;
        }
        Ok(run)
    }

    /// Refused when `adding` more runs would overfill the queue.
    pub(super) fn check_room(&self, adding: usize) -> Result<(), ServiceError> {
        let queued = self.inner.store.queue_len()?;
        let max = self.inner.max_queued_runs;
        if queued + adding > max {
            return Err(ServiceError::QueueFull { queued, max });
        }
        Ok(())
    }

    /// Stores and queues prepared runs, durably (one group commit for all),
    /// and wakes the workers.
    pub(super) async fn admit<'a>(
        &self,
        runs: impl IntoIterator<Item = &'a JobRun>,
    ) -> Result<(), ServiceError> {
        let store = &self.inner.store;
        for run in runs {
            store.insert_run(run)?;
        }
        store.flush().await?;
        self.inner.workers.notify();
        Ok(())
    }

    /// A run of the caller's tenant.
    pub fn run(&self, caller: &Caller, id: RunId) -> Result<JobRun, ServiceError> {
        self.inner
            .store
            .run(&caller.tenant, id)?
            .ok_or_else(|| ServiceError::NotFound {
                resource: "job_run",
                id: id.to_string(),
            })
    }

    /// A page of the caller's tenant's runs.
    pub fn runs(
        &self,
        caller: &Caller,
        filter: &RunFilter,
        cursor: Option<[u8; 16]>,
        limit: usize,
    ) -> Result<Page<JobRun>, ServiceError> {
        Ok(self
            .inner
            .store
            .list_runs(&caller.tenant, filter, cursor, limit)?)
    }

    /// Cancels a run of the caller's tenant, durably. True if this call
    /// cancelled it.
    pub async fn cancel(&self, caller: &Caller, id: RunId) -> Result<bool, ServiceError> {
        let run = self.run(caller, id)?;
        let cancelled = self.cancel_run(run).await?;
        self.inner.store.flush().await?;
        Ok(cancelled)
    }

    /// Cancels one run: a pending or paused run at once, a running one by
    /// interrupting its instance (waiting briefly for it to stop). True if
    /// this call cancelled it.
    pub(super) async fn cancel_run(&self, mut run: JobRun) -> Result<bool, ServiceError> {
        let store = &self.inner.store;
        for _ in 0..5 {
            let in_memory = run.paused.is_some_and(|p| p.mode == PauseMode::InMemory);
            match run.status {
                RunStatus::Pending | RunStatus::Paused if !in_memory => {
                    let from = run.status;
                    run.status = from.transition(RunStatus::Cancelled)?;
                    run.updated_at = now();
                    run.next_attempt_at = None;
                    run.paused = None;
                    run.finished_at = Some(run.updated_at);
                    match store.update_run(from, &run) {
                        Ok(()) => return Ok(true),
                        Err(StoreError::Conflict) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                RunStatus::Running | RunStatus::Paused => {
                    let workers = &self.inner.workers;
                    if workers.cancel(run.uuid) {
                        let workers = workers.clone();
                        let id = run.uuid;
                        let _ = tokio::task::spawn_blocking(move || {
                            workers.wait_finished(id, CANCEL_WAIT)
                        })
                        .await;
                        return Ok(true);
                    }
                    // A worker registers a run before it writes `running` and
                    // leaves after its last write: a running run no worker here
                    // holds was left by a worker that died. Cancel it in place,
                    // unless its lease moved meanwhile.
                    let observed = (run.attempt, run.lease.take());
                    run.status = RunStatus::Cancelled;
                    run.updated_at = now();
                    run.finished_at = Some(run.updated_at);
                    match store.take_over(&run, observed.0, observed.1.as_ref()) {
                        Ok(()) => return Ok(true),
                        Err(StoreError::Conflict) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                terminal => {
                    return Err(terminal
                        .transition(RunStatus::Cancelled)
                        .unwrap_err()
                        .into());
                }
            }
            // The run moved meanwhile: look again.
            run = store
                .run(&run.tenant, run.uuid)?
                .ok_or_else(|| ServiceError::NotFound {
                    resource: "job_run",
                    id: run.uuid.to_string(),
                })?;
        }
        Err(ServiceError::CancelRace(run.uuid))
    }
}

/// A run's retry policy: the job's, else its job type's, else the host's.
pub(super) fn retry_policy(job: &Job, plugin: &Plugin) -> RetryPolicy {
    job.retry
        .or(plugin.info.retry)
        .unwrap_or(RetryPolicy::HOST_DEFAULT)
}

/// Lines one page of logs may scan past the filters.
const LOG_SCAN_BUDGET: usize = 10_000;

impl Service {
    /// A page of the log lines of a run of the caller's tenant, oldest
    /// first, and the cursor of the next page.
    pub async fn logs(
        &self,
        caller: &Caller,
        id: RunId,
        filter: LogFilter,
        limit: usize,
    ) -> Result<(Vec<LogRecord>, Option<u32>), ServiceError> {
        let run = self.run(caller, id)?;
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || store.logs(run.uuid, &filter, limit, LOG_SCAN_BUDGET))
            .await
            .map_err(|e| StoreError::Task(format!("log read failed: {e}")))?
            .map_err(ServiceError::from)
    }
}
