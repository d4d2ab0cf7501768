//! Run logs in PostgreSQL: one row per line, by run and sequence number,
//! gone with the run or after the retention period.

use super::{Postgres, decode};
use crate::model::RunId;
use crate::store::{LogFilter, LogRecord, LogStore, Record, StoreError, keys};
use tokio_postgres::types::Json;
use uuid::Uuid;

impl LogStore for Postgres {
    fn append_log(&self, run: RunId, line: &LogRecord) -> Result<(), StoreError> {
        let db = self.database();
        self.wait(async {
            let client = db.client().await?;
            let insert = client
                .prepare_cached(
                    "INSERT INTO jobhost_run_logs (run_id, seq, record) VALUES ($1, $2, $3)
                     ON CONFLICT (run_id, seq) DO UPDATE SET record = excluded.record",
                )
                .await
                .map_err(|e| db.refused("storing a log line", &e))?;
            client
                .execute(&insert, &[&run.0, &i64::from(line.seq), &Json(line)])
                .await
                .map_err(|e| db.refused("storing a log line", &e))?;
            Ok(())
        })
    }

    fn next_log_seq(&self, run: RunId) -> Result<u32, StoreError> {
        let db = self.database();
        let last: Option<i64> = self.wait(async {
            let client = db.client().await?;
            let row = client
                .query_one(
                    "SELECT max(seq) FROM jobhost_run_logs WHERE run_id = $1",
                    &[&run.0],
                )
                .await
                .map_err(|e| db.refused("reading a run's log", &e))?;
            Ok(row.get(0))
        })?;
        Ok(last.map_or(0, |s| u32::try_from(s + 1).unwrap_or(u32::MAX)))
    }

    /// Scans at most `budget` lines after the cursor, filtering as the
    /// sled store does, so pages and cursors are the same on both.
    fn logs(
        &self,
        run: RunId,
        filter: &LogFilter,
        limit: usize,
        budget: usize,
    ) -> Result<(Vec<LogRecord>, Option<u32>), StoreError> {
        let db = self.database();
        let after = filter.after_seq.map_or(-1, i64::from);
        let rows = self.wait(async {
            let client = db.client().await?;
            client
                .query(
                    "SELECT seq, record FROM jobhost_run_logs
                     WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                    &[&run.0, &after, &i64::try_from(budget).unwrap_or(i64::MAX)],
                )
                .await
                .map_err(|e| db.refused("reading a run's log", &e))
        })?;
        let scanned = rows.len();
        let mut out = Vec::new();
        let mut last = None;
        for row in rows {
            let seq: i64 = row.get(0);
            let line: Option<LogRecord> =
                super::jobs::skip_damaged(decode(&row, 1, Record::LogLine, || {
                    format!("{run} line {seq}")
                }));
            let Some(line) = line else { continue };
            last = Some(line.seq);
            if filter.keeps(&line) {
                out.push(line);
                if out.len() == limit {
                    return Ok((out, last));
                }
            }
        }
        Ok((out, if scanned == budget { last } else { None }))
    }

    /// Run ids are UUIDv7: the logs of runs created before the cutoff are
    /// those whose run id sorts below the cutoff's first id.
    fn drop_logs_before(&self, cutoff_ms: u64) -> Result<usize, StoreError> {
        let db = self.database();
        let floor = Uuid::from_bytes(keys::id_floor(cutoff_ms));
        let dropped = self.wait(async {
            let client = db.client().await?;
            client
                .execute("DELETE FROM jobhost_run_logs WHERE run_id < $1", &[&floor])
                .await
                .map_err(|e| db.refused("dropping old log lines", &e))
        })?;
        Ok(usize::try_from(dropped).unwrap_or(usize::MAX))
    }
}
