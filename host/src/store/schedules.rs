//! Schedule states by job id: where each job's schedule stands (its cursor,
//! next tick, last scheduled run, paused or not), beside the job record so
//! that the scheduler's writes never race a caller's change of the job.

use super::{Record, ScheduleStore, Sled, StoreError, encode};
use crate::model::{JobId, ScheduleState};

impl ScheduleStore for Sled {
    /// A job's schedule state, if it has a schedule.
    fn schedule_state(&self, job: JobId) -> Result<Option<ScheduleState>, StoreError> {
        match self.schedules.get(job.bytes())? {
            Some(bytes) => Ok(Some(self.decode(
                Record::ScheduleState,
                &job.bytes(),
                &bytes,
            )?)),
            None => Ok(None),
        }
    }

    /// Saves a job's schedule state.
    fn put_schedule_state(&self, state: &ScheduleState) -> Result<(), StoreError> {
        self.schedules.insert(state.job_id.bytes(), encode(state))?;
        Ok(())
    }

    /// Forgets a job's schedule state (its schedule was removed or the job
    /// deleted).
    fn remove_schedule_state(&self, job: JobId) -> Result<(), StoreError> {
        self.schedules.remove(job.bytes())?;
        Ok(())
    }

    /// Every schedule state; damaged ones are skipped (and counted).
    fn schedule_states(&self) -> Result<Vec<ScheduleState>, StoreError> {
        let mut out = Vec::new();
        for entry in self.schedules.iter() {
            let (key, bytes) = entry?;
            if let Some(state) =
                self.skip_damaged(self.decode(Record::ScheduleState, &key, &bytes))?
            {
                out.push(state);
            }
        }
        Ok(out)
    }
}
