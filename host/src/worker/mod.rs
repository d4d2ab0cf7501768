//! The worker pool: a fixed number of threads take runs from the durable
//! queue (highest priority, then oldest), execute them through the runtime,
//! and record the outcome. Also recovery of runs a crash left `running`, and
//! cancellation of running runs.

mod execute;
mod recover;

pub use recover::{MAX_ATTEMPTS, Recovered, recover};

use crate::model::RunId;
use crate::registry::Catalog;
use crate::runtime::{CancelToken, Runtime};
use crate::store::Store;
use std::collections::HashMap;
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
    /// Runs executing now, with their cancel tokens.
    running: Mutex<HashMap<RunId, CancelToken>>,
    /// Signalled when a run is queued or finishes.
    wake: Condvar,
    /// Set when shutting down: take no new runs.
    stopping: AtomicBool,
    /// Set when the shutdown grace is over: running runs are being interrupted.
    pub(crate) interrupting: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn register(&self, id: RunId) -> CancelToken {
        let token = CancelToken::new();
        lock(&self.running).insert(id, token.clone());
        token
    }

    /// Waits on `wake` while `busy` holds for the running set, until `deadline`.
    fn wait_while<'a>(
        &self,
        mut running: MutexGuard<'a, HashMap<RunId, CancelToken>>,
        deadline: Instant,
        busy: impl Fn(&HashMap<RunId, CancelToken>) -> bool,
    ) -> MutexGuard<'a, HashMap<RunId, CancelToken>> {
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

    fn unregister(&self, id: RunId) {
        lock(&self.running).remove(&id);
        self.wake.notify_all();
    }
}

/// The pool.
pub struct Workers {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts `count` worker threads.
    pub fn start(
        count: usize,
        store: Store,
        catalog: Arc<Catalog>,
        runtime: Arc<Runtime>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Workers {
        let shared = Arc::new(Shared {
            store,
            catalog,
            runtime,
            metrics,
            running: Mutex::new(HashMap::new()),
            wake: Condvar::new(),
            stopping: AtomicBool::new(false),
            interrupting: AtomicBool::new(false),
        });
        let threads = (0..count.max(1))
            .map(|i| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("jobhost-worker-{i}"))
                    .spawn(move || work(&shared))
                    .expect("spawning a worker thread")
            })
            .collect();
        Workers { shared, threads }
    }

    /// Wakes an idle worker: a run was queued.
    pub fn notify(&self) {
        self.shared.wake.notify_one();
    }

    /// Cancels a run if it is executing here; true if it was.
    pub fn cancel(&self, id: RunId) -> bool {
        match lock(&self.shared.running).get(&id) {
            Some(token) => {
                token.cancel();
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
                for token in running.values() {
                    token.cancel();
                }
            }
        }
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn work(shared: &Shared) {
    while !shared.stopping.load(Ordering::SeqCst) {
        match shared.store.pop_queue() {
            Ok(Some(id)) => execute::execute(shared, id),
            Ok(None) => {
                let guard = lock(&shared.running);
                let _ = shared.wake.wait_timeout(guard, Duration::from_millis(100));
            }
            Err(e) => {
                tracing::error!(error = %e, "reading the run queue failed");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}
