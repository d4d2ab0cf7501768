//! The `Idempotency-Key` request header and the replay of a first answer
//! (`Idempotent-Replayed: true`).

use super::ApiError;
use crate::service::{IdempotencyKey, ServiceError};
use crate::store::{Created, Remembered};
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderValue, StatusCode};
use serde_json::json;

/// The request's header name.
pub const HEADER: &str = "idempotency-key";

/// The request's `Idempotency-Key`, if it sent one.
#[derive(Debug)]
pub struct KeyHeader(pub Option<IdempotencyKey>);

impl<S: Send + Sync> FromRequestParts<S> for KeyHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let bad = |message: String| ApiError::BadRequest {
            message: format!("header Idempotency-Key: {message}"),
            details: json!({"header": "Idempotency-Key"}),
        };
        let mut values = parts.headers.get_all(HEADER).iter();
        let Some(value) = values.next() else {
            return Ok(KeyHeader(None));
        };
        if values.next().is_some() {
            return Err(bad("may be sent only once".into()));
        }
        let text = value
            .to_str()
            .map_err(|_| bad("must be visible ASCII".into()))?;
        match IdempotencyKey::parse("Idempotency-Key", text) {
            Ok(key) => Ok(KeyHeader(Some(key))),
            Err(ServiceError::InvalidField { message, .. }) => Err(bad(message)),
            Err(e) => Err(bad(e.to_string())),
        }
    }
}

/// The first answer again, marked as a replay, with the `Location` of what
/// it created.
pub fn replayed(first: Remembered) -> Response {
    let status = StatusCode::from_u16(first.status).unwrap_or(StatusCode::CREATED);
    let location = match first.created {
        Created::Job(id) => format!("/api/v1/jobs/{id}"),
        Created::Run(id) => format!("/api/v1/job-runs/{id}"),
    };
    let mut response = (status, axum::Json(first.body)).into_response();
    let headers = response.headers_mut();
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    if let Ok(value) = HeaderValue::try_from(location) {
        headers.insert(http::header::LOCATION, value);
    }
    response
}
