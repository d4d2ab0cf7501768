//! Job routes: create, list, get, update (JSON merge patch of the config,
//! optimistic concurrency), soft delete, latest run.

use super::extract::{Body, QueryPairs, Rfc3339, parse_id};
use super::{ApiError, AppState, paging, runs};
use crate::auth::{Caller, Role};
use crate::events::EventKind;
use crate::model::{Job, JobId, PluginStatus, now};
use crate::registry::{ApprovalState, Plugin, Registry};
use crate::store::JobFilter;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

const MAX_NAME: usize = 200;
const MAX_DESCRIPTION: usize = 4096;
/// Priorities accepted on jobs and runs.
pub(crate) const PRIORITY_RANGE: std::ops::RangeInclusive<i32> = -1000..=1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateJob {
    job_type: String,
    #[serde(default)]
    job_type_version: Option<String>,
    #[serde(default)]
    config: Option<Value>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, deserialize_with = "super::extract::whole_i32")]
    priority: Option<i32>,
    #[serde(default)]
    source_session_id: Option<Uuid>,
    #[serde(default)]
    source_project_id: Option<Uuid>,
    #[serde(default)]
    callback_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UpdateJob {
    #[serde(default)]
    config: Option<Value>,
    /// A semver requirement: moves the job to the newest matching version.
    #[serde(default)]
    job_type_version: Option<String>,
    /// A new callback URL; `""` removes it.
    #[serde(default)]
    callback_url: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, deserialize_with = "super::extract::whole_i32")]
    priority: Option<i32>,
    #[serde(default)]
    expected_updated_at: Option<Rfc3339Field>,
}

/// An RFC 3339 timestamp in a JSON body.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rfc3339Field(crate::model::Timestamp);

impl<'de> Deserialize<'de> for Rfc3339Field {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<Rfc3339>()
            .map(|t| Rfc3339Field(t.0))
            .map_err(serde::de::Error::custom)
    }
}

fn invalid(field: &str, message: String) -> ApiError {
    ApiError::Unprocessable {
        kind: "invalid_field",
        message: format!("{field}: {message}"),
        details: json!({"violations": [{"pointer": format!("/{field}"), "message": message}]}),
    }
}

/// A callback URL as the target policy allows it.
pub(super) fn check_callback(
    state: &AppState,
    url: Option<String>,
) -> Result<Option<String>, ApiError> {
    match url {
        Some(u) => state
            .callbacks
            .check_url(&u)
            .map(|_| Some(u))
            .map_err(|m| invalid("callback_url", m)),
        None => Ok(None),
    }
}

pub(super) fn check_priority(p: i32) -> Result<i32, ApiError> {
    if PRIORITY_RANGE.contains(&p) {
        Ok(p)
    } else {
        Err(invalid(
            "priority",
            format!(
                "must be between {} and {}",
                PRIORITY_RANGE.start(),
                PRIORITY_RANGE.end()
            ),
        ))
    }
}

fn check_text(field: &str, text: &str, max: usize) -> Result<(), ApiError> {
    if text.len() > max {
        return Err(invalid(
            field,
            format!("is {} bytes; at most {max} are allowed", text.len()),
        ));
    }
    Ok(())
}

/// Resolves a job type (and optional semver requirement) for a caller: the
/// newest matching version that is not yanked.
fn resolve(
    state: &AppState,
    caller: &Caller,
    job_type: &str,
    req: Option<&str>,
) -> Result<Arc<Plugin>, ApiError> {
    let registry = state.catalog.snapshot();
    if registry.versions(job_type).next().is_none() {
        // Only an error lists the known job types; a valid request does not pay for it.
        let known: Vec<&str> = registry.ids().map(|i| i.as_str()).collect();
        return Err(ApiError::Unprocessable {
            kind: "unknown_job_type",
            message: format!(
                "unknown job type `{job_type}`; known job types: {}",
                known.join(", ")
            ),
            details: json!({"job_type": job_type, "known_job_types": known}),
        });
    }
    let req = match req {
        Some(r) => Some(
            semver::VersionReq::parse(r).map_err(|e| invalid("job_type_version", e.to_string()))?,
        ),
        None => None,
    };
    let plugin = registry.resolve(job_type, req.as_ref()).ok_or_else(|| {
        let versions: Vec<Value> = registry
            .versions(job_type)
            .map(|p| {
                json!({
                    "version": p.info.version.to_string(),
                    "status": registry.status(job_type, &p.info.version),
                })
            })
            .collect();
        let yanked: Vec<String> = registry
            .versions(job_type)
            .filter(|p| {
                req.as_ref().is_none_or(|r| r.matches(&p.info.version))
                    && registry.status(job_type, &p.info.version) == PluginStatus::Yanked
            })
            .map(|p| p.info.version.to_string())
            .collect();
        let why = if yanked.is_empty() {
            String::new()
        } else {
            format!(" that is not yanked (yanked: {})", yanked.join(", "))
        };
        ApiError::Unprocessable {
            kind: "unknown_job_type_version",
            message: format!(
                "no version of `{job_type}` matches `{}`{why}",
                req.as_ref()
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "*".into()),
            ),
            details: json!({"job_type": job_type, "available_versions": versions}),
        }
    })?;
    if caller.role == Role::Agent && !plugin.info.creatable_by_agent {
        return Err(ApiError::Forbidden(format!(
            "job type `{job_type}` is not creatable_by_agent: agent tokens may create only \
             job types whose creatable_by_agent is true \
             (GET /api/v1/jobs/schemas?creatable_by_agent=true lists them)"
        )));
    }
    approved(&registry, plugin)?;
    Ok(plugin.clone())
}

/// 409 when `plugin` declares capabilities no operator approved: it takes
/// no new jobs or runs until one does.
pub(super) fn approved(registry: &Registry, plugin: &Plugin) -> Result<(), ApiError> {
    let approval = registry.approval(plugin);
    if approval.state != ApprovalState::Pending {
        return Ok(());
    }
    let (job_type, version) = (plugin.info.job_type.as_str(), &plugin.info.version);
    let mut awaiting: Vec<String> = approval
        .awaiting
        .http
        .iter()
        .map(|h| match h.as_str() {
            "operator_chosen" => "HTTP destinations chosen by the operator".to_string(),
            url => format!("HTTP destination {url}"),
        })
        .collect();
    awaiting.extend(
        approval
            .awaiting
            .secrets
            .iter()
            .map(|s| format!("secret `{s}`")),
    );
    Err(ApiError::Conflict {
        kind: "approval_pending",
        message: format!(
            "job type `{job_type}` {version} declares capabilities no operator has approved \
             yet ({}); an operator approves them with PATCH /api/v1/plugins/{job_type}/{version} \
             and {{\"grants\": {{\"http\": [...], \"secrets\": [...]}}}}",
            awaiting.join(", ")
        ),
        details: json!({
            "job_type": job_type,
            "version": version.to_string(),
            "awaiting": approval.awaiting,
        }),
    })
}

/// The loaded plugin a job is pinned to, or 409.
pub(super) fn pinned(state: &AppState, job: &Job) -> Result<Arc<Plugin>, ApiError> {
    state
        .catalog
        .snapshot()
        .get(job.job_type.as_str(), &job.job_type_version)
        .cloned()
        .ok_or_else(|| ApiError::Conflict {
            kind: "job_type_unavailable",
            message: format!(
                "job {} is pinned to job type {} version {}, which is not loaded; \
                 upgrade the job with PATCH /jobs/{} and a job_type_version",
                job.uuid, job.job_type, job.job_type_version, job.uuid
            ),
            details: json!({"job_type": job.job_type, "job_type_version": job.job_type_version.to_string()}),
        })
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<CreateJob>,
) -> Result<Response, ApiError> {
    state.job_creates.take(&caller, "creating jobs")?;
    let plugin = resolve(
        &state,
        &caller,
        &body.job_type,
        body.job_type_version.as_deref(),
    )?;
    let mut config = body.config.unwrap_or_else(|| json!({}));
    plugin.validate_config(&mut config)?;
    let id = JobId::new();
    let name = body
        .name
        .unwrap_or_else(|| format!("{} – {}", plugin.info.display_name, &id.to_string()[..8]));
    check_text("name", &name, MAX_NAME)?;
    if let Some(d) = &body.description {
        check_text("description", d, MAX_DESCRIPTION)?;
    }
    let job = Job {
        uuid: id,
        tenant: caller.tenant,
        name,
        description: body.description,
        job_type: plugin.info.job_type.clone(),
        job_type_version: plugin.info.version.clone(),
        config,
        priority: check_priority(body.priority.unwrap_or(0))?,
        is_deleted: false,
        created_by: caller.user,
        created_at: now(),
        updated_at: None,
        source_session_id: body.source_session_id,
        source_project_id: body.source_project_id,
        callback_url: check_callback(&state, body.callback_url)?,
    };
    state.store.put_job(&job)?;
    state.store.flush().await?;
    state.store.events().job(EventKind::JobCreated, &job);
    Ok(super::created(format!("/api/v1/jobs/{}", job.uuid), &job))
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    q: QueryPairs,
) -> Result<Json<Value>, ApiError> {
    q.only(&[
        "job_types",
        "created_by_users",
        "source_session_ids",
        "created_after",
        "created_before",
        "include_deleted",
        "limit",
        "cursor",
    ])?;
    let (limit, cursor) = paging(&q)?;
    let filter = JobFilter {
        job_types: q.all("job_types").into_iter().map(String::from).collect(),
        created_by_users: q
            .all("created_by_users")
            .into_iter()
            .map(String::from)
            .collect(),
        source_session_ids: q.parse_all("source_session_ids")?,
        created_after: q.one::<Rfc3339>("created_after")?.map(|t| t.0),
        created_before: q.one::<Rfc3339>("created_before")?.map(|t| t.0),
        include_deleted: q.one("include_deleted")?.unwrap_or(false),
    };
    let page = state
        .store
        .list_jobs(&caller.tenant, &filter, cursor, limit)?;
    Ok(super::page_body(page))
}

/// A job of the caller's tenant, or 404.
pub(super) fn load(state: &AppState, caller: &Caller, raw_id: &str) -> Result<Job, ApiError> {
    let id: JobId = parse_id("job", raw_id)?;
    state
        .store
        .job(&caller.tenant, id)?
        .ok_or(ApiError::NotFound {
            kind: "job",
            id: raw_id.to_string(),
        })
}

pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    Ok(Json(load(&state, &caller, &id)?))
}

/// Applies an RFC 7386 JSON merge patch.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().expect("made an object above");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<UpdateJob>,
) -> Result<Json<Job>, ApiError> {
    let mut job = load(&state, &caller, &id)?;
    if job.is_deleted {
        return Err(ApiError::Conflict {
            kind: "job_deleted",
            message: format!("job {id} is deleted"),
            details: json!({}),
        });
    }
    let current = job.updated_at.unwrap_or(job.created_at);
    if let Some(expected) = body.expected_updated_at
        && expected.0 != current
    {
        let fmt = |t: crate::model::Timestamp| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        };
        return Err(ApiError::Conflict {
            kind: "stale_update",
            message: format!(
                "job {id} changed since {}; it was last updated at {}",
                fmt(expected.0),
                fmt(current)
            ),
            details: json!({"expected_updated_at": fmt(expected.0), "updated_at": fmt(current)}),
        });
    }
    if let Some(patch) = &body.config
        && !patch.is_object()
    {
        return Err(invalid(
            "config",
            "must be a JSON object (a JSON merge patch of the config)".into(),
        ));
    }
    // Upgrading (or downgrading) re-validates the config, with the patch
    // applied, against the new version's schema before anything changes.
    if body.config.is_some() || body.job_type_version.is_some() {
        let plugin = match &body.job_type_version {
            Some(req) => resolve(&state, &caller, job.job_type.as_str(), Some(req))?,
            None => pinned(&state, &job)?,
        };
        let mut config = job.config.clone();
        if let Some(patch) = &body.config {
            merge_patch(&mut config, patch);
        }
        plugin.validate_config(&mut config)?;
        job.config = config;
        job.job_type_version = plugin.info.version.clone();
    }
    if let Some(name) = body.name {
        check_text("name", &name, MAX_NAME)?;
        job.name = name;
    }
    if let Some(d) = body.description {
        check_text("description", &d, MAX_DESCRIPTION)?;
        job.description = Some(d);
    }
    if let Some(p) = body.priority {
        job.priority = check_priority(p)?;
    }
    if let Some(url) = body.callback_url {
        job.callback_url = check_callback(&state, (!url.is_empty()).then_some(url))?;
    }
    let mut updated = now();
    if updated <= current {
        updated = current + time::Duration::microseconds(1);
    }
    job.updated_at = Some(updated);
    state.store.put_job(&job)?;
    state.store.flush().await?;
    state.store.events().job(EventKind::JobUpdated, &job);
    Ok(Json(job))
}

pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    q: QueryPairs,
) -> Result<Json<Value>, ApiError> {
    q.only(&["cancel_runs"])?;
    let cancel_runs = q.one("cancel_runs")?.unwrap_or(false);
    let mut job = load(&state, &caller, &id)?;
    let active = state.store.active_runs_of_job(&caller.tenant, job.uuid)?;
    if !active.is_empty() && !cancel_runs {
        let ids: Vec<String> = active.iter().take(20).map(|r| r.uuid.to_string()).collect();
        return Err(ApiError::Conflict {
            kind: "job_has_active_runs",
            message: format!(
                "job {id} has {} pending or running run(s); pass cancel_runs=true to cancel them",
                active.len()
            ),
            details: json!({"active_runs": active.len(), "run_ids": ids}),
        });
    }
    let mut cancelled = 0;
    for run in active {
        if runs::cancel_one(&state, run).await? {
            cancelled += 1;
        }
    }
    let newly = !job.is_deleted;
    if newly {
        job.is_deleted = true;
        job.updated_at = Some(now());
        state.store.put_job(&job)?;
    }
    state.store.flush().await?;
    if newly {
        state.store.events().job(EventKind::JobDeleted, &job);
    }
    Ok(Json(
        json!({"message": format!("Job {id} soft deleted"), "cancelled_count": cancelled}),
    ))
}

pub(super) async fn latest_run(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = load(&state, &caller, &id)?;
    match state.store.latest_run(&caller.tenant, job.uuid)? {
        Some(run) => Ok(Json(run.view()).into_response()),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

#[cfg(test)]
mod tests {
    use super::merge_patch;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut doc, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}}));
        let mut doc = json!({"a": [1]});
        merge_patch(&mut doc, &json!({"a": [2], "b": {"c": 1}}));
        assert_eq!(doc, json!({"a": [2], "b": {"c": 1}}));
    }
}
