//! Leases on running attempts. The worker that starts a run takes a lease
//! (holder and expiry) in the same write; the keeper renews the leases of the
//! runs executing here while they are within their limits, and takes away
//! every running attempt whose lease lapsed (its worker died or wedged):
//! retried as the next attempt, or failed once the attempts are used up. The
//! store refuses the writes of an attempt that lost its lease (fencing).

use super::{Shared, lock, recover};
use crate::model::InterruptedPolicy;
use crate::model::{JobRun, PauseMode, RunId, RunStatus, now};
use crate::store::StoreError;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The keeper thread.
pub(super) struct Keeper {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Keeper {
    /// Renews and reaps every third of the lease time.
    pub(super) fn start(shared: Arc<Shared>) -> Keeper {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("jobhost-leases".into())
            .spawn(move || {
                let every = shared.lease_ttl / 3;
                let mut next = Instant::now() + every;
                let mut next_check = Instant::now() + CHECK_HELD;
                while !flag.load(Ordering::SeqCst) {
                    if shared.store.shared() && Instant::now() >= next_check {
                        next_check = Instant::now() + CHECK_HELD;
                        check_held(&shared);
                    }
                    let left = next.saturating_duration_since(Instant::now());
                    if !left.is_zero() {
                        std::thread::sleep(left.min(Duration::from_millis(50)));
                        continue;
                    }
                    next = Instant::now() + every;
                    renew(&shared);
                    if let Err(e) = reap(&shared) {
                        tracing::error!(error = %e, "checking run leases failed");
                    }
                }
            })
            .expect("spawning the lease keeper");
        Keeper {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the keeper and waits for it.
    pub(super) fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Slack for the keeper's own timing when deciding a lease is about to
/// lapse.
const RENEW_SLACK: Duration = Duration::from_millis(50);

/// On a store other hosts share: how often a host looks whether the runs
/// it executes were cancelled or taken over by another host.
const CHECK_HELD: Duration = Duration::from_millis(250);

/// Stops the attempts executing here whose run another host cancelled or
/// took over (their writes would be refused anyway).
fn check_held(shared: &Shared) {
    let held = shared.executing();
    match shared.store.lost_attempts(&held) {
        Ok(lost) => {
            for id in lost {
                if let Some(held) = lock(&shared.running).get(&id) {
                    tracing::info!(run = %id, "another host ended or took over a run executing here");
                    held.cancel.cancel();
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "checking the runs executing here failed"),
    }
}

/// Extends the lease of every run executing here that is within its limits.
/// An attempt that lost its run meanwhile is cancelled.
fn renew(shared: &Shared) {
    let now_instant = Instant::now();
    let due: Vec<_> = lock(&shared.running)
        .iter()
        .filter(|(_, held)| now_instant < held.renew_until + held.cancel.suspended_for())
        .filter_map(|(id, held)| Some((*id, held.recorder.clone()?, held.cancel.clone())))
        .collect();
    let expires_at = now() + shared.lease_ttl;
    for (id, recorder, cancel) in due {
        match recorder.renew(expires_at) {
            Ok(()) => {}
            Err(e @ (StoreError::Stale { .. } | StoreError::Conflict)) => {
                tracing::warn!(run = %id, error = %e, "a running attempt lost its lease");
                cancel.cancel();
            }
            Err(e) => {
                tracing::error!(run = %id, error = %e, "renewing a lease failed");
                // Unrenewed, the lease lapses and another host may take the
                // run: stop it here first, while a third of the lease is left.
                let left = recorder
                    .run()
                    .lease
                    .map(|l| l.expires_at - now())
                    .unwrap_or(time::Duration::ZERO);
                if left <= shared.lease_ttl / 3 + RENEW_SLACK {
                    tracing::warn!(run = %id, "stopping a run whose lease could not be renewed before it lapses");
                    cancel.cancel();
                }
            }
        }
    }
}

/// Lapsed leases of other hosts' runs looked at per pass.
const LAPSED_PER_PASS: usize = 100;

/// Whether `run` is held under a lease: running, or paused in memory.
fn held(run: &JobRun) -> bool {
    match run.status {
        RunStatus::Running => true,
        RunStatus::Paused => run.paused.is_some_and(|p| p.mode == PauseMode::InMemory),
        _ => false,
    }
}

/// Takes away every watched running (or paused in memory) attempt whose
/// lease lapsed, and on a store other hosts share every one the store
/// lists as lapsed; returns how many.
fn reap(shared: &Shared) -> Result<usize, StoreError> {
    let now = now();
    let mut taken = 0;
    let mut watched: Vec<_> = lock(&shared.watched).iter().copied().collect();
    if shared.store.shared() {
        // Runs other hosts held: any host takes over a lapsed lease.
        let known: HashSet<RunId> = watched.iter().copied().collect();
        let lapsed = shared.store.lapsed_leases(now, LAPSED_PER_PASS)?;
        watched.extend(lapsed.into_iter().filter(|id| !known.contains(id)));
    }
    for id in watched {
        let local = lock(&shared.running)
            .get(&id)
            .map(|held| held.cancel.clone());
        let mut run = match shared.store.run_any_tenant(id) {
            Ok(Some(run)) if held(&run) => run,
            // Gone, ended, queued again or paused, and not executing here.
            Ok(_) if local.is_none() => {
                shared.watch(id, false);
                continue;
            }
            Ok(_) => continue,
            // Nothing can be done with a record that does not decode.
            Err(StoreError::Corrupt { .. }) => {
                shared.watch(id, false);
                continue;
            }
            Err(e) => return Err(e),
        };
        let lapsed = match &run.lease {
            Some(lease) => lease.expires_at <= now,
            // Being started here, or left by a process before leases.
            None => local.is_none(),
        };
        if !lapsed {
            continue;
        }
        // A wedged worker here is told to stop; its writes are refused anyway.
        if let Some(cancel) = &local {
            cancel.cancel();
        }
        let observed = (run.attempt, run.lease.clone());
        let policy = shared
            .catalog
            .snapshot()
            .get(run.job_type.as_str(), &run.job_type_version)
            .map(|p| p.info.interrupted)
            .unwrap_or(InterruptedPolicy::Fail);
        run.paused = None;
        run.pause_requested = false;
        recover::interrupted(
            &mut run,
            policy,
            "its lease lapsed: the worker running it stopped renewing it",
        );
        match shared
            .store
            .take_over(&run, observed.0, observed.1.as_ref())
        {
            Ok(()) => {
                taken += 1;
                shared.watch(id, false);
                shared.metrics.lease_expired();
                tracing::warn!(
                    run = %run.uuid,
                    attempt = observed.0,
                    status = run.status.as_str(),
                    "a running attempt's lease lapsed; it was taken away"
                );
                if run.status == RunStatus::Pending {
                    shared.wake.notify_one();
                }
            }
            // Renewed or finished meanwhile.
            Err(StoreError::Conflict) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(taken)
}
