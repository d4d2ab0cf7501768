//! The one error shape of the API, `{"error": {"type", "message", "details"}}`,
//! and the single place where errors become HTTP statuses.

use crate::events::SubscribeError;
use crate::model::TransitionError;
use crate::registry::{CatalogError, ConfigError};
use crate::service::ServiceError;
use crate::store::{Record, StoreError};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (bad JSON, wrong types, bad query).
    #[error("{message}")]
    BadRequest {
        /// What is wrong.
        message: String,
        /// Where, when known.
        details: Value,
    },
    /// No or unknown bearer token.
    #[error("a valid bearer token is required (Authorization: Bearer <token>)")]
    Unauthorized,
    /// The caller's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No such resource for this tenant.
    #[error("{kind} {id} not found")]
    NotFound {
        /// `job` or `job_run`.
        kind: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The route exists but not with this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The request conflicts with the resource's state.
    #[error("{message}")]
    Conflict {
        /// Stable kind, e.g. `invalid_job_status_transition`.
        kind: &'static str,
        /// What conflicts.
        message: String,
        /// Details.
        details: Value,
    },
    /// The body is larger than allowed.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The cap.
        limit: usize,
    },
    /// The request head (target and headers) is larger than allowed.
    #[error("the request head is {size} bytes; at most {limit} are accepted")]
    HeadersTooLarge {
        /// Its size.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// The body is well-formed but fails validation (e.g. the config schema).
    #[error("{message}")]
    Unprocessable {
        /// Stable kind, e.g. `config_invalid`.
        kind: &'static str,
        /// What is wrong.
        message: String,
        /// Details (violations with JSON pointers).
        details: Value,
    },
    /// Too many requests; retry after the given seconds.
    #[error("{message}")]
    TooManyRequests {
        /// Why.
        message: String,
        /// Seconds to wait.
        retry_after: u64,
        /// The limit reached, when it is one the caller can name.
        limit: Option<Value>,
    },
    /// A stored record the request needs does not decode: reported for
    /// that record only, naming it and why.
    #[error("the stored {record} {id} is damaged and cannot be read: {reason}")]
    Damaged {
        /// What kind of record.
        record: Record,
        /// Which one.
        id: String,
        /// Why it does not decode.
        reason: String,
    },
    /// The store cannot be reached now (a PostgreSQL database away); retry
    /// after the given seconds. The cause goes to the log.
    #[error("the store cannot be reached now; retry in {retry_after} s")]
    Unavailable {
        /// Why, for the log.
        cause: String,
        /// Seconds to wait.
        retry_after: u64,
    },
    /// Something failed inside; the cause goes to the log, not the client.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// A 400 with a message and no details.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            message: message.into(),
            details: json!({}),
        }
    }

    /// The error as one item of a batch answer: `{"index", "status",
    /// "error": {"type", "message", "details"}}`.
    pub(crate) fn item(&self, index: usize) -> Value {
        let (status, kind, details) = self.parts();
        json!({
            "index": index,
            "status": status.as_u16(),
            "error": {"type": kind, "message": self.to_string(), "details": details},
        })
    }

    /// The HTTP status and the one error body, `{"error": {"type",
    /// "message", "details"}}`: what REST answers, and what other front
    /// ends (MCP tools) show for the same refusal.
    pub fn body(&self) -> (StatusCode, Value) {
        let (status, kind, details) = self.parts();
        let body =
            json!({"error": {"type": kind, "message": self.to_string(), "details": details}});
        (status, body)
    }

    fn parts(&self) -> (StatusCode, &'static str, Value) {
        match self {
            ApiError::BadRequest { details, .. } => {
                (StatusCode::BAD_REQUEST, "bad_request", details.clone())
            }
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", json!({})),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", json!({})),
            ApiError::NotFound { kind, id } => (
                StatusCode::NOT_FOUND,
                "not_found",
                json!({"resource": kind, "id": id}),
            ),
            ApiError::MethodNotAllowed(_) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                json!({}),
            ),
            ApiError::Conflict { kind, details, .. } => {
                (StatusCode::CONFLICT, kind, details.clone())
            }
            ApiError::PayloadTooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                json!({"limit_bytes": limit}),
            ),
            ApiError::HeadersTooLarge { limit, .. } => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
                json!({"limit_bytes": limit}),
            ),
            ApiError::Unprocessable { kind, details, .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, kind, details.clone())
            }
            ApiError::TooManyRequests {
                retry_after, limit, ..
            } => {
                let mut details = json!({"retry_after_seconds": retry_after});
                if let Some(limit) = limit {
                    details["limit"] = limit.clone();
                }
                (StatusCode::TOO_MANY_REQUESTS, "rate_limited", details)
            }
            ApiError::Damaged { record, id, reason } => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "damaged_record",
                json!({"record": record.as_str(), "id": id, "reason": reason}),
            ),
            ApiError::Unavailable { retry_after, .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                json!({"retry_after_seconds": retry_after}),
            ),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", json!({})),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(cause) => tracing::error!(%cause, "request failed"),
            ApiError::Unavailable { cause, .. } => {
                tracing::warn!(%cause, "a request found the store unreachable");
            }
            ApiError::Damaged { record, id, reason } => {
                tracing::error!(record = record.as_str(), %id, %reason, "a request met a damaged record");
            }
            _ => {}
        }
        let (status, body) = self.body();
        let mut response = (status, axum::Json(body)).into_response();
        if let ApiError::TooManyRequests { retry_after, .. }
        | ApiError::Unavailable { retry_after, .. } = self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        if matches!(
            status,
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        ) {
            // The rest of the body is not read: the connection cannot be reused.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Corrupt { record, id, reason } => ApiError::Damaged { record, id, reason },
            e @ StoreError::TooManySecrets { max } => ApiError::Conflict {
                kind: "too_many_secrets",
                message: e.to_string(),
                details: json!({"max": max}),
            },
            StoreError::Database(e) if e.is_unreachable() => ApiError::Unavailable {
                cause: e.to_string(),
                retry_after: 1,
            },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<SubscribeError> for ApiError {
    fn from(e: SubscribeError) -> Self {
        let SubscribeError::TooMany { scope, limit, open } = &e;
        ApiError::TooManyRequests {
            message: e.to_string(),
            retry_after: 1,
            limit: Some(
                json!({"name": format!("event_streams_per_{scope}"), "max": limit, "open": open}),
            ),
        }
    }
}

impl From<TransitionError> for ApiError {
    fn from(e: TransitionError) -> Self {
        ApiError::Conflict {
            kind: "invalid_job_status_transition",
            message: e.to_string(),
            details: json!({"current_status": e.from, "requested_status": e.to}),
        }
    }
}

impl From<ConfigError> for ApiError {
    fn from(e: ConfigError) -> Self {
        let details = match &e {
            ConfigError::Schema { violations, .. } => json!({"violations": violations}),
            ConfigError::JobTypeMismatch { expected, found } => json!({"violations": [{
                "pointer": "/job_type", "message": format!("must be `{expected}`, not `{found}`")
            }]}),
            ConfigError::NotAnObject => {
                json!({"violations": [{"pointer": "", "message": "must be an object"}]})
            }
        };
        ApiError::Unprocessable {
            kind: "config_invalid",
            message: e.to_string(),
            details,
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let message = e.to_string();
        let conflict = |kind, details| ApiError::Conflict {
            kind,
            message: message.clone(),
            details,
        };
        let unprocessable = |kind, details| ApiError::Unprocessable {
            kind,
            message: message.clone(),
            details,
        };
        match e {
            ServiceError::NotFound { resource, id } => ApiError::NotFound { kind: resource, id },
            ServiceError::InvalidField { field, message: m } => unprocessable(
                "invalid_field",
                json!({"violations": [{"pointer": format!("/{field}"), "message": m}]}),
            ),
            ServiceError::UnknownJobType { job_type, known } => unprocessable(
                "unknown_job_type",
                json!({"job_type": job_type, "known_job_types": known}),
            ),
            ServiceError::UnknownVersion {
                job_type,
                available,
                ..
            } => {
                let versions: Vec<Value> = available
                    .iter()
                    .map(|(v, status)| json!({"version": v.to_string(), "status": status}))
                    .collect();
                unprocessable(
                    "unknown_job_type_version",
                    json!({"job_type": job_type, "available_versions": versions}),
                )
            }
            ServiceError::NotCreatableByAgent { .. } => ApiError::Forbidden(message),
            ServiceError::ApprovalPending {
                job_type,
                version,
                awaiting,
            } => conflict(
                "approval_pending",
                json!({"job_type": job_type, "version": version.to_string(), "awaiting": awaiting}),
            ),
            ServiceError::JobTypeUnavailable {
                job_type, version, ..
            } => conflict(
                "job_type_unavailable",
                json!({"job_type": job_type, "job_type_version": version.to_string()}),
            ),
            ServiceError::JobDeleted { .. } => conflict("job_deleted", json!({})),
            ServiceError::StaleUpdate {
                expected, current, ..
            } => conflict(
                "stale_update",
                json!({
                    "expected_updated_at": crate::service::rfc3339(&expected),
                    "updated_at": crate::service::rfc3339(&current),
                }),
            ),
            ServiceError::JobHasActiveRuns { count, runs, .. } => conflict(
                "job_has_active_runs",
                json!({"active_runs": count, "run_ids": runs}),
            ),
            ServiceError::QueueFull { max, .. } => ApiError::TooManyRequests {
                message,
                retry_after: 1,
                limit: Some(json!({"name": "max_queued_runs", "max": max})),
            },
            ServiceError::RateLimited {
                per_minute,
                retry_after,
                ..
            } => ApiError::TooManyRequests {
                message,
                retry_after,
                limit: Some(json!({"name": "job_creates_per_token_per_minute", "max": per_minute})),
            },
            ServiceError::Config(e) => e.into(),
            ServiceError::Transition(e) => e.into(),
            ServiceError::Store(e) => e.into(),
            ServiceError::RunNotFinished { run, status } => conflict(
                "run_not_finished",
                json!({"job_run_id": run, "status": status}),
            ),
            ServiceError::IdempotencyKeyInUse { key } => {
                conflict("idempotency_key_in_use", json!({"idempotency_key": key}))
            }
            ServiceError::IdempotencyKeyReused { key } => {
                unprocessable("idempotency_key_reused", json!({"idempotency_key": key}))
            }
            ServiceError::BatchRefused { failures } => {
                let items: Vec<Value> = failures
                    .into_iter()
                    .map(|(index, e)| ApiError::from(e).item(index))
                    .collect();
                unprocessable("batch_refused", json!({"items": items}))
            }
            ServiceError::NoSchedule { job } => conflict("no_schedule", json!({"job_id": job})),
            ServiceError::RunNotPausable { run, .. } => {
                conflict("run_not_pausable", json!({"job_run_id": run}))
            }
            ServiceError::TooManyPausedInMemory { max } => conflict(
                "too_many_paused",
                json!({"limit": {"name": "max_paused_in_memory", "max": max}}),
            ),
            ServiceError::RunNotPaused { run, status } => conflict(
                "run_not_paused",
                json!({"job_run_id": run, "status": status}),
            ),
            ServiceError::CancelRace(_) => ApiError::Internal(message),
        }
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::Invalid(e) => ApiError::Unprocessable {
                kind: "invalid_plugin",
                message: format!("the component was refused: {e}"),
                details: json!({"reason": e.code()}),
            },
            CatalogError::Conflict(message) => ApiError::Conflict {
                kind: "plugin_version_conflict",
                message,
                details: json!({}),
            },
            CatalogError::NotFound { job_type, version } => ApiError::NotFound {
                kind: "plugin",
                id: format!("{job_type}/{version}"),
            },
            CatalogError::Grant(problems) => ApiError::Unprocessable {
                kind: "invalid_grant",
                message: format!("grants: {}", problems.join("; ")),
                details: json!({"violations": problems
                    .iter()
                    .map(|p| json!({"pointer": "/grants", "message": p}))
                    .collect::<Vec<_>>()}),
            },
            CatalogError::NotDeletable(message) => ApiError::Conflict {
                kind: "plugin_not_deletable",
                message,
                details: json!({}),
            },
            e @ (CatalogError::Store(_) | CatalogError::Io(_)) => ApiError::Internal(e.to_string()),
        }
    }
}
