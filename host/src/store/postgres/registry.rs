//! Published plugins and the registry's event log, in PostgreSQL, where
//! every host sharing the database reads them.

use super::{Postgres, decode};
use crate::model::{PluginRecord, RegistryEvent};
use crate::store::{PluginStore, Record, StoreError};
use tokio_postgres::types::Json;
use uuid::Uuid;

/// Most registry events kept; older ones go as new ones arrive (as on sled).
const MAX_REGISTRY_EVENTS: i64 = 10_000;

impl PluginStore for Postgres {
    fn put_plugin(&self, record: &PluginRecord) -> Result<(), StoreError> {
        let db = self.database();
        self.wait(async {
            let client = db.client().await?;
            client
                .execute(
                    "INSERT INTO jobhost_plugins (job_type, version, record) VALUES ($1, $2, $3)
                     ON CONFLICT (job_type, version) DO UPDATE SET record = excluded.record",
                    &[&record.job_type, &record.version.to_string(), &Json(record)],
                )
                .await
                .map_err(|e| db.refused("storing a plugin", &e))?;
            Ok(())
        })
    }

    fn put_component(&self, sha256: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let db = self.database();
        self.wait(async {
            let client = db.client().await?;
            client
                .execute(
                    "INSERT INTO jobhost_components (sha256, bytes) VALUES ($1, $2)
                     ON CONFLICT (sha256) DO NOTHING",
                    &[&sha256, &bytes],
                )
                .await
                .map_err(|e| db.refused("storing a component", &e))?;
            Ok(())
        })
    }

    fn component(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let db = self.database();
        self.wait(async {
            let client = db.client().await?;
            let row = client
                .query_opt(
                    "SELECT bytes FROM jobhost_components WHERE sha256 = $1",
                    &[&sha256],
                )
                .await
                .map_err(|e| db.refused("reading a component", &e))?;
            Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
        })
    }

    fn delete_component(&self, sha256: &str) -> Result<(), StoreError> {
        let db = self.database();
        self.wait(async {
            let client = db.client().await?;
            client
                .execute(
                    "DELETE FROM jobhost_components WHERE sha256 = $1",
                    &[&sha256],
                )
                .await
                .map_err(|e| db.refused("removing a component", &e))?;
            Ok(())
        })
    }

    fn plugin(
        &self,
        job_type: &str,
        version: &semver::Version,
    ) -> Result<Option<PluginRecord>, StoreError> {
        let db = self.database();
        let version = version.to_string();
        self.wait(async {
            let client = db.client().await?;
            let row = client
                .query_opt(
                    "SELECT record FROM jobhost_plugins WHERE job_type = $1 AND version = $2",
                    &[&job_type, &version],
                )
                .await
                .map_err(|e| db.refused("reading a plugin", &e))?;
            row.map(|r| decode(&r, 0, Record::Plugin, || format!("{job_type}@{version}")))
                .transpose()
        })
    }

    /// By job type, then version text, as on sled.
    fn plugins(&self) -> Result<Vec<PluginRecord>, StoreError> {
        let db = self.database();
        let rows = self.wait(async {
            let client = db.client().await?;
            client
                .query(
                    "SELECT job_type, version, record FROM jobhost_plugins
                     ORDER BY job_type, version",
                    &[],
                )
                .await
                .map_err(|e| db.refused("reading the plugins", &e))
        })?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                super::jobs::skip_damaged(decode(r, 2, Record::Plugin, || {
                    format!("{}@{}", r.get::<_, String>(0), r.get::<_, String>(1))
                }))
            })
            .collect())
    }

    fn delete_plugin(&self, job_type: &str, version: &semver::Version) -> Result<(), StoreError> {
        let db = self.database();
        let version = version.to_string();
        self.wait(async {
            let client = db.client().await?;
            client
                .execute(
                    "DELETE FROM jobhost_plugins WHERE job_type = $1 AND version = $2",
                    &[&job_type, &version],
                )
                .await
                .map_err(|e| db.refused("deleting a plugin", &e))?;
            Ok(())
        })
    }

    fn add_registry_event(&self, event: &RegistryEvent) -> Result<(), StoreError> {
        let db = self.database();
        self.wait(async {
            let client = db.client().await?;
            client
                .execute(
                    "INSERT INTO jobhost_registry_events (id, record) VALUES ($1, $2)
                     ON CONFLICT (id) DO NOTHING",
                    &[&event.uuid, &Json(event)],
                )
                .await
                .map_err(|e| db.refused("storing a registry event", &e))?;
            client
                .execute(
                    "DELETE FROM jobhost_registry_events WHERE id <= (
                         SELECT id FROM jobhost_registry_events
                         ORDER BY id DESC OFFSET $1 LIMIT 1)",
                    &[&MAX_REGISTRY_EVENTS],
                )
                .await
                .map_err(|e| db.refused("dropping old registry events", &e))?;
            Ok(())
        })
    }

    fn registry_events(
        &self,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<RegistryEvent>, StoreError> {
        let db = self.database();
        let rows = self.wait(async {
            let client = db.client().await?;
            client
                .query(
                    "SELECT id, record FROM jobhost_registry_events
                     WHERE $1::uuid IS NULL OR id > $1 ORDER BY id LIMIT $2",
                    &[&after, &i64::try_from(limit).unwrap_or(i64::MAX)],
                )
                .await
                .map_err(|e| db.refused("reading registry events", &e))
        })?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                super::jobs::skip_damaged(decode(r, 1, Record::RegistryEvent, || {
                    r.get::<_, Uuid>(0).to_string()
                }))
            })
            .collect())
    }
}
