//! `GET /jobs/schemas`: the registered job types and the exact schema each
//! config must satisfy, filterable so agents can ask for what they may create.

use super::ApiError;
use super::AppState;
use super::extract::QueryPairs;
use crate::auth::Caller;
use crate::registry::Plugin;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::{Arc, OnceLock};

/// The unfiltered listings, serialised once: the registry does not change
/// while the server runs, and agents fetch this often.
#[derive(Debug, Default)]
pub struct SchemaListing {
    newest: OnceLock<Bytes>,
    all: OnceLock<Bytes>,
}

fn render<'a>(plugins: impl Iterator<Item = &'a Arc<Plugin>>) -> Bytes {
    let items: Vec<Value> = plugins.map(|p| p.summary()).collect();
    Bytes::from(serde_json::to_vec(&items).expect("summaries serialise"))
}

fn json_bytes(bytes: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

pub(super) async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    q: QueryPairs,
) -> Result<Response, ApiError> {
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
    let registry = &state.registry;
    if by_agent.is_none() && on_ui.is_none() && visible.is_none() && types.is_empty() {
        let cached = if all_versions {
            state.schemas.all.get_or_init(|| render(registry.all()))
        } else {
            state
                .schemas
                .newest
                .get_or_init(|| render(registry.newest()))
        };
        return Ok(json_bytes(cached.clone()));
    }
    let plugins: Vec<&Arc<Plugin>> = if all_versions {
        registry.all().collect()
    } else {
        registry.newest().collect()
    };
    let matching = plugins.into_iter().filter(|p| {
        let i = &p.info;
        by_agent.is_none_or(|b| i.creatable_by_agent == b)
            && on_ui.is_none_or(|b| i.creatable_on_ui == b)
            && visible.is_none_or(|b| i.visible_on_ui == b)
            && (types.is_empty() || types.contains(&i.job_type.as_str()))
    });
    Ok(json_bytes(render(matching)))
}
