//! `GET /jobs/schemas`: the registered job types and the exact schema each
//! config must satisfy, filterable so agents can ask for what they may create.

use super::ApiError;
use super::AppState;
use super::extract::QueryPairs;
use crate::auth::Caller;
use crate::registry::Plugin;
use axum::Json;
use axum::extract::State;
use serde_json::Value;

pub(super) async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    q: QueryPairs,
) -> Result<Json<Value>, ApiError> {
    q.only(&[
        "creatable_by_agent",
        "creatable_on_ui",
        "visible_on_ui",
        "job_types",
        "all_versions",
    ])?;
    let by_agent: Option<bool> = q.one("creatable_by_agent")?;
    let on_ui: Option<bool> = q.one("creatable_on_ui")?;
    let visible: Option<bool> = q.one("visible_on_ui")?;
    let all_versions = q.one::<bool>("all_versions")?.unwrap_or(false);
    let types = q.all("job_types");
    let plugins: Vec<&std::sync::Arc<Plugin>> = if all_versions {
        state.registry.all().collect()
    } else {
        state.registry.newest().collect()
    };
    let items: Vec<Value> = plugins
        .into_iter()
        .filter(|p| {
            let i = &p.info;
            by_agent.is_none_or(|b| i.creatable_by_agent == b)
                && on_ui.is_none_or(|b| i.creatable_on_ui == b)
                && visible.is_none_or(|b| i.visible_on_ui == b)
                && (types.is_empty() || types.contains(&i.job_type.as_str()))
        })
        .map(|p| p.summary())
        .collect();
    Ok(Json(Value::Array(items)))
}
