//! Runs in PostgreSQL: each stored whole (`record`) with the columns the
//! queue, lists and fencing query; taken from one queue shared by every
//! host (fairly across tenants, each tenant's runs by priority then age);
//! and written by the holder of an attempt only while it still holds it.

use super::{Database, DatabaseError};
use crate::model::{JobId, JobRun, Lease, RunId, RunStatus, TenantId};
use crate::store::{Order, Page, Record, RunFilter};
use deadpool_postgres::GenericClient;
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::Json;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

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
        let insert = client
            .prepare_cached(&format!(
                "INSERT INTO jobhost_runs (id, {COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            ))
            .await
            .map_err(|e| self.refused("storing a run", &e))?;
        client
            .execute(&insert, &Columns::of(run).params())
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

    /// Writes `run` as the worker `holder` in attempt `attempt`: refused
    /// with [`DatabaseError::Stale`], writing nothing, unless the stored run
    /// is still running (or paused in memory) in that attempt under that
    /// holder. Returns the record it replaced.
    pub async fn update_held(
        &self,
        holder: &str,
        attempt: u32,
        run: &JobRun,
    ) -> Result<JobRun, DatabaseError> {
        self.update_where(run, |current| {
            let held_by = current.lease.as_ref().map(|l| l.holder.as_str());
            let held = matches!(current.status, RunStatus::Running | RunStatus::Paused);
            if held && current.attempt == attempt && held_by == Some(holder) {
                return Ok(());
            }
            Err(DatabaseError::Stale {
                attempt,
                why: self::held_by(current),
            })
        })
        .await
    }

    /// A run of `tenant`; another tenant's run is `None`.
    pub async fn run(&self, tenant: &TenantId, id: RunId) -> Result<Option<JobRun>, DatabaseError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT record FROM jobhost_runs WHERE id = $1 AND tenant = $2",
                &[&id.0, &tenant.0],
            )
            .await
            .map_err(|e| self.refused("reading a run", &e))?;
        row.map(|row| self.decode_at(id, &row, 0)).transpose()
    }

    /// Whether a run exists, whatever its tenant.
    pub async fn run_exists(&self, id: RunId) -> Result<bool, DatabaseError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM jobhost_runs WHERE id = $1)",
                &[&id.0],
            )
            .await
            .map_err(|e| self.refused("reading a run", &e))?;
        Ok(row.get(0))
    }

    /// A page of `tenant`'s runs matching `filter`, in its order, after
    /// `cursor`.
    pub async fn list_runs(
        &self,
        tenant: &TenantId,
        filter: &RunFilter,
        cursor: Option<[u8; 16]>,
        limit: usize,
    ) -> Result<Page<JobRun>, DatabaseError> {
        let (after, order) = match filter.order {
            Order::Desc => ("id < $2", "id DESC"),
            Order::Asc => ("id > $2", "id"),
        };
        let statuses: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT id, record FROM jobhost_runs
                     WHERE tenant = $1 AND ($2::uuid IS NULL OR {after})
                       AND ($3::uuid IS NULL OR job_id = $3)
                       AND (cardinality($4::text[]) = 0 OR job_type = ANY($4))
                       AND (cardinality($5::text[]) = 0 OR status = ANY($5))
                       AND (cardinality($6::text[]) = 0 OR record->>'created_by' = ANY($6))
                       AND ($7::timestamptz IS NULL
                            OR (record->>'created_at')::timestamptz > $7)
                       AND ($8::timestamptz IS NULL
                            OR (record->>'created_at')::timestamptz < $8)
                       AND NOT coalesce((record->>'is_deleted')::boolean, false)
                     ORDER BY {order} LIMIT $9"
                ),
                &[
                    &tenant.0,
                    &cursor.map(Uuid::from_bytes),
                    &filter.job_id.map(|j| j.0),
                    &filter.job_types,
                    &statuses,
                    &filter.created_by_users,
                    &filter.created_after,
                    &filter.created_before,
                    &i64::try_from(limit).unwrap_or(i64::MAX),
                ],
            )
            .await
            .map_err(|e| self.refused("listing runs", &e))?;
        let items = rows
            .iter()
            .filter_map(|r| super::jobs::skip_damaged(self.decode_at(RunId(r.get(0)), r, 1)))
            .collect();
        Ok(super::jobs::page(items, limit, |r: &JobRun| r.uuid.0))
    }

    /// The newest run of a job.
    pub async fn latest_run(
        &self,
        tenant: &TenantId,
        job: JobId,
    ) -> Result<Option<JobRun>, DatabaseError> {
        let filter = RunFilter {
            job_id: Some(job),
            ..RunFilter::default()
        };
        Ok(self.list_runs(tenant, &filter, None, 1).await?.items.pop())
    }

    /// Every open run (pending, running or paused), oldest first.
    pub async fn open_runs(&self) -> Result<Vec<JobRun>, DatabaseError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, record FROM jobhost_runs
                 WHERE status IN ('pending', 'running', 'paused') ORDER BY id",
                &[],
            )
            .await
            .map_err(|e| self.refused("reading the open runs", &e))?;
        Ok(rows
            .iter()
            .filter_map(|r| super::jobs::skip_damaged(self.decode_at(RunId(r.get(0)), r, 1)))
            .collect())
    }

    /// Of the attempts `held`, those whose run is no longer in that
    /// attempt, running or paused (or is gone).
    pub async fn lost_attempts(&self, held: &[(RunId, u32)]) -> Result<Vec<RunId>, DatabaseError> {
        let ids: Vec<Uuid> = held.iter().map(|(id, _)| id.0).collect();
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, attempt FROM jobhost_runs
                 WHERE id = ANY($1) AND status IN ('running', 'paused')",
                &[&ids],
            )
            .await
            .map_err(|e| self.refused("checking the runs this host executes", &e))?;
        let still: std::collections::HashSet<(Uuid, i32)> = rows
            .iter()
            .map(|r| (r.get::<_, Uuid>(0), r.get::<_, i32>(1)))
            .collect();
        Ok(held
            .iter()
            .filter(|(id, attempt)| {
                let attempt = i32::try_from(*attempt).unwrap_or(i32::MAX);
                !still.contains(&(id.0, attempt))
            })
            .map(|(id, _)| *id)
            .collect())
    }

    /// Up to `limit` runs whose lease lapsed by `now`, oldest lapse first.
    pub async fn lapsed_leases(
        &self,
        now: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<RunId>, DatabaseError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id FROM jobhost_runs
                 WHERE status IN ('running', 'paused') AND lease_expires_at <= $1
                 ORDER BY lease_expires_at LIMIT $2",
                &[&now, &limit],
            )
            .await
            .map_err(|e| self.refused("looking for lapsed leases", &e))?;
        Ok(rows.iter().map(|r| RunId(r.get(0))).collect())
    }

    /// Replaces a run if its stored status is still `expected`
    /// ([`DatabaseError::Conflict`] otherwise); a write of an older attempt
    /// than the stored one is [`DatabaseError::Stale`].
    pub async fn update_run(
        &self,
        expected: RunStatus,
        run: &JobRun,
    ) -> Result<JobRun, DatabaseError> {
        self.update_where(run, |current| {
            if current.status == expected {
                Ok(())
            } else {
                Err(DatabaseError::Conflict)
            }
        })
        .await
    }

    /// Writes the new state of a `running` (or `paused` in memory) run taken
    /// from a worker that no longer holds it, unless its attempt or lease
    /// changed since it was read as `attempt` and `lease`.
    pub async fn take_over(
        &self,
        run: &JobRun,
        attempt: u32,
        lease: Option<&Lease>,
    ) -> Result<JobRun, DatabaseError> {
        self.update_where(run, |current| {
            let held = matches!(current.status, RunStatus::Running | RunStatus::Paused);
            if held && (current.attempt, current.lease.as_ref()) == (attempt, lease) {
                Ok(())
            } else {
                Err(DatabaseError::Conflict)
            }
        })
        .await
    }

    /// Writes `run` over the stored one, in a transaction holding its row,
    /// if `check` accepts the stored one and it carries no newer attempt.
    /// Returns the record it replaced.
    async fn update_where(
        &self,
        run: &JobRun,
        check: impl FnOnce(&JobRun) -> Result<(), DatabaseError>,
    ) -> Result<JobRun, DatabaseError> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| self.refused("a transaction", &e))?;
        let row = tx
            .query_opt(
                "SELECT record FROM jobhost_runs WHERE id = $1 FOR UPDATE",
                &[&run.uuid.0],
            )
            .await
            .map_err(|e| self.refused("reading a run", &e))?
            .ok_or(DatabaseError::Conflict)?;
        let current = self.decode_at(run.uuid, &row, 0)?;
        if run.attempt < current.attempt {
            return Err(DatabaseError::Stale {
                attempt: run.attempt,
                why: held_by(&current),
            });
        }
        check(&current)?;
        self.write(&tx, run)
            .await
            .map_err(|e| self.refused("writing a run", &e))?;
        super::webhooks::queue_effects(&tx, current.status, run)
            .await
            .map_err(|e| self.refused("queueing a run's webhook", &e))?;
        tx.commit()
            .await
            .map_err(|e| self.refused("committing a run", &e))?;
        Ok(current)
    }

    /// How many runs wait in the queue (pending), across tenants.
    pub async fn count_pending(&self) -> Result<i64, DatabaseError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT count(*) FROM jobhost_runs WHERE status = 'pending'",
                &[],
            )
            .await
            .map_err(|e| self.refused("counting queued runs", &e))?;
        Ok(row.get(0))
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
    pub(super) async fn write(
        &self,
        client: &impl GenericClient,
        run: &JobRun,
    ) -> Result<u64, tokio_postgres::Error> {
        let update = client
            .prepare_cached(&format!(
                "UPDATE jobhost_runs SET ({COLUMNS}) = ($2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 WHERE id = $1"
            ))
            .await?;
        client.execute(&update, &Columns::of(run).params()).await
    }

    pub(super) fn decode_at(
        &self,
        id: RunId,
        row: &Row,
        column: usize,
    ) -> Result<JobRun, DatabaseError> {
        row.try_get::<_, Json<JobRun>>(column)
            .map(|Json(run)| run)
            .map_err(|e| DatabaseError::Corrupt {
                record: Record::Run,
                id: id.to_string(),
                reason: super::cause(&e),
            })
    }
}

/// Where a run stands, as a refused writer is told: "it is running in
/// attempt 2 held by host-1/0".
fn held_by(run: &JobRun) -> String {
    format!(
        "it is {} in attempt {}{}",
        run.status.as_str(),
        run.attempt,
        run.lease
            .as_ref()
            .map(|l| format!(" held by {}", l.holder))
            .unwrap_or_default()
    )
}
