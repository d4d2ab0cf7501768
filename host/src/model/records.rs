//! The job and job-run records, stored as JSON and served as they are.

use super::{
    Attempt, JobId, Paused, RetryPolicy, RunId, RunStatus, Schedule, ScheduleState, TenantId,
    Trigger,
};
use super::{OutputReference, Receipt, StopReason};
use crate::job_type::JobTypeId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// A point in time, served as RFC 3339 in UTC with microseconds.
pub type Timestamp = time::OffsetDateTime;

/// The current time, truncated to microseconds (what RFC 3339 output keeps).
pub fn now() -> Timestamp {
    let t = time::OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1000 * 1000)
        .unwrap_or(t)
}

/// A saved job: a job type at a pinned version with a validated config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Id.
    pub uuid: JobId,
    /// Owning tenant.
    pub tenant: TenantId,
    /// Name (generated when not given).
    pub name: String,
    /// Free-text description.
    pub description: Option<String>,
    /// The job type.
    pub job_type: JobTypeId,
    /// The job type version pinned at creation.
    pub job_type_version: semver::Version,
    /// The validated config (it carries `job_type`).
    pub config: Value,
    /// Default priority of its runs: higher runs first.
    pub priority: i32,
    /// Soft-delete flag.
    pub is_deleted: bool,
    /// Creator's email.
    pub created_by: String,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    /// Last update, null until the first.
    #[serde(with = "time::serde::rfc3339::option")]
    pub updated_at: Option<Timestamp>,
    /// Associated session.
    pub source_session_id: Option<Uuid>,
    /// Associated project.
    pub source_project_id: Option<Uuid>,
    /// Where its runs' results are POSTed when they finish (a run may override it).
    #[serde(default)]
    pub callback_url: Option<String>,
    /// Its runs' retry policy, over the job type's.
    #[serde(default)]
    pub retry: Option<RetryPolicy>,
    /// When it runs by itself.
    #[serde(default)]
    pub schedule: Option<Schedule>,
}

impl Job {
    /// A new job of `job_type` at `version` with a validated `config`,
    /// created by `created_by` now: unnamed, priority 0, no callback.
    pub fn new(
        tenant: TenantId,
        job_type: JobTypeId,
        version: semver::Version,
        config: Value,
        created_by: impl Into<String>,
    ) -> Job {
        Job {
            uuid: JobId::new(),
            tenant,
            name: String::new(),
            description: None,
            job_type,
            job_type_version: version,
            config,
            priority: 0,
            is_deleted: false,
            created_by: created_by.into(),
            created_at: now(),
            updated_at: None,
            source_session_id: None,
            source_project_id: None,
            callback_url: None,
            retry: None,
            schedule: None,
        }
    }
}

/// The stable kind of a run's failure, served as its `error.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunErrorKind {
    /// The plugin refused its config.
    InvalidConfig,
    /// The plugin reported a failure.
    JobFailed,
    /// A limit stopped the run.
    LimitExceeded,
    /// The plugin trapped (e.g. panicked) or broke the contract.
    PluginTrapped,
    /// The host stopped while the run ran, and it is not retried.
    Interrupted,
    /// The job type version the run is pinned to is not loaded.
    PluginUnavailable,
    /// Every instance slot was in use (only `jobhost run` reports it; the
    /// server queues the run again).
    HostBusy,
}

impl RunErrorKind {
    /// The kind as served.
    pub fn as_str(self) -> &'static str {
        match self {
            RunErrorKind::InvalidConfig => "invalid_config",
            RunErrorKind::JobFailed => "job_failed",
            RunErrorKind::LimitExceeded => "limit_exceeded",
            RunErrorKind::PluginTrapped => "plugin_trapped",
            RunErrorKind::Interrupted => "interrupted",
            RunErrorKind::PluginUnavailable => "plugin_unavailable",
            RunErrorKind::HostBusy => "host_busy",
        }
    }
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunErrorInfo {
    /// Stable kind.
    #[serde(rename = "type")]
    pub kind: RunErrorKind,
    /// What happened.
    pub message: String,
    /// The limit, for `limit_exceeded`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub limit: Option<StopReason>,
}

impl RunErrorInfo {
    /// An error of `kind` saying `message`.
    pub fn new(kind: RunErrorKind, message: impl Into<String>) -> Self {
        RunErrorInfo {
            kind,
            message: message.into(),
            limit: None,
        }
    }

    /// The run was stopped by `limit`.
    pub fn limit(limit: StopReason) -> Self {
        RunErrorInfo {
            kind: RunErrorKind::LimitExceeded,
            message: format!("stopped by the {limit} limit"),
            limit: Some(limit),
        }
    }
}

/// One execution of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRun {
    /// Id.
    pub uuid: RunId,
    /// Owning tenant.
    pub tenant: TenantId,
    /// Parent job.
    pub job_id: JobId,
    /// Name of the parent job.
    pub job_name: String,
    /// The job type.
    pub job_type: JobTypeId,
    /// The job type version it runs.
    pub job_type_version: semver::Version,
    /// The config used: the job's, with run-time overrides merged in.
    pub config: Value,
    /// Current status.
    pub status: RunStatus,
    /// While paused: how, and since when.
    #[serde(default)]
    pub paused: Option<Paused>,
    /// A pause was asked for; the run pauses at its next checkpoint.
    #[serde(default)]
    pub pause_requested: bool,
    /// What created it.
    #[serde(default)]
    pub trigger: Trigger,
    /// The run this one reruns.
    #[serde(default)]
    pub rerun_of: Option<RunId>,
    /// The schedule's tick this run is for.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub scheduled_for: Option<Timestamp>,
    /// Queue priority: higher runs first.
    pub priority: i32,
    /// Attempt number, from 1; grows with each retry, after a failure or
    /// an interruption.
    pub attempt: u32,
    /// The attempts that ended, oldest first.
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// While the run waits to be retried: when its next attempt may start.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<Timestamp>,
    /// How it is retried: the job's policy, else its job type's, else the
    /// host's.
    #[serde(default = "host_retry")]
    pub retry: RetryPolicy,
    /// Progress from 0 to 100.
    pub progress: u8,
    /// The plugin's last progress message.
    pub progress_message: Option<String>,
    /// The result, once completed.
    pub output: Option<Value>,
    /// Artefacts besides the result.
    pub output_references: Vec<OutputReference>,
    /// Why it failed.
    pub error: Option<RunErrorInfo>,
    /// The worker holding the current attempt while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// What the last attempt used.
    pub receipt: Option<Receipt>,
    /// Creator's email.
    pub created_by: String,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
    /// When the current attempt started.
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<Timestamp>,
    /// When it reached a terminal status.
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<Timestamp>,
    /// Soft-delete flag.
    pub is_deleted: bool,
    /// Where the finished run is POSTed.
    #[serde(default)]
    pub callback_url: Option<String>,
    /// Deliveries tried.
    #[serde(default)]
    pub callback_attempts: u32,
    /// When a delivery succeeded.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub callback_sent_at: Option<Timestamp>,
    /// The receiver's status code of the last delivery.
    #[serde(default)]
    pub callback_status_code: Option<u16>,
    /// Why the last delivery failed, if it did.
    #[serde(default)]
    pub callback_error: Option<String>,
}

fn host_retry() -> RetryPolicy {
    RetryPolicy::HOST_DEFAULT
}

/// A worker's hold on a running attempt. The worker renews it while the
/// attempt is within its limits; once it expires the attempt is taken away
/// (retried or failed) and the old worker's writes are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The worker: host instance and worker number.
    pub holder: String,
    /// When the lease lapses unless renewed.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: Timestamp,
}

/// Durations of a run, in milliseconds, derived from its timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RunTiming {
    /// Created to started: time in the queue (dispatch latency).
    pub queued_ms: Option<f64>,
    /// Started to finished: the current attempt's execution.
    pub run_ms: Option<f64>,
    /// Created to finished.
    pub total_ms: Option<f64>,
}

/// Milliseconds from `from` to `to`, to the microsecond (what timestamps keep).
fn ms(from: Timestamp, to: Option<Timestamp>) -> Option<f64> {
    to.map(|t| ((t - from).whole_microseconds().max(0) as f64) / 1000.0)
}

impl JobRun {
    /// A new pending run of `job` with `config` (the job's, with any
    /// run-time overrides merged in and validated), at the job's priority
    /// and callback URL, created by `created_by` now.
    pub fn pending(job: &Job, config: Value, created_by: impl Into<String>) -> JobRun {
        let created = now();
        JobRun {
            uuid: RunId::new(),
            tenant: job.tenant.clone(),
            job_id: job.uuid,
            job_name: job.name.clone(),
            job_type: job.job_type.clone(),
            job_type_version: job.job_type_version.clone(),
            config,
            status: RunStatus::Pending,
            paused: None,
            pause_requested: false,
            trigger: Trigger::Api,
            rerun_of: None,
            scheduled_for: None,
            priority: job.priority,
            attempt: 1,
            attempts: Vec::new(),
            next_attempt_at: None,
            retry: job.retry.unwrap_or(RetryPolicy::HOST_DEFAULT),
            progress: 0,
            progress_message: None,
            output: None,
            output_references: Vec::new(),
            error: None,
            lease: None,
            receipt: None,
            created_by: created_by.into(),
            created_at: created,
            updated_at: created,
            started_at: None,
            finished_at: None,
            is_deleted: false,
            callback_url: job.callback_url.clone(),
            callback_attempts: 0,
            callback_sent_at: None,
            callback_status_code: None,
            callback_error: None,
        }
    }

    /// The run's queue, execution and total times, as far as known.
    pub fn timing(&self) -> RunTiming {
        RunTiming {
            queued_ms: ms(self.created_at, self.started_at),
            run_ms: self.started_at.and_then(|s| ms(s, self.finished_at)),
            total_ms: ms(self.created_at, self.finished_at),
        }
    }

    /// The run as the API shows it.
    pub fn view(&self) -> RunView<'_> {
        RunView {
            run: self,
            timing: self.timing(),
        }
    }
}

impl Job {
    /// The job as the API shows it, with its schedule's state.
    pub fn view<'a>(&'a self, state: Option<&ScheduleState>) -> JobView<'a> {
        JobView {
            job: self,
            schedule_state: state.map(|s| if s.paused { "paused" } else { "active" }),
            next_run_at: state.and_then(|s| s.next_run_at),
            last_scheduled_at: state.and_then(|s| s.last_scheduled_at),
            last_schedule_error: state.and_then(|s| s.last_error.clone()),
            skipped_ticks: state.map(|s| s.skipped_ticks),
        }
    }
}

/// A job as the API shows it: the record and where its schedule stands
/// (all `null` for a job without a schedule).
#[derive(Debug, Serialize)]
pub struct JobView<'a> {
    #[serde(flatten)]
    job: &'a Job,
    schedule_state: Option<&'static str>,
    #[serde(with = "time::serde::rfc3339::option")]
    next_run_at: Option<Timestamp>,
    #[serde(with = "time::serde::rfc3339::option")]
    last_scheduled_at: Option<Timestamp>,
    last_schedule_error: Option<String>,
    skipped_ticks: Option<u64>,
}

/// A run as the API shows it: the record and its timing.
#[derive(Debug, Serialize)]
pub struct RunView<'a> {
    #[serde(flatten)]
    run: &'a JobRun,
    timing: RunTiming,
}
