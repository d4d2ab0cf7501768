//! The registry of job types: loads components, asks each to describe
//! itself under tight limits, validates what it says, and keeps every
//! version side by side (the newest that is not yanked is the default).
//! A [`Registry`] is an immutable snapshot; the [`Catalog`] publishes,
//! reloads and retires versions by swapping snapshots.

mod catalog;
mod grants;
mod integers;
mod plugin;
mod shared;
mod sources;
mod view;
mod violations;
mod watch;

pub use catalog::{Catalog, CatalogError};
pub use grants::{Approval, ApprovalState, CapabilityList, read_grants_file};
pub use plugin::{ConfigError, Plugin};
pub use shared::{SYNC_EVERY, Syncer};
pub use view::PluginView;
pub use violations::Violation;
pub use watch::Watcher;

use crate::job_type::{JobTypeId, JobTypeInfo, MetadataError};
use crate::model::PluginStatus;
use crate::runtime::{CallError, CompileError, Runtime};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Why a plugin was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a usable component.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// `describe` trapped or hit a limit.
    #[error("describe failed: {0}")]
    Describe(CallError),
    /// What `describe` returned is invalid.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// The same job type and version is already loaded.
    #[error("job type `{job_type}` version {version} is already loaded (from {existing})")]
    Duplicate {
        /// The job type.
        job_type: JobTypeId,
        /// The version.
        version: semver::Version,
        /// Where the loaded one came from.
        existing: String,
    },
}

impl LoadError {
    /// A stable snake_case code for the reason, as the API reports it.
    pub fn code(&self) -> &'static str {
        match self {
            LoadError::Io { .. } => "unreadable",
            LoadError::Compile(c) => c.code(),
            LoadError::Describe(_) => "describe_failed",
            LoadError::Metadata(_) => "invalid_metadata",
            LoadError::Duplicate { .. } => "duplicate_version",
        }
    }
}

/// A plugin that failed to load, and why.
#[derive(Debug)]
pub struct LoadFailure {
    /// Where it came from.
    pub source: String,
    /// Why it was refused.
    pub error: LoadError,
}

/// Sources of the job types built into the binary start with this; they
/// are compiled on the caller's thread, everything else in the compile worker.
const BUNDLED_PREFIX: &str = "bundled:";

/// Loaded job types by id, then version, with the status of each version.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    types: BTreeMap<JobTypeId, BTreeMap<semver::Version, Arc<Plugin>>>,
    /// Versions that are not `active`.
    statuses: BTreeMap<(String, semver::Version), PluginStatus>,
    /// What operators approved, per version.
    grants: BTreeMap<(String, semver::Version), crate::model::Grant>,
    /// Bumped on every change: caches of derived views compare it.
    generation: u64,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Compiles, describes and validates one component; does not register it.
    pub fn prepare(runtime: &Runtime, bytes: &[u8], source: &str) -> Result<Plugin, LoadError> {
        let compiled = if source.starts_with(BUNDLED_PREFIX) {
            runtime.compile_bundled(bytes)?
        } else {
            runtime.compile(bytes)?
        };
        let described = runtime.describe(&compiled).map_err(LoadError::Describe)?;
        let info = JobTypeInfo::from_plugin(described, &runtime.config().ceilings)?;
        Ok(Plugin::new(info, compiled, source.to_string()))
    }

    /// Registers a prepared plugin; refuses a second copy of a (job type, version).
    pub fn insert(&mut self, plugin: Plugin) -> Result<Arc<Plugin>, LoadError> {
        let versions = self.types.entry(plugin.info.job_type.clone()).or_default();
        if let Some(existing) = versions.get(&plugin.info.version) {
            return Err(LoadError::Duplicate {
                job_type: plugin.info.job_type.clone(),
                version: plugin.info.version.clone(),
                existing: existing.source.clone(),
            });
        }
        let plugin = Arc::new(plugin);
        versions.insert(plugin.info.version.clone(), plugin.clone());
        Ok(plugin)
    }

    /// Prepares and registers one component.
    pub fn load(
        &mut self,
        runtime: &Runtime,
        bytes: &[u8],
        source: &str,
    ) -> Result<Arc<Plugin>, LoadError> {
        self.insert(Self::prepare(runtime, bytes, source)?)
    }

    /// Takes a version out; runs holding it keep it until they end.
    pub fn remove(&mut self, job_type: &str, version: &semver::Version) -> Option<Arc<Plugin>> {
        let versions = self.types.get_mut(job_type)?;
        let removed = versions.remove(version);
        if versions.is_empty() {
            self.types.remove(job_type);
        }
        self.statuses
            .remove(&(job_type.to_string(), version.clone()));
        removed
    }

    /// Sets the status of a version.
    pub fn set_status(&mut self, job_type: &str, version: &semver::Version, status: PluginStatus) {
        let key = (job_type.to_string(), version.clone());
        if status == PluginStatus::Active {
            self.statuses.remove(&key);
        } else {
            self.statuses.insert(key, status);
        }
    }

    /// The status of a version.
    pub fn status(&self, job_type: &str, version: &semver::Version) -> PluginStatus {
        self.statuses
            .get(&(job_type.to_string(), version.clone()))
            .copied()
            .unwrap_or_default()
    }

    fn yanked(&self, p: &Plugin) -> bool {
        self.status(p.info.job_type.as_str(), &p.info.version) == PluginStatus::Yanked
    }

    /// A version as `GET /jobs/schemas` shows it: its summary and status.
    pub fn summary(&self, p: &Plugin) -> serde_json::Value {
        let mut doc = p.summary();
        doc["status"] = serde_json::json!(self.status(p.info.job_type.as_str(), &p.info.version));
        doc["approval"] = serde_json::json!(self.approval(p));
        doc
    }

    /// Changes with every modification of the registry.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// A job type at an exact version.
    pub fn get(&self, job_type: &str, version: &semver::Version) -> Option<&Arc<Plugin>> {
        self.types
            .iter()
            .find(|(id, _)| id.as_str() == job_type)?
            .1
            .get(version)
    }

    /// The newest version of a job type that satisfies `req` (any version if
    /// `None`) and is not yanked: what a new job gets.
    pub fn resolve(
        &self,
        job_type: &str,
        req: Option<&semver::VersionReq>,
    ) -> Option<&Arc<Plugin>> {
        self.types
            .get(job_type)?
            .iter()
            .rev()
            .find(|(v, p)| req.is_none_or(|r| r.matches(v)) && !self.yanked(p))
            .map(|(_, p)| p)
    }

    /// Every loaded version of one job type, oldest first.
    pub fn versions(&self, job_type: &str) -> impl Iterator<Item = &Arc<Plugin>> {
        self.types
            .get(job_type)
            .into_iter()
            .flat_map(|v| v.values())
    }

    /// The newest version of every job type that is not yanked, ordered by id.
    pub fn newest(&self) -> impl Iterator<Item = &Arc<Plugin>> {
        self.types
            .values()
            .filter_map(|v| v.values().rev().find(|p| !self.yanked(p)))
    }

    /// Every version of every job type, ordered by id then version.
    pub fn all(&self) -> impl Iterator<Item = &Arc<Plugin>> {
        self.types.values().flat_map(|v| v.values())
    }

    /// Ids of the loaded job types.
    pub fn ids(&self) -> impl Iterator<Item = &JobTypeId> {
        self.types.keys()
    }

    /// Number of loaded (job type, version) pairs.
    pub fn len(&self) -> usize {
        self.types.values().map(BTreeMap::len).sum()
    }

    /// Whether nothing is loaded.
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }
}
