//! The value types at the bottom of jobhost, which every other module uses
//! and which depend on nothing above them: jobs (saved configs) and job runs
//! (executions) with their typed ids, the run status state machine, what a
//! run produced and used (output, receipt, log levels), the records of
//! published job type versions and registry events, and what job types
//! declare (capabilities, policies) and operators grant.

mod attempts;
mod capabilities;
mod grants;
mod ids;
mod logs;
mod output;
mod pause;
mod plugins;
mod policies;
mod receipt;
mod records;
mod schedule;
mod status;
mod trigger;

pub use attempts::Attempt;
pub use capabilities::{
    Capabilities, Destination, HttpNeeds, MAX_DESTINATIONS, Origin, Scheme, SecretNeed,
    check_secret_name,
};
pub use grants::{Access, Grant, GrantSource};
pub use ids::{JobId, RunId, TenantId};
pub use logs::{LogLevel, LogSource};
pub use output::{OutputData, OutputReference, RunOutput};
pub use pause::{PauseMode, Paused};
pub use plugins::{PluginOrigin, PluginRecord, PluginStatus, RegistryEvent, RegistryEventKind};
pub use policies::{InterruptedPolicy, RetryOn, RetryPolicy, Retryable, SideEffects};
pub use receipt::{Receipt, StopReason};
pub use records::{
    Job, JobRun, JobView, Lease, RunErrorInfo, RunErrorKind, RunTiming, RunView, Timestamp, now,
};
pub use schedule::{CatchUp, Cron, Overlap, Plan, Schedule, ScheduleError, ScheduleState};
pub use status::{RunStatus, TransitionError};
pub use trigger::Trigger;
