//! First answers to requests sent with an idempotency key, in PostgreSQL,
//! kept until they expire.

use super::{Postgres, decode};
use crate::model::Timestamp;
use crate::store::{Created, IdempotencyStore, Record, Remembered, StoreError};
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
