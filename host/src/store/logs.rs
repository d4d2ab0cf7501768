//! Run logs: every line a run's plugin logged or wrote to stdout/stderr
//! (already cut to the run's log budget, with its truncation marker), keyed
//! by run id and sequence number, and dropped after the retention period.

use super::{LogStore, Record, Sled, StoreError, encode};
use crate::model::{LogLevel, LogSource};
use crate::model::{RunId, Timestamp};
use serde::{Deserialize, Serialize};

/// One stored log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Position in the run's log, from 0, across attempts.
    pub seq: u32,
    /// The attempt that wrote it.
    pub attempt: u32,
    /// When the host received it.
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: Timestamp,
    /// Severity.
    pub level: LogLevel,
    /// `plugin`, `stdout`, `stderr` or `host`.
    pub source: LogSource,
    /// The text.
    pub message: String,
}

/// Which lines to read.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// Only lines at this level or above.
    pub min_level: Option<LogLevel>,
    /// Only lines received strictly after.
    pub since: Option<Timestamp>,
    /// Only lines after this sequence number (the cursor).
    pub after_seq: Option<u32>,
}

impl LogFilter {
    /// Whether `line` is one of the lines asked for (the cursor aside).
    pub(super) fn keeps(&self, line: &LogRecord) -> bool {
        self.min_level.is_none_or(|l| line.level >= l)
            && self.since.is_none_or(|t| line.timestamp > t)
    }
}

fn key(run: RunId, seq: u32) -> [u8; 20] {
    let mut k = [0u8; 20];
    k[..16].copy_from_slice(&run.bytes());
    k[16..].copy_from_slice(&seq.to_be_bytes());
    k
}

impl LogStore for Sled {
    /// Appends one line.
    fn append_log(&self, run: RunId, line: &LogRecord) -> Result<(), StoreError> {
        self.run_logs.insert(key(run, line.seq), encode(line))?;
        Ok(())
    }

    /// The sequence number the next line of `run` gets.
    fn next_log_seq(&self, run: RunId) -> Result<u32, StoreError> {
        Ok(
            match self.run_logs.scan_prefix(run.bytes()).keys().next_back() {
                Some(k) => {
                    let k = k?;
                    let seq = k.get(16..20).ok_or_else(|| StoreError::Corrupt {
                        record: Record::LogLine,
                        id: run.to_string(),
                        reason: format!("a log line's key is {} bytes, not 20", k.len()),
                    })?;
                    u32::from_be_bytes(seq.try_into().expect("four bytes")) + 1
                }
                None => 0,
            },
        )
    }

    /// Up to `limit` lines of `run` matching `filter`, oldest first, scanning
    /// at most `budget` lines; the second value is the last sequence number
    /// scanned when more may follow (the next cursor).
    fn logs(
        &self,
        run: RunId,
        filter: &LogFilter,
        limit: usize,
        budget: usize,
    ) -> Result<(Vec<LogRecord>, Option<u32>), StoreError> {
        let start = key(run, filter.after_seq.map_or(0, |s| s.saturating_add(1)));
        let end = key(run, u32::MAX);
        if filter.after_seq == Some(u32::MAX) {
            return Ok((Vec::new(), None));
        }
        let mut out = Vec::new();
        let mut last = None;
        for (scanned, kv) in self.run_logs.range(start..=end).enumerate() {
            if scanned == budget {
                return Ok((out, last));
            }
            let (k, v) = kv?;
            let Some(line) =
                self.skip_damaged(self.decode::<LogRecord>(Record::LogLine, &k, &v))?
            else {
                continue;
            };
            last = Some(line.seq);
            if filter.keeps(&line) {
                out.push(line);
                if out.len() == limit {
                    return Ok((out, last));
                }
            }
        }
        Ok((out, None))
    }

    /// Drops the logs of runs created before `cutoff_ms` (Unix ms); returns
    /// how many lines went. Run ids are UUIDv7, so this is a scan from the
    /// start of the tree that stops at the first younger run.
    fn drop_logs_before(&self, cutoff_ms: u64) -> Result<usize, StoreError> {
        let mut dropped = 0;
        for k in self.run_logs.iter().keys() {
            let k = k?;
            let mut ms = [0u8; 8];
            ms[2..].copy_from_slice(&k[..6]);
            if u64::from_be_bytes(ms) >= cutoff_ms {
                break;
            }
            self.run_logs.remove(&k)?;
            dropped += 1;
        }
        Ok(dropped)
    }
}
