//! The records jobhost stores: jobs (saved configs) and job runs
//! (executions), with typed ids and the run status state machine.

mod status;

pub use status::{RunStatus, TransitionError};
