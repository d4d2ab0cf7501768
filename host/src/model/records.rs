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
}
