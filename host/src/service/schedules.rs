//! Schedules: a job's schedule is checked when the job is created or
//! changed, its state kept beside it, and its ticks run here when the
//! scheduler asks. Each tick runs at most once: the state records the tick
//! and the id of its run before the run is stored, so after a crash the
//! scheduler either finds that run or creates it with that id, and never
//! runs the tick again (the cursor has passed it).

use super::{NewRun, Service, ServiceError};
use crate::auth::{Caller, Role};
use crate::model::{
    Job, JobId, JobRun, Overlap, RunId, Schedule, ScheduleState, Timestamp, Trigger, now,
};
use std::time::Duration;

/// How often a tick waiting for the last scheduled run (`overlap: queue`)
/// looks again.
const QUEUE_RECHECK: Duration = Duration::from_secs(1);

/// A schedule, checked; its errors name the field under `schedule`.
pub(super) fn check_schedule(schedule: &Option<Schedule>) -> Result<(), ServiceError> {
    if let Some(s) = schedule {
        s.compile().map_err(|e| {
            let field = match e.field {
                "timezone" => "schedule/timezone",
                "catch_up_window_secs" => "schedule/catch_up_window_secs",
                _ => "schedule/cron",
            };
            ServiceError::field(field, e.message)
        })?;
    }
    Ok(())
}

impl Service {
    /// Brings a job's schedule state in line with the job just saved: made
    /// for a new schedule, kept (cursor and pause) for a changed one,
    /// removed with the schedule or the job. Tells the scheduler.
    pub(super) fn sync_schedule(&self, job: &Job) -> Result<(), ServiceError> {
        let store = &self.inner.store;
        let schedule = job.schedule.as_ref().filter(|_| !job.is_deleted);
        let Some(schedule) = schedule else {
            store.remove_schedule_state(job.uuid)?;
            self.inner.scheduler.set(job.uuid, None);
            return Ok(());
        };
        let cron = schedule
            .compile()
            .map_err(|e| ServiceError::field("schedule/cron", e.message))?;
        let at = now();
        let state = match store.schedule_state(job.uuid)? {
            Some(mut state) => {
                state.next_run_at = (!state.paused)
                    .then(|| cron.next_after(state.cursor.max(at)))
                    .flatten();
                state
            }
            None => ScheduleState::new(job.tenant.clone(), job.uuid, &cron, at),
        };
        store.put_schedule_state(&state)?;
        self.inner.scheduler.set(job.uuid, state.next_run_at);
        Ok(())
    }

    /// A job's schedule state, if it has a schedule.
    pub fn schedule_state(&self, job: &Job) -> Result<Option<ScheduleState>, ServiceError> {
        if job.schedule.is_none() {
            return Ok(None);
        }
        Ok(self.inner.store.schedule_state(job.uuid)?)
    }

    /// A job of the caller's tenant that has a schedule, and its state.
    fn scheduled_job(
        &self,
        caller: &Caller,
        id: JobId,
    ) -> Result<(Job, ScheduleState), ServiceError> {
        let job = self.job(caller, id)?;
        if job.is_deleted {
            return Err(ServiceError::JobDeleted {
                job: id,
                to_run: false,
            });
        }
        match self.schedule_state(&job)? {
            Some(state) => Ok((job, state)),
            None => Err(ServiceError::NoSchedule { job: id }),
        }
    }

    /// Pauses a job's schedule: no tick runs until it is resumed.
    pub async fn pause_schedule(
        &self,
        caller: &Caller,
        id: JobId,
    ) -> Result<(Job, ScheduleState), ServiceError> {
        let (job, mut state) = self.scheduled_job(caller, id)?;
        state.paused = true;
        state.next_run_at = None;
        self.inner.store.put_schedule_state(&state)?;
        self.inner.store.flush().await?;
        self.inner.scheduler.set(id, None);
        Ok((job, state))
    }

    /// Resumes a job's schedule from now: ticks that came while it was
    /// paused do not run.
    pub async fn resume_schedule(
        &self,
        caller: &Caller,
        id: JobId,
    ) -> Result<(Job, ScheduleState), ServiceError> {
        let (job, mut state) = self.scheduled_job(caller, id)?;
        let cron = job
            .schedule
            .as_ref()
            .expect("a scheduled job")
            .compile()
            .map_err(|e| ServiceError::field("schedule/cron", e.message))?;
        if state.paused {
            state.paused = false;
            state.cursor = now();
        }
        state.next_run_at = cron.next_after(state.cursor);
        self.inner.store.put_schedule_state(&state)?;
        self.inner.store.flush().await?;
        self.inner.scheduler.set(id, state.next_run_at);
        Ok((job, state))
    }

    /// Queues a run of a scheduled job now (`trigger: schedule`), whatever
    /// its schedule's state and overlap.
    pub async fn run_now(&self, caller: &Caller, id: JobId) -> Result<JobRun, ServiceError> {
        let (job, _) = self.scheduled_job(caller, id)?;
        self.check_room(1)?;
        let plugin = self.runnable(&job)?;
        let mut run = self.run_of(caller, &job, &plugin, &no_overrides(id))?;
        run.trigger = Trigger::Schedule;
        self.admit(std::slice::from_ref(&run)).await?;
        Ok(run)
    }

    /// Runs the due ticks of `id`'s schedule at `at`; returns when to look
    /// again. Writes are not flushed: the scheduler flushes each pass.
    pub fn tick_schedule(
        &self,
        id: JobId,
        at: Timestamp,
    ) -> Result<Option<Timestamp>, ServiceError> {
        let store = &self.inner.store;
        let Some(mut state) = store.schedule_state(id)? else {
            return Ok(None);
        };
        if state.paused {
            return Ok(None);
        }
        let job = store.job(&state.tenant, id)?.filter(|j| !j.is_deleted);
        let Some((job, schedule)) = job.and_then(|j| j.schedule.clone().map(|s| (j, s))) else {
            store.remove_schedule_state(id)?;
            return Ok(None);
        };
        let cron = match schedule.compile() {
            Ok(cron) => cron,
            Err(e) => {
                state.last_error = Some(format!("the schedule no longer reads: {}", e.message));
                state.next_run_at = None;
                store.put_schedule_state(&state)?;
                return Ok(None);
            }
        };
        let plan = cron.plan(&schedule, state.cursor, at);
        for tick in plan.run {
            if schedule.overlap != Overlap::Allow && self.last_run_active(&state)? {
                if schedule.overlap == Overlap::Queue {
                    // The tick waits for the run to end.
                    state.cursor = tick - time::Duration::nanoseconds(1);
                    state.next_run_at = Some(tick);
                    store.put_schedule_state(&state)?;
                    return Ok(Some(at + QUEUE_RECHECK));
                }
                state.cursor = tick;
                state.skipped_ticks += 1;
                continue;
            }
            self.fire(&job, &mut state, tick, RunId::new())?;
        }
        state.cursor = state.cursor.max(plan.cursor);
        state.next_run_at = cron.next_after(state.cursor);
        store.put_schedule_state(&state)?;
        Ok(state.next_run_at)
    }

    /// Runs tick `tick` of `job`'s schedule as run `id`: the run is built
    /// and checked first, then the state records the tick and the run's id,
    /// then the run is stored. A refused run records why and skips the tick.
    fn fire(
        &self,
        job: &Job,
        state: &mut ScheduleState,
        tick: Timestamp,
        id: RunId,
    ) -> Result<(), ServiceError> {
        let store = &self.inner.store;
        let built = self.check_room(1).and_then(|()| {
            let plugin = self.runnable(job)?;
            self.run_of(&owner(job), job, &plugin, &no_overrides(job.uuid))
        });
        state.cursor = tick;
        let mut run = match built {
            Ok(run) => run,
            Err(e @ ServiceError::Store(_)) => return Err(e),
            Err(e) => {
                tracing::warn!(job = %job.uuid, error = %e, "a scheduled run was refused");
                state.last_error = Some(e.to_string());
                state.skipped_ticks += 1;
                if state.last_run == Some(id) {
                    // Recovery: the tick's run is refused now; none will come.
                    state.last_run = None;
                }
                return Ok(());
            }
        };
        run.uuid = id;
        run.trigger = Trigger::Schedule;
        run.scheduled_for = Some(tick);
        state.last_scheduled_at = Some(tick);
        state.last_run = Some(id);
        state.last_error = None;
        store.put_schedule_state(state)?;
        store.insert_run(&run)?;
        Ok(())
    }

    /// Whether the last scheduled run is still pending, running or paused.
    fn last_run_active(&self, state: &ScheduleState) -> Result<bool, ServiceError> {
        let Some(id) = state.last_run else {
            return Ok(false);
        };
        Ok(self
            .inner
            .store
            .run_any_tenant(id)?
            .is_some_and(|r| !r.status.is_terminal()))
    }

    /// At start: creates the runs of ticks a crash cut off between
    /// recording the tick and storing its run, and returns when to look at
    /// each scheduled job.
    pub fn recover_schedules(&self) -> Result<Vec<(JobId, Option<Timestamp>)>, ServiceError> {
        let store = &self.inner.store;
        let mut times = Vec::new();
        for mut state in store.schedule_states()? {
            if let (Some(id), Some(tick)) = (state.last_run, state.last_scheduled_at)
                && !store.run_exists(id)?
                && let Some(job) = store.job(&state.tenant, state.job_id)?
            {
                tracing::info!(job = %job.uuid, run = %id, "creating the run of a tick a stop cut off");
                self.fire(&job, &mut state, tick, id)?;
                store.put_schedule_state(&state)?;
            }
            times.push(look_at(&state));
        }
        store.flush_blocking()?;
        Ok(times)
    }

    /// When to look at each scheduled job, as stored (on a store other
    /// hosts share, their changes to schedules show here).
    pub fn schedule_times(&self) -> Result<Vec<(JobId, Option<Timestamp>)>, ServiceError> {
        Ok(self
            .inner
            .store
            .schedule_states()?
            .iter()
            .map(look_at)
            .collect())
    }
}

/// When to look at a scheduled job: at its next tick, never while paused.
fn look_at(state: &ScheduleState) -> (JobId, Option<Timestamp>) {
    let at = (!state.paused).then_some(state.next_run_at.unwrap_or_else(now));
    (state.job_id, at)
}

/// Who a scheduled run is created by: the job's creator.
fn owner(job: &Job) -> Caller {
    Caller {
        user: job.created_by.clone(),
        tenant: job.tenant.clone(),
        role: Role::User,
        token: "schedule".into(),
    }
}

fn no_overrides(job_id: JobId) -> NewRun {
    NewRun {
        job_id,
        config: None,
        priority: None,
        callback_url: None,
    }
}
