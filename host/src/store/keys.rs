//! Byte layouts of storage keys. Every index key starts with a kind byte and
//! the tenant prefix, and ends with the record's UUIDv7, so a prefix scan in
//! reverse yields the newest records first.
//!
//! A run's status is indexed so that a change between the open statuses
//! (pending, running, paused) moves no entry: one entry per tenant for every
//! open run (what status lists and recovery scan, checking each run's
//! status), and one per tenant and terminal status once it ends. Taking a
//! pending run thus writes only its record, and finishing a running one adds
//! one entry and removes one.

use crate::model::{JobId, RunId, RunStatus, TenantId};

pub(crate) const RUNS_BY_TENANT: u8 = b'T';
pub(crate) const RUNS_BY_JOB: u8 = b'J';
pub(crate) const RUNS_BY_STATUS: u8 = b'S';
pub(crate) const RUNS_BY_TYPE: u8 = b'Y';
/// All tenants, by open status: layout 1 only (see `layout.rs`).
pub(crate) const RUNS_GLOBAL_STATUS: u8 = b'G';
/// Open runs (pending, running or paused), by tenant.
pub(crate) const RUNS_OPEN: u8 = b'O';
/// What [`RUNS_OPEN`] entries start with, whatever the tenant.
pub(crate) const OPEN_RUNS: [u8; 1] = [RUNS_OPEN];
pub(crate) const JOBS_BY_TENANT: u8 = b'T';

pub(crate) fn status_byte(s: RunStatus) -> u8 {
    match s {
        RunStatus::Pending => 0,
        RunStatus::Running => 1,
        RunStatus::Paused => 2,
        RunStatus::Completed => 3,
        RunStatus::Failed => 4,
        RunStatus::Cancelled => 5,
    }
}

fn prefixed(kind: u8, tenant: &TenantId) -> Vec<u8> {
    let mut k = vec![kind];
    k.extend_from_slice(&tenant.key_prefix());
    k
}

pub(crate) fn tenant_runs(tenant: &TenantId) -> Vec<u8> {
    prefixed(RUNS_BY_TENANT, tenant)
}

pub(crate) fn job_runs(tenant: &TenantId, job: JobId) -> Vec<u8> {
    let mut k = prefixed(RUNS_BY_JOB, tenant);
    k.extend_from_slice(&job.bytes());
    k
}

pub(crate) fn status_runs(tenant: &TenantId, status: RunStatus) -> Vec<u8> {
    let mut k = prefixed(RUNS_BY_STATUS, tenant);
    k.push(status_byte(status));
    k
}

pub(crate) fn type_runs(tenant: &TenantId, job_type: &str) -> Vec<u8> {
    let mut k = prefixed(RUNS_BY_TYPE, tenant);
    k.push(job_type.len() as u8);
    k.extend_from_slice(job_type.as_bytes());
    k
}

/// Where a tenant's open runs are indexed.
pub(crate) fn open_runs(tenant: &TenantId) -> Vec<u8> {
    prefixed(RUNS_OPEN, tenant)
}

/// The index prefix under which `tenant`'s runs in `status` are found
/// (open statuses share one, so readers check each run's status).
pub(crate) fn status_scan(tenant: &TenantId, status: RunStatus) -> Vec<u8> {
    if status.is_terminal() {
        status_runs(tenant, status)
    } else {
        open_runs(tenant)
    }
}

pub(crate) fn global_status(status: RunStatus) -> Vec<u8> {
    vec![RUNS_GLOBAL_STATUS, status_byte(status)]
}

pub(crate) fn tenant_jobs(tenant: &TenantId) -> Vec<u8> {
    prefixed(JOBS_BY_TENANT, tenant)
}

pub(crate) fn with_id(mut prefix: Vec<u8>, id: [u8; 16]) -> Vec<u8> {
    prefix.extend_from_slice(&id);
    prefix
}

/// The index key of a run that depends on its status: its tenant's open
/// entry while open, its tenant's entry for the terminal status once ended.
pub(crate) fn status_key(tenant: &TenantId, status: RunStatus, run: [u8; 16]) -> Vec<u8> {
    with_id(status_scan(tenant, status), run)
}

/// The status key a run moving from `from` to `to` gains and the one it
/// loses; none when both statuses share one (between the open statuses).
pub(crate) fn status_change(
    tenant: &TenantId,
    from: RunStatus,
    to: RunStatus,
    run: [u8; 16],
) -> Option<(Vec<u8>, Vec<u8>)> {
    let (old, new) = (status_key(tenant, from, run), status_key(tenant, to, run));
    (old != new).then_some((new, old))
}

/// Every index key of a run in a given status.
pub(crate) fn run_index_keys(
    tenant: &TenantId,
    job: JobId,
    job_type: &str,
    status: RunStatus,
    run: RunId,
) -> Vec<Vec<u8>> {
    let id = run.bytes();
    let mut keys = vec![
        with_id(tenant_runs(tenant), id),
        with_id(job_runs(tenant, job), id),
        with_id(type_runs(tenant, job_type), id),
    ];
    keys.push(status_key(tenant, status, id));
    keys
}

/// Queue key: higher priority first, then older first.
pub(crate) fn queue_key(priority: i32, run: RunId) -> [u8; 20] {
    let order = !((priority as u32) ^ 0x8000_0000);
    let mut k = [0u8; 20];
    k[..4].copy_from_slice(&order.to_be_bytes());
    k[4..].copy_from_slice(&run.bytes());
    k
}

/// The smallest UUIDv7 bytes at or after `unix_ms`.
pub(crate) fn id_floor(unix_ms: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&unix_ms.to_be_bytes()[2..]);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_orders_by_priority_then_age() {
        let (a, b) = (RunId::new(), RunId::new());
        let mut keys = [
            queue_key(0, b),
            queue_key(-5, a),
            queue_key(10, b),
            queue_key(0, a),
            queue_key(i32::MAX, b),
        ];
        keys.sort();
        let expected = [
            queue_key(i32::MAX, b),
            queue_key(10, b),
            queue_key(0, a),
            queue_key(0, b),
            queue_key(-5, a),
        ];
        assert_eq!(keys, expected);
    }

    #[test]
    fn id_floor_matches_uuid_v7_time() {
        let id = RunId::new();
        let ms = id.0.get_timestamp().unwrap().to_unix();
        let ms = ms.0 * 1000 + u64::from(ms.1) / 1_000_000;
        assert!(id_floor(ms).as_slice() <= id.bytes().as_slice());
        assert!(id_floor(ms + 1).as_slice() > id.bytes().as_slice());
    }
}
