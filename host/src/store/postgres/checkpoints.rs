//! Each run's newest checkpoint in PostgreSQL, written only by the attempt
//! running the run.

use super::{Database, DatabaseError};
use crate::model::RunId;

impl Database {
    /// Replaces a run's checkpoint, as attempt `attempt` running it: refused
    /// with [`DatabaseError::Stale`] once the run has moved on. The run's
    /// row is held while the checkpoint is written, so a takeover waits.
    pub async fn save_checkpoint(
        &self,
        run: RunId,
        attempt: u32,
        state: &[u8],
    ) -> Result<(), DatabaseError> {
        let client = self.client().await?;
        let written = client
            .execute(
                "INSERT INTO jobhost_checkpoints (run_id, state)
                 SELECT id, $3 FROM jobhost_runs
                 WHERE id = $1 AND status = 'running' AND attempt = $2 FOR SHARE
                 ON CONFLICT (run_id) DO UPDATE SET state = excluded.state",
                &[&run.0, &i32::try_from(attempt).unwrap_or(i32::MAX), &state],
            )
            .await
            .map_err(|e| self.refused("saving a checkpoint", &e))?;
        if written == 1 {
            return Ok(());
        }
        let now = client
            .query_opt(
                "SELECT status, attempt FROM jobhost_runs WHERE id = $1",
                &[&run.0],
            )
            .await
            .map_err(|e| self.refused("reading a run", &e))?;
        Err(match now {
            None => DatabaseError::Conflict,
            Some(row) => DatabaseError::Stale {
                attempt,
                why: format!(
                    "the run is {} in attempt {}",
                    row.get::<_, String>(0),
                    row.get::<_, i32>(1)
                ),
            },
        })
    }

    /// A run's last checkpoint.
    pub async fn checkpoint(&self, run: RunId) -> Result<Option<Vec<u8>>, DatabaseError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT state FROM jobhost_checkpoints WHERE run_id = $1",
                &[&run.0],
            )
            .await
            .map_err(|e| self.refused("reading a checkpoint", &e))?;
        Ok(row.map(|r| r.get(0)))
    }
}
