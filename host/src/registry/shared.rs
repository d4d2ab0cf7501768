//! Keeping the registries of hosts that share a store in step: a version
//! published on one host is stored with its bytes, and every other host
//! loads it (compiled into its own cache); a status, a grant or a deletion
//! made on one host is applied by the others. Each host compares the
//! stored plugin records with its registry every [`SYNC_EVERY`].

use super::catalog::sha256_hex;
use super::{Catalog, CatalogError, Plugin, Registry};
use crate::model::{PluginOrigin, PluginRecord};
use crate::store::Store;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often a host compares its registry with the stored records.
pub const SYNC_EVERY: Duration = Duration::from_secs(1);

/// Writes into `dir` the bytes of every published version of `records`
/// that the data directory lacks, from the store (when it keeps them).
pub(super) fn fetch_missing(store: &Store, records: &[PluginRecord], dir: &Path) {
    for r in records
        .iter()
        .filter(|r| r.origin == PluginOrigin::Published)
    {
        let path = dir.join(format!("{}.wasm", r.sha256));
        if path.exists() {
            continue;
        }
        match store.component(&r.sha256) {
            Ok(Some(bytes)) if sha256_hex(&bytes) == r.sha256 => {
                if let Err(e) = crate::durable::write_atomically(&path, &[&bytes], 0o644) {
                    tracing::warn!(sha256 = %r.sha256, error = %e, "keeping a published component failed");
                }
            }
            Ok(Some(_)) => {
                tracing::warn!(sha256 = %r.sha256, "a stored component does not match its digest");
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(sha256 = %r.sha256, error = %e, "reading a published component failed");
            }
        }
    }
}

impl Catalog {
    /// Applies to this host's registry what the stored plugin records say
    /// (published versions loaded or removed, statuses and grants set), so
    /// that changes other hosts made show here. Returns how many versions
    /// changed. A version that fails to load is reported once per content.
    pub fn sync(&self) -> Result<usize, CatalogError> {
        let records = self.store.plugins()?;
        let current = self.snapshot();
        // Load what is new outside the change lock (compiling takes time).
        let mut loaded = Vec::new();
        let missing: Vec<&PluginRecord> = records
            .iter()
            .filter(|r| r.origin == PluginOrigin::Published)
            .filter(|r| current.get(&r.job_type, &r.version).is_none())
            .filter(|r| !self.failed_sync().contains(&r.sha256))
            .collect();
        if !missing.is_empty() {
            let owned: Vec<PluginRecord> = missing.iter().map(|r| (*r).clone()).collect();
            fetch_missing(&self.store, &owned, &self.published);
            for r in &owned {
                let source = format!("published:{}", r.sha256);
                let path = self.published.join(format!("{}.wasm", r.sha256));
                let prepared = super::sources::read(&path, Some(&r.sha256))
                    .and_then(|bytes| Registry::prepare(&self.runtime, &bytes, &source));
                match prepared {
                    Ok(mut p) => {
                        p.origin = PluginOrigin::Published;
                        loaded.push(p);
                    }
                    Err(error) => {
                        tracing::warn!(source = %source, error = %error, "loading a version another host published failed");
                        self.failed_sync().insert(r.sha256.clone());
                    }
                }
            }
        }

        // Read again under the change lock: a change this host makes
        // meanwhile is in both the records and the registry.
        let _guard = self.lock();
        let records = self.store.plugins()?;
        let current = self.snapshot();
        let mut next = (*current).clone();
        let mut changed = 0;
        for p in loaded {
            let key = (p.info.job_type.as_str(), &p.info.version);
            let still = records
                .iter()
                .any(|r| (r.job_type.as_str(), &r.version) == key && r.sha256 == p.sha256());
            if still && next.get(key.0, key.1).is_none() {
                self.measured(&p);
                tracing::info!(job_type = %p.info.job_type, version = %p.info.version, "loaded a version another host published");
                next.insert(p)?;
                changed += 1;
            }
        }
        let stored: BTreeSet<(&str, &semver::Version)> = records
            .iter()
            .map(|r| (r.job_type.as_str(), &r.version))
            .collect();
        let gone: Vec<Arc<Plugin>> = next
            .all()
            .filter(|p| p.origin == PluginOrigin::Published)
            .filter(|p| !stored.contains(&(p.info.job_type.as_str(), &p.info.version)))
            .cloned()
            .collect();
        for p in gone {
            tracing::info!(job_type = %p.info.job_type, version = %p.info.version, "removed a version another host deleted");
            next.remove(p.info.job_type.as_str(), &p.info.version);
            changed += 1;
        }
        for r in &records {
            let Some(p) = next.get(&r.job_type, &r.version).cloned() else {
                continue;
            };
            let mut differs = false;
            if next.status(&r.job_type, &r.version) != r.status {
                next.set_status(&r.job_type, &r.version, r.status);
                differs = true;
            }
            if let Some(g) = &r.grant
                && g.sha256.as_deref().is_none_or(|d| d == p.sha256())
                && next.grant(&p) != Some(g)
            {
                next.set_grant(&r.job_type, &r.version, Some(g.clone()));
                differs = true;
            }
            changed += usize::from(differs);
        }
        if changed > 0 {
            self.swap(next);
        }
        Ok(changed)
    }
}

/// The thread that calls [`Catalog::sync`] every [`SYNC_EVERY`]; stopped
/// when dropped.
pub struct Syncer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    /// Starts keeping `catalog` in step with its store.
    pub fn start(catalog: Arc<Catalog>) -> Syncer {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("jobhost-registry-sync".into())
            .spawn(move || {
                while !flag.load(Ordering::SeqCst) {
                    let mut slept = Duration::ZERO;
                    while slept < SYNC_EVERY && !flag.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(50));
                        slept += Duration::from_millis(50);
                    }
                    if let Err(e) = catalog.sync() {
                        tracing::warn!(error = %e, "reading the registry's changes failed");
                    }
                }
            })
            .expect("spawning the registry sync thread");
        Syncer {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
