//! The job and job-run records, stored as JSON and served as they are.

use super::{JobId, RunId, RunStatus, TenantId};
use crate::job_type::JobTypeId;
use crate::runtime::{OutputReference, Receipt, StopReason};
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
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunErrorInfo {
    /// Stable kind: `invalid_config`, `job_failed`, `limit_exceeded`,
    /// `plugin_trapped`, `interrupted`, `plugin_unavailable`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What happened.
    pub message: String,
    /// The limit, for `limit_exceeded`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub limit: Option<StopReason>,
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
    /// Queue priority: higher runs first.
    pub priority: i32,
    /// Attempt number, from 1; grows when a crashed run is retried.
    pub attempt: u32,
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

/// A run as the API shows it: the record and its timing.
#[derive(Debug, Serialize)]
pub struct RunView<'a> {
    #[serde(flatten)]
    run: &'a JobRun,
    timing: RunTiming,
}
