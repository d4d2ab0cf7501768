//! Webhooks: when a run with a `callback_url` finishes, the run (as
//! `GET /job-runs/{id}` shows it) is POSTed there, signed with HMAC-SHA256
//! over the body with its tenant's secret (`X-Jobhost-Signature:
//! sha256=<hex>`), retried with exponential backoff; the run records the
//! attempts, the receiver's status code, when it succeeded, or why not.
//! A run that pauses or resumes is announced the same way (`job_run.paused`,
//! `job_run.resumed`), before its final webhook. The queue of deliveries is
//! durable: a restart resumes it.

pub use crate::egress::policy::{Allow, MAX_URL, Policy};

use crate::model::{RunId, now};
use crate::store::{Duty, Store, StoreError};
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

/// One delivery waiting: a run's final webhook, or one of its notices
/// (by sequence number).
#[derive(Debug, Clone, Copy)]
enum Delivery {
    Result(RunId),
    Notice(RunId, u64),
}

/// Every delivery waiting, with when it is due (Unix ms): each run's first
/// notice, and the final webhooks of runs that have no notice waiting (a
/// run's notices go first, in order).
fn waiting(store: &Store) -> Result<Vec<(Delivery, u64)>, StoreError> {
    let notices = store.queued_notices()?;
    let noticed: HashSet<RunId> = notices.iter().map(|(run, ..)| *run).collect();
    let mut all: Vec<(Delivery, u64)> = notices
        .into_iter()
        .map(|(run, seq, due)| (Delivery::Notice(run, seq), due))
        .collect();
    for (run, due) in store.queued_webhooks()? {
        if !noticed.contains(&run) {
            all.push((Delivery::Result(run), due));
        }
    }
    Ok(all)
}

async fn deliver_loop(store: Store, settings: Arc<Settings>) {
    // Runs with a delivery under way: one at a time per run.
    let in_flight: Arc<Mutex<HashSet<RunId>>> = Arc::default();
    let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENT));
    loop {
        // Take the notification first, so that a webhook queued while
        // this pass reads the queue wakes the next pass.
        let ready = store.webhooks_ready().notified();
        let s = store.clone();
        let queued = tokio::task::spawn_blocking(move || {
            // On a store several hosts share, one of them delivers.
            if s.holds(Duty::Deliveries) {
                waiting(&s)
            } else {
                Ok(Vec::new())
            }
        })
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
        for (delivery, due) in queued {
            if due > now {
                next = next.min(due);
                continue;
            }
            let (Delivery::Result(run) | Delivery::Notice(run, _)) = delivery;
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
                let result = match delivery {
                    Delivery::Result(run) => deliver(&store, &settings, run).await,
                    Delivery::Notice(run, seq) => notify(&store, &settings, run, seq).await,
                };
                if let Err(e) = result {
                    storage_failed(&store, &settings, delivery, &e);
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
/// A notice that failed so is dropped at once.
fn storage_failed(store: &Store, settings: &Settings, delivery: Delivery, error: &StoreError) {
    let run = match delivery {
        Delivery::Result(run) => run,
        Delivery::Notice(run, seq) => {
            tracing::error!(run = %run, %error, "a webhook notice could not be handled; it is dropped");
            if let Err(e) = store.done_notice(run, seq) {
                tracing::error!(run = %run, error = %e, "dropping a webhook notice failed");
            }
            return;
        }
    };
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
    let delivery = format!("{}.{}", run.uuid, run.callback_attempts + 1);
    let event = "job_run.finished";
    let result = post(settings, &url, event, &delivery, body, &signature).await;
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

/// One delivery attempt of notice `seq` of run `id`: retried as final
/// webhooks are, then given up (in the log; the run's `callback_*` fields
/// describe its final webhook only).
async fn notify(store: &Store, settings: &Settings, id: RunId, seq: u64) -> Result<(), StoreError> {
    let Some(mut notice) = store.notice(id, seq)? else {
        return Ok(());
    };
    let secret = store.webhook_secret(&notice.tenant)?;
    let body = serde_json::to_vec(&notice.body).expect("JSON values serialise");
    let signature = sign(&secret, &body);
    let event = notice.event.header();
    notice.attempts += 1;
    let delivery = format!("{id}.{event}.{seq}.{}", notice.attempts);
    let result = post(settings, &notice.url, event, &delivery, body, &signature).await;
    // Said in the log, so without the URL (which may carry a token).
    let (why, permanent) = match result {
        Ok(code) if (200..300).contains(&code) => return store.done_notice(id, seq),
        Ok(code) => (format!("the receiver answered {code}"), false),
        Err(DeliveryError::Refused(_)) => ("the callback policy refuses the URL".into(), true),
        Err(DeliveryError::Transient(_)) => ("no answer".to_string(), false),
    };
    if notice.attempts <= settings.retries && !permanent {
        let delay = settings.backoff * 2u32.saturating_pow(notice.attempts - 1);
        notice.due_ms = now_ms() + delay.as_millis() as u64;
        tracing::info!(run = %id, event, %why, retry_in_ms = delay.as_millis() as u64, "a webhook notice got no 2xx");
        return store.requeue_notice(id, seq, &notice);
    }
    tracing::warn!(run = %id, event, %why, attempts = notice.attempts, "a webhook notice was given up");
    store.done_notice(id, seq)
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
    event: &str,
    delivery: &str,
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
        .header("x-jobhost-event", event)
        .header("x-jobhost-delivery", delivery)
        .header("x-jobhost-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| Transient(cause(&e)))?;
    Ok(response.status().as_u16())
}
