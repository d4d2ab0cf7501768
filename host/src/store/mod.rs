//! Storage on sled behind a typed interface: jobs, runs, their indexes, the
//! run queue and checkpoints. Callers see records and ids, never trees or
//! byte keys. Writes are applied at once and made durable by [`Store::flush`]
//! (group commit), which the API awaits before acknowledging.

mod commit;
mod keys;
mod list;

pub use list::{JobFilter, Page, RunFilter, SCAN_BUDGET, decode_cursor, encode_cursor};

use crate::model::{Job, JobId, JobRun, RunId, RunStatus, TenantId};
use commit::GroupCommit;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// Storage failures. Never the client's fault: the API answers 500 and logs.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed.
    #[error("storage: {0}")]
    Sled(#[from] sled::Error),
    /// A stored record does not decode.
    #[error("corrupt record {key}: {reason}")]
    Corrupt {
        /// Which record.
        key: String,
        /// Why.
        reason: String,
    },
    /// A conditional write found another state than expected.
    #[error("the record changed meanwhile")]
    Conflict,
}

/// The database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    jobs: sled::Tree,
    job_index: sled::Tree,
    runs: sled::Tree,
    run_index: sled::Tree,
    queue: sled::Tree,
    checkpoints: sled::Tree,
    commit: GroupCommit,
    /// Entries in `queue`, kept beside it because `Tree::len` walks the tree.
    queued: Arc<Mutex<usize>>,
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records always serialise")
}

fn decode<T: serde::de::DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: hex::encode(key),
        reason: e.to_string(),
    })
}

fn from_tx(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Sled(e),
    }
}

impl Store {
    /// Opens (creating) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            .open()?;
        let queue = db.open_tree("queue")?;
        let queued = Arc::new(Mutex::new(queue.len()));
        Ok(Store {
            jobs: db.open_tree("jobs")?,
            job_index: db.open_tree("job_index")?,
            runs: db.open_tree("runs")?,
            run_index: db.open_tree("run_index")?,
            queue,
            queued,
            checkpoints: db.open_tree("checkpoints")?,
            commit: GroupCommit::new(db.clone()),
            db,
        })
    }

    /// Waits until every write made so far is on disk.
    pub async fn flush(&self) -> Result<(), StoreError> {
        Ok(self.commit.flush().await?)
    }

    /// Flushes synchronously (shutdown).
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Saves a job (new or changed).
    pub fn put_job(&self, job: &Job) -> Result<(), StoreError> {
        let id = job.uuid.bytes();
        (&self.jobs, &self.job_index)
            .transaction(|(jobs, index)| {
                jobs.insert(&id, encode(job))?;
                index.insert(keys::with_id(keys::tenant_jobs(&job.tenant), id), &[])?;
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(from_tx)
    }

    /// A job of `tenant`; another tenant's job is `None`.
    pub fn job(&self, tenant: &TenantId, id: JobId) -> Result<Option<Job>, StoreError> {
        let Some(bytes) = self.jobs.get(id.bytes())? else {
            return Ok(None);
        };
        let job: Job = decode(&id.bytes(), &bytes)?;
        Ok((job.tenant == *tenant).then_some(job))
    }

    /// Saves a new run and queues it, in one transaction.
    pub fn insert_run(&self, run: &JobRun) -> Result<(), StoreError> {
        debug_assert_eq!(run.status, RunStatus::Pending);
        let id = run.uuid.bytes();
        let index_keys = keys::run_index_keys(
            &run.tenant,
            run.job_id,
            run.job_type.as_str(),
            run.status,
            run.uuid,
        );
        let mut queued = self.queue_lock();
        let added = (&self.runs, &self.run_index, &self.queue)
            .transaction(|(runs, index, queue)| {
                runs.insert(&id, encode(run))?;
                for k in &index_keys {
                    index.insert(k.as_slice(), &[])?;
                }
                let added = queue
                    .insert(&keys::queue_key(run.priority, run.uuid), &[])?
                    .is_none();
                Ok::<_, ConflictableTransactionError<StoreError>>(added)
            })
            .map_err(from_tx)?;
        *queued += usize::from(added);
        Ok(())
    }

    /// A run of `tenant`; another tenant's run is `None`.
    pub fn run(&self, tenant: &TenantId, id: RunId) -> Result<Option<JobRun>, StoreError> {
        Ok(self.run_any_tenant(id)?.filter(|r| r.tenant == *tenant))
    }

    /// A run whatever its tenant (workers and recovery).
    pub fn run_any_tenant(&self, id: RunId) -> Result<Option<JobRun>, StoreError> {
        match self.runs.get(id.bytes())? {
            Some(bytes) => Ok(Some(decode(&id.bytes(), &bytes)?)),
            None => Ok(None),
        }
    }

    /// Replaces a run if its stored status is still `expected`, moving its
    /// status index entries and (un)queueing it as its new status requires.
    pub fn update_run(&self, expected: RunStatus, run: &JobRun) -> Result<(), StoreError> {
        let id = run.uuid.bytes();
        let old_keys = keys::run_index_keys(
            &run.tenant,
            run.job_id,
            run.job_type.as_str(),
            expected,
            run.uuid,
        );
        let new_keys = keys::run_index_keys(
            &run.tenant,
            run.job_id,
            run.job_type.as_str(),
            run.status,
            run.uuid,
        );
        let queue_key = keys::queue_key(run.priority, run.uuid);
        let requeue = run.status == RunStatus::Pending;
        let mut queued = self.queue_lock();
        let delta = (&self.runs, &self.run_index, &self.queue)
            .transaction(|(runs, index, queue)| {
                let current = runs
                    .get(id)?
                    .ok_or(ConflictableTransactionError::Abort(StoreError::Conflict))?;
                let current: JobRun =
                    decode(&id, &current).map_err(ConflictableTransactionError::Abort)?;
                if current.status != expected {
                    return Err(ConflictableTransactionError::Abort(StoreError::Conflict));
                }
                runs.insert(&id, encode(run))?;
                for k in &old_keys {
                    index.remove(k.as_slice())?;
                }
                for k in &new_keys {
                    index.insert(k.as_slice(), &[])?;
                }
                let delta: isize = if requeue {
                    isize::from(queue.insert(&queue_key, &[])?.is_none())
                } else {
                    -isize::from(queue.remove(&queue_key)?.is_some())
                };
                Ok(delta)
            })
            .map_err(from_tx)?;
        *queued = queued.saturating_add_signed(delta);
        Ok(())
    }

    /// Takes the next queued run: highest priority, then oldest.
    pub fn pop_queue(&self) -> Result<Option<RunId>, StoreError> {
        let mut queued = self.queue_lock();
        let popped = self.queue.pop_min()?;
        if popped.is_some() {
            *queued = queued.saturating_sub(1);
        }
        Ok(popped.and_then(|(k, _)| RunId::from_slice(&k[4..])))
    }

    /// Every change to the queue tree happens under this lock and adjusts
    /// the count by what it did, so the count is exact.
    fn queue_lock(&self) -> MutexGuard<'_, usize> {
        self.queued.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs waiting in the queue.
    pub fn queue_len(&self) -> usize {
        *self.queue_lock()
    }

    /// Ids of runs in `status`, across tenants, oldest first.
    pub fn runs_in_status(&self, status: RunStatus) -> Result<Vec<RunId>, StoreError> {
        let prefix = keys::global_status(status);
        self.run_index
            .scan_prefix(&prefix)
            .keys()
            .map(|k| Ok(RunId::from_slice(&k?[prefix.len()..]).expect("16-byte id")))
            .collect()
    }

    /// Puts a pending run back in the queue (recovery).
    pub fn requeue(&self, run: &JobRun) -> Result<(), StoreError> {
        let mut queued = self.queue_lock();
        let added = self
            .queue
            .insert(keys::queue_key(run.priority, run.uuid), &[])?
            .is_none();
        *queued += usize::from(added);
        Ok(())
    }

    /// Replaces a run's checkpoint.
    pub fn save_checkpoint(&self, run: RunId, state: &[u8]) -> Result<(), StoreError> {
        self.checkpoints.insert(run.bytes(), state)?;
        Ok(())
    }

    /// A run's last checkpoint.
    pub fn checkpoint(&self, run: RunId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.checkpoints.get(run.bytes())?.map(|v| v.to_vec()))
    }
}

#[cfg(test)]
mod tests;
