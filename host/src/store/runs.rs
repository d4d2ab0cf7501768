//! Run records: a new run with its index entries, queued, reads by
//! tenant or across tenants, and conditional updates: by expected status,
//! by the lease holder and attempt (fencing), or by taking over a lapsed
//! lease.

use super::notices::NoticeEvent;
use super::{RUN_LOCK_STRIPES, Record, Store, StoreError, encode, keys, lock};
use crate::model::{JobRun, Lease, RunId, RunStatus, TenantId};
use std::sync::MutexGuard;

/// A record as stored, to write over only if it is still the same.
pub struct Stored(sled::IVec);

impl Store {
    /// Saves a new run and queues it: index entries, then the record, then
    /// the queue (in memory; rebuilt from the pending runs on open).
    pub fn insert_run(&self, run: &JobRun) -> Result<(), StoreError> {
        debug_assert_eq!(run.status, RunStatus::Pending);
        let id = run.uuid.bytes();
        for k in keys::run_index_keys(
            &run.tenant,
            run.job_id,
            run.job_type.as_str(),
            run.status,
            run.uuid,
        ) {
            self.run_index.insert(k, &[])?;
        }
        self.runs.insert(id, encode(run))?;
        self.queue.push(run);
        self.events.run_status(run);
        Ok(())
    }

    /// A run of `tenant`; another tenant's run is `None`. A damaged run is
    /// [`StoreError::Corrupt`] to its own tenant and `None` to any other.
    pub fn run(&self, tenant: &TenantId, id: RunId) -> Result<Option<JobRun>, StoreError> {
        // Under the run's lock: a pause is on disk before it can be read.
        let _run = self.run_lock(&id.bytes());
        match self.run_any_tenant(id) {
            Ok(run) => Ok(run.filter(|r| r.tenant == *tenant)),
            Err(e @ StoreError::Corrupt { .. }) => {
                self.owned_damage(&self.run_index, keys::tenant_runs(tenant), id.bytes(), e)
            }
            Err(e) => Err(e),
        }
    }

    /// A run whatever its tenant (workers and recovery).
    pub fn run_any_tenant(&self, id: RunId) -> Result<Option<JobRun>, StoreError> {
        match self.runs.get(id.bytes())? {
            Some(bytes) => Ok(Some(self.decode(Record::Run, &id.bytes(), &bytes)?)),
            None => Ok(None),
        }
    }

    /// A run whatever its tenant, with its stored form, which
    /// [`Store::claim_run`] takes to tell whether it changed since.
    pub fn run_with_bytes(&self, id: RunId) -> Result<Option<(Stored, JobRun)>, StoreError> {
        match self.runs.get(id.bytes())? {
            Some(bytes) => {
                let run = self.decode(Record::Run, &id.bytes(), &bytes)?;
                Ok(Some((Stored(bytes), run)))
            }
            None => Ok(None),
        }
    }

    /// Writes `run`, taken from the queue while `read` (pending), as it
    /// starts: refused with [`StoreError::Conflict`] when its record changed
    /// since it was read (cancelled, say). One conditional write of the
    /// record, without reading it again; the run left the queue when it
    /// was taken.
    /// Returns the record as written, for [`Store::finish_held`].
    pub fn claim_run(&self, read: &Stored, run: &JobRun) -> Result<Stored, StoreError> {
        debug_assert_eq!(run.status, RunStatus::Running);
        match self.swap_run(read, RunStatus::Pending, run)? {
            Some(written) => Ok(written),
            None => Err(StoreError::Conflict),
        }
    }

    /// Writes the end of an attempt (`run`, moved on from `running`) as the
    /// holder that wrote `written`, the record as it last wrote it: if the
    /// record is still that, the run is still the holder's, and no read or
    /// decode is needed. `false` when it changed since, or when the move
    /// queues a webhook or a notice: then [`Store::update_held`] checks and
    /// writes it.
    pub fn finish_held(&self, written: &Stored, run: &JobRun) -> Result<bool, StoreError> {
        let plain = run.status != RunStatus::Running
            && run.status != RunStatus::Paused
            && !(run.status.is_terminal() && run.callback_url.is_some());
        Ok(plain && self.swap_run(written, RunStatus::Running, run)?.is_some())
    }

    /// Replaces the record `read`, in status `from`, by `run` (in another
    /// status) if it is still `read`: its status entries move around the
    /// write, the queue and the event follow. `None` when it changed.
    fn swap_run(
        &self,
        read: &Stored,
        from: RunStatus,
        run: &JobRun,
    ) -> Result<Option<Stored>, StoreError> {
        debug_assert_ne!(from, run.status);
        let id = run.uuid.bytes();
        let _run = self.run_lock(&id);
        let change = keys::status_change(&run.tenant, from, run.status, id);
        if let Some((added, _)) = &change {
            self.run_index.insert(added.as_slice(), &[])?;
        }
        let new = sled::IVec::from(encode(run));
        if self
            .runs
            .compare_and_swap(id, Some(&read.0), Some(new.clone()))?
            .is_err()
        {
            // The entries added stay: they may be another writer's, and
            // readers skip and clean stale ones.
            return Ok(None);
        }
        if let Some((_, removed)) = change {
            self.run_index.remove(removed)?;
        }
        if run.status == RunStatus::Pending {
            self.queue.push(run);
        }
        self.events.run_status(run);
        Ok(Some(Stored(new)))
    }

    /// Replaces a run if its stored status is still `expected`, moving its
    /// status index entries and (un)queueing it as its new status requires.
    pub fn update_run(&self, expected: RunStatus, run: &JobRun) -> Result<(), StoreError> {
        self.update_run_if(expected, run, |_| Ok(()))
    }

    /// Writes a run's new state as `holder`, the worker holding its lease
    /// for attempt `attempt`: refused with [`StoreError::Stale`] unless the
    /// stored run is `running` (or `paused` in memory) in that attempt under
    /// that holder.
    pub fn update_held(&self, run: &JobRun, holder: &str, attempt: u32) -> Result<(), StoreError> {
        let held = |s: RunStatus| matches!(s, RunStatus::Running | RunStatus::Paused);
        self.update_run_where(held, run, |current| {
            let held_by = current.lease.as_ref().map(|l| l.holder.as_str());
            if current.attempt != attempt || held_by != Some(holder) {
                return Err(StoreError::Stale {
                    attempt,
                    why: format!(
                        "the run is in attempt {} held by {}",
                        current.attempt,
                        held_by.unwrap_or("nobody")
                    ),
                });
            }
            Ok(())
        })
    }

    /// Writes the new state of a `running` (or `paused` in memory) run taken
    /// from a worker that no longer holds it, unless its attempt or lease changed since it was read
    /// as `attempt` and `lease` ([`StoreError::Conflict`] then).
    pub fn take_over(
        &self,
        run: &JobRun,
        attempt: u32,
        lease: Option<&Lease>,
    ) -> Result<(), StoreError> {
        let held = |s: RunStatus| matches!(s, RunStatus::Running | RunStatus::Paused);
        self.update_run_where(held, run, |current| {
            if (current.attempt, current.lease.as_ref()) == (attempt, lease) {
                Ok(())
            } else {
                Err(StoreError::Conflict)
            }
        })
    }

    /// [`Store::update_run`] with a further condition on the stored run.
    /// Every write is also refused when it carries an older attempt than
    /// the stored one, so attempts only grow.
    pub fn update_run_if(
        &self,
        expected: RunStatus,
        run: &JobRun,
        check: impl FnOnce(&JobRun) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.update_run_where(|s| s == expected, run, check)
    }

    /// [`Store::update_run_if`] for a stored status that `expected` accepts.
    fn update_run_where(
        &self,
        expected: impl Fn(RunStatus) -> bool,
        run: &JobRun,
        check: impl FnOnce(&JobRun) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let id = run.uuid.bytes();
        let _run = self.run_lock(&id);
        let current = self.runs.get(id)?.ok_or(StoreError::Conflict)?;
        let current: JobRun = self.decode(Record::Run, &id, &current)?;
        if run.attempt < current.attempt {
            return Err(StoreError::Stale {
                attempt: run.attempt,
                why: format!("attempt {} has started", current.attempt),
            });
        }
        if !expected(current.status) {
            return Err(StoreError::Conflict);
        }
        let expected = current.status;
        check(&current)?;
        let moved = run.status != expected;
        let change = keys::status_change(&run.tenant, expected, run.status, id);
        if let Some((added, _)) = &change {
            self.run_index.insert(added.as_slice(), &[])?;
        }
        if moved {
            if run.status.is_terminal() && run.callback_url.is_some() {
                self.queue_webhook(run.uuid, 0)?;
            } else if run.status == RunStatus::Paused {
                self.queue_notice(run, NoticeEvent::Paused)?;
            } else if expected == RunStatus::Paused {
                self.queue_notice(run, NoticeEvent::Resumed)?;
            }
        }
        self.runs.insert(id, encode(run))?;
        if let Some((_, removed)) = change {
            self.run_index.remove(removed)?;
        }
        if moved && run.status == RunStatus::Paused {
            // A pause is said to survive a restart: on disk before the run's
            // lock is released (readers of one run take it) and before it
            // is announced.
            self.db.flush()?;
        }
        if run.status == RunStatus::Pending {
            self.queue.push(run);
        } else if expected == RunStatus::Pending {
            self.queue.remove(&current);
        }
        if moved {
            self.events.run_status(run);
        } else if (run.progress, &run.progress_message)
            != (current.progress, &current.progress_message)
        {
            self.events.run_progress(run);
        }
        Ok(())
    }

    /// The lock serialising changes to run `id`.
    pub(super) fn run_lock(&self, id: &[u8; 16]) -> MutexGuard<'_, ()> {
        lock(&self.run_locks[usize::from(id[15]) % RUN_LOCK_STRIPES])
    }
}
