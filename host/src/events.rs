//! The event hub: what happens to jobs, runs and job types, in one ordered
//! sequence with increasing ids, kept in a bounded in-memory window and
//! broadcast to live subscribers. A subscriber takes the window after its
//! last id and the live feed under one lock, so it sees every event once,
//! in order, across reconnects within the window.

use crate::model::{JobRun, TenantId, Timestamp, now};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

/// Events kept for reconnecting subscribers.
pub const WINDOW: usize = 100_000;
/// Events a live subscriber may fall behind before it re-reads the window.
const LIVE_BUFFER: usize = 4096;

/// One event.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Increasing; ids of one server process are contiguous and a restart
    /// starts above every earlier id (they begin at the start time in ms,
    /// shifted left by 20 bits).
    pub id: u64,
    /// `job.created`, `job.updated`, `job.deleted`, `job_run.status_changed`,
    /// `job_run.progress`, `job_type.published`, `job_type.status_changed`,
    /// `job_type.removed`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The tenant it belongs to; `None` for job type events (everyone's).
    #[serde(skip)]
    pub tenant: Option<TenantId>,
    /// The job concerned.
    pub job_id: Option<String>,
    /// The run concerned.
    pub run_id: Option<String>,
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
}

/// Publishes events and hands out subscriptions.
pub struct EventHub {
    window: Mutex<Window>,
    live: broadcast::Sender<Arc<Event>>,
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
        let start_ms = (now().unix_timestamp_nanos() / 1_000_000).max(0) as u64;
        EventHub {
            window: Mutex::new(Window {
                events: VecDeque::new(),
                next_id: start_ms << 20,
            }),
            live: broadcast::Sender::new(LIVE_BUFFER),
            closing: tokio::sync::watch::Sender::new(false),
        }
    }
}

/// A subscription: the events after the subscriber's last id that the
/// window still holds, then the live feed.
pub struct Subscription {
    /// Events to deliver first, oldest first.
    pub backlog: VecDeque<Arc<Event>>,
    /// Every event published after `backlog`.
    pub live: broadcast::Receiver<Arc<Event>>,
    /// The subscriber asked to resume after an id the window no longer
    /// holds: events were missed.
    pub gap: bool,
}

impl EventHub {
    fn lock(&self) -> MutexGuard<'_, Window> {
        self.window.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends every open stream (shutdown).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Becomes true when the hub closes.
    pub fn closed(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Publishes an event (its id and time are set here).
    pub fn publish(&self, mut event: Event) {
        let mut w = self.lock();
        event.id = w.next_id;
        event.at = now();
        w.next_id += 1;
        let event = Arc::new(event);
        w.events.push_back(event.clone());
        if w.events.len() > WINDOW {
            w.events.pop_front();
        }
        // No subscriber is not an error.
        let _ = self.live.send(event);
    }

    /// Subscribes after `last_id` (`None`: only new events).
    pub fn subscribe(&self, last_id: Option<u64>) -> Subscription {
        let w = self.lock();
        let live = self.live.subscribe();
        let Some(last) = last_id else {
            return Subscription {
                backlog: VecDeque::new(),
                live,
                gap: false,
            };
        };
        let first = w.events.front().map_or(w.next_id, |e| e.id);
        let gap = last.saturating_add(1) < first && last < w.next_id;
        let backlog = w.events.iter().filter(|e| e.id > last).cloned().collect();
        Subscription { backlog, live, gap }
    }

    /// A run's status changed.
    pub fn run_status(&self, run: &JobRun) {
        self.publish(run_event("job_run.status_changed", run));
    }

    /// A running run reported progress.
    pub fn run_progress(&self, run: &JobRun) {
        self.publish(run_event("job_run.progress", run));
    }

    /// Something happened to a job type version (everyone's).
    pub fn job_type(&self, kind: &'static str, job_type: &str, data: Value) {
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
    pub fn job(&self, kind: &'static str, job: &crate::model::Job) {
        self.publish(Event {
            id: 0,
            kind,
            tenant: Some(job.tenant.clone()),
            job_id: Some(job.uuid.to_string()),
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
fn run_event(kind: &'static str, run: &JobRun) -> Event {
    Event {
        id: 0,
        kind,
        tenant: Some(run.tenant.clone()),
        job_id: Some(run.job_id.to_string()),
        run_id: Some(run.uuid.to_string()),
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
mod tests {
    use super::*;

    fn ev(hub: &EventHub) {
        hub.job_type("job_type.published", "x", json!({}));
    }

    #[test]
    fn a_subscriber_resumes_after_its_last_id_without_gaps_or_repeats() {
        let hub = EventHub::default();
        for _ in 0..3 {
            ev(&hub);
        }
        let all = hub.subscribe(Some(0));
        let ids: Vec<u64> = all.backlog.iter().map(|e| e.id).collect();
        assert_eq!(ids.len(), 3);
        assert!(ids.windows(2).all(|w| w[1] == w[0] + 1));
        let mut s = hub.subscribe(Some(ids[0]));
        assert_eq!(s.backlog.len(), 2);
        assert!(!s.gap);
        ev(&hub);
        let live = s.live.try_recv().unwrap();
        assert_eq!(live.id, ids[2] + 1);
        assert!(hub.subscribe(None).backlog.is_empty());
    }

    #[test]
    fn resuming_before_the_window_reports_a_gap() {
        let hub = EventHub::default();
        for _ in 0..WINDOW + 5 {
            ev(&hub);
        }
        let first = hub.subscribe(Some(0)).backlog.front().unwrap().id;
        let s = hub.subscribe(Some(first - 3));
        assert!(s.gap);
        assert_eq!(s.backlog.len(), WINDOW);
        assert!(!hub.subscribe(Some(first - 1)).gap);
    }
}
