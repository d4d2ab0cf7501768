//! Job run routes: trigger (with run-time config overrides merged into the
//! job's config and validated), list, get, cancel. Each translates HTTP to a
//! [`Service`](crate::service::Service) operation and back.

use super::extract::{Body, QueryPairs, Rfc3339, parse_id};
use super::idempotency::{KeyHeader, replayed};
use super::{ApiError, AppState, paging};
use crate::auth::Caller;
use crate::model::{JobId, JobRun, RunId, RunStatus};
use crate::service::{BatchItem, IdempotencyKey, ItemOutcome, NewRun, Once, Rerun};
use crate::store::RunFilter;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

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
    KeyHeader(key): KeyHeader,
    Body(body): Body<CreateRun>,
) -> Result<Response, ApiError> {
    let new = NewRun {
        job_id: parse_id("job", &body.job_id)?,
        config: body.config,
        priority: body.priority,
        callback_url: body.callback_url,
    };
    let run = match key {
        None => state.service.trigger(&caller, new).await?,
        Some(key) => match state.service.trigger_once(&caller, new, &key).await? {
            Once::Fresh(run) => run,
            Once::Replayed(first) => return Ok(replayed(first)),
        },
    };
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
        "active",
        "order",
        "limit",
        "cursor",
    ])?;
    let (limit, cursor) = paging(&q)?;
    let mut statuses: Vec<RunStatus> = q.parse_all("statuses")?;
    if q.one("active")?.unwrap_or(false) {
        statuses = if statuses.is_empty() {
            RunStatus::ACTIVE.to_vec()
        } else {
            let picked: Vec<RunStatus> = statuses
                .into_iter()
                .filter(|s| RunStatus::ACTIVE.contains(s))
                .collect();
            if picked.is_empty() {
                return Err(ApiError::bad_request(
                    "active=true keeps pending, running and paused runs; the statuses given are none of them",
                ));
            }
            picked
        };
    }
    let filter = RunFilter {
        job_id: q
            .one::<String>("job_id")?
            .map(|j| parse_id("job", &j))
            .transpose()?,
        job_types: q.all("job_types").into_iter().map(String::from).collect(),
        statuses,
        created_by_users: q
            .all("created_by_users")
            .into_iter()
            .map(String::from)
            .collect(),
        created_after: q.one::<Rfc3339>("created_after")?.map(|t| t.0),
        created_before: q.one::<Rfc3339>("created_before")?.map(|t| t.0),
        order: q.one("order")?.unwrap_or_default(),
    };
    let page = state.service.runs(&caller, &filter, cursor, limit)?;
    let views: Vec<_> = page.items.iter().map(JobRun::view).collect();
    Ok(Json(json!({
        "count": views.len(),
        "items": views,
        "next_cursor": page.next_cursor,
    })))
}

/// A run of the caller's tenant, or 404.
pub(super) fn load(state: &AppState, caller: &Caller, raw_id: &str) -> Result<JobRun, ApiError> {
    let id: RunId = parse_id("job run", raw_id)?;
    Ok(state.service.run(caller, id)?)
}

pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(load(&state, &caller, &id)?.view()).into_response())
}

pub(super) async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: RunId = parse_id("job run", &raw_id)?;
    let cancelled = state.service.cancel(&caller, id).await?;
    Ok(Json(
        json!({"message": format!("Job run {raw_id} cancelled"), "cancelled_count": u32::from(cancelled)}),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RerunBody {
    #[serde(default)]
    config: Option<Value>,
    #[serde(default)]
    job_type_version: Option<String>,
    #[serde(default, deserialize_with = "super::extract::whole_i32")]
    priority: Option<i32>,
    #[serde(default)]
    expected_updated_at: Option<super::jobs::Rfc3339Field>,
}

/// `POST /job-runs/{id}/rerun`: a new run of a finished run's job, from its
/// config with optional overrides. The body may be empty.
pub(super) async fn rerun(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_id): Path<String>,
    body: Option<Body<RerunBody>>,
) -> Result<Response, ApiError> {
    let id: RunId = parse_id("job run", &raw_id)?;
    let body = body.map(|b| b.0).unwrap_or_default();
    let how = Rerun {
        config: body.config,
        job_type_version: body.job_type_version,
        priority: body.priority,
        expected_updated_at: body.expected_updated_at.map(|t| t.0),
    };
    let run = state.service.rerun(&caller, id, how).await?;
    Ok(super::created(
        format!("/api/v1/job-runs/{}", run.uuid),
        run.view(),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BatchBody {
    items: Vec<BatchItemBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchItemBody {
    job_id: JobId,
    #[serde(default)]
    config: Option<Value>,
    #[serde(default, deserialize_with = "super::extract::whole_i32")]
    priority: Option<i32>,
    #[serde(default)]
    callback_url: Option<String>,
    #[serde(default)]
    idempotency_key: Option<String>,
}

/// `POST /job-runs/batch`: up to 1,000 runs in one request and one group
/// commit; all or nothing unless `partial=true`.
pub(super) async fn batch(
    State(state): State<AppState>,
    caller: Caller,
    q: QueryPairs,
    Body(body): Body<BatchBody>,
) -> Result<Response, ApiError> {
    q.only(&["partial"])?;
    let partial = q.one("partial")?.unwrap_or(false);
    let mut items = Vec::with_capacity(body.items.len());
    for (i, item) in body.items.into_iter().enumerate() {
        let key = match item.idempotency_key {
            Some(k) => Some(IdempotencyKey::parse("idempotency_key", &k).map_err(|e| {
                ApiError::BadRequest {
                    message: format!("items[{i}].{e}"),
                    details: json!({"path": format!("items[{i}].idempotency_key")}),
                }
            })?),
            None => None,
        };
        items.push(BatchItem {
            run: NewRun {
                job_id: item.job_id,
                config: item.config,
                priority: item.priority,
                callback_url: item.callback_url,
            },
            key,
        });
    }
    let outcomes = state.service.trigger_batch(&caller, items, partial).await?;
    let done: Vec<Done> = outcomes
        .into_iter()
        .enumerate()
        .map(|(index, outcome)| match outcome {
            ItemOutcome::Created(run) => Done::Created(run),
            ItemOutcome::Replayed(first) => Done::Replayed(first),
            ItemOutcome::Refused(e) => Done::Refused(ApiError::from(e).item(index)),
        })
        .collect();
    let count = |f: fn(&Done) -> bool| done.iter().filter(|d| f(d)).count();
    let body = BatchView {
        created: count(|d| matches!(d, Done::Created(_))),
        replayed: count(|d| matches!(d, Done::Replayed(_))),
        refused: count(|d| matches!(d, Done::Refused(_))),
        items: done
            .iter()
            .enumerate()
            .map(|(index, d)| match d {
                Done::Created(run) => ItemView::Created {
                    index,
                    status: 201,
                    run: run.view(),
                },
                Done::Replayed(first) => ItemView::Replayed {
                    index,
                    status: first.status,
                    replayed: true,
                    run: &first.body,
                },
                Done::Refused(error) => ItemView::Refused(error),
            })
            .collect(),
    };
    let status = if body.created > 0 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    // Serialised straight from the runs, without intermediate JSON values.
    Ok((status, Json(body)).into_response())
}

/// What became of a batch item, as answered.
enum Done {
    Created(Box<JobRun>),
    Replayed(crate::store::Remembered),
    Refused(Value),
}

/// A batch's answer.
#[derive(Serialize)]
struct BatchView<'a> {
    created: usize,
    replayed: usize,
    refused: usize,
    items: Vec<ItemView<'a>>,
}

/// One item of a batch's answer.
#[derive(Serialize)]
#[serde(untagged)]
enum ItemView<'a> {
    Created {
        index: usize,
        status: u16,
        run: crate::model::RunView<'a>,
    },
    Replayed {
        index: usize,
        status: u16,
        replayed: bool,
        run: &'a Value,
    },
    Refused(&'a Value),
}

/// `POST /job-runs/{id}/pause`: 200 with the paused run, or 202 with the
/// running run (`pause_requested`) when it pauses at its next checkpoint.
pub(super) async fn pause(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    let id: RunId = parse_id("job run", &raw_id)?;
    let run = state.service.pause(&caller, id).await?;
    let status = if run.status == RunStatus::Paused {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(run.view())).into_response())
}

/// `POST /job-runs/{id}/resume`: the run, queued again or running again.
pub(super) async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    let id: RunId = parse_id("job run", &raw_id)?;
    let run = state.service.resume(&caller, id).await?;
    Ok(Json(run.view()).into_response())
}
