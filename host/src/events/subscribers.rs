//! Live subscribers, indexed by tenant and, where a subscriber follows one
//! job or one run, by that id: an event wakes only the subscribers it
//! concerns, so open streams of one tenant cost nothing to another tenant's
//! writes. Each subscriber has a bounded queue of its own; one that falls
//! behind is told so and re-reads the window. Open subscriptions are capped
//! per token and per tenant.

use super::{Event, EventHub, EventKind};
use crate::model::{JobId, RunId, TenantId};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// Events a live subscriber may have waiting before it re-reads the window.
const LIVE_BUFFER: usize = 4096;

/// What a subscriber wants to see.
#[derive(Debug, Clone)]
pub struct Filter {
    /// Its tenant's events (and job type events, which are everyone's).
    pub tenant: TenantId,
    /// Only this job's events.
    pub job_id: Option<JobId>,
    /// Only this run's events.
    pub run_id: Option<RunId>,
    /// Only events of these job types.
    pub job_types: Vec<String>,
    /// Only these kinds.
    pub kinds: Vec<EventKind>,
}

impl Filter {
    /// All of `tenant`'s events.
    pub fn tenant(tenant: TenantId) -> Self {
        Filter {
            tenant,
            job_id: None,
            run_id: None,
            job_types: Vec::new(),
            kinds: Vec::new(),
        }
    }

    /// Only the events of one run of `tenant`.
    pub fn run(tenant: TenantId, run_id: RunId) -> Self {
        Filter {
            run_id: Some(run_id),
            ..Filter::tenant(tenant)
        }
    }

    /// Whether `e` passes.
    pub fn matches(&self, e: &Event) -> bool {
        e.tenant.as_ref().is_none_or(|t| *t == self.tenant)
            && self.job_id.is_none_or(|j| e.job_id == Some(j))
            && self.run_id.is_none_or(|r| e.run_id == Some(r))
            && (self.job_types.is_empty()
                || e.job_type
                    .as_ref()
                    .is_some_and(|t| self.job_types.contains(t)))
            && (self.kinds.is_empty() || self.kinds.contains(&e.kind))
    }
}

/// Caps on open subscriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Per bearer token.
    pub per_token: usize,
    /// Per tenant, all its tokens together.
    pub per_tenant: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            per_token: 100,
            per_tenant: 1000,
        }
    }
}

/// Why a subscription was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    /// A cap on open streams is reached.
    #[error(
        "{open} event streams are open for this {scope}, the most allowed ({limit}); close one first"
    )]
    TooMany {
        /// `token` or `tenant`.
        scope: &'static str,
        /// The cap.
        limit: usize,
        /// Open now.
        open: usize,
    },
}

/// One subscriber's queue.
struct Sub {
    filter: Filter,
    queue: Mutex<VecDeque<Arc<Event>>>,
    lagged: AtomicBool,
    ready: Notify,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Sub {
    fn push(&self, e: &Arc<Event>) {
        {
            let mut queue = lock(&self.queue);
            if queue.len() >= LIVE_BUFFER {
                self.lagged.store(true, Ordering::SeqCst);
            } else {
                queue.push_back(e.clone());
            }
        }
        self.ready.notify_one();
    }
}

/// A registered subscriber, as its subscription holds it.
pub(super) struct Live {
    id: u64,
    token: String,
    sub: Arc<Sub>,
}

type ById = HashMap<u64, Arc<Sub>>;

#[derive(Default)]
struct TenantSubs {
    /// Following the whole tenant.
    all: ById,
    /// Following one job.
    by_job: HashMap<JobId, ById>,
    /// Following one run.
    by_run: HashMap<RunId, ById>,
    open: usize,
}

/// Every live subscriber, indexed.
pub(super) struct Subscribers {
    next_id: u64,
    tenants: HashMap<TenantId, TenantSubs>,
    per_token: HashMap<String, usize>,
    total: usize,
    pub(super) limits: StreamLimits,
}

impl Subscribers {
    pub(super) fn new(limits: StreamLimits) -> Self {
        Subscribers {
            next_id: 0,
            tenants: HashMap::new(),
            per_token: HashMap::new(),
            total: 0,
            limits,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.total
    }

    /// Registers a subscriber of `token`, unless a cap is reached.
    pub(super) fn add(&mut self, token: &str, filter: Filter) -> Result<Live, SubscribeError> {
        let by_token = self.per_token.get(token).copied().unwrap_or(0);
        if by_token >= self.limits.per_token {
            return Err(SubscribeError::TooMany {
                scope: "token",
                limit: self.limits.per_token,
                open: by_token,
            });
        }
        let by_tenant = self.tenants.get(&filter.tenant).map_or(0, |t| t.open);
        if by_tenant >= self.limits.per_tenant {
            return Err(SubscribeError::TooMany {
                scope: "tenant",
                limit: self.limits.per_tenant,
                open: by_tenant,
            });
        }
        self.next_id += 1;
        let id = self.next_id;
        let tenant = self.tenants.entry(filter.tenant.clone()).or_default();
        let place = match (filter.run_id, filter.job_id) {
            (Some(run), _) => tenant.by_run.entry(run).or_default(),
            (None, Some(job)) => tenant.by_job.entry(job).or_default(),
            (None, None) => &mut tenant.all,
        };
        let sub = Arc::new(Sub {
            filter,
            queue: Mutex::default(),
            lagged: AtomicBool::new(false),
            ready: Notify::new(),
        });
        place.insert(id, sub.clone());
        tenant.open += 1;
        *self.per_token.entry(token.to_string()).or_default() += 1;
        self.total += 1;
        Ok(Live {
            id,
            token: token.to_string(),
            sub,
        })
    }

    pub(super) fn remove(&mut self, live: &Live) {
        let filter = &live.sub.filter;
        let Some(tenant) = self.tenants.get_mut(&filter.tenant) else {
            return;
        };
        let removed = match (filter.run_id, filter.job_id) {
            (Some(run), _) => remove_keyed(&mut tenant.by_run, run, live.id),
            (None, Some(job)) => remove_keyed(&mut tenant.by_job, job, live.id),
            (None, None) => tenant.all.remove(&live.id).is_some(),
        };
        if !removed {
            return;
        }
        tenant.open -= 1;
        if tenant.open == 0 {
            self.tenants.remove(&filter.tenant);
        }
        if let Some(n) = self.per_token.get_mut(&live.token) {
            *n -= 1;
            if *n == 0 {
                self.per_token.remove(&live.token);
            }
        }
        self.total -= 1;
    }

    /// Hands `e` to every subscriber whose filter it passes; the index
    /// narrows the search to those that may want it.
    pub(super) fn deliver(&self, e: &Arc<Event>) {
        let mut offer = |subs: &ById| {
            for sub in subs.values() {
                if sub.filter.matches(e) {
                    sub.push(e);
                }
            }
        };
        match &e.tenant {
            Some(t) => {
                if let Some(tenant) = self.tenants.get(t) {
                    offer(&tenant.all);
                    if let Some(subs) = e.job_id.and_then(|j| tenant.by_job.get(&j)) {
                        offer(subs);
                    }
                    if let Some(subs) = e.run_id.and_then(|r| tenant.by_run.get(&r)) {
                        offer(subs);
                    }
                }
            }
            // Job type events are everyone's.
            None => {
                for tenant in self.tenants.values() {
                    offer(&tenant.all);
                    tenant.by_job.values().for_each(&mut offer);
                    tenant.by_run.values().for_each(&mut offer);
                }
            }
        }
    }
}

fn remove_keyed<K: std::hash::Hash + Eq>(map: &mut HashMap<K, ById>, key: K, id: u64) -> bool {
    let Some(subs) = map.get_mut(&key) else {
        return false;
    };
    let removed = subs.remove(&id).is_some();
    if subs.is_empty() {
        map.remove(&key);
    }
    removed
}

/// What a live subscription yields next.
#[derive(Debug)]
pub enum Received {
    /// An event its filter passes.
    Event(Arc<Event>),
    /// It fell behind and events were dropped: call [`Subscription::resume`].
    Lagged,
}

/// A subscription: the events after the subscriber's last id that the
/// window still held, then the live feed. Dropping it unsubscribes.
pub struct Subscription {
    hub: Arc<EventHub>,
    live: Live,
    /// Events to deliver first, oldest first.
    pub backlog: VecDeque<Arc<Event>>,
    /// The subscriber asked to resume after an id the window no longer
    /// holds: events were missed.
    pub gap: bool,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("filter", &self.live.sub.filter)
            .field("backlog", &self.backlog.len())
            .field("gap", &self.gap)
            .finish()
    }
}

impl Subscription {
    pub(super) fn new(
        hub: Arc<EventHub>,
        live: Live,
        backlog: VecDeque<Arc<Event>>,
        gap: bool,
    ) -> Self {
        Subscription {
            hub,
            live,
            backlog,
            gap,
        }
    }

    /// The filter it was made with.
    pub fn filter(&self) -> &Filter {
        &self.live.sub.filter
    }

    /// The next live event, waiting for one.
    pub async fn recv(&self) -> Received {
        let sub = &self.live.sub;
        loop {
            if sub.lagged.swap(false, Ordering::SeqCst) {
                lock(&sub.queue).clear();
                return Received::Lagged;
            }
            if let Some(e) = lock(&sub.queue).pop_front() {
                return Received::Event(e);
            }
            sub.ready.notified().await;
        }
    }

    /// After [`Received::Lagged`]: the backlog becomes the window's events
    /// after `last` (the last one delivered), and the live feed goes on.
    pub fn resume(&mut self, last: u64) {
        let w = self.hub.lock();
        let sub = &self.live.sub;
        lock(&sub.queue).clear();
        sub.lagged.store(false, Ordering::SeqCst);
        let first = w.events.front().map_or(w.next_id, |e| e.id);
        self.gap = last.saturating_add(1) < first;
        self.backlog = w
            .events
            .iter()
            .filter(|e| e.id > last && sub.filter.matches(e))
            .cloned()
            .collect();
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unsubscribe(&self.live);
    }
}
