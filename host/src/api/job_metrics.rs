//! `GET /jobs/{id}/metrics`: a job's runs aggregated: counts by status,
//! percentiles of execution and queue time, failure rate.

use super::{ApiError, AppState};
use crate::auth::Caller;
use crate::model::RunStatus;
use crate::store::{RunFilter, decode_cursor};
use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Newest runs a summary reads.
pub const MAX_RUNS: usize = 10_000;

fn percentiles(mut v: Vec<f64>) -> Value {
    if v.is_empty() {
        return Value::Null;
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1];
    json!({"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": v[v.len() - 1], "count": v.len()})
}

pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let job = super::jobs::load(&state, &caller, &id)?;
    let store = state.store.clone();
    let tenant = caller.tenant.clone();
    let (runs, truncated) = tokio::task::spawn_blocking(move || {
        let filter = RunFilter {
            job_id: Some(job.uuid),
            ..RunFilter::default()
        };
        let mut runs = Vec::new();
        let mut cursor = None;
        loop {
            let page = store.list_runs(&tenant, &filter, cursor, 100)?;
            runs.extend(page.items);
            if runs.len() >= MAX_RUNS {
                runs.truncate(MAX_RUNS);
                return Ok::<_, crate::store::StoreError>((runs, true));
            }
            match page.next_cursor.as_deref().and_then(decode_cursor) {
                Some(c) => cursor = Some(c),
                None => return Ok((runs, false)),
            }
        }
    })
    .await
    .map_err(|e| ApiError::Internal(format!("job metrics failed: {e}")))??;

    let mut counts: BTreeMap<&str, usize> = [
        RunStatus::Pending,
        RunStatus::Running,
        RunStatus::Paused,
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Cancelled,
    ]
    .iter()
    .map(|s| (s.as_str(), 0))
    .collect();
    let (mut run_ms, mut queued_ms) = (Vec::new(), Vec::new());
    for r in &runs {
        *counts.entry(r.status.as_str()).or_default() += 1;
        let t = r.timing();
        if r.status.is_terminal() {
            run_ms.extend(t.run_ms);
        }
        queued_ms.extend(t.queued_ms);
    }
    let (done, failed) = (counts["completed"], counts["failed"]);
    let failure_rate = (done + failed > 0).then(|| failed as f64 / (done + failed) as f64);
    Ok(Json(json!({
        "job_id": id,
        "runs": runs.len(),
        "truncated": truncated,
        "counts": counts,
        "failure_rate": failure_rate,
        "run_ms": percentiles(run_ms),
        "queued_ms": percentiles(queued_ms),
    })))
}
