//! First answers to requests sent with an idempotency key, in PostgreSQL,
//! kept until they expire. A request being served under a key holds a
//! session advisory lock on it (on a pooled connection, unlocked when the
//! request is done), so that the same key on another host waits its turn
//! and then reads the first answer.

use super::{Postgres, decode};
use crate::model::Timestamp;
use crate::store::{Created, IdempotencyStore, KeyHold, Record, Remembered, StoreError};
use tokio_postgres::types::Json;

impl IdempotencyStore for Postgres {
    /// Only while it has not expired and what it created exists.
    fn remembered(&self, slot: &[u8], now: Timestamp) -> Result<Option<Remembered>, StoreError> {
        let db = self.database();
        let row = self.wait(async {
            let client = db.client().await?;
            client
                .query_opt(
                    "SELECT record FROM jobhost_idempotency WHERE slot = $1 AND expires_at > $2",
                    &[&slot, &now],
                )
                .await
                .map_err(|e| db.refused("reading an idempotency record", &e))
        })?;
        let Some(row) = row else { return Ok(None) };
        let Some(first) =
            super::jobs::skip_damaged(decode::<Remembered>(&row, 0, Record::Idempotency, || {
                hex::encode(slot)
            }))
        else {
            return Ok(None);
        };
        let exists = match first.created {
            Created::Job(id) => self.wait(async {
                let client = db.client().await?;
                let row = client
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM jobhost_jobs WHERE id = $1)",
                        &[&id.0],
                    )
                    .await
                    .map_err(|e| db.refused("reading a job", &e))?;
                Ok(row.get::<_, bool>(0))
            })?,
            Created::Run(id) => self.wait(db.run_exists(id))?,
        };
        Ok(exists.then_some(first))
    }

    fn remember(&self, slot: &[u8], first: &Remembered) -> Result<(), StoreError> {
        let db = self.database();
        self.wait(async {
            let client = db.client().await?;
            client
                .execute(
                    "INSERT INTO jobhost_idempotency (slot, expires_at, record) VALUES ($1, $2, $3)
                     ON CONFLICT (slot) DO UPDATE
                     SET expires_at = excluded.expires_at, record = excluded.record",
                    &[&slot, &first.expires_at, &Json(first)],
                )
                .await
                .map_err(|e| db.refused("storing an idempotency record", &e))?;
            Ok(())
        })
    }

    fn hold_key(&self, slot: &[u8]) -> Result<Option<KeyHold>, StoreError> {
        let key = key_lock(slot);
        let db = self.database();
        let client = self.wait(async {
            let client = db.client().await?;
            let row = client
                .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&KEY_LOCKS, &key])
                .await
                .map_err(|e| db.refused("holding an idempotency key", &e))?;
            Ok(row.get::<_, bool>(0).then_some(client))
        })?;
        Ok(client.map(|client| {
            KeyHold::new(Held {
                client: Some(client),
                key,
                runtime: self.runtime().clone(),
            })
        }))
    }

    fn forget_expired(&self, now: Timestamp) -> Result<usize, StoreError> {
        let db = self.database();
        let dropped = self.wait(async {
            let client = db.client().await?;
            client
                .execute(
                    "DELETE FROM jobhost_idempotency WHERE expires_at <= $1",
                    &[&now],
                )
                .await
                .map_err(|e| db.refused("dropping expired idempotency records", &e))
        })?;
        Ok(usize::try_from(dropped).unwrap_or(usize::MAX))
    }
}

/// The first of the two 32-bit keys of idempotency key locks ("idem").
const KEY_LOCKS: i32 = 0x6964_656d;

/// The second: the first 4 bytes of SHA-256 of the key's slot. (Two keys
/// sharing it only wait for each other.)
fn key_lock(slot: &[u8]) -> i32 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(slot);
    i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// A key lock held on a pooled connection; unlocked when dropped (a
/// connection that fails to unlock is closed, which unlocks it too).
struct Held {
    client: Option<deadpool_postgres::Client>,
    key: i32,
    runtime: tokio::runtime::Handle,
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let key = self.key;
        self.runtime.spawn(async move {
            let unlocked = client
                .query_one("SELECT pg_advisory_unlock($1, $2)", &[&KEY_LOCKS, &key])
                .await;
            if !matches!(unlocked, Ok(row) if row.get::<_, bool>(0)) {
                // Never back to the pool holding the lock.
                drop(deadpool_postgres::Object::take(client));
            }
        });
    }
}
