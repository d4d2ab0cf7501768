//! Upgrades of the on-disk layout, applied once when the database opens.
//!
//! Layout 2 indexes open runs (pending, running, paused) under one entry
//! per tenant and has no all-tenants entries (see [`super::keys`]). A
//! database of layout 1 has an all-tenants entry and a per-tenant entry for
//! each open status; the upgrade walks the all-tenants entries (every open
//! run has one) and gives each open run its new entry before removing the
//! old ones, so a crash during it leaves a database the next start upgrades
//! again. Runs that had ended keep their
//! entries, which are the same in both layouts. The queue trees of layout 1
//! go: the queue lives in memory, rebuilt from the pending runs.

use super::{Record, RunStore, Sled, StoreError, damage, keys};
use crate::model::RunStatus;

/// Where the database keeps its layout version (the default tree).
const LAYOUT_KEY: &[u8] = b"run_index_layout";
/// The layout this build writes.
const LAYOUT: u8 = 2;

/// Brings the run index to [`LAYOUT`]; returns how many open runs moved.
pub(super) fn upgrade(store: &Sled) -> Result<usize, StoreError> {
    if store.db.get(LAYOUT_KEY)?.as_deref() == Some(&[LAYOUT][..]) {
        return Ok(0);
    }
    let mut moved = 0;
    for status in [RunStatus::Pending, RunStatus::Running, RunStatus::Paused] {
        let prefix = keys::global_status(status);
        for key in store.run_index.scan_prefix(&prefix).keys() {
            let key = key?;
            let Ok(id) = damage::run_in_key(Record::IndexEntry, &key, prefix.len()) else {
                continue;
            };
            match store.skip_damaged(store.run_any_tenant(id))? {
                Some(Some(run)) => {
                    let id = id.bytes();
                    if !run.status.is_terminal() {
                        let open = keys::with_id(keys::open_runs(&run.tenant), id);
                        store.run_index.insert(open, &[])?;
                        moved += 1;
                    }
                    let old = keys::with_id(keys::status_runs(&run.tenant, status), id);
                    store.run_index.remove(old)?;
                    store.run_index.remove(&key)?;
                }
                Some(None) => {
                    store.run_index.remove(&key)?;
                }
                // Damaged: left as it is, as readers skip it.
                _ => {}
            }
        }
    }
    for tree in ["queue", "queue_waiting"] {
        store.db.drop_tree(tree)?;
    }
    store.db.insert(LAYOUT_KEY, &[LAYOUT])?;
    store.db.flush()?;
    if moved > 0 {
        tracing::info!(runs = moved, "the run index moved to layout {LAYOUT}");
    }
    Ok(moved)
}
