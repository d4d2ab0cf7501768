//! The operations every front end offers, in one place: create, patch and
//! delete jobs; trigger, cancel and read runs; resolve a job type for a
//! caller's tenant and role; merge and validate configs. REST (`api`) calls
//! them today, and every later front end (MCP, the web UI, the CLI) calls
//! the same ones, so validation, authorisation and run logic exist once.

mod batch;
mod config;
mod error;
mod idempotency;
mod jobs;
mod pause;
mod rate_limit;
mod rerun;
mod resolve;
mod runs;
mod schedules;

pub use batch::{BatchItem, ItemOutcome, MAX_BATCH};
pub use config::merge_patch;
pub use error::{ServiceError, rfc3339};
pub use idempotency::{DEFAULT_IDEMPOTENCY_TTL, IdempotencyKey, Once};
pub use jobs::{JobPatch, NewJob};
pub use rate_limit::RateLimit;
pub use rerun::Rerun;
pub use resolve::JobTypeQuery;
pub use runs::NewRun;

use crate::registry::Catalog;
use crate::store::Store;
use crate::webhooks::Policy;
use crate::worker::Workers;
use std::ops::RangeInclusive;
use std::sync::Arc;

/// Priorities accepted on jobs and runs.
pub const PRIORITY_RANGE: RangeInclusive<i32> = -1000..=1000;
/// Longest job name, in bytes.
pub const MAX_NAME: usize = 200;
/// Longest job description, in bytes.
pub const MAX_DESCRIPTION: usize = 4096;

/// What the operations need: storage, the job types, the workers and the
/// limits in force. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    catalog: Arc<Catalog>,
    workers: Arc<Workers>,
    webhooks: Arc<Policy>,
    max_queued_runs: usize,
    max_paused_in_memory: usize,
    job_creates: RateLimit,
    /// How long idempotency keys are remembered.
    idempotency_ttl: std::time::Duration,
    /// Idempotency keys of requests being served now.
    in_flight: std::sync::Mutex<std::collections::HashSet<Vec<u8>>>,
    /// When to look at which job's schedule.
    scheduler: crate::scheduler::Scheduler,
}

/// How a [`Service`] is limited.
#[derive(Debug, Clone)]
pub struct ServiceLimits {
    /// Runs that may wait in the queue; past it, triggers are refused.
    pub max_queued_runs: usize,
    /// Job creations per token per minute (0: unlimited).
    pub job_creates_per_minute: u32,
    /// How long idempotency keys are remembered.
    pub idempotency_ttl: std::time::Duration,
    /// Runs that may be suspended in memory at once.
    pub max_paused_in_memory: usize,
}

impl Service {
    /// The operations over `store` and `catalog`, running runs on `workers`,
    /// with callback URLs allowed by `webhooks`.
    pub fn new(
        store: Store,
        catalog: Arc<Catalog>,
        workers: Arc<Workers>,
        webhooks: Arc<Policy>,
        limits: ServiceLimits,
    ) -> Self {
        Service {
            inner: Arc::new(Inner {
                store,
                catalog,
                workers,
                webhooks,
                max_queued_runs: limits.max_queued_runs,
                max_paused_in_memory: limits.max_paused_in_memory,
                job_creates: RateLimit::new(limits.job_creates_per_minute),
                idempotency_ttl: limits.idempotency_ttl,
                in_flight: Default::default(),
                scheduler: Default::default(),
            }),
        }
    }

    /// The store the operations write to.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The live registry of job types.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.inner.catalog
    }

    /// The worker pool.
    pub fn workers(&self) -> &Arc<Workers> {
        &self.inner.workers
    }

    /// Starts the scheduler thread on this service.
    pub fn start_scheduler(&self, rt: tokio::runtime::Handle) -> crate::scheduler::Running {
        self.inner.scheduler.start(self.clone(), rt)
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Checks a priority is within [`PRIORITY_RANGE`].
pub(crate) fn check_priority(p: i32) -> Result<i32, ServiceError> {
    if PRIORITY_RANGE.contains(&p) {
        Ok(p)
    } else {
        Err(ServiceError::field(
            "priority",
            format!(
                "must be between {} and {}",
                PRIORITY_RANGE.start(),
                PRIORITY_RANGE.end()
            ),
        ))
    }
}

/// Checks a text field is at most `max` bytes.
fn check_text(field: &'static str, text: &str, max: usize) -> Result<(), ServiceError> {
    if text.len() > max {
        return Err(ServiceError::field(
            field,
            format!("is {} bytes; at most {max} are allowed", text.len()),
        ));
    }
    Ok(())
}
