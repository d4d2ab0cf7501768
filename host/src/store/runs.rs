//! Runs on sled: a new run with its index entries, queued; reads by
//! tenant or across tenants; taking queued runs; conditional updates: by
//! expected status, by the lease holder and attempt (fencing), or by
//! taking over a lapsed lease; checkpoints.

use super::backend::{Start, Stored};
use super::notices::NoticeEvent;
use super::{
    Page, RUN_LOCK_STRIPES, Record, RunFilter, RunStore, Sled, StoreError, WebhookStore, damage,
    encode, keys, lock,
};
use crate::model::{JobId, JobRun, Lease, RunId, RunStatus, TenantId};
use std::collections::HashMap;
use std::sync::MutexGuard;

impl RunStore for Sled {
    /// Index entries, then the record, then the queue (in memory; rebuilt
    /// from the pending runs on open).
    fn insert_run(&self, run: &JobRun) -> Result<(), StoreError> {
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

    fn run(&self, tenant: &TenantId, id: RunId) -> Result<Option<JobRun>, StoreError> {
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

    fn run_any_tenant(&self, id: RunId) -> Result<Option<JobRun>, StoreError> {
        match self.runs.get(id.bytes())? {
            Some(bytes) => Ok(Some(self.decode(Record::Run, &id.bytes(), &bytes)?)),
            None => Ok(None),
        }
    }

    fn list_runs(
        &self,
        tenant: &TenantId,
        filter: &RunFilter,
        cursor: Option<[u8; 16]>,
        limit: usize,
    ) -> Result<Page<JobRun>, StoreError> {
        self.page_of_runs(tenant, filter, cursor, limit)
    }

    fn latest_run(&self, tenant: &TenantId, job: JobId) -> Result<Option<JobRun>, StoreError> {
        self.newest_run_of_job(tenant, job)
    }

    fn run_exists(&self, id: RunId) -> Result<bool, StoreError> {
        Ok(self.runs.contains_key(id.bytes())?)
    }

    fn update_run(&self, expected: RunStatus, run: &JobRun) -> Result<(), StoreError> {
        self.update_run_if(expected, run, |_| Ok(()))
    }

    fn update_held(&self, run: &JobRun, holder: &str, attempt: u32) -> Result<(), StoreError> {
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

    fn take_over(
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

    /// Pops the queue in memory, reads the record and, if it is still
    /// pending, writes what `start` made of it: one conditional write of
    /// the record against the bytes read when it starts, the checked
    /// [`RunStore::update_run`] otherwise. A run gone or no longer pending
    /// (cancelled after it was queued) is passed over.
    fn claim_next(
        &self,
        running: &HashMap<TenantId, usize>,
        cap: usize,
        start: &mut Start<'_>,
    ) -> Result<Option<(JobRun, Stored)>, StoreError> {
        loop {
            let Some((id, _)) = self.queue.pop(running, cap) else {
                return Ok(None);
            };
            let Some((read, run)) = self.run_with_bytes(id)? else {
                continue;
            };
            if run.status != RunStatus::Pending {
                continue;
            }
            let run = start(run)?;
            if run.status != RunStatus::Running {
                self.update_run(RunStatus::Pending, &run)?;
                return Ok(Some((run, Stored(None))));
            }
            return match self.swap_run(&read, RunStatus::Pending, &run)? {
                Some(written) => Ok(Some((run, written))),
                None => Err(StoreError::Conflict),
            };
        }
    }

    /// At once when the record is still as `written` (see
    /// `Sled::finish_held`), else checked and written.
    fn end_attempt(
        &self,
        written: Option<&Stored>,
        run: &JobRun,
        holder: &str,
        attempt: u32,
    ) -> Result<(), StoreError> {
        if let Some(written) = written
            && self.finish_held(written, run)?
        {
            return Ok(());
        }
        self.update_held(run, holder, attempt)
    }

    fn queue_len(&self) -> Result<usize, StoreError> {
        Ok(self.queue.len())
    }

    /// In one pass over the open-run index. Entries that a crash left
    /// behind (no record, or a run that ended) are removed on the way;
    /// damaged runs are skipped.
    fn open_runs(&self) -> Result<Vec<JobRun>, StoreError> {
        let mut out = Vec::new();
        for key in self.run_index.scan_prefix(keys::OPEN_RUNS).keys() {
            let key = key?;
            // Kind, the tenant's length and name, then the id.
            let len = key
                .get(1..3)
                .map_or(0, |l| u16::from_be_bytes([l[0], l[1]]));
            let id = damage::run_in_key(Record::IndexEntry, &key, 3 + usize::from(len))?;
            let _run = self.run_lock(&id.bytes());
            match self.skip_damaged(self.run_any_tenant(id))? {
                Some(Some(run)) if !run.status.is_terminal() => out.push(run),
                Some(_) => {
                    self.run_index.remove(&key)?;
                }
                None => {}
            }
        }
        out.sort_by_key(|r| r.uuid.bytes());
        Ok(out)
    }

    fn save_checkpoint(&self, run: RunId, attempt: u32, state: &[u8]) -> Result<(), StoreError> {
        let id = run.bytes();
        let _run = self.run_lock(&id);
        let current = self.runs.get(id)?.ok_or(StoreError::Conflict)?;
        let current: JobRun = self.decode(Record::Run, &id, &current)?;
        if current.status != RunStatus::Running || current.attempt != attempt {
            return Err(StoreError::Stale {
                attempt,
                why: format!(
                    "the run is {} in attempt {}",
                    current.status.as_str(),
                    current.attempt
                ),
            });
        }
        self.checkpoints.insert(id, state)?;
        Ok(())
    }

    fn checkpoint(&self, run: RunId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.checkpoints.get(run.bytes())?.map(|v| v.to_vec()))
    }
}

impl Sled {
    /// A run whatever its tenant, with its stored form, to tell whether it
    /// changed since.
    fn run_with_bytes(&self, id: RunId) -> Result<Option<(Stored, JobRun)>, StoreError> {
        match self.runs.get(id.bytes())? {
            Some(bytes) => {
                let run = self.decode(Record::Run, &id.bytes(), &bytes)?;
                Ok(Some((Stored(Some(bytes)), run)))
            }
            None => Ok(None),
        }
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
        let Some(read) = &read.0 else {
            return Ok(None);
        };
        let id = run.uuid.bytes();
        let _run = self.run_lock(&id);
        let change = keys::status_change(&run.tenant, from, run.status, id);
        if let Some((added, _)) = &change {
            self.run_index.insert(added.as_slice(), &[])?;
        }
        let new = sled::IVec::from(encode(run));
        if self
            .runs
            .compare_and_swap(id, Some(read), Some(new.clone()))?
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
        Ok(Some(Stored(Some(new))))
    }

    /// Writes the end of an attempt (`run`, moved on from `running`) as the
    /// holder that wrote `written`, the record as it last wrote it: if the
    /// record is still that, the run is still the holder's, and no read or
    /// decode is needed. `false` when it changed since, or when the move
    /// queues a webhook or a notice: then [`RunStore::update_held`] checks and
    /// writes it.
    fn finish_held(&self, written: &Stored, run: &JobRun) -> Result<bool, StoreError> {
        let plain = run.status != RunStatus::Running
            && run.status != RunStatus::Paused
            && !(run.status.is_terminal() && run.callback_url.is_some());
        Ok(plain && self.swap_run(written, RunStatus::Running, run)?.is_some())
    }

    /// [`RunStore::update_run`] with a further condition on the stored run.
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

    /// [`Sled::update_run_if`] for a stored status that `expected` accepts.
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
