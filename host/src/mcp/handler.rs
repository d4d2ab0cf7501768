//! The MCP server handler: what the server says it offers, tool listing and
//! calls for the authenticated caller, and `notifications/tools/list_changed`
//! when the registry changes (on `subscriptions/listen` streams, and pushed
//! to sessions of older protocol versions).

use super::{calls, tools};
use crate::api::AppState;
use crate::auth::Caller;
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, ErrorData, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, SubscriptionFilter,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{RoleServer, ServerHandler};
use std::time::Duration;

/// How often a session's change pusher looks whether its client is gone.
const SESSION_CHECK: Duration = Duration::from_secs(30);

/// jobhost as an MCP server. Cheap to clone: one per session.
#[derive(Clone)]
pub struct Jobhost {
    state: AppState,
}

impl Jobhost {
    /// The server over the API's state.
    pub fn new(state: AppState) -> Self {
        Jobhost { state }
    }
}

/// The caller the guard authenticated (`/mcp` refuses requests without one
/// before they reach the handler).
fn caller(context: &RequestContext<RoleServer>) -> Result<Caller, ErrorData> {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<Caller>())
        .cloned()
        .ok_or_else(|| ErrorData::invalid_request("a valid bearer token is required", None))
}

impl ServerHandler for Jobhost {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .build();
        ServerConfig::new(capabilities)
            .with_server_info(
                Implementation::new("jobhost", env!("CARGO_PKG_VERSION"))
                    .with_title("jobhost job types"),
            )
            .with_instructions(
                "Each job type this token may create is a tool: its arguments are the job's \
                 config, checked against the job type's JSON Schema (a violation comes back \
                 naming each offending field by JSON Pointer). Calling it creates a job and \
                 runs it, and answers with the output once the run finishes, or with the \
                 run's id if it is still running: follow it with get_run and get_run_logs, \
                 stop it with cancel_run.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let caller = caller(&context)?;
        let wait = self.state.mcp.wait.as_secs();
        let mut result =
            ListToolsResult::with_all_items(tools::for_caller(&self.state.service, &caller, wait));
        // The list depends on the token and changes with the registry.
        result.ttl_ms = Some(0);
        result.cache_scope = Some(CacheScope::Private);
        Ok(result)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = caller(&context)?;
        calls::call(&self.state, &caller, request, &context)
            .await
            .map(CallToolResponse::from)
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let mut accepted = SubscriptionFilter::new();
        accepted.tools_list_changed = requested.tools_list_changed;
        Some(accepted)
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let mut changes = self.state.catalog.changes();
        changes.mark_unchanged();
        let mut closed = self.state.store.events().closed();
        loop {
            tokio::select! {
                _ = context.cancelled() => return Ok(()),
                _ = super::shutting_down(&mut closed) => return Ok(()),
                changed = changes.changed() => {
                    if changed.is_err() || context.sink().notify_tool_list_changed().await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        // Sessions of protocol versions before 2026-07-28 hear of changes on
        // their standalone stream.
        let peer = context.peer;
        let mut changes = self.state.catalog.changes();
        changes.mark_unchanged();
        let mut closed = self.state.store.events().closed();
        tokio::spawn(async move {
            let mut check = tokio::time::interval(SESSION_CHECK);
            loop {
                tokio::select! {
                    _ = check.tick() => if peer.is_transport_closed() { return },
                    _ = super::shutting_down(&mut closed) => return,
                    changed = changes.changed() => {
                        if changed.is_err() || peer.notify_tool_list_changed().await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
}
