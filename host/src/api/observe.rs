//! `GET /metrics` (Prometheus text format) and the middleware that times
//! every request by method, matched route and status.

use super::{ApiError, AppState};
use crate::auth::{Caller, Role};
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use std::time::Instant;

/// Largest request head (target plus headers) a handler sees; the listener
/// bounds what it buffers before that.
pub const MAX_HEAD_BYTES: usize = 32 << 10;

/// Refuses requests whose head is over [`MAX_HEAD_BYTES`] with 431, and
/// closes the connection after a refused request that carried a body.
pub(super) async fn limit_head(req: Request, next: Next) -> Response {
    let size = req.uri().to_string().len()
        + req
            .headers()
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum::<usize>();
    if size > MAX_HEAD_BYTES {
        let body = serde_json::json!({"error": {
            "type": "headers_too_large",
            "message": format!("the request head is {size} bytes; at most {MAX_HEAD_BYTES} are accepted"),
            "details": {"limit_bytes": MAX_HEAD_BYTES},
        }});
        let mut r = (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            axum::Json(body),
        )
            .into_response();
        r.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
        return r;
    }
    let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0");
    let mut response = next.run(req).await;
    // A refused request's body may be left unread: the connection then
    // cannot carry another request, so say so instead of letting the client
    // reuse it.
    if has_body && (response.status().is_client_error() || response.status().is_server_error()) {
        response.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
    }
    response
}

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
    let body = state.metrics.render(
        state.store.queue_len(),
        state.workers.running(),
        registry.len(),
    );
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response())
}
