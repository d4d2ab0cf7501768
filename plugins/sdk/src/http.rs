//! Outbound HTTP for job types, over standard `wasi:http` (through `wstd`).
//! A request reaches the network only when its destination is declared with
//! [`crate::JobType::http_destination`] (or left to the operator) and
//! granted by an operator; the host refuses anything else before connecting,
//! and caps requests, sizes and time. Redirects are not followed: a job that
//! wants one re-requests the `Location`, which the host checks again.
//!
//! ```no_run
//! # use jobhost_plugin::{Context, JobError};
//! fn items(ctx: &Context) -> Result<serde_json::Value, JobError> {
//!     let reply = jobhost_plugin::http::Request::get("https://api.example.com/v1/items")
//!         .bearer(&ctx.secret("api_token")?)
//!         .send()?;
//!     reply.json()
//! }
//! ```
//!
//! Requests need the host: in a native test, test the code around them.

use crate::JobError;
use wstd::http::{Body, Client, ErrorCode, Method};

/// Most response body bytes the SDK reads (the host's own cap is usually lower).
pub const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// An HTTP request to send.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout_ms: Option<u64>,
}

impl Request {
    /// A request with any method (`GET`, `POST`, `PATCH`...).
    pub fn new(method: &str, url: &str) -> Self {
        Request {
            method: method.to_ascii_uppercase(),
            url: url.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout_ms: None,
        }
    }

    /// A `GET` request.
    pub fn get(url: &str) -> Self {
        Request::new("GET", url)
    }

    /// A `POST` request.
    pub fn post(url: &str) -> Self {
        Request::new("POST", url)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Adds `Authorization: Bearer TOKEN`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// Sets a JSON body and its content type.
    pub fn json<T: serde::Serialize>(mut self, value: &T) -> Self {
        self.body = serde_json::to_vec(value).expect("a value serialises to JSON");
        self.header("content-type", "application/json")
    }

    /// Sets a raw body.
    pub fn body(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.body = bytes.into();
        self
    }

    /// Asks for the response head within `ms` (the host also clamps it to
    /// the run's deadline).
    pub fn timeout_ms(mut self, ms: u64) -> Self {
        self.timeout_ms = Some(ms);
        self
    }

    /// Sends the request and reads the whole response.
    pub fn send(self) -> Result<Response, HttpError> {
        let host = host_of(&self.url);
        wstd::runtime::block_on(self.send_async()).map_err(|e| HttpError::from_anyhow(&host, e))
    }

    async fn send_async(self) -> Result<Response, wstd::http::Error> {
        let method = Method::from_bytes(self.method.as_bytes())?;
        let mut builder = wstd::http::Request::builder().method(method).uri(&self.url);
        for (k, v) in &self.headers {
            builder = builder.header(k, v);
        }
        let has_length = self
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
        if !self.body.is_empty() && !has_length {
            // Servers that refuse chunked requests get a length.
            builder = builder.header("content-length", self.body.len().to_string());
        }
        let request = builder.body(Body::from(self.body))?;
        let mut client = Client::new();
        if let Some(ms) = self.timeout_ms {
            client.set_first_byte_timeout(std::time::Duration::from_millis(ms));
        }
        let response = client.send(request).await?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = response.into_body();
        let bytes = body.contents().await?;
        if bytes.len() > MAX_RESPONSE_BYTES {
            anyhow_bail(format!(
                "the response body is larger than {MAX_RESPONSE_BYTES} bytes"
            ))?;
        }
        Ok(Response {
            status,
            headers,
            body: bytes.to_vec(),
        })
    }
}

fn anyhow_bail(message: String) -> Result<(), wstd::http::Error> {
    Err(wstd::http::Error::msg(message))
}

fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    rest[..end].to_string()
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names in lowercase.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8 text (invalid sequences replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, JobError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| JobError::failed(format!("the response is not the JSON expected: {e}")))
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Why a request did not get a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    /// The host the request was for.
    pub host: String,
    /// What happened.
    pub kind: HttpErrorKind,
    /// The whole story, for logs and run errors.
    pub message: String,
}

/// The kinds of [`HttpError`] a job may want to tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpErrorKind {
    /// The host refused: the destination is not granted, or a cap is spent.
    Denied,
    /// The name resolves to an address plugins may not reach.
    AddressProhibited,
    /// The response was larger than the host allows.
    TooLarge,
    /// A timeout.
    Timeout,
    /// Anything else (DNS, connection, TLS, protocol).
    Other,
}

impl HttpError {
    fn from_anyhow(host: &str, e: wstd::http::Error) -> Self {
        let code = e
            .chain()
            .find_map(|c| c.downcast_ref::<ErrorCode>())
            .cloned();
        let (kind, what) = match &code {
            Some(ErrorCode::HttpRequestDenied | ErrorCode::ConnectionLimitReached) => (
                HttpErrorKind::Denied,
                "denied by the host: the destination is not granted to this job type version, \
                 or the run's request allowance is spent (the run's log says which)"
                    .to_string(),
            ),
            Some(ErrorCode::DestinationIpProhibited) => (
                HttpErrorKind::AddressProhibited,
                "denied by the host: the name resolves to an address in a network plugins may \
                 not reach (the run's log names it)"
                    .to_string(),
            ),
            Some(ErrorCode::HttpResponseBodySize(_)) => (
                HttpErrorKind::TooLarge,
                "the response body is larger than the host allows".to_string(),
            ),
            Some(
                ErrorCode::ConnectionTimeout
                | ErrorCode::HttpResponseTimeout
                | ErrorCode::ConnectionReadTimeout,
            ) => (HttpErrorKind::Timeout, "timed out".to_string()),
            // Errors met while reading the body reach the guest as text only.
            _ if format!("{e:#}").contains("body size exceeds limit") => (
                HttpErrorKind::TooLarge,
                format!("the response body is larger than the host allows ({e:#})"),
            ),
            _ if format!("{e:#}").contains("timeout") => {
                (HttpErrorKind::Timeout, format!("timed out ({e:#})"))
            }
            Some(ErrorCode::DnsError(_) | ErrorCode::DnsTimeout) => (
                HttpErrorKind::Other,
                "the name did not resolve (the run's log has the reason)".to_string(),
            ),
            Some(ErrorCode::ConnectionRefused) => (
                HttpErrorKind::Other,
                "the connection was refused".to_string(),
            ),
            Some(ErrorCode::TlsProtocolError | ErrorCode::TlsCertificateError) => (
                HttpErrorKind::Other,
                "TLS failed: the certificate is not trusted or not for this host (the run's \
                 log has the reason)"
                    .to_string(),
            ),
            Some(ErrorCode::HttpProtocolError) => (
                HttpErrorKind::Other,
                "the connection failed or the answer was not HTTP (the run's log has the reason)"
                    .to_string(),
            ),
            _ => (HttpErrorKind::Other, format!("{e:#}")),
        };
        HttpError {
            host: host.to_string(),
            kind,
            message: format!("request to {host} failed: {what}"),
        }
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HttpError {}
