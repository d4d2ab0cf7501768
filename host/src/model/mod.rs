//! The records jobhost stores: jobs (saved configs) and job runs
//! (executions), their typed ids, and the run status state machine.

mod ids;
mod records;
mod status;

pub use ids::{JobId, RunId, TenantId};
pub use records::{Job, JobRun, RunErrorInfo, Timestamp, now};
pub use status::{RunStatus, TransitionError};
