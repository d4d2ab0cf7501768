//! Fault injection for the crash tests, compiled into debug builds only:
//! with `JOBHOST_FAULT=abort-after-commit` the process aborts right after
//! an idempotent request's writes are on disk and before it is answered,
//! the moment a client is left not knowing whether its request took.

/// Aborts here when the fault is asked for (debug builds only).
pub(crate) fn after_commit() {
    #[cfg(debug_assertions)]
    {
        static ASKED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        if *ASKED
            .get_or_init(|| std::env::var("JOBHOST_FAULT").is_ok_and(|v| v == "abort-after-commit"))
        {
            eprintln!("jobhost: JOBHOST_FAULT=abort-after-commit: aborting");
            std::process::abort();
        }
    }
}
