//! The bodies of a plugin's requests and responses as the host passes them
//! on: a request body counted and capped as it is sent, and a response body
//! capped per response and per run, with a timeout between frames, that
//! completes its request's audit when it ends or is dropped.

use super::send::{Draft, Shared};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use wasmtime_wasi_http::{Error, WasiBody};

/// A request body that counts what it sends and stops at the cap.
pub(super) struct CountedBody {
    pub(super) inner: WasiBody,
    pub(super) sent: Arc<AtomicU64>,
    pub(super) cap: u64,
}

impl Body for CountedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let frame = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Ok(f)) = &frame
            && let Some(data) = f.data_ref()
        {
            let sent =
                self.sent.fetch_add(data.len() as u64, Ordering::Relaxed) + data.len() as u64;
            if sent > self.cap {
                return Poll::Ready(Some(Err(Error::HttpRequestBodySize(Some(sent)))));
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body capped per response and per run, with a timeout between
/// frames; it completes the request's audit when it ends or is dropped.
pub(super) struct CappedBody {
    pub(super) inner: hyper::body::Incoming,
    pub(super) shared: Arc<Shared>,
    pub(super) seen: u64,
    pub(super) between: Duration,
    pub(super) timer: Pin<Box<tokio::time::Sleep>>,
    pub(super) draft: Draft,
}

impl CappedBody {
    fn end(&mut self, error: Option<(Error, String)>) -> Option<Result<Frame<Bytes>, Error>> {
        let draft = &mut self.draft;
        draft.audit.bytes_in = self.seen;
        match error {
            Some((e, what)) => Some(Err(draft.fail(e, what))),
            None => {
                draft.emit();
                None
            }
        }
    }
}

impl Body for CappedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(this.end(None)),
            Poll::Ready(Some(Err(e))) => {
                Poll::Ready(this.end(Some((Error::HttpProtocolError, format!("{e}")))))
            }
            Poll::Ready(Some(Ok(frame))) => {
                let n = frame.data_ref().map_or(0, |d| d.len() as u64);
                this.seen += n;
                let caps = this.shared.egress.caps;
                let run_total = this.shared.meter.bytes_in.fetch_add(n, Ordering::Relaxed) + n;
                if this.seen > caps.response_bytes {
                    let what = format!(
                        "the response body passed {} bytes, the most allowed",
                        caps.response_bytes
                    );
                    let error = Error::HttpResponseBodySize(Some(caps.response_bytes));
                    return Poll::Ready(this.end(Some((error, what))));
                }
                if run_total > caps.run_response_bytes {
                    let what = format!(
                        "the run's responses passed {} bytes, the most allowed per run",
                        caps.run_response_bytes
                    );
                    let error = Error::HttpResponseBodySize(Some(caps.run_response_bytes));
                    return Poll::Ready(this.end(Some((error, what))));
                }
                let next = tokio::time::Instant::now() + this.between;
                this.timer.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    let what = format!(
                        "no data for {} ms between response frames",
                        this.between.as_millis()
                    );
                    Poll::Ready(this.end(Some((Error::ConnectionReadTimeout, what))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for CappedBody {
    fn drop(&mut self) {
        self.draft.audit.bytes_in = self.seen;
        self.draft.emit();
    }
}
