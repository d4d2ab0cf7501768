//! Executing one run, in four stages: claim it (pending → running under a
//! lease), call the plugin with a recorder of what it reports, settle the
//! record from the outcome, and write it as the lease holder.

use super::Shared;
use super::recorder::{Clock, Recorder};
use crate::model::{
    InterruptedPolicy, JobRun, Lease, PauseMode, Paused, RunErrorInfo, RunErrorKind, RunId,
    RunStatus, TenantId, Timestamp, now,
};
use crate::registry::{Plugin, Registry};
use crate::runtime::{CancelToken, Outcome, RunAccess, RunReport, RunRequest};
use crate::store::{Store, StoreError, Stored};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub(super) fn execute(shared: &Shared, claimed: Claimed, holder: &str) {
    let id = claimed.run.uuid;
    match try_execute(shared, claimed, holder) {
        Ok(()) => {}
        Err(e @ StoreError::Stale { .. }) => {
            shared.metrics.stale_write();
            tracing::warn!(run = %id, error = %e, "a stale attempt's result was refused");
        }
        Err(e) => tracing::error!(run = %id, error = %e, "executing a run failed in storage"),
    }
}

/// A run this worker took: it is `running` under this worker's lease.
pub(super) struct Claimed {
    pub(super) run: JobRun,
    /// The record as the claim wrote it.
    written: Stored,
    /// Never started before: it has no log lines yet.
    fresh: bool,
    plugin: Arc<Plugin>,
    access: RunAccess,
    cancel: CancelToken,
}

/// What taking the next queued run came to.
pub(super) enum Next {
    /// Nothing may be taken now.
    Idle,
    /// A run was taken and ended here, or changed meanwhile: nothing to run.
    Handled,
    /// A run to execute.
    Run(Box<Claimed>),
}

fn try_execute(shared: &Shared, claimed: Claimed, holder: &str) -> Result<(), StoreError> {
    let id = claimed.run.uuid;
    let _span = tracing::info_span!("run", run = %id, job_type = %claimed.run.job_type).entered();
    let (attempt, plugin) = (claimed.run.attempt, claimed.plugin.clone());
    let (recorder, report) = match call(shared, claimed, holder) {
        Ok(called) => called,
        Err(e) => {
            shared.unregister(id);
            return Err(e);
        }
    };
    let interrupted =
        shared.interrupting.load(Ordering::SeqCst) && report.outcome == Outcome::Cancelled;
    let run = settle(recorder.run(), report, plugin.info.interrupted, interrupted);
    if !run.status.is_terminal() {
        // The next attempt resumes from the newest checkpoint.
        recorder.flush_checkpoint();
    }
    record(shared, &run, recorder.claimed(), holder, attempt)
}

/// Takes the next queued run that `busy` (runs executing per tenant) lets
/// through: finds its job type version (or fails the run when it is not
/// loaded) and writes it `running` under a lease held by `holder`.
pub(super) fn claim(
    shared: &Shared,
    holder: &str,
    busy: &HashMap<TenantId, usize>,
) -> Result<Next, StoreError> {
    // What starting the run set up here, undone if the claim is refused.
    let mut set_up: Option<(RunId, Arc<Plugin>, RunAccess, CancelToken, bool)> = None;
    let mut start = |mut run: JobRun| -> Result<JobRun, StoreError> {
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
            return Ok(run);
        };
        let access = run_access(&shared.store, &registry, &plugin, &run.tenant)?;
        drop(registry);
        let cancel = shared.register(run.uuid);
        let fresh = run.attempt == 1 && run.started_at.is_none();
        run.status = RunStatus::Running;
        // A run resumed from a checkpoint goes on with its attempt.
        run.started_at.get_or_insert_with(now);
        run.updated_at = now();
        run.next_attempt_at = None;
        run.lease = Some(Lease {
            holder: holder.to_string(),
            expires_at: run.updated_at + shared.lease_ttl,
        });
        shared.watch(run.uuid, true);
        set_up = Some((run.uuid, plugin, access, cancel, fresh));
        Ok(run)
    };
    let taken = shared.store.claim_next(busy, shared.tenant_cap, &mut start);
    match (taken, set_up) {
        (Ok(Some((run, written))), Some((_, plugin, access, cancel, fresh)))
            if run.status == RunStatus::Running =>
        {
            Ok(Next::Run(Box::new(Claimed {
                run,
                written,
                fresh,
                plugin,
                access,
                cancel,
            })))
        }
        (Ok(None), None) => Ok(Next::Idle),
        (Ok(_), _) => Ok(Next::Handled),
        (Err(e), set_up) => {
            if let Some((id, ..)) = set_up {
                shared.unregister(id);
                shared.watch(id, false);
            }
            // Cancelled meanwhile: nothing to do.
            if matches!(e, StoreError::Conflict) {
                Ok(Next::Handled)
            } else {
                Err(e)
            }
        }
    }
}

/// Calls the plugin for a claimed run, with a recorder (attached to the
/// worker pool for lease renewal) of what it reports.
fn call(
    shared: &Shared,
    claimed: Claimed,
    holder: &str,
) -> Result<(Arc<Recorder>, RunReport), StoreError> {
    let Claimed {
        run,
        written,
        fresh,
        plugin,
        access,
        cancel,
    } = claimed;
    let id = run.uuid;
    // A checkpoint exists once an earlier execution saved one: an attempt
    // that was interrupted or failed, or a pause at a checkpoint.
    let checkpoint = match plugin.info.interrupted {
        InterruptedPolicy::Resume => shared.store.checkpoint(id)?,
        _ => None,
    };
    let request = RunRequest {
        config: run.config.to_string(),
        run_id: id.to_string(),
        attempt: run.attempt,
        checkpoint,
        limits: plugin.info.limits,
        access: Arc::new(access),
    };
    let recorder = Arc::new(Recorder::new(
        shared.store.clone(),
        holder,
        (run, Some(written)),
        if fresh {
            0
        } else {
            shared.store.next_log_seq(id)?
        },
        shared.metrics.clone(),
        Clock::default(),
    ));
    shared.attach(id, recorder.clone(), request.limits.timeout);
    let report = shared
        .runtime
        .run(&plugin.compiled, &request, recorder.clone(), &cancel);
    Ok((recorder, report))
}

/// The run's record after an attempt: its verdict, or back to the queue
/// when the host was too busy to start it, or the interruption policy when
/// a shutdown ran out of grace while it ran.
fn settle(
    mut run: JobRun,
    report: RunReport,
    policy: InterruptedPolicy,
    interrupted: bool,
) -> JobRun {
    run.receipt = Some(report.receipt);
    run.updated_at = now();
    run.lease = None;
    // A pause that came as the attempt ended is moot.
    run.paused = None;
    run.pause_requested = false;
    match report.outcome {
        _ if interrupted => {
            // Shutdown ran out of grace: treat it like a crash of this attempt.
            super::recover::interrupted(&mut run, policy, "the host shut down while it ran");
        }
        Outcome::Paused => {
            // Stopped at a checkpoint: it continues from it once resumed.
            run.status = RunStatus::Paused;
            run.paused = Some(Paused {
                mode: PauseMode::Checkpoint,
                at: run.updated_at,
            });
            run.pause_requested = false;
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
            run.end_attempt(verdict.status, verdict.error.clone(), run.updated_at);
            match verdict.error {
                Some(error) if run.retry.retries(&error, run.attempt) => {
                    let delay = run.retry.delay_ms(run.attempt, rand::random::<f64>());
                    let at = run.updated_at + Duration::from_millis(delay);
                    tracing::info!(
                        attempt = run.attempt,
                        error = error.kind.as_str(),
                        delay_ms = delay,
                        "the run will be retried"
                    );
                    run.queue_next_attempt(Some(at));
                }
                error => {
                    run.status = verdict.status;
                    run.error = error;
                    if let Some(out) = verdict.output {
                        run.progress = 100;
                        run.output = Some(out.value);
                        run.output_references = out.references;
                    }
                }
            }
        }
    }
    if run.status.is_terminal() {
        run.finished_at = Some(run.updated_at);
    }
    run
}

/// Writes the settled run as the holder of attempt `attempt` (at once when
/// the record is still as the claim wrote it), releases it, and counts a
/// finished run.
fn record(
    shared: &Shared,
    run: &JobRun,
    claimed: Option<Stored>,
    holder: &str,
    attempt: u32,
) -> Result<(), StoreError> {
    let mut result = shared
        .store
        .end_attempt(claimed.as_ref(), run, holder, attempt);
    if result.is_ok() && run.status == RunStatus::Paused {
        // A pause is rare and said to survive restarts: on disk at once.
        result = shared.store.flush_blocking();
    }
    tracing::info!(
        status = run.status.as_str(),
        attempt = run.attempt,
        error = run.error.as_ref().map(|e| e.kind.as_str()),
        "run finished"
    );
    shared.unregister(run.uuid);
    // Written, or refused because the attempt lost the run: either way no
    // longer this worker's; a storage failure leaves it to the keeper.
    if matches!(
        result,
        Ok(()) | Err(StoreError::Stale { .. } | StoreError::Conflict)
    ) {
        shared.watch(run.uuid, false);
    }
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
