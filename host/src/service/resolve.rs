//! Which job type version a caller gets: the newest loaded version matching
//! a requirement that is not yanked, open to the caller's role, and
//! approved when it declares capabilities; or the version a job is pinned to.

use super::{Service, ServiceError};
use crate::auth::{Caller, Role};
use crate::model::{Job, PluginStatus};
use crate::registry::{ApprovalState, Plugin, Registry};
use std::sync::Arc;

impl Service {
    /// The version of `job_type` a new job of `caller` gets: the newest
    /// matching `requirement` (a semver requirement) that is not yanked.
    pub fn resolve(
        &self,
        caller: &Caller,
        job_type: &str,
        requirement: Option<&str>,
    ) -> Result<Arc<Plugin>, ServiceError> {
        let registry = self.inner.catalog.snapshot();
        if registry.versions(job_type).next().is_none() {
            // Only an error lists the known job types; a valid request does not pay for it.
            return Err(ServiceError::UnknownJobType {
                job_type: job_type.to_string(),
                known: registry.ids().map(|i| i.to_string()).collect(),
            });
        }
        let req = requirement
            .map(semver::VersionReq::parse)
            .transpose()
            .map_err(|e| ServiceError::field("job_type_version", e.to_string()))?;
        let plugin = registry
            .resolve(job_type, req.as_ref())
            .ok_or_else(|| no_version(&registry, job_type, req.as_ref()))?;
        if caller.role == Role::Agent && !plugin.info.creatable_by_agent {
            return Err(ServiceError::NotCreatableByAgent {
                job_type: job_type.to_string(),
            });
        }
        approved_in(&registry, plugin)?;
        Ok(plugin.clone())
    }

    /// The loaded version `job` is pinned to.
    pub fn pinned(&self, job: &Job) -> Result<Arc<Plugin>, ServiceError> {
        pinned_in(&self.inner.catalog.snapshot(), job)
    }

    /// The version `job` is pinned to, if it may take new runs.
    pub(super) fn runnable(&self, job: &Job) -> Result<Arc<Plugin>, ServiceError> {
        let registry = self.inner.catalog.snapshot();
        let plugin = pinned_in(&registry, job)?;
        approved_in(&registry, &plugin)?;
        Ok(plugin)
    }
}

/// The version `job` is pinned to in `registry`.
fn pinned_in(registry: &Registry, job: &Job) -> Result<Arc<Plugin>, ServiceError> {
    registry
        .get(job.job_type.as_str(), &job.job_type_version)
        .cloned()
        .ok_or_else(|| ServiceError::JobTypeUnavailable {
            job: job.uuid,
            job_type: job.job_type.to_string(),
            version: job.job_type_version.clone(),
        })
}

/// Refused while `plugin` declares capabilities no operator approved: it
/// takes no new jobs or runs until one does.
pub(super) fn approved_in(registry: &Registry, plugin: &Plugin) -> Result<(), ServiceError> {
    let approval = registry.approval(plugin);
    if approval.state != ApprovalState::Pending {
        return Ok(());
    }
    Err(ServiceError::ApprovalPending {
        job_type: plugin.info.job_type.to_string(),
        version: plugin.info.version.clone(),
        awaiting: approval.awaiting,
    })
}

/// Why no version of `job_type` matches `req`: every version with its
/// status, and the matching ones that are yanked.
fn no_version(
    registry: &Registry,
    job_type: &str,
    req: Option<&semver::VersionReq>,
) -> ServiceError {
    let status = |p: &Plugin| registry.status(job_type, &p.info.version);
    ServiceError::UnknownVersion {
        job_type: job_type.to_string(),
        requirement: req.map_or_else(|| "*".to_string(), |r| r.to_string()),
        yanked: registry
            .versions(job_type)
            .filter(|p| {
                req.is_none_or(|r| r.matches(&p.info.version)) && status(p) == PluginStatus::Yanked
            })
            .map(|p| p.info.version.to_string())
            .collect(),
        available: registry
            .versions(job_type)
            .map(|p| (p.info.version.clone(), status(p)))
            .collect(),
    }
}

/// Which job types `GET /jobs/schemas` and MCP's `list_job_types` list;
/// each filter left `None` or empty passes everything.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobTypeQuery {
    /// Only those agents may (or may not) create.
    pub creatable_by_agent: Option<bool>,
    /// Only those the UI may (or may not) create.
    pub creatable_on_ui: Option<bool>,
    /// Only those shown (or not) in a UI.
    pub visible_on_ui: Option<bool>,
    /// Only these ids.
    #[serde(default)]
    pub job_types: Vec<String>,
    /// Every loaded version, not only the newest of each job type.
    #[serde(default)]
    pub all_versions: bool,
}

impl JobTypeQuery {
    /// Whether it filters anything out.
    pub fn filters(&self) -> bool {
        self.creatable_by_agent.is_some()
            || self.creatable_on_ui.is_some()
            || self.visible_on_ui.is_some()
            || !self.job_types.is_empty()
    }
}

impl Service {
    /// The job types `q` asks for, as `GET /jobs/schemas` shows each one.
    pub fn job_types(&self, q: &JobTypeQuery) -> Vec<serde_json::Value> {
        let registry = self.inner.catalog.snapshot();
        let plugins: Vec<&Arc<Plugin>> = if q.all_versions {
            registry.all().collect()
        } else {
            registry.newest().collect()
        };
        plugins
            .into_iter()
            .filter(|p| {
                let i = &p.info;
                q.creatable_by_agent
                    .is_none_or(|b| i.creatable_by_agent == b)
                    && q.creatable_on_ui.is_none_or(|b| i.creatable_on_ui == b)
                    && q.visible_on_ui.is_none_or(|b| i.visible_on_ui == b)
                    && (q.job_types.is_empty()
                        || q.job_types.iter().any(|t| t == i.job_type.as_str()))
            })
            .map(|p| registry.summary(p))
            .collect()
    }
}
