//! `http_request`: one HTTP request to a destination an operator granted,
//! with optional auth from the tenant's `api_token` secret, status checks,
//! redirects followed by the plugin (each hop checked again by the host),
//! and JSON Pointer selection of the response.

use jobhost_plugin::http::{Request, Response};
use jobhost_plugin::{Context, Job, JobError, JobType, RetryPolicy, SideEffects};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Most response body bytes kept in the result as text or JSON.
const MAX_BODY_IN_RESULT: usize = 1 << 20;

/// Config of an `http_request` job.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = example())]
pub struct Config {
    /// HTTP method.
    #[serde(default)]
    #[schemars(example = Method::Post)]
    pub method: Method,
    /// Absolute `http` or `https` URL. Its scheme, host and port must be
    /// among the destinations an operator granted to this job type.
    #[schemars(
        length(min = 8, max = 2048),
        pattern(r"^https?://"),
        example = "https://api.example.com/v1/items?limit=10"
    )]
    pub url: String,
    /// Request headers (names are case-insensitive). `host`, `connection`
    /// and proxy headers are refused by the host.
    #[serde(default)]
    #[schemars(example = example_headers())]
    pub headers: BTreeMap<String, String>,
    /// A JSON request body, sent with `content-type: application/json`.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"name": "widget", "qty": 2}))]
    pub json: Option<Value>,
    /// A text request body (give `json` or `text`, not both).
    #[serde(default)]
    #[schemars(length(max = 1_048_576), example = &"hello")]
    pub text: Option<String>,
    /// Sends the tenant's `api_token` secret in a header.
    #[serde(default)]
    #[schemars(example = example_auth())]
    pub auth: Option<Auth>,
    /// Status codes that count as success; empty means any 2xx.
    #[serde(default)]
    #[schemars(length(max = 64), example = vec![200, 201, 204])]
    pub expect_status: Vec<u16>,
    /// Redirects (301, 302, 303, 307, 308) to follow; each new destination
    /// must be granted too.
    #[serde(default)]
    #[schemars(range(min = 0, max = 10), example = 3)]
    pub max_redirects: u8,
    /// JSON Pointer (RFC 6901) into a JSON response: the result's `selected`.
    #[serde(default)]
    #[schemars(pattern(r"^(/[\s\S]*)?$"), example = "/items/0")]
    pub select: Option<String>,
    /// Milliseconds to wait for the response head.
    #[serde(default)]
    #[schemars(range(min = 1, max = 3_600_000), example = 10_000)]
    pub timeout_ms: Option<u64>,
}

/// An HTTP method.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// GET.
    #[default]
    Get,
    /// HEAD.
    Head,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// Where the `api_token` secret goes.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// Header name.
    #[serde(default = "authorization")]
    #[schemars(length(min = 1, max = 128), pattern(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"), example = &"authorization")]
    pub header: String,
    /// Text put before the token, e.g. `Bearer ` (with its space).
    #[serde(default = "bearer")]
    #[schemars(length(max = 64), example = &"Bearer ")]
    pub prefix: String,
}

fn authorization() -> String {
    "authorization".into()
}
fn bearer() -> String {
    "Bearer ".into()
}

fn example() -> Value {
    serde_json::json!({
        "method": "GET",
        "url": "https://api.example.com/v1/items?limit=10",
        "auth": {"header": "authorization", "prefix": "Bearer "},
        "select": "/items/0"
    })
}
fn example_headers() -> BTreeMap<String, String> {
    BTreeMap::from([("accept".to_string(), "application/json".to_string())])
}
fn example_auth() -> Value {
    serde_json::json!({"header": "x-api-key", "prefix": ""})
}

/// Result of an `http_request` job.
#[derive(Debug, Serialize)]
pub struct Output {
    /// Final status code.
    pub status: u16,
    /// The URL that answered (after redirects).
    pub url: String,
    /// Response headers.
    pub headers: BTreeMap<String, String>,
    /// The body as JSON when it parses, else as text (cut at 1 MiB).
    pub body: Value,
    /// The value at `select`, when given and present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selected: Option<Value>,
    /// Response body size in bytes.
    pub bytes: usize,
    /// Redirects followed.
    pub redirects: u8,
}

/// The job type.
pub struct HttpRequest;

impl Job for HttpRequest {
    type Config = Config;
    type Output = Output;

    fn describe() -> JobType {
        JobType::new("http_request", "1.0.0", "HTTP request")
            .description(
                "Makes one HTTP request (any method, headers, JSON or text body, optional \
                 token from the tenant's `api_token` secret) to a destination an operator \
                 granted, checks the status, follows redirects within the grant, and returns \
                 the status, headers and body, optionally narrowed by a JSON Pointer.",
            )
            .user_facing_description("Call an HTTP API and keep its answer.")
            .http_destinations_chosen_by_operator(
                "any HTTP API the operator allows this job type to call",
            )
            .secret(
                "api_token",
                "Token sent in the `auth` header when a job sets `auth`",
            )
            .side_effects(SideEffects {
                read_only: false,
                idempotent: false,
                destructive: true,
            })
            .retry(RetryPolicy {
                max_attempts: 3,
                initial_delay_ms: 1_000,
                multiplier: 2.0,
                max_delay_ms: 30_000,
            })
            .creatable_by_agent(false)
            .timeout_ms(60_000)
            .memory_bytes(128 << 20)
    }

    fn run(config: Config, ctx: &mut Context) -> Result<Output, JobError> {
        if config.json.is_some() && config.text.is_some() {
            return Err(JobError::invalid_config(
                "give `json` or `text` as the body, not both",
            ));
        }
        let token = match &config.auth {
            Some(_) => Some(ctx.secret("api_token")?),
            None => None,
        };
        let mut url = config.url.clone();
        let mut method = config.method;
        let mut redirects = 0u8;
        let response = loop {
            let response = send(&config, method, &url, token.as_deref())?;
            let location = response.header("location").map(str::to_string);
            match (response.status, location) {
                (301 | 302 | 303 | 307 | 308, Some(to)) if redirects < config.max_redirects => {
                    redirects += 1;
                    url = resolve(&url, &to);
                    if response.status == 303 {
                        method = Method::Get;
                    }
                    ctx.info(format_args!(
                        "following redirect {redirects} ({})",
                        response.status
                    ));
                }
                _ => break response,
            }
        };
        let ok = if config.expect_status.is_empty() {
            response.is_success()
        } else {
            config.expect_status.contains(&response.status)
        };
        if !ok {
            let text = response.text();
            let head: String = text.chars().take(300).collect();
            return Err(JobError::failed(format!(
                "{} {} answered {}, not an expected status; body starts: {head}",
                method.as_str(),
                host_of(&url),
                response.status
            )));
        }
        let bytes = response.body.len();
        let body = match serde_json::from_slice::<Value>(&response.body) {
            Ok(v) => v,
            Err(_) => {
                let text = response.text();
                let mut cut = text.len().min(MAX_BODY_IN_RESULT);
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                Value::String(text[..cut].to_string())
            }
        };
        let selected =
            match &config.select {
                Some(p) => Some(body.pointer(p).cloned().ok_or_else(|| {
                    JobError::failed(format!("the response has nothing at `{p}`"))
                })?),
                None => None,
            };
        Ok(Output {
            status: response.status,
            url,
            headers: response.headers.into_iter().collect(),
            body,
            selected,
            bytes,
            redirects,
        })
    }
}

fn send(
    config: &Config,
    method: Method,
    url: &str,
    token: Option<&str>,
) -> Result<Response, JobError> {
    let mut request = Request::new(method.as_str(), url);
    for (k, v) in &config.headers {
        request = request.header(k, v);
    }
    if let (Some(auth), Some(token)) = (&config.auth, token) {
        request = request.header(&auth.header, &format!("{}{token}", auth.prefix));
    }
    if method != Method::Get && method != Method::Head {
        if let Some(json) = &config.json {
            request = request.json(json);
        } else if let Some(text) = &config.text {
            request = request.body(text.as_bytes().to_vec());
        }
    }
    if let Some(ms) = config.timeout_ms {
        request = request.timeout_ms(ms);
    }
    Ok(request.send()?)
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())]
}

/// `to` (absolute, or a path) against `base`.
fn resolve(base: &str, to: &str) -> String {
    if to.contains("://") {
        return to.to_string();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("https", base));
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if to.starts_with('/') {
        format!("{scheme}://{authority}{to}")
    } else {
        format!("{scheme}://{authority}/{to}")
    }
}

jobhost_plugin::export_job!(HttpRequest);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_resolve_against_the_current_url() {
        assert_eq!(resolve("https://a.com/x/y", "/z"), "https://a.com/z");
        assert_eq!(
            resolve("https://a.com:8443/x", "http://b.com/"),
            "http://b.com/"
        );
        assert_eq!(host_of("https://a.com:8443/x?q"), "a.com:8443");
    }

    #[test]
    fn both_bodies_are_refused() {
        let c: Config =
            jobhost_plugin::parse_config(r#"{"url":"https://a.com","json":{},"text":"x"}"#)
                .unwrap();
        assert!(c.json.is_some() && c.text.is_some());
    }
}
