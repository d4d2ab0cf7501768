//! Approval of what job type versions declare: the grant in force for each
//! version (an operator's over the API, else the `--grants` file's, else
//! the bundled default), its approval state, and the effective access of
//! its runs (declared ∩ granted). A grant is per version: a new version
//! starts pending, whatever the old one was granted.

use super::catalog::{event, record_of};
use super::{Catalog, CatalogError, Plugin, PluginView, Registry};
use crate::model::{
    Access, Grant, GrantSource, HttpNeeds, Origin, PluginOrigin, RegistryEventKind, now,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Whether a version may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    /// It declares nothing that needs approval.
    NotRequired,
    /// It declares capabilities no operator approved: no new jobs or runs.
    Pending,
    /// An operator (or the bundle) approved it.
    Approved,
}

/// What awaits approval, or what was granted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CapabilityList {
    /// Destinations (`operator_chosen` when the operator picks them).
    pub http: Vec<String>,
    /// Secret names.
    pub secrets: Vec<String>,
}

/// A version's approval as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approval {
    /// The state.
    pub state: ApprovalState,
    /// What runs may use: declared ∩ granted.
    pub granted: CapabilityList,
    /// What was declared but is not granted.
    pub awaiting: CapabilityList,
    /// Where the grant comes from.
    pub source: Option<GrantSource>,
    /// Who approved it.
    pub approved_by: Option<String>,
    /// When.
    #[serde(with = "time::serde::rfc3339::option")]
    pub approved_at: Option<crate::model::Timestamp>,
}

/// One entry of a `--grants` file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileGrant {
    /// Destinations.
    #[serde(default)]
    pub http: Vec<Origin>,
    /// Secret names.
    #[serde(default)]
    pub secrets: Vec<String>,
}

/// Reads a `--grants` file: a JSON object whose keys are
/// `JOB_TYPE@VERSION` and values `{"http": [...], "secrets": [...]}`.
pub fn read_grants_file(path: &Path) -> Result<BTreeMap<(String, semver::Version), Grant>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let raw: BTreeMap<String, FileGrant> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = BTreeMap::new();
    for (key, g) in raw {
        let (job_type, version) = key
            .split_once('@')
            .ok_or_else(|| format!("{}: key `{key}` is not JOB_TYPE@VERSION", path.display()))?;
        let version = semver::Version::parse(version)
            .map_err(|e| format!("{}: key `{key}`: {e}", path.display()))?;
        for s in &g.secrets {
            crate::model::check_secret_name(s)
                .map_err(|e| format!("{}: key `{key}`: {e}", path.display()))?;
        }
        out.insert(
            (job_type.to_string(), version),
            Grant {
                http: g.http,
                secrets: g.secrets,
                source: GrantSource::File,
                sha256: None,
                approved_by: format!("grants file {}", path.display()),
                approved_at: now(),
            },
        );
    }
    Ok(out)
}

/// The grant a bundled version comes with: everything it declares
/// (operator-chosen destinations stay empty until an operator grants some).
pub(super) fn bundled_grant(p: &Plugin) -> Grant {
    Grant {
        http: p.info.capabilities.everything_declared(),
        secrets: p
            .info
            .capabilities
            .secrets
            .iter()
            .map(|s| s.name.clone())
            .collect(),
        source: GrantSource::Bundled,
        sha256: Some(p.sha256().to_string()),
        approved_by: "jobhost (bundled)".into(),
        approved_at: now(),
    }
}

impl Registry {
    /// Sets (or, with `None`, drops) the grant of a version.
    pub fn set_grant(&mut self, job_type: &str, version: &semver::Version, grant: Option<Grant>) {
        let key = (job_type.to_string(), version.clone());
        match grant {
            Some(g) => self.grants.insert(key, g),
            None => self.grants.remove(&key),
        };
    }

    /// The grant in force for a loaded version, if any. A grant given for
    /// other content of the same version does not count.
    pub fn grant(&self, p: &Plugin) -> Option<&Grant> {
        let g = self
            .grants
            .get(&(p.info.job_type.to_string(), p.info.version.clone()))?;
        match &g.sha256 {
            Some(d) if d != p.sha256() => None,
            _ => Some(g),
        }
    }

    /// What runs of `p` may use.
    pub fn access(&self, p: &Plugin) -> Access {
        Access::of(&p.info.capabilities, self.grant(p))
    }

    /// The approval of `p`.
    pub fn approval(&self, p: &Plugin) -> Approval {
        let caps = &p.info.capabilities;
        let grant = self.grant(p);
        let access = self.access(p);
        let granted = CapabilityList {
            http: access.http.iter().map(ToString::to_string).collect(),
            secrets: access.secrets.clone(),
        };
        let mut awaiting = CapabilityList::default();
        match &caps.http {
            HttpNeeds::None => {}
            HttpNeeds::OperatorChosen { .. } => {
                if access.http.is_empty() {
                    awaiting.http.push("operator_chosen".into());
                }
            }
            HttpNeeds::Destinations { destinations } => {
                awaiting.http = destinations
                    .iter()
                    .filter(|d| !access.http.contains(&d.url))
                    .map(|d| d.url.to_string())
                    .collect();
            }
        }
        awaiting.secrets = caps
            .secrets
            .iter()
            .filter(|s| !access.secrets.contains(&s.name))
            .map(|s| s.name.clone())
            .collect();
        let state = if !caps.needs_approval() {
            ApprovalState::NotRequired
        } else if grant.is_some() {
            ApprovalState::Approved
        } else {
            ApprovalState::Pending
        };
        Approval {
            state,
            granted,
            awaiting,
            source: grant.map(|g| g.source),
            approved_by: grant.map(|g| g.approved_by.clone()),
            approved_at: grant.map(|g| g.approved_at),
        }
    }

    /// Gives bundled versions their default grant, unless they have one.
    pub(super) fn grant_bundled(&mut self) {
        let bundled: Vec<Grant> = self
            .all()
            .filter(|p| p.origin == PluginOrigin::Bundled && p.info.capabilities.needs_approval())
            .filter(|p| self.grant(p).is_none())
            .map(|p| bundled_grant(p))
            .collect();
        for g in bundled {
            let p = self
                .all()
                .find(|p| g.sha256.as_deref() == Some(p.sha256()))
                .cloned();
            if let Some(p) = p {
                self.set_grant(p.info.job_type.as_str(), &p.info.version, Some(g));
            }
        }
    }
}

impl Catalog {
    /// Approves what a loaded version declared: `http` destinations (within
    /// the declared ones, unless the job type leaves them to the operator)
    /// and `secrets` (within the declared ones). Each given list replaces
    /// the one granted so far; a list not given is kept. Other versions are
    /// untouched.
    pub fn set_grant(
        &self,
        job_type: &str,
        version: &semver::Version,
        http: Option<Vec<Origin>>,
        secrets: Option<Vec<String>>,
        actor: &str,
    ) -> Result<PluginView, CatalogError> {
        let _guard = self.lock();
        let current = self.snapshot();
        let plugin = self.loaded(&current, job_type, version)?;
        let before = current.grant(&plugin);
        let http = http.unwrap_or_else(|| before.map(|g| g.http.clone()).unwrap_or_default());
        let secrets =
            secrets.unwrap_or_else(|| before.map(|g| g.secrets.clone()).unwrap_or_default());
        let caps = &plugin.info.capabilities;
        let mut problems = Vec::new();
        match &caps.http {
            HttpNeeds::None if !http.is_empty() => problems.push(format!(
                "`{job_type}` {version} declares no HTTP destinations; grant none"
            )),
            HttpNeeds::Destinations { destinations } => {
                for h in &http {
                    if !destinations.iter().any(|d| d.url == *h) {
                        let declared: Vec<String> =
                            destinations.iter().map(|d| d.url.to_string()).collect();
                        problems.push(format!(
                            "{h} is not a destination `{job_type}` {version} declares \
                             (declared: {})",
                            declared.join(", ")
                        ));
                    }
                }
            }
            _ => {}
        }
        for s in &secrets {
            if !caps.secrets.iter().any(|d| d.name == *s) {
                problems.push(format!(
                    "secret `{s}` is not one `{job_type}` {version} declares"
                ));
            }
        }
        if !problems.is_empty() {
            return Err(CatalogError::Grant(problems));
        }
        let grant = Grant {
            http,
            secrets,
            source: GrantSource::Api,
            sha256: Some(plugin.sha256().to_string()),
            approved_by: actor.to_string(),
            approved_at: now(),
        };
        let mut record = match self.store.plugin(job_type, version)? {
            Some(r) => r,
            None => record_of(&plugin),
        };
        record.grant = Some(grant.clone());
        record.updated_at = now();
        self.store.put_plugin(&record)?;
        let granted: Vec<String> = grant
            .http
            .iter()
            .map(ToString::to_string)
            .chain(grant.secrets.iter().map(|s| format!("secret {s}")))
            .collect();
        let message = format!(
            "granted: {}",
            if granted.is_empty() {
                "nothing".to_string()
            } else {
                granted.join(", ")
            }
        );
        self.event(event(
            RegistryEventKind::Approved,
            &plugin,
            actor,
            Some(message),
        ));
        self.store.flush_blocking()?;
        let mut next = (*current).clone();
        next.set_grant(job_type, version, Some(grant));
        self.swap(next);
        self.view(&self.snapshot(), &plugin)
    }
}
