//! Webhooks: when a run with a `callback_url` finishes, the run (as
//! `GET /job-runs/{id}` shows it) is POSTed there, signed with HMAC-SHA256
//! over the body with its tenant's secret (`X-Jobhost-Signature:
//! sha256=<hex>`), retried with exponential backoff; the run records the
//! attempts, the receiver's status code, when it succeeded, or why not.
//! The queue of deliveries is durable: a restart resumes it.

pub use crate::egress::policy::{Allow, MAX_URL, Policy};

use crate::model::{JobRun, RunId, now};
use crate::store::{Store, StoreError};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How deliveries behave.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Which targets may be called.
    pub policy: Arc<Policy>,
    /// Retries after the first attempt.
    pub retries: u32,
    /// The first retry's delay; each next one doubles it.
    pub backoff: Duration,
    /// Longest wait for a receiver's answer.
    pub timeout: Duration,
}

/// Deliveries running at once, at most.
const CONCURRENT: usize = 16;

fn now_ms() -> u64 {
    (now().unix_timestamp_nanos() / 1_000_000).max(0) as u64
}

/// The signature header's value for `body` under `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Runs the delivery loop until the process ends.
pub fn start(store: Store, settings: Settings) -> tokio::task::JoinHandle<()> {
    tokio::spawn(deliver_loop(store, Arc::new(settings)))
}

async fn deliver_loop(store: Store, settings: Arc<Settings>) {
    let in_flight: Arc<Mutex<HashSet<RunId>>> = Arc::default();
    let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENT));
    loop {
        // Take the notification first, so that a webhook queued while
        // this pass reads the queue wakes the next pass.
        let ready = store.webhooks_ready().notified();
        let s = store.clone();
        let queued = tokio::task::spawn_blocking(move || s.queued_webhooks())
            .await
            .unwrap_or_else(|e| Err(StoreError::Task(e.to_string())));
        let queued = match queued {
            Ok(q) => q,
            Err(e) => {
                tracing::error!(error = %e, "reading the webhook queue failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let now = now_ms();
        let mut next = now + 1000;
        for (run, due) in queued {
            if due > now {
                next = next.min(due);
                continue;
            }
            if !in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(run)
            {
                continue;
            }
            let (store, settings, in_flight) = (store.clone(), settings.clone(), in_flight.clone());
            let permit = slots.clone().acquire_owned().await.expect("never closed");
            tokio::spawn(async move {
                if let Err(e) = deliver(&store, &settings, run).await {
                    storage_failed(&store, &settings, run, &e);
                }
                in_flight
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&run);
                store.webhooks_ready().notify_one();
                drop(permit);
            });
        }
        let wait = Duration::from_millis(next.saturating_sub(now_ms()).max(10));
        tokio::select! {
            () = ready => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// A delivery that failed for a storage reason (its run cannot be read or
/// recorded) waits before the next try as a failed delivery does, and is
/// set aside after a few, so a damaged record never keeps the loop busy.
fn storage_failed(store: &Store, settings: &Settings, run: RunId, error: &StoreError) {
    let backoff_ms = settings.backoff.as_millis().max(1) as u64;
    match store.webhook_failed(run, now_ms(), backoff_ms, &error.to_string()) {
        Ok(Some(due)) => tracing::warn!(
            run = %run, %error, retry_in_ms = due.saturating_sub(now_ms()),
            "a webhook could not be handled for a storage reason; retrying later"
        ),
        Ok(None) => tracing::error!(
            run = %run, %error, tries = crate::store::WEBHOOK_STORE_TRIES,
            "a webhook kept failing for a storage reason; it is set aside"
        ),
        Err(e) => tracing::error!(run = %run, error = %e, "re-queueing a webhook failed"),
    }
}

/// Why a delivery got no answer from its receiver.
#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    /// The policy refuses the target: trying again will not help.
    #[error("refused: {0}")]
    Refused(String),
    /// No answer this time (connection refused, timeout, TLS, DNS...).
    #[error("{0}")]
    Transient(String),
}

/// One delivery attempt of `id`'s webhook, and its record.
async fn deliver(store: &Store, settings: &Settings, id: RunId) -> Result<(), StoreError> {
    let Some(mut run) = store.run_any_tenant(id)? else {
        return store.done_webhook(id);
    };
    let Some(url) = run.callback_url.clone() else {
        return store.done_webhook(id);
    };
    if !run.status.is_terminal() {
        // Queued just before the terminal record was written: look again soon.
        return store.queue_webhook(id, now_ms() + 100);
    }
    let secret = store.webhook_secret(&run.tenant)?;
    let body = serde_json::to_vec(&run.view()).expect("runs serialise");
    let signature = sign(&secret, &body);
    let result = post(settings, &url, &run, body, &signature).await;
    run.callback_attempts += 1;
    let permanent = matches!(result, Err(DeliveryError::Refused(_)));
    let failure = match result {
        Ok(code) if (200..300).contains(&code) => {
            run.callback_status_code = Some(code);
            run.callback_sent_at = Some(now());
            run.callback_error = None;
            None
        }
        Ok(code) => {
            run.callback_status_code = Some(code);
            Some(format!("the receiver answered {code}"))
        }
        Err(e) => Some(e.to_string()),
    };
    match failure {
        None => store.done_webhook(id)?,
        Some(why) if run.callback_attempts <= settings.retries && !permanent => {
            let delay = settings.backoff * 2u32.saturating_pow(run.callback_attempts - 1);
            run.callback_error = Some(format!("{why}; retrying in {} ms", delay.as_millis()));
            store.queue_webhook(id, now_ms() + delay.as_millis() as u64)?;
        }
        Some(why) => {
            run.callback_error = Some(format!(
                "{why}; gave up after {} attempts",
                run.callback_attempts
            ));
            store.done_webhook(id)?;
        }
    }
    store.update_run(run.status, &run)?;
    store.flush().await
}

/// What went wrong with a request that got no answer: first the cause in
/// a few words, then the whole chain of errors that led to it.
fn cause(e: &reqwest::Error) -> String {
    let mut chain = Vec::new();
    let mut io_kind = None;
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            io_kind.get_or_insert(io.kind());
        }
        let text = err.to_string();
        if !chain.iter().any(|c: &String| c.contains(&text)) {
            chain.push(text);
        }
        next = err.source();
    }
    use std::io::ErrorKind;
    let what = match io_kind {
        _ if e.is_timeout() => "timed out",
        Some(ErrorKind::ConnectionRefused) => "connection refused",
        Some(ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => "connection reset",
        Some(ErrorKind::TimedOut) => "timed out",
        // rustls reports a failed handshake as invalid data.
        Some(ErrorKind::InvalidData) if e.is_connect() => "TLS handshake failed",
        Some(ErrorKind::UnexpectedEof) => "the receiver closed the connection",
        _ if e.is_connect() => "could not connect",
        _ if e.is_body() || e.is_decode() => "the answer could not be read",
        _ => "the request failed",
    };
    format!("{what} ({})", chain.join(": "))
}

/// POSTs `body` to `url` after checking where it resolves; the receiver's
/// status code, or why no answer came.
async fn post(
    settings: &Settings,
    url: &str,
    run: &JobRun,
    body: Vec<u8>,
    signature: &str,
) -> Result<u16, DeliveryError> {
    use DeliveryError::{Refused, Transient};
    let url = settings
        .policy
        .check_url(url)
        .map_err(|e| Refused(format!("the URL {e}")))?;
    let host = url
        .host_str()
        .ok_or_else(|| Refused("the URL has no host".into()))?
        .to_string();
    let port = url
        .port_or_known_default()
        .ok_or_else(|| Refused("the URL has no port".into()))?;
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare.as_str(), port))
        .await
        .map_err(|e| Transient(format!("resolving {host} failed ({e})")))?
        .collect();
    if addrs.is_empty() {
        return Err(Transient(format!("{host} resolves to no address")));
    }
    for a in &addrs {
        settings
            .policy
            .check(&bare, a.ip())
            .map_err(|e| Refused(e.to_string()))?;
    }
    // Connect to the address just checked, never to a second lookup's answer.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.timeout)
        .resolve(&bare, addrs[0])
        .build()
        .map_err(|e| Transient(format!("building the HTTP client failed ({e})")))?;
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("user-agent", concat!("jobhost/", env!("CARGO_PKG_VERSION")))
        .header("x-jobhost-event", "job_run.finished")
        .header(
            "x-jobhost-delivery",
            format!("{}.{}", run.uuid, run.callback_attempts + 1),
        )
        .header("x-jobhost-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| Transient(cause(&e)))?;
    Ok(response.status().as_u16())
}
