//! The sender of one run's `wasi:http` requests (wasmtime-wasi-http's
//! `send_request` hook). Each request is checked against the run's granted
//! destinations and caps; the name is resolved once, every address checked,
//! and the connection made to a checked address (TLS names the URL's host);
//! no proxy, no redirects followed; the response body is capped as it
//! streams; each request is audited once, however it ends.

use super::Egress;
use super::body::{CappedBody, CountedBody};
use super::dial::{Target, Timeouts, dial};
use crate::model::{Origin, Scheme};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// What the audit records of one request: never the path, query or headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAudit {
    /// Method.
    pub method: String,
    /// Host as the plugin wrote it.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Response status, when one came.
    pub status: Option<u16>,
    /// Response body bytes received.
    pub bytes_in: u64,
    /// Request body bytes sent.
    pub bytes_out: u64,
    /// From the request to the end of its response body.
    pub duration: Duration,
    /// Why the host refused the request, when it did.
    pub denied: Option<String>,
    /// What failed otherwise (connection, TLS, a cap while streaming).
    pub error: Option<String>,
}

/// Where audits go: the run's log and metrics.
pub type AuditSink = Arc<dyn Fn(&HttpAudit) + Send + Sync>;

/// Counters of one run's requests.
#[derive(Debug, Default)]
pub(crate) struct HttpMeter {
    pub(crate) requests: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    open: AtomicU32,
}

pub(super) struct Shared {
    pub(super) egress: Arc<Egress>,
    allow: Arc<[Origin]>,
    pub(super) meter: Arc<HttpMeter>,
    pub(super) deadline: Instant,
    sink: AuditSink,
}

/// The `wasi:http` hooks of one run.
pub struct RunHttp {
    shared: Arc<Shared>,
}

impl RunHttp {
    /// Hooks allowing `allow`, until `deadline`.
    pub(crate) fn new(
        egress: Arc<Egress>,
        allow: Arc<[Origin]>,
        deadline: Instant,
        sink: AuditSink,
    ) -> Self {
        RunHttp {
            shared: Arc::new(Shared {
                egress,
                allow,
                meter: Arc::default(),
                deadline,
                sink,
            }),
        }
    }

    pub(crate) fn meter(&self) -> &HttpMeter {
        &self.shared.meter
    }
}

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
type SendFuture =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), Error>> + Send>;

impl WasiHttpHooks for RunHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        let shared = self.shared.clone();
        Box::new(async move { send(shared, request, options).await })
    }

    fn default_scheme(&mut self) -> Option<http::uri::Scheme> {
        // A request must say whether it wants TLS.
        None
    }
}

/// One request's audit, emitted once: when it is refused, fails, or its
/// response body ends or is dropped.
pub(super) struct Draft {
    pub(super) audit: HttpAudit,
    started: Instant,
    bytes_out: Arc<AtomicU64>,
    meter: Arc<HttpMeter>,
    sink: AuditSink,
    done: bool,
}

impl Draft {
    pub(super) fn emit(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        self.audit.duration = self.started.elapsed();
        self.audit.bytes_out = self.bytes_out.load(Ordering::Relaxed);
        self.meter
            .bytes_out
            .fetch_add(self.audit.bytes_out, Ordering::Relaxed);
        (self.sink)(&self.audit);
    }

    pub(super) fn deny(&mut self, error: Error, why: String) -> Error {
        self.audit.denied = Some(why);
        self.emit();
        error
    }

    pub(super) fn fail(&mut self, error: Error, what: String) -> Error {
        self.audit.error = Some(what);
        self.emit();
        error
    }
}

impl Drop for Draft {
    fn drop(&mut self) {
        self.emit();
    }
}

/// A connection slot of the run, given back when the connection closes.
struct Slot(Arc<HttpMeter>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn send(
    shared: Arc<Shared>,
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<(http::Response<WasiBody>, IoFuture), Error> {
    let caps = shared.egress.caps;
    let uri = request.uri().clone();
    let scheme = match uri.scheme_str() {
        Some("https") => Scheme::Https,
        Some("http") => Scheme::Http,
        _ => return Err(Error::HttpProtocolError),
    };
    let host = uri
        .host()
        .ok_or(Error::HttpRequestUriInvalid)?
        .to_ascii_lowercase();
    let port = uri.port_u16().unwrap_or(scheme.default_port());
    let target = Target { scheme, host, port };
    let bytes_out = Arc::new(AtomicU64::new(0));
    let mut draft = Draft {
        audit: HttpAudit {
            method: request.method().to_string(),
            host: target.host.clone(),
            port,
            status: None,
            bytes_in: 0,
            bytes_out: 0,
            duration: Duration::ZERO,
            denied: None,
            error: None,
        },
        started: Instant::now(),
        bytes_out: bytes_out.clone(),
        meter: shared.meter.clone(),
        sink: shared.sink.clone(),
        done: false,
    };
    let slot = admit(&shared, &target, request.headers(), &mut draft)?;
    let timeouts = Timeouts::new(&shared, options.unwrap_or_default())
        .ok_or_else(|| draft.fail(Error::ConnectionTimeout, "the run's deadline passed".into()))?;
    let io = dial(&shared, &target, timeouts.connect, &mut draft).await?;
    let (mut sender, conn) = tokio::time::timeout(
        timeouts.connect,
        hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(io)),
    )
    .await
    .map_err(|_| {
        draft.fail(
            Error::ConnectionTimeout,
            "the HTTP handshake timed out".into(),
        )
    })?
    .map_err(|e| draft.fail(Error::HttpProtocolError, format!("HTTP handshake: {e}")))?;
    let conn = wasmtime_wasi::runtime::spawn(async move {
        let _slot = slot;
        conn.await
    });

    // Only the path goes on the wire; the Host header carries the authority.
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(uri.path_and_query().map_or("/", |p| p.as_str()))
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    let request = request.map(|body| {
        CountedBody {
            inner: body,
            sent: bytes_out,
            cap: caps.request_body_bytes,
        }
        .boxed_unsync()
    });
    let response = tokio::time::timeout(timeouts.first_byte, sender.send_request(request))
        .await
        .map_err(|_| {
            draft.fail(
                Error::HttpResponseTimeout,
                "no response before the first-byte timeout".into(),
            )
        })?
        .map_err(|e| draft.fail(Error::HttpProtocolError, format!("{e}")))?;
    draft.audit.status = Some(response.status().as_u16());
    if let Some(len) = content_length(response.headers())
        && len > caps.response_bytes
    {
        return Err(draft.fail(
            Error::HttpResponseBodySize(Some(len)),
            format!(
                "the response body is {len} bytes; at most {} are allowed",
                caps.response_bytes
            ),
        ));
    }
    let between = timeouts.between_bytes;
    let response = response.map(move |incoming| {
        CappedBody {
            inner: incoming,
            shared,
            seen: 0,
            between,
            timer: Box::pin(tokio::time::sleep(between)),
            draft,
        }
        .boxed_unsync()
    });
    let io: IoFuture = Box::new(async move {
        match conn.await {
            Ok(()) => Ok(()),
            Err(e) => Err(Error::from(e)),
        }
    });
    Ok((response, io))
}

/// Checks a request against the run's caps and grant before anything is
/// resolved or connected: the request count, the destination, a declared
/// body size, the open connections. Returns the connection's slot.
fn admit(
    shared: &Arc<Shared>,
    target: &Target,
    headers: &http::HeaderMap,
    draft: &mut Draft,
) -> Result<Slot, Error> {
    let caps = shared.egress.caps;
    let Target { scheme, host, port } = target;
    let n = shared.meter.requests.fetch_add(1, Ordering::Relaxed) + 1;
    if n > caps.requests {
        return Err(draft.deny(
            Error::HttpRequestDenied,
            format!("the run's limit of {} requests is spent", caps.requests),
        ));
    }
    if !shared.allow.iter().any(|o| o.matches(*scheme, host, *port)) {
        let granted = if shared.allow.is_empty() {
            "none".to_string()
        } else {
            let list: Vec<String> = shared.allow.iter().map(ToString::to_string).collect();
            list.join(", ")
        };
        return Err(draft.deny(
            Error::HttpRequestDenied,
            format!(
                "{}://{host}:{port} is not a destination granted to this job type version \
                 (granted: {granted})",
                scheme.as_str()
            ),
        ));
    }
    if let Some(len) = content_length(headers)
        && len > caps.request_body_bytes
    {
        return Err(draft.deny(
            Error::HttpRequestBodySize(Some(len)),
            format!(
                "the request body is {len} bytes; at most {} are allowed",
                caps.request_body_bytes
            ),
        ));
    }
    if shared.meter.open.fetch_add(1, Ordering::Relaxed) >= caps.connections {
        shared.meter.open.fetch_sub(1, Ordering::Relaxed);
        return Err(draft.deny(
            Error::ConnectionLimitReached,
            format!(
                "the run already has {} connections open, its limit",
                caps.connections
            ),
        ));
    }
    Ok(Slot(shared.meter.clone()))
}

fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}
