//! Idempotency records: what a request sent with an `Idempotency-Key` got
//! the first time, by tenant, token and key, kept until they expire. A
//! record is written before the job or run it names, so a crash between the
//! two leaves a record whose resource does not exist, which reads as none:
//! the request was never acknowledged, and its retry runs afresh.

use super::{IdempotencyStore, Record, Sled, StoreError, encode};
use crate::model::{JobId, RunId, TenantId, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What an idempotent request created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Created {
    /// A job.
    Job(JobId),
    /// A run.
    Run(RunId),
}

/// The first answer to a request with an idempotency key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Remembered {
    /// SHA-256 (hex) of what the request asked, to tell a retry from a
    /// different request under the same key.
    pub digest: String,
    /// What it created.
    pub created: Created,
    /// The answer's status code.
    pub status: u16,
    /// The answer's body.
    pub body: Value,
    /// When the key may be used for another request.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: Timestamp,
}

/// A key held by a request being served under it, on a store other hosts
/// share (so that a request with the same key on another host waits its
/// turn); released when dropped. Empty on a store only one host uses (the
/// host's own set of keys in flight does the job).
#[derive(Default)]
pub struct KeyHold(Option<Box<dyn Send + Sync>>);

impl KeyHold {
    /// A hold released by dropping `guard`.
    pub fn new(guard: impl Send + Sync + 'static) -> KeyHold {
        KeyHold(Some(Box::new(guard)))
    }
}

impl std::fmt::Debug for KeyHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "KeyHold(held)"
        } else {
            "KeyHold(local)"
        })
    }
}

/// Longest idempotency key, in bytes.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The storage key of `key` sent by `token` of `tenant`.
fn record_key(tenant: &TenantId, token: &str, key: &str) -> Vec<u8> {
    let mut k = tenant.key_prefix();
    k.push(token.len().min(255) as u8);
    k.extend_from_slice(&token.as_bytes()[..token.len().min(255)]);
    k.extend_from_slice(key.as_bytes());
    k
}

fn unix_ms(t: Timestamp) -> u64 {
    (t.unix_timestamp_nanos() / 1_000_000).max(0) as u64
}

/// The storage key of an idempotency key (what the service locks on).
pub fn idempotency_slot(tenant: &TenantId, token: &str, key: &str) -> Vec<u8> {
    record_key(tenant, token, key)
}

impl IdempotencyStore for Sled {
    /// The first answer under `slot`, if it has not expired by `now` and
    /// what it created exists.
    fn remembered(&self, slot: &[u8], now: Timestamp) -> Result<Option<Remembered>, StoreError> {
        let Some(bytes) = self.idempotency.get(slot)? else {
            return Ok(None);
        };
        let Some(first) =
            self.skip_damaged(self.decode::<Remembered>(Record::Idempotency, slot, &bytes))?
        else {
            return Ok(None);
        };
        if first.expires_at <= now {
            return Ok(None);
        }
        let exists = match first.created {
            Created::Job(id) => self.jobs.contains_key(id.bytes())?,
            Created::Run(id) => self.runs.contains_key(id.bytes())?,
        };
        Ok(exists.then_some(first))
    }

    /// Keeps the first answer under `slot`: its expiry entry, then the
    /// record. Write it before what it names (see the module comment).
    fn remember(&self, slot: &[u8], first: &Remembered) -> Result<(), StoreError> {
        let mut expiry = unix_ms(first.expires_at).to_be_bytes().to_vec();
        expiry.extend_from_slice(slot);
        self.idempotency_expiry.insert(expiry, &[])?;
        self.idempotency.insert(slot, encode(first))?;
        Ok(())
    }

    /// Drops the records expired by `now`; returns how many.
    fn forget_expired(&self, now: Timestamp) -> Result<usize, StoreError> {
        let end = (unix_ms(now) + 1).to_be_bytes();
        let mut dropped = 0;
        for entry in self.idempotency_expiry.range(..end.as_slice()).keys() {
            let entry = entry?;
            let slot = &entry[8.min(entry.len())..];
            if let Some(bytes) = self.idempotency.get(slot)? {
                let expired = self
                    .skip_damaged(self.decode::<Remembered>(Record::Idempotency, slot, &bytes))?
                    .is_none_or(|r| r.expires_at <= now);
                if expired {
                    self.idempotency.remove(slot)?;
                    dropped += 1;
                }
            }
            self.idempotency_expiry.remove(&entry)?;
        }
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::now;
    use crate::store::prelude::*;

    #[test]
    fn records_are_found_until_they_expire_and_only_with_what_they_created() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sled::open(dir.path()).unwrap();
        let tenant = TenantId("acme".into());
        let slot = idempotency_slot(&tenant, "tok1", "k-1");
        assert_ne!(slot, idempotency_slot(&tenant, "tok2", "k-1"));
        assert_ne!(
            slot,
            idempotency_slot(&TenantId("acm".into()), "etok1", "k-1")
        );
        let t = now();
        let job = crate::model::Job::new(
            tenant.clone(),
            crate::job_type::JobTypeId::parse("text_stats").unwrap(),
            semver::Version::new(1, 0, 0),
            serde_json::json!({}),
            "a@example.com",
        );
        let first = Remembered {
            digest: "d".into(),
            created: Created::Job(job.uuid),
            status: 201,
            body: serde_json::json!({"uuid": job.uuid}),
            expires_at: t + time::Duration::seconds(60),
        };
        store.remember(&slot, &first).unwrap();
        assert_eq!(
            store.remembered(&slot, t).unwrap(),
            None,
            "the job was never stored"
        );
        store.put_job(&job).unwrap();
        assert_eq!(store.remembered(&slot, t).unwrap(), Some(first.clone()));
        let later = t + time::Duration::seconds(61);
        assert_eq!(store.remembered(&slot, later).unwrap(), None);
        assert_eq!(store.forget_expired(t).unwrap(), 0);
        assert_eq!(store.forget_expired(later).unwrap(), 1);
        assert!(store.idempotency.is_empty() && store.idempotency_expiry.is_empty());
    }
}
