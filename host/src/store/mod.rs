//! Storage behind typed traits ([`Backend`]: jobs, runs and their queue,
//! logs, webhooks, notices, plugins, secrets, schedules, idempotency
//! records), held by the server as one [`Store`]. Callers see records and
//! ids, never trees, rows or byte keys. Writes are applied at once and made
//! durable by [`Backend::flush`], which the API awaits before acknowledging.
//!
//! Two backends: [`Sled`] (the default; embedded, one host) and
//! [`postgres::Postgres`]. On sled the run queue is in memory, rebuilt from
//! the pending runs at open, and writes are committed in groups. No sled
//! write uses a transaction or batch: in sled 0.34 each of those seals and
//! writes the log buffer twice, with a `sync_file_range` each time, which
//! made them most of the cost of a run. Instead every change is a sequence
//! of single-key writes in an order that a crash at any point leaves
//! readable: index entries are added before the record they point at and
//! removed after it changed, so an index may hold a stale entry but never
//! misses one. Readers check each record against what they asked for, and
//! the changes of one run are serialised by a lock striped over run ids.

mod asks;
mod backend;
mod commit;
mod damage;
mod idempotency;
mod jobs;
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

pub use asks::{Answer, Ask, AskStore, Asked};
pub use backend::{
    Backend, Duty, IdempotencyStore, JobStore, LogStore, NoticeStore, PluginStore, RunStore,
    ScheduleStore, SecretStore, Start, StoreFuture, Stored, WebhookStore,
};
pub use damage::Record;
pub use idempotency::{Created, KeyHold, MAX_IDEMPOTENCY_KEY, Remembered, idempotency_slot};
pub use list::{JobFilter, Order, Page, RunFilter, SCAN_BUDGET, decode_cursor, encode_cursor};
pub use logs::{LogFilter, LogRecord};
pub use notices::{MAX_NOTICES_PER_RUN, Notice, NoticeEvent};
pub use secrets::{MAX_SECRET_BYTES, MAX_SECRETS_PER_TENANT, SecretInfo};
pub use webhooks::WEBHOOK_STORE_TRIES;

use crate::events::EventHub;
use crate::metrics::Metrics;
use crate::model::{RunId, RunStatus, TenantId};
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
    /// PostgreSQL failed.
    #[error(transparent)]
    Database(postgres::DatabaseError),
}

impl From<postgres::DatabaseError> for StoreError {
    fn from(e: postgres::DatabaseError) -> Self {
        use postgres::DatabaseError as E;
        match e {
            E::Stale { attempt, why } => StoreError::Stale { attempt, why },
            E::Conflict => StoreError::Conflict,
            E::Corrupt { record, id, reason } => StoreError::Corrupt { record, id, reason },
            other => StoreError::Database(other),
        }
    }
}

/// The store the host runs on: a [`Backend`] behind one shared handle.
/// Cloning it is cheap. Its methods are the backend's traits'
/// (`use crate::store::prelude::*`).
#[derive(Clone)]
pub struct Store(Arc<dyn Backend>);

impl Store {
    /// Opens (creating) the sled database in `dir`, with metrics of its own.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Ok(Sled::open(dir)?.into())
    }
}

impl From<Sled> for Store {
    fn from(sled: Sled) -> Self {
        Store(Arc::new(sled))
    }
}

impl From<postgres::Postgres> for Store {
    fn from(pg: postgres::Postgres) -> Self {
        Store(Arc::new(pg))
    }
}

impl std::ops::Deref for Store {
    type Target = dyn Backend;

    fn deref(&self) -> &(dyn Backend + 'static) {
        &*self.0
    }
}

/// The traits a [`Store`]'s methods come from, for `use ...::prelude::*`.
pub mod prelude {
    pub use super::asks::AskStore;
    pub use super::backend::{
        Backend, IdempotencyStore, JobStore, LogStore, NoticeStore, PluginStore, RunStore,
        ScheduleStore, SecretStore, WebhookStore,
    };
}

/// The embedded backend: sled in a local directory, one host. Cloning it
/// is cheap (one shared handle).
#[derive(Clone)]
pub struct Sled(Arc<Trees>);

/// What a [`Sled`] holds.
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

impl std::ops::Deref for Sled {
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

impl Sled {
    /// Opens (creating) the database in `dir`, with metrics of its own.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Sled::open_with(dir, Arc::default())
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
        let opened = Sled(Arc::new(store));
        layout::upgrade(&opened)?;
        let queue = Queue::default();
        for run in RunStore::runs_in_status(&opened, RunStatus::Pending)? {
            queue.push(&run);
        }
        let mut store = Arc::into_inner(opened.0).expect("not shared yet");
        store.queue = queue;
        Ok(Sled(Arc::new(store)))
    }

    /// Seals and opens tenants' secrets with `vault` from now on (set it
    /// before the store is cloned).
    pub fn set_vault(&mut self, vault: Arc<crate::vault::Vault>) {
        Arc::get_mut(&mut self.0)
            .expect("the vault is set before the store is cloned")
            .vault = Some(vault);
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
}

impl Backend for Sled {
    fn events(&self) -> &Arc<EventHub> {
        &self.events
    }

    fn check(&self) -> Result<(), StoreError> {
        self.runs.first()?;
        Ok(())
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move { Ok(self.commit.flush().await?) })
    }

    fn flush_blocking(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod queue_tests;
#[cfg(test)]
mod roundtrip;
#[cfg(test)]
pub(crate) mod tests;
