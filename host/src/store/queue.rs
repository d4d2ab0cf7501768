//! The run queue: durable entries (priority, run id → tenant) in sled, and
//! beside them an index of each tenant's entries in memory, so a worker takes
//! the next run of the tenant that is running the fewest, not simply the head
//! of one queue a busy tenant can fill. Runs waiting to be retried wait
//! beside it, by the time their next attempt may start (due time, run id →
//! priority and tenant), and join the queue once due.

use super::{Record, Store, StoreError, keys, lock};
use crate::model::{JobRun, RunId, TenantId};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// A queue entry's key: priority (highest first), then run id (oldest first).
type Key = [u8; 20];
/// A waiting entry's key: due time (Unix ms), then run id.
type DueKey = [u8; 24];

/// The queue tree and its index; every change to either happens under the
/// index's lock, so they agree.
#[derive(Clone)]
pub(crate) struct Queue {
    tree: sled::Tree,
    waiting: sled::Tree,
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

impl Queue {
    /// A queue on `tree` and `waiting` with an empty index; [`Queue::open`]
    /// fills it.
    pub(crate) fn new(tree: sled::Tree, waiting: sled::Tree) -> Queue {
        Queue {
            tree,
            waiting,
            index: Arc::default(),
        }
    }

    /// The trees the entries live in.
    pub(crate) fn trees(&self) -> (&sled::Tree, &sled::Tree) {
        (&self.tree, &self.waiting)
    }

    /// Opens the queue and indexes its entries. Entries written before the
    /// tenant was kept in the entry (an empty value) take it from the run;
    /// an entry whose run is gone or damaged is indexed under no tenant, and
    /// the worker that takes it finds nothing to run, as before.
    pub(crate) fn open(
        tree: sled::Tree,
        waiting: sled::Tree,
        store: &Store,
    ) -> Result<Queue, StoreError> {
        let mut index = Index::default();
        for entry in tree.iter() {
            let (key, value) = entry?;
            let Ok(key) = Key::try_from(&key[..]) else {
                tree.remove(key)?;
                continue;
            };
            let tenant = if value.is_empty() {
                let run = match store.runs.get(&key[4..])? {
                    Some(bytes) => store.skip_damaged(store.decode::<JobRun>(
                        Record::Run,
                        &key[4..],
                        &bytes,
                    ))?,
                    None => None,
                };
                run.map_or_else(|| TenantId(String::new()), |r| r.tenant)
            } else {
                TenantId(String::from_utf8_lossy(&value).into_owned())
            };
            index.add(tenant, key);
        }
        for entry in waiting.iter() {
            let (key, value) = entry?;
            match (DueKey::try_from(&key[..]), value.get(..4)) {
                (Ok(key), Some(priority)) => {
                    let priority = i32::from_be_bytes(priority.try_into().expect("four bytes"));
                    let tenant = TenantId(String::from_utf8_lossy(&value[4..]).into_owned());
                    index.waiting.insert(key, (priority, tenant));
                }
                _ => {
                    waiting.remove(key)?;
                }
            }
        }
        Ok(Queue {
            tree,
            waiting,
            index: Arc::new(Mutex::new(index)),
        })
    }

    /// Queues `run` (nothing if it is queued already): at once, or beside
    /// the queue until its next attempt is due.
    pub(crate) fn push(&self, run: &JobRun) -> Result<(), StoreError> {
        let mut index = lock(&self.index);
        if let Some(due) = run.next_attempt_at.map(unix_ms)
            && due > unix_ms(crate::model::now())
        {
            let key = due_key(due, run.uuid);
            let mut value = run.priority.to_be_bytes().to_vec();
            value.extend_from_slice(run.tenant.0.as_bytes());
            self.waiting.insert(key, value)?;
            index
                .waiting
                .insert(key, (run.priority, run.tenant.clone()));
            return Ok(());
        }
        let key = keys::queue_key(run.priority, run.uuid);
        self.tree.insert(key, run.tenant.0.as_bytes())?;
        index.add(run.tenant.clone(), key);
        Ok(())
    }

    /// Takes `run` (as stored) out of the queue or the waiting entries
    /// (nothing if it is in neither).
    pub(crate) fn remove(&self, run: &JobRun) -> Result<(), StoreError> {
        let key = keys::queue_key(run.priority, run.uuid);
        let mut index = lock(&self.index);
        self.tree.remove(key)?;
        index.remove(&run.tenant, &key);
        if let Some(due) = run.next_attempt_at.map(unix_ms) {
            let key = due_key(due, run.uuid);
            self.waiting.remove(key)?;
            index.waiting.remove(&key);
        }
        Ok(())
    }

    /// Runs queued or waiting for their next attempt.
    pub(crate) fn len(&self) -> usize {
        let index = lock(&self.index);
        index.len + index.waiting.len()
    }

    /// Moves the waiting runs that are due into the queue: the queue entry
    /// first, so a crash between the two leaves a run in both, which the
    /// next move (or the worker finding it no longer pending) resolves.
    fn promote_due(&self, index: &mut Index) -> Result<(), StoreError> {
        let now = unix_ms(crate::model::now());
        while let Some((key, _)) = index.waiting.first_key_value() {
            if u64::from_be_bytes(key[..8].try_into().expect("eight bytes")) > now {
                break;
            }
            let (key, (priority, tenant)) = index.waiting.pop_first().expect("just seen");
            let run = super::damage::run_in_key(Record::QueueEntry, &key, 8)?;
            let queued = keys::queue_key(priority, run);
            self.tree.insert(queued, tenant.0.as_bytes())?;
            self.waiting.remove(key)?;
            index.add(tenant, queued);
        }
        Ok(())
    }

    /// Entries in the tree (walks it).
    #[cfg(test)]
    pub(crate) fn stored(&self) -> usize {
        self.tree.len()
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
    ) -> Result<Option<(RunId, TenantId)>, StoreError> {
        let mut index = lock(&self.index);
        if !index.waiting.is_empty() {
            self.promote_due(&mut index)?;
        }
        let busy = |t: &TenantId| running.get(t).copied().unwrap_or(0);
        let next = index
            .by_tenant
            .iter()
            .filter_map(|(tenant, keys)| {
                let busy = busy(tenant);
                (busy < cap).then_some((busy, *keys.first()?, tenant))
            })
            .min_by_key(|&(busy, key, _)| (busy, key))
            .map(|(_, key, tenant)| (key, tenant.clone()));
        let Some((key, tenant)) = next else {
            return Ok(None);
        };
        self.tree.remove(key)?;
        index.remove(&tenant, &key);
        let id = super::damage::run_in_key(Record::QueueEntry, &key, 4)?;
        Ok(Some((id, tenant)))
    }
}
