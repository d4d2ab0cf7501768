//! Storage on sled behind a typed interface: jobs, runs, their indexes, the
//! run queue (in memory, rebuilt from the pending runs at open) and
//! checkpoints. Callers see records and ids, never trees or
//! byte keys. Writes are applied at once and made durable by [`Store::flush`]
//! (group commit), which the API awaits before acknowledging.
//!
//! No write uses a sled transaction or batch: in sled 0.34 each of those
//! seals and writes the log buffer twice, with a `sync_file_range` each time,
//! which made them most of the cost of a run. Instead every change is a
//! sequence of single-key writes in an order that a crash at any point
//! leaves readable: index entries are added before the record they point at
//! and removed after it changed, so an index may hold a stale entry but never
//! misses one. Readers check each record against what they asked for, and
//! the changes of one run are serialised by a lock striped over run ids.

mod commit;
mod damage;
mod idempotency;
mod keys;
mod layout;
mod list;
mod logs;
mod notices;
mod plugins;
pub mod postgres;
mod queue;
mod runs;
mod schedules;
mod secrets;
mod webhooks;

pub use damage::Record;
pub use idempotency::{Created, MAX_IDEMPOTENCY_KEY, Remembered};
pub use list::{JobFilter, Order, Page, RunFilter, SCAN_BUDGET, decode_cursor, encode_cursor};
pub use logs::{LogFilter, LogRecord};
pub use notices::{MAX_NOTICES_PER_RUN, Notice, NoticeEvent};
pub use runs::Stored;
pub use secrets::{MAX_SECRET_BYTES, MAX_SECRETS_PER_TENANT, SecretInfo};
pub use webhooks::WEBHOOK_STORE_TRIES;

use crate::events::EventHub;
use crate::metrics::Metrics;
use crate::model::{Job, JobId, JobRun, RunId, RunStatus, TenantId};
use commit::GroupCommit;
use queue::Queue;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// Storage failures. Never the client's fault: the API answers 500 and logs.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed.
    #[error("storage: {0}")]
    Sled(#[from] sled::Error),
    /// A stored record does not decode.
    #[error("the stored {record} {id} is damaged and cannot be read: {reason}")]
    Corrupt {
        /// What kind of record.
        record: Record,
        /// Which one.
        id: String,
        /// Why it does not decode.
        reason: String,
    },
    /// Tenants' secrets cannot be read or written.
    #[error("secrets: {0}")]
    Secrets(String),
    /// The tenant keeps as many secrets as allowed already.
    #[error("the tenant already keeps {max} secrets, the most allowed")]
    TooManySecrets {
        /// The cap.
        max: usize,
    },
    /// A task doing storage work ended without an answer (it panicked or
    /// was cancelled).
    #[error("a storage task failed: {0}")]
    Task(String),
    /// A conditional write found another state than expected.
    #[error("the record changed meanwhile")]
    Conflict,
    /// A write for an attempt that no longer holds the run (fencing).
    #[error("attempt {attempt} no longer holds the run: {why}")]
    Stale {
        /// The writer's attempt.
        attempt: u32,
        /// What holds it now.
        why: String,
    },
}

/// The database. Cloning it is cheap (one shared handle).
#[derive(Clone)]
pub struct Store(Arc<Trees>);

/// What a [`Store`] holds.
pub struct Trees {
    db: sled::Db,
    jobs: sled::Tree,
    job_index: sled::Tree,
    runs: sled::Tree,
    run_index: sled::Tree,
    queue: Queue,
    checkpoints: sled::Tree,
    /// Run log lines by run id and sequence number.
    run_logs: sled::Tree,
    /// Webhooks to deliver: run id → due time (Unix ms) and storage failures.
    webhooks: sled::Tree,
    /// Webhooks set aside after failing for storage reasons: run id → why.
    webhooks_aside: sled::Tree,
    /// Webhook notices (paused, resumed) by run id and sequence number.
    notices: sled::Tree,
    /// Webhook signing secrets by tenant.
    secrets: sled::Tree,
    /// Tenants' named secrets, sealed.
    tenant_secrets: sled::Tree,
    /// The key tenants' secrets are sealed with.
    vault: Option<Arc<crate::vault::Vault>>,
    /// Woken when a callback is queued.
    webhooks_ready: Arc<tokio::sync::Notify>,
    /// Plugin records by job type and version.
    plugins: sled::Tree,
    /// Registry events by UUIDv7.
    plugin_events: sled::Tree,
    /// First answers to requests with an idempotency key.
    idempotency: sled::Tree,
    /// Idempotency records by expiry time (Unix ms), for the sweep.
    idempotency_expiry: sled::Tree,
    /// Schedule states by job id.
    schedules: sled::Tree,
    commit: GroupCommit,
    /// Serialise the changes of one run (striped by id).
    run_locks: Arc<[Mutex<()>; RUN_LOCK_STRIPES]>,
    /// Where run changes are announced.
    events: Arc<EventHub>,
    /// Where damaged records are counted.
    metrics: Arc<Metrics>,
}

const RUN_LOCK_STRIPES: usize = 64;

impl std::ops::Deref for Store {
    type Target = Trees;

    fn deref(&self) -> &Trees {
        &self.0
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records always serialise")
}

impl Store {
    /// Opens (creating) the database in `dir`, with metrics of its own.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Store::open_with(dir, Arc::default())
    }

    /// Opens (creating) the database in `dir`, counting damaged records in `metrics`.
    pub fn open_with(dir: &Path, metrics: Arc<Metrics>) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            .open()?;
        let store = Trees {
            jobs: db.open_tree("jobs")?,
            job_index: db.open_tree("job_index")?,
            runs: db.open_tree("runs")?,
            run_index: db.open_tree("run_index")?,
            queue: Queue::default(),
            checkpoints: db.open_tree("checkpoints")?,
            run_logs: db.open_tree("run_logs")?,
            // On-disk names from before the deliveries were called webhooks.
            webhooks: db.open_tree("callbacks")?,
            webhooks_aside: db.open_tree("callbacks_aside")?,
            notices: db.open_tree("webhook_notices")?,
            secrets: db.open_tree("webhook_secrets")?,
            tenant_secrets: db.open_tree("tenant_secrets")?,
            vault: None,
            webhooks_ready: Arc::new(tokio::sync::Notify::new()),
            plugins: db.open_tree("plugins")?,
            plugin_events: db.open_tree("plugin_events")?,
            idempotency: db.open_tree("idempotency")?,
            idempotency_expiry: db.open_tree("idempotency_expiry")?,
            schedules: db.open_tree("schedules")?,
            run_locks: Arc::new(std::array::from_fn(|_| Mutex::new(()))),
            events: Arc::new(EventHub::default()),
            commit: GroupCommit::new(db.clone()),
            metrics,
            db,
        };
        let opened = Store(Arc::new(store));
        layout::upgrade(&opened)?;
        let queue = Queue::default();
        for run in opened.runs_in_status(RunStatus::Pending)? {
            queue.push(&run);
        }
        let mut store = Arc::into_inner(opened.0).expect("not shared yet");
        store.queue = queue;
        Ok(Store(Arc::new(store)))
    }

    /// Seals and opens tenants' secrets with `vault` from now on (set it
    /// before the store is cloned).
    pub fn set_vault(&mut self, vault: Arc<crate::vault::Vault>) {
        Arc::get_mut(&mut self.0)
            .expect("the vault is set before the store is cloned")
            .vault = Some(vault);
    }

    /// The event hub run changes are published to.
    pub fn events(&self) -> &Arc<EventHub> {
        &self.events
    }

    /// Whether the database answers a read (readiness).
    pub fn check(&self) -> Result<(), StoreError> {
        self.runs.first()?;
        Ok(())
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

    /// Saves a job (new or changed): its index entry first, then the record.
    pub fn put_job(&self, job: &Job) -> Result<(), StoreError> {
        let id = job.uuid.bytes();
        self.job_index
            .insert(keys::with_id(keys::tenant_jobs(&job.tenant), id), &[])?;
        self.jobs.insert(id, encode(job))?;
        Ok(())
    }

    /// A job of `tenant`; another tenant's job is `None`. A damaged job is
    /// [`StoreError::Corrupt`] to its own tenant (found by the index, as the
    /// record cannot say) and `None` to any other.
    pub fn job(&self, tenant: &TenantId, id: JobId) -> Result<Option<Job>, StoreError> {
        let Some(bytes) = self.jobs.get(id.bytes())? else {
            return Ok(None);
        };
        match self.decode::<Job>(Record::Job, &id.bytes(), &bytes) {
            Ok(job) => Ok((job.tenant == *tenant).then_some(job)),
            Err(e) => self.owned_damage(&self.job_index, keys::tenant_jobs(tenant), id.bytes(), e),
        }
    }

    /// What reading a damaged record `id` answers `tenant`: the damage when
    /// the tenant's index holds the id, else nothing (another tenant's).
    fn owned_damage<T>(
        &self,
        index: &sled::Tree,
        tenant_prefix: Vec<u8>,
        id: [u8; 16],
        damage: StoreError,
    ) -> Result<Option<T>, StoreError> {
        if index.contains_key(keys::with_id(tenant_prefix, id))? {
            Err(damage)
        } else {
            Ok(None)
        }
    }

    /// Takes the next queued run regardless of tenant: highest priority,
    /// then oldest.
    pub fn pop_queue(&self) -> Result<Option<RunId>, StoreError> {
        let next = self.queue.pop(&HashMap::new(), usize::MAX);
        Ok(next.map(|(id, _)| id))
    }

    /// Takes the next queued run fairly between tenants: of the tenants with
    /// fewer than `cap` runs `running`, the one running the fewest goes
    /// first; each tenant's runs by priority, then oldest.
    pub fn pop_fair(
        &self,
        running: &HashMap<TenantId, usize>,
        cap: usize,
    ) -> Result<Option<(RunId, TenantId)>, StoreError> {
        Ok(self.queue.pop(running, cap))
    }

    /// Runs waiting in the queue.
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// Runs in `status` (pending, running or paused), across tenants, oldest
    /// first: [`Store::open_runs`], filtered.
    pub fn runs_in_status(&self, status: RunStatus) -> Result<Vec<JobRun>, StoreError> {
        let mut runs = self.open_runs()?;
        runs.retain(|r| r.status == status);
        Ok(runs)
    }

    /// Every open run (pending, running or paused), across tenants, oldest
    /// first, in one pass over the open-run index. Entries that a crash left
    /// behind (no record, or a run that ended) are removed on the way;
    /// damaged runs are skipped.
    pub fn open_runs(&self) -> Result<Vec<JobRun>, StoreError> {
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

    /// Replaces a run's checkpoint, as attempt `attempt` running it: refused
    /// with [`StoreError::Stale`] once the run has moved on.
    pub fn save_checkpoint(
        &self,
        run: RunId,
        attempt: u32,
        state: &[u8],
    ) -> Result<(), StoreError> {
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

    /// A run's last checkpoint.
    pub fn checkpoint(&self, run: RunId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.checkpoints.get(run.bytes())?.map(|v| v.to_vec()))
    }
}

#[cfg(test)]
mod queue_tests;
#[cfg(test)]
mod roundtrip;
#[cfg(test)]
pub(crate) mod tests;
