//! The scheduler: one thread that wakes at the next tick of any job's
//! schedule, asks the service to run what is due, and makes the pass's
//! writes durable in one group commit. It holds only when to look at which
//! job; what a tick does (catch-up, overlap, exactly once) is the service's
//! (`service::schedules`).

use crate::model::{JobId, Timestamp, now};
use crate::service::Service;
use crate::store::Duty;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// When to look at which job next. Cheap to clone.
#[derive(Clone, Default)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    due: Mutex<Due>,
    wake: Condvar,
    stopping: AtomicBool,
}

#[derive(Default)]
struct Due {
    by_time: BTreeSet<(i128, JobId)>,
    by_job: HashMap<JobId, i128>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The longest the thread sleeps without looking (a clock jump is noticed
/// within it).
const MAX_SLEEP: Duration = Duration::from_secs(5);

/// On a store other hosts share: how often the schedules are read again,
/// and how often a host without the duty asks for it.
const SHARED_SLEEP: Duration = Duration::from_secs(1);

impl Scheduler {
    /// Looks at `job` at `at`, or never when `None` (replacing any time set
    /// before).
    pub fn set(&self, job: JobId, at: Option<Timestamp>) {
        let mut due = lock(&self.inner.due);
        if let Some(old) = due.by_job.remove(&job) {
            due.by_time.remove(&(old, job));
        }
        if let Some(at) = at {
            let at = at.unix_timestamp_nanos();
            due.by_time.insert((at, job));
            due.by_job.insert(job, at);
        }
        drop(due);
        self.inner.wake.notify_all();
    }

    /// Jobs with a time set.
    pub fn len(&self) -> usize {
        lock(&self.inner.due).by_job.len()
    }

    /// Whether no job has a time set.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Starts the thread: it first recovers ticks a crash interrupted, then
    /// runs due ticks until [`Running::stop`].
    pub fn start(&self, service: Service, rt: tokio::runtime::Handle) -> Running {
        let scheduler = self.clone();
        let thread = std::thread::Builder::new()
            .name("jobhost-scheduler".into())
            .spawn(move || scheduler.run(&service, &rt))
            .expect("spawning the scheduler thread");
        Running {
            scheduler: self.clone(),
            thread: Some(thread),
        }
    }

    fn run(&self, service: &Service, rt: &tokio::runtime::Handle) {
        let store = service.store();
        // Another host may fire the ticks: look again this often.
        let (max_sleep, reload) = if store.shared() {
            (SHARED_SLEEP, SHARED_SLEEP)
        } else {
            (MAX_SLEEP, Duration::MAX)
        };
        let mut leading = false;
        let mut loaded = Instant::now();
        while !self.inner.stopping.load(Ordering::SeqCst) {
            if !store.holds(Duty::Schedules) {
                leading = false;
                self.idle(SHARED_SLEEP);
                continue;
            }
            if !leading {
                // Taking the duty (at start, or from a host that stopped):
                // what the store holds is what counts.
                leading = true;
                loaded = Instant::now();
                match service.recover_schedules() {
                    Ok(times) => self.set_all(times),
                    Err(e) => tracing::error!(error = %e, "recovering schedules failed"),
                }
            } else if loaded.elapsed() >= reload {
                loaded = Instant::now();
                match service.schedule_times() {
                    Ok(times) => self.set_all(times),
                    Err(e) => tracing::error!(error = %e, "reading the schedules failed"),
                }
            }
            let ready = self.wait(max_sleep);
            if ready.is_empty() {
                continue;
            }
            let at = now();
            if !store.holds(Duty::Schedules) {
                // Lost the duty while waiting: the host that took it fires.
                for job in ready {
                    self.set(job, Some(at));
                }
                continue;
            }
            for job in ready {
                let next = match service.tick_schedule(job, at) {
                    Ok(next) => next,
                    Err(e) => {
                        tracing::error!(job = %job, error = %e, "a schedule tick failed; retrying in a second");
                        Some(at + Duration::from_secs(1))
                    }
                };
                self.set(job, next);
            }
            if let Err(e) = rt.block_on(store.flush()) {
                tracing::error!(error = %e, "flushing a scheduler pass failed");
            }
            service.workers().notify();
        }
    }

    fn set_all(&self, times: Vec<(JobId, Option<Timestamp>)>) {
        for (job, at) in times {
            self.set(job, at);
        }
    }

    /// Sleeps `for_` or until stopped.
    fn idle(&self, for_: Duration) {
        let due = lock(&self.inner.due);
        if !self.inner.stopping.load(Ordering::SeqCst) {
            let _ = self.inner.wake.wait_timeout(due, for_);
        }
    }

    /// Waits for the first due time (or a change, or [`MAX_SLEEP`]) and
    /// takes the jobs due by then.
    fn wait(&self, max_sleep: Duration) -> Vec<JobId> {
        let mut due = lock(&self.inner.due);
        let now_nanos = now().unix_timestamp_nanos();
        let first = due.by_time.first().map(|(t, _)| *t);
        let sleep = match first {
            Some(t) if t <= now_nanos => Duration::ZERO,
            Some(t) => Duration::from_nanos(u64::try_from(t - now_nanos).unwrap_or(u64::MAX)),
            None => max_sleep,
        };
        if !sleep.is_zero() {
            due = self
                .inner
                .wake
                .wait_timeout(due, sleep.min(max_sleep))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let now_nanos = now().unix_timestamp_nanos();
        let mut ready = Vec::new();
        while let Some(&(t, job)) = due.by_time.first() {
            if t > now_nanos {
                break;
            }
            due.by_time.pop_first();
            due.by_job.remove(&job);
            ready.push(job);
        }
        ready
    }
}

/// The running scheduler thread; stopped and joined by [`Running::stop`].
pub struct Running {
    scheduler: Scheduler,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    /// Stops the thread after its current pass and waits for it.
    pub fn stop(mut self) {
        self.scheduler.inner.stopping.store(true, Ordering::SeqCst);
        self.scheduler.inner.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
