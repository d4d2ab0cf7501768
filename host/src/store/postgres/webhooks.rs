//! Webhook deliveries and notices waiting, in PostgreSQL, and the tenants'
//! webhook signing secrets. A run's webhook or notice is queued in the
//! transaction that writes the run's move ([`queue_effects`]).

use super::{Postgres, decode};
use crate::model::{JobRun, RunId, RunStatus, TenantId};
use crate::store::webhooks;
use crate::store::{
    MAX_NOTICES_PER_RUN, Notice, NoticeEvent, NoticeStore, Record, StoreError, WebhookStore,
};
use deadpool_postgres::GenericClient;
use rand::RngCore;
use tokio_postgres::types::Json;

/// Queues what a run's move from `before` to `run.status` owes its
/// callback URL: the webhook of an ended run, or a notice of a pause or a
/// resume. Returns whether something was queued.
pub(super) async fn queue_effects(
    client: &impl GenericClient,
    before: RunStatus,
    run: &JobRun,
) -> Result<bool, tokio_postgres::Error> {
    let Some(url) = run.callback_url.clone() else {
        return Ok(false);
    };
    if before == run.status {
        return Ok(false);
    }
    if run.status.is_terminal() {
        client
            .execute(
                "INSERT INTO jobhost_webhooks (run_id, due_ms) VALUES ($1, 0)
                 ON CONFLICT (run_id) DO UPDATE SET due_ms = 0, store_failures = 0",
                &[&run.uuid.0],
            )
            .await?;
        return Ok(true);
    }
    let event = if run.status == RunStatus::Paused {
        NoticeEvent::Paused
    } else if before == RunStatus::Paused {
        NoticeEvent::Resumed
    } else {
        return Ok(false);
    };
    let notice = Notice {
        event,
        tenant: run.tenant.clone(),
        url,
        body: serde_json::to_value(run.view()).expect("runs serialise"),
        due_ms: 0,
        attempts: 0,
    };
    let queued = client
        .execute(
            "INSERT INTO jobhost_notices (run_id, record)
             SELECT $1, $2 WHERE (SELECT count(*) FROM jobhost_notices WHERE run_id = $1) < $3",
            &[
                &run.uuid.0,
                &Json(&notice),
                &i64::try_from(MAX_NOTICES_PER_RUN).unwrap_or(i64::MAX),
            ],
        )
        .await?;
    if queued == 0 {
        tracing::warn!(
            run = %run.uuid, event = event.header(),
            "too many webhook notices wait for this run; this one is dropped"
        );
    }
    Ok(queued == 1)
}

impl WebhookStore for Postgres {
    fn queue_webhook(&self, run: RunId, due_ms: u64) -> Result<(), StoreError> {
        let db = self.database();
        self.wait(async {
            let client = db.client().await?;
            client
                .execute(
                    "INSERT INTO jobhost_webhooks (run_id, due_ms) VALUES ($1, $2)
                     ON CONFLICT (run_id) DO UPDATE SET due_ms = excluded.due_ms,
                         store_failures = 0",
                    &[&run.0, &ms(due_ms)],
                )
                .await
                .map_err(|e| db.refused("queueing a webhook", &e))?;
            Ok(())
        })?;
        self.webhooks_ready().notify_one();
        Ok(())
    }

    fn queued_webhooks(&self) -> Result<Vec<(RunId, u64)>, StoreError> {
        let db = self.database();
        let rows = self.wait(async {
            let client = db.client().await?;
            client
                .query(
                    "SELECT run_id, due_ms FROM jobhost_webhooks ORDER BY run_id",
                    &[],
                )
                .await
                .map_err(|e| db.refused("reading the webhook queue", &e))
        })?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    RunId(r.get(0)),
                    u64::try_from(r.get::<_, i64>(1)).unwrap_or(0),
                )
            })
            .collect())
    }

    fn done_webhook(&self, run: RunId) -> Result<(), StoreError> {
        let db = self.database();
        self.wait(async {
            let client = db.client().await?;
            client
                .execute("DELETE FROM jobhost_webhooks WHERE run_id = $1", &[&run.0])
                .await
                .map_err(|e| db.refused("removing a webhook", &e))?;
            Ok(())
        })
    }

    fn webhook_failed(
        &self,
        run: RunId,
        now_ms: u64,
        backoff_ms: u64,
        why: &str,
    ) -> Result<Option<u64>, StoreError> {
        let db = self.database();
        let due =
            self.wait(async {
                let mut client = db.client().await?;
                let refused =
                    |what: &'static str| move |e: tokio_postgres::Error| db.refused(what, &e);
                let tx = client
                    .transaction()
                    .await
                    .map_err(refused("a transaction"))?;
                let Some(row) = tx
                    .query_opt(
                        "SELECT store_failures FROM jobhost_webhooks WHERE run_id = $1 FOR UPDATE",
                        &[&run.0],
                    )
                    .await
                    .map_err(refused("reading a webhook"))?
                else {
                    return Ok(None);
                };
                let failures = u32::try_from(row.get::<_, i32>(0)).unwrap_or(0) + 1;
                let Some(due) = webhooks::next_due(failures, now_ms, backoff_ms) else {
                    let record = webhooks::set_aside(run, failures, why, now_ms);
                    tx.execute(
                        "INSERT INTO jobhost_webhooks_aside (run_id, record) VALUES ($1, $2)
                     ON CONFLICT (run_id) DO UPDATE SET record = excluded.record",
                        &[&run.0, &record],
                    )
                    .await
                    .map_err(refused("setting a webhook aside"))?;
                    tx.execute("DELETE FROM jobhost_webhooks WHERE run_id = $1", &[&run.0])
                        .await
                        .map_err(refused("setting a webhook aside"))?;
                    tx.commit()
                        .await
                        .map_err(refused("setting a webhook aside"))?;
                    return Ok(None);
                };
                tx.execute(
                "UPDATE jobhost_webhooks SET due_ms = $2, store_failures = $3 WHERE run_id = $1",
                &[&run.0, &ms(due), &i32::try_from(failures).unwrap_or(i32::MAX)],
            )
            .await
            .map_err(refused("re-timing a webhook"))?;
                tx.commit().await.map_err(refused("re-timing a webhook"))?;
                Ok(Some(due))
            })?;
        if due.is_none() {
            self.metrics().webhook_set_aside();
        }
        Ok(due)
    }

    fn webhooks_set_aside(&self) -> Result<Vec<(RunId, serde_json::Value)>, StoreError> {
        let db = self.database();
        let rows = self.wait(async {
            let client = db.client().await?;
            client
                .query(
                    "SELECT run_id, record FROM jobhost_webhooks_aside ORDER BY run_id",
                    &[],
                )
                .await
                .map_err(|e| db.refused("reading the webhooks set aside", &e))
        })?;
        Ok(rows
            .iter()
            .map(|r| (RunId(r.get(0)), r.get::<_, serde_json::Value>(1)))
            .collect())
    }

    fn webhooks_ready(&self) -> &tokio::sync::Notify {
        self.ready()
    }

    /// Made on first use; two hosts making it at once keep the first.
    fn webhook_secret(&self, tenant: &TenantId) -> Result<String, StoreError> {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let fresh = hex::encode(bytes);
        let db = self.database();
        self.wait(async {
            let client = db.client().await?;
            client
                .execute(
                    "INSERT INTO jobhost_webhook_secrets (tenant, secret) VALUES ($1, $2)
                     ON CONFLICT (tenant) DO NOTHING",
                    &[&tenant.0, &fresh],
                )
                .await
                .map_err(|e| db.refused("storing a webhook secret", &e))?;
            let row = client
                .query_one(
                    "SELECT secret FROM jobhost_webhook_secrets WHERE tenant = $1",
                    &[&tenant.0],
                )
                .await
                .map_err(|e| db.refused("reading a webhook secret", &e))?;
            Ok(row.get(0))
        })
    }
}

impl NoticeStore for Postgres {
    /// The first waiting notice of each run; damaged ones are dropped.
    fn queued_notices(&self) -> Result<Vec<(RunId, u64, u64)>, StoreError> {
        let db = self.database();
        let rows = self.wait(async {
            let client = db.client().await?;
            client
                .query(
                    "SELECT DISTINCT ON (run_id) run_id, seq, record FROM jobhost_notices
                     ORDER BY run_id, seq",
                    &[],
                )
                .await
                .map_err(|e| db.refused("reading the notices", &e))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (run, seq) = (RunId(row.get(0)), row.get::<_, i64>(1));
            match decode::<Notice>(&row, 2, Record::WebhookDelivery, || run.to_string()) {
                Ok(n) => out.push((run, u64::try_from(seq).unwrap_or(0), n.due_ms)),
                Err(e) => {
                    tracing::error!(run = %run, error = %e, "a damaged webhook notice is dropped");
                    self.done_notice(run, u64::try_from(seq).unwrap_or(0))?;
                }
            }
        }
        Ok(out)
    }

    fn notice(&self, run: RunId, seq: u64) -> Result<Option<Notice>, StoreError> {
        let db = self.database();
        self.wait(async {
            let client = db.client().await?;
            let row = client
                .query_opt(
                    "SELECT record FROM jobhost_notices WHERE run_id = $1 AND seq = $2",
                    &[&run.0, &ms(seq)],
                )
                .await
                .map_err(|e| db.refused("reading a notice", &e))?;
            row.map(|r| decode(&r, 0, Record::WebhookDelivery, || run.to_string()))
                .transpose()
        })
    }

    fn requeue_notice(&self, run: RunId, seq: u64, notice: &Notice) -> Result<(), StoreError> {
        let db = self.database();
        self.wait(async {
            let client = db.client().await?;
            client
                .execute(
                    "UPDATE jobhost_notices SET record = $3 WHERE run_id = $1 AND seq = $2",
                    &[&run.0, &ms(seq), &Json(notice)],
                )
                .await
                .map_err(|e| db.refused("re-timing a notice", &e))?;
            Ok(())
        })
    }

    fn done_notice(&self, run: RunId, seq: u64) -> Result<(), StoreError> {
        let db = self.database();
        self.wait(async {
            let client = db.client().await?;
            client
                .execute(
                    "DELETE FROM jobhost_notices WHERE run_id = $1 AND seq = $2",
                    &[&run.0, &ms(seq)],
                )
                .await
                .map_err(|e| db.refused("removing a notice", &e))?;
            Ok(())
        })?;
        self.webhooks_ready().notify_one();
        Ok(())
    }
}

/// A time in Unix ms (or a sequence number) as PostgreSQL's bigint.
fn ms(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
