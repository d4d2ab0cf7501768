//! The tools a caller sees: one per job type it may create (the newest
//! version open to it, with the config schema as the input schema and the
//! job type's side-effect hints as annotations), and the fixed tools over
//! job types and runs.

use crate::auth::Caller;
use crate::model::HttpNeeds;
use crate::registry::Plugin;
use crate::service::Service;
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};
use std::sync::Arc;

/// The argument of a job type tool that pins a version (a semver
/// requirement); every other argument is the config.
pub(super) const VERSION_ARG: &str = "_job_type_version";

/// The fixed tools, by name.
pub(super) const FIXED: [&str; 5] = [
    "list_job_types",
    "get_run",
    "get_run_logs",
    "cancel_run",
    "list_runs",
];

/// What a job type's tool is called: its id, or `jt-ID` when the id is
/// the name of a fixed tool.
pub(super) fn tool_name(job_type: &str) -> String {
    if FIXED.contains(&job_type) {
        format!("jt-{job_type}")
    } else {
        job_type.to_string()
    }
}

/// The job type a tool name stands for (when it is not a fixed tool).
pub(super) fn job_type_of(tool: &str) -> &str {
    match tool.strip_prefix("jt-") {
        Some(id) if FIXED.contains(&id) => id,
        _ => tool,
    }
}

/// Every tool `caller` may call now, fixed tools first.
pub(super) fn for_caller(service: &Service, caller: &Caller, wait_secs: u64) -> Vec<Tool> {
    let registry = service.catalog().snapshot();
    let mut tools = fixed();
    for id in registry.ids() {
        // The service decides what the caller may create: the same rule as
        // `POST /jobs` (agents only creatable_by_agent; approved versions).
        if let Ok(plugin) = service.resolve(caller, id.as_str(), None) {
            tools.push(job_type_tool(&plugin, wait_secs));
        }
    }
    tools
}

/// The tool that creates and runs a job of `plugin`'s type.
fn job_type_tool(plugin: &Plugin, wait_secs: u64) -> Tool {
    let info = &plugin.info;
    let mut schema = match &info.json_schema {
        Value::Object(o) => o.clone(),
        _ => JsonObject::new(),
    };
    let properties = schema
        .entry("properties")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Value::Object(p) = properties {
        p.insert(
            VERSION_ARG.into(),
            json!({
                "type": "string",
                "description": format!(
                    "Optional: a semver requirement pinning the job type version \
                     (default: the newest the caller may use, now {})",
                    info.version
                ),
            }),
        );
    }
    let description = format!(
        "{} Creates a job of type `{}` with the arguments as its config and runs it; \
         answers with the output if the run finishes within {wait_secs} s, else with the \
         run's id (follow it with get_run).",
        info.description.trim_end(),
        info.job_type
    );
    let effects = info.side_effects;
    let annotations = ToolAnnotations::with_title(info.display_name.clone())
        .read_only(effects.read_only)
        .destructive(effects.destructive)
        .idempotent(effects.idempotent)
        .open_world(!matches!(info.capabilities.http, HttpNeeds::None));
    Tool::new(
        tool_name(info.job_type.as_str()),
        description,
        Arc::new(schema),
    )
    .with_title(info.display_name.clone())
    .with_annotations(annotations)
}

/// An input schema from a JSON object literal.
fn schema(v: Value) -> Arc<JsonObject> {
    match v {
        Value::Object(o) => Arc::new(o),
        _ => Arc::new(JsonObject::new()),
    }
}

fn run_id_property() -> Value {
    json!({"type": "string", "format": "uuid", "description": "The run's id (job_run_id)."})
}

fn read_only(title: &str) -> ToolAnnotations {
    ToolAnnotations::with_title(title)
        .read_only(true)
        .destructive(false)
        .idempotent(true)
        .open_world(false)
}

/// The tools every caller has.
fn fixed() -> Vec<Tool> {
    vec![
        Tool::new(
            "list_job_types",
            "Lists the job types with their versions, descriptions, config schemas, \
             capabilities and approval state (as GET /api/v1/jobs/schemas). Each job type \
             this token may create is also a tool of its own.",
            schema(json!({
                "type": "object",
                "properties": {
                    "creatable_by_agent": {"type": "boolean", "description": "Only job types agents may (true) or may not (false) create."},
                    "creatable_on_ui": {"type": "boolean"},
                    "visible_on_ui": {"type": "boolean"},
                    "job_types": {"type": "array", "items": {"type": "string"}, "maxItems": 100, "description": "Only these job type ids."},
                    "all_versions": {"type": "boolean", "description": "Every loaded version, not only the newest."}
                },
                "additionalProperties": false
            })),
        )
        .with_title("List job types")
        .with_annotations(read_only("List job types")),
        Tool::new(
            "get_run",
            "A run's status, progress, output, output references, error and receipt.",
            schema(json!({
                "type": "object",
                "properties": {"job_run_id": run_id_property()},
                "required": ["job_run_id"],
                "additionalProperties": false
            })),
        )
        .with_title("Get a run")
        .with_annotations(read_only("Get a run")),
        Tool::new(
            "get_run_logs",
            "A page of a run's log lines, oldest first.",
            schema(json!({
                "type": "object",
                "properties": {
                    "job_run_id": run_id_property(),
                    "level": {"type": "string", "enum": ["trace", "debug", "info", "warn", "error"], "description": "The lowest level shown."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                    "cursor": {"type": "string", "description": "next_cursor of the previous page."}
                },
                "required": ["job_run_id"],
                "additionalProperties": false
            })),
        )
        .with_title("Read a run's logs")
        .with_annotations(read_only("Read a run's logs")),
        Tool::new(
            "cancel_run",
            "Cancels a pending, running or paused run; a finished run stays as it is.",
            schema(json!({
                "type": "object",
                "properties": {"job_run_id": run_id_property()},
                "required": ["job_run_id"],
                "additionalProperties": false
            })),
        )
        .with_title("Cancel a run")
        .with_annotations(
            ToolAnnotations::with_title("Cancel a run")
                .read_only(false)
                .destructive(true)
                .idempotent(true)
                .open_world(false),
        ),
        Tool::new(
            "list_runs",
            "A page of runs, newest first, filtered by job, job type and status.",
            schema(json!({
                "type": "object",
                "properties": {
                    "job_id": {"type": "string", "format": "uuid"},
                    "job_types": {"type": "array", "items": {"type": "string"}, "maxItems": 100},
                    "statuses": {"type": "array", "items": {"type": "string", "enum": ["pending", "running", "paused", "completed", "failed", "cancelled"]}},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                    "cursor": {"type": "string", "description": "next_cursor of the previous page."}
                },
                "additionalProperties": false
            })),
        )
        .with_title("List runs")
        .with_annotations(read_only("List runs")),
    ]
}
