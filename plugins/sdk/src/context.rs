//! The run context a job receives: facts about the run, and the host calls
//! (logs, progress, cancellation, checkpoints, output references, secrets).
//! Inside the host they go to the host; in a native `cargo test` they go to
//! a [`TestRun`](crate::testing::TestRun), which records them.

use crate::JobError;
use crate::bindings::jobhost::plugin::host;
use crate::bindings::jobhost::plugin::secrets;
use crate::bindings::jobhost::plugin::types as wit;
use crate::testing::Recorded;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Display;
use std::rc::Rc;

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Very detailed tracing.
    Trace,
    /// Details useful when debugging.
    Debug,
    /// Normal progress.
    Info,
    /// Something unexpected that the job survived.
    Warn,
    /// Something failed.
    Error,
}

impl From<LogLevel> for host::LogLevel {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Trace => host::LogLevel::Trace,
            LogLevel::Debug => host::LogLevel::Debug,
            LogLevel::Info => host::LogLevel::Info,
            LogLevel::Warn => host::LogLevel::Warn,
            LogLevel::Error => host::LogLevel::Error,
        }
    }
}

/// What a running job knows and can tell the host.
#[derive(Debug)]
pub struct Context {
    run_id: String,
    attempt: u32,
    checkpoint: Option<Vec<u8>>,
    references: Vec<wit::OutputReference>,
    /// Where the calls go: the host, or a test run's record.
    test: Option<Rc<Recorded>>,
}

impl Context {
    pub(crate) fn new(context: wit::RunContext) -> Self {
        Context {
            run_id: context.run_id,
            attempt: context.attempt,
            checkpoint: context.checkpoint,
            references: Vec::new(),
            test: None,
        }
    }

    pub(crate) fn for_test(
        run_id: String,
        attempt: u32,
        checkpoint: Option<Vec<u8>>,
        record: Rc<Recorded>,
    ) -> Self {
        Context {
            run_id,
            attempt,
            checkpoint,
            references: Vec::new(),
            test: Some(record),
        }
    }

    pub(crate) fn into_references(self) -> Vec<wit::OutputReference> {
        self.references
    }

    /// Identifier of this run.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Attempt number, 1 for the first.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The checkpoint a previous attempt saved, if this attempt resumes one.
    pub fn checkpoint(&self) -> Option<&[u8]> {
        self.checkpoint.as_deref()
    }

    /// The previous attempt's checkpoint decoded from JSON; `None` when there is
    /// none or it does not decode (the job then starts from scratch).
    pub fn resume_from<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_slice(self.checkpoint()?).ok()
    }

    /// Records a log line. The message may be anything printable: a
    /// `&str`, a `String`, or `format_args!(..)` (see [`crate::info!`] and
    /// its siblings for the short form).
    pub fn log(&self, level: LogLevel, message: impl Display) {
        let message = message.to_string();
        match &self.test {
            Some(record) => record.log(level, message),
            None => host::log(level.into(), &message),
        }
    }

    /// Records a debug line.
    pub fn debug(&self, message: impl Display) {
        self.log(LogLevel::Debug, message);
    }

    /// Records an info line.
    pub fn info(&self, message: impl Display) {
        self.log(LogLevel::Info, message);
    }

    /// Records a warning.
    pub fn warn(&self, message: impl Display) {
        self.log(LogLevel::Warn, message);
    }

    /// Records an error line.
    pub fn error(&self, message: impl Display) {
        self.log(LogLevel::Error, message);
    }

    /// Reports progress; `percent` above 100 is reported as 100.
    pub fn progress(&self, percent: u8, message: impl Display) {
        let (percent, message) = (percent.min(100), message.to_string());
        match &self.test {
            Some(record) => record.progress(percent, message),
            None => host::progress(percent, &message),
        }
    }

    /// True once cancellation was requested; return [`crate::JobError::Cancelled`] soon after.
    pub fn cancelled(&self) -> bool {
        match &self.test {
            Some(record) => record.cancelled(),
            None => host::cancelled(),
        }
    }

    /// Saves raw checkpoint bytes, replacing the previous checkpoint.
    pub fn save_checkpoint(&self, state: &[u8]) {
        match &self.test {
            Some(record) => record.checkpoint(state),
            None => host::checkpoint(state),
        }
    }

    /// Saves a checkpoint as JSON; read it back with [`Context::resume_from`].
    pub fn save_checkpoint_json<T: Serialize>(&self, state: &T) {
        let bytes = serde_json::to_vec(state).expect("checkpoint state serialises to JSON");
        self.save_checkpoint(&bytes);
    }

    /// Attaches an artefact whose bytes travel with the result.
    pub fn add_inline_reference(&mut self, name: &str, media_type: &str, data: Vec<u8>) {
        self.references.push(wit::OutputReference {
            name: name.to_string(),
            media_type: media_type.to_string(),
            data: wit::OutputData::Inline(data),
        });
    }

    /// Attaches an artefact stored elsewhere, by location (URL or path).
    pub fn add_location_reference(&mut self, name: &str, media_type: &str, location: &str) {
        self.references.push(wit::OutputReference {
            name: name.to_string(),
            media_type: media_type.to_string(),
            data: wit::OutputData::Location(location.to_string()),
        });
    }

    /// The value of a secret the job type declared with
    /// [`crate::JobType::secret`], set by the run's tenant. The host scrubs
    /// the value from logs, progress, output and errors; still, never put it
    /// anywhere else than where it is meant to go.
    ///
    /// The error says why it is missing (not declared, not approved by an
    /// operator, or not set by the tenant) and fails the run if returned.
    pub fn secret(&self, name: &str) -> Result<String, JobError> {
        if let Some(record) = &self.test {
            return record.secret(name);
        }
        secrets::get(name).map_err(|e| {
            JobError::failed(match e {
                secrets::SecretError::NotDeclared => format!(
                    "secret `{name}` is not declared by this job type (declare it with \
                     JobType::secret)"
                ),
                secrets::SecretError::NotGranted => format!(
                    "secret `{name}` is not approved for this job type version; an operator \
                     approves it with PATCH /api/v1/plugins/{{job_type}}/{{version}}"
                ),
                secrets::SecretError::NotSet => format!(
                    "secret `{name}` is not set for this tenant; a tenant admin sets it with \
                     PUT /api/v1/secrets/{name}"
                ),
            })
        })
    }
}

/// Logs at info level with `format!` arguments: `info!(ctx, "{} rows", n)`.
#[macro_export]
macro_rules! info {
    ($ctx:expr, $($arg:tt)+) => {
        $ctx.log($crate::LogLevel::Info, ::std::format_args!($($arg)+))
    };
}

/// Logs at debug level with `format!` arguments: `debug!(ctx, "{x:?}")`.
#[macro_export]
macro_rules! debug {
    ($ctx:expr, $($arg:tt)+) => {
        $ctx.log($crate::LogLevel::Debug, ::std::format_args!($($arg)+))
    };
}

/// Logs a warning with `format!` arguments: `warn!(ctx, "skipped {n} rows")`.
#[macro_export]
macro_rules! warn {
    ($ctx:expr, $($arg:tt)+) => {
        $ctx.log($crate::LogLevel::Warn, ::std::format_args!($($arg)+))
    };
}

/// Logs an error line with `format!` arguments: `error!(ctx, "{e}")`.
#[macro_export]
macro_rules! error {
    ($ctx:expr, $($arg:tt)+) => {
        $ctx.log($crate::LogLevel::Error, ::std::format_args!($($arg)+))
    };
}
