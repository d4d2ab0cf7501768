//! Tenants' named secrets in PostgreSQL, sealed by the host's secrets key
//! before they are written (every host sharing the database needs the same
//! key), and the tenants' webhook signing secrets.

use super::Postgres;
use crate::model::TenantId;
use crate::runtime::SecretValue;
use crate::store::secrets::{self, Stored};
use crate::store::{MAX_SECRETS_PER_TENANT, SecretInfo, SecretStore, StoreError};
use tokio_postgres::types::Json;

/// A tenant's secrets are added one at a time while its cap is checked.
const TENANT_SECRETS_LOCK: &str = "jobhost tenant secrets: ";

impl SecretStore for Postgres {
    fn put_secret(
        &self,
        tenant: &TenantId,
        name: &str,
        value: &str,
        actor: &str,
    ) -> Result<(SecretInfo, bool), StoreError> {
        let stored = secrets::seal(self.vault(), tenant, name, value, actor)?;
        let db = self.database();
        let new = self.wait(async {
            let mut client = db.client().await?;
            let refused = |what: &'static str| move |e: tokio_postgres::Error| db.refused(what, &e);
            let tx = client
                .transaction()
                .await
                .map_err(refused("a transaction"))?;
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                &[&format!("{TENANT_SECRETS_LOCK}{}", tenant.0)],
            )
            .await
            .map_err(refused("the tenant's secrets lock"))?;
            let row = tx
                .query_one(
                    "SELECT count(*), count(*) FILTER (WHERE name = $2)
                     FROM jobhost_secrets WHERE tenant = $1",
                    &[&tenant.0, &name],
                )
                .await
                .map_err(refused("counting secrets"))?;
            let (count, existing): (i64, i64) = (row.get(0), row.get(1));
            let new = existing == 0;
            if new && count >= i64::try_from(MAX_SECRETS_PER_TENANT).unwrap_or(i64::MAX) {
                return Ok(None);
            }
            tx.execute(
                "INSERT INTO jobhost_secrets (tenant, name, record) VALUES ($1, $2, $3)
                 ON CONFLICT (tenant, name) DO UPDATE SET record = excluded.record",
                &[
                    &tenant.0,
                    &name,
                    &serde_json::to_value(&stored).expect("secrets serialise"),
                ],
            )
            .await
            .map_err(refused("storing a secret"))?;
            tx.commit().await.map_err(refused("committing a secret"))?;
            Ok(Some(new))
        })?;
        match new {
            Some(new) => Ok((stored.info, new)),
            None => Err(StoreError::TooManySecrets {
                max: MAX_SECRETS_PER_TENANT,
            }),
        }
    }

    fn secrets(&self, tenant: &TenantId) -> Result<Vec<SecretInfo>, StoreError> {
        let db = self.database();
        let rows = self.wait(async {
            let client = db.client().await?;
            client
                .query(
                    "SELECT name, record FROM jobhost_secrets WHERE tenant = $1 ORDER BY name",
                    &[&tenant.0],
                )
                .await
                .map_err(|e| db.refused("listing secrets", &e))
        })?;
        let mut out = Vec::new();
        for row in rows {
            match row.try_get::<_, Json<Stored>>(1) {
                Ok(Json(stored)) => out.push(stored.info),
                Err(e) => tracing::warn!(
                    name = row.get::<_, String>(0), error = %e,
                    "a stored secret record is damaged; skipped"
                ),
            }
        }
        Ok(out)
    }

    fn delete_secret(&self, tenant: &TenantId, name: &str) -> Result<bool, StoreError> {
        let db = self.database();
        let gone = self.wait(async {
            let client = db.client().await?;
            client
                .execute(
                    "DELETE FROM jobhost_secrets WHERE tenant = $1 AND name = $2",
                    &[&tenant.0, &name],
                )
                .await
                .map_err(|e| db.refused("deleting a secret", &e))
        })?;
        Ok(gone == 1)
    }

    fn secret_value(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<SecretValue>, StoreError> {
        let db = self.database();
        let row = self.wait(async {
            let client = db.client().await?;
            client
                .query_opt(
                    "SELECT record::text FROM jobhost_secrets WHERE tenant = $1 AND name = $2",
                    &[&tenant.0, &name],
                )
                .await
                .map_err(|e| db.refused("reading a secret", &e))
        })?;
        row.map(|r| secrets::unseal(self.vault(), tenant, name, r.get::<_, &str>(0).as_bytes()))
            .transpose()
    }
}
