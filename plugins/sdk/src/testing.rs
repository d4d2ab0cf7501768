//! Runs a job natively, in a plain `cargo test`, with a [`Context`] that
//! records what the job reports instead of calling the host: logs,
//! progress, checkpoints, output references, and what it read of its
//! secrets. The config goes through the same parsing as in the host.
//!
//! ```
//! use jobhost_plugin::testing::TestRun;
//! use jobhost_plugin::{Context, Job, JobError, JobType, LogLevel, info};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize, schemars::JsonSchema)]
//! struct Config {
//!     items: u32,
//! }
//!
//! struct Count;
//!
//! impl Job for Count {
//!     type Config = Config;
//!     type Output = u32;
//!     fn describe() -> JobType {
//!         JobType::new("count", "1.0.0", "Count")
//!     }
//!     fn run(config: Config, ctx: &mut Context) -> Result<u32, JobError> {
//!         let start: u32 = ctx.resume_from().unwrap_or(0);
//!         for i in start..config.items {
//!             if ctx.cancelled() {
//!                 return Err(JobError::Cancelled);
//!             }
//!             ctx.save_checkpoint_json(&(i + 1));
//!             ctx.progress(((i + 1) * 100 / config.items) as u8, "counting");
//!         }
//!         info!(ctx, "counted {} items", config.items);
//!         Ok(config.items)
//!     }
//! }
//!
//! let run = TestRun::new();
//! assert_eq!(run.run::<Count>(serde_json::json!({"items": 4})), Ok(4));
//! assert_eq!(run.logs(), vec![(LogLevel::Info, "counted 4 items".to_string())]);
//! assert_eq!(run.progress().last(), Some(&(100, "counting".to_string())));
//! assert_eq!(run.checkpoints().len(), 4);
//!
//! // Cancelled at the third check, resumed from a checkpoint:
//! let cancelled = TestRun::new().cancel_after(2);
//! assert_eq!(cancelled.run::<Count>(serde_json::json!({"items": 4})), Err(JobError::Cancelled));
//! let resumed = TestRun::new().attempt(2).checkpoint_json(&3);
//! assert_eq!(resumed.run::<Count>(serde_json::json!({"items": 4})), Ok(4));
//! assert_eq!(resumed.checkpoints().len(), 1);
//! ```
//!
//! HTTP requests need the host: test the logic around them with plain
//! inputs, and the requests themselves against a running server.

use crate::bindings::jobhost::plugin::types as wit;
use crate::{Context, Job, JobError, LogLevel};
use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

/// One run of a job outside the host. Build it with the setters, run a job
/// with [`TestRun::run`] (or hand [`TestRun::context`] to your own code),
/// then read what it recorded.
#[derive(Debug, Default)]
pub struct TestRun {
    attempt: Option<u32>,
    checkpoint: Option<Vec<u8>>,
    record: Rc<Recorded>,
}

/// An artefact a job attached to its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Its name.
    pub name: String,
    /// Its media type.
    pub media_type: String,
    /// Its bytes, for an inline reference.
    pub inline: Option<Vec<u8>>,
    /// Where it is, for a location reference.
    pub location: Option<String>,
}

/// What a test run's context recorded.
#[derive(Debug, Default)]
pub(crate) struct Recorded {
    logs: RefCell<Vec<(LogLevel, String)>>,
    progress: RefCell<Vec<(u8, String)>>,
    checkpoints: RefCell<Vec<Vec<u8>>>,
    references: RefCell<Vec<Reference>>,
    secrets: RefCell<BTreeMap<String, String>>,
    secrets_read: RefCell<Vec<String>>,
    /// `cancelled()` answers true from this check on (counted from 0).
    cancel_at: Cell<Option<u32>>,
    checks: Cell<u32>,
}

impl Recorded {
    pub(crate) fn log(&self, level: LogLevel, message: String) {
        self.logs.borrow_mut().push((level, message));
    }

    pub(crate) fn progress(&self, percent: u8, message: String) {
        self.progress.borrow_mut().push((percent, message));
    }

    pub(crate) fn checkpoint(&self, state: &[u8]) {
        self.checkpoints.borrow_mut().push(state.to_vec());
    }

    pub(crate) fn cancelled(&self) -> bool {
        let check = self.checks.get();
        self.checks.set(check + 1);
        self.cancel_at.get().is_some_and(|at| check >= at)
    }

    pub(crate) fn secret(&self, name: &str) -> Result<String, JobError> {
        self.secrets_read.borrow_mut().push(name.to_string());
        self.secrets.borrow().get(name).cloned().ok_or_else(|| {
            JobError::failed(format!(
                "secret `{name}` is not set for this test run (TestRun::secret sets it)"
            ))
        })
    }
}

impl TestRun {
    /// A first attempt with no checkpoint, no secrets, never cancelled.
    pub fn new() -> Self {
        TestRun::default()
    }

    /// The attempt number the job sees (1 by default).
    pub fn attempt(mut self, attempt: u32) -> Self {
        self.attempt = Some(attempt);
        self
    }

    /// The checkpoint a previous attempt left, as bytes.
    pub fn checkpoint(mut self, state: impl Into<Vec<u8>>) -> Self {
        self.checkpoint = Some(state.into());
        self
    }

    /// The checkpoint a previous attempt left, as JSON.
    pub fn checkpoint_json<T: Serialize>(self, state: &T) -> Self {
        let bytes = serde_json::to_vec(state).expect("checkpoint state serialises to JSON");
        self.checkpoint(bytes)
    }

    /// A secret the run's tenant set.
    pub fn secret(self, name: &str, value: &str) -> Self {
        self.record
            .secrets
            .borrow_mut()
            .insert(name.to_string(), value.to_string());
        self
    }

    /// Cancellation requested after `checks` calls of
    /// [`Context::cancelled`]: the next call, and every later one, says
    /// true. `cancel_after(0)` is a run cancelled before it looks.
    pub fn cancel_after(self, checks: u32) -> Self {
        self.record.cancel_at.set(Some(checks));
        self
    }

    /// A context recording into this run.
    pub fn context(&self) -> Context {
        Context::for_test(
            "00000000-0000-0000-0000-000000000000".to_string(),
            self.attempt.unwrap_or(1),
            self.checkpoint.clone(),
            self.record.clone(),
        )
    }

    /// Runs `J` with `config` as the host would: the config is parsed the
    /// same way (its `job_type` key dropped), and the references the job
    /// attached are kept for [`TestRun::references`]. The host would also
    /// validate the config against the job type's schema first; this does
    /// not.
    pub fn run<J: Job>(&self, config: serde_json::Value) -> Result<J::Output, JobError> {
        let config: J::Config = crate::parse_config(&config.to_string())?;
        let mut ctx = self.context();
        let output = J::run(config, &mut ctx);
        let references = ctx.into_references().into_iter().map(|r| {
            let (inline, location) = match r.data {
                wit::OutputData::Inline(bytes) => (Some(bytes), None),
                wit::OutputData::Location(l) => (None, Some(l)),
            };
            Reference {
                name: r.name,
                media_type: r.media_type,
                inline,
                location,
            }
        });
        self.record.references.borrow_mut().extend(references);
        output
    }

    /// The log lines, in order.
    pub fn logs(&self) -> Vec<(LogLevel, String)> {
        self.record.logs.borrow().clone()
    }

    /// The progress reports, in order.
    pub fn progress(&self) -> Vec<(u8, String)> {
        self.record.progress.borrow().clone()
    }

    /// Every checkpoint saved, in order (the host keeps only the newest).
    pub fn checkpoints(&self) -> Vec<Vec<u8>> {
        self.record.checkpoints.borrow().clone()
    }

    /// The artefacts attached by jobs run with [`TestRun::run`].
    pub fn references(&self) -> Vec<Reference> {
        self.record.references.borrow().clone()
    }

    /// The names of the secrets the job asked for, in order.
    pub fn secrets_read(&self) -> Vec<String> {
        self.record.secrets_read.borrow().clone()
    }

    /// How many times the job asked whether it was cancelled.
    pub fn cancellation_checks(&self) -> u32 {
        self.record.checks.get()
    }
}
