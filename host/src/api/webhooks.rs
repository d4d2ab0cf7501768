//! `GET /webhooks/secret`: the tenant's callback signing secret (admin).

use super::{ApiError, AppState};
use crate::auth::Caller;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

pub(super) async fn secret(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    if !caller.role.is_admin() {
        return Err(ApiError::Forbidden(
            "the webhook secret needs an admin token".into(),
        ));
    }
    let store = state.store.clone();
    let tenant = caller.tenant.clone();
    let secret = tokio::task::spawn_blocking(move || store.webhook_secret(&tenant))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(Json(json!({
        "secret": secret,
        "algorithm": "HMAC-SHA256",
        "header": "X-Jobhost-Signature",
        "format": "sha256=<hex of HMAC-SHA256(key = this secret as UTF-8, message = the request body)>",
    })))
}
