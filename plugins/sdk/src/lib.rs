//! Write a jobhost job type in Rust: implement [`Job`] for a type, then call
//! [`export_job!`] once. The WIT bindings stay behind this crate; a plugin
//! author works with a typed, serde-deserialised config and a [`Context`].
//! `?` works on any error inside `run`, logging takes `format!` arguments
//! ([`info!`] and its siblings), and [`testing::TestRun`] runs a job in a
//! plain `cargo test`, recording what it reports.
//!
//! ```
//! use jobhost_plugin::{Context, Job, JobError, JobType, info, schemars::JsonSchema};
//! use serde::Deserialize;
//!
//! /// Greets someone.
//! #[derive(Deserialize, JsonSchema)]
//! struct Config {
//!     /// Who to greet.
//!     name: String,
//!     /// How many times, as text (to show `?` on a parse error).
//!     times: String,
//! }
//!
//! struct Hello;
//!
//! impl Job for Hello {
//!     type Config = Config;
//!     type Output = String;
//!     fn describe() -> JobType {
//!         JobType::new("hello", "1.0.0", "Hello").description("Greets someone.")
//!     }
//!     fn run(config: Config, ctx: &mut Context) -> Result<String, JobError> {
//!         let times: usize = config.times.parse()?;
//!         info!(ctx, "greeting {} {times} times", config.name);
//!         Ok(vec![format!("Hello, {}!", config.name); times].join(" "))
//!     }
//! }
//!
//! jobhost_plugin::export_job!(Hello);
//!
//! // Natively, in a unit test:
//! let run = jobhost_plugin::testing::TestRun::new();
//! let out = run.run::<Hello>(serde_json::json!({"name": "Ada", "times": "2"}));
//! assert_eq!(out, Ok("Hello, Ada! Hello, Ada!".to_string()));
//! assert_eq!(run.logs()[0].1, "greeting Ada 2 times");
//! let bad = run.run::<Hello>(serde_json::json!({"name": "Ada", "times": "two"}));
//! assert_eq!(bad, Err(JobError::Failed("invalid digit found in string".into())));
//! ```
#![deny(missing_docs)]

mod context;
mod describe;
mod error;
pub mod http;
pub mod testing;

pub use context::{Context, LogLevel};
pub use describe::{Interrupted, JobType, RetryPolicy, SideEffects};
pub use error::JobError;
pub use schemars;
pub use serde_json;

#[doc(hidden)]
#[allow(clippy::too_many_arguments, missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "job-plugin",
        default_bindings_module: "jobhost_plugin::bindings",
        pub_export_macro: true,
        export_macro_name: "__export_job_plugin",
    });
}

use bindings::jobhost::plugin::types as wit;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Key the host adds to every config; it names the job type and is not part
/// of a plugin's own config type.
pub const JOB_TYPE_KEY: &str = "job_type";

/// A job type. Implement it for a unit struct and pass that to [`export_job!`].
pub trait Job {
    /// The job's config, deserialised from the JSON the host validated.
    type Config: DeserializeOwned + schemars::JsonSchema;
    /// The job's result, serialised to JSON.
    type Output: Serialize;

    /// Metadata of the job type: id, version, names and flags.
    fn describe() -> JobType;

    /// JSON Schema of the config. By default derived from [`Job::Config`];
    /// override it to serve a hand-written schema (e.g. `include_str!` of a file).
    fn config_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(Self::Config))
            .expect("a derived JSON Schema always serialises")
    }

    /// Runs one job.
    fn run(config: Self::Config, ctx: &mut Context) -> Result<Self::Output, JobError>;
}

/// Parses a config the way the host hands it over: the `job_type` key is
/// removed, the rest deserialised into `C`. Public so plugins can unit-test
/// their config handling natively.
pub fn parse_config<C: DeserializeOwned>(config: &str) -> Result<C, JobError> {
    let mut value: serde_json::Value = serde_json::from_str(config)
        .map_err(|e| JobError::invalid_config(format!("config is not JSON: {e}")))?;
    if let Some(object) = value.as_object_mut() {
        object.remove(JOB_TYPE_KEY);
    }
    serde_json::from_value(value).map_err(JobError::invalid_config)
}

#[doc(hidden)]
pub fn __describe<J: Job>() -> wit::JobTypeInfo {
    J::describe().into_wit(J::config_schema().to_string())
}

#[doc(hidden)]
pub fn __run<J: Job>(
    config: String,
    context: wit::RunContext,
) -> Result<wit::RunOutput, wit::RunError> {
    let config: J::Config = parse_config(&config).map_err(to_wit_error)?;
    let mut ctx = Context::new(context);
    let output = J::run(config, &mut ctx).map_err(to_wit_error)?;
    let value = serde_json::to_string(&output)
        .map_err(|e| wit::RunError::Failed(format!("output does not serialise to JSON: {e}")))?;
    Ok(wit::RunOutput {
        value,
        references: ctx.into_references(),
    })
}

fn to_wit_error(error: JobError) -> wit::RunError {
    match error {
        JobError::InvalidConfig(m) => wit::RunError::InvalidConfig(m),
        JobError::Failed(m) => wit::RunError::Failed(m),
        JobError::Cancelled => wit::RunError::Cancelled,
    }
}

/// Exports a [`Job`] implementation as this component's job type. Call it
/// once per plugin crate.
#[macro_export]
macro_rules! export_job {
    ($job:ty) => {
        struct __JobhostPlugin;

        impl $crate::bindings::Guest for __JobhostPlugin {
            fn describe() -> $crate::bindings::jobhost::plugin::types::JobTypeInfo {
                $crate::__describe::<$job>()
            }

            fn run(
                config: ::std::string::String,
                context: $crate::bindings::jobhost::plugin::types::RunContext,
            ) -> ::std::result::Result<
                $crate::bindings::jobhost::plugin::types::RunOutput,
                $crate::bindings::jobhost::plugin::types::RunError,
            > {
                $crate::__run::<$job>(config, context)
            }
        }

        $crate::bindings::__export_job_plugin!(__JobhostPlugin);
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Strict {
        n: u32,
    }

    #[test]
    fn parse_config_drops_job_type() {
        let c: Strict = parse_config(r#"{"job_type":"x","n":3}"#).unwrap();
        assert_eq!(c, Strict { n: 3 });
    }

    #[test]
    fn parse_config_reports_bad_fields() {
        let err = parse_config::<Strict>(r#"{"n":"three"}"#).unwrap_err();
        assert!(
            matches!(err, JobError::InvalidConfig(ref m) if m.contains("invalid type")),
            "{err}"
        );
        let err = parse_config::<Strict>("not json").unwrap_err();
        assert!(err.to_string().contains("not JSON"), "{err}");
    }
}
