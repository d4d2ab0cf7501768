//! Tool calls. A job type tool creates a job and a run through the service
//! and follows the run (for a bounded time, with progress notifications
//! when the client asked for them); the fixed tools read, list and cancel
//! through the same service. A refusal comes back as a tool error carrying
//! the API's error body, so a model can read what to fix and where.

use super::tools::{self, VERSION_ARG};
use crate::api::{ApiError, AppState};
use crate::auth::Caller;
use crate::events::Filter;
use crate::model::{JobId, JobRun, LogLevel, RunId, RunStatus};
use crate::service::{IdempotencyKey, JobTypeQuery, NewJob, NewRun, Once};
use crate::store::{Created, LogFilter, RunFilter, decode_cursor};
use rmcp::RoleServer;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ErrorData, JsonObject, ProgressNotificationParam,
};
use rmcp::service::RequestContext;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Answers one `tools/call`.
pub(super) async fn call(
    state: &AppState,
    caller: &Caller,
    request: CallToolRequestParams,
    context: &RequestContext<RoleServer>,
) -> Result<CallToolResult, ErrorData> {
    let args = request.arguments.unwrap_or_default();
    let outcome = match request.name.as_ref() {
        "list_job_types" => list_job_types(state, args),
        "get_run" => get_run(state, caller, args),
        "get_run_logs" => get_run_logs(state, caller, args).await,
        "cancel_run" => cancel_run(state, caller, args).await,
        "list_runs" => list_runs(state, caller, args),
        tool => {
            let job_type = tools::job_type_of(tool);
            if state.catalog.snapshot().versions(job_type).next().is_none() {
                return Err(ErrorData::invalid_params(
                    format!("unknown tool `{tool}`; tools/list names the tools there are"),
                    None,
                ));
            }
            run_job_type(state, caller, job_type, args, context).await
        }
    };
    Ok(outcome.unwrap_or_else(refused))
}

/// A refusal as a tool error: the API's error body, and its status.
fn refused(e: ApiError) -> CallToolResult {
    let (status, mut body) = e.body();
    body["status"] = json!(status.as_u16());
    CallToolResult::structured_error(body)
}

/// Arguments of type `T`, or a 400 naming the offending argument.
fn args<T: DeserializeOwned>(args: JsonObject) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(Value::Object(args)).map_err(|e| {
        let path = e.path().to_string();
        ApiError::BadRequest {
            message: format!("invalid arguments at `{path}`: {}", e.inner()),
            details: json!({"path": path}),
        }
    })
}

fn list_job_types(state: &AppState, a: JsonObject) -> Result<CallToolResult, ApiError> {
    let query: JobTypeQuery = args(a)?;
    let items = state.service.job_types(&query);
    Ok(CallToolResult::structured(
        json!({"count": items.len(), "items": items}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunArg {
    job_run_id: RunId,
}

fn get_run(state: &AppState, caller: &Caller, a: JsonObject) -> Result<CallToolResult, ApiError> {
    let RunArg { job_run_id } = args(a)?;
    let run = state.service.run(caller, job_run_id)?;
    Ok(CallToolResult::structured(
        serde_json::to_value(run.view()).unwrap_or_default(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogsArgs {
    job_run_id: RunId,
    level: Option<LogLevel>,
    #[serde(default = "default_log_limit")]
    limit: usize,
    cursor: Option<String>,
}

fn default_log_limit() -> usize {
    100
}

async fn get_run_logs(
    state: &AppState,
    caller: &Caller,
    a: JsonObject,
) -> Result<CallToolResult, ApiError> {
    let a: LogsArgs = args(a)?;
    if !(1..=1000).contains(&a.limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and 1000, not {}",
            a.limit
        )));
    }
    let after_seq = a
        .cursor
        .map(|c| {
            c.parse::<u32>()
                .map_err(|_| ApiError::bad_request("cursor is not one this server issued"))
        })
        .transpose()?;
    let filter = LogFilter {
        min_level: a.level,
        since: None,
        after_seq,
    };
    let (items, next) = state
        .service
        .logs(caller, a.job_run_id, filter, a.limit)
        .await?;
    Ok(CallToolResult::structured(json!({
        "count": items.len(),
        "items": items,
        "next_cursor": next.map(|s| s.to_string()),
    })))
}

async fn cancel_run(
    state: &AppState,
    caller: &Caller,
    a: JsonObject,
) -> Result<CallToolResult, ApiError> {
    let RunArg { job_run_id } = args(a)?;
    let cancelled = state.service.cancel(caller, job_run_id).await?;
    let run = state.service.run(caller, job_run_id)?;
    Ok(CallToolResult::structured(json!({
        "job_run_id": job_run_id,
        "cancelled": cancelled,
        "status": run.status,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListRunsArgs {
    job_id: Option<JobId>,
    #[serde(default)]
    job_types: Vec<String>,
    #[serde(default)]
    statuses: Vec<RunStatus>,
    #[serde(default = "default_list_limit")]
    limit: usize,
    cursor: Option<String>,
}

fn default_list_limit() -> usize {
    crate::api::DEFAULT_LIMIT
}

fn list_runs(state: &AppState, caller: &Caller, a: JsonObject) -> Result<CallToolResult, ApiError> {
    let a: ListRunsArgs = args(a)?;
    if !(1..=crate::api::MAX_LIMIT).contains(&a.limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {}, not {}",
            crate::api::MAX_LIMIT,
            a.limit
        )));
    }
    let cursor = a
        .cursor
        .map(|c| {
            decode_cursor(&c)
                .ok_or_else(|| ApiError::bad_request("cursor is not one this server issued"))
        })
        .transpose()?;
    let filter = RunFilter {
        job_id: a.job_id,
        job_types: a.job_types,
        statuses: a.statuses,
        ..RunFilter::default()
    };
    let page = state.service.runs(caller, &filter, cursor, a.limit)?;
    let items: Vec<_> = page.items.iter().map(JobRun::view).collect();
    Ok(CallToolResult::structured(json!({
        "count": items.len(),
        "items": items,
        "next_cursor": page.next_cursor,
    })))
}

/// The idempotency key a call's request id feeds, within a session: a
/// client re-sending a call after a lost answer gets the first job and run.
/// Stateless requests have no session to scope their ids to, so none.
fn session_key(context: &RequestContext<RoleServer>) -> Option<String> {
    let parts = context.extensions.get::<http::request::Parts>()?;
    let session = parts.headers.get("mcp-session-id")?.to_str().ok()?;
    let id = match &context.id {
        rmcp::model::NumberOrString::Number(n) => n.to_string(),
        rmcp::model::NumberOrString::String(s) => s.to_string(),
    };
    Some(format!("mcp:{session}:{id}"))
}

fn key(base: &str, what: &str) -> Result<IdempotencyKey, ApiError> {
    Ok(IdempotencyKey::parse(
        "idempotency_key",
        &format!("{base}:{what}"),
    )?)
}

/// Creates a job of `job_type` with the arguments as config, runs it and
/// follows the run.
async fn run_job_type(
    state: &AppState,
    caller: &Caller,
    job_type: &str,
    mut config: JsonObject,
    context: &RequestContext<RoleServer>,
) -> Result<CallToolResult, ApiError> {
    let version = match config.remove(VERSION_ARG) {
        None | Some(Value::Null) => None,
        Some(Value::String(v)) => Some(v),
        Some(_) => {
            return Err(ApiError::bad_request(format!(
                "{VERSION_ARG} must be a string (a semver requirement such as \"^1\")"
            )));
        }
    };
    let new = NewJob {
        job_type: job_type.to_string(),
        job_type_version: version,
        config: Some(Value::Object(config)),
        ..NewJob::default()
    };
    let service = &state.service;
    let session = session_key(context);
    let job_id = match &session {
        Some(base) => match service
            .create_job_once(caller, new, &key(base, "job")?)
            .await?
        {
            Once::Fresh(job) => job.uuid,
            Once::Replayed(first) => match first.created {
                Created::Job(id) => id,
                Created::Run(_) => return Err(ApiError::Internal("key names a run".into())),
            },
        },
        None => service.create_job(caller, new).await?.uuid,
    };
    let new_run = NewRun {
        job_id,
        config: None,
        priority: None,
        callback_url: None,
    };
    let run_id = match &session {
        Some(base) => match service
            .trigger_once(caller, new_run, &key(base, "run")?)
            .await?
        {
            Once::Fresh(run) => run.uuid,
            Once::Replayed(first) => match first.created {
                Created::Run(id) => id,
                Created::Job(_) => return Err(ApiError::Internal("key names a job".into())),
            },
        },
        None => service.trigger(caller, new_run).await?.uuid,
    };
    follow(state, caller, run_id, context).await
}

/// Waits for the run to finish, up to the configured time, sending
/// progress notifications when the client gave a progress token.
async fn follow(
    state: &AppState,
    caller: &Caller,
    run_id: RunId,
    context: &RequestContext<RoleServer>,
) -> Result<CallToolResult, ApiError> {
    // Subscribe first, then read the run: no change falls between the two.
    let filter = Filter::run(caller.tenant.clone(), run_id);
    let sub = state
        .store
        .events()
        .subscribe(&caller.token, filter, None)?;
    let mut closed = state.store.events().closed();
    let deadline = tokio::time::Instant::now() + state.mcp.wait;
    let progress_token = context.meta.get_progress_token();
    let mut reported = None;
    loop {
        let run = state.service.run(caller, run_id)?;
        if run.status.is_terminal() {
            return Ok(finished(&run));
        }
        if let Some(token) = &progress_token
            && run.status == RunStatus::Running
            && reported != Some(run.progress)
        {
            reported = Some(run.progress);
            let mut note = ProgressNotificationParam::new(token.clone(), f64::from(run.progress))
                .with_total(100.0);
            if let Some(m) = &run.progress_message {
                note = note.with_message(m.clone());
            }
            // A client that stopped listening still gets its answer.
            let _ = context.peer.notify_progress(note).await;
        }
        tokio::select! {
            _ = sub.recv() => {}
            _ = tokio::time::sleep_until(deadline) => return Ok(unfinished(&run, state)),
            _ = context.ct.cancelled() => return Ok(unfinished(&run, state)),
            _ = super::shutting_down(&mut closed) => return Ok(unfinished(&run, state)),
        }
    }
}

/// A finished run: the output (completed) or why not (a tool error).
fn finished(run: &JobRun) -> CallToolResult {
    let body = json!({
        "job_id": run.job_id,
        "job_run_id": run.uuid,
        "job_type": run.job_type,
        "job_type_version": run.job_type_version.to_string(),
        "status": run.status,
        "output": run.output,
        "output_references": run.output_references,
        "error": run.error,
        "receipt": run.receipt,
    });
    if run.status == RunStatus::Completed {
        let mut result = CallToolResult::structured(body);
        if let Some(output) = &run.output {
            result.content = vec![rmcp::model::ContentBlock::text(
                serde_json::to_string_pretty(output).unwrap_or_default(),
            )];
        }
        result
    } else {
        CallToolResult::structured_error(body)
    }
}

/// A run still going when the wait ended.
fn unfinished(run: &JobRun, state: &AppState) -> CallToolResult {
    CallToolResult::structured(json!({
        "job_id": run.job_id,
        "job_run_id": run.uuid,
        "status": run.status,
        "progress": run.progress,
        "progress_message": run.progress_message,
        "message": format!(
            "the run is {} after the {} s this tool waits; follow it with get_run and \
             job_run_id {}, or stop it with cancel_run",
            run.status,
            state.mcp.wait.as_secs(),
            run.uuid
        ),
    }))
}
