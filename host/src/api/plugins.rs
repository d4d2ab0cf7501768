//! Plugin routes: publish a component (operator), list the loaded versions,
//! change a version's status (operator), delete a published version (operator),
//! and the registry's change events.

use super::extract::{Body, QueryPairs};
use super::{ApiError, AppState};
use crate::auth::{Caller, Role};
use crate::model::{MAX_DESTINATIONS, Origin, PluginStatus, check_secret_name};
use crate::registry::{CatalogError, PluginView};
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};

/// Most events one page of `GET /plugins/events` returns.
const MAX_EVENTS_PAGE: usize = 1000;

/// Job types are shared by every tenant, so only operators manage them.
fn require_operator(caller: &Caller, what: &str) -> Result<(), ApiError> {
    if caller.role == Role::Operator {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "{what} needs an operator token: job types are shared by every tenant"
        )))
    }
}

/// A short, stable name for why a component was refused.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CatalogError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("plugin task failed: {e}")))?
        .map_err(ApiError::from)
}

pub(super) async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    require_operator(&caller, "publishing a job type")?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/wasm")
        && !content_type.starts_with("application/octet-stream")
    {
        return Err(ApiError::bad_request(
            "the body must be the component's bytes (Content-Type: application/wasm)",
        ));
    }
    let limit = state.max_plugin_bytes;
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge { limit })?;
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "the body is empty; send the component's bytes",
        ));
    }
    let catalog = state.catalog.clone();
    let (view, created) = blocking(move || catalog.publish(&bytes, &caller.user)).await?;
    if created {
        let location = format!("/api/v1/plugins/{}/{}", view.job_type, view.version);
        return Ok(super::created(location, view));
    }
    Ok((StatusCode::OK, Json(view)).into_response())
}

pub(super) async fn list(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let catalog = state.catalog.clone();
    let items = blocking(move || catalog.list()).await?;
    Ok(Json(json!({"count": items.len(), "items": items})))
}

fn version(job_type: &str, raw: &str) -> Result<semver::Version, ApiError> {
    semver::Version::parse(raw).map_err(|e| {
        ApiError::bad_request(format!(
            "`{raw}` in /plugins/{job_type}/{raw} is not a semantic version: {e}"
        ))
    })
}

pub(super) async fn get(
    State(state): State<AppState>,
    _caller: Caller,
    Path((job_type, raw)): Path<(String, String)>,
) -> Result<Json<PluginView>, ApiError> {
    let v = version(&job_type, &raw)?;
    let registry = state.catalog.snapshot();
    let plugin = registry
        .get(&job_type, &v)
        .cloned()
        .ok_or(ApiError::NotFound {
            kind: "plugin",
            id: format!("{job_type}/{raw}"),
        })?;
    let catalog = state.catalog.clone();
    Ok(Json(
        blocking(move || catalog.view(&registry, &plugin)).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ChangeVersion {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    grants: Option<Grants>,
}

/// What an operator approves for a version.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Grants {
    /// Replaces the granted destinations; absent keeps them.
    #[serde(default, deserialize_with = "present")]
    http: Option<Vec<Origin>>,
    /// Replaces the granted secrets; absent keeps them.
    #[serde(default, deserialize_with = "present")]
    secrets: Option<Vec<String>>,
}

/// A field that may be left out but, when given, is not `null`.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// Longest status reason kept.
const MAX_REASON: usize = 1000;

/// `PATCH /plugins/{job_type}/{version}`: the status (admin or operator)
/// and the grants (operator) of a version.
pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((job_type, raw)): Path<(String, String)>,
    Body(body): Body<ChangeVersion>,
) -> Result<Json<PluginView>, ApiError> {
    let v = version(&job_type, &raw)?;
    if body.status.is_none() && body.grants.is_none() {
        return Err(ApiError::Unprocessable {
            kind: "invalid_field",
            message: "give `status`, `grants` or both".into(),
            details: json!({"violations": [{"pointer": "", "message": "needs status or grants"}]}),
        });
    }
    if body.status.is_none() && body.reason.is_some() {
        return Err(ApiError::Unprocessable {
            kind: "invalid_field",
            message: "reason: a reason goes with a status".into(),
            details: json!({"violations": [{"pointer": "/reason", "message": "needs status"}]}),
        });
    }
    let status = match &body.status {
        None => None,
        Some(s) => {
            require_operator(&caller, "changing a job type version's status")?;
            Some(PluginStatus::parse(s).ok_or_else(|| ApiError::Unprocessable {
                kind: "invalid_field",
                message: format!("status: `{s}` is not one of active, deprecated, yanked"),
                details: json!({"violations": [{"pointer": "/status", "message": "must be active, deprecated or yanked"}]}),
            })?)
        }
    };
    if body.reason.as_ref().is_some_and(|r| r.len() > MAX_REASON) {
        return Err(ApiError::Unprocessable {
            kind: "invalid_field",
            message: format!("reason: at most {MAX_REASON} bytes are allowed"),
            details: json!({"violations": [{"pointer": "/reason", "message": "too long"}]}),
        });
    }
    if let Some(g) = &body.grants {
        require_operator(&caller, "approving a job type version's capabilities")?;
        if g.http.as_ref().is_some_and(|h| h.len() > MAX_DESTINATIONS) {
            return Err(invalid_grant(
                "/grants/http",
                format!("at most {MAX_DESTINATIONS} destinations may be granted"),
            ));
        }
        for (i, s) in g.secrets.iter().flatten().enumerate() {
            check_secret_name(s).map_err(|e| invalid_grant(&format!("/grants/secrets/{i}"), e))?;
        }
    }
    let catalog = state.catalog.clone();
    let view = blocking(move || {
        let mut view = None;
        if let Some(status) = status {
            view = Some(catalog.set_status(&job_type, &v, status, body.reason, &caller.user)?);
        }
        if let Some(g) = body.grants {
            view = Some(catalog.set_grant(&job_type, &v, g.http, g.secrets, &caller.user)?);
        }
        Ok(view.expect("status or grants was given"))
    })
    .await?;
    Ok(Json(view))
}

fn invalid_grant(pointer: &str, message: String) -> ApiError {
    ApiError::Unprocessable {
        kind: "invalid_grant",
        message: format!("{pointer}: {message}"),
        details: json!({"violations": [{"pointer": pointer, "message": message}]}),
    }
}

pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((job_type, raw)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    require_operator(&caller, "deleting a job type version")?;
    let v = version(&job_type, &raw)?;
    let catalog = state.catalog.clone();
    let (t, user) = (job_type.clone(), caller.user.clone());
    let v2 = v.clone();
    blocking(move || catalog.delete(&t, &v2, &user)).await?;
    Ok(Json(json!({
        "message": format!("job type {job_type} version {v} deleted; jobs pinned to it cannot run until upgraded")
    })))
}

pub(super) async fn events(
    State(state): State<AppState>,
    _caller: Caller,
    q: QueryPairs,
) -> Result<Json<Value>, ApiError> {
    q.only(&["after", "limit"])?;
    let limit: usize = q.one("limit")?.unwrap_or(100);
    if !(1..=MAX_EVENTS_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_EVENTS_PAGE}, not {limit}"
        )));
    }
    let after = match q.one::<String>("after")? {
        Some(a) => Some(
            uuid::Uuid::parse_str(&a)
                .map_err(|_| ApiError::bad_request(format!("after: `{a}` is not an event id")))?,
        ),
        None => None,
    };
    let items = state.store.registry_events(after, limit)?;
    let next = items.last().map(|e| e.uuid);
    Ok(Json(
        json!({"count": items.len(), "items": items, "next_after": next}),
    ))
}
