//! The durable webhook queue (runs whose result must still be POSTed, with
//! when to try next) and the per-tenant webhook signing secrets.

use super::{Record, Sled, StoreError, WebhookStore, encode};
use crate::model::{RunId, TenantId};
use rand::RngCore;

/// Storage failures (a run that cannot be read or recorded) a queued
/// webhook may meet before it is set aside.
pub const WEBHOOK_STORE_TRIES: u32 = 5;

/// A queue entry: when the delivery is due (Unix ms), and how many times in
/// a row it failed for a storage reason (absent in entries written before).
fn entry(due_ms: u64, store_failures: u32) -> [u8; 12] {
    let mut v = [0u8; 12];
    v[..8].copy_from_slice(&due_ms.to_be_bytes());
    v[8..].copy_from_slice(&store_failures.to_be_bytes());
    v
}

fn parse_entry(v: &[u8]) -> (u64, u32) {
    let due = v.get(..8).map_or(0, |b| {
        u64::from_be_bytes(b.try_into().expect("eight bytes"))
    });
    let failures = v
        .get(8..12)
        .map_or(0, |b| u32::from_be_bytes(b.try_into().expect("four bytes")));
    (due, failures)
}

/// When a webhook that failed for a storage reason `failures` times in a
/// row is due again: `backoff_ms` doubled per failure; `None` once it is
/// to be set aside ([`WEBHOOK_STORE_TRIES`]).
pub(super) fn next_due(failures: u32, now_ms: u64, backoff_ms: u64) -> Option<u64> {
    (failures < WEBHOOK_STORE_TRIES)
        .then(|| now_ms.saturating_add(backoff_ms.saturating_mul(1 << (failures - 1))))
}

/// What a webhook set aside keeps: why, and after how many tries.
pub(super) fn set_aside(run: RunId, failures: u32, why: &str, now_ms: u64) -> serde_json::Value {
    serde_json::json!({
        "run_id": run.to_string(),
        "tries": failures,
        "error": why,
        "set_aside_at_ms": now_ms,
    })
}

impl WebhookStore for Sled {
    /// Queues (or re-times) the delivery of `run`'s webhook at `due_ms`.
    fn queue_webhook(&self, run: RunId, due_ms: u64) -> Result<(), StoreError> {
        self.webhooks.insert(run.bytes(), &entry(due_ms, 0))?;
        self.webhooks_ready.notify_one();
        Ok(())
    }

    /// Every queued webhook: run and when it is due (Unix ms).
    fn queued_webhooks(&self) -> Result<Vec<(RunId, u64)>, StoreError> {
        self.webhooks
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                Ok((
                    super::damage::run_in_key(Record::WebhookDelivery, &k, 0)?,
                    parse_entry(&v).0,
                ))
            })
            .collect()
    }

    /// Removes a webhook from the queue.
    fn done_webhook(&self, run: RunId) -> Result<(), StoreError> {
        self.webhooks.remove(run.bytes())?;
        Ok(())
    }

    /// Records that `run`'s webhook failed for a storage reason (its run
    /// could not be read or recorded): it is tried again after `backoff_ms`,
    /// doubled for each failure in a row, and after [`WEBHOOK_STORE_TRIES`]
    /// of them it is set aside, out of the queue, with `why`. Returns when
    /// it is due next, or `None` once set aside.
    fn webhook_failed(
        &self,
        run: RunId,
        now_ms: u64,
        backoff_ms: u64,
        why: &str,
    ) -> Result<Option<u64>, StoreError> {
        let key = run.bytes();
        let failures = match self.webhooks.get(key)? {
            Some(v) => parse_entry(&v).1 + 1,
            None => return Ok(None),
        };
        let Some(due) = next_due(failures, now_ms, backoff_ms) else {
            let record = set_aside(run, failures, why, now_ms);
            self.webhooks_aside.insert(key, encode(&record))?;
            self.webhooks.remove(key)?;
            self.metrics.webhook_set_aside();
            return Ok(None);
        };
        self.webhooks.insert(key, &entry(due, failures))?;
        Ok(Some(due))
    }

    /// Webhooks set aside by [`WebhookStore::webhook_failed`], by run.
    fn webhooks_set_aside(&self) -> Result<Vec<(RunId, serde_json::Value)>, StoreError> {
        self.webhooks_aside
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                let id = super::damage::run_in_key(Record::WebhookDelivery, &k, 0)?;
                Ok((id, serde_json::from_slice(&v).unwrap_or_default()))
            })
            .collect()
    }

    /// Woken when a webhook is queued.
    fn webhooks_ready(&self) -> &tokio::sync::Notify {
        &self.webhooks_ready
    }

    /// The tenant's webhook signing secret (hex), created on first use.
    fn webhook_secret(&self, tenant: &TenantId) -> Result<String, StoreError> {
        let key = tenant.key_prefix();
        if let Some(v) = self.secrets.get(&key)? {
            return Ok(String::from_utf8_lossy(&v).into_owned());
        }
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let secret = hex::encode(bytes);
        // Two first uses at once: the first written wins, both return it.
        match self
            .secrets
            .compare_and_swap(&key, None as Option<&[u8]>, Some(secret.as_bytes()))?
        {
            Ok(()) => {
                self.db.flush()?;
                Ok(secret)
            }
            Err(current) => {
                Ok(String::from_utf8_lossy(&current.current.unwrap_or_default()).into_owned())
            }
        }
    }
}
