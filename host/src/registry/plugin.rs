//! A loaded plugin: its validated metadata, its compiled component and the
//! compiled validator of its config schema.

use super::violations::Violation;
use crate::job_type::JobTypeInfo;
use crate::model::PluginOrigin;
use crate::runtime::Compiled;
use serde_json::Value;

/// Most schema violations reported for one config.
pub const MAX_VIOLATIONS: usize = 100;

/// One job type version, ready to run.
#[derive(Debug)]
pub struct Plugin {
    /// Validated metadata and limits.
    pub info: JobTypeInfo,
    /// The compiled component.
    pub compiled: Compiled,
    /// Where it was loaded from (a path, `bundled:NAME` or `published:SHA256`).
    pub source: String,
    /// What kind of source that is.
    pub origin: PluginOrigin,
    validator: jsonschema::Validator,
}

/// Why a config was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The config is not a JSON object.
    #[error("the config must be a JSON object")]
    NotAnObject,
    /// `config.job_type` names another job type.
    #[error("config.job_type is `{found}` but the job type is `{expected}`")]
    JobTypeMismatch {
        /// The plugin's id.
        expected: String,
        /// What the config said.
        found: String,
    },
    /// The schema refused it.
    #[error("the config breaks the schema of `{job_type}` in {} place(s)", violations.len())]
    Schema {
        /// The job type.
        job_type: String,
        /// Every violation (at most [`MAX_VIOLATIONS`]).
        violations: Vec<Violation>,
    },
}

impl Plugin {
    pub(crate) fn new(info: JobTypeInfo, compiled: Compiled, source: String) -> Self {
        let validator = jsonschema::validator_for(&info.json_schema)
            .expect("JobTypeInfo::from_plugin already compiled this schema");
        Plugin {
            info,
            compiled,
            source,
            origin: PluginOrigin::Directory,
            validator,
        }
    }

    /// The job type as `GET /jobs/schemas` and `jobhost plugin inspect` show it.
    pub fn summary(&self) -> Value {
        let i = &self.info;
        serde_json::json!({
            "job_type": i.job_type,
            "version": i.version.to_string(),
            "display_name": i.display_name,
            "description": i.description,
            "user_facing_description": i.user_facing_description,
            "json_schema": i.json_schema,
            "creatable_on_ui": i.creatable_on_ui,
            "creatable_by_agent": i.creatable_by_agent,
            "visible_on_ui": i.visible_on_ui,
            "limits": i.limits,
            "interrupted": i.interrupted,
            "capabilities": i.capabilities,
            "side_effects": i.side_effects,
            "retry": i.retry,
            "contract": i.contract,
        })
    }

    /// SHA-256 of the component, hex.
    pub fn sha256(&self) -> &str {
        self.compiled.digest()
    }

    /// Checks a config against the schema, adding `job_type` when absent;
    /// a valid config's whole-number floats at integer-typed places become
    /// integers, so that what validates reaches the plugin in a form its
    /// SDK parses.
    pub fn validate_config(&self, config: &mut Value) -> Result<(), ConfigError> {
        let object = config.as_object_mut().ok_or(ConfigError::NotAnObject)?;
        let id = self.info.job_type.as_str();
        match object.get("job_type") {
            None => {
                object.insert("job_type".into(), Value::String(id.to_string()));
            }
            Some(Value::String(s)) if s == id => {}
            Some(other) => {
                return Err(ConfigError::JobTypeMismatch {
                    expected: id.to_string(),
                    found: other
                        .as_str()
                        .map_or_else(|| other.to_string(), str::to_string),
                });
            }
        }
        let violations: Vec<Violation> = self
            .validator
            .iter_errors(config)
            .flat_map(|e| super::violations::from_error(&e, &self.info.json_schema))
            .take(MAX_VIOLATIONS)
            .collect();
        if violations.is_empty() {
            super::integers::normalise(config, &self.info.json_schema);
            Ok(())
        } else {
            Err(ConfigError::Schema {
                job_type: id.to_string(),
                violations,
            })
        }
    }
}
