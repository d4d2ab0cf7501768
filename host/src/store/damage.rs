//! Records that do not decode: what kind each is, how it is named in errors,
//! and how reads that meet one count it and (in lists and scans) skip it, so
//! one damaged record is reported for itself and never takes down a list, a
//! worker or a start.

use super::{Sled, StoreError};
use crate::model::RunId;
use serde::de::DeserializeOwned;
use std::fmt;

/// The kinds of records the store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Record {
    /// A saved job.
    Job,
    /// A job run.
    Run,
    /// One line of a run's log.
    LogLine,
    /// A job type version's record.
    Plugin,
    /// A registry change.
    RegistryEvent,
    /// An index entry (runs or jobs by tenant, job, status or type).
    IndexEntry,
    /// A webhook delivery waiting or set aside.
    WebhookDelivery,
    /// The first answer to a request with an idempotency key.
    Idempotency,
    /// Where a job's schedule stands.
    ScheduleState,
}

impl Record {
    /// Stable snake_case name (error details, metric labels).
    pub fn as_str(self) -> &'static str {
        match self {
            Record::Job => "job",
            Record::Run => "job_run",
            Record::LogLine => "log_line",
            Record::Plugin => "plugin",
            Record::RegistryEvent => "registry_event",
            Record::IndexEntry => "index_entry",
            Record::WebhookDelivery => "webhook_delivery",
            Record::Idempotency => "idempotency_record",
            Record::ScheduleState => "schedule_state",
        }
    }

    /// The record's id as people read it, from its storage key.
    fn id_of(self, key: &[u8]) -> String {
        let uuid = |b: &[u8]| {
            <[u8; 16]>::try_from(b)
                .map(|b| uuid::Uuid::from_bytes(b).to_string())
                .unwrap_or_else(|_| hex::encode(b))
        };
        match self {
            Record::Job | Record::Run | Record::RegistryEvent | Record::ScheduleState => uuid(key),
            Record::LogLine if key.len() == 20 => {
                let seq = u32::from_be_bytes(key[16..].try_into().expect("four bytes"));
                format!("{} line {seq}", uuid(&key[..16]))
            }
            Record::LogLine => hex::encode(key),
            Record::Plugin => String::from_utf8_lossy(key).replacen('\0', "@", 1),
            Record::IndexEntry | Record::WebhookDelivery | Record::Idempotency => hex::encode(key),
        }
    }
}

/// The 16-byte id a storage key of `record` ends with from `at` on; a key
/// that does not is [`StoreError::Corrupt`], naming it, never a panic.
pub(crate) fn id_in_key(record: Record, key: &[u8], at: usize) -> Result<[u8; 16], StoreError> {
    key.get(at..)
        .and_then(|b| <[u8; 16]>::try_from(b).ok())
        .ok_or_else(|| StoreError::Corrupt {
            record,
            id: record.id_of(key),
            reason: format!(
                "the key is {} bytes; expected a 16-byte id after byte {at}",
                key.len()
            ),
        })
}

/// [`id_in_key`] as a run id.
pub(crate) fn run_in_key(record: Record, key: &[u8], at: usize) -> Result<RunId, StoreError> {
    id_in_key(record, key, at).map(|b| RunId(uuid::Uuid::from_bytes(b)))
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Record::Job => "job",
            Record::Run => "job run",
            Record::LogLine => "log line",
            Record::Plugin => "job type version",
            Record::RegistryEvent => "registry event",
            Record::IndexEntry => "index entry",
            Record::WebhookDelivery => "webhook delivery",
            Record::Idempotency => "idempotency record",
            Record::ScheduleState => "schedule state",
        })
    }
}

impl Sled {
    /// Decodes a stored record; one that does not decode is counted and
    /// reported as [`StoreError::Corrupt`], naming it.
    pub(super) fn decode<T: DeserializeOwned>(
        &self,
        record: Record,
        key: &[u8],
        bytes: &[u8],
    ) -> Result<T, StoreError> {
        serde_json::from_slice(bytes).map_err(|e| {
            self.metrics.damaged_record(record.as_str());
            StoreError::Corrupt {
                record,
                id: record.id_of(key),
                reason: e.to_string(),
            }
        })
    }

    /// For lists and scans: a damaged record is logged and skipped (`None`),
    /// any other error passes.
    pub(super) fn skip_damaged<T>(
        &self,
        read: Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        match read {
            Ok(t) => Ok(Some(t)),
            Err(StoreError::Corrupt { record, id, reason }) => {
                tracing::warn!(record = record.as_str(), %id, %reason, "skipped a damaged record");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}
