//! Jobs in PostgreSQL: each stored whole (`record`) beside the columns
//! lists filter on; listed a page at a time after a cursor (ids are
//! UUIDv7, so id order is creation order).

use super::{Database, DatabaseError};
use crate::model::{Job, JobId, TenantId};
use crate::store::{JobFilter, Order, Page, Record, encode_cursor};
use tokio_postgres::Row;
use tokio_postgres::types::Json;
use uuid::Uuid;

impl Database {
    /// Saves a job (new or changed).
    pub async fn put_job(&self, job: &Job) -> Result<(), DatabaseError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO jobhost_jobs (id, tenant, job_type, is_deleted, record)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (id) DO UPDATE SET tenant = excluded.tenant,
                     job_type = excluded.job_type, is_deleted = excluded.is_deleted,
                     record = excluded.record",
                &[
                    &job.uuid.0,
                    &job.tenant.0,
                    &job.job_type.as_str(),
                    &job.is_deleted,
                    &Json(job),
                ],
            )
            .await
            .map_err(|e| self.refused("storing a job", &e))?;
        Ok(())
    }

    /// A job of `tenant`; another tenant's job is `None` (the tenant is a
    /// column, so a damaged record is still known to be its tenant's).
    pub async fn job(&self, tenant: &TenantId, id: JobId) -> Result<Option<Job>, DatabaseError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT id, record FROM jobhost_jobs WHERE id = $1 AND tenant = $2",
                &[&id.0, &tenant.0],
            )
            .await
            .map_err(|e| self.refused("reading a job", &e))?;
        row.map(|row| decode_job(&row)).transpose()
    }

    /// A page of `tenant`'s jobs matching `filter`, in its order, after
    /// `cursor`.
    pub async fn list_jobs(
        &self,
        tenant: &TenantId,
        filter: &JobFilter,
        cursor: Option<[u8; 16]>,
        limit: usize,
    ) -> Result<Page<Job>, DatabaseError> {
        let (after, order) = match filter.order {
            Order::Desc => ("id < $2", "id DESC"),
            Order::Asc => ("id > $2", "id"),
        };
        let sessions: Vec<String> = filter
            .source_session_ids
            .iter()
            .map(Uuid::to_string)
            .collect();
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT id, record FROM jobhost_jobs
                     WHERE tenant = $1 AND ($2::uuid IS NULL OR {after})
                       AND (cardinality($3::text[]) = 0 OR job_type = ANY($3))
                       AND (cardinality($4::text[]) = 0 OR record->>'created_by' = ANY($4))
                       AND (cardinality($5::text[]) = 0
                            OR record->>'source_session_id' = ANY($5))
                       AND ($6::timestamptz IS NULL
                            OR (record->>'created_at')::timestamptz > $6)
                       AND ($7::timestamptz IS NULL
                            OR (record->>'created_at')::timestamptz < $7)
                       AND ($8 OR NOT is_deleted)
                     ORDER BY {order} LIMIT $9"
                ),
                &[
                    &tenant.0,
                    &cursor.map(Uuid::from_bytes),
                    &filter.job_types,
                    &filter.created_by_users,
                    &sessions,
                    &filter.created_after,
                    &filter.created_before,
                    &filter.include_deleted,
                    &i64::try_from(limit).unwrap_or(i64::MAX),
                ],
            )
            .await
            .map_err(|e| self.refused("listing jobs", &e))?;
        let items = rows
            .iter()
            .filter_map(|r| skip_damaged(decode_job(r)))
            .collect();
        Ok(page(items, limit, |j| j.uuid.0))
    }
}

/// A record that decodes; a damaged one is logged and left out (one
/// damaged record never takes down a list).
pub(super) fn skip_damaged<T>(decoded: Result<T, DatabaseError>) -> Option<T> {
    match decoded {
        Ok(item) => Some(item),
        Err(e) => {
            tracing::error!(error = %e, "a damaged record was left out of a list");
            None
        }
    }
}

/// A page of `items` (at most `limit`), with a cursor when it is full.
pub(super) fn page<T>(items: Vec<T>, limit: usize, id: impl Fn(&T) -> Uuid) -> Page<T> {
    let next_cursor = (items.len() == limit)
        .then(|| {
            items
                .last()
                .map(|last| encode_cursor(id(last).into_bytes()))
        })
        .flatten();
    Page { items, next_cursor }
}

fn decode_job(row: &Row) -> Result<Job, DatabaseError> {
    row.try_get::<_, Json<Job>>(1)
        .map(|Json(job)| job)
        .map_err(|e| DatabaseError::Corrupt {
            record: Record::Job,
            id: row.get::<_, Uuid>(0).to_string(),
            reason: super::cause(&e),
        })
}
