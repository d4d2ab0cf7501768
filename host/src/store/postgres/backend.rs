//! The store's traits on PostgreSQL ([`Postgres`]): each call runs its
//! queries on the pool and waits for them, as the store's callers are
//! synchronous (workers are threads; request handlers call the store
//! inline). On a thread of a multi-threaded runtime the wait hands that
//! thread's other tasks on (`block_in_place`); elsewhere it blocks.
//!
//! Jobs and runs (with their queue, leases and checkpoints) are here; the
//! other traits are in the modules named for what they store.

use super::{Database, DatabaseError};
use crate::events::EventHub;
use crate::identity::HostId;
use crate::metrics::Metrics;
use crate::model::{Job, JobId, JobRun, Lease, RunId, RunStatus, TenantId, Timestamp};
use crate::store::{Backend, Duty, StoreFuture};
use crate::store::{JobFilter, JobStore, Page, RunFilter, RunStore, Start, StoreError, Stored};
use crate::vault::Vault;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::runtime::{Handle, RuntimeFlavor};

/// The store on a PostgreSQL database that several hosts may share.
pub struct Postgres {
    db: Database,
    /// The runtime the pool's connections were opened on.
    runtime: Handle,
    /// Where this host's run changes are announced.
    events: Arc<EventHub>,
    /// Where this host counts what it meets.
    metrics: Arc<Metrics>,
    /// What tenants' secrets are sealed with.
    vault: Option<Arc<Vault>>,
    /// Woken when this host queues a webhook or a notice.
    webhooks_ready: tokio::sync::Notify,
    /// The connections holding the duties this host does (see
    /// [`Backend::holds`]).
    duties: Mutex<HashMap<Duty, DutyLock>>,
    /// The connection holding this host's id (see [`Postgres::open`]).
    _presence: Option<deadpool_postgres::ClientWrapper>,
}

/// The advisory lock a serving host holds on its id: the first 8 bytes of
/// SHA-256("jobhost host " + id).
fn host_lock(host: &HostId) -> i64 {
    super::advisory_key(&format!("jobhost host {host}"))
}

/// A connection kept for a duty: holding its lock, or having tried to.
struct DutyLock {
    client: deadpool_postgres::ClientWrapper,
    held: bool,
    tried: std::time::Instant,
}

/// How often a host asks again for a duty another host holds.
const DUTY_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// The session advisory lock of a duty: "jobhost" and the duty's initial
/// in ASCII.
fn duty_lock(duty: Duty) -> i64 {
    match duty {
        Duty::Schedules => 0x6a6f_6268_6f73_7473,
        Duty::Deliveries => 0x6a6f_6268_6f73_7464,
    }
}

impl Postgres {
    /// The store on `db`, whose connections live on `runtime`, counting
    /// what it meets in `metrics`.
    pub fn new(db: Database, runtime: Handle, metrics: Arc<Metrics>) -> Self {
        Postgres {
            db,
            runtime,
            events: Arc::default(),
            metrics,
            vault: None,
            webhooks_ready: tokio::sync::Notify::new(),
            duties: Mutex::default(),
            _presence: None,
        }
    }

    /// The store on `db` for a server, as `host`: [`Postgres::new`], its
    /// event hub sharing the database's event log with the other hosts
    /// (see `events`). Any number of hosts may open one database, each
    /// with an id of its own: while this store lives it holds an advisory
    /// lock on `host`, and a second host with the same id is refused.
    pub async fn open(
        db: Database,
        runtime: Handle,
        metrics: Arc<Metrics>,
        host: &HostId,
    ) -> Result<Self, DatabaseError> {
        let key = host_lock(host);
        let (presence, held) = db.try_hold(None, key, "taking this host's id").await?;
        if !held {
            return Err(DatabaseError::HostIdInUse {
                host: host.to_string(),
                target: db.target().to_string(),
            });
        }
        let mut pg = Postgres::new(db, runtime, metrics);
        pg._presence = Some(presence);
        super::events::share(&pg.db, &pg.events).await?;
        Ok(pg)
    }

    /// Seals and opens tenants' secrets with `vault` from now on.
    pub fn set_vault(&mut self, vault: Arc<Vault>) {
        self.vault = Some(vault);
    }

    pub(super) fn vault(&self) -> Option<&Vault> {
        self.vault.as_deref()
    }

    pub(super) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub(super) fn ready(&self) -> &tokio::sync::Notify {
        &self.webhooks_ready
    }

    /// The runtime the pool's connections live on.
    pub(super) fn runtime(&self) -> &Handle {
        &self.runtime
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Waits for `work` from synchronous code: on a thread of a
    /// multi-threaded runtime in place (`block_in_place`), on a thread
    /// inside a single-threaded one (a plugin's host call) from a helper
    /// thread, elsewhere directly.
    pub(super) fn wait<T: Send>(
        &self,
        work: impl Future<Output = Result<T, DatabaseError>> + Send,
    ) -> Result<T, StoreError> {
        let done = match Handle::try_current() {
            Err(_) => self.runtime.block_on(work),
            Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| self.runtime.block_on(work))
            }
            Ok(_) => std::thread::scope(|s| {
                s.spawn(|| self.runtime.block_on(work))
                    .join()
                    .map_err(|_| StoreError::Task("a database call panicked".into()))
            })?,
        };
        Ok(done?)
    }
}

impl JobStore for Postgres {
    fn put_job(&self, job: &Job) -> Result<(), StoreError> {
        self.wait(self.db.put_job(job))
    }

    fn job(&self, tenant: &TenantId, id: JobId) -> Result<Option<Job>, StoreError> {
        self.wait(self.db.job(tenant, id))
    }

    fn list_jobs(
        &self,
        tenant: &TenantId,
        filter: &JobFilter,
        cursor: Option<[u8; 16]>,
        limit: usize,
    ) -> Result<Page<Job>, StoreError> {
        self.wait(self.db.list_jobs(tenant, filter, cursor, limit))
    }
}

impl RunStore for Postgres {
    fn insert_run(&self, run: &JobRun) -> Result<(), StoreError> {
        self.wait(self.db.insert_run(run))?;
        self.events.run_status(run);
        Ok(())
    }

    fn run(&self, tenant: &TenantId, id: RunId) -> Result<Option<JobRun>, StoreError> {
        self.wait(self.db.run(tenant, id))
    }

    fn run_any_tenant(&self, id: RunId) -> Result<Option<JobRun>, StoreError> {
        self.wait(self.db.run_any_tenant(id))
    }

    fn run_exists(&self, id: RunId) -> Result<bool, StoreError> {
        self.wait(self.db.run_exists(id))
    }

    fn update_run(&self, expected: RunStatus, run: &JobRun) -> Result<(), StoreError> {
        let before = self.wait(self.db.update_run(expected, run))?;
        self.announce(&before, run);
        Ok(())
    }

    fn update_held(&self, run: &JobRun, holder: &str, attempt: u32) -> Result<(), StoreError> {
        let before = self.wait(self.db.update_held(holder, attempt, run))?;
        self.announce(&before, run);
        Ok(())
    }

    fn take_over(
        &self,
        run: &JobRun,
        attempt: u32,
        lease: Option<&Lease>,
    ) -> Result<(), StoreError> {
        let before = self.wait(self.db.take_over(run, attempt, lease))?;
        self.announce(&before, run);
        Ok(())
    }

    /// The cap is counted across every host from the database; `running`
    /// (this host's count) is not needed. `start` is called between the
    /// claim's statements, with the run locked, never inside a query.
    fn claim_next(
        &self,
        _running: &HashMap<TenantId, usize>,
        cap: usize,
        start: &mut Start<'_>,
    ) -> Result<Option<(JobRun, Stored)>, StoreError> {
        let Some(taking) = self.wait(self.db.begin_claim(cap))? else {
            return Ok(None);
        };
        let run = start(taking.run().clone())?;
        self.wait(taking.start(&run))?;
        self.events.run_status(&run);
        Ok(Some((run, Stored(None))))
    }

    fn end_attempt(
        &self,
        _written: Option<&Stored>,
        run: &JobRun,
        holder: &str,
        attempt: u32,
    ) -> Result<(), StoreError> {
        self.update_held(run, holder, attempt)
    }

    fn queue_len(&self) -> Result<usize, StoreError> {
        let pending = self.wait(self.db.count_pending())?;
        Ok(usize::try_from(pending).unwrap_or(0))
    }

    fn open_runs(&self) -> Result<Vec<JobRun>, StoreError> {
        self.wait(self.db.open_runs())
    }

    fn lost_attempts(&self, held: &[(RunId, u32)]) -> Result<Vec<RunId>, StoreError> {
        if held.is_empty() {
            return Ok(Vec::new());
        }
        self.wait(self.db.lost_attempts(held))
    }

    fn lapsed_leases(&self, now: Timestamp, limit: usize) -> Result<Vec<RunId>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.wait(self.db.lapsed_leases(now, limit))
    }

    fn list_runs(
        &self,
        tenant: &TenantId,
        filter: &RunFilter,
        cursor: Option<[u8; 16]>,
        limit: usize,
    ) -> Result<Page<JobRun>, StoreError> {
        self.wait(self.db.list_runs(tenant, filter, cursor, limit))
    }

    fn latest_run(&self, tenant: &TenantId, job: JobId) -> Result<Option<JobRun>, StoreError> {
        self.wait(self.db.latest_run(tenant, job))
    }

    fn save_checkpoint(&self, run: RunId, attempt: u32, state: &[u8]) -> Result<(), StoreError> {
        self.wait(self.db.save_checkpoint(run, attempt, state))
    }

    fn checkpoint(&self, run: RunId) -> Result<Option<Vec<u8>>, StoreError> {
        self.wait(self.db.checkpoint(run))
    }
}

impl Postgres {
    /// Announces a write over `before` on this host's hub: a change of
    /// status, or of progress.
    fn announce(&self, before: &JobRun, run: &JobRun) {
        if run.status != before.status {
            if run.callback_url.is_some() {
                // A webhook or notice may have been queued with it.
                self.webhooks_ready.notify_one();
            }
            self.events.run_status(run);
        } else if (run.progress, &run.progress_message)
            != (before.progress, &before.progress_message)
        {
            self.events.run_progress(run);
        }
    }
}

impl Backend for Postgres {
    fn events(&self) -> &Arc<EventHub> {
        &self.events
    }

    fn check(&self) -> Result<(), StoreError> {
        let db = &self.db;
        self.wait(async {
            let client = db.client().await?;
            client
                .simple_query("SELECT 1")
                .await
                .map_err(|e| db.refused("a health check", &e))?;
            Ok(())
        })
    }

    /// Every write committed before it returned: nothing to wait for.
    fn flush(&self) -> StoreFuture<'_, ()> {
        Box::pin(std::future::ready(Ok(())))
    }

    fn flush_blocking(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn shared(&self) -> bool {
        true
    }

    /// A duty is held with a session advisory lock on a connection of its
    /// own: while that connection is open, no other host takes the duty;
    /// when it closes (the host stopped, or lost the database) the lock is
    /// released and the next host asking takes it.
    fn holds(&self, duty: Duty) -> bool {
        let taken = self
            .duties
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&duty);
        let client = match taken {
            Some(lock) if lock.client.is_closed() => {
                if lock.held {
                    tracing::warn!(
                        duty = duty.describe(),
                        "the connection holding a duty of this host closed"
                    );
                }
                None
            }
            Some(lock) if lock.held || lock.tried.elapsed() < DUTY_RETRY => {
                let held = lock.held;
                self.put_duty(duty, lock);
                return held;
            }
            Some(lock) => Some(lock.client),
            None => None,
        };
        let what = "taking a duty";
        match self.wait(self.db.try_hold(client, duty_lock(duty), what)) {
            Ok((client, held)) => {
                if held {
                    tracing::info!(duty = duty.describe(), "this host took a duty");
                }
                let tried = std::time::Instant::now();
                self.put_duty(
                    duty,
                    DutyLock {
                        client,
                        held,
                        tried,
                    },
                );
                held
            }
            Err(e) => {
                tracing::warn!(duty = duty.describe(), error = %e, "taking a duty failed");
                false
            }
        }
    }
}

impl Postgres {
    fn put_duty(&self, duty: Duty, lock: DutyLock) {
        self.duties
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(duty, lock);
    }
}
