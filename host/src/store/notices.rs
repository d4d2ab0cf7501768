//! The durable queue of webhook notices: a run with a `callback_url` that
//! pauses or resumes is announced to it with the run as it stood then, in
//! order per run and before the run's final webhook.

use super::{NoticeStore, Record, Sled, StoreError, encode};
use crate::model::{JobRun, RunId, TenantId};
use serde::{Deserialize, Serialize};

/// Notices one run may have waiting; a run paused and resumed faster than
/// its receiver answers drops the notices past this (and says so in the log).
pub const MAX_NOTICES_PER_RUN: usize = 16;

/// What a notice announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeEvent {
    /// The run became `paused`.
    Paused,
    /// The run left `paused` for `pending` or `running`.
    Resumed,
}

impl NoticeEvent {
    /// The `X-Jobhost-Event` header's value.
    pub fn header(self) -> &'static str {
        match self {
            NoticeEvent::Paused => "job_run.paused",
            NoticeEvent::Resumed => "job_run.resumed",
        }
    }
}

/// One notice waiting for delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notice {
    /// What happened.
    pub event: NoticeEvent,
    /// Whose secret signs it.
    pub tenant: TenantId,
    /// Where it goes.
    pub url: String,
    /// The run as `GET /job-runs/{id}` showed it then.
    pub body: serde_json::Value,
    /// When it is due (Unix ms).
    pub due_ms: u64,
    /// Deliveries tried so far.
    pub attempts: u32,
}

/// A notice's storage key: run id, then a sequence number that orders it.
fn key(run: RunId, seq: u64) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..16].copy_from_slice(&run.bytes());
    k[16..].copy_from_slice(&seq.to_be_bytes());
    k
}

impl Sled {
    /// Queues the notice of `run`'s move to `event` (nothing when it has
    /// no callback URL).
    pub(super) fn queue_notice(&self, run: &JobRun, event: NoticeEvent) -> Result<(), StoreError> {
        let Some(url) = run.callback_url.clone() else {
            return Ok(());
        };
        let waiting = self.notices.scan_prefix(run.uuid.bytes()).count();
        if waiting >= MAX_NOTICES_PER_RUN {
            tracing::warn!(
                run = %run.uuid, event = event.header(), waiting,
                "too many webhook notices wait for this run; this one is dropped"
            );
            return Ok(());
        }
        let notice = Notice {
            event,
            tenant: run.tenant.clone(),
            url,
            body: serde_json::to_value(run.view()).expect("runs serialise"),
            due_ms: 0,
            attempts: 0,
        };
        let seq = self.db.generate_id()?;
        self.notices.insert(key(run.uuid, seq), encode(&notice))?;
        self.webhooks_ready.notify_one();
        Ok(())
    }
}

impl NoticeStore for Sled {
    /// The first waiting notice of each run that has one: run, sequence
    /// number and when it is due (Unix ms). Damaged notices are dropped.
    fn queued_notices(&self) -> Result<Vec<(RunId, u64, u64)>, StoreError> {
        let mut first: Vec<(RunId, u64, u64)> = Vec::new();
        for kv in self.notices.iter() {
            let (k, v) = kv?;
            let run =
                super::damage::run_in_key(Record::WebhookDelivery, k.get(..16).unwrap_or(&k), 0);
            let (Ok(run), Some(seq)) = (run, k.get(16..24)) else {
                self.notices.remove(&k)?;
                continue;
            };
            if first.last().is_some_and(|(r, ..)| *r == run) {
                continue;
            }
            let seq = u64::from_be_bytes(seq.try_into().expect("eight bytes"));
            match self.decode::<Notice>(Record::WebhookDelivery, &k, &v) {
                Ok(n) => first.push((run, seq, n.due_ms)),
                Err(e) => {
                    tracing::error!(run = %run, error = %e, "a damaged webhook notice is dropped");
                    self.notices.remove(&k)?;
                }
            }
        }
        Ok(first)
    }

    /// A waiting notice, if it is still there.
    fn notice(&self, run: RunId, seq: u64) -> Result<Option<Notice>, StoreError> {
        let k = key(run, seq);
        self.notices
            .get(k)?
            .map(|v| self.decode(Record::WebhookDelivery, &k, &v))
            .transpose()
    }

    /// Puts a notice back, due again at `notice.due_ms`.
    fn requeue_notice(&self, run: RunId, seq: u64, notice: &Notice) -> Result<(), StoreError> {
        self.notices.insert(key(run, seq), encode(notice))?;
        Ok(())
    }

    /// Removes a delivered (or given up) notice.
    fn done_notice(&self, run: RunId, seq: u64) -> Result<(), StoreError> {
        self.notices.remove(key(run, seq))?;
        self.webhooks_ready.notify_one();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{JobId, RunStatus};
    use crate::store::prelude::*;
    use crate::store::tests::{open, run};

    #[test]
    fn notices_wait_in_order_per_run_capped_and_survive_a_reopen() {
        let (dir, s) = open();
        let mut a = run("t1", JobId::new(), "x", 0);
        a.callback_url = Some("http://127.0.0.1:9/hook".into());
        let mut b = a.clone();
        b.uuid = RunId::new();
        let silent = run("t1", JobId::new(), "x", 0);
        for event in [NoticeEvent::Paused, NoticeEvent::Resumed] {
            s.queue_notice(&a, event).unwrap();
        }
        s.queue_notice(&silent, NoticeEvent::Paused).unwrap();
        b.status = RunStatus::Paused;
        for _ in 0..MAX_NOTICES_PER_RUN + 4 {
            s.queue_notice(&b, NoticeEvent::Paused).unwrap();
        }
        assert_eq!(
            s.notices.scan_prefix(b.uuid.bytes()).count(),
            MAX_NOTICES_PER_RUN
        );

        let first = s.queued_notices().unwrap();
        assert_eq!(first.len(), 2, "one per run with a callback: {first:?}");
        let (_, seq, due) = *first.iter().find(|(r, ..)| *r == a.uuid).unwrap();
        assert_eq!(due, 0);
        let n = s.notice(a.uuid, seq).unwrap().unwrap();
        assert_eq!(
            (n.event, n.body["status"].as_str()),
            (NoticeEvent::Paused, Some("pending"))
        );
        s.done_notice(a.uuid, seq).unwrap();

        drop(s);
        let s = crate::store::tests::until_unlocked(|| Sled::open(dir.path()));
        let (_, seq, _) = *s
            .queued_notices()
            .unwrap()
            .iter()
            .find(|(r, ..)| *r == a.uuid)
            .unwrap();
        let mut n = s.notice(a.uuid, seq).unwrap().unwrap();
        assert_eq!(n.event, NoticeEvent::Resumed);
        n.due_ms = 42;
        n.attempts = 1;
        s.requeue_notice(a.uuid, seq, &n).unwrap();
        assert!(s.queued_notices().unwrap().contains(&(a.uuid, seq, 42)));
    }
}
