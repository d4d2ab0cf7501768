//! The MCP server at `/mcp`: Model Context Protocol over Streamable HTTP on
//! the API's own listener. Each job type the caller may create is a tool
//! whose input schema is the job type's config schema; fixed tools list job
//! types and read, follow and cancel runs. Requests pass the same bearer
//! tokens, tenants and roles as REST, and every tool calls the same
//! [`Service`](crate::service::Service) operations REST does.

mod calls;
mod handler;
mod tools;

pub use handler::Jobhost;

use crate::api::{ApiError, AppState};
use crate::auth::Caller;
use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::sync::Arc;
use std::time::Duration;

/// `Host` names accepted on `/mcp` unless the operator says otherwise: the
/// loopback names, so that a page on another site cannot reach a local
/// server through DNS rebinding.
pub const DEFAULT_ALLOWED_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// How the MCP endpoint is exposed and bounded.
#[derive(Debug, Clone)]
pub struct McpSettings {
    /// `Host` header values accepted: names (any port) or `name:port`. An
    /// `Origin` header, when sent, must name one of them too. Empty: any
    /// host (for a server behind a proxy that checks hosts itself).
    pub allowed_hosts: Vec<String>,
    /// Longest a job type tool waits for its run to finish before it
    /// answers with the run's id and status.
    pub wait: Duration,
    /// Sessions of clients on protocol versions before 2026-07-28 open at
    /// once; past it, a new `initialize` gets 429.
    pub max_sessions: usize,
    /// How long an idle session is kept.
    pub session_idle: Duration,
}

impl Default for McpSettings {
    fn default() -> Self {
        McpSettings {
            allowed_hosts: DEFAULT_ALLOWED_HOSTS.map(String::from).to_vec(),
            wait: Duration::from_secs(60),
            max_sessions: 1000,
            session_idle: Duration::from_secs(300),
        }
    }
}

/// Resolves when the server starts shutting down.
async fn shutting_down(closed: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = closed.wait_for(|c| *c).await;
}

/// What the guard in front of the MCP service needs.
#[derive(Clone)]
struct Guard {
    state: AppState,
    sessions: Arc<LocalSessionManager>,
}

/// The `/mcp` route: host and origin checks, bearer auth, the session cap,
/// then the MCP service.
pub(crate) fn routes(state: &AppState) -> axum::Router<AppState> {
    let settings = &state.mcp;
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.keep_alive = Some(settings.session_idle);
    let sessions = Arc::new(sessions);
    let cancel = tokio_util::sync::CancellationToken::new();
    let mut config = StreamableHttpServerConfig::default()
        .with_max_request_body_bytes(state.max_body_bytes)
        .with_cancellation_token(cancel.clone());
    config = if settings.allowed_hosts.is_empty() {
        config.disable_allowed_hosts()
    } else {
        config.with_allowed_hosts(settings.allowed_hosts.clone())
    };
    // Open streams end when the server shuts down, like the event streams
    // (a router built outside a runtime, for in-process requests, has no
    // shutdown to wait for).
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let mut closed = state.store.events().closed();
        runtime.spawn(async move {
            shutting_down(&mut closed).await;
            cancel.cancel();
        });
    }
    let server = Jobhost::new(state.clone());
    let service = StreamableHttpService::new(move || Ok(server.clone()), sessions.clone(), config);
    let guard = Guard {
        state: state.clone(),
        sessions,
    };
    axum::Router::new()
        .route_service("/mcp", service)
        .route_layer(axum::middleware::from_fn_with_state(guard, check))
}

async fn check(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    match admit(&guard, request).await {
        Ok(request) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// Checks the host, the origin and the token, and the session cap; the
/// request goes on carrying its [`Caller`].
async fn admit(guard: &Guard, request: Request) -> Result<Request, ApiError> {
    let allowed = &guard.state.mcp.allowed_hosts;
    let host = request
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| request.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    if !host_allowed(&host, allowed) {
        return Err(ApiError::Forbidden(format!(
            "Host `{}` is not allowed on /mcp (a DNS rebinding guard); the server accepts {}: \
             add the name with --mcp-allowed-hosts",
            host.chars().take(100).collect::<String>(),
            allowed.join(", ")
        )));
    }
    if let Some(origin) = request.headers().get(http::header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        let authority = origin
            .parse::<http::Uri>()
            .ok()
            .and_then(|u| u.authority().map(|a| a.to_string()));
        if authority.is_none_or(|a| !host_allowed(&a, allowed)) {
            return Err(ApiError::Forbidden(format!(
                "Origin `{}` is not allowed on /mcp; browsers may call it only from an allowed host",
                origin.chars().take(100).collect::<String>()
            )));
        }
    }
    let (mut parts, body) = request.into_parts();
    let caller = Caller::from_request_parts(&mut parts, &guard.state).await?;
    parts.extensions.insert(caller);
    let request = Request::from_parts(parts, body);
    if request.method() == http::Method::POST
        && !request.headers().contains_key("mcp-session-id")
        && guard.sessions.sessions.read().await.len() >= guard.state.mcp.max_sessions
    {
        return refuse_new_session(guard, request).await;
    }
    Ok(request)
}

/// With every session slot taken, an `initialize` is refused; other
/// requests (stateless protocol versions) go on.
async fn refuse_new_session(guard: &Guard, request: Request) -> Result<Request, ApiError> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, guard.state.max_body_bytes)
        .await
        .map_err(|_| ApiError::PayloadTooLarge {
            limit: guard.state.max_body_bytes,
        })?;
    let method = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("method").and_then(|m| m.as_str()).map(str::to_string));
    if method.as_deref() == Some("initialize") {
        let max = guard.state.mcp.max_sessions;
        return Err(ApiError::TooManyRequests {
            message: format!(
                "{max} MCP sessions are open, the most --mcp-max-sessions allows; \
                 retry once one ends"
            ),
            retry_after: 5,
            limit: Some(serde_json::json!({"max_sessions": max})),
        });
    }
    Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
}

/// Whether `authority` (`name` or `name:port`) is one `allowed` names; an
/// allowed name without a port matches any port. Empty `allowed`: any.
fn host_allowed(authority: &str, allowed: &[String]) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let Some((host, port)) = split_authority(authority) else {
        return false;
    };
    allowed.iter().any(|a| match split_authority(a) {
        Some((h, p)) => h == host && p.is_none_or(|p| Some(p) == port),
        None => false,
    })
}

/// `name[:port]` as a lower-case name without brackets and the port.
fn split_authority(authority: &str) -> Option<(String, Option<u16>)> {
    let authority = authority.trim();
    if authority.is_empty() {
        return None;
    }
    match authority.parse::<http::uri::Authority>() {
        Ok(a) => Some((
            a.host().trim_matches(['[', ']']).to_ascii_lowercase(),
            a.port_u16(),
        )),
        // A bare IPv6 address (`::1`) is not an authority.
        Err(_) => Some((
            authority.trim_matches(['[', ']']).to_ascii_lowercase(),
            None,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::host_allowed;

    #[test]
    fn hosts_match_by_name_and_port() {
        let allowed: Vec<String> = ["localhost", "127.0.0.1", "::1", "jobs.example.com:8443"]
            .map(String::from)
            .to_vec();
        for ok in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:1",
            "[::1]:8080",
            "LOCALHOST",
            "jobs.example.com:8443",
        ] {
            assert!(host_allowed(ok, &allowed), "{ok}");
        }
        for refused in [
            "",
            "evil.example",
            "127.0.0.2:8080",
            "localhost.evil.example",
            "jobs.example.com",
            "jobs.example.com:80",
        ] {
            assert!(!host_allowed(refused, &allowed), "{refused}");
        }
        assert!(host_allowed("anything:1", &[]));
    }
}
