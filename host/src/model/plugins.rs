//! Records of published job type versions and of changes to the registry.

use super::grants::Grant;
use super::records::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where a job type version comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginOrigin {
    /// Built into the binary.
    Bundled,
    /// A `*.wasm` file in the plugins directory.
    Directory,
    /// Uploaded with `POST /plugins` and kept in the content-addressed store.
    Published,
}

/// Whether new jobs may pick a version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginStatus {
    /// Resolvable.
    #[default]
    Active,
    /// Still resolvable, marked as on its way out.
    Deprecated,
    /// Never picked for new jobs; jobs already pinned to it keep running.
    Yanked,
}

impl PluginStatus {
    /// The status named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "deprecated" => Some(Self::Deprecated),
            "yanked" => Some(Self::Yanked),
            _ => None,
        }
    }
}

/// What the host keeps about a job type version beyond its component: a
/// published version's publication, or any version's status change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginRecord {
    /// Job type id.
    pub job_type: String,
    /// Semver version.
    pub version: semver::Version,
    /// Where it comes from.
    pub origin: PluginOrigin,
    /// SHA-256 of the component, hex.
    pub sha256: String,
    /// Component size in bytes.
    pub size_bytes: usize,
    /// Status for new jobs.
    pub status: PluginStatus,
    /// Why the status was set, as the admin said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// Who published it (published versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_by: Option<String>,
    /// When it was published (published versions).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub published_at: Option<Timestamp>,
    /// What an operator approved for it over the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<Grant>,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
}

/// What happened in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistryEventKind {
    /// A version was uploaded and registered.
    Published,
    /// A file in the plugins directory was loaded.
    Loaded,
    /// A file in the plugins directory changed and its new content was loaded.
    Replaced,
    /// A version left the registry (its file was removed, or it was deleted).
    Removed,
    /// A status changed.
    StatusChanged,
    /// An operator approved capabilities of a version.
    Approved,
    /// A file in the plugins directory could not be loaded; it is ignored.
    LoadFailed,
}

/// One change to the registry, in the order they happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryEvent {
    /// UUIDv7: events sort by time.
    pub uuid: Uuid,
    /// What happened.
    pub kind: RegistryEventKind,
    /// The job type, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_type: Option<String>,
    /// The version, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<semver::Version>,
    /// The new status, for status changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<PluginStatus>,
    /// SHA-256 of the component, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The file or upload it concerns.
    pub source: String,
    /// Who did it (`system` for the directory watcher).
    pub actor: String,
    /// Details (the reason of a failure or a status change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
}
