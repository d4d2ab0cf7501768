//! `GET /metrics` (Prometheus text format) and the middleware that times
//! every request by method, matched route and status.

use super::{ApiError, AppState};
use crate::auth::{Caller, Role};
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header;
use std::time::Instant;

/// Times one request.
pub(super) async fn track(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().clone();
    let route = matched.map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let started = Instant::now();
    let response = next.run(req).await;
    state.metrics.http(
        method.as_str(),
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

pub(super) async fn metrics(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
) -> Result<Response, ApiError> {
    if !state.metrics_public && caller?.role != Role::Operator {
        return Err(ApiError::Forbidden(
            "metrics cover every tenant and need an operator token (or start the server with --metrics-public)".into(),
        ));
    }
    let registry = state.catalog.snapshot();
    // This host's figures are served while the store cannot be read.
    let queue_depth = match state.store.queue_len() {
        Ok(depth) => Some(depth),
        Err(e) => {
            tracing::warn!(error = %e, "counting the queue for /metrics failed");
            None
        }
    };
    let body = state
        .metrics
        .render(queue_depth, state.workers.running(), registry.len());
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response())
}
