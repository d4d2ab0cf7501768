//! How `GET /plugins` shows a loaded job type version: its metadata, its
//! record's status and provenance, and its approval.

use super::{Catalog, CatalogError, Plugin, Registry};
use crate::model::{Capabilities, PluginOrigin, PluginStatus, RetryPolicy, SideEffects, Timestamp};
use serde::Serialize;

/// One loaded job type version as `GET /plugins` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct PluginView {
    /// Job type id.
    pub job_type: String,
    /// Version.
    pub version: String,
    /// Display name.
    pub display_name: String,
    /// SHA-256 of the component, hex.
    pub sha256: String,
    /// Component size in bytes.
    pub size_bytes: usize,
    /// Where it comes from.
    pub origin: PluginOrigin,
    /// The file, bundled name or published digest.
    pub source: String,
    /// Status for new jobs.
    pub status: PluginStatus,
    /// Why the status was set.
    pub status_reason: Option<String>,
    /// Who published it.
    pub published_by: Option<String>,
    /// When it was published.
    #[serde(with = "time::serde::rfc3339::option")]
    pub published_at: Option<Timestamp>,
    /// The contract version the component was built against.
    pub contract: &'static str,
    /// What its runs may reach once approved.
    pub capabilities: Capabilities,
    /// Whether an operator approved it, and what.
    pub approval: super::Approval,
    /// Side-effect hints.
    pub side_effects: SideEffects,
    /// Default retry policy.
    pub retry: Option<RetryPolicy>,
}

impl Catalog {
    /// One loaded version with its record.
    pub fn view(&self, registry: &Registry, p: &Plugin) -> Result<PluginView, CatalogError> {
        let record = self
            .store
            .plugin(p.info.job_type.as_str(), &p.info.version)?;
        Ok(PluginView {
            job_type: p.info.job_type.to_string(),
            version: p.info.version.to_string(),
            display_name: p.info.display_name.clone(),
            sha256: p.sha256().to_string(),
            size_bytes: p.compiled.size(),
            origin: p.origin,
            source: p.source.clone(),
            status: registry.status(p.info.job_type.as_str(), &p.info.version),
            status_reason: record.as_ref().and_then(|r| r.status_reason.clone()),
            published_by: record.as_ref().and_then(|r| r.published_by.clone()),
            published_at: record.as_ref().and_then(|r| r.published_at),
            contract: p.info.contract,
            capabilities: p.info.capabilities.clone(),
            approval: registry.approval(p),
            side_effects: p.info.side_effects,
            retry: p.info.retry,
        })
    }

    /// Every loaded version, by job type then version.
    pub fn list(&self) -> Result<Vec<PluginView>, CatalogError> {
        let registry = self.snapshot();
        registry.all().map(|p| self.view(&registry, p)).collect()
    }
}
