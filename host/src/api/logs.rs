//! `GET /job-runs/{id}/logs`: a run's log lines (plugin logs, stdout and
//! stderr, and the host's truncation marker), oldest first, filtered by
//! minimum level and time, one page at a time.

use super::extract::{QueryPairs, Rfc3339};
use super::{ApiError, AppState};
use crate::auth::Caller;
use crate::model::LogLevel;
use crate::store::LogFilter;
use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

/// Default page size of a log read.
const DEFAULT_LINES: usize = 100;
/// Largest page of log lines.
const MAX_LINES: usize = 1000;

/// A `level` parameter: the minimum severity.
struct MinLevel(LogLevel);

impl std::str::FromStr for MinLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(MinLevel(match s {
            "trace" => LogLevel::Trace,
            "debug" => LogLevel::Debug,
            "info" => LogLevel::Info,
            "warn" | "warning" => LogLevel::Warn,
            "error" => LogLevel::Error,
            _ => return Err("expected trace, debug, info, warn or error".into()),
        }))
    }
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    q: QueryPairs,
) -> Result<Json<Value>, ApiError> {
    q.only(&["level", "since", "limit", "cursor"])?;
    let id = super::extract::parse_id("job run", &id)?;
    let limit: usize = q.one("limit")?.unwrap_or(DEFAULT_LINES);
    if !(1..=MAX_LINES).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LINES}, not {limit}"
        )));
    }
    let filter = LogFilter {
        min_level: q.one::<MinLevel>("level")?.map(|l| l.0),
        since: q.one::<Rfc3339>("since")?.map(|t| t.0),
        after_seq: q.one::<u32>("cursor")?,
    };
    let (items, next) = state.service.logs(&caller, id, filter, limit).await?;
    Ok(Json(json!({
        "count": items.len(),
        "items": items,
        "next_cursor": next.map(|s| s.to_string()),
    })))
}
