//! Control of a running plugin from outside: cancellation (a flag the
//! plugin reads with `cancelled()` and the epoch callback enforces after a
//! grace), a request to stop at the next checkpoint, and suspension in
//! place: the epoch callback parks the instance on its fiber until it is
//! resumed or cancelled, and the time parked does not count against the
//! run's deadline.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// A cloneable handle that cancels, or pauses, one run.
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    cancelled: AtomicBool,
    at: OnceLock<Instant>,
    stop_at_checkpoint: AtomicBool,
    park: Mutex<Park>,
}

/// Suspension in place.
#[derive(Debug, Default)]
struct Park {
    /// Asked for and not yet resumed.
    asked: bool,
    /// Since when the instance is parked, while it is.
    since: Option<Instant>,
    /// Time spent parked before.
    total: Duration,
}

/// How often a parked instance looks whether it was resumed or cancelled.
const PARKED_POLL: Duration = Duration::from_millis(10);

impl CancelToken {
    /// A token nobody has cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn park(&self) -> MutexGuard<'_, Park> {
        self.inner.park.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks the run to stop. It may stop on its own within the grace period;
    /// after that it is interrupted. A parked instance wakes to stop.
    pub fn cancel(&self) {
        let _ = self.inner.at.set(Instant::now());
        self.inner.cancelled.store(true, Ordering::Release);
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::Acquire)
    }

    /// When cancellation was first asked for.
    pub fn cancelled_at(&self) -> Option<Instant> {
        self.inner.at.get().copied()
    }

    /// Asks (or stops asking) the run to stop at its next checkpoint.
    pub fn stop_at_checkpoint(&self, asked: bool) {
        self.inner
            .stop_at_checkpoint
            .store(asked, Ordering::Release);
    }

    /// Whether the run is to stop at its next checkpoint.
    pub fn stops_at_checkpoint(&self) -> bool {
        self.inner.stop_at_checkpoint.load(Ordering::Acquire)
    }

    /// Suspends the instance at its next epoch tick, until [`CancelToken::resume`].
    pub fn suspend(&self) {
        self.park().asked = true;
    }

    /// Lets a suspended instance go on.
    pub fn resume(&self) {
        self.park().asked = false;
    }

    /// Whether a suspension was asked for and not resumed.
    pub fn suspension_asked(&self) -> bool {
        self.park().asked
    }

    /// Time the instance spent suspended, so far.
    pub fn suspended_for(&self) -> Duration {
        let park = self.park();
        park.total + park.since.map_or(Duration::ZERO, |s| s.elapsed())
    }

    /// Whether the instance is suspended now.
    pub fn is_suspended(&self) -> bool {
        self.park().since.is_some()
    }

    /// Parks the calling fiber until resumed or cancelled.
    pub(crate) async fn parked(self) {
        self.park().since.get_or_insert_with(Instant::now);
        while self.suspension_asked() && !self.is_cancelled() {
            tokio::time::sleep(PARKED_POLL).await;
        }
        let mut park = self.park();
        if let Some(since) = park.since.take() {
            park.total += since.elapsed();
        }
    }
}
