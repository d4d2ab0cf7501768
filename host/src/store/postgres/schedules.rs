//! Where each scheduled job stands, in PostgreSQL.

use super::{Postgres, decode};
use crate::model::{JobId, ScheduleState};
use crate::store::{Record, ScheduleStore, StoreError};
use tokio_postgres::types::Json;
use uuid::Uuid;

impl ScheduleStore for Postgres {
    fn schedule_state(&self, job: JobId) -> Result<Option<ScheduleState>, StoreError> {
        let db = self.database();
        self.wait(async {
            let client = db.client().await?;
            let row = client
                .query_opt(
                    "SELECT record FROM jobhost_schedules WHERE job_id = $1",
                    &[&job.0],
                )
                .await
                .map_err(|e| db.refused("reading a schedule", &e))?;
            row.map(|r| decode(&r, 0, Record::ScheduleState, || job.to_string()))
                .transpose()
        })
    }

    fn put_schedule_state(&self, state: &ScheduleState) -> Result<(), StoreError> {
        let db = self.database();
        self.wait(async {
            let client = db.client().await?;
            client
                .execute(
                    "INSERT INTO jobhost_schedules (job_id, record) VALUES ($1, $2)
                     ON CONFLICT (job_id) DO UPDATE SET record = excluded.record",
                    &[&state.job_id.0, &Json(state)],
                )
                .await
                .map_err(|e| db.refused("storing a schedule", &e))?;
            Ok(())
        })
    }

    fn remove_schedule_state(&self, job: JobId) -> Result<(), StoreError> {
        let db = self.database();
        self.wait(async {
            let client = db.client().await?;
            client
                .execute("DELETE FROM jobhost_schedules WHERE job_id = $1", &[&job.0])
                .await
                .map_err(|e| db.refused("removing a schedule", &e))?;
            Ok(())
        })
    }

    fn schedule_states(&self) -> Result<Vec<ScheduleState>, StoreError> {
        let db = self.database();
        let rows = self.wait(async {
            let client = db.client().await?;
            client
                .query(
                    "SELECT job_id, record FROM jobhost_schedules ORDER BY job_id",
                    &[],
                )
                .await
                .map_err(|e| db.refused("reading the schedules", &e))
        })?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                super::jobs::skip_damaged(decode(r, 1, Record::ScheduleState, || {
                    r.get::<_, Uuid>(0).to_string()
                }))
            })
            .collect())
    }
}
