//! What a run reports while it runs: log lines (from the plugin's `log` calls
//! and its stdout/stderr), progress and checkpoints, sent to a [`RunObserver`]
//! after the per-run budget is applied.

use super::access::Scrubber;
use crate::egress::HttpAudit;
use crate::model::{LogLevel, LogSource};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// One log line of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// When the host received it.
    pub timestamp: SystemTime,
    /// Severity.
    pub level: LogLevel,
    /// Origin.
    pub source: LogSource,
    /// The text, cut to the per-line cap.
    pub message: String,
}

/// Receives what a run reports, as it happens. Called from the thread that
/// executes the run; implementations must not block for long.
pub trait RunObserver: Send + Sync {
    /// A log line within the run's budget.
    fn log(&self, entry: LogEntry);
    /// Progress from 0 to 100 with a message.
    fn progress(&self, percent: u8, message: &str);
    /// A checkpoint; replaces the previous one.
    fn checkpoint(&self, state: &[u8]);
    /// An outbound HTTP request ended (or was refused); already in the log.
    fn http(&self, _audit: &HttpAudit) {}
}

/// An observer that keeps everything in memory (the CLI and tests use it).
#[derive(Debug, Default)]
pub struct Collector {
    /// Log lines in order.
    pub logs: Mutex<Vec<LogEntry>>,
    /// Progress reports in order.
    pub progress: Mutex<Vec<(u8, String)>>,
    /// The last checkpoint.
    pub checkpoint: Mutex<Option<Vec<u8>>>,
}

impl RunObserver for Collector {
    fn log(&self, entry: LogEntry) {
        self.logs.lock().unwrap().push(entry);
    }
    fn progress(&self, percent: u8, message: &str) {
        self.progress
            .lock()
            .unwrap()
            .push((percent, message.to_string()));
    }
    fn checkpoint(&self, state: &[u8]) {
        *self.checkpoint.lock().unwrap() = Some(state.to_vec());
    }
}

/// The log budget of one run, shared by the `log` host call and the stdio pipes.
pub(crate) struct LogBook {
    observer: Arc<dyn RunObserver>,
    budget: usize,
    line_cap: usize,
    scrubber: Scrubber,
    pub(crate) used: usize,
    pub(crate) dropped: u64,
    partial: [Vec<u8>; 2],
}

impl LogBook {
    pub(crate) fn new(
        observer: Arc<dyn RunObserver>,
        budget: usize,
        line_cap: usize,
        scrubber: Scrubber,
    ) -> Self {
        LogBook {
            observer,
            budget,
            line_cap,
            scrubber,
            used: 0,
            dropped: 0,
            partial: [Vec::new(), Vec::new()],
        }
    }

    /// Keeps a line if the budget allows; the first line past it is replaced
    /// by a marker saying the log was truncated.
    /// Secret values are scrubbed before the line is cut or kept.
    pub(crate) fn write(&mut self, level: LogLevel, source: LogSource, message: &str) {
        let message = self.scrubber.scrub_and_cut(message, self.line_cap);
        let message = message.as_str();
        if self.used + message.len() > self.budget {
            if self.dropped == 0 {
                let marker = format!(
                    "log truncated: the run's log budget of {} bytes is spent; further lines are dropped",
                    self.budget
                );
                self.emit(LogLevel::Warn, LogSource::Host, marker);
            }
            self.dropped += 1;
            return;
        }
        self.used += message.len();
        self.emit(level, source, message.to_string());
    }

    fn emit(&self, level: LogLevel, source: LogSource, message: String) {
        let entry = LogEntry {
            timestamp: SystemTime::now(),
            level,
            source,
            message,
        };
        self.observer.log(entry);
    }

    /// Appends raw stdio bytes and logs every completed line.
    pub(crate) fn write_stdio(&mut self, source: LogSource, bytes: &[u8]) {
        let (slot, level) = match source {
            LogSource::Stderr => (1, LogLevel::Warn),
            _ => (0, LogLevel::Info),
        };
        if self.dropped > 0 {
            // Past the budget: count lines without buffering them.
            self.dropped += bytes.iter().filter(|b| **b == b'\n').count() as u64;
            return;
        }
        self.partial[slot].extend_from_slice(bytes);
        while let Some(end) = self.partial[slot].iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial[slot].drain(..=end).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            self.write(level, source, text.trim_end_matches('\r'));
        }
        if self.partial[slot].len() > self.line_cap {
            let line = std::mem::take(&mut self.partial[slot]);
            self.write(level, source, &String::from_utf8_lossy(&line));
        }
    }

    /// Logs what is left of unterminated stdio lines.
    pub(crate) fn flush_stdio(&mut self) {
        for (slot, source, level) in [
            (0, LogSource::Stdout, LogLevel::Info),
            (1, LogSource::Stderr, LogLevel::Warn),
        ] {
            let rest = std::mem::take(&mut self.partial[slot]);
            if !rest.is_empty() {
                self.write(level, source, &String::from_utf8_lossy(&rest));
            }
        }
    }

    pub(crate) fn observer(&self) -> &Arc<dyn RunObserver> {
        &self.observer
    }

    pub(crate) fn scrubber(&self) -> &Scrubber {
        &self.scrubber
    }

    /// Logs one audited HTTP request (never its path, query or headers)
    /// and tells the observer.
    pub(crate) fn http(&mut self, a: &HttpAudit) {
        let took = a.duration.as_millis();
        let (level, line) = match (&a.denied, &a.error, a.status) {
            (Some(why), _, _) => (
                LogLevel::Warn,
                format!("http {} {}:{} denied: {why}", a.method, a.host, a.port),
            ),
            (None, Some(what), status) => (
                LogLevel::Warn,
                format!(
                    "http {} {}:{} failed after {took} ms{}: {what}",
                    a.method,
                    a.host,
                    a.port,
                    status.map_or(String::new(), |s| format!(" (status {s})"))
                ),
            ),
            (None, None, status) => (
                LogLevel::Info,
                format!(
                    "http {} {}:{} {} in {took} ms, {} bytes in, {} bytes out",
                    a.method,
                    a.host,
                    a.port,
                    status.map_or("no status".to_string(), |s| s.to_string()),
                    a.bytes_in,
                    a.bytes_out
                ),
            ),
        };
        self.write(level, LogSource::Host, &line);
        self.observer.http(a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(budget: usize) -> (Arc<Collector>, LogBook) {
        let c = Arc::new(Collector::default());
        (c.clone(), LogBook::new(c, budget, 10, Scrubber::default()))
    }

    #[test]
    fn budget_drops_and_marks_once() {
        let (c, mut b) = book(12);
        b.write(LogLevel::Info, LogSource::Plugin, "hello");
        b.write(LogLevel::Info, LogSource::Plugin, "world");
        b.write(LogLevel::Info, LogSource::Plugin, "again");
        b.write(LogLevel::Info, LogSource::Plugin, "more");
        let logs = c.logs.lock().unwrap();
        let texts: Vec<_> = logs.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(texts.len(), 3);
        assert!(texts[2].starts_with("log truncated"), "{texts:?}");
        assert_eq!(b.dropped, 2);
    }

    #[test]
    fn long_lines_are_cut_on_a_char_boundary() {
        let (c, mut b) = book(100);
        b.write(LogLevel::Info, LogSource::Plugin, "ééééééééé");
        assert_eq!(c.logs.lock().unwrap()[0].message, "ééééé");
    }

    #[test]
    fn stdio_is_split_into_lines() {
        let (c, mut b) = book(100);
        b.write_stdio(LogSource::Stdout, b"one\ntw");
        b.write_stdio(LogSource::Stdout, b"o\r\nthree");
        b.flush_stdio();
        let logs = c.logs.lock().unwrap();
        let texts: Vec<_> = logs.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(texts, ["one", "two", "three"]);
        assert!(logs.iter().all(|e| e.source == LogSource::Stdout));
    }
}
