//! Rerun: a new run of a finished run's job, from the finished run's config
//! (with overrides merged in and validated), on the same job type version
//! unless another is asked for; the new run records what it reruns.

use super::config::patched;
use super::jobs::fresh;
use super::resolve::approved_in;
use super::{Service, ServiceError, check_priority};
use crate::auth::Caller;
use crate::model::{JobRun, RunId, Timestamp, Trigger};
use serde_json::Value;

/// How to rerun a run; each field left `None` keeps the first run's.
#[derive(Debug, Clone, Default)]
pub struct Rerun {
    /// Overrides: a JSON merge patch of the first run's config.
    pub config: Option<Value>,
    /// A semver requirement: the newest matching version runs instead.
    pub job_type_version: Option<String>,
    /// The new run's priority.
    pub priority: Option<i32>,
    /// Refuse unless the job was last changed at this time.
    pub expected_updated_at: Option<Timestamp>,
}

impl Service {
    /// Queues a rerun of a finished run of the caller's tenant, durably.
    pub async fn rerun(
        &self,
        caller: &Caller,
        id: RunId,
        how: Rerun,
    ) -> Result<JobRun, ServiceError> {
        let first = self.run(caller, id)?;
        if !first.status.is_terminal() {
            return Err(ServiceError::RunNotFinished {
                run: id,
                status: first.status,
            });
        }
        self.check_room(1)?;
        let job = self.live_job(caller, first.job_id)?;
        fresh(&job, how.expected_updated_at)?;
        let plugin = match &how.job_type_version {
            Some(req) => self.resolve(caller, job.job_type.as_str(), Some(req))?,
            None => {
                let registry = self.inner.catalog.snapshot();
                let plugin = registry
                    .get(first.job_type.as_str(), &first.job_type_version)
                    .cloned()
                    .ok_or_else(|| {
                        ServiceError::field(
                            "job_type_version",
                            format!(
                                "run {id} ran job type {} version {}, which is not loaded; \
                                 give a job_type_version to rerun it on another version",
                                first.job_type, first.job_type_version
                            ),
                        )
                    })?;
                approved_in(&registry, &plugin)?;
                plugin
            }
        };
        let config = patched(
            &plugin,
            &first.config,
            how.config.as_ref(),
            "overrides must be a JSON object (a JSON merge patch of the run's config)",
        )?;
        let mut run = JobRun::pending(&job, config, caller.user.clone());
        run.job_type_version = plugin.info.version.clone();
        run.retry = super::runs::retry_policy(&job, &plugin);
        run.trigger = Trigger::Rerun;
        run.rerun_of = Some(first.uuid);
        run.priority = check_priority(how.priority.unwrap_or(first.priority))?;
        run.callback_url = first.callback_url.clone();
        self.admit(std::slice::from_ref(&run)).await?;
        Ok(run)
    }
}
