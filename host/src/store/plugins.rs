//! Plugin records (publications and status changes) and registry events.

use super::{PluginStore, Record, Sled, StoreError, encode};
use crate::model::{PluginRecord, RegistryEvent};

/// Most registry events kept; older ones are dropped as new ones arrive.
pub const MAX_REGISTRY_EVENTS: usize = 10_000;

fn record_key(job_type: &str, version: &semver::Version) -> Vec<u8> {
    let mut k = job_type.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(version.to_string().as_bytes());
    k
}

impl PluginStore for Sled {
    /// Saves a plugin record (new or changed).
    fn put_plugin(&self, record: &PluginRecord) -> Result<(), StoreError> {
        self.plugins.insert(
            record_key(&record.job_type, &record.version),
            encode(record),
        )?;
        Ok(())
    }

    /// The record of one job type version.
    fn plugin(
        &self,
        job_type: &str,
        version: &semver::Version,
    ) -> Result<Option<PluginRecord>, StoreError> {
        let key = record_key(job_type, version);
        match self.plugins.get(&key)? {
            Some(bytes) => Ok(Some(self.decode(Record::Plugin, &key, &bytes)?)),
            None => Ok(None),
        }
    }

    /// Every plugin record, by job type then version text; damaged ones
    /// are logged and skipped.
    fn plugins(&self) -> Result<Vec<PluginRecord>, StoreError> {
        let mut out = Vec::new();
        for kv in self.plugins.iter() {
            let (k, v) = kv?;
            out.extend(self.skip_damaged(self.decode(Record::Plugin, &k, &v))?);
        }
        Ok(out)
    }

    /// Forgets the record of one job type version.
    fn delete_plugin(&self, job_type: &str, version: &semver::Version) -> Result<(), StoreError> {
        self.plugins.remove(record_key(job_type, version))?;
        Ok(())
    }

    /// Appends a registry event, dropping the oldest past [`MAX_REGISTRY_EVENTS`].
    fn add_registry_event(&self, event: &RegistryEvent) -> Result<(), StoreError> {
        self.plugin_events
            .insert(event.uuid.as_bytes(), encode(event))?;
        while self.plugin_events.len() > MAX_REGISTRY_EVENTS {
            self.plugin_events.pop_min()?;
        }
        Ok(())
    }

    /// Up to `limit` registry events after `after` (exclusive), oldest first.
    fn registry_events(
        &self,
        after: Option<uuid::Uuid>,
        limit: usize,
    ) -> Result<Vec<RegistryEvent>, StoreError> {
        let start = after.map(|u| u.as_bytes().to_vec()).unwrap_or_default();
        let mut out = Vec::new();
        for kv in self.plugin_events.range(start.clone()..) {
            let (k, v) = kv?;
            if k.as_ref() == start.as_slice() {
                continue;
            }
            out.extend(self.skip_damaged(self.decode(Record::RegistryEvent, &k, &v))?);
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }
}
