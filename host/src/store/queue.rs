//! The run queue, in memory: each tenant's pending runs by priority and age,
//! so a worker takes the next run of the tenant that is running the fewest,
//! not simply the head of one queue a busy tenant can fill; and beside it
//! the runs waiting to be retried, by the time their next attempt may start,
//! which join the queue once due.
//!
//! Nothing of it is written: a pending run's record and its open-run index
//! entry are what is durable, and the queue is rebuilt from them when the
//! store opens. A run taken from the queue and not yet started when the
//! process stops is still pending on disk, and so queued again.

use super::{keys, lock};
use crate::model::{JobRun, RunId, TenantId};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// A queue entry's key: priority (highest first), then run id (oldest first).
type Key = [u8; 20];
/// A waiting entry's key: due time (Unix ms), then run id.
type DueKey = [u8; 24];

/// The queue; every change happens under its lock. The store fills it with
/// its pending runs when it opens.
#[derive(Clone, Default)]
pub(crate) struct Queue {
    index: Arc<Mutex<Index>>,
}

#[derive(Default)]
struct Index {
    len: usize,
    by_tenant: HashMap<TenantId, BTreeSet<Key>>,
    /// Runs waiting for their next attempt: priority and tenant.
    waiting: BTreeMap<DueKey, (i32, TenantId)>,
}

impl Index {
    fn add(&mut self, tenant: TenantId, key: Key) {
        if self.by_tenant.entry(tenant).or_default().insert(key) {
            self.len += 1;
        }
    }

    fn remove(&mut self, tenant: &TenantId, key: &Key) {
        if let Some(keys) = self.by_tenant.get_mut(tenant)
            && keys.remove(key)
        {
            self.len -= 1;
            if keys.is_empty() {
                self.by_tenant.remove(tenant);
            }
        }
    }
}

fn unix_ms(t: crate::model::Timestamp) -> u64 {
    (t.unix_timestamp_nanos() / 1_000_000).max(0) as u64
}

fn due_key(due_ms: u64, run: RunId) -> DueKey {
    let mut k = [0u8; 24];
    k[..8].copy_from_slice(&due_ms.to_be_bytes());
    k[8..].copy_from_slice(&run.bytes());
    k
}

fn run_of(key: &[u8]) -> RunId {
    let id: [u8; 16] = key[key.len() - 16..]
        .try_into()
        .expect("keys end with an id");
    RunId(uuid::Uuid::from_bytes(id))
}

impl Queue {
    /// Queues `run` (nothing if it is queued already): at once, or beside
    /// the queue until its next attempt is due.
    pub(crate) fn push(&self, run: &JobRun) {
        let mut index = lock(&self.index);
        if let Some(due) = run.next_attempt_at.map(unix_ms)
            && due > unix_ms(crate::model::now())
        {
            let key = due_key(due, run.uuid);
            index
                .waiting
                .insert(key, (run.priority, run.tenant.clone()));
            return;
        }
        index.add(run.tenant.clone(), keys::queue_key(run.priority, run.uuid));
    }

    /// Takes `run` (as stored) out of the queue or the waiting entries
    /// (nothing if it is in neither).
    pub(crate) fn remove(&self, run: &JobRun) {
        let key = keys::queue_key(run.priority, run.uuid);
        let mut index = lock(&self.index);
        index.remove(&run.tenant, &key);
        if let Some(due) = run.next_attempt_at.map(unix_ms) {
            index.waiting.remove(&due_key(due, run.uuid));
        }
    }

    /// Runs queued or waiting for their next attempt.
    pub(crate) fn len(&self) -> usize {
        let index = lock(&self.index);
        index.len + index.waiting.len()
    }

    /// Moves the waiting runs that are due into the queue.
    fn promote_due(index: &mut Index) {
        let now = unix_ms(crate::model::now());
        while let Some((key, _)) = index.waiting.first_key_value() {
            if u64::from_be_bytes(key[..8].try_into().expect("eight bytes")) > now {
                break;
            }
            let (key, (priority, tenant)) = index.waiting.pop_first().expect("just seen");
            index.add(tenant, keys::queue_key(priority, run_of(&key)));
        }
    }

    /// Takes the next run of the tenant running the fewest (`running` counts
    /// them; absent is none) among those running fewer than `cap`; between
    /// tenants running as many, the one whose next run comes first (higher
    /// priority, then older). Each tenant's own runs go in priority order,
    /// then oldest first. `None` when nothing is queued or every tenant with
    /// queued runs is at `cap`.
    pub(crate) fn pop(
        &self,
        running: &HashMap<TenantId, usize>,
        cap: usize,
    ) -> Option<(RunId, TenantId)> {
        let mut index = lock(&self.index);
        if !index.waiting.is_empty() {
            Queue::promote_due(&mut index);
        }
        let busy = |t: &TenantId| running.get(t).copied().unwrap_or(0);
        let (key, tenant) = index
            .by_tenant
            .iter()
            .filter_map(|(tenant, keys)| {
                let busy = busy(tenant);
                (busy < cap).then_some((busy, *keys.first()?, tenant))
            })
            .min_by_key(|&(busy, key, _)| (busy, key))
            .map(|(_, key, tenant)| (key, tenant.clone()))?;
        index.remove(&tenant, &key);
        Some((run_of(&key), tenant))
    }
}
