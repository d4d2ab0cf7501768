//! The run queue: durable entries (priority, run id → tenant) in sled, and
//! beside them an index of each tenant's entries in memory, so a worker takes
//! the next run of the tenant that is running the fewest, not simply the head
//! of one queue a busy tenant can fill.

use super::{Record, Store, StoreError, keys, lock};
use crate::model::{JobRun, RunId, TenantId};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// A queue entry's key: priority (highest first), then run id (oldest first).
type Key = [u8; 20];

/// The queue tree and its index; every change to either happens under the
/// index's lock, so they agree.
#[derive(Clone)]
pub(crate) struct Queue {
    tree: sled::Tree,
    index: Arc<Mutex<Index>>,
}

#[derive(Default)]
struct Index {
    len: usize,
    by_tenant: HashMap<TenantId, BTreeSet<Key>>,
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

impl Queue {
    /// A queue on `tree` with an empty index; [`Queue::open`] fills it.
    pub(crate) fn new(tree: sled::Tree) -> Queue {
        Queue {
            tree,
            index: Arc::default(),
        }
    }

    /// The tree the entries live in.
    pub(crate) fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// Opens the queue and indexes its entries. Entries written before the
    /// tenant was kept in the entry (an empty value) take it from the run;
    /// an entry whose run is gone or damaged is indexed under no tenant, and
    /// the worker that takes it finds nothing to run, as before.
    pub(crate) fn open(tree: sled::Tree, store: &Store) -> Result<Queue, StoreError> {
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
        Ok(Queue {
            tree,
            index: Arc::new(Mutex::new(index)),
        })
    }

    /// Queues `run` (nothing if it is queued already).
    pub(crate) fn push(&self, run: &JobRun) -> Result<(), StoreError> {
        let key = keys::queue_key(run.priority, run.uuid);
        let mut index = lock(&self.index);
        self.tree.insert(key, run.tenant.0.as_bytes())?;
        index.add(run.tenant.clone(), key);
        Ok(())
    }

    /// Takes `run` out of the queue (nothing if it is not queued).
    pub(crate) fn remove(&self, run: &JobRun) -> Result<(), StoreError> {
        let key = keys::queue_key(run.priority, run.uuid);
        let mut index = lock(&self.index);
        self.tree.remove(key)?;
        index.remove(&run.tenant, &key);
        Ok(())
    }

    /// Runs waiting.
    pub(crate) fn len(&self) -> usize {
        lock(&self.index).len
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
