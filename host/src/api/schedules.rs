//! Schedule routes (seed 000): pause and resume a job's schedule, and run
//! a scheduled job now. Each answers the job with its schedule's state, or
//! the run it queued.

use super::extract::parse_id;
use super::{ApiError, AppState};
use crate::auth::Caller;
use crate::model::JobId;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::Value;

fn answer(
    job: &crate::model::Job,
    state: &crate::model::ScheduleState,
) -> Result<Json<Value>, ApiError> {
    let mut body = serde_json::to_value(job.view(Some(state)))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    body["upcoming_runs"] = serde_json::json!(super::jobs::upcoming(job, Some(state)));
    Ok(Json(body))
}

pub(super) async fn pause(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: JobId = parse_id("job", &id)?;
    let (job, schedule) = state.service.pause_schedule(&caller, id).await?;
    answer(&job, &schedule)
}

pub(super) async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: JobId = parse_id("job", &id)?;
    let (job, schedule) = state.service.resume_schedule(&caller, id).await?;
    answer(&job, &schedule)
}

pub(super) async fn run_now(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: JobId = parse_id("job", &id)?;
    let run = state.service.run_now(&caller, id).await?;
    Ok(super::created(
        format!("/api/v1/job-runs/{}", run.uuid),
        run.view(),
    ))
}
