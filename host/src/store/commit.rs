//! Group commit: many writers wait on one `fsync`. A writer applies its
//! change, takes a ticket, and waits until a flush that started after its
//! ticket has finished; one waiter at a time leads the flush for everyone.

use std::sync::{Arc, Mutex};
use tokio::sync::watch;

#[derive(Debug)]
struct State {
    issued: u64,
    flushing: bool,
}

/// Shared by every writer of one database.
#[derive(Debug, Clone)]
pub(crate) struct GroupCommit {
    db: sled::Db,
    state: Arc<Mutex<State>>,
    done: watch::Sender<u64>,
}

impl GroupCommit {
    pub(crate) fn new(db: sled::Db) -> Self {
        GroupCommit {
            db,
            state: Arc::new(Mutex::new(State {
                issued: 0,
                flushing: false,
            })),
            done: watch::Sender::new(0),
        }
    }

    /// Returns once every write made before the call is on disk.
    pub(crate) async fn flush(&self) -> Result<(), sled::Error> {
        let ticket = {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            s.issued += 1;
            s.issued
        };
        let mut done = self.done.subscribe();
        loop {
            if *done.borrow_and_update() >= ticket {
                return Ok(());
            }
            let lead = {
                let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
                if s.flushing {
                    None
                } else {
                    s.flushing = true;
                    Some(s.issued)
                }
            };
            match lead {
                Some(upto) => {
                    let db = self.db.clone();
                    let result = tokio::task::spawn_blocking(move || db.flush()).await;
                    self.state
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .flushing = false;
                    match result {
                        Ok(Ok(_)) => {
                            self.done.send_modify(|d| *d = (*d).max(upto));
                        }
                        Ok(Err(e)) => {
                            self.done.send_modify(|_| {});
                            return Err(e);
                        }
                        Err(join) => {
                            self.done.send_modify(|_| {});
                            return Err(sled::Error::ReportableBug(format!(
                                "flush task failed: {join}"
                            )));
                        }
                    }
                }
                None => {
                    if done.changed().await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_all_return_after_a_flush() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let gc = GroupCommit::new(db.clone());
        let tasks: Vec<_> = (0..64u32)
            .map(|i| {
                let (gc, db) = (gc.clone(), db.clone());
                tokio::spawn(async move {
                    db.insert(i.to_be_bytes(), &b"v"[..]).unwrap();
                    gc.flush().await.unwrap();
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*gc.done.borrow(), 64);
    }
}
