//! Host-side copies of the values that cross the plugin boundary, converted
//! from the generated bindings so nothing outside the runtime sees them.

use super::bindings::jobhost::plugin::types as wit;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// What a plugin's `describe` returned, not yet validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// Job type id as reported.
    pub job_type: String,
    /// Version text as reported.
    pub version: String,
    /// Display name.
    pub display_name: String,
    /// Internal description.
    pub description: String,
    /// User-facing description.
    pub user_facing_description: String,
    /// Config schema text.
    pub config_schema: String,
    /// UI flag.
    pub creatable_on_ui: bool,
    /// Agent flag.
    pub creatable_by_agent: bool,
    /// UI visibility flag.
    pub visible_on_ui: bool,
    /// Requested timeout.
    pub timeout_ms: Option<u64>,
    /// Requested memory.
    pub memory_bytes: Option<u64>,
    /// Crash policy.
    pub interrupted: InterruptedPolicy,
}

/// What the host does with a run whose host process died while it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterruptedPolicy {
    /// New attempt from the last checkpoint.
    Resume,
    /// New attempt from scratch.
    Restart,
    /// Fail the run.
    Fail,
}

impl From<wit::JobTypeInfo> for PluginInfo {
    fn from(i: wit::JobTypeInfo) -> Self {
        PluginInfo {
            job_type: i.job_type,
            version: i.version,
            display_name: i.display_name,
            description: i.description,
            user_facing_description: i.user_facing_description,
            config_schema: i.config_schema,
            creatable_on_ui: i.creatable_on_ui,
            creatable_by_agent: i.creatable_by_agent,
            visible_on_ui: i.visible_on_ui,
            timeout_ms: i.limits.timeout_ms,
            memory_bytes: i.limits.memory_bytes,
            interrupted: match i.interrupted {
                wit::InterruptedPolicy::Resume => InterruptedPolicy::Resume,
                wit::InterruptedPolicy::Restart => InterruptedPolicy::Restart,
                wit::InterruptedPolicy::Fail => InterruptedPolicy::Fail,
            },
        }
    }
}

/// An artefact of a run besides its JSON result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputReference {
    /// Name, unique within the run.
    pub name: String,
    /// IANA media type.
    pub media_type: String,
    /// Content or location.
    #[serde(flatten)]
    pub data: OutputData,
}

/// Content of an output reference. Stored and served as one of three keys
/// beside `name` and `media_type`: `inline` (UTF-8 text), `inline_base64`
/// (other bytes) or `location`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "OutputDataWire", try_from = "OutputDataWire")]
pub enum OutputData {
    /// The bytes themselves.
    Inline(Vec<u8>),
    /// Where the artefact lives.
    Location(String),
}

/// The serialised form of [`OutputData`]: one shape for writing and reading,
/// so what the store writes it can read back.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum OutputDataWire {
    Inline(String),
    InlineBase64(String),
    Location(String),
}

impl From<OutputData> for OutputDataWire {
    fn from(data: OutputData) -> Self {
        match data {
            OutputData::Inline(bytes) => match String::from_utf8(bytes) {
                Ok(text) => OutputDataWire::Inline(text),
                Err(e) => OutputDataWire::InlineBase64(
                    base64::engine::general_purpose::STANDARD.encode(e.as_bytes()),
                ),
            },
            OutputData::Location(l) => OutputDataWire::Location(l),
        }
    }
}

impl TryFrom<OutputDataWire> for OutputData {
    type Error = String;
    fn try_from(wire: OutputDataWire) -> Result<Self, String> {
        Ok(match wire {
            OutputDataWire::Inline(text) => OutputData::Inline(text.into_bytes()),
            OutputDataWire::InlineBase64(b64) => OutputData::Inline(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|e| format!("inline_base64 is not base64: {e}"))?,
            ),
            OutputDataWire::Location(l) => OutputData::Location(l),
        })
    }
}

impl OutputData {
    /// Bytes this reference adds to the run's output size.
    pub fn size(&self) -> usize {
        match self {
            OutputData::Inline(b) => b.len(),
            OutputData::Location(l) => l.len(),
        }
    }
}

impl From<wit::OutputReference> for OutputReference {
    fn from(r: wit::OutputReference) -> Self {
        OutputReference {
            name: r.name,
            media_type: r.media_type,
            data: match r.data {
                wit::OutputData::Inline(b) => OutputData::Inline(b),
                wit::OutputData::Location(l) => OutputData::Location(l),
            },
        }
    }
}

/// The result of a completed run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunOutput {
    /// The JSON result.
    pub value: serde_json::Value,
    /// Artefacts besides it.
    pub references: Vec<OutputReference>,
}
