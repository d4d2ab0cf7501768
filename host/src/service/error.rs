//! Why an operation of the service was refused: one typed reason per case,
//! which each front end turns into its own shape (REST in `api::error`).

use crate::model::{JobId, PluginStatus, RunId, RunStatus, Timestamp, TransitionError};
use crate::registry::{CapabilityList, ConfigError};
use crate::store::StoreError;

/// Every way an operation can fail.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No such job or run in the caller's tenant.
    #[error("{resource} {id} not found")]
    NotFound {
        /// `job` or `job_run`.
        resource: &'static str,
        /// The id asked for.
        id: String,
    },
    /// A field of the request is out of bounds or malformed.
    #[error("{field}: {message}")]
    InvalidField {
        /// The field, as the request names it.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// No job type of this id is loaded.
    #[error("unknown job type `{job_type}`; known job types: {}", known.join(", "))]
    UnknownJobType {
        /// The id asked for.
        job_type: String,
        /// The ids that exist.
        known: Vec<String>,
    },
    /// No usable version of the job type matches the requirement.
    #[error(
        "no version of `{job_type}` matches `{requirement}`{}",
        yanked_note(yanked)
    )]
    UnknownVersion {
        /// The job type.
        job_type: String,
        /// The requirement, `*` when none was given.
        requirement: String,
        /// Matching versions that are yanked.
        yanked: Vec<String>,
        /// Every version and its status.
        available: Vec<(semver::Version, PluginStatus)>,
    },
    /// An agent asked for a job type not open to agents.
    #[error(
        "job type `{job_type}` is not creatable_by_agent: agent tokens may create only \
         job types whose creatable_by_agent is true \
         (GET /api/v1/jobs/schemas?creatable_by_agent=true lists them)"
    )]
    NotCreatableByAgent {
        /// The job type.
        job_type: String,
    },
    /// The version declares capabilities no operator has approved.
    #[error(
        "job type `{job_type}` {version} declares capabilities no operator has approved \
         yet ({}); an operator approves them with PATCH /api/v1/plugins/{job_type}/{version} \
         and {{\"grants\": {{\"http\": [...], \"secrets\": [...]}}}}",
        awaiting_list(awaiting)
    )]
    ApprovalPending {
        /// The job type.
        job_type: String,
        /// The version.
        version: semver::Version,
        /// What awaits approval.
        awaiting: CapabilityList,
    },
    /// The job is pinned to a version that is not loaded.
    #[error(
        "job {job} is pinned to job type {job_type} version {version}, which is not loaded; \
         upgrade the job with PATCH /jobs/{job} and a job_type_version"
    )]
    JobTypeUnavailable {
        /// The job.
        job: JobId,
        /// Its job type.
        job_type: String,
        /// The pinned version.
        version: semver::Version,
    },
    /// The job is deleted.
    #[error("job {job} is deleted{}", if *to_run { "; it cannot run" } else { "" })]
    JobDeleted {
        /// The job.
        job: JobId,
        /// The request was to run it.
        to_run: bool,
    },
    /// The job changed since the version the caller based its update on.
    #[error(
        "job {job} changed since {}; it was last updated at {}",
        rfc3339(expected),
        rfc3339(current)
    )]
    StaleUpdate {
        /// The job.
        job: JobId,
        /// The caller's `expected_updated_at`.
        expected: Timestamp,
        /// The job's last change.
        current: Timestamp,
    },
    /// Deleting a job with active runs needs `cancel_runs`.
    #[error(
        "job {job} has {count} pending or running run(s); pass cancel_runs=true to cancel them"
    )]
    JobHasActiveRuns {
        /// The job.
        job: JobId,
        /// How many runs are active.
        count: usize,
        /// The first 20 of them.
        runs: Vec<RunId>,
    },
    /// The run queue is full.
    #[error("the run queue is full ({queued} runs waiting); retry later")]
    QueueFull {
        /// Runs waiting.
        queued: usize,
        /// The cap.
        max: usize,
    },
    /// The caller's rate limit is spent.
    #[error("{what}: at most {per_minute} per minute per token; retry in {retry_after} s")]
    RateLimited {
        /// The limited action.
        what: &'static str,
        /// The limit.
        per_minute: u32,
        /// Seconds until one more is allowed.
        retry_after: u64,
    },
    /// The config does not satisfy the job type's schema.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The run's status does not allow the change.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The run has not finished, so it cannot be rerun.
    #[error("run {run} is {status}; only a finished run can be rerun")]
    RunNotFinished {
        /// The run.
        run: RunId,
        /// Its status.
        status: RunStatus,
    },
    /// A request with this idempotency key is still being served.
    #[error(
        "a request with idempotency key `{key}` is still being served; retry once it has answered"
    )]
    IdempotencyKeyInUse {
        /// The key.
        key: String,
    },
    /// The idempotency key was used for a different request.
    #[error(
        "idempotency key `{key}` was used for a different request; use a new key for a new request"
    )]
    IdempotencyKeyReused {
        /// The key.
        key: String,
    },
    /// Items of a batch were refused, so nothing was queued.
    #[error("{} of the batch's runs were refused (items {}); nothing was queued", failures.len(), item_list(failures))]
    BatchRefused {
        /// Each refused item's index and why.
        failures: Vec<(usize, ServiceError)>,
    },
    /// The job has no schedule.
    #[error("job {job} has no schedule; set one with PATCH /jobs/{job} and a `schedule`")]
    NoSchedule {
        /// The job.
        job: JobId,
    },
    /// The run cannot be paused or resumed here.
    #[error("run {run} cannot be paused or resumed: {why}")]
    RunNotPausable {
        /// The run.
        run: RunId,
        /// Why.
        why: String,
    },
    /// As many runs as allowed are suspended in memory.
    #[error(
        "{max} runs are suspended in memory already, the most --max-paused-in-memory allows; \
         resume or cancel one first"
    )]
    TooManyPausedInMemory {
        /// The cap.
        max: usize,
    },
    /// The run is not paused.
    #[error("run {run} is {status}, not paused")]
    RunNotPaused {
        /// The run.
        run: RunId,
        /// Its status.
        status: RunStatus,
    },
    /// A run kept changing under a cancel or a pause.
    #[error("run {0} kept changing while being cancelled or paused")]
    CancelRace(RunId),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError {
    /// A field out of bounds.
    pub(crate) fn field(field: &'static str, message: impl Into<String>) -> Self {
        ServiceError::InvalidField {
            field,
            message: message.into(),
        }
    }
}

fn yanked_note(yanked: &[String]) -> String {
    if yanked.is_empty() {
        String::new()
    } else {
        format!(" that is not yanked (yanked: {})", yanked.join(", "))
    }
}

fn item_list(failures: &[(usize, ServiceError)]) -> String {
    let mut list: Vec<String> = failures
        .iter()
        .take(10)
        .map(|(i, _)| i.to_string())
        .collect();
    if failures.len() > 10 {
        list.push("...".into());
    }
    list.join(", ")
}

fn awaiting_list(awaiting: &CapabilityList) -> String {
    let http = awaiting.http.iter().map(|h| match h.as_str() {
        "operator_chosen" => "HTTP destinations chosen by the operator".to_string(),
        url => format!("HTTP destination {url}"),
    });
    let secrets = awaiting.secrets.iter().map(|s| format!("secret `{s}`"));
    http.chain(secrets).collect::<Vec<_>>().join(", ")
}

/// A timestamp as RFC 3339.
pub fn rfc3339(t: &Timestamp) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
