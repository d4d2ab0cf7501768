//! The plugin's stdout and stderr: split into lines and logged under the
//! run's log budget. Writes never fail; past the budget bytes are dropped,
//! and every write counts as a host call.

use super::state::{SharedMeter, lock};
use crate::model::LogSource;
use std::pin::Pin;
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// One of the plugin's output streams.
#[derive(Clone)]
pub(crate) struct StdioPipe {
    meter: SharedMeter,
    source: LogSource,
}

impl StdioPipe {
    pub(crate) fn new(meter: SharedMeter, source: LogSource) -> Self {
        StdioPipe { meter, source }
    }

    fn accept(&self, bytes: &[u8]) -> Result<(), StreamError> {
        let mut meter = lock(&self.meter);
        meter.call().map_err(StreamError::Trap)?;
        if self.source == LogSource::Stderr {
            remember_tail(&mut meter.last_stderr, bytes);
        }
        meter.book.write_stdio(self.source, bytes);
        Ok(())
    }
}

/// Keeps the last kilobyte of stderr for the failure message of a trapped run
/// (a Rust panic prints its message there just before it traps).
fn remember_tail(tail: &mut String, bytes: &[u8]) {
    tail.push_str(&String::from_utf8_lossy(bytes));
    if tail.len() > 1024 {
        let mut cut = tail.len() - 1024;
        while !tail.is_char_boundary(cut) {
            cut += 1;
        }
        tail.drain(..cut);
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for StdioPipe {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        self.accept(&bytes)
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 << 10)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for StdioPipe {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for StdioPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(
            self.accept(buf)
                .map(|()| buf.len())
                .map_err(|_| std::io::Error::other("host call limit reached")),
        )
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for StdioPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StdioPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}
