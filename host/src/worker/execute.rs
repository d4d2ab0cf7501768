//! Executing one run: pending → running, the plugin call with an observer
//! that records progress and checkpoints, then the terminal status.

use super::{Shared, lock};
use crate::model::InterruptedPolicy;
use crate::model::{
    JobRun, Lease, RunErrorInfo, RunErrorKind, RunId, RunStatus, TenantId, Timestamp, now,
};
use crate::registry::{Plugin, Registry};
use crate::runtime::{LogEntry, Outcome, RunAccess, RunObserver, RunRequest};
use crate::store::{LogRecord, Store, StoreError};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Progress is written at most this often, the first time once the run has
/// run this long: the terminal write carries the last report, so a short run
/// costs no progress writes.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// A checkpoint is written at most this often. One saved sooner is kept and
/// written at the next chance: the first checkpoint after this interval, the
/// lease renewal, or the end of the attempt when the run goes back to the
/// queue. A plugin saving checkpoints in a loop thus writes at most one
/// checkpoint (at most the checkpoint cap) per interval to the store.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Records what a running plugin reports, as the holder of its lease.
pub(super) struct Recorder {
    store: Store,
    holder: String,
    /// The run's id and attempt, and the next log sequence number.
    log_to: (RunId, u32),
    next_seq: AtomicU32,
    /// The run as it will be written, and when progress was last written.
    run: Mutex<(JobRun, Instant)>,
    /// Checkpoints not yet written, and when one last was.
    checkpoints: Mutex<Checkpoints>,
    /// Where outbound requests are counted, and the job type they count for.
    metrics: (Arc<crate::metrics::Metrics>, String),
}

/// The checkpoint of one attempt between writes.
#[derive(Default)]
struct Checkpoints {
    written_at: Option<Instant>,
    /// The newest checkpoint, saved within `CHECKPOINT_EVERY` of the last write.
    pending: Option<Vec<u8>>,
}

impl RunObserver for Recorder {
    fn log(&self, entry: LogEntry) {
        let (run, attempt) = self.log_to;
        let line = LogRecord {
            seq: self.next_seq.fetch_add(1, Ordering::Relaxed),
            attempt,
            timestamp: entry.timestamp.into(),
            level: entry.level,
            source: entry.source,
            message: entry.message,
        };
        if let Err(e) = self.store.append_log(run, &line) {
            tracing::warn!(run = %run, error = %e, "storing a log line failed");
        }
    }

    fn progress(&self, percent: u8, message: &str) {
        let mut guard = lock(&self.run);
        let (run, last) = &mut *guard;
        run.progress = percent;
        run.progress_message = Some(message.to_string());
        if last.elapsed() >= PROGRESS_EVERY {
            *last = Instant::now();
            run.updated_at = now();
            if let Err(e) = self.store.update_held(run, &self.holder, self.log_to.1) {
                tracing::warn!(run = %run.uuid, error = %e, "recording progress failed");
            }
        }
    }

    fn checkpoint(&self, state: &[u8]) {
        let mut checkpoints = lock(&self.checkpoints);
        if checkpoints
            .written_at
            .is_some_and(|at| at.elapsed() < CHECKPOINT_EVERY)
        {
            let pending = checkpoints.pending.get_or_insert_with(Vec::new);
            pending.clear();
            pending.extend_from_slice(state);
            return;
        }
        checkpoints.pending = None;
        checkpoints.written_at = Some(Instant::now());
        self.write_checkpoint(state);
    }

    fn http(&self, audit: &crate::egress::HttpAudit) {
        let outcome = match (&audit.denied, &audit.error) {
            (Some(_), _) => "denied",
            (None, Some(_)) => "failed",
            (None, None) => "ok",
        };
        self.metrics.0.plugin_http(&self.metrics.1, outcome);
    }
}

impl Recorder {
    fn write_checkpoint(&self, state: &[u8]) {
        let (id, attempt) = self.log_to;
        if let Err(e) = self.store.save_checkpoint(id, attempt, state) {
            tracing::warn!(run = %id, error = %e, "saving a checkpoint failed");
        }
    }

    /// Writes the checkpoint kept back by `CHECKPOINT_EVERY`, if there is one.
    pub(super) fn flush_checkpoint(&self) {
        let mut checkpoints = lock(&self.checkpoints);
        if let Some(state) = checkpoints.pending.take() {
            checkpoints.written_at = Some(Instant::now());
            self.write_checkpoint(&state);
        }
    }

    /// Extends the lease to `expires_at`; fails once the attempt lost the run.
    pub(super) fn renew(&self, expires_at: Timestamp) -> Result<(), StoreError> {
        self.flush_checkpoint();
        let mut guard = lock(&self.run);
        let run = &mut guard.0;
        let Some(lease) = run.lease.as_mut() else {
            return Ok(());
        };
        let previous = lease.expires_at;
        lease.expires_at = expires_at;
        let written = self.store.update_held(run, &self.holder, self.log_to.1);
        if written.is_err()
            && let Some(lease) = run.lease.as_mut()
        {
            lease.expires_at = previous;
        }
        written
    }
}

pub(super) fn execute(shared: &Shared, id: RunId, holder: &str) {
    match try_execute(shared, id, holder) {
        Ok(()) => {}
        Err(e @ StoreError::Stale { .. }) => {
            shared.metrics.stale_write();
            tracing::warn!(run = %id, error = %e, "a stale attempt's result was refused");
        }
        Err(e) => tracing::error!(run = %id, error = %e, "executing a run failed in storage"),
    }
}

fn try_execute(shared: &Shared, id: RunId, holder: &str) -> Result<(), StoreError> {
    let Some(mut run) = shared.store.run_any_tenant(id)? else {
        return Ok(());
    };
    if run.status != RunStatus::Pending {
        return Ok(());
    }
    let registry = shared.catalog.snapshot();
    let Some(plugin) = registry
        .get(run.job_type.as_str(), &run.job_type_version)
        .cloned()
    else {
        run.status = RunStatus::Failed;
        run.error = Some(RunErrorInfo::new(
            RunErrorKind::PluginUnavailable,
            format!(
                "job type {} version {} is not loaded",
                run.job_type, run.job_type_version
            ),
        ));
        run.finished_at = Some(now());
        run.updated_at = now();
        return shared.store.update_run(RunStatus::Pending, &run);
    };
    let cancel = shared.register(id);
    run.status = RunStatus::Running;
    run.started_at = Some(now());
    run.updated_at = now();
    run.lease = Some(Lease {
        holder: holder.to_string(),
        expires_at: run.updated_at + shared.lease_ttl,
    });
    if let Err(e) = shared.store.update_run(RunStatus::Pending, &run) {
        shared.unregister(id);
        // Cancelled meanwhile: nothing to do.
        return if matches!(e, StoreError::Conflict) {
            Ok(())
        } else {
            Err(e)
        };
    }
    let _span = tracing::info_span!("run", run = %id, job_type = %run.job_type).entered();
    let checkpoint = match plugin.info.interrupted {
        InterruptedPolicy::Resume if run.attempt > 1 => shared.store.checkpoint(id)?,
        _ => None,
    };
    let request = RunRequest {
        config: run.config.to_string(),
        run_id: id.to_string(),
        attempt: run.attempt,
        checkpoint,
        limits: plugin.info.limits,
        access: Arc::new(run_access(&shared.store, &registry, &plugin, &run.tenant)?),
    };
    drop(registry);
    let (limits, attempt) = (request.limits, request.attempt);
    let recorder = Arc::new(Recorder {
        store: shared.store.clone(),
        holder: holder.to_string(),
        log_to: (id, run.attempt),
        next_seq: AtomicU32::new(shared.store.next_log_seq(id)?),
        run: Mutex::new((run, Instant::now())),
        checkpoints: Mutex::default(),
        metrics: (shared.metrics.clone(), plugin.info.job_type.to_string()),
    });
    shared.attach(id, recorder.clone(), limits.timeout);
    let report = shared
        .runtime
        .run(&plugin.compiled, &request, recorder.clone(), &cancel);
    let mut run = lock(&recorder.run).0.clone();

    run.receipt = Some(report.receipt);
    run.updated_at = now();
    run.lease = None;
    let interrupted =
        shared.interrupting.load(Ordering::SeqCst) && report.outcome == Outcome::Cancelled;
    match report.outcome {
        _ if interrupted => {
            // Shutdown ran out of grace: treat it like a crash of this attempt.
            super::recover::interrupted(
                &mut run,
                plugin.info.interrupted,
                "the host shut down while it ran",
            );
        }
        Outcome::HostBusy(_) => {
            // Every instance slot is taken: back to the queue, after a pause
            // so that this worker does not spin on it.
            run.status = RunStatus::Pending;
            run.started_at = None;
            std::thread::sleep(Duration::from_millis(10));
        }
        outcome => {
            let verdict = outcome.verdict();
            run.status = verdict.status;
            run.error = verdict.error;
            if let Some(out) = verdict.output {
                run.progress = 100;
                run.output = Some(out.value);
                run.output_references = out.references;
            }
        }
    }
    if run.status.is_terminal() {
        run.finished_at = Some(run.updated_at);
    } else {
        // The next attempt resumes from the newest checkpoint.
        recorder.flush_checkpoint();
    }
    let result = shared.store.update_held(&run, holder, attempt);
    tracing::info!(
        status = run.status.as_str(),
        attempt = run.attempt,
        error = run.error.as_ref().map(|e| e.kind.as_str()),
        "run finished"
    );
    shared.unregister(id);
    if result.is_ok() && run.status.is_terminal() {
        let span = |a: Option<Timestamp>, b: Option<Timestamp>| {
            a.zip(b).and_then(|(a, b)| Duration::try_from(b - a).ok())
        };
        shared.metrics.run_finished(
            run.job_type.as_str(),
            run.status.as_str(),
            span(Some(run.created_at), run.started_at),
            span(run.started_at, run.finished_at),
            run.error.as_ref().and_then(|e| e.limit).map(|l| l.as_str()),
        );
    }
    result
}

/// What a run of `plugin` for `tenant` may reach: the version's declared
/// capabilities intersected with its grant, and the tenant's values of the
/// granted secrets.
fn run_access(
    store: &Store,
    registry: &Registry,
    plugin: &Plugin,
    tenant: &TenantId,
) -> Result<RunAccess, StoreError> {
    let access = registry.access(plugin);
    let mut secrets = std::collections::BTreeMap::new();
    for name in access.secrets {
        let value = store.secret_value(tenant, &name)?;
        secrets.insert(name, value);
    }
    Ok(RunAccess {
        http: access.http.into(),
        declared_secrets: plugin
            .info
            .capabilities
            .secrets
            .iter()
            .map(|s| s.name.clone())
            .collect(),
        secrets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::JobId;

    #[test]
    fn checkpoints_in_a_loop_are_written_once_per_interval_and_the_newest_is_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut run = crate::store::tests::run("t", JobId::new(), "x", 0);
        store.insert_run(&run).unwrap();
        run.status = RunStatus::Running;
        run.lease = Some(Lease {
            holder: "w/0".into(),
            expires_at: now(),
        });
        store.update_run(RunStatus::Pending, &run).unwrap();
        let id = run.uuid;
        let recorder = Recorder {
            store: store.clone(),
            holder: "w/0".into(),
            log_to: (id, 1),
            next_seq: AtomicU32::new(0),
            run: Mutex::new((run, Instant::now())),
            checkpoints: Mutex::default(),
            metrics: (Arc::default(), "test".into()),
        };
        let stored = || store.checkpoint(id).unwrap();

        let started = Instant::now();
        for i in 0u32..1000 {
            recorder.checkpoint(&i.to_le_bytes());
        }
        if started.elapsed() < CHECKPOINT_EVERY {
            assert_eq!(
                stored(),
                Some(0u32.to_le_bytes().to_vec()),
                "only the first"
            );
        }
        // The lease renewal writes the newest one kept back.
        recorder.renew(now() + Duration::from_secs(30)).unwrap();
        assert_eq!(stored(), Some(999u32.to_le_bytes().to_vec()));
        recorder.checkpoint(b"kept back");
        if started.elapsed() < CHECKPOINT_EVERY {
            assert_eq!(stored(), Some(999u32.to_le_bytes().to_vec()));
        }
        // So does the end of an attempt that goes back to the queue.
        recorder.flush_checkpoint();
        assert_eq!(stored().as_deref(), Some(&b"kept back"[..]));
        recorder.flush_checkpoint();
        assert_eq!(stored().as_deref(), Some(&b"kept back"[..]));
        // A checkpoint after the interval is written at once.
        std::thread::sleep(CHECKPOINT_EVERY);
        recorder.checkpoint(b"later");
        assert_eq!(stored().as_deref(), Some(&b"later"[..]));
    }
}
