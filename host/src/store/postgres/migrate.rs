//! The schema, versioned: each migration is applied once, in order, and
//! recorded with a digest of its SQL. `Database::migrate` applies what is
//! missing in one transaction under an advisory lock, so hosts starting
//! together wait for each other instead of racing, and a failed migration
//! leaves the schema as it was. A database newer than the build, or one
//! whose applied migrations differ from the build's, is refused.

use super::{Database, DatabaseError};
use sha2::{Digest, Sha256};

/// One step of the schema.
#[derive(Debug)]
pub struct Migration {
    /// From 1, one more than the step before.
    pub version: i32,
    /// What it does, in a few words.
    pub name: &'static str,
    /// The statements.
    pub sql: &'static str,
}

impl Migration {
    fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.sql.as_bytes()))
    }
}

/// Every migration this build knows, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "jobs, runs and run logs",
        sql: include_str!("migrations/0001_jobs_and_runs.sql"),
    },
    Migration {
        version: 2,
        name: "checkpoints, schedules, idempotency records, plugins, registry events, \
               webhooks, notices and secrets",
        sql: include_str!("migrations/0002_checkpoints_schedules_plugins_webhooks_secrets.sql"),
    },
    Migration {
        version: 3,
        name: "published components and the event log",
        sql: include_str!("migrations/0003_components_and_events.sql"),
    },
    Migration {
        version: 4,
        name: "asks between hosts",
        sql: include_str!("migrations/0004_asks.sql"),
    },
];

/// A migration applied by a call to `Database::migrate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Its version.
    pub version: i32,
    /// Its name.
    pub name: String,
}

/// What `Database::migrate` did.
#[derive(Debug, Clone)]
pub struct Migrations {
    /// Applied by this call, oldest first (none when up to date).
    pub applied: Vec<Applied>,
    /// The schema's version afterwards.
    pub version: i32,
}

/// The advisory lock migrations hold: "jobhost" in ASCII.
const LOCK: i64 = 0x006a_6f62_686f_7374;

impl Database {
    /// Brings the schema up to this build's version (see the module docs).
    pub async fn migrate(&self) -> Result<Migrations, DatabaseError> {
        let migrations = MIGRATIONS;
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| self.refused("a transaction", &e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK])
            .await
            .map_err(|e| self.refused("the migration lock", &e))?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS jobhost_schema (
                version integer PRIMARY KEY,
                name text NOT NULL,
                sha256 text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await
        .map_err(|e| self.refused("creating the schema version table", &e))?;
        let rows = tx
            .query(
                "SELECT version, sha256 FROM jobhost_schema ORDER BY version",
                &[],
            )
            .await
            .map_err(|e| self.refused("reading the schema version", &e))?;
        let known = migrations.last().map_or(0, |m| m.version);
        let mut version = 0;
        for row in rows {
            let (applied, digest): (i32, String) = (row.get(0), row.get(1));
            let Some(m) = migrations.iter().find(|m| m.version == applied) else {
                return Err(DatabaseError::NewerSchema {
                    target: self.target.clone(),
                    found: applied,
                    known,
                });
            };
            if m.digest() != digest {
                return Err(DatabaseError::Altered {
                    target: self.target.clone(),
                    version: m.version,
                    name: m.name.to_string(),
                });
            }
            version = version.max(applied);
        }
        let mut applied = Vec::new();
        let current = version;
        for m in migrations.iter().filter(|m| m.version > current) {
            let what = format!("migration {} ({})", m.version, m.name);
            tx.batch_execute(m.sql)
                .await
                .map_err(|e| self.refused(&what, &e))?;
            tx.execute(
                "INSERT INTO jobhost_schema (version, name, sha256) VALUES ($1, $2, $3)",
                &[&m.version, &m.name, &m.digest()],
            )
            .await
            .map_err(|e| self.refused(&what, &e))?;
            applied.push(Applied {
                version: m.version,
                name: m.name.to_string(),
            });
            version = m.version;
        }
        tx.commit()
            .await
            .map_err(|e| self.refused("committing the migrations", &e))?;
        Ok(Migrations { applied, version })
    }
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    #[test]
    fn migrations_are_numbered_from_one_without_gaps() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i32 + 1, "{}", m.name);
            assert!(!m.name.is_empty() && !m.sql.trim().is_empty());
        }
    }
}
