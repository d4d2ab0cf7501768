//! The worker pool: a fixed number of threads take runs from the durable
//! queue (the tenant running the fewest first, up to a per-tenant cap; each
//! tenant's runs by priority, then oldest), execute them through the runtime
//! under a lease, and record the outcome. Also recovery of runs a crash left
//! `running`, and cancellation of running runs.

mod execute;
mod lease;
mod pause;
mod recorder;
mod recover;

pub use pause::PauseResult;
pub use recover::{MAX_ATTEMPTS, Recovered, recover};

use crate::model::{RunId, RunStatus, TenantId};
use crate::registry::Catalog;
use crate::runtime::{CancelToken, Runtime};
use crate::store::Store;
use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the workers share.
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
    pub(crate) runtime: Arc<Runtime>,
    /// Runs executing now.
    running: Mutex<HashMap<RunId, Executing>>,
    /// Runs the lease keeper watches: those that were running when the pool
    /// started, and every run a worker here claimed until its attempt's
    /// last write. (In one process, every running run is one of them.)
    watched: Mutex<HashSet<RunId>>,
    /// Runs taken from the queue and not yet finished, by tenant.
    taken: Mutex<HashMap<TenantId, usize>>,
    /// The most runs one tenant may have executing at once.
    tenant_cap: usize,
    /// How long a lease lasts unless renewed.
    lease_ttl: Duration,
    /// This pool's name in lease holders: `<instance>/<worker>`.
    instance: String,
    /// Signalled when a run is queued or finishes.
    wake: Condvar,
    /// Set when shutting down: take no new runs.
    stopping: AtomicBool,
    /// Set when the shutdown grace is over: running runs are being interrupted.
    pub(crate) interrupting: AtomicBool,
    /// Threads started in the stead of threads holding suspended runs.
    extra: Mutex<Vec<JoinHandle<()>>>,
    /// How many such threads were started (names them).
    extra_started: std::sync::atomic::AtomicUsize,
    /// Threads to retire: a suspended run resumed or ended.
    retire: std::sync::atomic::AtomicUsize,
}

/// A run executing here.
struct Executing {
    cancel: CancelToken,
    /// Set once the plugin is called: it renews the lease.
    recorder: Option<Arc<recorder::Recorder>>,
    /// The lease is renewed until then (the run's timeout, the cancel grace
    /// and a margin), plus the time suspended: a worker still holding the
    /// run later is wedged.
    renew_until: Instant,
    /// Suspended in place (a thread was started in its stead): its
    /// tenant, whose cap it does not count against meanwhile.
    suspended: Option<TenantId>,
}

/// Beyond its limits, how long a run's lease is still renewed.
const RENEW_MARGIN: Duration = Duration::from_secs(5);

type Running = HashMap<RunId, Executing>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// The attempts executing here (running or suspended).
    fn executing(&self) -> Vec<(RunId, u32)> {
        lock(&self.running)
            .values()
            .filter_map(|held| held.recorder.as_ref().map(|r| r.attempt()))
            .collect()
    }

    fn register(&self, id: RunId) -> CancelToken {
        let cancel = CancelToken::new();
        let held = Executing {
            cancel: cancel.clone(),
            recorder: None,
            renew_until: Instant::now() + RENEW_MARGIN,
            suspended: None,
        };
        lock(&self.running).insert(id, held);
        cancel
    }

    /// Hands the lease of a registered run to its recorder, renewed for at
    /// most `timeout` plus the cancel grace and a margin from now.
    fn attach(&self, id: RunId, recorder: Arc<recorder::Recorder>, timeout: Duration) {
        let grace = self.runtime.config().ceilings.cancel_grace;
        if let Some(held) = lock(&self.running).get_mut(&id) {
            held.recorder = Some(recorder);
            held.renew_until = Instant::now() + timeout + grace + RENEW_MARGIN;
        }
    }

    /// Waits on `wake` while `busy` holds for the running set, until `deadline`.
    fn wait_while<'a>(
        &self,
        mut running: MutexGuard<'a, Running>,
        deadline: Instant,
        busy: impl Fn(&Running) -> bool,
    ) -> MutexGuard<'a, Running> {
        while busy(&running) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            running = self
                .wake
                .wait_timeout(running, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        running
    }

    /// Has the lease keeper watch `id` (or stop watching it).
    fn watch(&self, id: RunId, on: bool) {
        let mut watched = lock(&self.watched);
        if on {
            watched.insert(id);
        } else {
            watched.remove(&id);
        }
    }

    fn unregister(&self, id: RunId) {
        if lock(&self.running)
            .remove(&id)
            .is_some_and(|h| h.suspended.is_some())
        {
            // Its stand-in thread retires.
            self.retire.fetch_add(1, Ordering::SeqCst);
        }
        self.wake.notify_all();
    }
}

/// How the pool runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Worker threads.
    pub workers: usize,
    /// How long a lease lasts unless renewed.
    pub lease_ttl: Duration,
    /// The most runs one tenant may have executing at once; at least 1, at
    /// most the worker count (larger values are the worker count).
    pub tenant_max_running: usize,
    /// This host: its workers hold leases as `<host>/<worker>`.
    pub host: crate::identity::HostId,
}

/// The pool.
pub struct Workers {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    keeper: lease::Keeper,
}

impl Workers {
    /// Starts the worker threads and the keeper of their leases.
    pub fn start(
        settings: &Settings,
        store: Store,
        catalog: Arc<Catalog>,
        runtime: Arc<Runtime>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Workers {
        let count = settings.workers.max(1);
        let shared = Arc::new(Shared {
            store,
            catalog,
            runtime,
            metrics,
            running: Mutex::new(HashMap::new()),
            watched: Mutex::new(HashSet::new()),
            taken: Mutex::new(HashMap::new()),
            tenant_cap: settings.tenant_max_running.clamp(1, count),
            lease_ttl: settings.lease_ttl.max(Duration::from_millis(50)),
            instance: settings.host.to_string(),
            wake: Condvar::new(),
            stopping: AtomicBool::new(false),
            interrupting: AtomicBool::new(false),
            extra: Mutex::default(),
            extra_started: Default::default(),
            retire: Default::default(),
        });
        let threads = (0..count)
            .map(|i| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("jobhost-worker-{i}"))
                    .spawn(move || {
                        crate::runtime::lower_this_thread();
                        work(&shared, i);
                    })
                    .expect("spawning a worker thread")
            })
            .collect();
        // Runs left running by another holder are the keeper's to reap.
        match shared.store.runs_in_status(RunStatus::Running) {
            Ok(runs) => lock(&shared.watched).extend(runs.iter().map(|r| r.uuid)),
            Err(e) => tracing::error!(error = %e, "reading the running runs failed"),
        }
        let keeper = lease::Keeper::start(shared.clone());
        Workers {
            shared,
            threads,
            keeper,
        }
    }

    /// Wakes an idle worker: a run was queued.
    pub fn notify(&self) {
        self.shared.wake.notify_one();
    }

    /// Cancels a run if it is executing here; true if it was.
    pub fn cancel(&self, id: RunId) -> bool {
        match lock(&self.shared.running).get(&id) {
            Some(held) => {
                held.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Waits until `id` is no longer executing, at most `timeout`.
    pub fn wait_finished(&self, id: RunId, timeout: Duration) -> bool {
        let running = lock(&self.shared.running);
        let running = self
            .shared
            .wait_while(running, Instant::now() + timeout, |r| r.contains_key(&id));
        !running.contains_key(&id)
    }

    /// Worker threads alive, and how many were started; none count while
    /// the pool is shutting down.
    pub fn alive(&self) -> (usize, usize) {
        let stopping = self.shared.stopping.load(Ordering::SeqCst);
        let up = self.threads.iter().filter(|t| !t.is_finished()).count();
        (if stopping { 0 } else { up }, self.threads.len())
    }

    /// Runs executing now.
    pub fn running(&self) -> usize {
        lock(&self.shared.running).len()
    }

    /// Stops taking runs, lets running ones finish within `grace`, then
    /// interrupts the rest (they are re-queued or failed per their job type's
    /// policy) and joins the threads.
    pub fn shutdown(self, grace: Duration) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.wake.notify_all();
        let deadline = Instant::now() + grace;
        {
            let running = lock(&self.shared.running);
            let running = self.shared.wait_while(running, deadline, |r| !r.is_empty());
            if !running.is_empty() {
                self.shared.interrupting.store(true, Ordering::SeqCst);
                for held in running.values() {
                    held.cancel.cancel();
                }
            }
        }
        for t in self.threads {
            let _ = t.join();
        }
        let extra = std::mem::take(&mut *lock(&self.shared.extra));
        for t in extra {
            let _ = t.join();
        }
        self.keeper.stop();
    }
}

fn work(shared: &Shared, index: usize) {
    let holder = format!("{}/{index}", shared.instance);
    while !shared.stopping.load(Ordering::SeqCst) {
        // One thread more than the pool's size runs per suspended run.
        let retiring = shared
            .retire
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if retiring.is_ok() {
            return;
        }
        match Taken::next(shared, &holder) {
            Ok(Some((taken, claimed))) => {
                let id = claimed.run.uuid;
                // A bug must not take the worker down: the run keeps its
                // lease, which lapses, and the keeper retries or fails it.
                let done = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    execute::execute(shared, *claimed, &holder);
                }));
                if done.is_err() {
                    tracing::error!(run = %id, "a worker panicked while executing a run");
                    shared.unregister(id);
                }
                drop(taken);
            }
            Ok(None) => continue,
            Err(TakeError::Idle) => {
                let guard = lock(&shared.running);
                let _ = shared.wake.wait_timeout(guard, Duration::from_millis(100));
            }
            Err(TakeError::Store(e)) => {
                tracing::error!(error = %e, "reading the run queue failed");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// A run taken from the queue, counted against its tenant until dropped.
struct Taken<'a> {
    shared: &'a Shared,
    tenant: TenantId,
}

/// Why no run was taken.
enum TakeError {
    /// None may be taken now.
    Idle,
    /// The store failed.
    Store(crate::store::StoreError),
}

impl<'a> Taken<'a> {
    /// Takes the next run fairly: from the tenant with the fewest runs
    /// executing, below the per-tenant cap. `None` when one was taken and
    /// needs no executing (it ended at once, or changed meanwhile).
    fn next(
        shared: &'a Shared,
        holder: &str,
    ) -> Result<Option<(Taken<'a>, Box<execute::Claimed>)>, TakeError> {
        let mut taken = lock(&shared.taken);
        // Runs suspended in memory do not count against their tenant's cap.
        let suspended: Vec<TenantId> = lock(&shared.running)
            .values()
            .filter_map(|h| h.suspended.clone())
            .collect();
        let next = if suspended.is_empty() {
            execute::claim(shared, holder, &taken)
        } else {
            let mut busy = taken.clone();
            for tenant in suspended {
                if let Some(n) = busy.get_mut(&tenant) {
                    *n = n.saturating_sub(1);
                }
            }
            execute::claim(shared, holder, &busy)
        };
        let claimed = match next.map_err(TakeError::Store)? {
            execute::Next::Idle => return Err(TakeError::Idle),
            execute::Next::Handled => return Ok(None),
            execute::Next::Run(claimed) => claimed,
        };
        let tenant = claimed.run.tenant.clone();
        *taken.entry(tenant.clone()).or_default() += 1;
        Ok(Some((Taken { shared, tenant }, claimed)))
    }
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        let mut taken = lock(&self.shared.taken);
        if let Some(count) = taken.get_mut(&self.tenant) {
            *count -= 1;
            if *count == 0 {
                taken.remove(&self.tenant);
            }
        }
        drop(taken);
        // A worker may be idle only because this tenant was at its cap.
        self.shared.wake.notify_all();
    }
}
