//! The event log in PostgreSQL, shared by the hosts on one database. Each
//! host hands what it publishes to a writer task, which appends batches
//! under an advisory lock held to commit: ids are given in commit order,
//! so a reader that saw an id saw every smaller one. Each host reads the
//! log after the last id it saw (at once after its own writes, else every
//! [`POLL_EVERY`]) into its hub, whose streams then show every host's
//! events in one order, resumable with `Last-Event-ID` on any host and
//! after restarts (within the last [`WINDOW`] events).

use super::{Database, DatabaseError};
use crate::events::{Event, EventHub, EventKind, WINDOW};
use crate::model::{JobId, RunId, TenantId, Timestamp};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio_postgres::types::Json;

/// How often a host reads the events other hosts wrote.
pub const POLL_EVERY: Duration = Duration::from_millis(100);

/// Events waiting to be written; more are dropped (and counted in the log).
const BACKLOG: usize = 65_536;

/// Most events written in one transaction, or read in one query.
const BATCH: usize = 1_000;

/// The advisory lock appends are serialised by ("jobhoste" in ASCII).
const APPEND_LOCK: i64 = 0x6a6f_6268_6f73_7465;

/// How often events older than the last [`WINDOW`] are removed.
const TRIM_EVERY: Duration = Duration::from_secs(60);

/// An event as stored (its id, tenant and kind are columns).
#[derive(Deserialize)]
struct Stored {
    job_id: Option<JobId>,
    run_id: Option<RunId>,
    job_type: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    at: Timestamp,
    data: serde_json::Value,
}

/// Makes `hub` share its events through `db`: its window starts with the
/// latest stored events, what it publishes is appended to the log, and
/// the log is read back into it. Call once, on the runtime the tasks are
/// to run on.
pub(super) async fn share(db: &Database, hub: &Arc<EventHub>) -> Result<(), DatabaseError> {
    let window = i64::try_from(WINDOW).unwrap_or(i64::MAX);
    let client = db.client().await?;
    let rows = client
        .query(
            "SELECT id, tenant, kind, record FROM (
                 SELECT id, tenant, kind, record FROM jobhost_events ORDER BY id DESC LIMIT $1
             ) latest ORDER BY id",
            &[&window],
        )
        .await
        .map_err(|e| db.refused("reading the event log", &e))?;
    drop(client);
    // The newest id read, from the same query: an event appended since is
    // read by the reader below.
    let last = rows.iter().map(|r| r.get::<_, i64>(0)).max().unwrap_or(0);
    let backlog: Vec<Event> = rows.iter().filter_map(decode).collect();
    let (tx, rx) = mpsc::channel(BACKLOG);
    let written = Arc::new(Notify::new());
    hub.relay_to(
        Box::new(move |event| {
            if tx.try_send(event).is_err() {
                tracing::warn!("the event log's writer is behind; an event was dropped");
            }
        }),
        backlog,
        u64::try_from(last).unwrap_or(0),
    );
    tokio::spawn(write(db.clone(), rx, written.clone()));
    tokio::spawn(read(db.clone(), hub.clone(), last, written));
    Ok(())
}

/// Appends what the host publishes, a batch per transaction.
async fn write(db: Database, mut rx: mpsc::Receiver<Event>, written: Arc<Notify>) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        for attempt in 1..=3 {
            match append(&db, &batch).await {
                Ok(()) => break,
                Err(e) if attempt == 3 => {
                    tracing::error!(error = %e, events = batch.len(), "appending to the event log failed; the events were dropped");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "appending to the event log failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
            }
        }
        batch.clear();
        written.notify_one();
    }
}

async fn append(db: &Database, batch: &[Event]) -> Result<(), DatabaseError> {
    let tenants: Vec<Option<&str>> = batch
        .iter()
        .map(|e| e.tenant.as_ref().map(|t| t.0.as_str()))
        .collect();
    let kinds: Vec<&str> = batch.iter().map(|e| e.kind.as_str()).collect();
    let records: Vec<Json<&Event>> = batch.iter().map(Json).collect();
    let mut client = db.client().await?;
    let tx = client
        .transaction()
        .await
        .map_err(|e| db.refused("a transaction", &e))?;
    // The key is a constant of ours, so it can go in the text (one round
    // trip, no statement to prepare).
    tx.batch_execute(&format!("SELECT pg_advisory_xact_lock({APPEND_LOCK})"))
        .await
        .map_err(|e| db.refused("the event log's lock", &e))?;
    let append = tx
        .prepare_cached(
            "INSERT INTO jobhost_events (tenant, kind, record)
             SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[])",
        )
        .await
        .map_err(|e| db.refused("appending to the event log", &e))?;
    tx.execute(&append, &[&tenants, &kinds, &records])
        .await
        .map_err(|e| db.refused("appending to the event log", &e))?;
    tx.commit()
        .await
        .map_err(|e| db.refused("committing to the event log", &e))
}

/// Reads the log after `last` into `hub`, and trims it now and then.
async fn read(db: Database, hub: Arc<EventHub>, mut last: i64, written: Arc<Notify>) {
    let limit = i64::try_from(BATCH).unwrap_or(i64::MAX);
    let mut trimmed = tokio::time::Instant::now();
    loop {
        let rows = match db.client().await {
            Ok(client) => {
                let query = "SELECT id, tenant, kind, record FROM jobhost_events
                             WHERE id > $1 ORDER BY id LIMIT $2";
                match client.prepare_cached(query).await {
                    Ok(statement) => client.query(&statement, &[&last, &limit]).await,
                    Err(e) => Err(e),
                }
                .map_err(|e| db.refused("reading the event log", &e))
            }
            Err(e) => Err(e),
        };
        let full = match rows {
            Ok(rows) => {
                for row in &rows {
                    last = last.max(row.get::<_, i64>(0));
                    if let Some(event) = decode(row) {
                        hub.deliver(event);
                    }
                }
                rows.len() == BATCH
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the event log failed");
                false
            }
        };
        if trimmed.elapsed() >= TRIM_EVERY {
            trimmed = tokio::time::Instant::now();
            trim(&db, last).await;
        }
        if !full {
            tokio::select! {
                () = written.notified() => {}
                () = tokio::time::sleep(POLL_EVERY) => {}
            }
        }
    }
}

/// Removes the events older than the last [`WINDOW`].
async fn trim(db: &Database, last: i64) {
    let keep_after = last - i64::try_from(WINDOW).unwrap_or(i64::MAX);
    if keep_after <= 0 {
        return;
    }
    let trimmed = match db.client().await {
        Ok(client) => client
            .execute("DELETE FROM jobhost_events WHERE id <= $1", &[&keep_after])
            .await
            .map_err(|e| db.refused("trimming the event log", &e)),
        Err(e) => Err(e),
    };
    if let Err(e) = trimmed {
        tracing::warn!(error = %e, "trimming the event log failed");
    }
}

/// An event as read back; one that does not decode is skipped (and logged).
fn decode(row: &tokio_postgres::Row) -> Option<Event> {
    let id: i64 = row.get(0);
    let tenant: Option<String> = row.get(1);
    let kind: String = row.get(2);
    let stored = row.try_get::<_, Json<Stored>>(3).map(|Json(s)| s);
    match (kind.parse::<EventKind>(), stored) {
        (Ok(kind), Ok(s)) => Some(Event {
            id: u64::try_from(id).unwrap_or(0),
            kind,
            tenant: tenant.map(TenantId),
            job_id: s.job_id,
            run_id: s.run_id,
            job_type: s.job_type,
            at: s.at,
            data: s.data,
        }),
        (kind, stored) => {
            let why = kind
                .err()
                .or_else(|| stored.err().map(|e| super::cause(&e)))
                .unwrap_or_default();
            tracing::warn!(event = id, reason = %why, "an event in the log does not decode; skipped");
            None
        }
    }
}
