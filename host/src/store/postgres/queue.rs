//! The queue every host shares: the pending runs themselves, taken fairly
//! across tenants (each tenant's by priority, then age) under an exact
//! per-tenant cap, each by one host (`FOR UPDATE SKIP LOCKED`); and runs
//! whose holder stopped renewing its lease, taken over by one host.

use super::{Database, DatabaseError};
use crate::model::{JobRun, RunId, RunStatus};
use time::OffsetDateTime;

/// A tenant's runs are taken one host at a time while its cap is checked:
/// this advisory lock (with the tenant's name hashed in) is held for the
/// claim's transaction.
const TENANT_CLAIM_LOCK: &str = "jobhost tenant claim: ";

/// The advisory lock claims of `tenant`'s runs take: the first 8 bytes of
/// SHA-256(TENANT_CLAIM_LOCK + tenant).
fn tenant_claim_lock(tenant: &str) -> i64 {
    super::advisory_key(&format!("{TENANT_CLAIM_LOCK}{tenant}"))
}

impl Database {
    /// Takes the next run that is due and starts it: [`Database::begin_claim`],
    /// `start` turning the pending record into the one to write, and
    /// [`Taking::start`]. `None` when no run is due.
    pub async fn claim_next(
        &self,
        cap: usize,
        mut start: impl FnMut(JobRun) -> JobRun,
    ) -> Result<Option<JobRun>, DatabaseError> {
        let Some(taking) = self.begin_claim(cap).await? else {
            return Ok(None);
        };
        let run = start(taking.run().clone());
        taking.start(&run).await?;
        Ok(Some(run))
    }

    /// Locks the next run that is due for this host: from the tenant with
    /// the fewest runs running (on any host) below `cap`, that tenant's
    /// highest priority, then oldest. The run stays locked (no other host
    /// can take it, and the tenant's cap cannot be passed meanwhile) until
    /// [`Taking::start`] writes what it is taken as, or the [`Taking`] is
    /// dropped, which gives it back. `None` when no run is due.
    pub async fn begin_claim(&self, cap: usize) -> Result<Option<Taking<'_>>, DatabaseError> {
        let cap = i64::try_from(cap).unwrap_or(i64::MAX);
        let client = self.client().await?;
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
        let mut taking = Taking {
            db: self,
            client: Some(client),
            run: None,
        };
        for row in tenants {
            let tenant: String = row.get(0);
            if let Some(run) = taking.lock_next(&tenant, cap).await? {
                taking.run = Some(run);
                return Ok(Some(taking));
            }
        }
        taking.release();
        Ok(None)
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
            let before = self.decode_at(id, &row, 1)?;
            let status = before.status;
            let run = decide(before);
            self.write(&tx, &run)
                .await
                .map_err(|e| self.refused("taking over a run", &e))?;
            super::webhooks::queue_effects(&tx, status, &run)
                .await
                .map_err(|e| self.refused("queueing a run's webhook", &e))?;
            written.push(run);
        }
        tx.commit()
            .await
            .map_err(|e| self.refused("committing a takeover", &e))?;
        Ok(written)
    }
}

/// A queued run locked by this host in an open transaction, while what it
/// is taken as is built. Dropped without [`Taking::start`], the transaction
/// is abandoned with its connection (never pooled half-done), which gives
/// the run back.
pub struct Taking<'a> {
    db: &'a Database,
    client: Option<deadpool_postgres::Client>,
    run: Option<JobRun>,
}

impl Taking<'_> {
    /// The run as stored (pending).
    pub fn run(&self) -> &JobRun {
        self.run.as_ref().expect("a taking holds its run")
    }

    /// Writes `run` (the locked run, running under a lease or ended) and
    /// commits.
    pub async fn start(mut self, run: &JobRun) -> Result<(), DatabaseError> {
        let db = self.db;
        let client = self
            .client
            .as_ref()
            .expect("an open taking has its connection");
        db.write(client, run)
            .await
            .map_err(|e| db.refused("starting a run", &e))?;
        super::webhooks::queue_effects(client, RunStatus::Pending, run)
            .await
            .map_err(|e| db.refused("queueing a run's webhook", &e))?;
        client
            .batch_execute("COMMIT")
            .await
            .map_err(|e| db.refused("committing a run's start", &e))?;
        self.release();
        Ok(())
    }

    /// In a transaction: the tenant's claim lock, its cap checked, and its
    /// next due run locked; the transaction is rolled back when there is
    /// none.
    async fn lock_next(&mut self, tenant: &str, cap: i64) -> Result<Option<JobRun>, DatabaseError> {
        let db = self.db;
        let client = self
            .client
            .as_ref()
            .expect("an open taking has its connection");
        let step = |what: &'static str| move |e: tokio_postgres::Error| db.refused(what, &e);
        // The tenant's claim lock is held to commit, so the statements
        // under it are few and prepared once per connection (each then one
        // round trip): the lock's key, computed here, goes in the text.
        client
            .batch_execute(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock({})",
                tenant_claim_lock(tenant)
            ))
            .await
            .map_err(step("the tenant's claim lock"))?;
        let take = client
            .prepare_cached(
                "SELECT id, record FROM jobhost_runs
                 WHERE tenant = $1 AND status = 'pending'
                   AND (next_attempt_at IS NULL OR next_attempt_at <= now())
                   AND (SELECT count(*) FROM jobhost_runs
                        WHERE tenant = $1 AND status = 'running') < $2
                 ORDER BY priority DESC, id LIMIT 1
                 FOR UPDATE SKIP LOCKED",
            )
            .await
            .map_err(step("taking a queued run"))?;
        let next = client
            .query_opt(&take, &[&tenant, &cap])
            .await
            .map_err(step("taking a queued run"))?;
        match next {
            Some(row) => Ok(Some(db.decode_at(RunId(row.get(0)), &row, 1)?)),
            None => {
                client
                    .batch_execute("ROLLBACK")
                    .await
                    .map_err(step("ending a transaction"))?;
                Ok(None)
            }
        }
    }

    /// The connection goes back to the pool (its transaction ended).
    fn release(&mut self) {
        drop(self.client.take());
    }
}

impl Drop for Taking<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Still in its transaction: closing the connection rolls it
            // back; it is not pooled.
            drop(deadpool_postgres::Object::take(client));
        }
    }
}
