//! Cancellation of a run: a flag the host sets and both the plugin
//! (`cancelled()`) and the epoch callback (forced stop after a grace) read.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// A cloneable handle that cancels one run.
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    cancelled: AtomicBool,
    at: OnceLock<Instant>,
}

impl CancelToken {
    /// A token nobody has cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the run to stop. It may stop on its own within the grace period;
    /// after that it is interrupted.
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
}
