//! Asks between hosts ([`AskStore`]) in PostgreSQL: one row per ask, its
//! answer written into it, removed by the asking host once read. Asks left
//! by a host that stopped waiting (killed meanwhile) are removed after a
//! minute by the next ask.

use super::Postgres;
use crate::model::RunId;
use crate::store::{Answer, Ask, AskStore, Asked, StoreError};
use uuid::Uuid;

impl AskStore for Postgres {
    fn ask(&self, run: RunId, attempt: u32, ask: Ask) -> Result<Option<i64>, StoreError> {
        let db = self.database();
        let attempt = i32::try_from(attempt).unwrap_or(i32::MAX);
        let id = self.wait(async {
            let client = db.client().await?;
            client
                .execute(
                    "DELETE FROM jobhost_asks WHERE asked_at < now() - interval '1 minute'",
                    &[],
                )
                .await
                .map_err(|e| db.refused("removing old asks", &e))?;
            let row = client
                .query_one(
                    "INSERT INTO jobhost_asks (run_id, attempt, ask) VALUES ($1, $2, $3)
                     RETURNING id",
                    &[&run.0, &attempt, &ask.as_str()],
                )
                .await
                .map_err(|e| db.refused("storing an ask for another host", &e))?;
            Ok(row.get::<_, i64>(0))
        })?;
        Ok(Some(id))
    }

    fn asked(&self, held: &[(RunId, u32)]) -> Result<Vec<Asked>, StoreError> {
        if held.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = held.iter().map(|(id, _)| id.0).collect();
        let attempts: Vec<i32> = held
            .iter()
            .map(|(_, a)| i32::try_from(*a).unwrap_or(i32::MAX))
            .collect();
        let db = self.database();
        let rows = self.wait(async {
            let client = db.client().await?;
            client
                .query(
                    "SELECT a.id, a.run_id, a.ask FROM jobhost_asks a
                     JOIN unnest($1::uuid[], $2::int[]) AS h(run_id, attempt)
                       ON a.run_id = h.run_id AND a.attempt = h.attempt
                     WHERE a.answer IS NULL ORDER BY a.id",
                    &[&ids, &attempts],
                )
                .await
                .map_err(|e| db.refused("reading asks from other hosts", &e))
        })?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(Asked {
                    id: r.get(0),
                    run: RunId(r.get(1)),
                    ask: Ask::parse(r.get(2))?,
                })
            })
            .collect())
    }

    fn answer(&self, id: i64, answer: &Answer) -> Result<(), StoreError> {
        let db = self.database();
        let text = answer.encode();
        self.wait(async {
            let client = db.client().await?;
            client
                .execute(
                    "UPDATE jobhost_asks SET answer = $2 WHERE id = $1",
                    &[&id, &text],
                )
                .await
                .map_err(|e| db.refused("answering another host's ask", &e))
        })?;
        Ok(())
    }

    fn answered(&self, id: i64, give_up: bool) -> Result<Option<Answer>, StoreError> {
        let db = self.database();
        let row = self.wait(async {
            let client = db.client().await?;
            let query = if give_up {
                "DELETE FROM jobhost_asks WHERE id = $1 RETURNING answer"
            } else {
                "DELETE FROM jobhost_asks WHERE id = $1 AND answer IS NOT NULL RETURNING answer"
            };
            client
                .query_opt(query, &[&id])
                .await
                .map_err(|e| db.refused("reading the answer to an ask", &e))
        })?;
        Ok(row
            .and_then(|r| r.get::<_, Option<String>>(0))
            .map(|t| Answer::decode(&t)))
    }
}
