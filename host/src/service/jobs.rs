//! Jobs: create (validated against the resolved version's schema), read,
//! list, patch (a JSON merge patch of the config, optimistic concurrency,
//! version moves re-validated), soft delete (cancelling active runs on
//! request), and a job's latest run.

use super::config::patched;
use super::idempotency::digest;
use super::schedules::check_schedule;
use super::{
    IdempotencyKey, MAX_DESCRIPTION, MAX_NAME, Once, Service, ServiceError, check_priority,
    check_text,
};
use crate::auth::Caller;
use crate::events::EventKind;
use crate::model::{Job, JobId, JobRun, RetryPolicy, Schedule, ScheduleState, Timestamp, now};
use crate::store::{Created, JobFilter, Page};
use serde_json::{Value, json};
use uuid::Uuid;

/// A job to create.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct NewJob {
    /// The job type.
    pub job_type: String,
    /// A semver requirement; the newest matching version is pinned.
    pub job_type_version: Option<String>,
    /// The config; `{}` when absent.
    pub config: Option<Value>,
    /// A name; generated from the display name when absent.
    pub name: Option<String>,
    /// A description.
    pub description: Option<String>,
    /// The default priority of its runs.
    pub priority: Option<i32>,
    /// Associated session.
    pub source_session_id: Option<Uuid>,
    /// Associated project.
    pub source_project_id: Option<Uuid>,
    /// Where finished runs are POSTed.
    pub callback_url: Option<String>,
    /// Its runs' retry policy, over the job type's.
    pub retry: Option<RetryPolicy>,
    /// When it runs by itself.
    pub schedule: Option<Schedule>,
}

/// Changes to a job; each field left `None` is kept.
#[derive(Debug, Clone, Default)]
pub struct JobPatch {
    /// A JSON merge patch of the config.
    pub config: Option<Value>,
    /// A semver requirement: moves the job to the newest matching version.
    pub job_type_version: Option<String>,
    /// A new callback URL; `""` removes it.
    pub callback_url: Option<String>,
    /// A new name.
    pub name: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// A new default priority.
    pub priority: Option<i32>,
    /// Refuse the change unless the job was last changed at this time.
    pub expected_updated_at: Option<Timestamp>,
    /// A new retry policy; `Some(None)` goes back to the job type's.
    pub retry: Option<Option<RetryPolicy>>,
    /// A new schedule; `Some(None)` removes it.
    pub schedule: Option<Option<Schedule>>,
}

impl Service {
    /// Creates a job for `caller`, durably, and announces it.
    pub async fn create_job(&self, caller: &Caller, new: NewJob) -> Result<Job, ServiceError> {
        let job = self.new_job(caller, new)?;
        self.save_new_job(&job, new_schedule_state(&job)).await?;
        Ok(job)
    }

    /// [`Service::create_job`] under an idempotency key: the same request
    /// under the same key answers the first job as it was created.
    pub async fn create_job_once(
        &self,
        caller: &Caller,
        new: NewJob,
        key: &IdempotencyKey,
    ) -> Result<Once<Job>, ServiceError> {
        let request = serde_json::to_value(&new).unwrap_or_default();
        let claim = match self.claim(caller, key, digest("job", &request))? {
            Ok(claim) => claim,
            Err(first) => return Ok(Once::Replayed(first)),
        };
        let job = self.new_job(caller, new)?;
        let state = new_schedule_state(&job);
        let body = serde_json::to_value(job.view(state.as_ref())).unwrap_or_default();
        claim.remember(Created::Job(job.uuid), 201, body)?;
        self.save_new_job(&job, state).await?;
        crate::faults::after_commit();
        Ok(Once::Fresh(job))
    }

    /// A new job of `caller`, validated, not yet stored (the rate limit is
    /// taken).
    fn new_job(&self, caller: &Caller, new: NewJob) -> Result<Job, ServiceError> {
        self.inner.job_creates.take(caller, "creating jobs")?;
        let plugin = self.resolve(caller, &new.job_type, new.job_type_version.as_deref())?;
        let mut config = new.config.unwrap_or_else(|| json!({}));
        plugin.validate_config(&mut config)?;
        let mut job = Job::new(
            caller.tenant.clone(),
            plugin.info.job_type.clone(),
            plugin.info.version.clone(),
            config,
            caller.user.clone(),
        );
        job.name = new.name.unwrap_or_else(|| {
            format!(
                "{} – {}",
                plugin.info.display_name,
                &job.uuid.to_string()[..8]
            )
        });
        check_text("name", &job.name, MAX_NAME)?;
        if let Some(d) = &new.description {
            check_text("description", d, MAX_DESCRIPTION)?;
        }
        job.description = new.description;
        job.priority = check_priority(new.priority.unwrap_or(0))?;
        job.source_session_id = new.source_session_id;
        job.source_project_id = new.source_project_id;
        job.callback_url = self.check_callback(new.callback_url)?;
        job.retry = check_retry(new.retry)?;
        check_schedule(&new.schedule)?;
        job.schedule = new.schedule;
        Ok(job)
    }

    /// Stores a new job and its schedule's state durably and announces it.
    async fn save_new_job(
        &self,
        job: &Job,
        state: Option<ScheduleState>,
    ) -> Result<(), ServiceError> {
        let store = &self.inner.store;
        store.put_job(job)?;
        if let Some(state) = &state {
            store.put_schedule_state(state)?;
            self.inner.scheduler.set(job.uuid, state.next_run_at);
        }
        store.flush().await?;
        store.events().job(EventKind::JobCreated, job);
        Ok(())
    }

    /// A job of the caller's tenant.
    pub fn job(&self, caller: &Caller, id: JobId) -> Result<Job, ServiceError> {
        self.inner
            .store
            .job(&caller.tenant, id)?
            .ok_or_else(|| ServiceError::NotFound {
                resource: "job",
                id: id.to_string(),
            })
    }

    /// A page of the caller's tenant's jobs.
    pub fn jobs(
        &self,
        caller: &Caller,
        filter: &JobFilter,
        cursor: Option<[u8; 16]>,
        limit: usize,
    ) -> Result<Page<Job>, ServiceError> {
        Ok(self
            .inner
            .store
            .list_jobs(&caller.tenant, filter, cursor, limit)?)
    }

    /// Changes a job. A config patch or a version move is validated, with
    /// the patch applied, against the resulting version's schema before
    /// anything changes.
    pub async fn patch_job(
        &self,
        caller: &Caller,
        id: JobId,
        patch: JobPatch,
    ) -> Result<Job, ServiceError> {
        let mut job = self.job(caller, id)?;
        if job.is_deleted {
            return Err(ServiceError::JobDeleted {
                job: id,
                to_run: false,
            });
        }
        let current = fresh(&job, patch.expected_updated_at)?;
        if patch.config.is_some() || patch.job_type_version.is_some() {
            let plugin = match &patch.job_type_version {
                Some(req) => self.resolve(caller, job.job_type.as_str(), Some(req))?,
                None => self.pinned(&job)?,
            };
            job.config = patched(
                &plugin,
                &job.config,
                patch.config.as_ref(),
                "must be a JSON object (a JSON merge patch of the config)",
            )?;
            job.job_type_version = plugin.info.version.clone();
        }
        if let Some(name) = patch.name {
            check_text("name", &name, MAX_NAME)?;
            job.name = name;
        }
        if let Some(d) = patch.description {
            check_text("description", &d, MAX_DESCRIPTION)?;
            job.description = Some(d);
        }
        if let Some(p) = patch.priority {
            job.priority = check_priority(p)?;
        }
        if let Some(url) = patch.callback_url {
            job.callback_url = self.check_callback((!url.is_empty()).then_some(url))?;
        }
        if let Some(retry) = patch.retry {
            job.retry = check_retry(retry)?;
        }
        if let Some(schedule) = patch.schedule {
            check_schedule(&schedule)?;
            job.schedule = schedule;
        }
        let mut updated = now();
        if updated <= current {
            updated = current + time::Duration::microseconds(1);
        }
        job.updated_at = Some(updated);
        let store = &self.inner.store;
        store.put_job(&job)?;
        self.sync_schedule(&job)?;
        store.flush().await?;
        store.events().job(EventKind::JobUpdated, &job);
        Ok(job)
    }

    /// Soft-deletes a job. Active runs refuse it unless `cancel_runs`, which
    /// cancels them first. Returns how many runs this call cancelled.
    pub async fn delete_job(
        &self,
        caller: &Caller,
        id: JobId,
        cancel_runs: bool,
    ) -> Result<usize, ServiceError> {
        let mut job = self.job(caller, id)?;
        let store = &self.inner.store;
        let active = store.active_runs_of_job(&caller.tenant, job.uuid)?;
        if !active.is_empty() && !cancel_runs {
            return Err(ServiceError::JobHasActiveRuns {
                job: id,
                count: active.len(),
                runs: active.iter().take(20).map(|r| r.uuid).collect(),
            });
        }
        let mut cancelled = 0;
        for run in active {
            if self.cancel_run(run).await? {
                cancelled += 1;
            }
        }
        let newly = !job.is_deleted;
        if newly {
            job.is_deleted = true;
            job.updated_at = Some(now());
            store.put_job(&job)?;
            self.sync_schedule(&job)?;
        }
        store.flush().await?;
        if newly {
            store.events().job(EventKind::JobDeleted, &job);
        }
        Ok(cancelled)
    }

    /// The newest run of a job of the caller's tenant, if it has one.
    pub fn latest_run(&self, caller: &Caller, id: JobId) -> Result<Option<JobRun>, ServiceError> {
        let job = self.job(caller, id)?;
        Ok(self.inner.store.latest_run(&caller.tenant, job.uuid)?)
    }

    /// A callback URL as the webhook target policy allows it.
    pub(super) fn check_callback(
        &self,
        url: Option<String>,
    ) -> Result<Option<String>, ServiceError> {
        match url {
            Some(u) => match self.inner.webhooks.check_url(&u) {
                Ok(_) => Ok(Some(u)),
                Err(m) => Err(ServiceError::field("callback_url", m)),
            },
            None => Ok(None),
        }
    }
}

/// The job's last change, when it is `expected` (if given); refused with
/// [`ServiceError::StaleUpdate`] when the job changed since.
pub(super) fn fresh(job: &Job, expected: Option<Timestamp>) -> Result<Timestamp, ServiceError> {
    let current = job.updated_at.unwrap_or(job.created_at);
    match expected {
        Some(expected) if expected != current => Err(ServiceError::StaleUpdate {
            job: job.uuid,
            expected,
            current,
        }),
        _ => Ok(current),
    }
}

/// A job's retry policy, checked.
fn check_retry(retry: Option<RetryPolicy>) -> Result<Option<RetryPolicy>, ServiceError> {
    if let Some(policy) = &retry {
        policy
            .check()
            .map_err(|m| ServiceError::field("retry", m))?;
    }
    Ok(retry)
}

/// The state of a new job's schedule, if it has one: its first tick is the
/// first after now.
fn new_schedule_state(job: &Job) -> Option<ScheduleState> {
    let cron = job.schedule.as_ref()?.compile().ok()?;
    Some(ScheduleState::new(
        job.tenant.clone(),
        job.uuid,
        &cron,
        now(),
    ))
}
