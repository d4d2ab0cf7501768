//! `GET /jobs/schemas`: the registered job types and the exact schema each
//! config must satisfy, filterable so agents can ask for what they may create.

use super::ApiError;
use super::AppState;
use super::extract::QueryPairs;
use crate::auth::Caller;
use crate::registry::{Plugin, Registry};
use crate::service::JobTypeQuery;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header;
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// The unfiltered listings, serialised once per registry generation: agents
/// fetch this often, and the registry changes rarely.
#[derive(Debug, Default)]
pub struct SchemaListing {
    cached: Mutex<Option<Rendered>>,
}

/// The listings of one registry generation, rendered when first asked for.
#[derive(Debug)]
struct Rendered {
    generation: u64,
    newest: Option<Bytes>,
    all: Option<Bytes>,
}

impl SchemaListing {
    fn get(&self, registry: &Registry, all_versions: bool) -> Bytes {
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        let generation = registry.generation();
        if cached.as_ref().is_none_or(|c| c.generation != generation) {
            *cached = Some(Rendered {
                generation,
                newest: None,
                all: None,
            });
        }
        let r = cached.as_mut().expect("set above");
        let slot = if all_versions {
            &mut r.all
        } else {
            &mut r.newest
        };
        slot.get_or_insert_with(|| {
            if all_versions {
                render(registry, registry.all())
            } else {
                render(registry, registry.newest())
            }
        })
        .clone()
    }
}

fn render<'a>(registry: &Registry, plugins: impl Iterator<Item = &'a Arc<Plugin>>) -> Bytes {
    let items: Vec<Value> = plugins.map(|p| registry.summary(p)).collect();
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
    let query = JobTypeQuery {
        creatable_by_agent: q.one("creatable_by_agent")?,
        creatable_on_ui: q.one("creatable_on_ui")?,
        visible_on_ui: q.one("visible_on_ui")?,
        job_types: q.all("job_types").into_iter().map(String::from).collect(),
        all_versions: q.one::<bool>("all_versions")?.unwrap_or(false),
    };
    if !query.filters() {
        let registry = state.catalog.snapshot();
        return Ok(json_bytes(state.schemas.get(&registry, query.all_versions)));
    }
    let items = state.service.job_types(&query);
    Ok(json_bytes(Bytes::from(
        serde_json::to_vec(&items).expect("summaries serialise"),
    )))
}
