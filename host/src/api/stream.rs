//! Server-Sent Events: `GET /events` (the caller's tenant's job and run
//! events and everyone's job type events, filtered, resumable with
//! `Last-Event-ID`) and `GET /job-runs/{id}/events` (one run, from its
//! current state to its end). Open streams are capped per token and per
//! tenant (429 past the cap).

use super::extract::QueryPairs;
use super::{ApiError, AppState};
use crate::auth::Caller;
use crate::events::{Event, EventKind, Filter, Received, Subscription};
use crate::job_type::JobTypeId;
use crate::model::{JobId, RunId, RunStatus};
use axum::extract::{Path, State};
use axum::response::sse::{self, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use http::HeaderMap;
use serde_json::json;
use std::collections::VecDeque;
use std::convert::Infallible;

fn to_sse(e: &Event) -> sse::Event {
    sse::Event::default()
        .id(e.id.to_string())
        .event(e.kind.as_str())
        .data(serde_json::to_string(e).expect("events serialise"))
}

/// Whether `e` ends a one-run stream: its run reached a terminal status.
fn ends_run(e: &Event) -> bool {
    e.kind == EventKind::RunStatusChanged
        && serde_json::from_value::<RunStatus>(e.data["status"].clone())
            .is_ok_and(RunStatus::is_terminal)
}

struct Feed {
    closed: tokio::sync::watch::Receiver<bool>,
    sub: Subscription,
    first: VecDeque<sse::Event>,
    last: u64,
    /// End the stream after its run reaches a terminal status.
    until_run_ends: bool,
    done: bool,
}

/// The `first` events, then the subscription's.
fn feed(
    state: &AppState,
    sub: Subscription,
    first: VecDeque<sse::Event>,
    last: u64,
    until_run_ends: bool,
    done: bool,
) -> impl Stream<Item = Result<sse::Event, Infallible>> + use<> {
    let feed = Feed {
        closed: state.store.events().closed(),
        sub,
        first,
        last,
        until_run_ends,
        done,
    };
    stream::unfold(feed, |mut f| async move {
        loop {
            if let Some(e) = f.first.pop_front() {
                return Some((Ok(e), f));
            }
            if f.done {
                return None;
            }
            if let Some(e) = f.sub.backlog.pop_front() {
                if e.id <= f.last {
                    continue;
                }
                f.last = e.id;
                f.done = f.until_run_ends && ends_run(&e);
                return Some((Ok(to_sse(&e)), f));
            }
            if *f.closed.borrow() {
                return None;
            }
            let received = tokio::select! {
                r = f.sub.recv() => r,
                _ = f.closed.changed() => return None,
            };
            match received {
                Received::Event(e) => f.sub.backlog.push_back(e),
                // Fell behind its queue: re-read the window after the last id.
                Received::Lagged => {
                    f.sub.resume(f.last);
                    f.first.extend(gap_event(&f.sub));
                }
            }
        }
    })
}

fn gap_event(sub: &Subscription) -> Option<sse::Event> {
    sub.gap.then(|| {
        sse::Event::default().event("gap").data(
            json!({
                "message": "events after your Last-Event-ID are no longer held; re-read the state over REST",
                "window": crate::events::WINDOW,
            })
            .to_string(),
        )
    })
}

/// A job type id in a filter: well-formed, or a 400 naming the parameter.
struct JobTypeParam(String);

impl std::str::FromStr for JobTypeParam {
    type Err = crate::job_type::MetadataError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobTypeId::parse(s).map(|id| JobTypeParam(id.as_str().to_string()))
    }
}

pub(super) async fn all(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    q: QueryPairs,
) -> Result<Sse<impl Stream<Item = Result<sse::Event, Infallible>>>, ApiError> {
    q.only(&["job_id", "run_id", "job_types", "types", "after"])?;
    let header = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim().parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!("Last-Event-ID `{v}` is not an event id"))
            })
        })
        .transpose()?;
    // Both are checked; the header wins (it is what a reconnecting client sends).
    let after = header.or(q.one::<u64>("after")?);
    let filter = Filter {
        tenant: caller.tenant.clone(),
        job_id: q.one::<JobId>("job_id")?,
        run_id: q.one::<RunId>("run_id")?,
        job_types: q
            .parse_all::<JobTypeParam>("job_types")?
            .into_iter()
            .map(|t| t.0)
            .collect(),
        kinds: q.parse_all::<EventKind>("types")?,
    };
    let sub = state
        .store
        .events()
        .subscribe(&caller.token, filter, after)?;
    let first: VecDeque<sse::Event> = gap_event(&sub).into_iter().collect();
    let stream = feed(&state, sub, first, after.unwrap_or(0), false, false);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

pub(super) async fn run(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<sse::Event, Infallible>>>, ApiError> {
    let run_id: RunId = super::extract::parse_id("job run", &id)?;
    // Subscribe first, then read the run: no change falls between the two.
    let filter = Filter::run(caller.tenant.clone(), run_id);
    let sub = state
        .store
        .events()
        .subscribe(&caller.token, filter, None)?;
    let run = super::runs::load(&state, &caller, &id)?;
    let snapshot = sse::Event::default().event("job_run.snapshot").data(
        json!({
            "run_id": run.uuid.to_string(),
            "job_id": run.job_id.to_string(),
            "job_type": run.job_type,
            "data": {
                "status": run.status,
                "progress": run.progress,
                "progress_message": run.progress_message,
                "attempt": run.attempt,
                "error": run.error,
            },
        })
        .to_string(),
    );
    // A finished run's snapshot is the whole stream.
    let done = run.status.is_terminal();
    let stream = feed(&state, sub, VecDeque::from([snapshot]), 0, true, done);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
