//! Token routes: list, create and revoke bearer tokens over the API. A
//! tenant's admin manages its tenant's tokens (never an operator's); an
//! operator manages every tenant's. Changes take effect at once here and
//! within a second on any server reading the same token file.

use super::extract::{Body, QueryPairs};
use super::{ApiError, AppState};
use crate::auth::file::{self, Entry};
use crate::auth::{Caller, Role, TokenError};
use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateToken {
    user: String,
    role: Role,
    #[serde(default)]
    tenant: Option<String>,
}

fn admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.role.is_admin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "tokens are managed with an admin or operator token".into(),
        ))
    }
}

/// Whether `caller` may see and revoke `entry`.
fn manages(caller: &Caller, entry: &Entry) -> bool {
    caller.role == Role::Operator || (entry.tenant == caller.tenant && entry.role != Role::Operator)
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Refused(message) => ApiError::Unprocessable {
                kind: "invalid_field",
                message,
                details: json!({}),
            },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// Runs a change of the token file off the async threads, then reloads it.
async fn change<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&std::path::Path) -> Result<T, TokenError> + Send + 'static,
) -> Result<T, ApiError> {
    let tokens = state.tokens.clone();
    tokio::task::spawn_blocking(move || {
        let out = f(tokens.path())?;
        tokens.reload()?;
        Ok::<_, TokenError>(out)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("a token change failed: {e}")))?
    .map_err(ApiError::from)
}

/// `GET /me`: who the token belongs to.
pub(super) async fn me(caller: Caller) -> Json<Value> {
    Json(json!({
        "user": caller.user,
        "tenant": caller.tenant,
        "role": caller.role,
        "token_id": caller.token,
    }))
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    q: QueryPairs,
) -> Result<Json<Value>, ApiError> {
    admin(&caller)?;
    q.only(&["tenant"])?;
    let tenant: Option<String> = q.one("tenant")?;
    let tokens = state.tokens.clone();
    let entries = tokio::task::spawn_blocking(move || file::read(tokens.path()))
        .await
        .map_err(|e| ApiError::Internal(format!("reading the token file failed: {e}")))??
        .tokens;
    let items: Vec<Value> = entries
        .iter()
        .filter(|e| manages(&caller, e))
        .filter(|e| tenant.as_deref().is_none_or(|t| e.tenant.0 == t))
        .map(Entry::view)
        .collect();
    Ok(Json(json!({"count": items.len(), "items": items})))
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<CreateToken>,
) -> Result<Response, ApiError> {
    admin(&caller)?;
    let tenant = body.tenant.unwrap_or_else(|| caller.tenant.0.clone());
    if caller.role != Role::Operator {
        if body.role == Role::Operator {
            return Err(ApiError::Forbidden(
                "only an operator may create operator tokens".into(),
            ));
        }
        if tenant != caller.tenant.0 {
            return Err(ApiError::Forbidden(format!(
                "an admin creates tokens of its own tenant (`{}`) only",
                caller.tenant
            )));
        }
    }
    let (token, entry) = change(&state, move |path| {
        file::create(path, &body.user, &tenant, body.role)
    })
    .await?;
    let mut view = entry.view();
    view["token"] = json!(token);
    Ok(super::created(
        format!("/api/v1/tokens/{}", entry.id()),
        view,
    ))
}

pub(super) async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    admin(&caller)?;
    if id == caller.token {
        // Revoking it would lock the caller out mid-request; the last
        // operator token could never be replaced over the API again.
        return Err(ApiError::Conflict {
            kind: "token_in_use",
            message: format!(
                "token {id} is the one this request was made with; revoke it with another \
                 token or with `jobhost token revoke {id}`"
            ),
            details: json!({"id": id}),
        });
    }
    let who = caller.clone();
    let revoked = change(&state, {
        let id = id.clone();
        move |path| file::revoke(path, &id, |e| manages(&who, e))
    })
    .await?;
    match revoked {
        Some(e) => Ok(Json(json!({
            "message": format!("token {id} of {} revoked", e.user),
            "revoked": e.view(),
        }))),
        None => Err(ApiError::NotFound { kind: "token", id }),
    }
}
