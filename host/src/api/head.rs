//! Request heads: a cap on their size, and no reuse of a connection whose
//! refused request left a body unread.

use super::ApiError;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header;

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
        return ApiError::HeadersTooLarge {
            size,
            limit: MAX_HEAD_BYTES,
        }
        .into_response();
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
