//! What a completed run produced: its JSON result and the artefacts beside it.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

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

/// The result of a completed run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunOutput {
    /// The JSON result.
    pub value: serde_json::Value,
    /// Artefacts besides it.
    pub references: Vec<OutputReference>,
}
