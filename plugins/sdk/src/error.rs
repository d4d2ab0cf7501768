//! [`JobError`]: why a job did not succeed. Any error type converts into it
//! with `?` (as a failure carrying the error's message and its causes), so
//! a job's `run` reads like ordinary Rust.

/// Why a job did not succeed.
///
/// `?` converts any [`std::error::Error`] (I/O, JSON, parsing, HTTP...)
/// into [`JobError::Failed`] with the error's message and its causes. Use
/// [`JobError::invalid_config`] for a config the job cannot work with, and
/// return [`JobError::Cancelled`] once [`crate::Context::cancelled`] says so.
///
/// Like `anyhow::Error`, it does not implement `std::error::Error` itself:
/// that is what lets every error convert into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// The config makes no sense for this job; retrying will not help.
    InvalidConfig(String),
    /// The job failed while doing its work.
    Failed(String),
    /// The job noticed a cancellation request and stopped.
    Cancelled,
}

impl JobError {
    /// A failure with a message.
    pub fn failed(message: impl std::fmt::Display) -> Self {
        JobError::Failed(message.to_string())
    }

    /// A config problem with a message.
    pub fn invalid_config(message: impl std::fmt::Display) -> Self {
        JobError::InvalidConfig(message.to_string())
    }
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobError::InvalidConfig(m) => write!(f, "invalid config: {m}"),
            JobError::Failed(m) => write!(f, "failed: {m}"),
            JobError::Cancelled => f.write_str("cancelled"),
        }
    }
}

impl<E> From<E> for JobError
where
    E: std::error::Error + Send + Sync + 'static,
{
    /// A failure saying what `error` says, then each of its causes.
    fn from(error: E) -> Self {
        let mut message = error.to_string();
        let mut cause = error.source();
        while let Some(c) = cause {
            let text = c.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            cause = c.source();
        }
        JobError::Failed(message)
    }
}

/// Returns early from `run` with [`JobError::Failed`] and a formatted message.
///
/// ```
/// use jobhost_plugin::{JobError, fail};
///
/// fn check(rows: usize) -> Result<(), JobError> {
///     if rows == 0 {
///         fail!("the input has no rows");
///     }
///     Ok(())
/// }
/// assert_eq!(check(0), Err(JobError::Failed("the input has no rows".into())));
/// ```
#[macro_export]
macro_rules! fail {
    ($($arg:tt)+) => {
        return ::std::result::Result::Err($crate::JobError::Failed(::std::format!($($arg)+)))
    };
}

#[cfg(test)]
mod tests {
    use super::JobError;

    fn parse(text: &str) -> Result<u32, JobError> {
        Ok(text.parse::<u32>()?)
    }

    fn read_json(text: &str) -> Result<serde_json::Value, JobError> {
        Ok(serde_json::from_str(text)?)
    }

    #[test]
    fn question_mark_turns_any_error_into_a_failure() {
        assert_eq!(parse("7"), Ok(7));
        assert_eq!(
            parse("seven"),
            Err(JobError::Failed("invalid digit found in string".into()))
        );
        assert!(matches!(read_json("{"), Err(JobError::Failed(m)) if m.contains("EOF")));
        let io = std::io::Error::other("disk on fire");
        assert_eq!(JobError::from(io), JobError::Failed("disk on fire".into()));
    }
}
