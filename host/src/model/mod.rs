//! The records jobhost stores: jobs (saved configs) and job runs
//! (executions), their typed ids, the run status state machine, and the
//! records of published job type versions and registry events, and the
//! capabilities job types declare and operators grant.

mod capabilities;
mod grants;
mod ids;
mod plugins;
mod records;
mod status;

pub use capabilities::{
    Capabilities, Destination, HttpNeeds, MAX_DESTINATIONS, Origin, RetryPolicy, Scheme,
    SecretNeed, SideEffects, check_secret_name,
};
pub use grants::{Access, Grant, GrantSource};
pub use ids::{JobId, RunId, TenantId};
pub use plugins::{PluginOrigin, PluginRecord, PluginStatus, RegistryEvent, RegistryEventKind};
pub use records::{Job, JobRun, Lease, RunErrorInfo, RunTiming, RunView, Timestamp, now};
pub use status::{RunStatus, TransitionError};
