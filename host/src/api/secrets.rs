//! Tenant secrets (admin): `PUT /secrets/{name}` sets one (the value is
//! write-only), `GET /secrets` lists names with who set them and when,
//! `DELETE /secrets/{name}` removes one. Runs read only the secrets their
//! job type declared and an operator granted, from their own tenant.

use super::extract::Body;
use super::{ApiError, AppState};
use crate::auth::Caller;
use crate::model::check_secret_name;
use crate::store::{MAX_SECRET_BYTES, SecretInfo, StoreError};
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.role.is_admin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "secrets need an admin token of the tenant".into(),
        ))
    }
}

fn name(raw: &str) -> Result<String, ApiError> {
    check_secret_name(raw).map_err(|message| ApiError::Unprocessable {
        kind: "invalid_secret_name",
        message: format!("secret name: {message}"),
        details: json!({"violations": [{"pointer": "/name", "message": message}]}),
    })?;
    Ok(raw.to_string())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("secrets task failed: {e}")))?
        .map_err(ApiError::from)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PutSecret {
    value: String,
}

impl std::fmt::Debug for PutSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PutSecret { value: .. }")
    }
}

pub(super) async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    Body(body): Body<PutSecret>,
) -> Result<Response, ApiError> {
    require_admin(&caller)?;
    let name = name(&raw)?;
    if body.value.is_empty() || body.value.len() > MAX_SECRET_BYTES {
        let message = format!("must be 1 to {MAX_SECRET_BYTES} bytes");
        return Err(ApiError::Unprocessable {
            kind: "invalid_field",
            message: format!("value: {message}"),
            details: json!({"violations": [{"pointer": "/value", "message": message}]}),
        });
    }
    let store = state.store.clone();
    let (info, new) =
        blocking(move || store.put_secret(&caller.tenant, &name, &body.value, &caller.user))
            .await?;
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(info)).into_response())
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    require_admin(&caller)?;
    let store = state.store.clone();
    let items: Vec<SecretInfo> = blocking(move || store.secrets(&caller.tenant)).await?;
    Ok(Json(json!({"count": items.len(), "items": items})))
}

pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_admin(&caller)?;
    let name = name(&raw)?;
    let store = state.store.clone();
    let id = name.clone();
    if blocking(move || store.delete_secret(&caller.tenant, &name)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound { kind: "secret", id })
    }
}
