//! Job run routes: trigger (with run-time config overrides merged into the
//! job's config and validated), list, get, cancel.

use super::extract::{Body, QueryPairs, Rfc3339, parse_id};
use super::jobs::{check_priority, load as load_job, merge_patch};
use super::{ApiError, AppState, paging};
use crate::auth::Caller;
use crate::model::{JobRun, RunId, RunStatus, now};
use crate::store::{RunFilter, StoreError};
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

/// How long a cancel request waits for a running plugin to stop.
const CANCEL_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateRun {
    job_id: String,
    #[serde(default)]
    config: Option<Value>,
    #[serde(default, deserialize_with = "super::extract::whole_i32")]
    priority: Option<i32>,
    #[serde(default)]
    callback_url: Option<String>,
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<CreateRun>,
) -> Result<Response, ApiError> {
    let queued = state.store.queue_len();
    if queued >= state.max_queued_runs {
        return Err(ApiError::TooManyRequests {
            message: format!("the run queue is full ({queued} runs waiting); retry later"),
            retry_after: 1,
            limit: Some(json!({"name": "max_queued_runs", "max": state.max_queued_runs})),
        });
    }
    let job = load_job(&state, &caller, &body.job_id)?;
    if job.is_deleted {
        return Err(ApiError::Conflict {
            kind: "job_deleted",
            message: format!("job {} is deleted; it cannot run", job.uuid),
            details: json!({}),
        });
    }
    let plugin = super::jobs::pinned(&state, &job)?;
    super::jobs::approved(&state.catalog.snapshot(), &plugin)?;
    let mut config = job.config.clone();
    if let Some(overrides) = &body.config {
        if !overrides.is_object() {
            return Err(ApiError::Unprocessable {
                kind: "invalid_field",
                message: "config: run-time overrides must be a JSON object (a JSON merge patch)"
                    .into(),
                details: json!({"violations": [{"pointer": "/config", "message": "must be an object"}]}),
            });
        }
        merge_patch(&mut config, overrides);
    }
    plugin.validate_config(&mut config)?;
    let created = now();
    let run = JobRun {
        uuid: RunId::new(),
        tenant: caller.tenant,
        job_id: job.uuid,
        job_name: job.name,
        job_type: job.job_type,
        job_type_version: job.job_type_version,
        config,
        status: RunStatus::Pending,
        priority: check_priority(body.priority.unwrap_or(job.priority))?,
        attempt: 1,
        progress: 0,
        progress_message: None,
        output: None,
        output_references: Vec::new(),
        error: None,
        lease: None,
        receipt: None,
        created_by: caller.user,
        created_at: created,
        updated_at: created,
        started_at: None,
        finished_at: None,
        is_deleted: false,
        callback_url: match body.callback_url {
            Some(u) => super::jobs::check_callback(&state, Some(u))?,
            None => job.callback_url.clone(),
        },
        callback_attempts: 0,
        callback_sent_at: None,
        callback_status_code: None,
        callback_error: None,
    };
    state.store.insert_run(&run)?;
    state.store.flush().await?;
    state.workers.notify();
    Ok(super::created(
        format!("/api/v1/job-runs/{}", run.uuid),
        run.view(),
    ))
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    q: QueryPairs,
) -> Result<Json<Value>, ApiError> {
    q.only(&[
        "job_id",
        "job_types",
        "statuses",
        "created_by_users",
        "created_after",
        "created_before",
        "limit",
        "cursor",
    ])?;
    let (limit, cursor) = paging(&q)?;
    let filter = RunFilter {
        job_id: q
            .one::<String>("job_id")?
            .map(|j| parse_id("job", &j))
            .transpose()?,
        job_types: q.all("job_types").into_iter().map(String::from).collect(),
        statuses: q.parse_all("statuses")?,
        created_by_users: q
            .all("created_by_users")
            .into_iter()
            .map(String::from)
            .collect(),
        created_after: q.one::<Rfc3339>("created_after")?.map(|t| t.0),
        created_before: q.one::<Rfc3339>("created_before")?.map(|t| t.0),
    };
    let page = state
        .store
        .list_runs(&caller.tenant, &filter, cursor, limit)?;
    let views: Vec<_> = page.items.iter().map(JobRun::view).collect();
    Ok(Json(json!({
        "count": views.len(),
        "items": views,
        "next_cursor": page.next_cursor,
    })))
}

pub(super) fn load(state: &AppState, caller: &Caller, raw_id: &str) -> Result<JobRun, ApiError> {
    let id: RunId = parse_id("job run", raw_id)?;
    state
        .store
        .run(&caller.tenant, id)?
        .ok_or(ApiError::NotFound {
            kind: "job_run",
            id: raw_id.to_string(),
        })
}

pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(load(&state, &caller, &id)?.view()).into_response())
}

/// Cancels one run: a pending or paused run at once, a running one by
/// interrupting its instance (waiting briefly for it to stop). True if this
/// call cancelled it.
pub(super) async fn cancel_one(state: &AppState, mut run: JobRun) -> Result<bool, ApiError> {
    for _ in 0..5 {
        match run.status {
            RunStatus::Pending | RunStatus::Paused => {
                let from = run.status;
                run.status = from.transition(RunStatus::Cancelled)?;
                run.updated_at = now();
                run.finished_at = Some(run.updated_at);
                match state.store.update_run(from, &run) {
                    Ok(()) => return Ok(true),
                    Err(StoreError::Conflict) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            RunStatus::Running => {
                if state.workers.cancel(run.uuid) {
                    let workers = state.workers.clone();
                    let id = run.uuid;
                    let _ =
                        tokio::task::spawn_blocking(move || workers.wait_finished(id, CANCEL_WAIT))
                            .await;
                    return Ok(true);
                }
                // A worker registers a run before it writes `running` and
                // leaves after its last write: a running run no worker here
                // holds was left by a worker that died. Cancel it in place,
                // unless its lease moved meanwhile.
                let observed = (run.attempt, run.lease.take());
                run.status = RunStatus::Cancelled;
                run.updated_at = now();
                run.finished_at = Some(run.updated_at);
                match state.store.take_over(&run, observed.0, observed.1.as_ref()) {
                    Ok(()) => return Ok(true),
                    Err(StoreError::Conflict) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            terminal => {
                return Err(terminal
                    .transition(RunStatus::Cancelled)
                    .unwrap_err()
                    .into());
            }
        }
        // The run moved meanwhile: look again.
        run = state
            .store
            .run(&run.tenant, run.uuid)?
            .ok_or(ApiError::NotFound {
                kind: "job_run",
                id: run.uuid.to_string(),
            })?;
    }
    Err(ApiError::Internal(format!(
        "run {} kept changing while being cancelled",
        run.uuid
    )))
}

pub(super) async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let run = load(&state, &caller, &id)?;
    let cancelled = cancel_one(&state, run).await?;
    state.store.flush().await?;
    Ok(Json(
        json!({"message": format!("Job run {id} cancelled"), "cancelled_count": u32::from(cancelled)}),
    ))
}
