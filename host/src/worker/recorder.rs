//! What a running plugin reports, recorded as the holder of its run's
//! lease: log lines, progress (at most every 100 ms), checkpoints (at most
//! one a second, the newest kept back and written at the next chance), and
//! the outbound requests it made.

use super::lock;
use crate::model::{JobRun, RunId, Timestamp, now};
use crate::runtime::{LogEntry, RunObserver};
use crate::store::{LogRecord, Store, StoreError, Stored};
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

/// Where a recorder reads the time: the real clock, or one a test moves.
#[derive(Clone, Default)]
pub(super) struct Clock(Option<Arc<Mutex<Instant>>>);

impl Clock {
    fn now(&self) -> Instant {
        match &self.0 {
            Some(t) => *lock(t),
            None => Instant::now(),
        }
    }

    /// A clock that stands still until [`Clock::advance`].
    #[cfg(test)]
    fn manual() -> Clock {
        Clock(Some(Arc::new(Mutex::new(Instant::now()))))
    }

    #[cfg(test)]
    fn advance(&self, by: Duration) {
        if let Some(t) = &self.0 {
            *lock(t) += by;
        }
    }
}

/// Records what a running plugin reports, as the holder of its lease.
pub(super) struct Recorder {
    store: Store,
    holder: String,
    /// The run's id and attempt, and the next log sequence number.
    log_to: (RunId, u32),
    next_seq: AtomicU32,
    /// The run as it will be written, and when progress was last written.
    run: Mutex<(JobRun, Instant)>,
    /// The record as the claim wrote it, until the recorder writes again.
    claimed: Mutex<Option<Stored>>,
    /// Checkpoints not yet written, and when one last was.
    checkpoints: Mutex<Checkpoints>,
    /// Where outbound requests are counted, and the job type they count for.
    metrics: (Arc<crate::metrics::Metrics>, String),
    clock: Clock,
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
        let at = self.clock.now();
        if at.duration_since(*last) >= PROGRESS_EVERY {
            *last = at;
            run.updated_at = now();
            if let Err(e) = self.write(run) {
                tracing::warn!(run = %run.uuid, error = %e, "recording progress failed");
            }
        }
    }

    fn checkpoint(&self, state: &[u8]) {
        let mut checkpoints = lock(&self.checkpoints);
        let now = self.clock.now();
        if checkpoints
            .written_at
            .is_some_and(|at| now.duration_since(at) < CHECKPOINT_EVERY)
        {
            let pending = checkpoints.pending.get_or_insert_with(Vec::new);
            pending.clear();
            pending.extend_from_slice(state);
            return;
        }
        checkpoints.pending = None;
        checkpoints.written_at = Some(now);
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
    /// A recorder of attempt `attempt` of `run`, held by `holder`, whose
    /// next log line is number `next_seq`.
    pub(super) fn new(
        store: Store,
        holder: &str,
        (run, claimed): (JobRun, Option<Stored>),
        next_seq: u32,
        metrics: Arc<crate::metrics::Metrics>,
        clock: Clock,
    ) -> Recorder {
        let job_type = run.job_type.to_string();
        let started = clock.now();
        Recorder {
            store,
            holder: holder.to_string(),
            log_to: (run.uuid, run.attempt),
            next_seq: AtomicU32::new(next_seq),
            run: Mutex::new((run, started)),
            claimed: Mutex::new(claimed),
            checkpoints: Mutex::default(),
            metrics: (metrics, job_type),
            clock,
        }
    }

    /// The run as the plugin's reports left it.
    pub(super) fn run(&self) -> JobRun {
        lock(&self.run).0.clone()
    }

    /// The run and attempt this recorder writes.
    pub(super) fn attempt(&self) -> (RunId, u32) {
        self.log_to
    }

    /// The record as the claim wrote it, if the recorder wrote nothing since.
    pub(super) fn claimed(&self) -> Option<Stored> {
        lock(&self.claimed).take()
    }

    /// Writes `run` as the lease holder; the claim's record is no longer
    /// the stored one.
    fn write(&self, run: &JobRun) -> Result<(), StoreError> {
        *lock(&self.claimed) = None;
        self.store.update_held(run, &self.holder, self.log_to.1)
    }

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
            checkpoints.written_at = Some(self.clock.now());
            self.write_checkpoint(&state);
        }
    }

    /// Changes the run with `change` and writes it as the lease holder;
    /// on failure the run is left as it was. Returns the run as written.
    pub(super) fn update(&self, change: impl FnOnce(&mut JobRun)) -> Result<JobRun, StoreError> {
        let mut guard = lock(&self.run);
        let run = &mut guard.0;
        let before = run.clone();
        change(run);
        run.updated_at = now();
        match self.write(run) {
            Ok(()) => Ok(run.clone()),
            Err(e) => {
                *run = before;
                Err(e)
            }
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
        let written = self.write(run);
        if written.is_err()
            && let Some(lease) = run.lease.as_mut()
        {
            lease.expires_at = previous;
        }
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{JobId, Lease, RunStatus};

    /// A store in `dir` with a run held by worker `w/0`, and its recorder on
    /// a manual clock.
    fn held_run(dir: &std::path::Path) -> (Store, RunId, Recorder, Clock) {
        let store = Store::open(dir).unwrap();
        let mut run = crate::store::tests::run("t", JobId::new(), "x", 0);
        store.insert_run(&run).unwrap();
        run.status = RunStatus::Running;
        run.lease = Some(Lease {
            holder: "w/0".into(),
            expires_at: now() + Duration::from_secs(30),
        });
        store.update_run(RunStatus::Pending, &run).unwrap();
        let id = run.uuid;
        let clock = Clock::manual();
        let recorder = Recorder::new(
            store.clone(),
            "w/0",
            (run, None),
            0,
            Arc::default(),
            clock.clone(),
        );
        (store, id, recorder, clock)
    }

    #[test]
    fn checkpoints_in_a_loop_are_written_once_per_interval_and_the_newest_is_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let (store, id, recorder, clock) = held_run(dir.path());
        let stored = || store.checkpoint(id).unwrap();

        for i in 0u32..1000 {
            recorder.checkpoint(&i.to_le_bytes());
        }
        assert_eq!(
            stored(),
            Some(0u32.to_le_bytes().to_vec()),
            "only the first"
        );
        // The lease renewal writes the newest one kept back.
        recorder.renew(now() + Duration::from_secs(30)).unwrap();
        assert_eq!(stored(), Some(999u32.to_le_bytes().to_vec()));
        recorder.checkpoint(b"kept back");
        assert_eq!(stored(), Some(999u32.to_le_bytes().to_vec()));
        // So does the end of an attempt that goes back to the queue.
        recorder.flush_checkpoint();
        assert_eq!(stored().as_deref(), Some(&b"kept back"[..]));
        recorder.flush_checkpoint();
        assert_eq!(stored().as_deref(), Some(&b"kept back"[..]));
        // Just before the interval ends, one is still kept back ...
        clock.advance(CHECKPOINT_EVERY - Duration::from_millis(1));
        recorder.checkpoint(b"too soon");
        assert_eq!(stored().as_deref(), Some(&b"kept back"[..]));
        // ... and once it has passed, a checkpoint is written at once.
        clock.advance(Duration::from_millis(1));
        recorder.checkpoint(b"later");
        assert_eq!(stored().as_deref(), Some(&b"later"[..]));
    }

    #[test]
    fn progress_is_written_at_most_once_per_interval() {
        let dir = tempfile::tempdir().unwrap();
        let (store, id, recorder, clock) = held_run(dir.path());
        let progress = || store.run_any_tenant(id).unwrap().unwrap().progress;

        recorder.progress(10, "started");
        assert_eq!(progress(), 0, "a short run writes no progress");
        clock.advance(PROGRESS_EVERY);
        recorder.progress(20, "later");
        assert_eq!(progress(), 20);
        recorder.progress(30, "too soon");
        assert_eq!(progress(), 20);
        assert_eq!(recorder.run().progress, 30, "kept for the next write");
    }
}
