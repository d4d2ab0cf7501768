//! Listing jobs and runs, newest or oldest first, one page at a time. The
//! most selective index is scanned between id bounds (ids are UUIDv7, so
//! time filters are key ranges); other filters apply to what it yields.
//! A page scans at most [`SCAN_BUDGET`] index entries, so every page is
//! cheap however many records are stored; a page cut short by the budget
//! still carries a cursor.

use super::{Record, RunStore, Sled, StoreError, keys};
use crate::model::{Job, JobId, JobRun, RunId, RunStatus, TenantId, Timestamp};
use uuid::Uuid;

/// Index entries one page may scan.
pub const SCAN_BUDGET: usize = 10_000;

/// Which records a list yields first.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Oldest first.
    Asc,
    /// Newest first.
    #[default]
    Desc,
}

impl std::str::FromStr for Order {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "asc" => Ok(Order::Asc),
            "desc" => Ok(Order::Desc),
            _ => Err(format!("`{s}` is not an order; expected asc or desc")),
        }
    }
}

/// One page of a list.
#[derive(Debug)]
pub struct Page<T> {
    /// The records, in the order asked for.
    pub items: Vec<T>,
    /// Where the next page starts; `None` when this one reached the end.
    pub next_cursor: Option<String>,
}

/// Filters of `GET /job-runs`; empty lists mean "any".
#[derive(Debug, Default, Clone)]
pub struct RunFilter {
    /// Only runs of this job.
    pub job_id: Option<JobId>,
    /// Only these job types.
    pub job_types: Vec<String>,
    /// Only these statuses.
    pub statuses: Vec<RunStatus>,
    /// Only runs created by these users.
    pub created_by_users: Vec<String>,
    /// Created strictly after.
    pub created_after: Option<Timestamp>,
    /// Created strictly before.
    pub created_before: Option<Timestamp>,
    /// Newest or oldest first.
    pub order: Order,
}

/// Filters of `GET /jobs`; empty lists mean "any".
#[derive(Debug, Default, Clone)]
pub struct JobFilter {
    /// Only these job types.
    pub job_types: Vec<String>,
    /// Only jobs created by these users.
    pub created_by_users: Vec<String>,
    /// Only jobs of these sessions.
    pub source_session_ids: Vec<Uuid>,
    /// Created strictly after.
    pub created_after: Option<Timestamp>,
    /// Created strictly before.
    pub created_before: Option<Timestamp>,
    /// Include soft-deleted jobs.
    pub include_deleted: bool,
    /// Newest or oldest first.
    pub order: Order,
}

/// Encodes the id a page ended at.
pub fn encode_cursor(id: [u8; 16]) -> String {
    hex::encode(id)
}

/// Decodes a cursor from [`encode_cursor`].
pub fn decode_cursor(cursor: &str) -> Option<[u8; 16]> {
    hex::decode(cursor).ok()?.try_into().ok()
}

fn unix_ms(t: Timestamp) -> u64 {
    (t.unix_timestamp_nanos() / 1_000_000).max(0) as u64
}

/// Id bounds `[low, high)` from the time filters and the cursor (the last
/// id of the previous page: what comes after it in `order`).
fn bounds(
    after: Option<Timestamp>,
    before: Option<Timestamp>,
    cursor: Option<[u8; 16]>,
    order: Order,
) -> ([u8; 16], [u8; 16]) {
    let mut low = after.map(|t| keys::id_floor(unix_ms(t))).unwrap_or([0; 16]);
    let mut high = before
        .map(|t| keys::id_floor(unix_ms(t) + 1))
        .unwrap_or([0xff; 16]);
    match (cursor, order) {
        (Some(c), Order::Desc) => high = high.min(c),
        (Some(c), Order::Asc) => {
            // Past the last id there is nothing: an empty range.
            let next = u128::from_be_bytes(c).checked_add(1).map(u128::to_be_bytes);
            low = low.max(next.unwrap_or([0xff; 16]));
            if next.is_none() {
                high = low;
            }
        }
        (None, _) => {}
    }
    (low, high)
}

/// Ids under several prefixes between bounds, merged in `order`.
fn scan(
    tree: &sled::Tree,
    prefixes: &[Vec<u8>],
    (low, high): ([u8; 16], [u8; 16]),
    order: Order,
) -> impl Iterator<Item = Result<[u8; 16], StoreError>> {
    type Ids = Box<dyn Iterator<Item = Result<[u8; 16], StoreError>>>;
    let mut iters: Vec<Ids> = prefixes
        .iter()
        .map(|p| {
            let plen = p.len();
            let (mut lo, mut hi) = (p.clone(), p.clone());
            lo.extend_from_slice(&low);
            hi.extend_from_slice(&high);
            let range = tree.range(lo..hi);
            let ids: Box<dyn Iterator<Item = _>> = match order {
                Order::Desc => Box::new(range.rev()),
                Order::Asc => Box::new(range),
            };
            let it = ids.map(move |kv| {
                let (k, _) = kv?;
                super::damage::id_in_key(Record::IndexEntry, &k, plen)
            });
            Box::new(it) as Ids
        })
        .collect();
    let mut heads: Vec<Option<[u8; 16]>> = vec![None; iters.len()];
    let mut exhausted = vec![false; iters.len()];
    std::iter::from_fn(move || {
        for i in 0..iters.len() {
            if heads[i].is_none() && !exhausted[i] {
                match iters[i].next() {
                    Some(Ok(id)) => heads[i] = Some(id),
                    Some(Err(e)) => return Some(Err(e)),
                    None => exhausted[i] = true,
                }
            }
        }
        let ready = (0..heads.len()).filter(|i| heads[*i].is_some());
        let best = match order {
            Order::Desc => ready.max_by_key(|i| heads[*i])?,
            Order::Asc => ready.min_by_key(|i| heads[*i])?,
        };
        heads[best].take().map(Ok)
    })
}

impl Sled {
    /// A page of `tenant`'s runs matching `filter`, in its order.
    pub(super) fn page_of_runs(
        &self,
        tenant: &TenantId,
        filter: &RunFilter,
        cursor: Option<[u8; 16]>,
        limit: usize,
    ) -> Result<Page<JobRun>, StoreError> {
        // Open runs are few beside a job's or a tenant's history: asked
        // for, their index goes first.
        let only_open =
            !filter.statuses.is_empty() && filter.statuses.iter().all(|s| !s.is_terminal());
        let prefixes: Vec<Vec<u8>> = if let (Some(job), false) = (filter.job_id, only_open) {
            vec![keys::job_runs(tenant, job)]
        } else if !filter.statuses.is_empty() {
            let mut prefixes: Vec<Vec<u8>> = Vec::new();
            for p in filter
                .statuses
                .iter()
                .map(|s| keys::status_scan(tenant, *s))
            {
                if !prefixes.contains(&p) {
                    prefixes.push(p);
                }
            }
            prefixes
        } else if !filter.job_types.is_empty() {
            filter
                .job_types
                .iter()
                .map(|t| keys::type_runs(tenant, t))
                .collect()
        } else {
            vec![keys::tenant_runs(tenant)]
        };
        let range = bounds(
            filter.created_after,
            filter.created_before,
            cursor,
            filter.order,
        );
        let ids = scan(&self.run_index, &prefixes, range, filter.order);
        self.page(ids, limit, |id| {
            let bytes = {
                let _run = self.run_lock(&id);
                self.runs.get(id)?
            };
            let Some(bytes) = bytes else {
                return Ok(None);
            };
            let Some(run) = self.skip_damaged(self.decode::<JobRun>(Record::Run, &id, &bytes))?
            else {
                return Ok(None);
            };
            let keep = (filter.job_types.is_empty()
                || filter.job_types.iter().any(|t| t == run.job_type.as_str()))
                && (filter.statuses.is_empty() || filter.statuses.contains(&run.status))
                && (filter.created_by_users.is_empty()
                    || filter.created_by_users.contains(&run.created_by))
                && filter.job_id.is_none_or(|j| j == run.job_id)
                && filter.created_after.is_none_or(|t| run.created_at > t)
                && filter.created_before.is_none_or(|t| run.created_at < t)
                && !run.is_deleted;
            Ok(keep.then_some(run))
        })
    }

    /// A page of `tenant`'s jobs matching `filter`, in its order.
    pub(super) fn page_of_jobs(
        &self,
        tenant: &TenantId,
        filter: &JobFilter,
        cursor: Option<[u8; 16]>,
        limit: usize,
    ) -> Result<Page<Job>, StoreError> {
        let range = bounds(
            filter.created_after,
            filter.created_before,
            cursor,
            filter.order,
        );
        let prefixes = [keys::tenant_jobs(tenant)];
        let ids = scan(&self.job_index, &prefixes, range, filter.order);
        self.page(ids, limit, |id| {
            let Some(bytes) = self.jobs.get(id)? else {
                return Ok(None);
            };
            let Some(job) = self.skip_damaged(self.decode::<Job>(Record::Job, &id, &bytes))? else {
                return Ok(None);
            };
            let keep = (filter.job_types.is_empty()
                || filter.job_types.iter().any(|t| t == job.job_type.as_str()))
                && (filter.created_by_users.is_empty()
                    || filter.created_by_users.contains(&job.created_by))
                && (filter.source_session_ids.is_empty()
                    || job
                        .source_session_id
                        .is_some_and(|s| filter.source_session_ids.contains(&s)))
                && filter.created_after.is_none_or(|t| job.created_at > t)
                && filter.created_before.is_none_or(|t| job.created_at < t)
                && (filter.include_deleted || !job.is_deleted);
            Ok(keep.then_some(job))
        })
    }

    fn page<T>(
        &self,
        ids: impl Iterator<Item = Result<[u8; 16], StoreError>>,
        limit: usize,
        mut load: impl FnMut([u8; 16]) -> Result<Option<T>, StoreError>,
    ) -> Result<Page<T>, StoreError> {
        let mut items = Vec::with_capacity(limit.min(100));
        let mut last = None;
        for (scanned, id) in ids.enumerate() {
            if scanned == SCAN_BUDGET {
                return Ok(Page {
                    items,
                    next_cursor: last.map(encode_cursor),
                });
            }
            let id = id?;
            last = Some(id);
            if let Some(item) = load(id)? {
                items.push(item);
                if items.len() == limit {
                    return Ok(Page {
                        items,
                        next_cursor: Some(encode_cursor(id)),
                    });
                }
            }
        }
        Ok(Page {
            items,
            next_cursor: None,
        })
    }

    /// The newest run of a job.
    pub(super) fn newest_run_of_job(
        &self,
        tenant: &TenantId,
        job: JobId,
    ) -> Result<Option<JobRun>, StoreError> {
        let prefixes = [keys::job_runs(tenant, job)];
        let all = ([0; 16], [0xff; 16]);
        match scan(&self.run_index, &prefixes, all, Order::Desc).next() {
            Some(id) => self.run(tenant, RunId(Uuid::from_bytes(id?))),
            None => Ok(None),
        }
    }
}
