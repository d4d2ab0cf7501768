//! The REST API under `/api/v1`: job type schemas, jobs and job runs, with
//! bearer auth, tenant scoping and one error shape.

mod error;
mod extract;
mod head;
mod health;
mod idempotency;
mod job_metrics;
mod jobs;
mod logs;
mod plugins;
mod runs;
mod schedules;
mod schemas;
mod secrets;
mod stream;
mod telemetry;
mod tokens;
mod webhooks;

pub use error::ApiError;
pub use schemas::SchemaListing;

use crate::auth::Tokens;
use crate::registry::Catalog;
use crate::service::Service;
use crate::store::Store;
use crate::worker::Workers;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use std::sync::Arc;

/// Largest request body accepted unless `--max-body-bytes` says otherwise:
/// room for the bundled job types' largest documented inputs (1 Mi
/// characters of text or CSV), JSON-escaped.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 << 20;
/// Default and largest page sizes.
pub const DEFAULT_LIMIT: usize = 20;
/// Largest page size.
pub const MAX_LIMIT: usize = 100;

/// The OpenAPI document, as checked in under `schemas/`.
pub const OPENAPI: &str = include_str!("../../../schemas/openapi.json");

/// Every route: method and path, as the OpenAPI document lists them.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/jobs/schemas"),
    ("post", "/api/v1/jobs"),
    ("get", "/api/v1/jobs"),
    ("get", "/api/v1/jobs/{job_id}"),
    ("patch", "/api/v1/jobs/{job_id}"),
    ("delete", "/api/v1/jobs/{job_id}"),
    ("get", "/api/v1/jobs/{job_id}/latest-run"),
    ("get", "/api/v1/jobs/{job_id}/metrics"),
    ("post", "/api/v1/jobs/{job_id}/schedule/pause"),
    ("post", "/api/v1/jobs/{job_id}/schedule/resume"),
    ("post", "/api/v1/jobs/{job_id}/schedule/run-now"),
    ("post", "/api/v1/job-runs"),
    ("get", "/api/v1/job-runs"),
    ("post", "/api/v1/job-runs/batch"),
    ("get", "/api/v1/job-runs/{job_run_id}"),
    ("post", "/api/v1/job-runs/{job_run_id}/cancel"),
    ("post", "/api/v1/job-runs/{job_run_id}/rerun"),
    ("post", "/api/v1/job-runs/{job_run_id}/pause"),
    ("post", "/api/v1/job-runs/{job_run_id}/resume"),
    ("get", "/api/v1/job-runs/{job_run_id}/logs"),
    ("get", "/api/v1/job-runs/{job_run_id}/events"),
    ("get", "/api/v1/events"),
    ("get", "/api/v1/webhooks/secret"),
    ("get", "/api/v1/secrets"),
    ("put", "/api/v1/secrets/{name}"),
    ("delete", "/api/v1/secrets/{name}"),
    ("get", "/api/v1/me"),
    ("get", "/api/v1/tokens"),
    ("post", "/api/v1/tokens"),
    ("delete", "/api/v1/tokens/{token_id}"),
    ("get", "/metrics"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("post", "/api/v1/plugins"),
    ("get", "/api/v1/plugins"),
    ("get", "/api/v1/plugins/events"),
    ("get", "/api/v1/plugins/{job_type}/{version}"),
    ("patch", "/api/v1/plugins/{job_type}/{version}"),
    ("delete", "/api/v1/plugins/{job_type}/{version}"),
];

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// Storage.
    pub store: Store,
    /// The live registry of job types.
    pub catalog: Arc<Catalog>,
    /// Bearer tokens.
    pub tokens: Arc<Tokens>,
    /// The worker pool.
    pub workers: Arc<Workers>,
    /// The operations on jobs and runs.
    pub service: Service,
    /// The serialised `GET /jobs/schemas` listings.
    pub schemas: Arc<SchemaListing>,
    /// Largest component `POST /plugins` accepts.
    pub max_plugin_bytes: usize,
    /// Host metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// `GET /metrics` needs no token.
    pub metrics_public: bool,
    /// Largest JSON request body, in bytes.
    pub max_body_bytes: usize,
    /// How `/mcp` is exposed.
    pub mcp: Arc<crate::mcp::McpSettings>,
}

/// The router with every route and the body limit.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/jobs/schemas", get(schemas::list))
        .route("/api/v1/jobs", post(jobs::create).get(jobs::list))
        .route(
            "/api/v1/jobs/{job_id}",
            get(jobs::get).patch(jobs::update).delete(jobs::delete),
        )
        .route("/api/v1/jobs/{job_id}/latest-run", get(jobs::latest_run))
        .route("/api/v1/jobs/{job_id}/metrics", get(job_metrics::get))
        .route(
            "/api/v1/jobs/{job_id}/schedule/pause",
            post(schedules::pause),
        )
        .route(
            "/api/v1/jobs/{job_id}/schedule/resume",
            post(schedules::resume),
        )
        .route(
            "/api/v1/jobs/{job_id}/schedule/run-now",
            post(schedules::run_now),
        )
        .route("/api/v1/job-runs", post(runs::create).get(runs::list))
        .route("/api/v1/job-runs/batch", post(runs::batch))
        .route("/api/v1/job-runs/{job_run_id}", get(runs::get))
        .route("/api/v1/job-runs/{job_run_id}/cancel", post(runs::cancel))
        .route("/api/v1/job-runs/{job_run_id}/rerun", post(runs::rerun))
        .route("/api/v1/job-runs/{job_run_id}/pause", post(runs::pause))
        .route("/api/v1/job-runs/{job_run_id}/resume", post(runs::resume))
        .route("/api/v1/job-runs/{job_run_id}/logs", get(logs::list))
        .route("/api/v1/job-runs/{job_run_id}/events", get(stream::run))
        .route("/api/v1/events", get(stream::all))
        .route("/api/v1/webhooks/secret", get(webhooks::secret))
        .route("/api/v1/secrets", get(secrets::list))
        .route(
            "/api/v1/secrets/{name}",
            put(secrets::put).delete(secrets::delete),
        )
        .route("/api/v1/me", get(tokens::me))
        .route("/api/v1/tokens", get(tokens::list).post(tokens::create))
        .route("/api/v1/tokens/{token_id}", delete(tokens::revoke))
        .route("/metrics", get(telemetry::metrics))
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            telemetry::track,
        ))
        .route("/api/v1/plugins", post(plugins::publish).get(plugins::list))
        .route("/api/v1/plugins/events", get(plugins::events))
        .route(
            "/api/v1/plugins/{job_type}/{version}",
            get(plugins::get)
                .patch(plugins::update)
                .delete(plugins::delete),
        )
        .merge(crate::mcp::routes(&state))
        .merge(crate::ui::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .layer(axum::middleware::from_fn(head::limit_head))
        .with_state(state)
}

async fn openapi() -> impl axum::response::IntoResponse {
    ([(http::header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn not_found(uri: http::Uri) -> ApiError {
    ApiError::NotFound {
        kind: "route",
        id: uri.path().to_string(),
    }
}

async fn method_not_allowed(method: http::Method, uri: http::Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}

/// A 201 answer: `body`, with `Location` naming where the new resource is read.
pub(crate) fn created(location: String, body: impl serde::Serialize) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response = (http::StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(value) = http::HeaderValue::try_from(location) {
        response.headers_mut().insert(http::header::LOCATION, value);
    }
    response
}

/// Parses `limit` and `cursor`.
pub(crate) fn paging(q: &extract::QueryPairs) -> Result<(usize, Option<[u8; 16]>), ApiError> {
    let limit: usize = q.one("limit")?.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT}, not {limit}"
        )));
    }
    let cursor = match q.one::<String>("cursor")? {
        Some(c) => Some(
            crate::store::decode_cursor(&c)
                .ok_or_else(|| ApiError::bad_request("cursor is not one this server issued"))?,
        ),
        None => None,
    };
    Ok((limit, cursor))
}

/// The list response shape: `{"items", "count", "next_cursor"}`.
pub(crate) fn page_body<T: serde::Serialize>(
    page: crate::store::Page<T>,
) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "count": page.items.len(),
        "items": page.items,
        "next_cursor": page.next_cursor,
    }))
}
