//! The event hub: what happens to jobs, runs and job types, in one ordered
//! sequence with increasing ids, kept in a bounded in-memory window and
//! handed to the live subscribers it concerns (see [`subscribers`]). A
//! subscriber takes the window after its last id and joins the live feed
//! under one lock, so it sees every event once, in order, across reconnects
//! within the window.

mod kind;
mod subscribers;

pub use kind::EventKind;
pub use subscribers::{Filter, Received, StreamLimits, SubscribeError, Subscription};

use crate::model::{JobId, JobRun, RunId, TenantId, Timestamp, now};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use subscribers::Subscribers;

/// Events kept for reconnecting subscribers.
pub const WINDOW: usize = 100_000;

/// One event.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Increasing; ids of one server process are contiguous and a restart
    /// starts above every earlier id (they begin at the start time in ms,
    /// shifted left by 20 bits).
    pub id: u64,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// The tenant it belongs to; `None` for job type events (everyone's).
    #[serde(skip)]
    pub tenant: Option<TenantId>,
    /// The job concerned.
    pub job_id: Option<JobId>,
    /// The run concerned.
    pub run_id: Option<RunId>,
    /// The job type concerned.
    pub job_type: Option<String>,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
    /// What changed.
    pub data: Value,
}

struct Window {
    events: VecDeque<Arc<Event>>,
    next_id: u64,
    /// Live subscribers; changed only under the window's lock, so that a
    /// subscriber's backlog and its live feed meet without gap or overlap.
    subscribers: Subscribers,
}

/// Where a hub whose events are numbered elsewhere hands what is
/// published here (see [`EventHub::relay_to`]).
pub type Relay = Box<dyn Fn(Event) + Send + Sync>;

/// Publishes events and hands out subscriptions.
pub struct EventHub {
    window: Mutex<Window>,
    /// Set when hosts share the events: published events go there, and
    /// come back numbered through [`EventHub::deliver`].
    relay: std::sync::OnceLock<Relay>,
    /// Set at shutdown: open streams end.
    closing: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHub").finish_non_exhaustive()
    }
}

impl Default for EventHub {
    fn default() -> Self {
        EventHub::new(StreamLimits::default())
    }
}

impl EventHub {
    /// A hub whose open subscriptions are capped by `limits`.
    pub fn new(limits: StreamLimits) -> Self {
        let start_ms = (now().unix_timestamp_nanos() / 1_000_000).max(0) as u64;
        EventHub {
            window: Mutex::new(Window {
                events: VecDeque::new(),
                next_id: start_ms << 20,
                subscribers: Subscribers::new(limits),
            }),
            relay: std::sync::OnceLock::new(),
            closing: tokio::sync::watch::Sender::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Window> {
        self.window.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes the caps on open subscriptions (existing ones stay open).
    pub fn set_limits(&self, limits: StreamLimits) {
        self.lock().subscribers.limits = limits;
    }

    /// Ends every open stream (shutdown).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Becomes true when the hub closes.
    pub fn closed(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Publishes an event (its id and time are set here) to the window and
    /// to the subscribers whose filter it passes.
    pub fn publish(&self, mut event: Event) {
        if let Some(relay) = self.relay.get() {
            event.at = now();
            relay(event);
            return;
        }
        let mut w = self.lock();
        event.id = w.next_id;
        event.at = now();
        w.next_id += 1;
        let event = Arc::new(event);
        w.subscribers.deliver(&event);
        w.events.push_back(event);
        if w.events.len() > WINDOW {
            w.events.pop_front();
        }
    }

    /// From now on, hands every published event to `relay` instead of
    /// numbering it here: the events of all the hosts sharing a store are
    /// numbered in one order there and come back through
    /// [`EventHub::deliver`]. The window starts as `backlog` (the latest
    /// events, in order), after which the next event is `last_id + 1`.
    pub fn relay_to(&self, relay: Relay, backlog: Vec<Event>, last_id: u64) {
        let mut w = self.lock();
        if self.relay.set(relay).is_ok() {
            let skip = backlog.len().saturating_sub(WINDOW);
            w.events = backlog.into_iter().skip(skip).map(Arc::new).collect();
            w.next_id = last_id + 1;
        }
    }

    /// Takes an event numbered elsewhere (see [`EventHub::relay_to`]) into
    /// the window and hands it to the subscribers it concerns. Ids only
    /// go up: an event below the next id expected is ignored.
    pub fn deliver(&self, event: Event) {
        let mut w = self.lock();
        if event.id < w.next_id {
            return;
        }
        w.next_id = event.id + 1;
        let event = Arc::new(event);
        w.subscribers.deliver(&event);
        w.events.push_back(event);
        if w.events.len() > WINDOW {
            w.events.pop_front();
        }
    }

    /// Subscribes `token` to the events `filter` passes, after `last_id`
    /// (`None`: only new events); refused past the caps on open streams.
    pub fn subscribe(
        self: &Arc<Self>,
        token: &str,
        filter: Filter,
        last_id: Option<u64>,
    ) -> Result<Subscription, SubscribeError> {
        let mut w = self.lock();
        let (first, next_id) = (w.events.front().map_or(w.next_id, |e| e.id), w.next_id);
        let (backlog, gap) = match last_id {
            None => (VecDeque::new(), false),
            Some(last) => (
                w.events
                    .iter()
                    .filter(|e| e.id > last && filter.matches(e))
                    .cloned()
                    .collect(),
                last.saturating_add(1) < first && last < next_id,
            ),
        };
        let live = w.subscribers.add(token, filter)?;
        Ok(Subscription::new(self.clone(), live, backlog, gap))
    }

    /// Forgets a subscription (its stream ended).
    fn unsubscribe(&self, live: &subscribers::Live) {
        self.lock().subscribers.remove(live);
    }

    /// Open subscriptions, all tenants.
    pub fn open_streams(&self) -> usize {
        self.lock().subscribers.len()
    }

    /// A run's status changed.
    pub fn run_status(&self, run: &JobRun) {
        self.publish(run_event(EventKind::RunStatusChanged, run));
    }

    /// A running run reported progress.
    pub fn run_progress(&self, run: &JobRun) {
        self.publish(run_event(EventKind::RunProgress, run));
    }

    /// Something happened to a job type version (everyone's).
    pub fn job_type(&self, kind: EventKind, job_type: &str, data: Value) {
        self.publish(Event {
            id: 0,
            kind,
            tenant: None,
            job_id: None,
            run_id: None,
            job_type: Some(job_type.to_string()),
            at: now(),
            data,
        });
    }

    /// Something happened to a job.
    pub fn job(&self, kind: EventKind, job: &crate::model::Job) {
        self.publish(Event {
            id: 0,
            kind,
            tenant: Some(job.tenant.clone()),
            job_id: Some(job.uuid),
            run_id: None,
            job_type: Some(job.job_type.to_string()),
            at: now(),
            data: json!({
                "name": job.name,
                "job_type_version": job.job_type_version.to_string(),
                "is_deleted": job.is_deleted,
            }),
        });
    }
}

/// A run event carries the run's state, not its output (fetch the run).
fn run_event(kind: EventKind, run: &JobRun) -> Event {
    Event {
        id: 0,
        kind,
        tenant: Some(run.tenant.clone()),
        job_id: Some(run.job_id),
        run_id: Some(run.uuid),
        job_type: Some(run.job_type.to_string()),
        at: now(),
        data: json!({
            "status": run.status,
            "progress": run.progress,
            "progress_message": run.progress_message,
            "attempt": run.attempt,
            "error": run.error,
        }),
    }
}

#[cfg(test)]
mod tests;
