//! Job routes: create, list, get, update (JSON merge patch of the config,
//! optimistic concurrency), soft delete, latest run. Each translates HTTP
//! to a [`Service`](crate::service::Service) operation and back.

use super::extract::{Body, QueryPairs, Rfc3339, parse_id};
use super::idempotency::{KeyHeader, replayed};
use super::{ApiError, AppState, paging};
use crate::auth::Caller;
use crate::model::{Job, JobId, RetryPolicy, Schedule};
use crate::service::{JobPatch, NewJob, Once};
use crate::store::{JobFilter, RunFilter};
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateJob {
    job_type: String,
    #[serde(default)]
    job_type_version: Option<String>,
    #[serde(default)]
    config: Option<Value>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, deserialize_with = "super::extract::whole_i32")]
    priority: Option<i32>,
    #[serde(default)]
    source_session_id: Option<Uuid>,
    #[serde(default)]
    source_project_id: Option<Uuid>,
    #[serde(default)]
    callback_url: Option<String>,
    #[serde(default)]
    retry: Option<RetryPolicy>,
    #[serde(default)]
    schedule: Option<Schedule>,
}

impl From<CreateJob> for NewJob {
    fn from(b: CreateJob) -> Self {
        NewJob {
            job_type: b.job_type,
            job_type_version: b.job_type_version,
            config: b.config,
            name: b.name,
            description: b.description,
            priority: b.priority,
            source_session_id: b.source_session_id,
            source_project_id: b.source_project_id,
            callback_url: b.callback_url,
            retry: b.retry,
            schedule: b.schedule,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UpdateJob {
    #[serde(default)]
    config: Option<Value>,
    /// A semver requirement: moves the job to the newest matching version.
    #[serde(default)]
    job_type_version: Option<String>,
    /// A new callback URL; `""` removes it.
    #[serde(default)]
    callback_url: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, deserialize_with = "super::extract::whole_i32")]
    priority: Option<i32>,
    #[serde(default)]
    expected_updated_at: Option<Rfc3339Field>,
    /// A retry policy; `null` goes back to the job type's.
    #[serde(default, deserialize_with = "super::extract::nullable")]
    retry: Option<Option<RetryPolicy>>,
    /// A schedule; `null` removes it.
    #[serde(default, deserialize_with = "super::extract::nullable")]
    schedule: Option<Option<Schedule>>,
}

impl From<UpdateJob> for JobPatch {
    fn from(b: UpdateJob) -> Self {
        JobPatch {
            config: b.config,
            job_type_version: b.job_type_version,
            callback_url: b.callback_url,
            name: b.name,
            description: b.description,
            priority: b.priority,
            expected_updated_at: b.expected_updated_at.map(|t| t.0),
            retry: b.retry,
            schedule: b.schedule,
        }
    }
}

/// An RFC 3339 timestamp in a JSON body.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rfc3339Field(pub(super) crate::model::Timestamp);

impl<'de> Deserialize<'de> for Rfc3339Field {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<Rfc3339>()
            .map(|t| Rfc3339Field(t.0))
            .map_err(serde::de::Error::custom)
    }
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    KeyHeader(key): KeyHeader,
    Body(body): Body<CreateJob>,
) -> Result<Response, ApiError> {
    let job = match key {
        None => state.service.create_job(&caller, body.into()).await?,
        Some(key) => match state
            .service
            .create_job_once(&caller, body.into(), &key)
            .await?
        {
            Once::Fresh(job) => job,
            Once::Replayed(first) => return Ok(replayed(first)),
        },
    };
    let state = state.service.schedule_state(&job)?;
    Ok(super::created(
        format!("/api/v1/jobs/{}", job.uuid),
        job.view(state.as_ref()),
    ))
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    q: QueryPairs,
) -> Result<Json<Value>, ApiError> {
    q.only(&[
        "job_types",
        "created_by_users",
        "source_session_ids",
        "created_after",
        "created_before",
        "include_deleted",
        "order",
        "limit",
        "cursor",
    ])?;
    let (limit, cursor) = paging(&q)?;
    let filter = JobFilter {
        job_types: q.all("job_types").into_iter().map(String::from).collect(),
        created_by_users: q
            .all("created_by_users")
            .into_iter()
            .map(String::from)
            .collect(),
        source_session_ids: q.parse_all("source_session_ids")?,
        created_after: q.one::<Rfc3339>("created_after")?.map(|t| t.0),
        created_before: q.one::<Rfc3339>("created_before")?.map(|t| t.0),
        include_deleted: q.one("include_deleted")?.unwrap_or(false),
        order: q.one("order")?.unwrap_or_default(),
    };
    let page = state.service.jobs(&caller, &filter, cursor, limit)?;
    let mut views = Vec::with_capacity(page.items.len());
    for job in &page.items {
        let schedule = state.service.schedule_state(job)?;
        views.push(serde_json::to_value(job.view(schedule.as_ref())).map_err(internal)?);
    }
    Ok(super::page_body(crate::store::Page {
        items: views,
        next_cursor: page.next_cursor,
    }))
}

/// A job of the caller's tenant, or 404.
pub(super) fn load(state: &AppState, caller: &Caller, raw_id: &str) -> Result<Job, ApiError> {
    let id: JobId = parse_id("job", raw_id)?;
    Ok(state.service.job(caller, id)?)
}

/// `GET /jobs/{id}`: the job; with `include_runs=N` also its newest `N`
/// runs (at most a page).
pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    q: QueryPairs,
) -> Result<Json<Value>, ApiError> {
    q.only(&["include_runs", "include_schedule"])?;
    let include_schedule = q.one("include_schedule")?.unwrap_or(false);
    let include_runs: usize = q.one("include_runs")?.unwrap_or(0);
    if include_runs > super::MAX_LIMIT {
        return Err(ApiError::bad_request(format!(
            "include_runs must be between 0 and {}, not {include_runs}",
            super::MAX_LIMIT
        )));
    }
    let job = load(&state, &caller, &id)?;
    let schedule = state.service.schedule_state(&job)?;
    let mut body = serde_json::to_value(job.view(schedule.as_ref())).map_err(internal)?;
    if include_schedule {
        body["upcoming_runs"] = json!(upcoming(&job, schedule.as_ref()));
    }
    if include_runs > 0 {
        let filter = RunFilter {
            job_id: Some(job.uuid),
            ..RunFilter::default()
        };
        let page = state.service.runs(&caller, &filter, None, include_runs)?;
        let runs: Vec<_> = page.items.iter().map(crate::model::JobRun::view).collect();
        body["runs"] = json!(runs);
    }
    Ok(Json(body))
}

pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<UpdateJob>,
) -> Result<Json<Value>, ApiError> {
    let id: JobId = parse_id("job", &id)?;
    let job = state.service.patch_job(&caller, id, body.into()).await?;
    let schedule = state.service.schedule_state(&job)?;
    Ok(Json(
        serde_json::to_value(job.view(schedule.as_ref())).map_err(internal)?,
    ))
}

fn internal(e: serde_json::Error) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// How many upcoming ticks `include_schedule=true` lists.
const UPCOMING: usize = 5;

/// The next ticks of a job's schedule, as RFC 3339 (none when paused).
pub(super) fn upcoming(job: &Job, state: Option<&crate::model::ScheduleState>) -> Vec<String> {
    let (Some(schedule), Some(state)) = (&job.schedule, state) else {
        return Vec::new();
    };
    let (Ok(cron), Some(first)) = (schedule.compile(), state.next_run_at) else {
        return Vec::new();
    };
    let mut ticks = vec![first];
    ticks.extend(cron.between(first, first + time::Duration::days(3660), UPCOMING - 1));
    ticks.iter().map(crate::service::rfc3339).collect()
}

pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_id): Path<String>,
    q: QueryPairs,
) -> Result<Json<Value>, ApiError> {
    q.only(&["cancel_runs"])?;
    let cancel_runs = q.one("cancel_runs")?.unwrap_or(false);
    let id: JobId = parse_id("job", &raw_id)?;
    let cancelled = state.service.delete_job(&caller, id, cancel_runs).await?;
    Ok(Json(
        json!({"message": format!("Job {raw_id} soft deleted"), "cancelled_count": cancelled}),
    ))
}

pub(super) async fn latest_run(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: JobId = parse_id("job", &id)?;
    match state.service.latest_run(&caller, id)? {
        Some(run) => Ok(Json(run.view()).into_response()),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}
