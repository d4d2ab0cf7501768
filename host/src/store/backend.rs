//! What a storage backend offers, as traits grouped by what they store:
//! jobs, runs and their queue, run logs, webhook deliveries, notices,
//! published plugins, tenants' secrets, schedules and idempotency records.
//! [`Backend`] is all of them; [`super::Store`] holds one behind an `Arc`.
//!
//! Every method is synchronous: workers are plain threads and request
//! handlers call the store inline. A write is applied when it returns and
//! durable once [`Backend::flush`] has answered (sled commits in groups; a
//! backend that commits each write makes `flush` free). Methods take plain
//! records and ids, never a backend's keys or rows.

use super::{
    AskStore, JobFilter, KeyHold, LogFilter, LogRecord, Notice, Page, Remembered, RunFilter,
    SecretInfo, StoreError,
};
use crate::events::EventHub;
use crate::model::{
    Job, JobId, JobRun, Lease, PluginRecord, RegistryEvent, RunId, RunStatus, ScheduleState,
    TenantId, Timestamp,
};
use crate::runtime::SecretValue;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A future answered by a backend.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A record as a backend last wrote it, which the writer hands back to
/// finish an attempt without reading the record again when it did not
/// change meanwhile (a backend without that shortcut keeps nothing here).
pub struct Stored(pub(crate) Option<sled::IVec>);

/// Builds the record a queued run is taken as: `running` under the
/// taker's lease, or ended (its job type version is not loaded, say).
pub type Start<'a> = dyn FnMut(JobRun) -> Result<JobRun, StoreError> + 'a;

/// Jobs: saved configs.
pub trait JobStore {
    /// Saves a job (new or changed).
    fn put_job(&self, job: &Job) -> Result<(), StoreError>;

    /// A job of `tenant`; another tenant's job is `None`. A damaged job is
    /// [`StoreError::Corrupt`] to its own tenant and `None` to any other.
    fn job(&self, tenant: &TenantId, id: JobId) -> Result<Option<Job>, StoreError>;

    /// A page of `tenant`'s jobs matching `filter`, in its order, after
    /// `cursor` (the last id of the previous page).
    fn list_jobs(
        &self,
        tenant: &TenantId,
        filter: &JobFilter,
        cursor: Option<[u8; 16]>,
        limit: usize,
    ) -> Result<Page<Job>, StoreError>;
}

/// Runs, their queue, leases and checkpoints.
pub trait RunStore {
    /// Saves a new (pending) run and queues it.
    fn insert_run(&self, run: &JobRun) -> Result<(), StoreError>;

    /// A run of `tenant`; another tenant's run is `None`. A damaged run is
    /// [`StoreError::Corrupt`] to its own tenant and `None` to any other.
    fn run(&self, tenant: &TenantId, id: RunId) -> Result<Option<JobRun>, StoreError>;

    /// A run whatever its tenant (workers and recovery).
    fn run_any_tenant(&self, id: RunId) -> Result<Option<JobRun>, StoreError>;

    /// Whether a run exists, whatever its tenant or state.
    fn run_exists(&self, id: RunId) -> Result<bool, StoreError>;

    /// Replaces a run if its stored status is still `expected`
    /// ([`StoreError::Conflict`] otherwise), queueing or unqueueing it as its
    /// new status requires. A write carrying an older attempt than the
    /// stored one is [`StoreError::Stale`]: attempts only grow.
    fn update_run(&self, expected: RunStatus, run: &JobRun) -> Result<(), StoreError>;

    /// Writes a run's new state as `holder`, the worker holding its lease
    /// for attempt `attempt`: refused with [`StoreError::Stale`] unless the
    /// stored run is `running` (or `paused` in memory) in that attempt under
    /// that holder.
    fn update_held(&self, run: &JobRun, holder: &str, attempt: u32) -> Result<(), StoreError>;

    /// Writes the new state of a `running` (or `paused` in memory) run taken
    /// from a worker that no longer holds it, unless its attempt or lease
    /// changed since it was read as `attempt` and `lease`
    /// ([`StoreError::Conflict`] then).
    fn take_over(
        &self,
        run: &JobRun,
        attempt: u32,
        lease: Option<&Lease>,
    ) -> Result<(), StoreError>;

    /// Takes the next queued run fairly between tenants: of the tenants
    /// with fewer than `cap` runs executing (`running` counts this host's),
    /// the one executing the fewest goes first; each tenant's runs by
    /// priority, then oldest. `start` builds the record the run is taken
    /// as, which is written in its place. `None` when nothing may be taken;
    /// [`StoreError::Conflict`] when the run changed while `start` built it
    /// (cancelled, say): whatever `start` set up is then the caller's to
    /// undo. The record as written comes back with what
    /// [`RunStore::end_attempt`] takes.
    fn claim_next(
        &self,
        running: &HashMap<TenantId, usize>,
        cap: usize,
        start: &mut Start<'_>,
    ) -> Result<Option<(JobRun, Stored)>, StoreError>;

    /// Writes the end of an attempt (`run`, moved on from `running`) as
    /// `holder` in `attempt`, fenced like [`RunStore::update_held`];
    /// `written` is what the claim (or the holder's last write) returned.
    fn end_attempt(
        &self,
        written: Option<&Stored>,
        run: &JobRun,
        holder: &str,
        attempt: u32,
    ) -> Result<(), StoreError>;

    /// Runs waiting in the queue.
    fn queue_len(&self) -> Result<usize, StoreError>;

    /// Every open run (pending, running or paused), across tenants, oldest
    /// first.
    fn open_runs(&self) -> Result<Vec<JobRun>, StoreError>;

    /// Of the attempts `held` (run, attempt) a host executes, those whose
    /// run no longer is in that attempt, running or paused: another host
    /// cancelled it or took it over. A store only one host uses lists none
    /// (its host changes its runs itself).
    fn lost_attempts(&self, held: &[(RunId, u32)]) -> Result<Vec<RunId>, StoreError> {
        let _ = held;
        Ok(Vec::new())
    }

    /// Up to `limit` runs held under a lease that lapsed by `now` (running,
    /// or paused in memory), oldest lapse first. A store only one host uses
    /// lists none: that host watches every lease it gave.
    fn lapsed_leases(&self, now: Timestamp, limit: usize) -> Result<Vec<RunId>, StoreError> {
        let _ = (now, limit);
        Ok(Vec::new())
    }

    /// Runs in `status` (pending, running or paused), across tenants,
    /// oldest first.
    fn runs_in_status(&self, status: RunStatus) -> Result<Vec<JobRun>, StoreError> {
        let mut runs = self.open_runs()?;
        runs.retain(|r| r.status == status);
        Ok(runs)
    }

    /// A page of `tenant`'s runs matching `filter`, in its order, after
    /// `cursor` (the last id of the previous page).
    fn list_runs(
        &self,
        tenant: &TenantId,
        filter: &RunFilter,
        cursor: Option<[u8; 16]>,
        limit: usize,
    ) -> Result<Page<JobRun>, StoreError>;

    /// The newest run of a job.
    fn latest_run(&self, tenant: &TenantId, job: JobId) -> Result<Option<JobRun>, StoreError>;

    /// Runs of a job that are pending, running or paused: every page of
    /// [`RunStore::list_runs`] with those statuses.
    fn active_runs_of_job(&self, tenant: &TenantId, job: JobId) -> Result<Vec<JobRun>, StoreError> {
        let filter = RunFilter {
            job_id: Some(job),
            statuses: RunStatus::ACTIVE.to_vec(),
            ..RunFilter::default()
        };
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.list_runs(tenant, &filter, cursor, 100)?;
            out.extend(page.items);
            match page.next_cursor.as_deref().and_then(super::decode_cursor) {
                Some(c) => cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// Replaces a run's checkpoint, as attempt `attempt` running it: refused
    /// with [`StoreError::Stale`] once the run has moved on.
    fn save_checkpoint(&self, run: RunId, attempt: u32, state: &[u8]) -> Result<(), StoreError>;

    /// A run's last checkpoint.
    fn checkpoint(&self, run: RunId) -> Result<Option<Vec<u8>>, StoreError>;
}

/// Run log lines.
pub trait LogStore {
    /// Appends a line to a run's log.
    fn append_log(&self, run: RunId, line: &LogRecord) -> Result<(), StoreError>;

    /// The sequence number the run's next line gets.
    fn next_log_seq(&self, run: RunId) -> Result<u32, StoreError>;

    /// Up to `limit` of a run's lines matching `filter`, looking at no more
    /// than `budget` lines; with the sequence number to go on from when
    /// there may be more.
    fn logs(
        &self,
        run: RunId,
        filter: &LogFilter,
        limit: usize,
        budget: usize,
    ) -> Result<(Vec<LogRecord>, Option<u32>), StoreError>;

    /// Drops log lines written before `cutoff_ms` (Unix ms); how many.
    fn drop_logs_before(&self, cutoff_ms: u64) -> Result<usize, StoreError>;
}

/// Webhook deliveries of ended runs and the tenants' signing secrets.
pub trait WebhookStore {
    /// Queues the webhook of an ended run, due at `due_ms` (Unix ms).
    fn queue_webhook(&self, run: RunId, due_ms: u64) -> Result<(), StoreError>;

    /// Webhooks waiting: run and due time.
    fn queued_webhooks(&self) -> Result<Vec<(RunId, u64)>, StoreError>;

    /// A run's webhook was delivered (or given up).
    fn done_webhook(&self, run: RunId) -> Result<(), StoreError>;

    /// A delivery failed for a storage reason: due again after
    /// `backoff_ms`, or set aside (`None`) after too many such failures.
    fn webhook_failed(
        &self,
        run: RunId,
        now_ms: u64,
        backoff_ms: u64,
        why: &str,
    ) -> Result<Option<u64>, StoreError>;

    /// Webhooks set aside, with why.
    fn webhooks_set_aside(&self) -> Result<Vec<(RunId, serde_json::Value)>, StoreError>;

    /// Woken when a webhook is queued.
    fn webhooks_ready(&self) -> &tokio::sync::Notify;

    /// A tenant's webhook signing secret, made on first use.
    fn webhook_secret(&self, tenant: &TenantId) -> Result<String, StoreError>;
}

/// Notices of paused and resumed runs, waiting for delivery in order per
/// run.
pub trait NoticeStore {
    /// Notices waiting: run, sequence number and due time.
    fn queued_notices(&self) -> Result<Vec<(RunId, u64, u64)>, StoreError>;

    /// One waiting notice.
    fn notice(&self, run: RunId, seq: u64) -> Result<Option<Notice>, StoreError>;

    /// Puts a notice back, changed (a failed delivery, due later).
    fn requeue_notice(&self, run: RunId, seq: u64, notice: &Notice) -> Result<(), StoreError>;

    /// A notice was delivered (or given up).
    fn done_notice(&self, run: RunId, seq: u64) -> Result<(), StoreError>;
}

/// Published plugins and the registry's event log.
pub trait PluginStore {
    /// Saves a plugin record (new or changed).
    fn put_plugin(&self, record: &PluginRecord) -> Result<(), StoreError>;

    /// One version of a job type.
    fn plugin(
        &self,
        job_type: &str,
        version: &semver::Version,
    ) -> Result<Option<PluginRecord>, StoreError>;

    /// Every plugin record.
    fn plugins(&self) -> Result<Vec<PluginRecord>, StoreError>;

    /// Deletes one version of a job type.
    fn delete_plugin(&self, job_type: &str, version: &semver::Version) -> Result<(), StoreError>;

    /// Keeps a published component's bytes under their SHA-256 (hex) for
    /// the other hosts sharing the store. A store only one host uses keeps
    /// nothing: its host keeps the bytes in its data directory.
    fn put_component(&self, sha256: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let _ = (sha256, bytes);
        Ok(())
    }

    /// A published component's bytes, if the store keeps them.
    fn component(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let _ = sha256;
        Ok(None)
    }

    /// Forgets a published component's bytes.
    fn delete_component(&self, sha256: &str) -> Result<(), StoreError> {
        let _ = sha256;
        Ok(())
    }

    /// Appends to the registry's event log.
    fn add_registry_event(&self, event: &RegistryEvent) -> Result<(), StoreError>;

    /// Registry events after `after`, oldest first, at most `limit`.
    fn registry_events(
        &self,
        after: Option<uuid::Uuid>,
        limit: usize,
    ) -> Result<Vec<RegistryEvent>, StoreError>;
}

/// Tenants' named secrets, sealed at rest.
pub trait SecretStore {
    /// Sets a secret; whether it was new.
    fn put_secret(
        &self,
        tenant: &TenantId,
        name: &str,
        value: &str,
        actor: &str,
    ) -> Result<(SecretInfo, bool), StoreError>;

    /// A tenant's secrets, without their values.
    fn secrets(&self, tenant: &TenantId) -> Result<Vec<SecretInfo>, StoreError>;

    /// Deletes a secret; whether it existed.
    fn delete_secret(&self, tenant: &TenantId, name: &str) -> Result<bool, StoreError>;

    /// A secret's value, unsealed.
    fn secret_value(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<SecretValue>, StoreError>;
}

/// Where each scheduled job stands.
pub trait ScheduleStore {
    /// A job's schedule state.
    fn schedule_state(&self, job: JobId) -> Result<Option<ScheduleState>, StoreError>;

    /// Saves a job's schedule state.
    fn put_schedule_state(&self, state: &ScheduleState) -> Result<(), StoreError>;

    /// Forgets a job's schedule state.
    fn remove_schedule_state(&self, job: JobId) -> Result<(), StoreError>;

    /// Every schedule state.
    fn schedule_states(&self) -> Result<Vec<ScheduleState>, StoreError>;
}

/// First answers to requests sent with an idempotency key.
pub trait IdempotencyStore {
    /// The first answer remembered in `slot`, unless it expired by `now`.
    fn remembered(&self, slot: &[u8], now: Timestamp) -> Result<Option<Remembered>, StoreError>;

    /// Remembers the first answer in `slot`.
    fn remember(&self, slot: &[u8], first: &Remembered) -> Result<(), StoreError>;

    /// Forgets the answers expired by `now`; how many.
    fn forget_expired(&self, now: Timestamp) -> Result<usize, StoreError>;

    /// Holds `slot` for a request being served under it, or `None` while a
    /// request on another host holds it. A store only one host uses holds
    /// nothing (the host keeps its keys in flight itself).
    fn hold_key(&self, slot: &[u8]) -> Result<Option<KeyHold>, StoreError> {
        let _ = slot;
        Ok(Some(KeyHold::default()))
    }
}

/// A storage backend: everything above, plus durability and health.
pub trait Backend:
    JobStore
    + RunStore
    + LogStore
    + WebhookStore
    + NoticeStore
    + PluginStore
    + SecretStore
    + ScheduleStore
    + IdempotencyStore
    + AskStore
    + Send
    + Sync
{
    /// The hub run changes are published to.
    fn events(&self) -> &Arc<EventHub>;

    /// Whether the database answers a read (readiness).
    fn check(&self) -> Result<(), StoreError>;

    /// Waits until every write made so far is durable.
    fn flush(&self) -> StoreFuture<'_, ()>;

    /// [`Backend::flush`] on a thread that may block.
    fn flush_blocking(&self) -> Result<(), StoreError>;

    /// Whether other hosts may write this store, so that what a host keeps
    /// of it in memory (schedule times, leases to watch) must be read again
    /// from it, and what it finds running may be another host's.
    fn shared(&self) -> bool {
        false
    }

    /// Whether this host does `duty` now, taking it when no host does. On
    /// a store no other host shares, always.
    fn holds(&self, duty: Duty) -> bool {
        let _ = duty;
        true
    }
}

/// Work one host at a time does for all the hosts sharing a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Duty {
    /// Firing the ticks of job schedules.
    Schedules,
    /// Sending webhooks and notices.
    Deliveries,
}

impl Duty {
    /// What the duty is, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Duty::Schedules => "firing schedule ticks",
            Duty::Deliveries => "sending webhooks",
        }
    }
}
