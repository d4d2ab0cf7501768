//! The durable callback queue (runs whose result must still be POSTed, with
//! when to try next) and the per-tenant webhook signing secrets.

use super::{Store, StoreError};
use crate::model::{RunId, TenantId};
use rand::RngCore;

impl Store {
    /// Queues (or re-times) the delivery of `run`'s callback at `due_ms`.
    pub fn queue_callback(&self, run: RunId, due_ms: u64) -> Result<(), StoreError> {
        self.callbacks.insert(run.bytes(), &due_ms.to_be_bytes())?;
        self.callbacks_ready.notify_one();
        Ok(())
    }

    /// Every queued callback: run and when it is due (Unix ms).
    pub fn queued_callbacks(&self) -> Result<Vec<(RunId, u64)>, StoreError> {
        self.callbacks
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                let due = v.as_ref().try_into().map(u64::from_be_bytes).unwrap_or(0);
                Ok((RunId::from_slice(&k).expect("16-byte key"), due))
            })
            .collect()
    }

    /// Removes a callback from the queue.
    pub fn done_callback(&self, run: RunId) -> Result<(), StoreError> {
        self.callbacks.remove(run.bytes())?;
        Ok(())
    }

    /// Woken when a callback is queued.
    pub fn callbacks_ready(&self) -> &tokio::sync::Notify {
        &self.callbacks_ready
    }

    /// The tenant's webhook signing secret (hex), created on first use.
    pub fn webhook_secret(&self, tenant: &TenantId) -> Result<String, StoreError> {
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
