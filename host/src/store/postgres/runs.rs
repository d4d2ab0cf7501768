//! Runs in PostgreSQL: each stored whole (`record`) with the columns the
//! queue, lists and fencing query; taken from one queue shared by every
//! host (fairly across tenants, each tenant's runs by priority then age);
//! and written by the holder of an attempt only while it still holds it.

use super::{Database, DatabaseError};
use crate::model::{JobRun, RunId, RunStatus, TenantId};
use deadpool_postgres::GenericClient;
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::Json;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

/// A tenant's runs are taken one host at a time while its cap is checked:
/// this advisory lock (with the tenant's name hashed in) is held for the
/// claim's transaction.
const TENANT_CLAIM_LOCK: &str = "jobhost tenant claim: ";

/// A run's row: its id, the columns, its record.
struct Columns<'a> {
    id: Uuid,
    tenant: &'a str,
    job_id: Uuid,
    job_type: &'a str,
    status: &'static str,
    priority: i32,
    attempt: i32,
    next_attempt_at: Option<OffsetDateTime>,
    lease_holder: Option<&'a str>,
    lease_expires_at: Option<OffsetDateTime>,
    record: Json<&'a JobRun>,
}

impl<'a> Columns<'a> {
    fn of(run: &'a JobRun) -> Self {
        Columns {
            id: run.uuid.0,
            tenant: &run.tenant.0,
            job_id: run.job_id.0,
            job_type: run.job_type.as_str(),
            status: run.status.as_str(),
            priority: run.priority,
            attempt: i32::try_from(run.attempt).unwrap_or(i32::MAX),
            next_attempt_at: run.next_attempt_at,
            lease_holder: run.lease.as_ref().map(|l| l.holder.as_str()),
            lease_expires_at: run.lease.as_ref().map(|l| l.expires_at),
            record: Json(run),
        }
    }

    /// `$1` the id, `$2`.. in the order of [`COLUMNS`].
    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.id,
            &self.tenant,
            &self.job_id,
            &self.job_type,
            &self.status,
            &self.priority,
            &self.attempt,
            &self.next_attempt_at,
            &self.lease_holder,
            &self.lease_expires_at,
            &self.record,
        ]
    }
}

/// The columns written with every record.
const COLUMNS: &str = "tenant, job_id, job_type, status, priority, attempt, \
                       next_attempt_at, lease_holder, lease_expires_at, record";

impl Database {
    /// Saves a new run (pending: the queue is the pending runs themselves).
    pub async fn insert_run(&self, run: &JobRun) -> Result<(), DatabaseError> {
        let client = self.client().await?;
        client
            .execute(
                &format!(
                    "INSERT INTO jobhost_runs (id, {COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                ),
                &Columns::of(run).params(),
            )
            .await
            .map_err(|e| self.refused("storing a run", &e))?;
        Ok(())
    }

    /// A run whatever its tenant.
    pub async fn run_any_tenant(&self, id: RunId) -> Result<Option<JobRun>, DatabaseError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT record FROM jobhost_runs WHERE id = $1", &[&id.0])
            .await
            .map_err(|e| self.refused("reading a run", &e))?;
        row.map(|row| self.decode_at(id, &row, 0)).transpose()
    }

    /// Takes the next run that is due and starts it: from the tenant with
    /// the fewest runs running (on any host) below `cap`, that tenant's
    /// highest priority, then oldest. `start` turns the pending record into
    /// the one to write (running under a lease, or failed when it cannot
    /// run here); it is written in the same transaction that locked the
    /// run, so no other host takes it. `None` when no run is due.
    pub async fn claim_next(
        &self,
        cap: usize,
        mut start: impl FnMut(JobRun) -> JobRun,
    ) -> Result<Option<JobRun>, DatabaseError> {
        let cap = i64::try_from(cap).unwrap_or(i64::MAX);
        let mut client = self.client().await?;
        // Tenants with a due run, fewest running first: one index probe
        // per tenant (a skip scan), not a pass over the queue.
        let tenants = client
            .query(
                "WITH RECURSIVE waiting(tenant) AS (
                    (SELECT tenant FROM jobhost_runs WHERE status = 'pending'
                     ORDER BY tenant LIMIT 1)
                    UNION ALL
                    SELECT (SELECT r.tenant FROM jobhost_runs r
                            WHERE r.status = 'pending' AND r.tenant > w.tenant
                            ORDER BY r.tenant LIMIT 1)
                    FROM waiting w WHERE w.tenant IS NOT NULL
                ), busy AS (
                    SELECT tenant, count(*) AS running FROM jobhost_runs
                    WHERE status = 'running' GROUP BY tenant
                )
                SELECT w.tenant FROM waiting w LEFT JOIN busy b USING (tenant)
                WHERE w.tenant IS NOT NULL AND coalesce(b.running, 0) < $1
                ORDER BY coalesce(b.running, 0), w.tenant",
                &[&cap],
            )
            .await
            .map_err(|e| self.refused("looking for queued runs", &e))?;
        for row in tenants {
            let tenant: String = row.get(0);
            let tx = client
                .transaction()
                .await
                .map_err(|e| self.refused("a transaction", &e))?;
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                &[&format!("{TENANT_CLAIM_LOCK}{tenant}")],
            )
            .await
            .map_err(|e| self.refused("the tenant's claim lock", &e))?;
            let running: i64 = tx
                .query_one(
                    "SELECT count(*) FROM jobhost_runs WHERE tenant = $1 AND status = 'running'",
                    &[&tenant],
                )
                .await
                .map_err(|e| self.refused("counting a tenant's running runs", &e))?
                .get(0);
            if running >= cap {
                continue; // dropping the transaction rolls it back
            }
            let next = tx
                .query_opt(
                    "SELECT id, record FROM jobhost_runs
                     WHERE tenant = $1 AND status = 'pending'
                       AND (next_attempt_at IS NULL OR next_attempt_at <= now())
                     ORDER BY priority DESC, id LIMIT 1
                     FOR UPDATE SKIP LOCKED",
                    &[&tenant],
                )
                .await
                .map_err(|e| self.refused("taking a queued run", &e))?;
            let Some(row) = next else { continue };
            let id = RunId(row.get(0));
            let pending = self.decode_at(id, &row, 1)?;
            let run = start(pending);
            self.write(&tx, &run)
                .await
                .map_err(|e| self.refused("starting a run", &e))?;
            tx.commit()
                .await
                .map_err(|e| self.refused("committing a run's start", &e))?;
            return Ok(Some(run));
        }
        Ok(None)
    }

    /// Writes `run` as the worker `holder` in attempt `attempt`: refused
    /// with [`DatabaseError::Stale`], writing nothing, unless the stored run
    /// is still running in that attempt under that holder.
    pub async fn update_held(
        &self,
        holder: &str,
        attempt: u32,
        run: &JobRun,
    ) -> Result<(), DatabaseError> {
        let client = self.client().await?;
        let changed = client
            .execute(
                &format!(
                    "UPDATE jobhost_runs SET ({COLUMNS}) = ($2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                     WHERE id = $1 AND status = 'running' AND attempt = $12 AND lease_holder = $13"
                ),
                &[
                    Columns::of(run).params().as_slice(),
                    &[&(attempt as i32), &holder],
                ]
                .concat(),
            )
            .await
            .map_err(|e| self.refused("writing a run", &e))?;
        if changed == 1 {
            return Ok(());
        }
        let now = client
            .query_opt(
                "SELECT status, attempt, lease_holder FROM jobhost_runs WHERE id = $1",
                &[&run.uuid.0],
            )
            .await
            .map_err(|e| self.refused("reading a run", &e))?;
        let why = match now {
            None => "the run is gone".to_string(),
            Some(row) => {
                let (status, attempt, holder): (String, i32, Option<String>) =
                    (row.get(0), row.get(1), row.get(2));
                format!(
                    "it is {status} in attempt {attempt}{}",
                    holder.map(|h| format!(" held by {h}")).unwrap_or_default()
                )
            }
        };
        Err(DatabaseError::Stale { attempt, why })
    }

    /// Takes over up to `limit` runs whose lease lapsed before `now` (their
    /// holder stopped renewing: its host died or hangs): `decide` turns each
    /// into what to write (queued again in the next attempt, or failed), in
    /// the transaction that locked it, so one host takes each over and the
    /// old holder's writes are refused from then on (its attempt or holder
    /// no longer match). Returns the runs as written.
    pub async fn take_over_lapsed(
        &self,
        now: OffsetDateTime,
        limit: i64,
        mut decide: impl FnMut(JobRun) -> JobRun,
    ) -> Result<Vec<JobRun>, DatabaseError> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| self.refused("a transaction", &e))?;
        let rows = tx
            .query(
                "SELECT id, record FROM jobhost_runs
                 WHERE status = 'running' AND lease_expires_at < $1
                 ORDER BY lease_expires_at LIMIT $2
                 FOR UPDATE SKIP LOCKED",
                &[&now, &limit],
            )
            .await
            .map_err(|e| self.refused("looking for lapsed leases", &e))?;
        let mut written = Vec::with_capacity(rows.len());
        for row in rows {
            let id = RunId(row.get(0));
            let run = decide(self.decode_at(id, &row, 1)?);
            self.write(&tx, &run)
                .await
                .map_err(|e| self.refused("taking over a run", &e))?;
            written.push(run);
        }
        tx.commit()
            .await
            .map_err(|e| self.refused("committing a takeover", &e))?;
        Ok(written)
    }

    /// How many runs of `tenant` are in `status`.
    pub async fn count_runs(
        &self,
        tenant: &TenantId,
        status: RunStatus,
    ) -> Result<i64, DatabaseError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT count(*) FROM jobhost_runs WHERE tenant = $1 AND status = $2",
                &[&tenant.0, &status.as_str()],
            )
            .await
            .map_err(|e| self.refused("counting runs", &e))?;
        Ok(row.get(0))
    }

    /// Writes `run` over its row, unconditionally (inside a transaction
    /// that holds the row).
    async fn write(
        &self,
        client: &impl GenericClient,
        run: &JobRun,
    ) -> Result<u64, tokio_postgres::Error> {
        client
            .execute(
                &format!(
                    "UPDATE jobhost_runs SET ({COLUMNS}) = ($2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                     WHERE id = $1"
                ),
                &Columns::of(run).params(),
            )
            .await
    }

    fn decode_at(&self, id: RunId, row: &Row, column: usize) -> Result<JobRun, DatabaseError> {
        row.try_get::<_, Json<JobRun>>(column)
            .map(|Json(run)| run)
            .map_err(|e| DatabaseError::Corrupt {
                record: "run",
                id: id.to_string(),
                reason: match std::error::Error::source(&e) {
                    Some(cause) => cause.to_string(),
                    None => e.to_string(),
                },
            })
    }
}
