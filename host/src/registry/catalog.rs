//! The live registry: publishes, retires and reloads job type versions while
//! the server runs. Readers take an immutable [`Registry`] snapshot (runs in
//! flight keep the plugin they started with); every change builds a new
//! snapshot under one lock, records itself in the store, then swaps it in.
//! Published components are kept content-addressed under `DATA/published/`.

use super::watch::DirState;
use super::{LoadError, LoadFailure, Plugin, PluginView, Registry};
use crate::events::EventKind;
use crate::metrics::Metrics;
use crate::model::{
    Grant, PluginOrigin, PluginRecord, PluginStatus, RegistryEvent, RegistryEventKind, now,
};
use crate::runtime::{CompiledFrom, Runtime};
use crate::store::{Store, StoreError};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

/// Why a change to the catalog was refused.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The component is not a valid plugin.
    #[error(transparent)]
    Invalid(#[from] LoadError),
    /// The (job type, version) exists with other content.
    #[error("{0}")]
    Conflict(String),
    /// No such version is loaded.
    #[error("job type `{job_type}` has no loaded version {version}")]
    NotFound {
        /// The job type.
        job_type: String,
        /// The version.
        version: String,
    },
    /// A grant names what the version does not declare.
    #[error("{}", .0.join("; "))]
    Grant(Vec<String>),
    /// The version is not one that can be deleted over the API.
    #[error("{0}")]
    NotDeletable(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing or removing a component file failed.
    #[error("plugin store: {0}")]
    Io(#[from] std::io::Error),
}

/// The live registry.
pub struct Catalog {
    current: RwLock<Arc<Registry>>,
    /// Serialises changes; holds what the directory watcher has seen.
    changes: Mutex<DirState>,
    pub(super) runtime: Arc<Runtime>,
    pub(super) store: Store,
    pub(super) published: PathBuf,
    /// Digests of versions other hosts published that failed to load here
    /// (not tried again).
    failed_sync: Mutex<std::collections::HashSet<String>>,
    pub(super) dir: Option<PathBuf>,
    metrics: Arc<Metrics>,
    /// The generation of the registry in force, for those that follow changes.
    generation: tokio::sync::watch::Sender<u64>,
}

pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Catalog {
    /// Loads the bundled job types, the published ones and the plugins
    /// directory, applies stored statuses, and drops precompiled artifacts
    /// no loaded version uses. Bad plugins are reported, never fatal.
    pub fn open(
        runtime: Arc<Runtime>,
        store: Store,
        data_dir: &Path,
        dir: Option<PathBuf>,
        bundled: bool,
        metrics: Arc<Metrics>,
        file_grants: BTreeMap<(String, semver::Version), Grant>,
    ) -> Result<(Catalog, Vec<LoadFailure>), CatalogError> {
        let published = data_dir.join("published");
        std::fs::create_dir_all(&published)?;
        let mut registry = Registry::new();
        let mut failures = Vec::new();
        if bundled {
            failures.extend(registry.load_bundled(&runtime));
        }
        let records = store.plugins()?;
        super::shared::fetch_missing(&store, &records, &published);
        failures.extend(registry.load_published(&runtime, &records, &published));
        // Directory plugins are counted as the scan loads them.
        for p in registry.all() {
            metrics.compiled(
                p.compiled.origin() == CompiledFrom::Cache,
                p.compiled.took(),
            );
        }
        let catalog = Catalog {
            current: RwLock::new(Arc::new(Registry::new())),
            changes: Mutex::new(DirState::default()),
            runtime,
            store,
            published,
            failed_sync: Mutex::default(),
            dir,
            metrics,
            generation: tokio::sync::watch::Sender::new(0),
        };
        {
            let mut state = catalog.lock();
            failures.extend(catalog.scan_dir(&mut state, &mut registry, false));
        }
        for ((job_type, version), grant) in file_grants {
            registry.set_grant(&job_type, &version, Some(grant));
        }
        for r in &records {
            if let Some(p) = registry.get(&r.job_type, &r.version).cloned() {
                registry.set_status(&r.job_type, &r.version, r.status);
                if let Some(g) = &r.grant
                    && g.sha256.as_deref().is_none_or(|d| d == p.sha256())
                {
                    registry.set_grant(&r.job_type, &r.version, Some(g.clone()));
                }
            }
        }
        registry.grant_bundled();
        let keep: Vec<&str> = registry.all().map(|p| p.sha256()).collect();
        match catalog.runtime.retain_cached(&keep) {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                removed = n,
                "removed precompiled artifacts of removed plugins"
            ),
            Err(e) => tracing::warn!(error = %e, "cleaning the precompiled cache failed"),
        }
        *catalog.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(registry);
        Ok((catalog, failures))
    }

    /// Counts a loaded component's compile (or cache load) time.
    pub(super) fn measured(&self, p: &Plugin) {
        self.metrics.compiled(
            p.compiled.origin() == CompiledFrom::Cache,
            p.compiled.took(),
        );
    }

    /// The registry as it is now.
    pub fn snapshot(&self) -> Arc<Registry> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(super) fn failed_sync(&self) -> MutexGuard<'_, std::collections::HashSet<String>> {
        self.failed_sync.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, DirState> {
        self.changes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Swaps in a changed copy of the registry (call with the change lock held).
    pub(super) fn swap(&self, registry: Registry) {
        let mut registry = registry;
        registry.generation = self.snapshot().generation + 1;
        let generation = registry.generation;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(registry);
        self.generation.send_replace(generation);
    }

    /// Changes whenever the registry does (a version published, replaced,
    /// removed, approved or given another status).
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// Records a registry event; a failure to record is logged, not fatal.
    pub(super) fn event(&self, mut event: RegistryEvent) {
        event.uuid = uuid::Uuid::now_v7();
        event.at = now();
        tracing::info!(kind = ?event.kind, job_type = ?event.job_type, version = ?event.version, source = %event.source, "registry changed");
        if let Err(e) = self.store.add_registry_event(&event) {
            tracing::error!(error = %e, "recording a registry event failed");
        }
        let kind = match (event.kind, event.status) {
            (RegistryEventKind::Published | RegistryEventKind::Loaded, _) => {
                EventKind::JobTypePublished
            }
            (RegistryEventKind::Replaced, _) => EventKind::JobTypeReplaced,
            (RegistryEventKind::Removed, _) => EventKind::JobTypeRemoved,
            (RegistryEventKind::StatusChanged, Some(PluginStatus::Deprecated)) => {
                EventKind::JobTypeDeprecated
            }
            (RegistryEventKind::StatusChanged, Some(PluginStatus::Yanked)) => {
                EventKind::JobTypeYanked
            }
            (RegistryEventKind::StatusChanged, _) => EventKind::JobTypeActivated,
            (RegistryEventKind::Approved, _) => EventKind::JobTypeApproved,
            (RegistryEventKind::LoadFailed, _) => return,
        };
        if let Some(job_type) = &event.job_type {
            self.store.events().job_type(
                kind,
                job_type,
                serde_json::json!({
                    "version": event.version.as_ref().map(|v| v.to_string()),
                    "sha256": event.sha256,
                    "message": event.message,
                }),
            );
        }
    }

    /// Validates and registers an uploaded component, keeping its bytes.
    /// Returns the version and whether it is new (the same bytes published
    /// again are accepted as they are).
    pub fn publish(&self, bytes: &[u8], actor: &str) -> Result<(PluginView, bool), CatalogError> {
        let sha256 = sha256_hex(bytes);
        let source = format!("published:{sha256}");
        let mut plugin = Registry::prepare(&self.runtime, bytes, &source)?;
        plugin.origin = PluginOrigin::Published;
        self.measured(&plugin);
        let _guard = self.lock();
        let current = self.snapshot();
        let (job_type, version) = (
            plugin.info.job_type.to_string(),
            plugin.info.version.clone(),
        );
        if let Some(existing) = current.get(&job_type, &version) {
            if existing.sha256() == sha256 {
                return Ok((self.view(&current, existing)?, false));
            }
            return Err(CatalogError::Conflict(format!(
                "job type `{job_type}` version {version} is already loaded from {} with other \
                 content (sha256 {}); publish it under a new version",
                existing.source,
                existing.sha256()
            )));
        }
        crate::durable::write_atomically(
            &self.published.join(format!("{sha256}.wasm")),
            &[bytes],
            0o644,
        )?;
        let at = now();
        let record = PluginRecord {
            job_type: job_type.clone(),
            version: version.clone(),
            origin: PluginOrigin::Published,
            sha256: sha256.clone(),
            size_bytes: bytes.len(),
            status: PluginStatus::Active,
            status_reason: None,
            published_by: Some(actor.to_string()),
            published_at: Some(at),
            grant: None,
            updated_at: at,
        };
        self.store.put_component(&sha256, bytes)?;
        self.store.put_plugin(&record)?;
        self.event(event(RegistryEventKind::Published, &plugin, actor, None));
        self.store.flush_blocking()?;
        let mut next = (*current).clone();
        let plugin = next.insert(plugin)?;
        self.swap(next);
        Ok((self.view(&self.snapshot(), &plugin)?, true))
    }

    /// Sets the status of a loaded version.
    pub fn set_status(
        &self,
        job_type: &str,
        version: &semver::Version,
        status: PluginStatus,
        reason: Option<String>,
        actor: &str,
    ) -> Result<PluginView, CatalogError> {
        let _guard = self.lock();
        let current = self.snapshot();
        let plugin = self.loaded(&current, job_type, version)?;
        let mut record = match self.store.plugin(job_type, version)? {
            Some(r) => r,
            None => record_of(&plugin),
        };
        record.status = status;
        record.status_reason = reason.clone();
        record.updated_at = now();
        self.store.put_plugin(&record)?;
        let mut e = event(RegistryEventKind::StatusChanged, &plugin, actor, reason);
        e.status = Some(status);
        self.event(e);
        self.store.flush_blocking()?;
        let mut next = (*current).clone();
        next.set_status(job_type, version, status);
        self.swap(next);
        self.view(&self.snapshot(), &plugin)
    }

    /// Deletes a published version: it leaves the registry (jobs pinned to
    /// it can no longer run), its record, bytes and precompiled artifact go.
    pub fn delete(
        &self,
        job_type: &str,
        version: &semver::Version,
        actor: &str,
    ) -> Result<(), CatalogError> {
        let _guard = self.lock();
        let current = self.snapshot();
        let plugin = self.loaded(&current, job_type, version)?;
        match plugin.origin {
            PluginOrigin::Published => {}
            PluginOrigin::Bundled => {
                return Err(CatalogError::NotDeletable(format!(
                    "`{job_type}` {version} is bundled into the server; yank it instead"
                )));
            }
            PluginOrigin::Directory => {
                return Err(CatalogError::NotDeletable(format!(
                    "`{job_type}` {version} comes from {}; remove the file (or yank the version)",
                    plugin.source
                )));
            }
        }
        self.store.delete_plugin(job_type, version)?;
        self.event(event(RegistryEventKind::Removed, &plugin, actor, None));
        self.store.flush_blocking()?;
        let mut next = (*current).clone();
        next.remove(job_type, version);
        let still_used = next.all().any(|p| p.sha256() == plugin.sha256());
        self.swap(next);
        if !still_used {
            if let Err(e) = self.store.delete_component(plugin.sha256()) {
                tracing::warn!(error = %e, "removing a deleted version's component failed");
            }
            let _ = std::fs::remove_file(self.published.join(format!("{}.wasm", plugin.sha256())));
            self.runtime.forget_cached(plugin.sha256());
        }
        Ok(())
    }

    pub(super) fn loaded(
        &self,
        registry: &Registry,
        job_type: &str,
        version: &semver::Version,
    ) -> Result<Arc<Plugin>, CatalogError> {
        registry
            .get(job_type, version)
            .cloned()
            .ok_or_else(|| CatalogError::NotFound {
                job_type: job_type.to_string(),
                version: version.to_string(),
            })
    }
}

/// A record for a version that had none (bundled or directory).
pub(super) fn record_of(p: &Plugin) -> PluginRecord {
    PluginRecord {
        job_type: p.info.job_type.to_string(),
        version: p.info.version.clone(),
        origin: p.origin,
        sha256: p.sha256().to_string(),
        size_bytes: p.compiled.size(),
        status: PluginStatus::Active,
        status_reason: None,
        published_by: None,
        published_at: None,
        grant: None,
        updated_at: now(),
    }
}

/// An event about a version (`uuid` and `at` are set when recorded).
pub(super) fn event(
    kind: RegistryEventKind,
    p: &Plugin,
    actor: &str,
    message: Option<String>,
) -> RegistryEvent {
    RegistryEvent {
        uuid: uuid::Uuid::nil(),
        kind,
        job_type: Some(p.info.job_type.to_string()),
        version: Some(p.info.version.clone()),
        status: None,
        sha256: Some(p.sha256().to_string()),
        source: p.source.clone(),
        actor: actor.to_string(),
        message,
        at: now(),
    }
}
