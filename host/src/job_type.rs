//! Job types as the host knows them: a validated id, a semver version and the
//! metadata a plugin described, with the limits the host will enforce.

use crate::model::InterruptedPolicy;
use crate::model::{Capabilities, RetryPolicy, SideEffects};
use crate::runtime::{Ceilings, PluginInfo, RunLimits};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest job type id, in bytes.
pub const MAX_ID_LEN: usize = 64;

/// A job type id: `[a-z][a-z0-9_]*`, at most [`MAX_ID_LEN`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct JobTypeId(String);

impl JobTypeId {
    /// Checks and wraps an id.
    pub fn parse(id: &str) -> Result<Self, MetadataError> {
        let mut chars = id.chars();
        let valid = id.len() <= MAX_ID_LEN
            && chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if valid {
            Ok(JobTypeId(id.to_string()))
        } else {
            Err(MetadataError::InvalidId(id.chars().take(80).collect()))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for JobTypeId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        JobTypeId::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl std::borrow::Borrow<str> for JobTypeId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobTypeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a plugin's self-description was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// Bad id.
    #[error("job type id `{0}` is invalid: it must match [a-z][a-z0-9_]* and be at most 64 bytes")]
    InvalidId(String),
    /// Bad version.
    #[error("version `{version}` of job type `{job_type}` is not semantic versioning: {reason}")]
    InvalidVersion {
        /// The job type.
        job_type: String,
        /// The text.
        version: String,
        /// The parser's reason.
        reason: String,
    },
    /// A text field is empty or too long.
    #[error("field `{field}` {problem}")]
    BadField {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// The schema is not usable.
    #[error("config-schema is not a valid JSON Schema: {0}")]
    InvalidSchema(String),
}

/// A job type's validated metadata and effective limits.
#[derive(Debug, Clone, Serialize)]
pub struct JobTypeInfo {
    /// The id.
    pub job_type: JobTypeId,
    /// The version.
    pub version: semver::Version,
    /// Display name.
    pub display_name: String,
    /// Internal description.
    pub description: String,
    /// Description for people.
    pub user_facing_description: String,
    /// The schema a config must satisfy (the plugin's, plus the `job_type` key).
    pub json_schema: serde_json::Value,
    /// UI flag.
    pub creatable_on_ui: bool,
    /// Agent flag.
    pub creatable_by_agent: bool,
    /// UI visibility.
    pub visible_on_ui: bool,
    /// Limits the host enforces for runs of this type.
    pub limits: RunLimits,
    /// What happens to a run interrupted by a host crash.
    pub interrupted: InterruptedPolicy,
    /// What its runs may reach once approved.
    pub capabilities: Capabilities,
    /// Side-effect hints.
    pub side_effects: SideEffects,
    /// Default retry policy.
    pub retry: Option<RetryPolicy>,
    /// Contract version of the component.
    pub contract: &'static str,
}

const MAX_NAME: usize = 200;
const MAX_DESCRIPTION: usize = 8 << 10;
/// Largest accepted config schema text.
pub const MAX_SCHEMA: usize = 256 << 10;

fn check_text(
    field: &'static str,
    text: &str,
    max: usize,
    required: bool,
) -> Result<(), MetadataError> {
    let problem = if required && text.trim().is_empty() {
        "is empty".to_string()
    } else if text.len() > max {
        format!("is {} bytes; at most {max} are allowed", text.len())
    } else {
        return Ok(());
    };
    Err(MetadataError::BadField { field, problem })
}

impl JobTypeInfo {
    /// Validates what `describe` returned and applies the host's ceilings.
    pub fn from_plugin(info: PluginInfo, ceilings: &Ceilings) -> Result<Self, MetadataError> {
        let job_type = JobTypeId::parse(&info.job_type)?;
        let version =
            semver::Version::parse(&info.version).map_err(|e| MetadataError::InvalidVersion {
                job_type: info.job_type.clone(),
                version: info.version.chars().take(80).collect(),
                reason: e.to_string(),
            })?;
        check_text("display-name", &info.display_name, MAX_NAME, true)?;
        check_text("description", &info.description, MAX_DESCRIPTION, true)?;
        check_text(
            "user-facing-description",
            &info.user_facing_description,
            MAX_DESCRIPTION,
            false,
        )?;
        check_text("config-schema", &info.config_schema, MAX_SCHEMA, true)?;
        let schema: serde_json::Value = serde_json::from_str(&info.config_schema)
            .map_err(|e| MetadataError::InvalidSchema(format!("not JSON: {e}")))?;
        let json_schema = with_job_type_key(schema, &job_type)?;
        jsonschema::validator_for(&json_schema).map_err(|e| {
            MetadataError::InvalidSchema(format!("{e} (at schema path `{}`)", e.instance_path()))
        })?;
        Ok(JobTypeInfo {
            limits: ceilings.clamp(info.timeout_ms, info.memory_bytes),
            job_type,
            version,
            display_name: info.display_name,
            description: info.description,
            user_facing_description: info.user_facing_description,
            json_schema,
            creatable_on_ui: info.creatable_on_ui,
            creatable_by_agent: info.creatable_by_agent,
            visible_on_ui: info.visible_on_ui,
            interrupted: info.interrupted,
            capabilities: info.capabilities,
            side_effects: info.side_effects,
            retry: info.retry,
            contract: info.contract,
        })
    }
}

/// Requires a top-level object schema and adds the `job_type` property every
/// config carries, so the served schema is exactly what a config must satisfy.
fn with_job_type_key(
    mut schema: serde_json::Value,
    id: &JobTypeId,
) -> Result<serde_json::Value, MetadataError> {
    let object = schema
        .as_object_mut()
        .ok_or_else(|| MetadataError::InvalidSchema("the schema must be a JSON object".into()))?;
    if object.get("type").and_then(|t| t.as_str()) != Some("object") {
        return Err(MetadataError::InvalidSchema(
            "a config is a JSON object: the schema's top level must say \"type\": \"object\""
                .into(),
        ));
    }
    let properties = object
        .entry("properties")
        .or_insert_with(|| serde_json::json!({}))
        .as_object_mut()
        .ok_or_else(|| MetadataError::InvalidSchema("`properties` must be an object".into()))?;
    properties.insert(
        "job_type".into(),
        serde_json::json!({
            "description": "The job type; the host adds it when absent.",
            "const": id.as_str(),
        }),
    );
    Ok(schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> PluginInfo {
        PluginInfo {
            job_type: "text_stats".into(),
            version: "1.2.3".into(),
            display_name: "Text".into(),
            description: "Counts.".into(),
            user_facing_description: String::new(),
            config_schema: r#"{"type":"object","properties":{"n":{"type":"integer"}}}"#.into(),
            creatable_on_ui: true,
            creatable_by_agent: false,
            visible_on_ui: true,
            timeout_ms: Some(u64::MAX),
            memory_bytes: None,
            interrupted: InterruptedPolicy::Fail,
            capabilities: Default::default(),
            side_effects: Default::default(),
            retry: None,
            contract: "0.2.0",
        }
    }

    fn check(edit: impl FnOnce(&mut PluginInfo)) -> Result<JobTypeInfo, MetadataError> {
        let mut i = info();
        edit(&mut i);
        JobTypeInfo::from_plugin(i, &Ceilings::default())
    }

    #[test]
    fn ids() {
        for ok in ["a", "text_stats", "x9_", &"a".repeat(64)] {
            assert!(JobTypeId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Text", "9a", "_a", "a-b", "a b", "é", &"a".repeat(65)] {
            assert!(JobTypeId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn valid_info_is_clamped_and_gets_the_job_type_key() {
        let t = check(|_| {}).unwrap();
        assert_eq!(t.limits.timeout, Ceilings::default().max_timeout);
        assert_eq!(
            t.json_schema["properties"]["job_type"]["const"],
            "text_stats"
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        let e = check(|i| i.job_type = "Bad".into()).unwrap_err();
        assert!(matches!(e, MetadataError::InvalidId(_)));
        let e = check(|i| i.version = "1.0".into()).unwrap_err();
        assert!(e.to_string().contains("`1.0`"), "{e}");
        let e = check(|i| i.display_name = " ".into()).unwrap_err();
        assert!(e.to_string().contains("display-name"), "{e}");
        let e = check(|i| i.config_schema = "{".into()).unwrap_err();
        assert!(e.to_string().contains("not JSON"), "{e}");
        let e = check(|i| i.config_schema = r#"{"type":"array"}"#.into()).unwrap_err();
        assert!(e.to_string().contains("top level"), "{e}");
        let e = check(|i| {
            i.config_schema = r#"{"type":"object","properties":{"n":{"type":"integr"}}}"#.into();
        });
        assert!(matches!(e, Err(MetadataError::InvalidSchema(_))), "{e:?}");
    }
}
