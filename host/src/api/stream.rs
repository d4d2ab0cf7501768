//! Server-Sent Events: `GET /events` (the caller's tenant's job and run
//! events and everyone's job type events, filtered, resumable with
//! `Last-Event-ID`) and `GET /job-runs/{id}/events` (one run, from its
//! current state to its end).

use super::extract::QueryPairs;
use super::{ApiError, AppState};
use crate::auth::Caller;
use crate::events::{Event, Subscription};
use crate::model::{RunStatus, TenantId};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{self, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use serde_json::json;
use std::collections::VecDeque;
use std::convert::Infallible;
use tokio::sync::broadcast::error::RecvError;

/// What a subscriber wants to see.
#[derive(Debug, Clone, Default)]
struct Filter {
    tenant: Option<TenantId>,
    job_id: Option<String>,
    run_id: Option<String>,
    job_types: Vec<String>,
    types: Vec<String>,
    /// End the stream after this run reaches a terminal status.
    until_run_ends: bool,
}

impl Filter {
    fn matches(&self, e: &Event) -> bool {
        e.tenant
            .as_ref()
            .is_none_or(|t| Some(t) == self.tenant.as_ref())
            && self
                .job_id
                .as_ref()
                .is_none_or(|j| e.job_id.as_ref() == Some(j))
            && self
                .run_id
                .as_ref()
                .is_none_or(|r| e.run_id.as_ref() == Some(r))
            && (self.job_types.is_empty()
                || e.job_type
                    .as_ref()
                    .is_some_and(|t| self.job_types.contains(t)))
            && (self.types.is_empty() || self.types.iter().any(|t| t == e.kind))
    }

    fn ends_with(&self, e: &Event) -> bool {
        self.until_run_ends
            && e.kind == "job_run.status_changed"
            && serde_json::from_value::<RunStatus>(e.data["status"].clone())
                .is_ok_and(RunStatus::is_terminal)
    }
}

fn to_sse(e: &Event) -> sse::Event {
    sse::Event::default()
        .id(e.id.to_string())
        .event(e.kind)
        .data(serde_json::to_string(e).expect("events serialise"))
}

struct Feed {
    closed: tokio::sync::watch::Receiver<bool>,
    state: AppState,
    sub: Subscription,
    first: VecDeque<sse::Event>,
    last: u64,
    filter: Filter,
    done: bool,
}

/// The events of `sub` that pass `filter`, after the `first` ones.
fn feed(
    state: AppState,
    sub: Subscription,
    first: VecDeque<sse::Event>,
    last: u64,
    filter: Filter,
    done: bool,
) -> impl Stream<Item = Result<sse::Event, Infallible>> {
    let feed = Feed {
        closed: state.store.events().closed(),
        state,
        sub,
        first,
        last,
        filter,
        done,
    };
    stream::unfold(feed, |mut f| async move {
        if let Some(e) = f.first.pop_front() {
            return Some((Ok(e), f));
        }
        loop {
            if f.done {
                return None;
            }
            if let Some(e) = f.sub.backlog.pop_front() {
                if e.id <= f.last {
                    continue;
                }
                f.last = e.id;
                if f.filter.matches(&e) {
                    f.done = f.filter.ends_with(&e);
                    return Some((Ok(to_sse(&e)), f));
                }
                continue;
            }
            if *f.closed.borrow() {
                return None;
            }
            let received = tokio::select! {
                r = f.sub.live.recv() => r,
                _ = f.closed.changed() => return None,
            };
            match received {
                Ok(e) => f.sub.backlog.push_back(e),
                // Fell behind the live buffer: re-read the window after the last id.
                Err(RecvError::Lagged(_)) => {
                    f.sub = f.state.store.events().subscribe(Some(f.last));
                }
                Err(RecvError::Closed) => return None,
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
        tenant: Some(caller.tenant),
        job_id: q.one("job_id")?,
        run_id: q.one("run_id")?,
        job_types: q.all("job_types").into_iter().map(String::from).collect(),
        types: q.all("types").into_iter().map(String::from).collect(),
        until_run_ends: false,
    };
    let sub = state.store.events().subscribe(after);
    let first: VecDeque<sse::Event> = gap_event(&sub).into_iter().collect();
    let stream = feed(state, sub, first, after.unwrap_or(0), filter, false);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

pub(super) async fn run(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<sse::Event, Infallible>>>, ApiError> {
    // Subscribe first, then read the run: no change falls between the two.
    let sub = state.store.events().subscribe(None);
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
    let filter = Filter {
        tenant: Some(caller.tenant),
        run_id: Some(run.uuid.to_string()),
        until_run_ends: true,
        ..Filter::default()
    };
    // A finished run's snapshot is the whole stream.
    let done = run.status.is_terminal();
    let stream = feed(state, sub, VecDeque::from([snapshot]), 0, filter, done);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
